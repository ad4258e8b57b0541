"""Ecosystem conventions: time bins with xarray, honest probability plots, ASE readers behind an extra."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from lessdask.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
STRUCTURES = ["AM", "fcc"]


def _store(path, n_frames=10, n_atoms=50, dt=0.5):
    rng = np.random.default_rng(0)
    labels = (rng.random((n_frames, n_atoms)) < np.linspace(0.2, 0.8, n_frames)[:, None]).astype(np.int8)
    prob = np.where(labels[..., None] == np.arange(2), 0.9, 0.1).astype(np.float32)
    ds = xr.Dataset({"label": (("frame", "atom"), labels), "probability": (("frame", "atom", "structure"), prob)},
                    coords={"frame": np.arange(n_frames), "atom": np.arange(1, n_atoms + 1),
                            "time": ("frame", np.arange(n_frames) * dt, {"units": "ps"}),
                            "structure": np.array(STRUCTURES, dtype=object)},
                    attrs={"complete": True})
    ds.to_zarr(path, consolidated=False)
    return path


def test_time_stays_float_ps_because_pandas_cannot_resample_picoseconds():
    import pandas as pd

    with pytest.raises(ValueError):
        pd.to_timedelta([0.5], unit="ps")
    t = xr.DataArray(np.arange(4.0), dims="time", coords={"time": pd.to_timedelta(np.arange(4) * 500, unit="ns")})
    with pytest.raises(ValueError):
        t.resample(time="2ps").mean()


def test_time_resampling_recipe_of_the_design_notes_runs_as_written(tmp_path, monkeypatch):
    """The Python block of docs/design.md ("time stays float64 picoseconds") runs on a store as written."""
    text = (ROOT / "docs" / "design.md").read_text()
    section = text[text.index("**`time` stays float64 picoseconds**"):]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    code = "\n".join(line[2:] if line.startswith("  ") else line for line in code.splitlines())
    monkeypatch.chdir(tmp_path)
    _store(tmp_path / "run.zarr")
    scope: dict = {}
    exec(compile(code, "docs/design.md", "exec"), scope)  # noqa: S102 - our own documentation
    fr, per_2ps, every_4 = scope["fr"], scope["per_2ps"], scope["every_4"]
    assert per_2ps.sizes["time_bins"] == 3  # 0-2, 2-4, 4-6 ps (10 frames, 0.5 ps apart: 0 ... 4.5 ps)
    np.testing.assert_allclose(per_2ps.isel(time_bins=0).values, fr.isel(frame=slice(0, 4)).mean("frame").values)
    assert every_4.sizes["frame"] == 2
    np.testing.assert_allclose(every_4.isel(frame=1).values, fr.isel(frame=slice(4, 8)).mean("frame").values)


def test_probability_fractions_plot_says_mean_class_probability(tmp_path):
    from lessdask.analysis import phase_fractions
    from lessdask.analysis.plots import fractions_figure

    store = _store(tmp_path / "s.zarr")
    ax = fractions_figure(phase_fractions(store, method="probability")).axes[0]
    assert ax.get_ylabel() == "mean class probability"
    assert any("floor" in t.get_text() for t in ax.texts)
    ax = fractions_figure(phase_fractions(store)).axes[0]
    assert ax.get_ylabel() == "fraction of atoms" and not ax.texts


def _cu(tmp_path):
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((4, 4, 4))
    atoms.rattle(0.03, seed=2)
    return atoms


def test_cif_and_poscar_are_read_with_the_ase_extra(tmp_path):
    import ase.io

    from lessdask.trajectory import open_universe, read_frame, species_of

    atoms = _cu(tmp_path)
    for name, fmt in (("cu.cif", "cif"), ("POSCAR", "vasp"), ("cu.vasp", "vasp")):
        ase.io.write(tmp_path / name, atoms, format=fmt)
        u = open_universe(tmp_path / name)
        pos, box, time = read_frame(u, 0)
        np.testing.assert_allclose(box, atoms.cell.cellpar(), rtol=1e-5)
        d = pos - atoms.positions  # CIF stores fractional coordinates in [0, 1): compare across the box
        d -= np.round(d / box[:3]) * box[:3]
        np.testing.assert_allclose(d, 0, atol=1e-3)
        assert list(species_of(u.atoms)) == ["Cu"] * len(atoms) and time == 0.0


def test_a_poscar_with_a_rotated_cell_reads_as_the_aligned_one(tmp_path):
    """POSCAR keeps the cell as written; a cell not along x must be turned the way MDAnalysis builds boxes."""
    import ase.io

    from lessdask.frame import classify_frame
    from lessdask.trajectory import open_universe, read_frame

    atoms = _cu(tmp_path)
    turned = atoms.copy()
    turned.rotate(37, (1, 2, 3), rotate_cell=True)
    labels = []
    for name, a in (("aligned.vasp", atoms), ("turned.vasp", turned)):
        ase.io.write(tmp_path / name, a, format="vasp")
        pos, box, _ = read_frame(open_universe(tmp_path / name), 0)
        np.testing.assert_allclose(box, atoms.cell.cellpar(), rtol=1e-5)
        labels.append(classify_frame(pos, box, ["Cu"] * len(a)).labels)
    np.testing.assert_array_equal(labels[0], labels[1])
    assert (labels[0] == labels[0][0]).all()


def test_extxyz_variants_are_read_with_format_ase(tmp_path):
    """An extended XYZ whose positions are not columns 2-4 (ids first): MDAnalysis' XYZ reader cannot, ASE can."""
    from lessdask.trajectory import open_universe, read_frame

    atoms = _cu(tmp_path)
    path = tmp_path / "ids-first.xyz"
    with open(path, "w") as f:
        for shift in (0.0, 0.1):
            cell = " ".join(f"{v:.6f}" for v in atoms.cell.array.ravel())
            f.write(f'{len(atoms)}\nLattice="{cell}" Properties=id:I:1:species:S:1:pos:R:3 pbc="T T T"\n')
            for i, p in enumerate(atoms.positions + shift):
                f.write(f"{100 + i} Cu {p[0]:.6f} {p[1]:.6f} {p[2]:.6f}\n")
    u = open_universe(path, format="ase", dt=0.25)
    assert u.trajectory.n_frames == 2 and u.atoms.ids[0] == 100
    pos, box, time = read_frame(u, 1)
    np.testing.assert_allclose(pos, atoms.positions + 0.1, atol=1e-4)
    assert time == pytest.approx(0.25)


def test_cif_classifies_through_the_pipeline(tmp_path, client):
    import ase.io

    from lessdask.pipeline import classify
    from lessdask.store import atom_species, open_results

    ase.io.write(tmp_path / "cu.cif", _cu(tmp_path))
    classify(tmp_path / "cu.cif", output=tmp_path / "cu.zarr", client=client, progress=False)
    ds = open_results(tmp_path / "cu.zarr")
    fcc = list(ds["structure"].values).index("fcc")
    assert np.mean(ds["label"].values == fcc) > 0.95
    assert set(atom_species(ds)) == {"Cu"}


def test_missing_ase_names_the_file_and_the_install_command(tmp_path, monkeypatch):
    from lessdask.trajectory import open_universe

    (tmp_path / "x.cif").write_text("data_x\n")
    monkeypatch.setitem(sys.modules, "ase", None)
    monkeypatch.setitem(sys.modules, "ase.io", None)
    with pytest.raises(InputError, match=r"x\.cif: reading this format needs ASE.*pip install 'lessdask\[ase\]'"):
        open_universe(tmp_path / "x.cif")


def test_missing_ase_is_a_clear_cli_error_not_a_traceback(tmp_path):
    (tmp_path / "x.cif").write_text("data_x\n")
    code = ("import sys; sys.modules['ase'] = None; sys.modules['ase.io'] = None\n"
            "from lessdask.cli.main import main; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, "classify", str(tmp_path / "x.cif"), "-o",
                        str(tmp_path / "o.zarr")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert "x.cif" in r.stderr and "pip install 'lessdask[ase]'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.zarr").exists()


def test_unreadable_cif_is_a_clear_error(tmp_path):
    from lessdask.trajectory import open_universe

    (tmp_path / "bad.cif").write_text("this is not a cif file\n")
    with pytest.raises(InputError, match=r"cannot read .*bad\.cif with ASE"):
        open_universe(tmp_path / "bad.cif")
