"""Reliability of the results store (issue #21): nothing deleted that lessdask did not make, one writer per
store, resume refuses every mismatch, the store says the truth, bad options leave nothing behind.

Real files, real processes (the CLI in subprocesses, embedded clusters), real Zarr stores. The matrix these
tests make true is docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from lessdask import store
from lessdask.analysis import phase_fractions
from lessdask.errors import InputError, StoreError
from lessdask.pipeline import classify
from lessdask.testing import write_lammps_dump

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _cli(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", *map(str, args)], cwd=cwd or ROOT,
                          env=ENV, capture_output=True, text=True, timeout=timeout)


def _tree(path: Path) -> dict:
    """Every file under ``path`` with the SHA-256 of its content."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def _run(traj, out, client, **kw):
    return classify(traj, output=out, client=client, progress=False, **kw)


def _same_results(a, b):
    x, y = xr.open_zarr(a), xr.open_zarr(b)
    assert y.attrs["complete"] is True
    np.testing.assert_array_equal(x["label"].values, y["label"].values)
    np.testing.assert_array_equal(x["probability"].values, y["probability"].values)


@pytest.fixture(scope="module")
def twelve_frames(tmp_path_factory, crystal_frames):
    """Two 12-frame dumps of the same 864 atoms (different thermal noise): same shape, different content."""
    frames, types, dims = crystal_frames
    d = tmp_path_factory.mktemp("twelve")
    out = []
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        fr = [frames[k % 4] + rng.normal(0, 0.05, frames[0].shape) for k in range(12)]
        out.append(write_lammps_dump(d / f"run{seed}.lammpstrj", fr, types, [dims[0]] * 12))
    return out


@pytest.fixture(scope="module")
def slow_traj(tmp_path_factory):
    """A 32,000-atom, 12-frame LAMMPS data + DCD trajectory: a one-worker run lasts long enough to meet."""
    from lessdask.bench.classify import write_benchmark_trajectory

    return write_benchmark_trajectory(tmp_path_factory.mktemp("slow"), 32_000, 12)


SLOW = ["--workers", "1", "--frames-per-task", "1", "--atoms-per-chunk", "16000"]


@pytest.fixture(scope="module")
def slow_clean(tmp_path_factory, slow_traj, client):
    out = tmp_path_factory.mktemp("slow-clean") / "clean.zarr"
    classify(*slow_traj, output=out, client=client, progress=False, frames_per_task=1, atoms_per_chunk=16_000)
    return out


@pytest.fixture(scope="module")
def stored(tmp_path_factory, dump_file, client):
    """A complete store of the 4-frame dump, one frame per task."""
    out = tmp_path_factory.mktemp("stored") / "r.zarr"
    _run(dump_file, out, client, frames_per_task=1)
    return out


def _copy_store(stored, tmp_path, name="copy.zarr"):
    dst = tmp_path / name
    shutil.copytree(stored, dst)
    return dst


# ----------------------------------------------------------------- row 1: nothing deleted that lessdask did not make


def test_overwrite_refuses_a_folder_holding_the_input_and_touches_nothing(tmp_path, dump_file):
    data = tmp_path / "DATA_DIR"
    (data / "thesis").mkdir(parents=True)
    shutil.copy(dump_file, data / "run.lammpstrj")
    (data / "notes.txt").write_text("three weeks of notes")
    (data / "thesis" / "draft.tex").write_text("\\chapter{Results}")
    before = _tree(data)
    r = _cli(data / "run.lammpstrj", "-o", data, "--overwrite")
    assert r.returncode == 2, r.stderr
    assert "refusing to replace" in r.stderr and "DATA_DIR" in r.stderr and "Traceback" not in r.stderr
    assert _tree(data) == before


def test_overwrite_refuses_the_working_directory(tmp_path, dump_file):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("keep me")
    before = _tree(work)
    r = _cli(dump_file, "-o", ".", "--overwrite", cwd=work)
    assert r.returncode == 2, r.stderr
    assert "working directory" in r.stderr
    assert work.is_dir() and _tree(work) == before


def test_overwrite_refuses_a_folder_that_is_not_a_lessdask_store(tmp_path, dump_file, client):
    plain = tmp_path / "results"
    plain.mkdir()
    (plain / "table.csv").write_text("a,b\n1,2\n")
    with pytest.raises(StoreError, match=r"refusing to replace .*results.*not a lessdask results store"):
        _run(dump_file, plain, client, overwrite=True)
    assert (plain / "table.csv").read_text() == "a,b\n1,2\n"
    foreign = tmp_path / "foreign.zarr"  # a Zarr store, but not one lessdask wrote
    xr.Dataset({"x": ("i", np.arange(3))}).to_zarr(foreign)
    before = _tree(foreign)
    with pytest.raises(StoreError, match="not a lessdask results store"):
        _run(dump_file, foreign, client, overwrite=True)
    assert _tree(foreign) == before


def test_overwrite_refuses_a_store_holding_files_lessdask_did_not_write(tmp_path, stored, dump_file, client):
    out = _copy_store(stored, tmp_path)
    (out / "my-notes.txt").write_text("analysis ideas")
    before = _tree(out)
    with pytest.raises(StoreError, match="my-notes.txt"):
        _run(dump_file, out, client, overwrite=True)
    assert _tree(out) == before


def test_overwrite_with_a_mistyped_input_keeps_the_store(tmp_path, stored):
    out = _copy_store(stored, tmp_path)
    before = _tree(out)
    r = _cli(tmp_path / "mistyped.lammpstrj", "-o", out, "--overwrite")
    assert r.returncode == 2 and "mistyped.lammpstrj: no such file" in r.stderr
    assert _tree(out) == before


def test_overwrite_with_a_bad_option_or_model_keeps_the_store(tmp_path, stored, dump_file, client):
    out = _copy_store(stored, tmp_path)
    before = _tree(out)
    with pytest.raises(InputError, match="empty"):  # a frame selection checked only when planning
        _run(dump_file, out, client, overwrite=True, start=50)
    from lessdask.errors import ModelFileError

    with pytest.raises(ModelFileError):
        _run(dump_file, out, client, overwrite=True, model=tmp_path / "no-such.lessmodel")
    assert _tree(out) == before


def test_overwrite_replaces_a_lessdask_store(tmp_path, stored, dump_file, client):
    out = _copy_store(stored, tmp_path)
    _run(dump_file, out, client, overwrite=True, stop=2)
    ds = xr.open_zarr(out)
    assert ds.sizes["frame"] == 2 and ds.attrs["complete"] is True
    assert not (out / store.LOCK_FILE).exists()


# ----------------------------------------------------------------- row 2: one writer per store


def _wait_for(predicate, timeout=180, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline and not predicate():
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    return predicate()


def test_two_runs_started_together_on_one_output_one_refuses_naming_the_other(tmp_path, twelve_frames, client):
    out = tmp_path / "shared.zarr"
    opts = ["-o", out, "--workers", "1", "--frames-per-task", "1"]
    procs = [subprocess.Popen([sys.executable, "-m", "lessdask.cli", "classify", str(traj), *map(str, opts)],
                              cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for traj in twelve_frames]
    results = [p.communicate(timeout=600) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], (codes, [e for _, e in results])
    winner = codes.index(0)
    loser_err = results[1 - winner][1]
    assert "is being written by run" in loser_err or "already exists" in loser_err, loser_err
    ds = xr.open_zarr(out)
    assert ds.attrs["inputs"] == [str(Path(twelve_frames[winner]).resolve())]
    clean = tmp_path / "clean.zarr"
    _run(twelve_frames[winner], clean, client, frames_per_task=1)
    _same_results(clean, out)


def test_overwrite_of_a_running_jobs_output_refuses_and_the_job_finishes_intact(tmp_path, slow_traj, slow_clean,
                                                                                 twelve_frames, client):
    out = tmp_path / "running.zarr"
    a = subprocess.Popen([sys.executable, "-m", "lessdask.cli", "classify", *map(str, slow_traj), "-o", str(out),
                          *SLOW], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: len(list((out / store.TASKS_DIR).glob("*.done"))) >= 1, proc=a), "run A never wrote"
        # the second run in this process: it starts in a second, while run A is surely still writing
        with pytest.raises(StoreError, match=rf"is being written by run \w+ \(pid {a.pid} on "):
            _run(twelve_frames[1], out, client, overwrite=True)
        with pytest.raises(StoreError, match="is being written by run"):  # a resume is refused the same way
            classify(*slow_traj, output=out, client=client, progress=False, resume=True)
        assert store.lock_owner(out)["pid"] == a.pid, "run A finished before the others were refused"
    finally:
        _, err = a.communicate(timeout=600)
    assert a.returncode == 0, err
    _same_results(slow_clean, out)


def _lock(path, **fields):
    info = {"run_id": "feedfacecafe", "host": socket.gethostname(), "pid": os.getpid(), "started": "earlier",
            "command": "lessdask classify other.lammpstrj", **fields}
    (path / store.LOCK_FILE).write_text(json.dumps(info))
    return path / store.LOCK_FILE


def test_a_live_runs_lock_is_refused_naming_it(tmp_path, stored, dump_file, client):
    out = _copy_store(stored, tmp_path)
    _lock(out)  # this very process: alive
    with pytest.raises(StoreError, match=rf"being written by run feedfacecafe \(pid {os.getpid()} on "):
        _run(dump_file, out, client, resume=True)
    other = _copy_store(stored, tmp_path, "other-host.zarr")
    _lock(other, host="a-compute-node-elsewhere", pid=1)  # another host, lease fresh
    with pytest.raises(StoreError, match="a-compute-node-elsewhere"):
        _run(dump_file, other, client, resume=True)


def test_stale_locks_of_killed_runs_are_taken_over(tmp_path, stored, dump_file, client):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = _copy_store(stored, tmp_path)
    _lock(out, pid=dead.pid)  # a pid that no longer runs, on this host
    summary = _run(dump_file, out, client, resume=True)
    assert summary["chunks_skipped"] == 4 and not (out / store.LOCK_FILE).exists()
    far = _copy_store(stored, tmp_path, "far.zarr")
    lock = _lock(far, host="a-compute-node-elsewhere", pid=1, lease=60)
    old = time.time() - 120
    os.utime(lock, (old, old))  # not refreshed for longer than its lease
    assert _run(dump_file, far, client, resume=True)["chunks_skipped"] == 4


def test_a_killed_run_leaves_a_lock_that_resume_takes_over(tmp_path, slow_traj, slow_clean):
    out = tmp_path / "killed.zarr"
    cmd = [sys.executable, "-m", "lessdask.cli", "classify", *map(str, slow_traj), "-o", str(out), *SLOW]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _wait_for(lambda: len(list((out / store.TASKS_DIR).glob("*.done"))) >= 2, proc=proc)
    os.killpg(proc.pid, signal.SIGKILL)  # client, scheduler and workers at once: nobody releases the lock
    proc.wait()
    assert 0 < len(list((out / store.TASKS_DIR).glob("*.done"))) < 24, "the kill must land mid-run"
    assert (out / store.LOCK_FILE).exists() and store.lock_owner(out)["pid"] == proc.pid
    r = subprocess.run(cmd + ["--resume"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "took over the lock" in r.stderr
    _same_results(slow_clean, out)


# ----------------------------------------------------------------- row 5: resume refuses every mismatch


@pytest.mark.parametrize(("change", "message"), [
    ({"pbc": False}, "boundary conditions"),
    ({"dt": 0.002}, "time step"),
    ({"save_positions": True}, "--save-positions is asked for but the store has no 'position'"),
    ({"save_features": True}, "--save-features"),
    ({"other": False}, "'other' setting"),
])
def test_resume_refuses_options_that_change_results(change, message, tmp_path, stored, dump_file, client):
    out = _copy_store(stored, tmp_path)
    before = _tree(out)
    with pytest.raises(StoreError, match=message):
        _run(dump_file, out, client, resume=True, **change)
    assert _tree(out) == before


def test_resume_refuses_an_input_replaced_at_the_same_path(tmp_path, crystal_frames, client):
    frames, types, dims = crystal_frames
    traj = write_lammps_dump(tmp_path / "run.lammpstrj", frames, types, dims)
    out = tmp_path / "r.zarr"
    _run(traj, out, client, frames_per_task=1)
    text = traj.read_text()
    j = next(i for i in range(len(text) // 2, len(text)) if text[i - 1] == "." and text[i].isdigit())
    traj.write_text(text[:j] + str((int(text[j]) + 1) % 10) + text[j + 1:])  # one digit of a later frame
    assert len(traj.read_text()) == len(text)
    with pytest.raises(StoreError, match=r"run.lammpstrj changed since the interrupted run \(same size"):
        _run(traj, out, client, resume=True)
    write_lammps_dump(traj, [f + 0.01 for f in frames], types, dims)
    with pytest.raises(StoreError, match="changed since the interrupted run"):
        _run(traj, out, client, resume=True)


def test_resume_accepts_an_input_only_touched(tmp_path, dump_file, client):
    copy = tmp_path / "touched.lammpstrj"
    shutil.copy(dump_file, copy)
    out = tmp_path / "r.zarr"
    _run(copy, out, client, frames_per_task=1)
    os.utime(copy, (1e9, 1e9))  # a new modification time, same content (a touch, a copy without -p)
    assert _run(copy, out, client, resume=True)["chunks_skipped"] == 4


def test_fingerprints_of_large_inputs_read_a_bounded_sample(tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(store.FINGERPRINT_WHOLE * 4)  # sparse: 32 MiB of zeros
    a = store.file_fingerprint(big)
    assert a["hashed"].startswith(f"{store.FINGERPRINT_BLOCKS} blocks")
    with open(big, "r+b") as f:  # the last byte changes: the last block is always sampled
        f.seek(-1, os.SEEK_END)
        f.write(b"x")
    assert store.file_fingerprint(big)["sha256"] != a["sha256"]


# ----------------------------------------------------------------- row 10: the store says the truth


def _partial_store(path, n_blocks=2):
    """A store of 2 frame blocks x 1 atom chunk of which only block 0 was written (real Zarr, real files)."""
    layout = store.StoreLayout(frames_per_task=2, atoms_per_chunk=10)
    store.create_store(path, frames=np.arange(2 * n_blocks), atom_ids=np.arange(1, 11), classes=["fcc", "bcc"],
                       feature_names=[], layout=layout,
                       attrs={"lessdask_version": "test", "inputs": ["x"], "model_digest": "0" * 64})
    labels = np.ones((2, 10), np.int8)
    proba = np.tile(np.array([0.2, 0.8], np.float32), (2, 10, 1))
    store.write_region(path, layout, 0, 0, labels, proba, times=np.zeros(2), dimensions=np.zeros((2, 6)))
    return layout


def test_unwritten_labels_read_as_minus_one_not_as_class_zero(tmp_path):
    out = tmp_path / "partial.zarr"
    _partial_store(out)
    ds = xr.open_zarr(out)
    assert ds["label"].dtype == np.int8
    np.testing.assert_array_equal(ds["label"].values[:2], 1)
    np.testing.assert_array_equal(ds["label"].values[2:], -1)  # never written: the fill value
    assert np.isnan(ds["probability"].values[2:]).all()
    opened = store.open_results(out, allow_incomplete=True)
    np.testing.assert_array_equal(opened["label"].values[2:], -1)


def test_fractions_refuse_an_incomplete_store_or_count_only_written_atoms(tmp_path):
    out = tmp_path / "partial.zarr"
    _partial_store(out)
    ds = store.open_results(out, allow_incomplete=True)
    with pytest.raises(StoreError, match="incomplete"):
        phase_fractions(ds)
    fr = phase_fractions(ds, allow_incomplete=True).compute()
    np.testing.assert_allclose(fr.sel(structure="bcc").values[:2], 1.0)
    assert np.isnan(fr.values[2:]).all()  # frames not written: no fraction, not 100 % "other"
    assert "other" not in fr["structure"].values


def test_markers_cannot_certify_chunks_that_are_not_there(tmp_path, stored, dump_file, client):
    out = _copy_store(stored, tmp_path)
    for var in ("label", "probability"):  # block 2's data vanish; its marker stays
        shutil.rmtree(out / var / "c" / "2")
    assert (out / store.TASKS_DIR / "2-0.done").exists()
    assert (2, 0) not in store.completed_tasks(out)
    with pytest.raises(StoreError, match="not written"):
        store.mark_complete(out, [(b, 0) for b in range(4)])
    summary = _run(dump_file, out, client, resume=True)
    assert summary["tasks_run"] == 1 and summary["chunks_skipped"] == 3
    _same_results(stored, out)


def test_forged_markers_in_a_fresh_store_are_not_trusted(tmp_path):
    out = tmp_path / "forged.zarr"
    _partial_store(out)
    (out / store.TASKS_DIR / "1-0.done").write_text("{}")  # forged: block 1 never written
    assert store.completed_tasks(out) == {(0, 0)}
    with pytest.raises(StoreError, match="not written"):
        store.mark_complete(out, [(0, 0), (1, 0)])
    assert xr.open_zarr(out).attrs["complete"] is False


# ----------------------------------------------------------------- row 12: stray files, bad options, nothing left


def test_stray_files_in_the_task_folder_are_ignored(tmp_path, stored, dump_file, client):
    out = _copy_store(stored, tmp_path)
    tasks = out / store.TASKS_DIR
    for name in ("notes.done", "1-x.done", "99-0.done", "README", "2-0.done.bak"):
        (tasks / name).write_text("stray")
    summary = _run(dump_file, out, client, resume=True)
    assert summary["chunks_skipped"] == 4 and summary["tasks_run"] == 0
    _same_results(stored, out)


@pytest.mark.parametrize(("args", "message"), [
    (["--step", "0"], "argument --step: must be at least 1"),
    (["--workers", "-1"], "argument --workers: must be at least 1"),
    (["--frames-per-task", "0"], "must be at least 1"),
])
def test_impossible_options_are_refused_before_anything_is_written(args, message, tmp_path, dump_file):
    out = tmp_path / "never.zarr"
    r = _cli(dump_file, "-o", out, *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.parametrize(("kw", "message"), [
    ({"step": 0}, "--step must be at least 1"),
    ({"step": -2}, "--step must be at least 1"),
    ({"cluster": {"n_workers": -1}}, "--workers must be at least 1"),
    ({"frames_per_task": 1.5}, "--frames-per-task must be an integer"),
    ({"start": 99}, "frame selection"),
])
def test_impossible_options_in_python_leave_no_store(kw, message, tmp_path, dump_file, client):
    out = tmp_path / "never.zarr"
    kw = {"client": client, **kw} if "cluster" not in kw else kw
    with pytest.raises(InputError, match=message):
        classify(dump_file, output=out, progress=False, **kw)
    assert not out.exists()
