"""Faults injected for real: killed workers, a killed run, a full or read-only disk, bad input."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lessdask.bench.classify import write_benchmark_trajectory
from lessdask.errors import InputError, StoreError
from lessdask.features import compute_features
from lessdask.pipeline import classify
from lessdask.testing import write_lammps_dump

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def big_traj(tmp_path_factory):
    """A 32,000-atom, 12-frame LAMMPS data + DCD trajectory (tasks long enough to interrupt)."""
    d = tmp_path_factory.mktemp("big")
    return write_benchmark_trajectory(d, 32_000, 12)


@pytest.fixture(scope="module")
def clean_store(tmp_path_factory, big_traj, client):
    out = tmp_path_factory.mktemp("clean") / "clean.zarr"
    classify(*big_traj, output=out, client=client, progress=False, frames_per_task=1, atoms_per_chunk=16_000)
    return out


def _markers(store):
    d = Path(store) / ".lessdask_tasks"
    return len(list(d.glob("*.done"))) if d.exists() else 0


def _assert_same(a, b):
    x, y = xr.open_zarr(a), xr.open_zarr(b)
    assert y.attrs["complete"] is True
    np.testing.assert_array_equal(x["label"].values, y["label"].values)
    np.testing.assert_array_equal(x["probability"].values, y["probability"].values)


def test_a_worker_killed_mid_run_costs_nothing(tmp_path, big_traj, clean_store):
    from distributed import Client, LocalCluster

    out = tmp_path / "killed-worker.zarr"
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                      silence_logs=50) as cluster, Client(cluster) as c:
        result = {}
        run = threading.Thread(target=lambda: result.update(classify(
            *big_traj, output=out, client=c, progress=False, frames_per_task=1, atoms_per_chunk=16_000)))
        run.start()
        deadline = time.time() + 120
        while _markers(out) < 2 and time.time() < deadline:
            time.sleep(0.05)
        pids = list(c.run(os.getpid).values())
        os.kill(pids[0], signal.SIGKILL)  # the nanny restarts it; its tasks are rescheduled
        run.join(timeout=300)
    assert result, "the run did not finish"
    assert _markers(out) == 24
    _assert_same(clean_store, out)


def test_a_killed_run_is_finished_by_resume_with_identical_results(tmp_path, big_traj, clean_store):
    out = tmp_path / "killed-run.zarr"
    cmd = [sys.executable, "-m", "lessdask.cli", "classify", str(big_traj[0]), str(big_traj[1]), "-o", str(out),
           "--frames-per-task", "1", "--atoms-per-chunk", "16000", "--workers", "1", "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while _markers(out) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # client, scheduler and workers at once
    proc.wait()
    done_before = _markers(out)
    assert 0 < done_before < 24, "the kill must land mid-run"
    assert xr.open_zarr(out).attrs["complete"] is False
    r = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f'"chunks_skipped": {done_before}' in r.stdout
    _assert_same(clean_store, out)


def _mount_tmpfs(path, options):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here (needs root): {r.stderr.decode().strip()}")
    return path


def test_a_full_disk_gives_a_clear_error_and_resume_finishes_elsewhere(tmp_path, big_traj, client, clean_store):
    small = _mount_tmpfs(tmp_path / "small", "size=600k")
    out = small / "r.zarr"
    try:
        with pytest.raises(StoreError, match="free space"):
            classify(*big_traj, output=out, client=client, progress=False, frames_per_task=1, atoms_per_chunk=16_000)
        assert xr.open_zarr(out).attrs["complete"] is False
        kept = _markers(out)
        roomy = tmp_path / "roomy.zarr"
        shutil.copytree(out, roomy)
    finally:
        subprocess.run(["umount", str(small)])
    summary = classify(*big_traj, output=roomy, client=client, progress=False, frames_per_task=1,
                       atoms_per_chunk=16_000, resume=True)
    assert summary["chunks_skipped"] == kept
    _assert_same(clean_store, roomy)


def test_a_read_only_location_is_refused_clearly(tmp_path, dump_file, client):
    ro = _mount_tmpfs(tmp_path / "ro", "ro,size=1m")
    try:
        with pytest.raises(StoreError, match="cannot create"):
            classify(dump_file, output=ro / "r.zarr", client=client, progress=False)
    finally:
        subprocess.run(["umount", str(ro)])


# ----------------------------------------------------------------- bad input matrix


def _frames(crystal_frames, edit=None):
    frames, types, dims = crystal_frames
    frames = [f.copy() for f in frames]
    dims = [np.array(d, float) for d in dims]
    types = np.array(types)
    if edit:
        frames, types, dims = edit(frames, types, dims)
    return frames, types, dims


def _zero_box(f, t, d):
    d[1] = np.array([0, 0, 0, 90, 90, 90.0])
    return f, t, d


def _inf(f, t, d):
    f[0][3, 2] = np.inf
    return f, t, d


def _nan(f, t, d):
    f[1][5, 0] = np.nan
    return f, t, d


BAD = {
    # name: (edit of the frames, expected error text)
    "nan coordinate": (_nan, r"frame 1 .*atom index 5"),
    "infinite coordinate": (_inf, r"frame 0 .*atom index 3"),
    "zero box": (_zero_box, r"frame 1 .*no usable periodic box"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_coordinates_and_boxes_name_the_frame_and_atom(case, tmp_path, crystal_frames, client):
    edit, message = BAD[case]
    frames, types, dims = _frames(crystal_frames, edit)
    path = write_lammps_dump(tmp_path / "bad.lammpstrj", frames, types, dims)
    with pytest.raises(InputError, match=message):
        classify(path, output=tmp_path / "r.zarr", client=client, progress=False, frames_per_task=1)


def test_changing_atom_count_is_refused_naming_the_frame(tmp_path, crystal_frames, client):
    frames, types, dims = _frames(crystal_frames)
    path = tmp_path / "grow.lammpstrj"
    write_lammps_dump(path, frames[:2], types, dims[:2])
    write_lammps_dump(tmp_path / "one.lammpstrj", [frames[2][:-1]], types[:-1], dims[2:3])
    with open(path, "a") as f:  # a third frame with one atom fewer
        f.write((tmp_path / "one.lammpstrj").read_text())
    with pytest.raises(InputError, match="frame 2"):
        classify(path, output=tmp_path / "r.zarr", client=client, progress=False, frames_per_task=1)


@pytest.mark.parametrize("case", ["coincident atoms", "single atom", "atom far outside the box"])
def test_odd_but_valid_frames_are_classified(case, tmp_path, crystal_frames, client):
    frames, types, dims = _frames(crystal_frames)
    if case == "coincident atoms":
        frames = [np.vstack([f, f[:1]]) for f in frames]
        types = np.append(types, types[0])
    elif case == "single atom":
        frames, types = [f[:1] for f in frames], types[:1]
    else:
        frames[0][7] += 10 * dims[0][:3]
    path = write_lammps_dump(tmp_path / "odd.lammpstrj", frames, types, dims)
    classify(path, output=tmp_path / "r.zarr", client=client, progress=False)
    ds = xr.open_zarr(tmp_path / "r.zarr")
    assert ds.attrs["complete"] and np.isfinite(ds["probability"].values).all()


def test_cli_turns_bad_input_into_one_message_and_exit_code_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", str(tmp_path / "missing.lammpstrj"),
                        "-o", str(tmp_path / "r.zarr")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2
    assert "missing.lammpstrj: no such file" in r.stderr
    assert "Traceback" not in r.stderr


# ----------------------------------------------------------------- fuzzing the feature engine


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 60),
    lengths=st.lists(st.floats(1.5, 15.0), min_size=3, max_size=3),
    angles=st.lists(st.floats(65.0, 115.0), min_size=3, max_size=3),
    n_species=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
    periodic=st.booleans(),
)
def test_random_boxes_positions_and_species_never_crash_or_give_nan(n, lengths, angles, n_species, seed, periodic):
    from lessdask.features import box_matrix

    rng = np.random.default_rng(seed)
    box = np.array([*lengths, *angles])
    try:
        H = box_matrix(box)
    except InputError:
        return  # impossible angle combinations are refused, tested elsewhere
    pos = rng.random((n, 3)) @ H * rng.uniform(0.5, 2.0)
    species = rng.integers(0, n_species, n)
    X, count = compute_features(pos, box if periodic else None, species, dtype=np.float64)
    assert np.isfinite(X).all() and (X >= -1e-12).all() and (X <= 1 + 1e-9).all()
    if periodic:
        shifted, _ = compute_features(pos + rng.normal(0, 5, 3), box, species, dtype=np.float64)
        np.testing.assert_allclose(shifted, X, atol=1e-7)


def test_embedded_cluster_listens_on_loopback_only():
    from lessdask.cluster import get_client

    with get_client(n_workers=1, quiet=True) as c:
        assert c.scheduler.address.startswith("tls://127.0.0.1:")  # and authenticated: see test_cluster.py
        assert c.dashboard_link.startswith("http://127.0.0.1:")
        assert all(w.startswith("tls://127.0.0.1:") for w in c.scheduler_info()["workers"])


def test_workers_retiring_on_a_lifetime_lose_no_work(tmp_path, big_traj, clean_store):
    """Batch-system workers started with --lifetime (as in jobs/*.sh) retire mid-run and restart."""
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--dashboard-address", ":0", "--scheduler-file", str(sched_file)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(100):
            if sched_file.exists():
                break
            time.sleep(0.2)
        for stagger in ("0s", "2s"):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(sched_file),
                 "--nthreads", "1", "--host", "127.0.0.1", "--lifetime", "8s", "--lifetime-stagger", stagger,
                 "--lifetime-restart"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        out = tmp_path / "lifetime.zarr"
        run = dict(output=out, cluster={"scheduler_file": str(sched_file)}, progress=False,
                   frames_per_task=1, atoms_per_chunk=16_000)
        classify(*big_traj, **run)  # resubmission is bounded by progress, not rounds: it finishes unattended
        _assert_same(clean_store, out)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def test_classify_writes_nothing_outside_its_output_store(tmp_path, dump_file, client):
    import shutil as _sh

    work = tmp_path / "work"
    work.mkdir()
    traj = work / "in.lammpstrj"
    _sh.copy(dump_file, traj)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    out = work / "out.zarr"
    classify(traj, output=out, client=client, progress=False)
    changed = {p for p in tmp_path.rglob("*") if p not in before or p.stat().st_mtime_ns != before[p]}
    store = (work / "out.zarr").resolve()
    changed = {p for p in changed if p.resolve() not in store.parents}  # a new entry touches its parent dir
    assert changed and all(p.resolve() == store or store in p.resolve().parents for p in changed), changed
