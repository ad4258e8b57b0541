"""Where a run gets its workers: the authenticated embedded cluster, cluster profiles checked before
anything is submitted, waiting for workers, and SIGTERM/SIGINT stopping a run cleanly.

The batch-system scenarios on a real SLURM are in test_slurm.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from lessdask.cluster import cluster_options, default_interface, get_client, network_interfaces, worker_lifetime
from lessdask.errors import ClusterError, StoreError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _profile(tmp_path, **options) -> str:
    p = tmp_path / "profile.yaml"
    p.write_text(yaml.safe_dump({"cores": 2, "processes": 2, "memory": "4GB", "walltime": "01:00:00", **options}))
    return str(p)


# --------------------------------------------------------------------------- the embedded cluster


def test_embedded_cluster_is_tls_on_loopback_and_prints_its_real_address(caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="lessdask"), get_client(n_workers=1) as c:
        assert c.scheduler.address.startswith("tls://127.0.0.1:")
        assert c.dashboard_link.startswith("http://127.0.0.1:")
        assert all(w.startswith("tls://127.0.0.1:") for w in c.scheduler_info()["workers"])
        assert c.submit(os.getpid).result() != os.getpid()  # a worker process runs our code
        printed = c.scheduler.address
    assert any(printed in r.getMessage() for r in caplog.records)


def test_another_local_user_cannot_use_the_embedded_cluster(tmp_path):
    """Without the run's temporary key no one can connect, let alone run code as us (issue #21, row 4)."""
    probe = ("import sys, os\nfrom distributed import Client\n"
             "try:\n    c = Client(sys.argv[1], timeout=5)\nexcept Exception as e:\n"
             "    print('REFUSED', type(e).__name__); sys.exit(0)\n"
             "print('CONNECTED', c.run(os.getuid)); sys.exit(1)\n")
    script = tmp_path / "probe.py"
    script.write_text(probe)
    script.chmod(0o755)
    tmp_path.chmod(0o755)
    as_other = []  # a real other user where one can run this Python; else us, without the run's key
    if os.geteuid() == 0 and shutil.which("runuser"):
        ok = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", "import distributed"],
                            capture_output=True, cwd=tmp_path).returncode == 0
        as_other = ["runuser", "-u", "nobody", "--"] if ok else []
    with get_client(n_workers=1, quiet=True) as c:
        plain = c.scheduler.address.replace("tls://", "tcp://")
        for address in (c.scheduler.address, plain):
            r = subprocess.run([*as_other, sys.executable, str(script), address], capture_output=True, text=True,
                               timeout=120, env={**ENV, "HOME": str(tmp_path)}, cwd=tmp_path)
            assert r.returncode == 0 and "REFUSED" in r.stdout, (address, r.stdout, r.stderr[-2000:])


# --------------------------------------------------------------------------- cluster profiles


@pytest.mark.parametrize("kind", ["slurm", "pbs"])
def test_shipped_profiles_bind_this_machines_interface_with_tls_and_derived_lifetimes(kind):
    options = cluster_options(kind, kind)
    assert options["interface"] == default_interface() and options["interface"] in network_interfaces()
    ip = network_interfaces()[options["interface"]]
    assert options["scheduler_options"]["dashboard_address"] == f"{ip}:8787"  # not every interface
    assert options["security"] is True
    extra = options["worker_extra_args"]
    assert "--lifetime-restart" not in extra  # a job that ends is replaced; restarting inside it cannot help
    life = int(extra[extra.index("--lifetime") + 1].rstrip("s"))
    stagger = int(extra[extra.index("--lifetime-stagger") + 1].rstrip("s"))
    assert life + stagger < 3600 - 60  # retire, staggered, at least a minute before the 1 h walltime
    text = (ROOT / "configs" / f"cluster-{kind}.yaml").read_text()
    for key in ("queue", "account", "cores", "memory", "walltime"):
        assert any(line.startswith(f"{key}:") and "SET" in line for line in text.splitlines()), key


def test_an_interface_the_machine_lacks_is_named_with_the_ones_it_has(tmp_path):
    with pytest.raises(ClusterError) as e:
        cluster_options("slurm", _profile(tmp_path, interface="ib0-not-here"))
    msg = str(e.value)
    assert "'ib0-not-here'" in msg and "profile.yaml" in msg
    assert all(name in msg for name in network_interfaces())


@pytest.mark.parametrize(("options", "words"), [
    ({"memory": "2GB", "processes": 4, "cores": 4}, ["0.50 GB per worker process", "raise memory"]),
    ({"cores": 6, "processes": 4}, ["processes: 4 must divide cores: 6"]),
    ({"memory": "lots"}, ["'lots' is not an amount"]),
])
def test_memory_and_processes_are_checked_against_each_other(tmp_path, options, words):
    with pytest.raises(ClusterError) as e:
        cluster_options("slurm", _profile(tmp_path, **options))
    assert all(w in str(e.value) for w in words), str(e.value)


def test_pbs_resource_request_is_derived_and_a_repeated_one_must_agree(tmp_path):
    from dask_jobqueue import PBSCluster

    options = cluster_options("pbs", _profile(tmp_path, cores=4, processes=4, memory="8GB"))
    cluster = PBSCluster(**{**options, "security": None})  # the job script only; no qsub needed
    try:
        assert "#PBS -l select=1:ncpus=4:mem=7630MB" in cluster.job_script()  # 8 GB in PBS's MB (2**20 B)
        assert "--memory-limit 1.86GiB" in cluster.job_script()  # 8 GB / 4 processes
    finally:
        cluster.close()
    with pytest.raises(ClusterError, match="ncpus=8 but cores: 4"):
        cluster_options("pbs", _profile(tmp_path, cores=4, processes=4, resource_spec="select=1:ncpus=8:mem=8gb"))
    with pytest.raises(ClusterError, match="mem=64gb but memory: 8GB"):
        cluster_options("pbs", _profile(tmp_path, cores=4, processes=4, memory="8GB",
                                        resource_spec="select=1:ncpus=4:mem=64gb"))


def test_a_profile_lifetime_wins_and_walltime_formats_are_read():
    assert worker_lifetime(60) == (40, 3)
    assert worker_lifetime(4 * 3600) == (4 * 3600 - 600, 300)
    from lessdask.cluster import _walltime_seconds

    assert _walltime_seconds("1-02:00:00", "slurm") == 26 * 3600
    assert _walltime_seconds("30", "slurm") == 1800 and _walltime_seconds("2:30", "slurm") == 150
    assert _walltime_seconds("02:30", "pbs") == 9000


def test_a_profile_lifetime_is_kept(tmp_path):
    extra = cluster_options("slurm", _profile(tmp_path, worker_extra_args=["--lifetime", "20s",
                                                                           "--lifetime-restart"]))["worker_extra_args"]
    assert extra == ["--lifetime", "20s"]


def test_cluster_kind_without_its_batch_command_is_one_clear_message(tmp_path, dump_file):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("python",):
        (bin_dir / tool).symlink_to(sys.executable)
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", str(dump_file), "-o",
                        str(tmp_path / "o.zarr"), "--cluster", "pbs", "--cluster-config", "pbs"],
                       capture_output=True, text=True,
                       env={**ENV, "PATH": str(bin_dir)}, cwd=tmp_path, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "'qsub' is not on PATH" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.zarr").exists()


# --------------------------------------------------------------------------- waiting for workers


@pytest.fixture
def scheduler_file(tmp_path):
    """A running Dask scheduler with no workers (plain TCP, loopback)."""
    sched = tmp_path / "scheduler.json"
    proc = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                             "--port", "0", "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(sched)],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        if sched.exists() and sched.stat().st_size:
            break
        time.sleep(0.1)
    yield sched
    proc.terminate()
    proc.wait(timeout=30)


def _worker(sched, n=1):
    return subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(sched),
                             "--nthreads", "1", "--nworkers", str(n), "--host", "127.0.0.1"],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_no_worker_within_wait_workers_is_one_message_and_no_store(tmp_path, dump_file, scheduler_file):
    out = tmp_path / "never.zarr"
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", str(dump_file), "-o", str(out),
                        "--scheduler-file", str(scheduler_file), "--wait-workers", "4"],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "no Dask worker joined the scheduler at tcp://127.0.0.1:" in r.stderr
    assert "within 0:00:04 (--wait-workers 4)" in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 120
    assert not out.exists()  # the plan and the store come after workers join


def test_the_plan_is_made_after_workers_join(tmp_path, dump_file, scheduler_file):
    from lessdask.pipeline import classify

    workers = None
    try:
        import threading

        def late_workers():
            nonlocal workers
            time.sleep(3)
            workers = _worker(scheduler_file, 2)

        threading.Thread(target=late_workers).start()
        s = classify(dump_file, output=tmp_path / "late.zarr", cluster={"scheduler_file": str(scheduler_file)},
                     progress=False)
    finally:
        time.sleep(0.5)
        if workers is not None:
            workers.terminate()
            workers.wait(timeout=60)
    assert s["workers"] == 2  # not the 0 (counted as 1) there were when the run began


def test_a_callers_local_cluster_is_planned_for_its_workers_without_waiting_for_more():
    from distributed import Client, LocalCluster

    from lessdask.cluster import open_cluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        with open_cluster(client=client) as session:
            assert session.expected_workers == 2  # known: no settling period for late joiners
            assert session.wait_for_workers() == 2
        with Client(cluster.scheduler_address) as by_address, open_cluster(client=by_address) as session:
            assert session.expected_workers is None  # a bare scheduler: workers may still be joining


# --------------------------------------------------------------------------- signals


@pytest.fixture(scope="module")
def long_traj(tmp_path_factory):
    """A 4,000-atom, 120-frame trajectory: long enough to interrupt on this machine."""
    from lessdask.bench.classify import write_benchmark_trajectory

    return write_benchmark_trajectory(tmp_path_factory.mktemp("signals"), 4000, 120)


@pytest.fixture(scope="module")
def long_reference(tmp_path_factory, long_traj, client):
    from lessdask.pipeline import classify

    out = tmp_path_factory.mktemp("signals-ref") / "fresh.zarr"
    classify(*long_traj, output=out, client=client, progress=False)
    return out


def _start(args, cwd, new_group=False):
    return subprocess.Popen([sys.executable, "-m", "lessdask.cli", "classify", *map(str, args)], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=new_group)


def _wait_for_chunks(store, n, proc, timeout=300):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and proc.poll() is None:
        d = Path(store) / ".lessdask_tasks"
        if d.exists() and len(list(d.glob("*.done"))) >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {n} chunks written in {timeout} s: {proc.stderr.read() if proc.poll() else ''}")


@pytest.mark.parametrize(("sig", "code", "group"), [(signal.SIGTERM, 143, False), (signal.SIGINT, 130, True)])
def test_a_signal_stops_the_run_cleanly_and_resume_finishes_it(tmp_path, long_traj, long_reference, sig, code, group):
    """SIGTERM (the batch system's walltime or scancel) to the client, SIGINT (Ctrl-C) to its whole
    process group: a message that says what was kept and how to finish, no leaked semaphores."""
    out = tmp_path / "stopped.zarr"
    args = [*long_traj, "-o", out, "--frames-per-task", "4", "--workers", "2"]
    proc = _start(args, tmp_path, new_group=group)
    _wait_for_chunks(out, 2, proc)
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-3000:]
    assert f"stopped by {signal.Signals(sig).name}:" in err and "--resume" in err
    assert "leaked" not in err and "Traceback" not in err, err[-3000:]
    assert not xr.open_zarr(out).attrs.get("complete")
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", *map(str, args), "--resume"],
                       capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = xr.open_zarr(out), xr.open_zarr(long_reference)
    assert a.attrs["complete"] is True
    np.testing.assert_array_equal(a["label"].values, b["label"].values)
    np.testing.assert_array_equal(a["probability"].values, b["probability"].values)


# --------------------------------------------------------------------------- the payload file


def test_workers_refuse_a_payload_file_changed_by_someone_else(tmp_path):
    from lessdask.pipeline.worker import PayloadFile

    pf = PayloadFile.write(tmp_path / "run.pickle", b"data")
    assert pf.read() == b"data"
    assert (tmp_path / "run.pickle").stat().st_mode & 0o077 == 0  # the owner's only
    (tmp_path / "run.pickle").write_bytes(b"evil")
    with pytest.raises(StoreError, match="changed by someone else"):
        pf.read()
    (tmp_path / "run.pickle").unlink()
    with pytest.raises(StoreError, match="file system every worker sees"):
        pf.read()
