"""Reliability of a run (issue #21): multi-threaded workers, user errors fail fast, inputs workers cannot
open, TLS schedulers without certificates, workers killed by their memory limit.

Real Dask schedulers and workers in their own processes (``dask scheduler``, ``dask worker``), real files.
The matrix these tests make true is docs/reliability.md.
"""

from __future__ import annotations

import contextlib
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

from lessdask import store
from lessdask.errors import ClusterError, InputError
from lessdask.pipeline import classify
from lessdask.testing import write_lammps_dump

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@contextlib.contextmanager
def scheduler(tmp_path, *extra):
    """A ``dask scheduler`` process on loopback; yields its scheduler file, and a list to add processes to."""
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--dashboard-address", ":0", "--scheduler-file", str(sched_file),
                               *extra], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(150):
            if sched_file.exists():
                break
            time.sleep(0.2)
        yield sched_file, procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def start_worker(procs, sched_file, *args, cwd=None, prefix=()):
    procs.append(subprocess.Popen([*prefix, sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                                   str(sched_file), "--host", "127.0.0.1", *args], env=ENV, cwd=cwd,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def wait_for_workers(sched_file, n):
    from distributed import Client

    with Client(scheduler_file=str(sched_file), timeout=60) as c:
        c.wait_for_workers(n, timeout=120)


def _same_results(a, b):
    x, y = xr.open_zarr(a), xr.open_zarr(b)
    assert y.attrs["complete"] is True
    np.testing.assert_array_equal(x["label"].values, y["label"].values)
    np.testing.assert_array_equal(x["probability"].values, y["probability"].values)


@pytest.fixture(scope="module")
def sixteen_frames(tmp_path_factory, crystal_frames):
    """A 16-frame dump of 864 atoms: 32 small tasks with one frame each."""
    frames, types, dims = crystal_frames
    rng = np.random.default_rng(5)
    fr = [frames[k % 4] + rng.normal(0, 0.05, frames[0].shape) for k in range(16)]
    return write_lammps_dump(tmp_path_factory.mktemp("sixteen") / "t.lammpstrj", fr, types, [dims[0]] * 16)


# ----------------------------------------------------------------- row 3: thread-safe workers


def test_multithreaded_workers_give_the_store_of_single_threaded_ones(tmp_path, sixteen_frames, client):
    chunks = {"frames_per_task": 1, "atoms_per_chunk": 432}
    clean = tmp_path / "one-thread.zarr"
    classify(sixteen_frames, output=clean, client=client, progress=False, **chunks)  # 1 thread per worker
    with scheduler(tmp_path) as (sched_file, procs):
        start_worker(procs, sched_file, "--nthreads", "2")  # the default of plain 'dask worker' is one per core
        wait_for_workers(sched_file, 1)
        for k in range(3):  # threads sharing one reader mixed frames in 2 of 3 runs before
            out = tmp_path / f"two-threads-{k}.zarr"
            classify(sixteen_frames, output=out, cluster={"scheduler_file": str(sched_file)}, progress=False,
                     **chunks)
            _same_results(clean, out)


# ----------------------------------------------------------------- row 11: user errors fail fast


def test_a_user_error_stops_the_run_at_once_without_retries(tmp_path, crystal_frames, client):
    from distributed import get_task_stream

    frames, types, dims = crystal_frames
    bad = [f.copy() for f in frames * 20]
    for f in bad:
        f[3, 0] = np.nan  # every frame is bad: on main every task ran three times
    traj = write_lammps_dump(tmp_path / "bad.lammpstrj", bad, types, dims * 20)
    with get_task_stream(client) as ts, pytest.raises(InputError, match=r"frame \d+ .*atom index 3"):
        classify(traj, output=tmp_path / "r.zarr", client=client, progress=False, frames_per_task=1)
    time.sleep(1.0)  # let the last records of tasks already running arrive
    keys = [str(r["key"]) for r in ts.data if str(r["key"]).startswith("lessdask-")]
    assert len(keys) == len(set(keys)), "a task that met a user error was retried"
    # tasks already queued on a worker when the first receipt arrives may still run (tens of ms each)
    assert 1 <= len(keys) <= 30, f"{len(keys)} of 60 tasks ran after a user error"


def test_a_user_error_is_one_message_and_exit_code_2(tmp_path, crystal_frames):
    frames, types, dims = crystal_frames
    bad = [f.copy() for f in frames * 3]
    for f in bad:
        f[3, 0] = np.nan
    traj = write_lammps_dump(tmp_path / "bad.lammpstrj", bad, types, dims * 3)
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", str(traj), "-o", str(tmp_path / "r.zarr"),
                        "--workers", "1", "--frames-per-task", "1"], env=ENV, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stderr.count("error:") == 1, r.stderr


# ----------------------------------------------------------------- row 12: inputs the workers cannot open


def test_relative_input_paths_work_with_workers_running_elsewhere(tmp_path, dump_file):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(dump_file, work / "run.lammpstrj")
    elsewhere = tmp_path / "worker-cwd"
    elsewhere.mkdir()
    with scheduler(tmp_path) as (sched_file, procs):
        start_worker(procs, sched_file, "--nthreads", "1", cwd=elsewhere)
        wait_for_workers(sched_file, 1)
        r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", "run.lammpstrj", "-o", "out.zarr",
                            "--scheduler-file", str(sched_file)], cwd=work, env=ENV, capture_output=True, text=True,
                           timeout=300)
    assert r.returncode == 0, r.stderr
    assert xr.open_zarr(work / "out.zarr").attrs["complete"] is True


def test_an_input_a_worker_cannot_see_is_refused_before_a_store_is_made(tmp_path, dump_file):
    """A worker in its own mount namespace, with an empty file system over the input's folder: a worker on a
    machine that does not share that folder."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(dump_file, data / "run.lammpstrj")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs tmpfs {data} && ls {data}"],
                           capture_output=True, text=True)
    if probe.returncode != 0 or probe.stdout.strip():
        pytest.skip(f"cannot give a worker its own mount namespace here (needs root): {probe.stderr.strip()}")
    out = tmp_path / "out.zarr"
    with scheduler(tmp_path) as (sched_file, procs):
        procs.append(subprocess.Popen(
            ["unshare", "-m", "sh", "-c", f"mount -t tmpfs tmpfs {data} && exec {sys.executable} -m "
             f"distributed.cli.dask_worker --scheduler-file {sched_file} --host 127.0.0.1 --nthreads 1"],
            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for_workers(sched_file, 1)
        with pytest.raises(InputError, match=r"1 worker\(s\) cannot read the input .*run.lammpstrj"):
            classify(data / "run.lammpstrj", output=out, cluster={"scheduler_file": str(sched_file)}, progress=False)
    assert not out.exists()


def test_an_input_deleted_then_workers_lost_gives_a_clear_message(tmp_path):
    from distributed import Client, LocalCluster

    from lessdask.bench.classify import write_benchmark_trajectory

    top, traj = write_benchmark_trajectory(tmp_path, 16_000, 24)
    out = tmp_path / "r.zarr"
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                      silence_logs=50) as cluster, Client(cluster) as c:
        outcome = {}

        def run():
            try:
                classify(top, traj, output=out, client=c, progress=False, frames_per_task=1, atoms_per_chunk=8_000)
                outcome["result"] = "finished"
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                outcome["result"] = exc

        t = threading.Thread(target=run)
        t.start()
        deadline = time.time() + 180
        while len(list((out / store.TASKS_DIR).glob("*.done"))) < 2 and time.time() < deadline:
            time.sleep(0.05)
        traj.unlink()  # the open readers keep reading; new workers cannot reopen it
        for pid in c.run(os.getpid).values():
            os.kill(pid, signal.SIGKILL)  # the nannies restart them
        t.join(timeout=300)
    exc = outcome.get("result")
    assert isinstance(exc, InputError), exc
    assert "cannot reopen" in str(exc) and "bench.dcd" in str(exc) and "--resume" in str(exc)
    assert xr.open_zarr(out).attrs["complete"] is False and len(store.completed_tasks(out)) >= 2


def test_a_tls_scheduler_without_client_certificates_is_a_clear_cluster_error(tmp_path, dump_file):
    from distributed.security import Security

    sec = Security.temporary()
    for name, text in (("cert.pem", sec.tls_scheduler_cert), ("key.pem", sec.tls_scheduler_key),
                       ("ca.pem", sec.tls_ca_file)):
        (tmp_path / name).write_text(text)
    tls = ["--protocol", "tls", "--tls-ca-file", str(tmp_path / "ca.pem"), "--tls-cert", str(tmp_path / "cert.pem"),
           "--tls-key", str(tmp_path / "key.pem")]
    out = tmp_path / "out.zarr"
    with scheduler(tmp_path, *tls) as (sched_file, _):
        import json

        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tls://")
        r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", str(dump_file), "-o", str(out),
                            "--scheduler", address], env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "TLS" in r.stderr and "distributed.comm.tls" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


# ----------------------------------------------------------------- row 14: memory kills named


def test_workers_killed_by_their_memory_limit_are_named_with_the_setting(tmp_path, dump_file):
    import dask
    from distributed import Client, LocalCluster

    out = tmp_path / "r.zarr"
    # 260 MB: a worker starts below it, and passes it once a task has loaded lessdask and the model
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="260MB", host="127.0.0.1",
                         dashboard_address=":0", silence_logs=50) as cluster, Client(cluster) as c:
        with pytest.raises(ClusterError, match="killed .* by their memory limit") as err:
            classify(dump_file, output=out, client=c, progress=False)
    message = str(err.value)
    assert "--atoms-per-chunk" in message and "memory" in message and "--resume" in message
