"""Labels out: the store keeps species; export_labels and 'lessdask export' write files OVITO, VMD and ASE read."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from lessdask.analysis.export import export_labels, parse_frames
from lessdask.errors import InputError
from lessdask.pipeline import classify
from lessdask.store import atom_species, open_results


@pytest.fixture(scope="module")
def stores(tmp_path_factory, dump_file, client):
    """One store with positions, one without (same input)."""
    d = tmp_path_factory.mktemp("export")
    with_pos = classify(dump_file, output=d / "pos.zarr", client=client, progress=False, save_positions=True)
    without = classify(dump_file, output=d / "nopos.zarr", client=client, progress=False)
    return with_pos["output"], without["output"]


def test_store_keeps_each_atoms_species(stores, crystal_frames):
    _, types, _ = crystal_frames
    ds = xr.open_zarr(stores[0])  # nothing of lessdask needed to read it
    assert ds["species"].dims == ("atom",)
    assert ds["species"].values.tolist() == types.astype(str).tolist()
    np.testing.assert_array_equal(atom_species(ds), types.astype(str))


def test_export_extxyz_reads_back_with_ase(stores, tmp_path):
    from ase.io import read

    out = tmp_path / "labels.extxyz"
    summary = export_labels(stores[0], out)
    ds = open_results(stores[0])
    frames = read(out, index=":", format="extxyz")
    assert len(frames) == ds.sizes["frame"] == len(summary["frames"])
    classes = list(ds["structure"].values)
    for i, atoms in enumerate(frames):
        np.testing.assert_allclose(atoms.positions, ds["position"].values[i], atol=1e-5)
        np.testing.assert_array_equal(atoms.arrays["label"], ds["label"].values[i])
        np.testing.assert_array_equal(atoms.arrays["id"], ds["atom"].values)
        np.testing.assert_array_equal(atoms.arrays["lammps_type"], 1)  # numeric species: a type column
        for k, c in enumerate(classes):
            np.testing.assert_allclose(atoms.arrays[f"prob_{c}"], ds["probability"].values[i, :, k], atol=1e-5)
        names = [classes[j] if j >= 0 else "other" for j in ds["label"].values[i]]
        assert list(atoms.arrays["structure"]) == names
        np.testing.assert_allclose(atoms.cell.lengths(), ds["dimensions"].values[i, :3], rtol=1e-6)
        assert atoms.pbc.all()


def test_export_lammps_dump_reads_back_with_mdanalysis(stores, tmp_path):
    import MDAnalysis as mda

    out = tmp_path / "labels.lammpstrj"
    summary = export_labels(stores[0], out, frames=[1, 3])
    assert summary["frames"] == [1, 3] and summary["types"] == {"1": 1}
    ds = open_results(stores[0])
    classes = list(ds["structure"].values)
    u = mda.Universe(str(out), format="LAMMPSDUMP", additional_columns=True, dt=0.001)
    assert u.trajectory.n_frames == 2
    for ts, f in zip(u.trajectory, [1, 3]):
        order = np.argsort(u.atoms.ids)
        np.testing.assert_allclose(ts.positions[order], ds["position"].values[f], atol=1e-3)
        np.testing.assert_array_equal(np.asarray(ts.data["label"])[order], ds["label"].values[f])
        np.testing.assert_allclose(np.asarray(ts.data[f"prob_{classes[0]}"])[order], ds["probability"].values[f, :, 0],
                                   atol=1e-5)
        np.testing.assert_allclose(ts.dimensions, ds["dimensions"].values[f], rtol=1e-6)
        assert ts.time == pytest.approx(float(ds["time"].values[f]))  # the MD step, read back with dt
    np.testing.assert_array_equal(u.atoms.types.astype(int), 1)


def test_export_positions_from_the_original_trajectory(stores, dump_file, tmp_path):
    from ase.io import read

    out = tmp_path / "from-input.xyz"
    summary = export_labels(stores[1], out, frames="last", trajectory=dump_file)
    assert summary["positions"] == "trajectory" and summary["frames"] == [3]
    ref = open_results(stores[0])
    (atoms,) = read(out, index=":", format="extxyz")
    np.testing.assert_allclose(atoms.positions, ref["position"].values[3], atol=1e-5)
    # an MDAnalysis Universe (or AtomGroup) the user already holds does as well
    import MDAnalysis as mda

    u = mda.Universe(str(dump_file), format="LAMMPSDUMP", dt=0.001)
    export_labels(stores[1], tmp_path / "from-universe.xyz", frames=[2], trajectory=u.atoms)
    (atoms,) = read(tmp_path / "from-universe.xyz", index=":", format="extxyz")
    np.testing.assert_allclose(atoms.positions, ref["position"].values[2], atol=1e-5)


def test_export_without_positions_or_trajectory_is_a_clear_error(stores, tmp_path):
    with pytest.raises(InputError, match=r"save-positions.*--trajectory.*recorded in the store: --trajectory /"):
        export_labels(stores[1], tmp_path / "x.xyz")
    assert not (tmp_path / "x.xyz").exists()


def test_export_unknown_frame_or_format_is_a_clear_error(stores, tmp_path):
    with pytest.raises(InputError, match="frame 99 is not in the results store"):
        export_labels(stores[0], tmp_path / "x.xyz", frames=99)
    with pytest.raises(InputError, match="export format"):
        export_labels(stores[0], tmp_path / "x.pdb")


def test_store_without_species_still_opens_and_exports(tmp_path):
    """A store written before the species coordinate existed: opens, fractions work, export names atoms X."""
    from ase.io import read

    from lessdask.analysis import phase_fractions

    rng = np.random.default_rng(0)
    n = 12
    ds = xr.Dataset(
        {"label": (("frame", "atom"), rng.integers(-1, 2, (2, n)).astype(np.int8)),
         "probability": (("frame", "atom", "structure"), np.full((2, n, 2), 0.5, np.float32)),
         "position": (("frame", "atom", "spatial"), rng.random((2, n, 3)).astype(np.float32) * 10),
         "dimensions": (("frame", "cell"), np.tile([10.0, 10, 10, 90, 90, 90], (2, 1)))},
        coords={"frame": [0, 1], "time": ("frame", [0.0, 1.0], {"units": "ps"}), "atom": np.arange(1, n + 1),
                "structure": np.array(["fcc", "AM"], dtype=object)},
        attrs={"complete": True})
    ds.to_zarr(tmp_path / "old.zarr", consolidated=False)
    old = open_results(tmp_path / "old.zarr")
    assert atom_species(old) is None
    assert phase_fractions(old).compute().sizes["frame"] == 2
    export_labels(tmp_path / "old.zarr", tmp_path / "old.xyz")
    atoms = read(tmp_path / "old.xyz", index=-1, format="extxyz")
    assert set(atoms.get_chemical_symbols()) == {"X"}


def test_export_element_species_and_triclinic_box(tmp_path):
    """Element species go to 'species' (ASE symbols); a triclinic box round-trips through both formats."""
    import MDAnalysis as mda
    from ase.io import read

    n = 8
    dims = np.array([10.0, 11.0, 12.0, 80.0, 95.0, 70.0])
    pos = np.random.default_rng(1).random((1, n, 3)).astype(np.float32) * 8
    ds = xr.Dataset(
        {"label": (("frame", "atom"), np.zeros((1, n), np.int8)),
         "probability": (("frame", "atom", "structure"), np.full((1, n, 2), 0.5, np.float32)),
         "position": (("frame", "atom", "spatial"), pos), "dimensions": (("frame", "cell"), dims[None])},
        coords={"frame": [0], "time": ("frame", [0.0]), "atom": np.arange(1, n + 1),
                "species": ("atom", np.array(["Na", "Cl"] * 4, dtype=object)),
                "structure": np.array(["NaCl", "AM"], dtype=object)},
        attrs={"complete": True})
    export_labels(ds, tmp_path / "t.xyz")
    atoms = read(tmp_path / "t.xyz", format="extxyz")
    assert atoms.get_chemical_symbols() == ["Na", "Cl"] * 4
    np.testing.assert_allclose(atoms.cell.cellpar(), dims, rtol=1e-5)
    summary = export_labels(ds, tmp_path / "t.dump")
    assert summary["types"] == {"Cl": 1, "Na": 2}
    u = mda.Universe(str(tmp_path / "t.dump"), format="LAMMPSDUMP")
    np.testing.assert_allclose(u.dimensions, dims, rtol=1e-5)
    np.testing.assert_allclose(u.atoms.positions, pos[0], atol=1e-4)


def test_parse_frames():
    assert parse_frames(None) is None
    assert parse_frames("5") == [5]
    assert parse_frames("0,4,9") == [0, 4, 9]
    assert parse_frames("0:10:2") == slice(0, 10, 2)
    assert parse_frames("last") == "last"
    with pytest.raises(InputError, match="not a frame number"):
        parse_frames("x")


def test_export_command_writes_a_dump_in_a_real_process(stores, tmp_path):
    out = tmp_path / "cli.lammpstrj.gz"
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "export", str(stores[0]), "-o", str(out),
                        "--frames", "0:2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "2 frames" in r.stdout and str(out) in r.stdout
    import gzip

    with gzip.open(out, "rt") as f:
        text = f.read()
    assert text.count("ITEM: TIMESTEP") == 2 and "ITEM: ATOMS id type x y z label prob_" in text
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "export", str(stores[1]), "-o", str(tmp_path / "n.xyz")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--save-positions" in r.stderr and "Traceback" not in r.stderr


def test_ovito_reads_both_exports_and_colours_by_label(stores, tmp_path):
    """OVITO (the optional 'ovito' extra) reads each export with its label column and colour-codes by it."""
    pytest.importorskip("ovito")
    from ovito.io import import_file
    from ovito.modifiers import ColorCodingModifier

    ds = open_results(stores[0])
    for name in ("o.xyz", "o.lammpstrj"):
        export_labels(stores[0], tmp_path / name, frames=[0, 3])
        pipeline = import_file(str(tmp_path / name))
        assert pipeline.num_frames == 2
        pipeline.modifiers.append(ColorCodingModifier(property="label", start_value=-1,
                                                      end_value=ds.sizes["structure"] - 1))
        data = pipeline.compute(1)
        order = np.argsort(np.asarray(data.particles["Particle Identifier"]))
        np.testing.assert_array_equal(np.asarray(data.particles["label"])[order], ds["label"].values[3])
        assert "Color" in data.particles.keys()
