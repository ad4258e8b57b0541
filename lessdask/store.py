"""The results store: the one owner of the Zarr contract that users query.

A results store is an :class:`xarray.Dataset` in Zarr (format 2), readable with
``xarray.open_zarr(path)`` and nothing of lessdask:

coords
    ``frame`` (frame) int64 trajectory frame index; ``time`` (frame) float64, ps;
    ``atom`` (atom) int64 atom id from the input file; ``structure`` (structure) str class
    names in model order; ``cell`` the six box parameters; ``feature`` and ``spatial`` where
    those variables exist.
``label`` (frame, atom) int8
    Index into ``structure``; ``-1`` is "other" (outside the reference envelope of the most
    probable class) and the value of chunks never written. CF ``flag_values`` and
    ``flag_meanings``.
``probability`` (frame, atom, structure) float32
    Class probabilities; each row sums to 1.
``dimensions`` (frame, cell) float64
    Box ``[a, b, c, alpha, beta, gamma]`` in Å and degrees (zeros for free boundaries).
``features`` (frame, atom, feature) float32, optional
    The model's input features (``save_features``).
``position`` (frame, atom, spatial) float32, optional
    Positions in Å (``save_positions``; profiles and fronts need them).
attrs
    Provenance (lessdask version, model digest and classes, feature settings, inputs, frame
    selection, selection, pbc, other) and ``complete: true`` once every chunk is written.

Chunks are (frames per task, atoms per chunk) and aligned with the pipeline's tasks: each
task writes its own region (:func:`write_region`), then an atomic marker file, so a resumed
run (:func:`completed_tasks`) trusts only chunks whose data were fully written.

Nothing else in lessdask reads or writes Zarr directly.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lessdask.errors import StoreError

#: Name of the extra class that collects atoms with label ``-1`` ("other").
OTHER = "other"
#: Label of atoms outside the envelope of their most probable class, and of unwritten chunks.
OTHER_LABEL = -1
#: Names of the six numbers of the ``dimensions`` variable (MDAnalysis' box convention).
CELL = ("a", "b", "c", "alpha", "beta", "gamma")
#: Folder inside a store holding one marker file per finished task.
TASKS_DIR = ".lessdask_tasks"
#: Attributes a resumed run must share with the store it finishes, with their names in messages.
RESUME_KEYS = {
    "model_digest": "model",
    "inputs": "inputs",
    "frame_selection": "frame selection",
    "selection": "atom selection",
    "feature_settings": "feature settings",
    "other": "'other' setting (--no-other)",
}


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


# --------------------------------------------------------------------------- writing


def check_output(path: str | os.PathLike, resume: bool, overwrite: bool) -> bool:
    """Check that ``path`` may be written; returns True when an existing store is to be resumed.

    Raises
    ------
    StoreError
        ``path`` is a file, its folder does not exist or is not writable, or a store exists and
        neither ``resume`` nor ``overwrite`` is given.
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
        return False
    if resume:
        if not is_store(path):
            raise StoreError(f"{path} exists but is not a lessdask results store; cannot resume into it")
        return True
    if overwrite:
        shutil.rmtree(path)
        return False
    raise StoreError(f"{path} already exists; pass --resume to finish it or --overwrite to replace it")


def is_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds Zarr metadata (a store written by lessdask or another Zarr writer)."""
    path = Path(path)
    return (path / ".zattrs").exists() or (path / "zarr.json").exists()


def create_store(path: str | os.PathLike, *, frames, atom_ids, classes, feature_names, layout: StoreLayout,
                 attrs: dict) -> None:
    """Write the metadata of an empty store: every variable, coordinate and attribute, no data.

    Parameters
    ----------
    path : str or os.PathLike
        Store directory (must not exist, see :func:`check_output`).
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
        Provenance attributes; ``complete`` is set to False here and True by :func:`mark_complete`.

    Raises
    ------
    StoreError
        The location cannot be written.
    """
    import dask.array as da
    import xarray as xr
    from numcodecs import Blosc

    path = Path(path)
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
        "structure": ("structure", np.array(classes, dtype=str)),
        "cell": ("cell", np.array(CELL)),
    }
    if layout.save_features:
        k = len(feature_names)
        data["features"] = (("frame", "atom", "feature"),
                            da.full((nf, na, k), np.nan, dtype=np.float32, chunks=(fpt, apc, k)))
        coords["feature"] = ("feature", np.array(feature_names))
    if layout.save_positions:
        data["position"] = (("frame", "atom", "spatial"),
                            da.full((nf, na, 3), np.nan, dtype=np.float32, chunks=(fpt, apc, 3)))
        coords["spatial"] = ("spatial", np.array(["x", "y", "z"]))
    ds = xr.Dataset(data, coords=coords, attrs={**attrs, "complete": False})
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
    if layout.save_positions:
        ds["position"].attrs.update(long_name="atom position", units="Å")
    if layout.save_features:
        ds["features"].attrs.update(long_name="Steinhardt bond-orientational order parameters", units="1")
    # LZ4 with byte shuffle: about 4x faster to write than zarr's default Zstd, size within
    # 10 % (jobs/store_codec.py; docs/design.md)
    fast = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)
    encoding = {name: {"compressors": (fast,)} for name in ds.data_vars}
    encoding["label"]["_FillValue"] = None
    try:
        ds.to_zarr(path, mode="w", compute=False, zarr_format=2, encoding=encoding, consolidated=True)
        (path / TASKS_DIR).mkdir(exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the results store {path} ({exc.strerror or exc}); "
                         "choose a writable location with free space") from None


def write_region(path: str | os.PathLike, layout: StoreLayout, frame_block: int, atom_chunk: int, labels,
                 probabilities, features=None, positions=None, times=None, dimensions=None) -> None:
    """Write one task's region of the store, then its completion marker (atomically, after the data).

    ``times`` and ``dimensions`` (per frame) are written by the task of atom chunk 0 only.

    Raises
    ------
    StoreError
        The store cannot be written (disk full, read-only); finished chunks are kept.
    """
    import zarr

    n_f, n_a = labels.shape
    fs, as_ = layout.region(frame_block, atom_chunk, n_f, n_a)
    try:
        g = zarr.open_group(str(path), mode="r+", zarr_format=2)
        g["label"][fs, as_] = labels
        g["probability"][fs, as_, :] = probabilities
        if features is not None:
            g["features"][fs, as_, :] = features
        if positions is not None:
            g["position"][fs, as_, :] = positions
        if atom_chunk == 0:
            g["time"][fs] = times
            g["dimensions"][fs, :] = dimensions
        marker = Path(path) / TASKS_DIR / f"{frame_block}-{atom_chunk}.done"
        tmp = marker.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps({"frame_block": frame_block, "atom_chunk": atom_chunk}))
        os.replace(tmp, marker)  # the marker exists only once the data are written
    except OSError as exc:
        raise StoreError(
            f"cannot write results to {path} ({exc.strerror or exc}); free space or fix permissions, "
            "then rerun with --resume (finished chunks are kept)"
        ) from None


def completed_tasks(path: str | os.PathLike) -> set[tuple[int, int]]:
    """(frame block, atom chunk) of every task whose region and marker are written."""
    done = set()
    d = Path(path) / TASKS_DIR
    if d.is_dir():
        for f in d.glob("*.done"):
            fb, ac = f.stem.split("-")
            done.add((int(fb), int(ac)))
    return done


def chunk_done(path: str | os.PathLike, frame_block: int, atom_chunk: int) -> bool:
    """Whether a chunk's region and marker are written (what a task checks before computing it)."""
    return (Path(path) / TASKS_DIR / f"{frame_block}-{atom_chunk}.done").exists()


def mark_complete(path: str | os.PathLike) -> None:
    """Set ``complete: true`` and consolidate the metadata: the last write of a run.

    Raises
    ------
    StoreError
        The store cannot be written.
    """
    import zarr

    try:
        g = zarr.open_group(str(path), mode="r+", zarr_format=2)
        g.attrs["complete"] = True
        g.attrs["completed_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with warnings.catch_warnings():  # the task-marker folder is not a Zarr node, by design
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(path), zarr_format=2)
    except OSError as exc:
        raise StoreError(f"cannot finish {path} ({exc.strerror or exc}); free space, "
                         "then rerun with --resume") from None


def resume_layout(path: str | os.PathLike, attrs: dict, frames, n_atoms: int) -> StoreLayout:
    """The layout of an interrupted run's store, after checking that the new run is the same job.

    Parameters
    ----------
    path : str or os.PathLike
        The store to finish.
    attrs : dict
        The provenance attributes the new run would write (compared on :data:`RESUME_KEYS`).
    frames : array_like of int
        The new run's frame indices.
    n_atoms : int
        The new run's number of atoms to classify.

    Raises
    ------
    StoreError
        The store cannot be read, or any of these differs from the run that made it.
    """
    import xarray as xr

    try:
        ds = xr.open_zarr(str(path), consolidated=True)
    except Exception as exc:  # noqa: BLE001 - zarr raises many kinds for "not a store"
        raise StoreError(f"cannot resume {path}: not a readable results store ({exc})") from None
    with ds:
        for key, name in RESUME_KEYS.items():
            if ds.attrs.get(key) != attrs[key]:
                raise StoreError(
                    f"cannot resume {path}: it was made with a different {name} "
                    f"({ds.attrs.get(key)!r} vs {attrs[key]!r}); use --overwrite to start again"
                )
        if not np.array_equal(ds["frame"].values, frames) or ds.sizes["atom"] != n_atoms:
            raise StoreError(f"cannot resume {path}: frames or atoms differ from the interrupted run")
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


def store_status(path: str | os.PathLike, model_digest: str | None = None) -> str:
    """The state of a results store: ``"missing"``, ``"complete"``, ``"incomplete"``, or ``"stale"``
    (complete or not, but made by a model whose digest is not ``model_digest``)."""
    path = Path(path)
    if not path.exists():
        return "missing"
    attrs = path / ".zattrs"
    if not attrs.exists():
        return "incomplete"
    try:
        meta = json.loads(attrs.read_text())
    except ValueError:
        return "incomplete"
    if model_digest is not None and meta.get("model_digest") != model_digest:
        return "stale"
    return "complete" if meta.get("complete") is True else "incomplete"
