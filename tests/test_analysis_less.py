"""The MDAnalysis analysis class LESS: in-memory labels, probabilities and fractions, serial and in parallel."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from lessdask.analysis import LESS, PhaseFractions, phase_fractions
from lessdask.pipeline import classify
from lessdask.trajectory import open_universe


@pytest.fixture(scope="module")
def serial(dump_file):
    return LESS(open_universe(dump_file).atoms).run()


def test_results_equal_the_store_classify_writes(tmp_path, dump_file, serial, client):
    classify(dump_file, output=tmp_path / "run.zarr", client=client, progress=False)
    ds = xr.open_zarr(tmp_path / "run.zarr")
    r = serial.results
    assert r.labels.shape == (4, 864) and r.labels.dtype == np.int8
    assert r.probabilities.shape == (4, 864, len(r.classes)) and r.probabilities.dtype == np.float32
    assert list(r.classes) == list(ds["structure"].values) == r.structures
    np.testing.assert_array_equal(r.labels, ds["label"].values)
    np.testing.assert_allclose(r.probabilities, ds["probability"].values, atol=1e-6)
    np.testing.assert_allclose(r.times, ds["time"].values)
    np.testing.assert_allclose(r.dimensions, ds["dimensions"].values)
    fcc = r.classes.index("fcc")
    assert 0.3 < r.fractions[0, fcc] < 0.7  # the crystal part of the fixture (two thirds, partly "other")
    np.testing.assert_allclose(r.fractions.sum(axis=1) + (r.labels == -1).mean(axis=1), 1.0)


def test_group_is_classified_with_neighbours_from_its_universe(tmp_path, dump_file, client):
    u = open_universe(dump_file)
    part = LESS(u.select_atoms("id 1:300")).run(stop=2)
    classify(dump_file, output=tmp_path / "sel.zarr", client=client, progress=False, select="id 1:300", stop=2)
    ds = xr.open_zarr(tmp_path / "sel.zarr")
    np.testing.assert_array_equal(part.results.labels, ds["label"].values)
    np.testing.assert_allclose(part.results.probabilities, ds["probability"].values, atol=1e-6)
    # the group as a system of its own (PhaseFractions, neighbors="group") sees other neighbours
    alone = LESS(u.select_atoms("id 1:300"), neighbors="group").run(stop=2)
    assert not np.array_equal(alone.results.probabilities, part.results.probabilities)


def test_is_declared_parallelizable_for_mdanalysis_backends(serial):
    assert serial.parallelizable
    assert set(LESS.get_supported_backends()) == {"serial", "multiprocessing", "dask"}


@pytest.mark.parametrize("backend", ["multiprocessing", "dask"])
def test_parallel_backends_give_the_serial_results(dump_file, serial, backend):
    """Real processes: MDAnalysis splits the frames, each process reopens the dump and loads the model."""
    par = LESS(open_universe(dump_file).atoms).run(backend=backend, n_workers=2)
    for key in ("labels", "probabilities", "dimensions", "fractions", "times"):
        np.testing.assert_array_equal(par.results[key], serial.results[key], err_msg=key)
    assert par.results.classes == serial.results.classes
    np.testing.assert_array_equal(par.frames, serial.frames)


def test_multiprocessing_works_after_a_classification_in_the_calling_process(dump_file, serial):
    """``fork`` after numba's OpenMP threads ran aborts the child and hangs MDAnalysis' pool: the class avoids fork."""
    # `serial` ran in this process; a second, stepped run must still finish (the test's timeout would catch a hang)
    par = LESS(open_universe(dump_file).atoms).run(backend="multiprocessing", n_workers=2, step=2)
    np.testing.assert_array_equal(par.results.labels, serial.results.labels[::2])


def test_to_xarray_is_shaped_like_the_store(serial):
    ds = serial.to_xarray()
    assert ds["label"].dims == ("frame", "atom") and ds["label"].dtype == np.int8
    assert ds["probability"].dims == ("frame", "atom", "structure") and ds["probability"].dtype == np.float32
    assert ds["label"].attrs["flag_meanings"].split() == ["other", *serial.results.classes]
    assert ds["time"].attrs["units"] == "ps" and ds.sizes == {"frame": 4, "atom": 864, "structure": 8, "cell": 6}
    np.testing.assert_array_equal(ds["atom"].values, np.arange(1, 865))
    np.testing.assert_allclose(phase_fractions(ds).transpose("frame", "structure").values[:, :8],
                               serial.results.fractions, atol=1e-12)


def test_results_refuse_to_be_read_before_run(dump_file):
    with pytest.raises(RuntimeError, match="run"):
        LESS(open_universe(dump_file).atoms).to_xarray()


def test_phase_fractions_is_kept_as_the_group_alone(dump_file):
    u = open_universe(dump_file)
    pf = PhaseFractions(u.atoms).run(stop=1)
    full = LESS(u.atoms, neighbors="group").run(stop=1)
    np.testing.assert_array_equal(pf.results.fractions, full.results.fractions)
    assert pf.results.structures == list(full.results.classes)


def test_less_is_reexported_lazily():
    import lessdask
    from lessdask.analysis import mdanalysis

    assert lessdask.LESS is LESS is mdanalysis.LESS


def test_a_universe_or_residue_group_means_its_atoms(dump_file, serial):
    u = open_universe(dump_file)
    for obj in (u, u.residues):
        np.testing.assert_array_equal(LESS(obj).run(stop=1).results.labels, serial.results.labels[:1])
