"""The results store: the one owner of the Zarr contract that users query.

A results store is an :class:`xarray.Dataset` in Zarr (format 3), readable with
``xarray.open_zarr(path)`` and nothing of lessdask:

coords
    ``frame`` (frame) int64 trajectory frame index; ``time`` (frame) float64, ps;
    ``atom`` (atom) int64 atom id from the input file; ``species`` (atom) str the atom's
    element, name or type as the input gives it (older stores lack it: :func:`atom_species`
    then returns None); ``structure`` (structure) str class names in model order; ``cell`` the
    six box parameters; ``feature`` and ``spatial`` where those variables exist.
``label`` (frame, atom) int8
    Index into ``structure``; ``-1`` is "other" (outside the reference envelope of the most
    probable class) and the fill value of chunks never written. CF ``flag_values`` and
    ``flag_meanings``.
``probability`` (frame, atom, structure) float32
    Class probabilities; each row sums to 1 (NaN where never written).
``dimensions`` (frame, cell) float64
    Box ``[a, b, c, alpha, beta, gamma]`` in Å and degrees (zeros for free boundaries).
``features`` (frame, atom, feature) float32, optional
    The model's input features (``save_features``).
``position`` (frame, atom, spatial) float32, optional
    Positions in Å (``save_positions``; profiles and fronts need them).
attrs
    Provenance (lessdask version, model digest and classes, feature settings, inputs with
    their fingerprints, time step, frame selection, selection, pbc, other, the id of the run
    that created the store) and ``complete: true`` once every chunk is written and verified.

Chunks are (frames per task, atoms per chunk) and aligned with the pipeline's tasks: each
task writes its own region (:func:`write_region`), then an atomic marker file, so a resumed
run (:func:`completed_tasks`) trusts only chunks whose data were fully written; a marker
counts only when the chunk files it certifies exist.

One run writes a store at a time: :class:`StoreLock` is a lock file inside the store, taken
before the store is created, cleared or resumed and released at the end.
``--overwrite`` (:func:`check_output`, :func:`clear_store`) removes only a store lessdask
wrote, never a folder holding anything else.

Nothing else in lessdask reads or writes Zarr directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lessdask.errors import StoreError

logger = logging.getLogger(__name__)

#: Name of the extra class that collects atoms with label ``-1`` ("other").
OTHER = "other"
#: Label of atoms outside the envelope of their most probable class, and of unwritten chunks.
OTHER_LABEL = -1
#: Names of the six numbers of the ``dimensions`` variable (MDAnalysis' box convention).
CELL = ("a", "b", "c", "alpha", "beta", "gamma")
#: Folder inside a store holding one marker file per finished task.
TASKS_DIR = ".lessdask_tasks"
#: The ``title`` attribute of every store lessdask writes (one of the marks :func:`is_lessdask_store` checks).
TITLE = "lessdask structure classification"
#: Lock file inside a store, held by the one run writing it (:class:`StoreLock`).
LOCK_FILE = ".lessdask_lock"
#: Folder inside a store holding the running run's signed payload (removed when the run ends).
PAYLOAD_DIR = ".lessdask_payload"
#: Seconds after which the lock of a run on *another host* that stopped refreshing it is stale.
LOCK_LEASE = 300.0
#: Seconds between refreshes of a held lock (its modification time).
LOCK_REFRESH = 30.0
#: Zarr format of new stores (format 3: a real fill value for ``label``, see docs/design.md).
ZARR_FORMAT = 3
#: Attributes a resumed run must share with the store it finishes, with their names in messages.
RESUME_KEYS = {
    "model_digest": "model",
    "inputs": "inputs",
    "frame_selection": "frame selection",
    "selection": "atom selection",
    "feature_settings": "feature settings",
    "other": "'other' setting (--no-other)",
    "pbc": "boundary conditions (--no-pbc)",
    "time_step": "time step (--dt, ps per step)",
}
#: Inputs up to this size are hashed whole for their fingerprint; larger ones are sampled.
FINGERPRINT_WHOLE = 8 << 20
#: Blocks (of :data:`FINGERPRINT_BLOCK` bytes, evenly spaced, first and last included) hashed
#: for the fingerprint of a larger input: 4 MiB read whatever the size of the file.
FINGERPRINT_BLOCKS = 64
FINGERPRINT_BLOCK = 64 << 10
_MARKER = re.compile(r"^(\d+)-(\d+)\.done$")
# entries of a store directory that are part of a store (besides its variables' folders)
_STORE_FILES = {"zarr.json", ".zattrs", ".zgroup", ".zmetadata", TASKS_DIR, LOCK_FILE, PAYLOAD_DIR}


@dataclass(frozen=True)
class StoreLayout:
    """Shape and chunking of a store: which task writes which region.

    Attributes
    ----------
    frames_per_task, atoms_per_chunk : int
        Chunk sizes along ``frame`` and ``atom``; task (fb, ac) writes frames
        ``fb * frames_per_task ...`` and atoms ``ac * atoms_per_chunk ...`` of the store.
    save_features, save_positions : bool
        Whether the store has ``features`` and ``position``.
    """

    frames_per_task: int
    atoms_per_chunk: int
    save_features: bool = False
    save_positions: bool = False

    def region(self, frame_block: int, atom_chunk: int, n_frames: int, n_atoms: int) -> tuple[slice, slice]:
        """Store slices (frame, atom) of a task's ``n_frames x n_atoms`` block."""
        f0, a0 = frame_block * self.frames_per_task, atom_chunk * self.atoms_per_chunk
        return slice(f0, f0 + n_frames), slice(a0, a0 + n_atoms)


# --------------------------------------------------------------------------- what a store is


def _root_attrs(path) -> dict | None:
    """The attributes of the Zarr group at ``path`` (format 3 or 2), or None if it is not one."""
    p = Path(path)
    try:
        if (p / "zarr.json").is_file():
            meta = json.loads((p / "zarr.json").read_text())
            if not isinstance(meta, dict) or meta.get("node_type") != "group":
                return None
            attrs = meta.get("attributes", {})
        elif (p / ".zattrs").is_file():
            attrs = json.loads((p / ".zattrs").read_text())
        else:
            return None
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return attrs if isinstance(attrs, dict) else None


def is_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds Zarr metadata (a store written by lessdask or another Zarr writer)."""
    path = Path(path)
    return (path / ".zattrs").exists() or (path / "zarr.json").exists()


def is_lessdask_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a results store lessdask wrote, recognised by its own marks.

    The marks: a Zarr group whose attributes have lessdask's :data:`TITLE` and a
    ``lessdask_version``, and the task-marker folder :data:`TASKS_DIR`. Only such a folder
    may be replaced by ``--overwrite``.
    """
    path = Path(path)
    attrs = _root_attrs(path)
    return (attrs is not None and attrs.get("title") == TITLE and "lessdask_version" in attrs
            and (path / TASKS_DIR).is_dir())


def _foreign_entries(path: Path) -> list[str]:
    """Entries of a store directory that lessdask did not make (anything but metadata, variables, markers)."""
    foreign = []
    for entry in sorted(os.listdir(path)):
        p = path / entry
        if entry in _STORE_FILES or entry.startswith(LOCK_FILE + "."):
            continue
        if p.is_dir() and not p.is_symlink() and ((p / "zarr.json").is_file() or (p / ".zarray").is_file()):
            continue  # a variable of the store
        foreign.append(entry)
    return foreign


# --------------------------------------------------------------------------- checking the output


def check_output(path: str | os.PathLike, resume: bool, overwrite: bool, protect=()) -> str:
    """Check, without changing anything, that ``path`` may be written; returns what the run will do.

    Parameters
    ----------
    path : str or os.PathLike
        The store.
    resume, overwrite : bool
        The run's ``--resume`` / ``--overwrite``.
    protect : iterable of path-like
        Files the run reads (inputs, model): a folder holding one of them is never replaced.

    Returns
    -------
    str
        ``"new"`` (nothing there, or an empty folder), ``"resume"`` (an existing lessdask store
        to finish) or ``"overwrite"`` (an existing lessdask store to replace, once the run's
        inputs are validated: :func:`clear_store`).

    Raises
    ------
    StoreError
        ``path`` is a file, its folder does not exist or is not writable, a store exists and
        neither ``resume`` nor ``overwrite`` is given, or ``resume``/``overwrite`` is asked for
        something that is not a lessdask store (or for the working directory, or a folder
        holding an input).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StoreError(f"output {path} is a file, not a results store directory; choose another path")
    if not path.exists():
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.exists():
            raise StoreError(f"cannot create {path}: directory {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise StoreError(f"cannot create {path}: directory {parent} is not writable")
        return "new"
    if not [e for e in os.listdir(path) if e != LOCK_FILE]:
        return "new"  # an empty folder (or one a killed run left with only its lock): nothing to lose
    if resume:
        if not is_lessdask_store(path):
            raise StoreError(f"{path} exists but is not a lessdask results store; cannot resume into it")
        return "resume"
    if overwrite:
        _check_replaceable(path, protect)
        return "overwrite"
    raise StoreError(f"{path} already exists; pass --resume to finish it or --overwrite to replace it")


def _check_replaceable(path: Path, protect) -> None:
    real = path.resolve()
    cwd = Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        raise StoreError(f"refusing to replace {path}: it is the working directory (or holds it); "
                         "--overwrite only replaces a results store; choose another output path")
    for p in protect:
        rp = Path(p).resolve()
        if real == rp or real in rp.parents:
            raise StoreError(f"refusing to replace {path}: it holds {p}, which this run reads; "
                             "choose another output path")
    if not is_lessdask_store(path):
        raise StoreError(
            f"refusing to replace {path}: it is not a lessdask results store (no Zarr attributes titled "
            f"{TITLE!r} and no {TASKS_DIR} folder); --overwrite only replaces stores lessdask wrote. "
            "Choose another output path, or remove it yourself if you are sure"
        )
    foreign = _foreign_entries(path)
    if foreign:
        raise StoreError(
            f"refusing to replace {path}: besides a results store it holds {foreign[:5]}, which lessdask did "
            "not write; move them out first or choose another output path"
        )


def clear_store(path: str | os.PathLike, protect=()) -> None:
    """Remove the contents of a lessdask store, keeping the folder and its lock (for ``--overwrite``).

    Called by the run holding the store's :class:`StoreLock`, once its inputs, model and
    options are validated; the checks of :func:`check_output` are repeated first.

    Raises
    ------
    StoreError
        ``path`` is not (or no longer) a replaceable lessdask store, or cannot be cleared.
    """
    path = Path(path)
    _check_replaceable(path, protect)
    try:
        for entry in os.listdir(path):
            if entry == LOCK_FILE:
                continue
            p = path / entry
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    except OSError as exc:
        raise StoreError(f"cannot clear {path} for --overwrite ({exc.strerror or exc}); fix permissions") from None


# --------------------------------------------------------------------------- one writer per store


def _process_start(pid: int) -> str | None:
    """Start time of a process (Linux clock ticks since boot), to tell a reused pid from the locking one."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except (OSError, OverflowError, ValueError):
        return False
    return True


def _read_lock(lock: Path) -> tuple[dict | None, float | None]:
    """The content of a lock file (None if unreadable) and its modification time (None if absent)."""
    try:
        mtime = lock.stat().st_mtime
        info = json.loads(lock.read_text())
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError, UnicodeDecodeError):
        try:
            return None, lock.stat().st_mtime
        except OSError:
            return None, None
    return (info if isinstance(info, dict) else None), mtime


def lock_owner(path: str | os.PathLike) -> dict | None:
    """The run holding the lock of store ``path`` (host, pid, run id, start time, command), or None."""
    return _read_lock(Path(path) / LOCK_FILE)[0]


def _stale_reason(info: dict | None, mtime: float, lease: float) -> str | None:
    """Why a lock is stale (its run is gone), or None if its run may be alive."""
    age = time.time() - mtime
    if info is None:
        return "unreadable lock file" if age > 2 * LOCK_REFRESH else None
    host, pid = info.get("host"), info.get("pid")
    if host == socket.gethostname() and isinstance(pid, int):
        if not _pid_alive(pid):
            return f"process {pid} on this host is gone"
        start = info.get("pid_start")
        if start is not None and _process_start(pid) not in (None, start):
            return f"process {pid} on this host is another process now"
        return None
    if age > float(info.get("lease", lease)):
        return f"not refreshed for {age:.0f} s (lease {info.get('lease', lease):.0f} s)"
    return None


def _describe(info: dict | None) -> str:
    if info is None:
        return "another run (its lock file is unreadable)"
    return (f"run {str(info.get('run_id', '?'))[:12]} (pid {info.get('pid')} on {info.get('host')}, "
            f"started {info.get('started')}: {info.get('command', '')[:200]})")


class StoreLock:
    """The lock that makes one run the only writer of a store (a context manager).

    A JSON file :data:`LOCK_FILE` inside the store naming the run (run id, host, pid and the
    process's start time, start time, command), linked into place atomically (``link`` fails
    if it exists, on local and NFS file systems alike) and refreshed (its modification time)
    every :data:`LOCK_REFRESH` seconds while held. A lock whose run is gone is stale and
    taken over: a dead (or reused) pid on this host, or, for another host, a lock not
    refreshed for its lease (:data:`LOCK_LEASE`). Workers check the lock before writing
    (:func:`write_region`), so a run that lost its lock stops writing.

    Parameters
    ----------
    path : str or os.PathLike
        The store folder (created, empty, if absent; removed again on release if still empty).
    run_id : str
        Identifies the run.
    lease : float
        Seconds another host waits before taking over a lock that is no longer refreshed.

    Raises
    ------
    StoreError
        On entry, when another run holds the lock (the message names it).
    """

    def __init__(self, path: str | os.PathLike, run_id: str, lease: float = LOCK_LEASE):
        self.path = Path(path)
        self.file = self.path / LOCK_FILE
        self.run_id = run_id
        self.lease = float(lease)
        self.created_dir = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _info(self) -> dict:
        return {"run_id": self.run_id, "host": socket.gethostname(), "pid": os.getpid(),
                "pid_start": _process_start(os.getpid()), "user": _user(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "lease": self.lease,
                "command": " ".join(sys.argv)[:500]}

    def acquire(self) -> None:
        """Take the lock (see the class docstring); StoreError naming the holder if another run has it."""
        try:
            self.path.mkdir()
            self.created_dir = True
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot create {self.path} ({exc.strerror or exc}); choose a writable location") from None
        tmp = self.path / f"{LOCK_FILE}.{uuid.uuid4().hex}.tmp"
        try:
            tmp.write_text(json.dumps(self._info()))
            for _ in range(5):
                if self._link(tmp):
                    break
                info, mtime = _read_lock(self.file)
                if mtime is None:
                    continue  # released meanwhile: try again
                reason = _stale_reason(info, mtime, self.lease)
                if reason is None:
                    raise StoreError(
                        f"{self.path} is being written by {_describe(info)}; one run writes a store at a time: "
                        "wait for that run to finish (or stop it), then rerun with --resume"
                    )
                self._take_over(info, reason)
            else:
                raise StoreError(f"cannot take the lock of {self.path}: other runs keep taking it")
        except OSError as exc:
            raise StoreError(f"cannot lock {self.path} ({exc.strerror or exc}); choose a writable location") from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._thread = threading.Thread(target=self._refresh, name="lessdask-store-lock", daemon=True)
        self._thread.start()

    def _link(self, tmp: Path) -> bool:
        """Put the lock in place atomically; False if a lock exists."""
        try:
            os.link(tmp, self.file)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links here: exclusive create (the content follows at once)
            try:
                fd = os.open(self.file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as f:
                f.write(tmp.read_text())
            return True

    def _take_over(self, info: dict | None, reason: str) -> None:
        """Move a stale lock aside (atomically), checking it is the one judged stale."""
        aside = self.path / f"{LOCK_FILE}.{uuid.uuid4().hex}.stale"
        try:
            os.rename(self.file, aside)
        except FileNotFoundError:
            return
        moved, _ = _read_lock(aside)
        if (moved or {}).get("run_id") != (info or {}).get("run_id"):
            with contextlib.suppress(OSError):  # a fresh lock taken meanwhile: put it back
                os.link(aside, self.file)
            aside.unlink()
            raise StoreError(f"{self.path} was locked meanwhile by {_describe(moved)}; rerun when it has finished")
        aside.unlink()
        logger.warning("took over the lock of %s from %s: %s", self.path, _describe(info), reason)

    def _refresh(self) -> None:
        while not self._stop.wait(LOCK_REFRESH):
            info, _ = _read_lock(self.file)
            if (info or {}).get("run_id") != self.run_id:
                logger.warning("lost the lock of %s to %s", self.path, _describe(info))
                return
            with contextlib.suppress(OSError):
                os.utime(self.file)

    def held(self) -> bool:
        """Whether this run still holds the lock."""
        return (lock_owner(self.path) or {}).get("run_id") == self.run_id

    def release(self) -> None:
        """Remove the lock if it is still this run's; remove the store folder if this run made it and it is empty."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.held():
            with contextlib.suppress(OSError):
                self.file.unlink()
        if self.created_dir:
            with contextlib.suppress(OSError):
                self.path.rmdir()  # only if empty: a run refused before creating the store leaves nothing


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return str(os.getuid())


def check_writer(path: str | os.PathLike, run_id: str) -> None:
    """Refuse to write into ``path`` unless run ``run_id`` holds its lock (called by every task).

    Raises
    ------
    StoreError
        Another run holds the lock (or none does): this run's remaining tasks must not write.
    """
    info = lock_owner(path)
    if (info or {}).get("run_id") != run_id:
        raise StoreError(
            f"{path} is no longer locked by this run (now: {_describe(info) if info else 'no lock'}); "
            "this run stops writing; rerun with --resume once the other run has finished"
        )


# --------------------------------------------------------------------------- input fingerprints


def file_fingerprint(path: str | os.PathLike) -> dict:
    """Size, modification time and a SHA-256 of the content of an input file, cheap at any size.

    Files up to :data:`FINGERPRINT_WHOLE` bytes are hashed whole; larger ones are hashed on
    :data:`FINGERPRINT_BLOCKS` evenly spaced blocks (the first and the last included), so a
    100 GB trajectory costs 4 MiB of reads. :func:`resume_layout` compares size and hash;
    the modification time alone (a ``touch``, a copy) does not refuse a resume.
    """
    p = Path(path)
    st = p.stat()
    h = hashlib.sha256()
    size = st.st_size
    with open(p, "rb") as f:
        if size <= FINGERPRINT_WHOLE:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
            sampled = "whole"
        else:
            last = size - FINGERPRINT_BLOCK
            for k in range(FINGERPRINT_BLOCKS):
                f.seek(last * k // (FINGERPRINT_BLOCKS - 1))
                h.update(f.read(FINGERPRINT_BLOCK))
            sampled = f"{FINGERPRINT_BLOCKS} blocks of {FINGERPRINT_BLOCK} bytes"
    return {"path": str(p.resolve()), "size": int(size), "mtime_ns": int(st.st_mtime_ns), "sha256": h.hexdigest(),
            "hashed": sampled}


def _compare_fingerprints(path, old, new) -> None:
    if not isinstance(old, list):
        raise StoreError(f"cannot resume {path}: it records no input fingerprints (written by an older lessdask), "
                         "so a changed input could not be detected; use --overwrite to start again")
    for a, b in zip(old, new):
        if not isinstance(a, dict) or a.get("size") != b["size"]:
            size = a.get("size") if isinstance(a, dict) else None
            raise StoreError(f"cannot resume {path}: input {b['path']} changed since the interrupted run "
                             f"(size {size} -> {b['size']} bytes); use --overwrite to start again")
        if a.get("sha256") != b["sha256"]:
            raise StoreError(f"cannot resume {path}: input {b['path']} changed since the interrupted run (same size, "
                             f"different content, SHA-256 of {b['hashed']}); use --overwrite to start again")
        if a.get("mtime_ns") != b["mtime_ns"]:
            logger.warning("input %s has a new modification time but the same size and content hash as in the "
                           "interrupted run; resuming", b["path"])


# --------------------------------------------------------------------------- writing


def create_store(path: str | os.PathLike, *, frames, atom_ids, classes, feature_names, layout: StoreLayout,
                 attrs: dict, species=None) -> None:
    """Write the metadata of an empty store: every variable, coordinate and attribute, no data.

    Parameters
    ----------
    path : str or os.PathLike
        Store directory: absent, or empty but for the creating run's lock (see
        :func:`check_output` and :class:`StoreLock`).
    frames : array_like of int
        Trajectory frame indices, the ``frame`` coordinate.
    atom_ids : array_like of int
        Atom ids from the input, the ``atom`` coordinate.
    classes : sequence of str
        Class names in model order, the ``structure`` coordinate.
    feature_names : sequence of str
        Names of the feature columns (used when ``layout.save_features``).
    layout : StoreLayout
        Chunking and optional variables.
    attrs : dict
        Provenance attributes; ``title`` is set to :data:`TITLE`, ``complete`` to False here
        and True by :func:`mark_complete`.
    species : array_like of str, optional
        Species (element, name or type, as strings) of each atom, in the order of
        ``atom_ids``: the ``species`` coordinate, written now, so that labels can be exported
        (:func:`lessdask.analysis.export_labels`) without the input.

    Raises
    ------
    StoreError
        The location cannot be written, or holds something else than the creating run's lock;
        ``species`` does not have one entry per atom.
    """
    import dask.array as da
    import xarray as xr
    from zarr.codecs import BloscCodec

    path = Path(path)
    if path.exists() and [e for e in os.listdir(path) if e != LOCK_FILE]:
        raise StoreError(f"cannot create the results store {path}: the folder is not empty")
    classes = [str(c) for c in classes]
    nf, na, m = len(frames), len(atom_ids), len(classes)
    fpt, apc = layout.frames_per_task, layout.atoms_per_chunk
    data = {
        "label": (("frame", "atom"), da.full((nf, na), OTHER_LABEL, dtype=np.int8, chunks=(fpt, apc))),
        "probability": (("frame", "atom", "structure"),
                        da.full((nf, na, m), np.nan, dtype=np.float32, chunks=(fpt, apc, m))),
        "dimensions": (("frame", "cell"), da.full((nf, 6), np.nan, dtype=np.float64, chunks=(fpt, 6))),
    }
    coords = {
        "frame": ("frame", np.asarray(frames, np.int64)),
        "time": ("frame", da.full(nf, np.nan, dtype=np.float64, chunks=fpt)),
        "atom": ("atom", np.asarray(atom_ids, np.int64)),
        # strings as Zarr 3's variable-length "string" type (fixed-length UTF-32 has no spec yet)
        "structure": ("structure", np.array(classes, dtype=object)),
        "cell": ("cell", np.array(CELL, dtype=object)),
    }
    if species is not None:
        species = np.asarray(species).astype(str)
        if species.shape != (na,):
            raise StoreError(f"cannot create the results store {path}: {species.size} species for {na} atoms")
        coords["species"] = ("atom", species.astype(object))
    if layout.save_features:
        k = len(feature_names)
        data["features"] = (("frame", "atom", "feature"),
                            da.full((nf, na, k), np.nan, dtype=np.float32, chunks=(fpt, apc, k)))
        coords["feature"] = ("feature", np.array(feature_names, dtype=object))
    if layout.save_positions:
        data["position"] = (("frame", "atom", "spatial"),
                            da.full((nf, na, 3), np.nan, dtype=np.float32, chunks=(fpt, apc, 3)))
        coords["spatial"] = ("spatial", np.array(["x", "y", "z"], dtype=object))
    ds = xr.Dataset(data, coords=coords, attrs={**attrs, "title": TITLE, "complete": False})
    ds["label"].attrs.update(
        long_name="structure class", flag_values=np.arange(OTHER_LABEL, m, dtype=np.int8).tolist(),
        flag_meanings=" ".join([OTHER, *classes]), missing_label=OTHER_LABEL,
        comment="index into the structure coordinate; -1: other (outside the reference envelope of "
        "its most probable class, see the probabilities for that class) or not labelled",
    )
    ds["probability"].attrs.update(long_name="class probability", units="1")
    ds["time"].attrs.update(long_name="simulation time", units="ps")
    ds["dimensions"].attrs.update(long_name="box lengths (Å) and angles (degrees)", units="Å, degree")
    ds["atom"].attrs.update(long_name="atom id from the input file")
    if species is not None:
        ds["species"].attrs.update(long_name="atom species (element, name or type) from the input file")
    if layout.save_positions:
        ds["position"].attrs.update(long_name="atom position", units="Å")
    if layout.save_features:
        ds["features"].attrs.update(long_name="Steinhardt bond-orientational order parameters", units="1")
    # LZ4 with byte shuffle: about 4x faster to write than zarr's default Zstd, size within
    # 10 % (jobs/store_codec.py; docs/design.md)
    fast = BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
    encoding = {name: {"compressors": (fast,)} for name in ds.data_vars}
    # a real fill value: chunks never written read as -1, not 0 (class 0); format 3 keeps it
    # apart from xarray's mask, so label stays int8 (docs/design.md)
    encoding["label"]["fill_value"] = OTHER_LABEL
    try:
        with warnings.catch_warnings():  # consolidated metadata is not in the format 3 spec yet
            warnings.simplefilter("ignore")
            ds.to_zarr(path, mode="a", compute=False, zarr_format=ZARR_FORMAT, encoding=encoding, consolidated=True)
        (path / TASKS_DIR).mkdir(exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the results store {path} ({exc.strerror or exc}); "
                         "choose a writable location with free space") from None


def _open_array(group, name):
    return group[name].with_config({"write_empty_chunks": True})  # every chunk written is a file


def write_region(path: str | os.PathLike, layout: StoreLayout, frame_block: int, atom_chunk: int, labels,
                 probabilities, features=None, positions=None, times=None, dimensions=None,
                 run_id: str | None = None) -> None:
    """Write one task's region of the store, then its completion marker (atomically, after the data).

    ``times`` and ``dimensions`` (per frame) are written by the task of atom chunk 0 only.
    With ``run_id``, the task first checks that this run still holds the store's lock
    (:func:`check_writer`).

    Raises
    ------
    StoreError
        The store cannot be written (disk full, read-only; finished chunks are kept), or
        another run holds its lock.
    """
    import zarr

    if run_id is not None:
        check_writer(path, run_id)
    n_f, n_a = labels.shape
    fs, as_ = layout.region(frame_block, atom_chunk, n_f, n_a)
    try:
        g = zarr.open_group(str(path), mode="r+")
        _open_array(g, "label")[fs, as_] = labels
        _open_array(g, "probability")[fs, as_, :] = probabilities
        if features is not None:
            _open_array(g, "features")[fs, as_, :] = features
        if positions is not None:
            _open_array(g, "position")[fs, as_, :] = positions
        if atom_chunk == 0:
            _open_array(g, "time")[fs] = times
            _open_array(g, "dimensions")[fs, :] = dimensions
        marker = Path(path) / TASKS_DIR / f"{frame_block}-{atom_chunk}.done"
        tmp = marker.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps({"frame_block": frame_block, "atom_chunk": atom_chunk, "run_id": run_id}))
        os.replace(tmp, marker)  # the marker exists only once the data are written
    except OSError as exc:
        raise StoreError(
            f"cannot write results to {path} ({exc.strerror or exc}); free space or fix permissions, "
            "then rerun with --resume (finished chunks are kept)"
        ) from None


def _chunk_files(path: Path):
    """A function giving the chunk files that task (fb, ac) must have written, from the store's metadata."""
    import zarr

    g = zarr.open_group(str(path), mode="r")
    arrays = {}
    for name in ("label", "probability", "features", "position", "time", "dimensions"):
        if name in g:
            arrays[name] = g[name].metadata

    def files(fb: int, ac: int) -> list[Path]:
        out = []
        for name, meta in arrays.items():
            if name in ("time", "dimensions") and ac != 0:
                continue
            coords = {"label": (fb, ac), "time": (fb,), "dimensions": (fb, 0)}.get(name, (fb, ac, 0))
            out.append(path / name / meta.encode_chunk_key(coords))
        return out

    return files


def completed_tasks(path: str | os.PathLike, verify: bool = True) -> set[tuple[int, int]]:
    """(frame block, atom chunk) of every task whose region and marker are written.

    Parameters
    ----------
    path : str or os.PathLike
        The store.
    verify : bool
        Count a marker only if the chunk files of its region exist (a marker cannot certify
        data that are not there); markers that do not are logged and ignored. Files in the
        marker folder that are not markers (``<block>-<chunk>.done``) are ignored too.
    """
    path = Path(path)
    d = path / TASKS_DIR
    done, stray = set(), []
    if d.is_dir():
        for f in d.iterdir():
            m = _MARKER.match(f.name)
            if m:
                done.add((int(m.group(1)), int(m.group(2))))
            elif not f.name.endswith(".tmp"):
                stray.append(f.name)
    if stray:
        logger.warning("ignoring %d file(s) in %s that are not task markers: %s", len(stray), d, sorted(stray)[:5])
    if verify and done:
        try:
            files = _chunk_files(path)
        except Exception as exc:  # noqa: BLE001 - zarr raises many kinds for damaged metadata
            raise StoreError(f"cannot read the metadata of {path} ({exc}); use --overwrite to start again") from None
        lying = {t for t in done if not all(f.exists() for f in files(*t))}
        if lying:
            logger.warning("%d task marker(s) of %s certify chunks whose files are missing (e.g. %s); "
                           "they are recomputed", len(lying), path, sorted(lying)[:3])
            done -= lying
    return done


def chunk_done(path: str | os.PathLike, frame_block: int, atom_chunk: int) -> bool:
    """Whether a chunk's region and marker are written (what a task checks before computing it).

    Like :func:`completed_tasks`, a marker counts only when the chunk files it certifies exist.
    """
    path = Path(path)
    if not (path / TASKS_DIR / f"{frame_block}-{atom_chunk}.done").exists():
        return False
    try:
        files = _chunk_files(path)(frame_block, atom_chunk)
    except Exception:  # noqa: BLE001 - unreadable metadata: recompute (the write then reports it)
        return False
    return all(f.exists() for f in files)


def mark_complete(path: str | os.PathLike, tasks=None) -> None:
    """Set ``complete: true`` and consolidate the metadata: the last write of a run.

    Parameters
    ----------
    path : str or os.PathLike
        The store.
    tasks : iterable of (int, int), optional
        Every (frame block, atom chunk) of the run: each must have its marker and chunk files
        (:func:`completed_tasks`) before the store is called complete.

    Raises
    ------
    StoreError
        A task's chunks are missing, or the store cannot be written.
    """
    import zarr

    if tasks is not None:
        missing = set(tasks) - completed_tasks(path)
        if missing:
            raise StoreError(f"{len(missing)} chunk(s) of {path} are not written (e.g. task {sorted(missing)[0]}); "
                             "rerun with --resume to compute them")
    try:
        g = zarr.open_group(str(path), mode="r+")
        g.attrs["complete"] = True
        g.attrs["completed_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with warnings.catch_warnings():  # the task-marker folder is not a Zarr node, by design
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(path))
    except OSError as exc:
        raise StoreError(f"cannot finish {path} ({exc.strerror or exc}); free space, "
                         "then rerun with --resume") from None


def resume_layout(path: str | os.PathLike, attrs: dict, frames, n_atoms: int, save_features: bool = False,
                  save_positions: bool = False) -> StoreLayout:
    """The layout of an interrupted run's store, after checking that the new run is the same job.

    Parameters
    ----------
    path : str or os.PathLike
        The store to finish.
    attrs : dict
        The provenance attributes the new run would write (compared on :data:`RESUME_KEYS`
        and on the inputs' fingerprints, ``input_files``).
    frames : array_like of int
        The new run's frame indices.
    n_atoms : int
        The new run's number of atoms to classify.
    save_features, save_positions : bool
        Variables the new run asks for: refused if the store lacks them.

    Raises
    ------
    StoreError
        The store cannot be read, or anything that changes results differs from the run that
        made it (the message names it).
    """
    import xarray as xr

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = xr.open_zarr(str(path))
    except Exception as exc:  # noqa: BLE001 - zarr raises many kinds for "not a store"
        raise StoreError(f"cannot resume {path}: not a readable results store ({exc})") from None
    with ds:
        for key, name in RESUME_KEYS.items():
            old, new = ds.attrs.get(key), attrs.get(key)
            if isinstance(old, (bool, np.bool_)) or isinstance(new, bool):
                same = old is not None and bool(old) == bool(new)
            else:
                same = old == new
            if not same:
                raise StoreError(
                    f"cannot resume {path}: it was made with a different {name} "
                    f"({old!r} vs {new!r} now); use --overwrite to start again"
                )
        _compare_fingerprints(path, ds.attrs.get("input_files"), attrs["input_files"])
        if not np.array_equal(ds["frame"].values, frames) or ds.sizes["atom"] != n_atoms:
            raise StoreError(f"cannot resume {path}: frames or atoms differ from the interrupted run")
        for asked, var, flag in ((save_features, "features", "--save-features"),
                                 (save_positions, "position", "--save-positions")):
            if asked and var not in ds:
                raise StoreError(f"cannot resume {path}: {flag} is asked for but the store has no {var!r} "
                                 "(the interrupted run did not save it); use --overwrite to start again with it")
        fpt, apc = ds["label"].encoding["chunks"][:2]
        return StoreLayout(int(fpt), int(apc), save_features="features" in ds, save_positions="position" in ds)


# --------------------------------------------------------------------------- reading


def open_results(path: str | os.PathLike, allow_incomplete: bool = False):
    """Open a results store written by ``lessdask classify``.

    Parameters
    ----------
    path : str or os.PathLike
        Path (or URL) of the Zarr store.
    allow_incomplete : bool, default False
        Open a store whose ``complete`` attribute is not true (a run that was interrupted
        or is still writing). Chunks not written yet hold fill values (label -1).

    Returns
    -------
    xarray.Dataset
        The lazily loaded (Dask-backed) results.

    Raises
    ------
    lessdask.errors.StoreError
        If ``path`` does not exist, is not a Zarr store, lacks the ``label`` variable or
        the ``structure`` coordinate, or is incomplete and ``allow_incomplete`` is false.
    """
    import xarray as xr

    where = os.fspath(path)
    is_url = "://" in where
    if not is_url and not os.path.exists(where):
        raise StoreError(f"results store {where!r} does not exist; write it with 'lessdask classify' first")
    try:
        with warnings.catch_warnings():
            # a store written without consolidated metadata is fine, just slower to open
            warnings.filterwarnings("ignore", message=".*consolidated metadata.*")
            ds = xr.open_zarr(where)
    except Exception as exc:  # noqa: BLE001 - zarr raises many different types for "not a store"
        raise StoreError(f"{where!r} is not a readable lessdask results store (Zarr): {exc}") from exc
    missing = [name for name in ("label", "structure") if name not in ds.variables]
    if missing:
        raise StoreError(
            f"{where!r} is a Zarr store but not a lessdask results store: it has no {', '.join(missing)}"
        )
    complete = ds.attrs.get("complete", False)
    if not (isinstance(complete, (bool, np.bool_)) and bool(complete)) and not allow_incomplete:
        raise StoreError(
            f"results store {where!r} is incomplete (attribute complete={complete!r}): the run that wrote it "
            "was interrupted or is still running; rerun lessdask classify with --resume to finish it, "
            "or open it with allow_incomplete=True to read the frames written so far"
        )
    return ds


def atom_species(ds) -> np.ndarray | None:
    """Species of the atoms of a results dataset as strings, or None for a store written without them.

    Parameters
    ----------
    ds : xarray.Dataset
        Results (see :func:`open_results`), possibly a selection of its atoms.

    Returns
    -------
    numpy.ndarray of str or None
        One entry per atom of ``ds`` (the ``species`` coordinate); None if the store predates it.
    """
    if "species" not in ds.variables:
        return None
    return np.array([str(s) for s in np.asarray(ds["species"].values).tolist()], dtype=str)  # zarr 3 StringDType


def store_status(path: str | os.PathLike, model_digest: str | None = None) -> str:
    """The state of a results store: ``"missing"``, ``"complete"``, ``"incomplete"``, or ``"stale"``
    (complete or not, but made by a model whose digest is not ``model_digest``)."""
    path = Path(path)
    if not path.exists():
        return "missing"
    meta = _root_attrs(path)
    if meta is None:
        return "incomplete"
    if model_digest is not None and meta.get("model_digest") != model_digest:
        return "stale"
    return "complete" if meta.get("complete") is True else "incomplete"
