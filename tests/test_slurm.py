"""lessdask on a real batch system: a single-node SLURM (``.ci/run`` starts one when it runs as root;
by hand: ``sudo .ci/slurm-single-node.sh start``).

Every test here is marked ``slurm`` and skipped, with the reason, where ``sinfo`` is missing.
Where ``LESSDASK_REQUIRE_SLURM=1`` (set by ``.ci/run`` after it started SLURM) a SLURM that
does not answer fails the tests instead. They add about ten minutes to a run: the two long
scenarios are bound by one-minute walltimes, not by the computing.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LESSDASK_VENV": sys.prefix}
REASON = ("no SLURM here: 'sinfo' is not on PATH (.ci/run starts a single-node SLURM when run as root; "
          "by hand: sudo .ci/slurm-single-node.sh start)")

pytestmark = [pytest.mark.slurm, pytest.mark.skipif(shutil.which("sinfo") is None, reason=REASON)]


def _run(*cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)


def _jobs(name: str, states: str = "all") -> dict[str, str]:
    """``{job id: state}`` of this test's jobs (named ``name``)."""
    r = _run("squeue", "-h", "-t", states, "-n", name, "-o", "%i|%T")
    return dict(line.split("|") for line in r.stdout.split())


def _cancel(name: str) -> None:
    ids = list(_jobs(name, "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED"))
    if ids:
        _run("scancel", *ids)


@pytest.fixture(scope="module")
def slurm():
    """The node's CPUs, once SLURM answers and no other job is on the node."""
    r = subprocess.run(["sinfo", "-h", "-o", "%t %c"], capture_output=True, text=True, timeout=60)
    if r.returncode:
        msg = f"sinfo is on PATH but SLURM does not answer: {r.stderr.strip()}"
        if os.environ.get("LESSDASK_REQUIRE_SLURM") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    t0 = time.monotonic()
    while _run("squeue", "-h", "-t", "PENDING,RUNNING,COMPLETING", "-o", "%i").stdout.strip():
        if time.monotonic() - t0 > 600:
            pytest.fail("other jobs kept the SLURM node busy for 10 minutes")
        time.sleep(5)
    state, cpus = r.stdout.split()[:2]
    assert state in ("idle", "mix"), f"the SLURM node is {state}; 'sinfo -R' says why"
    return int(cpus)


def _profile(tmp_path, name, **options) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump({"cores": 1, "processes": 1, "memory": "2GB", "walltime": "00:10:00",
                                 "interface": None, "job_name": name, **options}))
    return p


def _classify(tmp_path, *args, timeout=900, patch=""):
    """``lessdask classify ARGS`` in a subprocess (``patch``: Python run first, e.g. a shorter timeout)."""
    code = f"import sys\n{patch}\nfrom lessdask.cli.main import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "classify", "--json", *map(str, args)], capture_output=True,
                          text=True, env=ENV, cwd=tmp_path, timeout=timeout)


def _same(store, reference):
    """Labels and probabilities of ``store`` equal the embedded cluster's, on the reference's frames."""
    a, b = xr.open_zarr(store), xr.open_zarr(reference)
    assert a.attrs["complete"] is True
    a = a.sel(frame=b["frame"].values)
    np.testing.assert_array_equal(a["label"].values, b["label"].values)
    np.testing.assert_array_equal(a["probability"].values, b["probability"].values)


def _seconds_per_frame(top, traj) -> float:
    """Seconds one core takes to read and classify one frame of ``traj`` (median of a few)."""
    from lessdask.features import species_codes
    from lessdask.frame import classify_frame
    from lessdask.model import load_model
    from lessdask.trajectory import open_universe, read_frame, species_of

    u = open_universe(top, traj)
    model = load_model("default")
    codes = species_codes(species_of(u.atoms), u.atoms.n_atoms)
    times = []
    for frame in range(6):
        t0 = time.perf_counter()
        pos, box, _ = read_frame(u, frame)
        classify_frame(pos, box, codes, model)
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]))  # the first call compiles


@pytest.fixture(scope="module")
def long_run(slurm, tmp_path_factory, client):
    """A trajectory holding about WORK seconds of one core's classification, and the embedded
    cluster's results for every 25th of its frames."""
    from lessdask.bench.classify import write_benchmark_trajectory
    from lessdask.pipeline import classify

    d = tmp_path_factory.mktemp("slurm-long")
    top, traj = write_benchmark_trajectory(d, 4000, 10)
    n = max(200, math.ceil(LONG_WORK / _seconds_per_frame(top, traj)))
    top, traj = write_benchmark_trajectory(d, 4000, n)
    ref = d / "embedded.zarr"
    classify(top, traj, output=ref, step=25, client=client, progress=False)
    return top, traj, ref, n


#: Seconds of one core's work in the long runs: about three worker lifetimes of a 1-minute walltime.
LONG_WORK = 120.0


# --------------------------------------------------------------------------- jobqueue, short


def test_jobqueue_run_on_two_jobs_equals_the_embedded_cluster(slurm, tmp_path, dump_file, client):
    from lessdask.pipeline import classify

    if slurm < 2:
        pytest.skip("needs a node with two CPUs")
    name = f"lessdask-test-{uuid.uuid4().hex[:8]}"
    ref = tmp_path / "embedded.zarr"
    classify(dump_file, output=ref, client=client, progress=False)
    try:
        r = _classify(tmp_path, dump_file, "-o", tmp_path / "slurm.zarr", "--cluster", "slurm",
                      "--cluster-config", _profile(tmp_path, name), "--jobs", "2")
    finally:
        _cancel(name)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = yaml.safe_load(r.stdout)
    assert summary["workers"] == 2 and len(summary["batch_jobs"]) >= 2  # the plan is sized for both jobs
    assert "Dask scheduler tls://" in r.stderr  # authenticated, and the address printed is the real one
    _same(tmp_path / "slurm.zarr", ref)
    time.sleep(2)
    assert not _jobs(name, "PENDING,RUNNING"), "the run left worker jobs behind"


# --------------------------------------------------------------------------- requests SLURM refuses


@pytest.mark.parametrize(("options", "says"), [
    ({}, "Requested node configuration is not available"),  # the shipped profile: 8 cores, 16 GB
    ({"cores": 1, "processes": 1, "memory": "2GB", "queue": "no-such-partition"}, "nvalid partition"),
    ({"cores": 1, "processes": 1, "memory": "4000GB"}, "not available"),
])
def test_a_request_slurm_refuses_is_one_message_with_its_reason(slurm, tmp_path, dump_file, options, says):
    profile = tmp_path / "p.yaml"
    shipped = yaml.safe_load((ROOT / "configs" / "cluster-slurm.yaml").read_text())
    profile.write_text(yaml.safe_dump({**shipped, **options}))
    t0 = time.monotonic()
    r = _classify(tmp_path, dump_file, "-o", tmp_path / "o.zarr", "--cluster", "slurm", "--cluster-config", profile)
    assert r.returncode == 2, r.stderr[-3000:]
    assert "SLURM refuses the worker job" in r.stderr and says in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 120 and not (tmp_path / "o.zarr").exists()


def test_a_worker_job_that_cannot_start_is_reported_with_its_output(slurm, tmp_path, dump_file):
    name = f"lessdask-test-{uuid.uuid4().hex[:8]}"
    profile = _profile(tmp_path, name, job_script_prologue=["echo 'no such environment' >&2; exit 3"])
    try:
        r = _classify(tmp_path, dump_file, "-o", tmp_path / "o.zarr", "--cluster", "slurm", "--cluster-config",
                      profile, timeout=300)
    finally:
        _cancel(name)
    assert r.returncode == 2, r.stderr[-3000:]
    assert "3 worker jobs in a row ended before their Dask worker joined" in r.stderr
    assert "no such environment" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("when", ["before submitting", "while pending"])
def test_a_drained_node_fails_clearly_within_a_bounded_time(slurm, tmp_path, dump_file, when):
    """Drained before the run: 'sbatch --test-only' refuses at once. Drained between that check and
    the job (skipped here to get there): the job pends, and after UNSCHEDULABLE_TIMEOUT (15 s here,
    2 min by default) the run stops with squeue's reason."""
    name = f"lessdask-test-{uuid.uuid4().hex[:8]}"
    patch = "import lessdask.cluster as c; c.UNSCHEDULABLE_TIMEOUT = 15"
    if when == "while pending":
        patch += "; c._slurm_test_only = lambda script: None"
    _run("scontrol", "update", "nodename=localhost", "state=drain", "reason=lessdask test")
    t0 = time.monotonic()
    try:
        r = _classify(tmp_path, dump_file, "-o", tmp_path / "o.zarr", "--cluster", "slurm", "--cluster-config",
                      _profile(tmp_path, name), patch=patch, timeout=300)
    finally:
        _run("scontrol", "update", "nodename=localhost", "state=resume")
        _cancel(name)
    took = time.monotonic() - t0
    assert r.returncode == 2, r.stderr[-3000:]
    says = "SLURM refuses the worker job" if when == "before submitting" else "no worker can start: job"
    assert says in r.stderr and "lessdask test" in r.stderr and "Traceback" not in r.stderr, r.stderr[-3000:]
    if when == "while pending":
        assert "DRAINED" in r.stderr
    assert took < 90, took
    assert not (tmp_path / "o.zarr").exists()


# --------------------------------------------------------------------------- the long runs


@pytest.mark.slow  # minutes of 1-minute walltimes: run with pytest -m slurm
def test_jobqueue_run_longer_than_three_walltimes_survives_a_queue_wait_and_a_scancel(slurm, tmp_path, long_run):
    """The issue's scenario: workers with a 1-minute walltime, a job 60 s in the queue behind
    another one, one worker job cancelled mid-run; it finishes unattended with the embedded
    cluster's results."""
    top, traj, ref, _ = long_run
    name = f"lessdask-test-{uuid.uuid4().hex[:8]}"
    blocker = _run("sbatch", "--parsable", "-J", f"{name}-blocker", f"--cpus-per-task={slurm}", "--mem=1G",
                   "-t", "5", "--wrap", "sleep 60", cwd=tmp_path).stdout.strip()
    ran: dict[str, float] = {}  # job id -> when first seen running
    states: dict[str, str] = {}  # job id -> last state seen (squeue forgets ended jobs after MinJobAge)
    cancelled: list[str] = []
    done = threading.Event()

    def watch():  # note the jobs that run; cancel the second one after 15 s of work
        while not done.wait(1):
            states.update(_jobs(name))
            for jid, state in states.items():
                if state == "RUNNING":
                    ran.setdefault(jid, time.monotonic())
            if len(ran) >= 2 and not cancelled:
                jid, since = sorted(ran.items(), key=lambda kv: kv[1])[1]
                if time.monotonic() - since > 15:
                    _run("scancel", jid)
                    cancelled.append(jid)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.monotonic()
    try:
        r = _classify(tmp_path, top, traj, "-o", tmp_path / "slurm.zarr", "--frames-per-task", "8",
                      "--cluster", "slurm", "--cluster-config", _profile(tmp_path, name, walltime="00:01:00"),
                      "--jobs", "1", timeout=1500)
    finally:
        done.set()
        watcher.join()
        _cancel(name)
        _run("scancel", blocker)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-4000:]
    assert "PENDING (Resources)" in r.stderr or "PENDING (Priority)" in r.stderr, r.stderr[-4000:]
    _same(tmp_path / "slurm.zarr", ref)
    states.update(_jobs(name))
    assert cancelled and states.get(cancelled[0]) == "CANCELLED"
    ended_by_walltime = [j for j, s in states.items() if s in ("COMPLETED", "TIMEOUT") and j in ran]
    assert len(ran) >= 4 and len(ended_by_walltime) >= 2, (states, sorted(ran))
    print(f"\njobqueue long run: {took:.0f} s, jobs that ran {sorted(ran)}, states {states}")


@pytest.mark.slow  # minutes of 1-minute walltimes: run with pytest -m slurm
def test_batch_script_runs_through_three_walltimes_and_a_killed_worker_step(slurm, tmp_path, long_run):
    """jobs/slurm-classify.sh inside 1-minute allocations: SLURM's SIGTERM at the walltime stops the
    client cleanly, the script resubmits itself with --resume, a cancelled worker step is started
    again, and the store equals the embedded cluster's."""
    top, traj, ref, _ = long_run
    name = f"lessdask-test-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "batch.zarr"
    first = _run("sbatch", "--parsable", "-J", name, "-N", "1", "-n", "1", "--ntasks-per-node=1",
                 "--cpus-per-task=1", "--mem-per-cpu=2G", "-t", "1", ROOT / "jobs" / "slurm-classify.sh",
                 top, traj, "-o", out, "--frames-per-task", "8", cwd=tmp_path, env=ENV)
    assert first.returncode == 0, first.stderr
    killed_step = None
    allocations: dict[str, str] = {}
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 1200:
            allocations.update(_jobs(name))
            active = {j for j, s in allocations.items() if s in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")}
            if not active and time.monotonic() - t0 > 10:
                break
            if killed_step is None and time.monotonic() - t0 > 30:
                steps = [s for s in _run("squeue", "-h", "-s", "-n", name, "-o", "%i").stdout.split()
                         if s.split(".")[-1].isdigit()]
                if steps:
                    killed_step = steps[0]
                    _run("scancel", killed_step)
            time.sleep(2)
    finally:
        _cancel(name)
    took = time.monotonic() - t0
    logs = "\n".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("lessdask-*.out")))
    assert killed_step, "no worker step to cancel"
    assert "the worker step ended; starting it again" in logs
    assert logs.count("stopped by SIGTERM") >= 2 and logs.count("resubmitted with --resume") >= 2, logs[-4000:]
    assert len(allocations) >= 3, allocations
    _same(out, ref)
    assert not list(tmp_path.glob("lessdask-run-*")), "a run folder (scheduler file, TLS key) was left behind"
    print(f"\nbatch script: {took:.0f} s, allocations {allocations}")
