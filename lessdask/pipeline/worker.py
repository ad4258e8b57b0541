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


@dataclass(frozen=True)
class PayloadFile:
    """Where a run's payload lives on the shared file system, and the key that proves it is ours.

    The client writes the payload (the pickled trajectory reader with its frame offsets, the
    species codes, the plan) once, next to the store; every worker reads it from there the
    first time it needs it, so nothing a task needs dies with another worker. The file is
    signed with a key made for this run (HMAC-SHA256) that travels only with the tasks: a file
    changed or planted by anyone else is refused before it is unpickled.
    """

    path: str
    key: bytes
    digest: str

    @classmethod
    def write(cls, path, data: bytes) -> PayloadFile:
        """Write ``data`` to ``path`` (readable by its owner only) and sign it with a new key."""
        import hashlib
        import hmac
        import secrets

        key = secrets.token_bytes(32)
        tmp = f"{path}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return cls(str(path), key, hmac.new(key, data, hashlib.sha256).hexdigest())

    def read(self) -> bytes:
        """The payload, refused unless it is the file this run's client wrote."""
        import hashlib
        import hmac

        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise StoreError(f"cannot read the run's payload {self.path} ({exc.strerror}): it must be on a file "
                             "system every worker sees, next to the store; rerun with --resume") from None
        if not hmac.compare_digest(hmac.new(self.key, data, hashlib.sha256).hexdigest(), self.digest):
            raise StoreError(f"the run's payload {self.path} was changed by someone else; refusing to read it")
        return data


def run_payload(run_id: str, payload) -> dict:
    """The run's payload ``{"universe", "species", "plan"}``, unpickled once per worker.

    ``payload`` is the pickled bytes or a :class:`PayloadFile` (read from the shared path).
    """
    key = ("run", run_id)
    if key not in _CACHE:
        # one trajectory per worker at a time: a long-lived worker serving run after run must
        # not keep every earlier run's Universe alive
        for old in [k for k in _CACHE if k[0] == "run"]:
            del _CACHE[old]
        data = payload.read() if isinstance(payload, PayloadFile) else payload
        _CACHE[key] = pickle.loads(data)  # made by this run's client (signature checked), never anyone else's
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


def run_task(settings: TaskSettings, payload, frame_block: int, atom_chunk: int) -> dict:
    """Classify one (frame block, atom chunk) and write its region of the store.

    Returns a receipt (a small dict); no per-atom data goes back to the client.
    """
    from lessdask.frame import classify_frame
    from lessdask.store import write_region
    from lessdask.trajectory import read_frame

    t0 = time.perf_counter()
    _one_thread_per_worker()
    run = run_payload(settings.run_id, payload)
    u, plan, codes = run["universe"], run["plan"], run["species"]
    model = worker_model(settings.model_path, settings.model_digest)
    layout = settings.layout
    frames = plan.task_frames(frame_block)
    atoms = plan.task_atoms(atom_chunk)
    n_f, n_a = len(frames), len(atoms)
    labels = np.empty((n_f, n_a), np.int8)
    proba = np.empty((n_f, n_a, len(model.classes_)), np.float32)
    feats = np.empty((n_f, n_a, model.feature_settings_.n_features), np.float32) if layout.save_features else None
    positions = np.empty((n_f, n_a, 3), np.float32) if layout.save_positions else None
    times = np.empty(n_f)
    dims = np.empty((n_f, 6))
    for i, frame in enumerate(frames):
        pos, box, times[i] = read_frame(u, frame, pbc=settings.pbc, where=settings.files)
        r = classify_frame(pos, box, codes, model, atoms=atoms, other=settings.other,
                           where=f"frame {frame} of {settings.files}")
        labels[i], proba[i] = r.labels, r.probabilities
        if feats is not None:
            feats[i] = r.features
        if positions is not None:
            positions[i] = pos[atoms]
        dims[i] = box if box is not None else np.zeros(6)
    write_region(settings.store, layout, frame_block, atom_chunk, labels, proba, feats, positions, times, dims)
    receipt = {"frame_block": frame_block, "atom_chunk": atom_chunk, "frames": n_f, "atoms": n_a,
               "seconds": round(time.perf_counter() - t0, 4), "worker_rss_mb": _rss_mb()}
    del labels, proba, feats, positions
    if TRIM_MEMORY:
        _release_memory()
    return receipt


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
