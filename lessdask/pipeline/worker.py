"""The worker side of a run: one (frame block, atom chunk) task, and what a worker keeps between tasks.

Each worker unpickles the run's payload once -- the trajectory reader (its frame offsets were
built once, on the client), the species codes and the plan -- and keeps it; it loads the model
file once. For every task it reads its frames, classifies its chunk's atoms with
:func:`lessdask.frame.classify_frame` (neighbours from every atom of the frame, so chunk
borders and periodic images are seen), writes its own region of the store, then the region's
marker, and returns a small receipt.

A task's arguments are only its (frame block, atom chunk) indices and the small
:class:`TaskSettings`, never per-atom arrays: a worker keeps every finished task's arguments
until the client releases the result, so per-atom arguments would make worker memory grow
with the trajectory length.
"""

from __future__ import annotations

import os
import pickle
import time
from dataclasses import dataclass

import numpy as np

from lessdask.errors import StoreError
from lessdask.store import StoreLayout

#: Hand freed heap back to the OS after each task.
TRIM_MEMORY = True
# per-process caches: the run's payload and the model are loaded once per worker, not per task
_CACHE: dict = {}


@dataclass(frozen=True)
class TaskSettings:
    """What every task of a run shares (small; sent with each task).

    Attributes
    ----------
    run_id : str
        Identifies the run's payload in the worker cache.
    files : str
        The input files, for messages.
    store : str
        Absolute path of the results store.
    model_path, model_digest : str
        The model file and the digest it must have.
    layout : StoreLayout
        Chunking of the store and its optional variables.
    pbc, other : bool
        Periodic boundaries; label atoms outside their class's envelope "other".
    """

    run_id: str
    files: str
    store: str
    model_path: str
    model_digest: str
    layout: StoreLayout
    pbc: bool = True
    other: bool = True


def run_payload(run_id: str, payload: bytes) -> dict:
    """The run's payload ``{"universe", "species", "plan"}``, unpickled once per worker."""
    key = ("run", run_id)
    if key not in _CACHE:
        # one trajectory per worker at a time: a long-lived worker serving run after run must
        # not keep every earlier run's Universe alive
        for old in [k for k in _CACHE if k[0] == "run"]:
            del _CACHE[old]
        _CACHE[key] = pickle.loads(payload)  # made by this run's client, never read from disk
    return _CACHE[key]


def worker_model(path: str, digest: str):
    """The model file loaded once per worker, refused if its digest changed since the run began."""
    key = ("model", digest)
    if key not in _CACHE:
        from lessdask.model import load_model

        model = load_model(path)
        if model.digest_ != digest:
            raise StoreError(f"model file {path} changed while the run was going (digest mismatch)")
        _CACHE[key] = model
    return _CACHE[key]


def _one_thread_per_worker():
    try:
        from distributed import get_worker

        if get_worker().state.nthreads == 1:
            import numba

            numba.set_num_threads(1)
    except (ValueError, ImportError, AttributeError):
        pass


def run_task(settings: TaskSettings, payload, frame_block: int, group: int) -> dict:
    """Classify the chunks of one (frame block, chunk group) and write their regions of the store.

    Each frame of the block is read once and its neighbour search built once
    (:class:`lessdask.features.engine.FrameFeatures`); the group's chunks are classified one
    after the other from it. Chunks already marked in the store are skipped. A chunk's region
    is written as soon as its frames are done (at once for one-frame blocks), so per-atom
    results in memory are bounded by the chunk times the block's frames.

    Returns a receipt (a small dict); no per-atom data goes back to the client.
    """
    from lessdask.features.engine import FrameFeatures
    from lessdask.frame import classify_frame
    from lessdask.store import chunk_done, write_region
    from lessdask.trajectory import read_frame

    t0 = time.perf_counter()
    _one_thread_per_worker()
    run = run_payload(settings.run_id, payload)
    u, plan, codes = run["universe"], run["plan"], run["species"]
    model = worker_model(settings.model_path, settings.model_digest)
    layout = settings.layout
    frames = plan.task_frames(frame_block)
    chunks = [ac for ac in plan.group_chunks(group) if not chunk_done(settings.store, frame_block, ac)]
    n_f = len(frames)
    results = {ac: _ChunkResult(n_f, len(plan.task_atoms(ac)), len(model.classes_),
                                model.feature_settings_.n_features, layout) for ac in chunks}
    times, dims = np.empty(n_f), np.empty((n_f, 6))
    for i, frame in enumerate(frames if chunks else []):
        pos, box, times[i] = read_frame(u, frame, pbc=settings.pbc, where=settings.files)
        dims[i] = box if box is not None else np.zeros(6)
        where = f"frame {frame} of {settings.files}"
        shared = FrameFeatures(pos, box, codes, settings=model.feature_settings_, where=where)
        for ac in chunks:
            atoms = plan.task_atoms(ac)
            r = classify_frame(pos, box, codes, model, atoms=atoms, other=settings.other, where=where,
                               shared=shared)
            results[ac].put(i, r, pos[atoms] if layout.save_positions else None)
            if i == n_f - 1:  # the chunk's frames are all done: write it and let it go
                res = results.pop(ac)
                write_region(settings.store, layout, frame_block, ac, res.labels, res.probabilities,
                             res.features, res.positions, times, dims)
        del shared
    receipt = {"frame_block": frame_block, "group": group, "chunks": len(chunks), "frames": n_f,
               "atoms": int(sum(len(plan.task_atoms(ac)) for ac in chunks)),
               "seconds": round(time.perf_counter() - t0, 4), "worker_rss_mb": _rss_mb()}
    if TRIM_MEMORY:
        _release_memory()
    return receipt


class _ChunkResult:
    """One chunk's labels, probabilities (and features, positions) over the frames of a block."""

    def __init__(self, n_frames, n_atoms, n_classes, n_features, layout):
        self.labels = np.empty((n_frames, n_atoms), np.int8)
        self.probabilities = np.empty((n_frames, n_atoms, n_classes), np.float32)
        self.features = np.empty((n_frames, n_atoms, n_features), np.float32) if layout.save_features else None
        self.positions = np.empty((n_frames, n_atoms, 3), np.float32) if layout.save_positions else None

    def put(self, i, r, positions):
        self.labels[i], self.probabilities[i] = r.labels, r.probabilities
        if self.features is not None:
            self.features[i] = r.features
        if self.positions is not None:
            self.positions[i] = positions


def _rss_mb() -> float:
    """Resident memory of this process (MB), reported in task receipts."""
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6, 1)
    except (OSError, ValueError):
        return float("nan")


def _release_memory():
    """Hand freed heap back to the OS after each task (no gc.collect: it costs 0.5 s per task
    with a million-atom Universe in the heap, and the task's arrays hold no cycles)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
