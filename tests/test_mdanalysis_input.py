"""MDAnalysis objects in: ``classify(universe)`` and ``classify(atomgroup)`` on real files and real Dask workers."""

from __future__ import annotations

import warnings

import MDAnalysis as mda
import numpy as np
import pytest
import xarray as xr

from lessdask.errors import InputError
from lessdask.pipeline import classify


def _run(inp, out, client, **kw):
    return classify(inp, output=out, client=client, progress=False, **kw)


def _assert_same_store(a, b):
    da, db = xr.open_zarr(a), xr.open_zarr(b)
    assert da.attrs["complete"] is True and db.attrs["complete"] is True
    for name in ("frame", "time", "atom", "structure", "dimensions"):
        np.testing.assert_array_equal(da[name].values, db[name].values, err_msg=name)
    np.testing.assert_array_equal(da["label"].values, db["label"].values)
    np.testing.assert_allclose(da["probability"].values, db["probability"].values, atol=1e-6)
    assert da.attrs["inputs"] == db.attrs["inputs"]
    assert da.attrs["selection"] == db.attrs["selection"]


@pytest.fixture(scope="module")
def path_store(tmp_path_factory, dump_file, client):
    out = tmp_path_factory.mktemp("mda") / "path.zarr"
    _run(dump_file, out, client)
    return out


@pytest.mark.parametrize("reader", ["mdanalysis", "lessdask"])
def test_universe_gives_the_store_of_its_files(tmp_path, dump_file, path_store, client, reader):
    from lessdask.trajectory import open_universe

    # MDAnalysis' own dump reader, or lessdask's (what open_universe gives)
    u = mda.Universe(str(dump_file), format="LAMMPSDUMP", dt=0.001) if reader == "mdanalysis" \
        else open_universe(dump_file)
    _run(u, tmp_path / "u.zarr", client)
    _assert_same_store(tmp_path / "u.zarr", path_store)
    _run(u.atoms, tmp_path / "ag.zarr", client)
    _assert_same_store(tmp_path / "ag.zarr", path_store)


def test_atomgroup_is_the_selection_and_neighbours_come_from_its_universe(tmp_path, dump_file, client):
    _run(dump_file, tmp_path / "sel.zarr", client, select="id 1:300")
    u = mda.Universe(str(dump_file), format="LAMMPSDUMP", dt=0.001)
    ag = u.select_atoms("id 1:300")
    _run(ag, tmp_path / "ag.zarr", client)
    ds = xr.open_zarr(tmp_path / "ag.zarr")
    assert ds.sizes["atom"] == 300 and ds.attrs["selection"] == "an AtomGroup of 300 atoms"
    ref = xr.open_zarr(tmp_path / "sel.zarr")
    np.testing.assert_array_equal(ds["label"].values, ref["label"].values)
    np.testing.assert_allclose(ds["probability"].values, ref["probability"].values, atol=1e-6)
    # a selection string within the Universe gives the same store as the same string on the file
    _run(u, tmp_path / "usel.zarr", client, select="id 1:300")
    _assert_same_store(tmp_path / "usel.zarr", tmp_path / "sel.zarr")


def test_topology_plus_trajectory_universe_is_reopened_by_the_workers(tmp_path, dump_file, client):
    src = mda.Universe(str(dump_file), format="LAMMPSDUMP", dt=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src.atoms.write(tmp_path / "top.pdb")
        with mda.Writer(str(tmp_path / "traj.dcd"), src.atoms.n_atoms) as w:
            for _ts in src.trajectory:
                w.write(src.atoms)
        u = mda.Universe(str(tmp_path / "top.pdb"), str(tmp_path / "traj.dcd"))
    classify(tmp_path / "top.pdb", [tmp_path / "traj.dcd"], output=tmp_path / "files.zarr", client=client,
             progress=False)
    _run(u, tmp_path / "u.zarr", client)
    _assert_same_store(tmp_path / "u.zarr", tmp_path / "files.zarr")
    ds = xr.open_zarr(tmp_path / "u.zarr")
    assert [p.rsplit("/", 1)[-1] for p in ds.attrs["inputs"]] == ["top.pdb", "traj.dcd"]


def test_in_memory_universe_is_refused_with_what_to_do(tmp_path, dump_file, client):
    u = mda.Universe(str(dump_file), format="LAMMPSDUMP", dt=0.001)
    u.transfer_to_memory()
    with pytest.raises(InputError, match="MemoryReader") as err:
        _run(u.atoms, tmp_path / "m.zarr", client)
    assert "write" in str(err.value) and "LESS" in str(err.value)
    # the advice works: written out, the same frames classify like the file they came from
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u.atoms.write(str(tmp_path / "top.pdb"))
        u.atoms.write(str(tmp_path / "frames.dcd"), frames="all")
        written = mda.Universe(str(tmp_path / "top.pdb"), str(tmp_path / "frames.dcd"))
    _run(written, tmp_path / "w.zarr", client)
    assert xr.open_zarr(tmp_path / "w.zarr").attrs["complete"] is True
    empty = mda.Universe.empty(10)
    with pytest.raises(InputError, match="no trajectory"):
        _run(empty, tmp_path / "e.zarr", client)
    assert not (tmp_path / "m.zarr").exists() and not (tmp_path / "e.zarr").exists()


def test_file_options_with_a_universe_are_refused(tmp_path, dump_file, client):
    u = mda.Universe(str(dump_file), format="LAMMPSDUMP", dt=0.001)
    with pytest.raises(InputError, match="dt apply to input files"):
        _run(u, tmp_path / "x.zarr", client, dt=0.002)
    with pytest.raises(InputError, match="no atoms to classify"):
        _run(u, tmp_path / "x.zarr", client, select="type 9")
    with pytest.raises(InputError, match="Timestep.*give file paths, an MDAnalysis Universe or an AtomGroup"):
        _run(u.trajectory.ts, tmp_path / "x.zarr", client)
    assert not (tmp_path / "x.zarr").exists()
    # a residue group means its atoms
    _run(u.residues, tmp_path / "r.zarr", client, stop=1)
    assert xr.open_zarr(tmp_path / "r.zarr").sizes["atom"] == u.atoms.n_atoms


def test_a_reader_that_cannot_be_pickled_is_refused_before_a_store_is_made(tmp_path, dump_file, client):
    u = mda.Universe(str(dump_file), format="LAMMPSDUMP", dt=0.001)
    u.trajectory.add_transformations(lambda ts: ts)  # a lambda cannot be pickled
    with pytest.raises(InputError, match="cannot be sent to the workers"):
        _run(u, tmp_path / "p.zarr", client)
    assert not (tmp_path / "p.zarr").exists()
