"""The batch processor: real trajectories, real Dask processes, real Zarr stores."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from lessdask.errors import ClusterError, InputError, StoreError
from lessdask.features import FeatureSettings, compute_features
from lessdask.model import load_model
from lessdask.pipeline import classify
from lessdask.testing import write_lammps_dump


def _run(traj, out, client, **kw):
    return classify(traj, output=out, client=client, progress=False, **kw)


@pytest.fixture(scope="module")
def reference_store(tmp_path_factory, dump_file, client):
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    _run(dump_file, out, client, save_features=True, save_positions=True)
    return out


def test_store_follows_the_results_contract(reference_store, crystal_frames):
    ds = xr.open_zarr(reference_store)
    frames, types, _ = crystal_frames
    n = len(types)
    assert ds.attrs["complete"] is True
    assert ds["label"].dims == ("frame", "atom") and ds["label"].dtype == np.int8
    assert ds["probability"].dims == ("frame", "atom", "structure") and ds["probability"].dtype == np.float32
    assert ds["features"].dtype == np.float32 and ds.sizes["feature"] == FeatureSettings().n_features
    assert ds["frame"].dtype == np.int64 and ds["atom"].dtype == np.int64
    assert ds["time"].attrs["units"] == "ps"
    np.testing.assert_allclose(ds["time"].values, [0.0, 1.0, 2.0, 3.0])  # steps of 1000 x 1 fs
    assert list(ds["atom"].values) == list(range(1, n + 1))
    assert ds["label"].attrs["flag_meanings"].split() == ["other", *ds["structure"].values]
    assert list(ds["label"].attrs["flag_values"]) == list(range(-1, ds.sizes["structure"]))
    for key in ("lessdask_version", "model_digest", "classes", "feature_settings", "inputs", "frame_selection"):
        assert key in ds.attrs
    P = ds["probability"].values
    np.testing.assert_allclose(P.sum(-1), 1, atol=1e-5)
    labels = ds["label"].values
    given = labels >= 0
    np.testing.assert_array_equal(labels[given], P.argmax(-1)[given])
    assert ds.attrs["other"] is True and given.mean() > 0.5


def test_features_and_labels_equal_a_direct_computation(reference_store, crystal_frames):
    ds = xr.open_zarr(reference_store)
    frames, types, dims = crystal_frames
    model = load_model("default")
    X, _ = compute_features(frames[2], dims[2], types, settings=model.feature_settings_)
    np.testing.assert_allclose(ds["features"].values[2], X, atol=2e-5)  # dump text has 6 decimals
    np.testing.assert_allclose(ds["probability"].values[2], model.predict_proba(X), atol=1e-4)
    assert np.mean(ds["label"].values[2] == model.predict_labels(X)) > 0.99


def test_crystal_atoms_are_labelled_fcc(reference_store):
    ds = xr.open_zarr(reference_store)
    pos = ds["position"].values[0]
    z = pos[:, 2] % float(ds["dimensions"].values[0, 2])
    L = float(ds["dimensions"].values[0, 2])
    bulk = np.abs(z - L / 2) > L / 3  # far from the disordered slab
    fcc = list(ds["structure"].values).index("fcc")
    assert np.mean(ds["label"].values[0][bulk] == fcc) > 0.95


def test_chunking_does_not_change_results(tmp_path, dump_file, reference_store, client):
    out = tmp_path / "chunked.zarr"
    _run(dump_file, out, client, atoms_per_chunk=100, frames_per_task=3, save_features=True)
    a, b = xr.open_zarr(reference_store), xr.open_zarr(out)
    assert b["label"].encoding["chunks"] == (3, 100)
    np.testing.assert_array_equal(a["features"].values, b["features"].values)
    np.testing.assert_array_equal(a["label"].values, b["label"].values)


def test_existing_store_is_never_touched_without_resume_or_overwrite(tmp_path, dump_file, client):
    out = tmp_path / "r.zarr"
    _run(dump_file, out, client, stop=1)
    before = sorted(p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file())
    with pytest.raises(StoreError, match="already exists"):
        _run(dump_file, out, client)
    assert sorted(p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()) == before
    _run(dump_file, out, client, overwrite=True)
    assert xr.open_zarr(out).sizes["frame"] == 4


def test_resume_recomputes_only_missing_chunks_and_redoes_half_written_ones(tmp_path, dump_file, client):
    clean = tmp_path / "clean.zarr"
    _run(dump_file, clean, client, atoms_per_chunk=300, frames_per_task=1)
    broken = tmp_path / "broken.zarr"
    shutil.copytree(clean, broken)
    import zarr

    g = zarr.open_group(broken, mode="r+")
    g.attrs["complete"] = False
    g["label"][1:2, 300:600] = 7  # a half-written chunk: data damaged, marker removed
    markers = sorted((broken / ".lessdask_tasks").glob("*.done"))
    assert len(markers) == 4 * 3
    (broken / ".lessdask_tasks" / "1-1.done").unlink()
    (broken / ".lessdask_tasks" / "3-2.done").unlink()
    summary = _run(dump_file, broken, client, atoms_per_chunk=300, frames_per_task=1, resume=True)
    assert summary["tasks_run"] == 2 and summary["chunks_skipped"] == 10
    a, b = xr.open_zarr(clean), xr.open_zarr(broken)
    assert b.attrs["complete"] is True
    xr.testing.assert_equal(a[["label", "probability"]], b[["label", "probability"]])


def test_gzipped_dump_and_other_formats_give_the_same_labels(tmp_path, crystal_frames, reference_store, client):
    import MDAnalysis as mda

    frames, types, dims = crystal_frames
    gz = write_lammps_dump(tmp_path / "dump.run.gz", frames, types, dims, gz=True)
    ref = xr.open_zarr(reference_store)["label"].values
    out = tmp_path / "gz.zarr"
    _run(gz, out, client)  # recognised from the dump.* name
    np.testing.assert_array_equal(xr.open_zarr(out)["label"].values, ref)
    # PDB + DCD and GRO + XTC, written by MDAnalysis from the same frames
    u = mda.Universe(str(gz), format="LAMMPSDUMP")
    u.add_TopologyAttr("name", ["Au"] * u.atoms.n_atoms)
    u.atoms.write(str(tmp_path / "top.pdb"))
    u.atoms.write(str(tmp_path / "top.gro"))
    for ext in ("dcd", "xtc"):
        with mda.Writer(str(tmp_path / f"traj.{ext}"), u.atoms.n_atoms) as w:
            for _ in u.trajectory:
                w.write(u.atoms)
    for top, traj, agree in (("top.pdb", "traj.dcd", 0.995), ("top.gro", "traj.xtc", 0.97)):
        out2 = tmp_path / f"{traj}.zarr"
        classify(tmp_path / top, [tmp_path / traj], output=out2, client=client, progress=False)
        # DCD stores float32, XTC rounds to 0.01 Å: a few borderline atoms may change
        assert np.mean(xr.open_zarr(out2)["label"].values == ref) > agree


def test_works_on_a_separate_scheduler_and_two_worker_processes(tmp_path, dump_file):
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen(dask + ["--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0",
                                      "--scheduler-file", str(sched_file)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(100):
            if sched_file.exists():
                break
            time.sleep(0.2)
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(sched_file),
                 "--nthreads", "1", "--host", "127.0.0.1"], env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(scheduler_file=str(sched_file), timeout=60) as c:
            c.wait_for_workers(2, timeout=60)
        out = tmp_path / "sep.zarr"
        summary = classify(dump_file, output=out, cluster={"scheduler_file": str(sched_file)}, progress=False,
                           atoms_per_chunk=432)
        assert summary["workers"] == 2
        assert xr.open_zarr(out).attrs["complete"] is True
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def test_unreachable_scheduler_fails_fast_with_a_clear_error(tmp_path, dump_file):
    t = time.perf_counter()
    with pytest.raises(ClusterError, match="no Dask scheduler answers"):
        classify(dump_file, output=tmp_path / "x.zarr", cluster={"scheduler": "tcp://127.0.0.1:9"}, progress=False)
    assert time.perf_counter() - t < 120


# ----------------------------------------------------------------- bad input


def test_nan_coordinate_names_the_frame_and_atom(tmp_path, crystal_frames, client):
    frames, types, dims = crystal_frames
    frames = [f.copy() for f in frames]
    frames[2][17, 0] = np.nan
    bad = write_lammps_dump(tmp_path / "nan.lammpstrj", frames, types, dims)
    with pytest.raises(InputError, match=r"frame 2 .*atom index 17"):
        _run(bad, tmp_path / "nan.zarr", client)
    assert not xr.open_zarr(tmp_path / "nan.zarr").attrs["complete"]


def test_truncated_dump_classifies_earlier_frames_and_names_the_first_bad_one(tmp_path, dump_file, client):
    text = Path(dump_file).read_text()
    cut = text.rfind("ITEM: ATOMS") + 2000
    bad = tmp_path / "cut.lammpstrj"
    bad.write_text(text[:cut])
    with pytest.raises(InputError, match="frame 3 .* truncated"):
        _run(bad, tmp_path / "cut.zarr", client, frames_per_task=1)
    ds = xr.open_zarr(tmp_path / "cut.zarr")
    assert ds.sizes["frame"] == 3 and ds.attrs["input_truncated_at_frame"] == 3
    assert np.isfinite(ds["probability"].values).all()  # every kept frame was written (NaN until then)


def test_empty_selection_and_unknown_format_are_refused(tmp_path, dump_file, client):
    with pytest.raises(InputError, match="matches no atoms"):
        _run(dump_file, tmp_path / "e.zarr", client, select="type 9")
    weird = tmp_path / "traj.unknownext"
    weird.write_text("hello\n")
    with pytest.raises(InputError, match="cannot read"):
        _run(weird, tmp_path / "u.zarr", client)


def test_three_species_for_a_binary_model_are_refused(tmp_path, crystal_frames, client):
    frames, types, dims = crystal_frames
    t3 = np.arange(len(types)) % 3 + 1
    bad = write_lammps_dump(tmp_path / "three.lammpstrj", frames[:1], t3, dims[:1])
    with pytest.raises(InputError, match="3 species"):
        _run(bad, tmp_path / "t.zarr", client)


def test_output_path_that_is_a_file_is_refused(tmp_path, dump_file, client):
    f = tmp_path / "file.zarr"
    f.write_text("not a store")
    with pytest.raises(StoreError, match="is a file"):
        _run(dump_file, f, client)
    assert f.read_text() == "not a store"


def test_extended_xyz_with_lattice_is_read_as_periodic(tmp_path, crystal_frames, reference_store, client):
    frames, types, dims = crystal_frames
    path = tmp_path / "run.extxyz"
    with open(path, "w") as f:
        for pos, d in zip(frames, dims):
            f.write(f"{len(pos)}\nLattice=\"{d[0]} 0 0 0 {d[1]} 0 0 0 {d[2]}\" Properties=species:S:1:pos:R:3 "
                    "pbc=\"T T T\"\n")
            f.writelines(f"Au {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in pos)
    out = tmp_path / "xyz.zarr"
    classify(path, output=out, client=client, progress=False)
    ds = xr.open_zarr(out)
    np.testing.assert_allclose(ds["dimensions"].values[0, :3], dims[0][:3], rtol=1e-6)
    np.testing.assert_array_equal(ds["label"].values, xr.open_zarr(reference_store)["label"].values)


def test_tasks_carry_no_per_atom_arrays(tmp_path, dump_file, reference_store, client):
    # a worker keeps a finished task's arguments until the client lets the result go, so per-atom
    # arguments would make worker memory grow with the number of tasks (the trajectory length)
    from distributed.diagnostics.plugin import WorkerPlugin

    def largest_array(obj) -> int:
        if isinstance(obj, np.ndarray):
            return obj.size
        if isinstance(obj, dict):
            obj = list(obj.values())
        if isinstance(obj, (list, tuple)):
            return max((largest_array(x) for x in obj), default=0)
        return 0

    class TaskArgumentSizes(WorkerPlugin):
        """The largest array among each finished lessdask task's arguments (its run spec)."""

        name = "test-lessdask-task-argument-sizes"

        def setup(self, worker):
            self.worker, self.largest = worker, []

        def transition(self, key, start, finish, **kwargs):
            if start == "executing" and str(key).startswith("lessdask-"):
                ts = self.worker.state.tasks.get(key)
                if ts is not None and ts.run_spec is not None:
                    self.largest.append(largest_array([*ts.run_spec.args, *ts.run_spec.kwargs.values()]))

    client.register_plugin(TaskArgumentSizes())
    try:
        out = tmp_path / "small-args.zarr"
        summary = _run(dump_file, out, client, atoms_per_chunk=100, frames_per_task=1)
        per_worker = client.run(lambda dask_worker: dask_worker.plugins[TaskArgumentSizes.name].largest).values()
        largest = [n for sizes in per_worker for n in sizes]
    finally:
        client.unregister_worker_plugin(TaskArgumentSizes.name)
    assert len(largest) == summary["tasks_run"] >= 4  # 4 frames; chunks of (at most) 100 of the 864 atoms
    assert max(largest) < 100, f"a task's arguments hold an array of {max(largest)} elements"
    np.testing.assert_array_equal(xr.open_zarr(out)["label"].values, xr.open_zarr(reference_store)["label"].values)


def test_other_marks_atoms_unlike_any_class_and_can_be_switched_off(tmp_path, dump_file, reference_store, client):
    a = xr.open_zarr(reference_store)
    pos, L = a["position"].values, a["dimensions"].values[:, 2][:, None]
    z = np.abs(pos[..., 2] % L - L / 2)
    gas, far = z < L / 6 - 1.0, z > L / 3  # the fixture's random (ideal-gas) slab; crystal far from it
    other = a["label"].values == -1
    # ideal-gas atoms: 11 % "other" with the model trained on glasses and undercooled liquids (its AM envelope
    # covers more disorder; above 20 % before); the crystal far from the slab stays its class
    assert other[gas].mean() > 0.05 and other[far].mean() < 0.02
    out = tmp_path / "no_other.zarr"
    _run(dump_file, out, client, other=False)
    b = xr.open_zarr(out)
    assert b.attrs["other"] is False
    xr.testing.assert_equal(a["probability"], b["probability"])
    np.testing.assert_array_equal(b["label"].values, b["probability"].values.argmax(-1))
    assert b["label"].attrs["flag_meanings"] == a["label"].attrs["flag_meanings"]  # same whichever setting
    with pytest.raises(StoreError, match="other"):
        _run(dump_file, out, client, resume=True)  # other=True now: refuse to mix the two
