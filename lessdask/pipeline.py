"""The batch processor: trajectory frames through a Dask graph into a chunked Zarr results store.

Tasks are (frame block, atom chunk). Each worker unpickles the run's payload once -- the
trajectory reader (its frame offsets were built once, on the client), the species codes and
the frame and atom lists of the plan -- and keeps it, loads the model file once, and for every
task reads its frames, featurises its chunk's atoms against all atoms of the
frame (so chunk borders and periodic images are seen), classifies them, writes its own
region of the store and returns a small receipt. A task's marker file is written only after
its data, so ``resume`` redoes half-written chunks and trusts finished ones.

A task's arguments are only its (frame block, atom chunk) indices and small settings, never
per-atom arrays: a worker keeps every finished task's arguments (its run spec) until the
client releases the result, so per-atom arguments would make worker memory grow with the
number of tasks, i.e. with the trajectory length.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from lessdask import __version__
from lessdask.errors import InputError, LessdaskError, StoreError

_TASKS_DIR = ".lessdask_tasks"
# Submission rounds before giving up on chunks whose workers keep disappearing.
_MAX_ROUNDS = 5
_TRIM_MEMORY = True
_CELL = ["a", "b", "c", "alpha", "beta", "gamma"]
# worker-process caches: the Universe and model are loaded once per worker, not per task
_WORKER_CACHE: dict = {}


# --------------------------------------------------------------------------- worker side


def _worker_universe(token: str, payload: bytes):
    """The run's payload ``{"universe", "species", "frames", "atoms"}``, unpickled once per worker."""
    key = ("universe", token)
    if key not in _WORKER_CACHE:
        # one trajectory per worker at a time: a long-lived worker serving run after run must
        # not keep every earlier run's Universe alive
        for old in [k for k in _WORKER_CACHE if k[0] == "universe"]:
            del _WORKER_CACHE[old]
        _WORKER_CACHE[key] = pickle.loads(payload)  # produced by this run's client, never read from disk
    return _WORKER_CACHE[key]


def _worker_model(path: str, digest: str):
    key = ("model", digest)
    if key not in _WORKER_CACHE:
        from lessdask.model import load_model

        model = load_model(path)
        if model.digest_ != digest:
            raise StoreError(f"model file {path} changed while the run was going (digest mismatch)")
        _WORKER_CACHE[key] = model
    return _WORKER_CACHE[key]


def _one_thread_per_worker():
    try:
        from distributed import get_worker

        if get_worker().state.nthreads == 1:
            import numba

            numba.set_num_threads(1)
    except (ValueError, ImportError, AttributeError):
        pass


def _frame_positions(u, frame: int, files: str):
    try:
        ts = u.trajectory[int(frame)]
    except Exception as exc:  # noqa: BLE001 - readers raise many kinds on damaged files
        raise InputError(
            f"frame {frame} of {files} cannot be read ({type(exc).__name__}: {exc}); the file may be "
            f"truncated or damaged; frames before it can be classified with --stop {frame}"
        ) from None
    return ts, u.atoms.positions


def _write_region(store, fb, ac, options, labels, proba, feats, pos_out, times, dims):
    """Write one task's region, then its completion marker (atomically, after the data)."""
    import zarr

    n_f, n_a = labels.shape
    g = zarr.open_group(store, mode="r+")
    fs = slice(fb * options["fpt"], fb * options["fpt"] + n_f)
    as_ = slice(ac * options["apc"], ac * options["apc"] + n_a)
    g["label"][fs, as_] = labels
    g["probability"][fs, as_, :] = proba
    if feats is not None:
        g["features"][fs, as_, :] = feats
    if pos_out is not None:
        g["position"][fs, as_, :] = pos_out
    if ac == 0:
        g["time"][fs] = times
        g["dimensions"][fs, :] = dims
    marker = Path(store) / _TASKS_DIR / f"{fb}-{ac}.done"
    tmp = marker.with_suffix(f".{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps({"frame_block": fb, "atom_chunk": ac}))
    os.replace(tmp, marker)  # the marker exists only once the data are written


def run_task(token, payload, model_path, digest, store, fb, ac, options):
    """Classify one (frame block, atom chunk) and write its region of the store.

    The frames and atoms of the task are block ``fb`` (``options["fpt"]`` frames) and chunk
    ``ac`` (``options["apc"]`` atoms) of the plan's lists in the worker's cached payload.
    Returns a receipt (a small dict); no per-atom data goes back to the client.
    """
    from lessdask.features import compute_features
    from lessdask.trajectory import frame_box

    t0 = time.perf_counter()
    _one_thread_per_worker()
    run = _worker_universe(token, payload)
    u = run["universe"]
    model = _worker_model(model_path, digest)
    files = options["files"]
    codes = run["species"]
    fpt, apc = options["fpt"], options["apc"]
    plan_frames = run["frames"][fb * fpt:(fb + 1) * fpt]
    atoms = run["atoms"][ac * apc:(ac + 1) * apc]
    n_f, n_a = len(plan_frames), len(atoms)
    m = len(model.classes_)
    labels = np.empty((n_f, n_a), np.int8)
    proba = np.empty((n_f, n_a, m), np.float32)
    nfeat = model.feature_settings_.n_features
    feats = np.empty((n_f, n_a, nfeat), np.float32) if options["save_features"] else None
    pos_out = np.empty((n_f, n_a, 3), np.float32) if options["save_positions"] else None
    times = np.empty(n_f)
    dims = np.empty((n_f, 6))
    for i, frame in enumerate(plan_frames):
        ts, pos = _frame_positions(u, frame, files)
        where = f"frame {frame} of {files}"
        box = None
        if options["pbc"]:
            box = frame_box(u, frame)
            if box is None or not np.all(np.isfinite(box)) or np.any(np.asarray(box[:3]) <= 0):
                raise InputError(
                    f"{where} has no usable periodic box ({None if box is None else box.tolist()}); give a file "
                    "with the box, or classify with free boundaries (--no-pbc / pbc=False)"
                )
        X, _ = compute_features(pos, box, codes, settings=model.feature_settings_, atoms=atoms, where=where)
        p = model.predict_proba(X)
        proba[i] = p
        labels[i] = model.predict_labels(X, proba=p, other=options["other"])
        if feats is not None:
            feats[i] = X
        if pos_out is not None:
            pos_out[i] = pos[atoms]
        times[i] = ts.time
        dims[i] = box if box is not None else np.zeros(6)
    try:
        _write_region(store, fb, ac, options, labels, proba, feats, pos_out, times, dims)
    except OSError as exc:
        raise StoreError(
            f"cannot write results to {store} ({exc.strerror or exc}); free space or fix permissions, "
            "then rerun with --resume (finished chunks are kept)"
        ) from None
    receipt = {"frame_block": fb, "atom_chunk": ac, "frames": n_f, "atoms": n_a,
               "seconds": round(time.perf_counter() - t0, 4), "worker_rss_mb": _rss_mb()}
    del labels, proba, feats, pos_out
    if _TRIM_MEMORY:
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


# --------------------------------------------------------------------------- store


def _create_store(path: Path, plan, atom_ids, classes, settings, attrs, save_features, save_positions):
    import dask.array as da
    import xarray as xr

    nf, na, m = len(plan.frames), len(plan.atoms), len(classes)
    fpt, apc = plan.frames_per_task, plan.atoms_per_chunk
    data = {
        "label": (("frame", "atom"), da.full((nf, na), -1, dtype=np.int8, chunks=(fpt, apc))),
        "probability": (("frame", "atom", "structure"),
                        da.full((nf, na, m), np.nan, dtype=np.float32, chunks=(fpt, apc, m))),
        "dimensions": (("frame", "cell"), da.full((nf, 6), np.nan, dtype=np.float64, chunks=(fpt, 6))),
    }
    coords = {
        "frame": ("frame", plan.frames.astype(np.int64)),
        "time": ("frame", da.full(nf, np.nan, dtype=np.float64, chunks=fpt)),
        "atom": ("atom", np.asarray(atom_ids, np.int64)),
        "structure": ("structure", np.array(classes, dtype=str)),
        "cell": ("cell", np.array(_CELL)),
    }
    if save_features:
        k = settings.n_features
        data["features"] = (("frame", "atom", "feature"),
                            da.full((nf, na, k), np.nan, dtype=np.float32, chunks=(fpt, apc, k)))
        coords["feature"] = ("feature", np.array(settings.feature_names))
    if save_positions:
        data["position"] = (("frame", "atom", "spatial"),
                            da.full((nf, na, 3), np.nan, dtype=np.float32, chunks=(fpt, apc, 3)))
        coords["spatial"] = ("spatial", np.array(["x", "y", "z"]))
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    ds["label"].attrs.update(
        long_name="structure class", flag_values=np.arange(-1, m, dtype=np.int8).tolist(),
        flag_meanings=" ".join(["other", *classes]), missing_label=-1,
        comment="index into the structure coordinate; -1: other (outside the reference envelope of "
        "its most probable class, see the probabilities for that class) or not labelled",
    )
    ds["probability"].attrs.update(long_name="class probability", units="1")
    ds["time"].attrs.update(long_name="simulation time", units="ps")
    ds["dimensions"].attrs.update(long_name="box lengths (Å) and angles (degrees)", units="Å, degree")
    ds["atom"].attrs.update(long_name="atom id from the input file")
    if save_positions:
        ds["position"].attrs.update(long_name="atom position", units="Å")
    if save_features:
        ds["features"].attrs.update(long_name="Steinhardt bond-orientational order parameters", units="1")
    # LZ4 with byte shuffle: about 4x faster to write than zarr's default Zstd, size within
    # 10 % (jobs/store_codec.py; README, design notes)
    from numcodecs import Blosc

    fast = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)
    encoding = {name: {"compressors": (fast,)} for name in ds.data_vars}
    encoding["label"]["_FillValue"] = None
    ds.to_zarr(path, mode="w", compute=False, zarr_format=2, encoding=encoding, consolidated=True)
    (path / _TASKS_DIR).mkdir(exist_ok=True)


def _done_tasks(path: Path) -> set[tuple[int, int]]:
    done = set()
    d = path / _TASKS_DIR
    if d.is_dir():
        for f in d.glob("*.done"):
            fb, ac = f.stem.split("-")
            done.add((int(fb), int(ac)))
    return done


def _mark_complete(path: Path):
    import warnings

    import zarr

    g = zarr.open_group(path, mode="r+", zarr_format=2)
    g.attrs["complete"] = True
    g.attrs["completed_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with warnings.catch_warnings():  # the task-marker folder is not a Zarr node, by design
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(path), zarr_format=2)


def _check_output(path: Path, resume: bool, overwrite: bool) -> bool:
    """True when an existing store should be resumed."""
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
        if not (path / ".zattrs").exists() and not (path / "zarr.json").exists():
            raise StoreError(f"{path} exists but is not a lessdask results store; cannot resume into it")
        return True
    if overwrite:
        shutil.rmtree(path)
        return False
    raise StoreError(f"{path} already exists; pass --resume to finish it or --overwrite to replace it")


# --------------------------------------------------------------------------- the public call


def classify(topology, trajectory=(), output="results.zarr", model="default", start=None, stop=None, step=None,
             select=None, atoms_per_chunk=None, frames_per_task=None, save_features=False, save_positions=False,
             resume=False, overwrite=False, format=None, topology_format=None, dt=None, pbc=True,
             other=True, client=None, cluster: dict | None = None, progress=True) -> dict:
    """Classify every atom of every selected frame and write a results store.

    Parameters
    ----------
    topology : str or Path
        Topology, or a self-describing trajectory (LAMMPS dump, extended XYZ) used alone.
    trajectory : str or sequence of str
        Trajectory files (DCD, XTC, TRR, LAMMPS dump, ...), concatenated.
    output : str or Path
        The Zarr store to write (a directory). Never replaced unless ``overwrite``.
    model : str or Path
        A ``.lessmodel`` file or ``"default"``.
    start, stop, step : int, optional
        Frame slice.
    select : str, optional
        MDAnalysis selection of the atoms to classify; neighbours always come from all atoms.
    atoms_per_chunk, frames_per_task : int, optional
        Task and chunk sizes (see :func:`lessdask.trajectory.make_plan` for the defaults).
    save_features, save_positions : bool
        Also store the features (24 by default) / the positions (needed by profiles and interfaces).
    resume : bool
        Finish an interrupted run: compute only chunks whose completion marker is missing.
    overwrite : bool
        Replace an existing store.
    format, topology_format : str, optional
        MDAnalysis format names when file names do not tell.
    dt : float, optional
        Picoseconds per step for LAMMPS dumps (default 0.001).
    pbc : bool
        Periodic boundaries from the file's box (default); False for free boundaries.
    other : bool
        Label ``-1`` ("other") every atom whose features lie outside the reference envelope
        of its most probable class (grain boundaries, surfaces, defects; see
        :mod:`lessdask.model.envelope`), as PTM and CNA do. False: every atom gets its most
        probable class. Probabilities are stored either way.
    client : distributed.Client, optional
        Use this client; otherwise one is made from ``cluster`` (see :func:`lessdask.cluster.get_client`).
    cluster : dict, optional
        Keyword arguments of :func:`lessdask.cluster.get_client`.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        Summary: output path, frames, atoms, tasks run and skipped, seconds, atom-frames per second.
    """
    from lessdask.cluster import get_client
    from lessdask.features import species_codes
    from lessdask.model import load_model
    from lessdask.trajectory import make_plan, open_universe, select_atoms, species_of, truncated_frame

    t0 = time.perf_counter()
    path = Path(output)
    resuming = _check_output(path, resume, overwrite)
    u = open_universe(topology, trajectory, format=format, topology_format=topology_format, dt=dt)
    traj = [str(t) for t in (trajectory if isinstance(trajectory, (list, tuple)) else [trajectory])]
    files = " + ".join([str(topology), *traj])
    atoms = select_atoms(u, select, files)
    cut = truncated_frame(u)
    species = species_of(u.atoms)
    mdl = load_model(model)
    present = sorted(set(species.tolist()))
    if len(present) > mdl.max_species_:
        raise InputError(
            f"{files} has {len(present)} species {present}, but the model distinguishes at most "
            f"{mdl.max_species_} species per system (the other-species features compare an atom with its other-species "
            "neighbours); classify a subsystem by giving a topology with fewer species"
        )
    model_path = str(Path(mdl.source_).resolve())
    cluster = dict(cluster or {})
    attrs = {
        "title": "lessdask structure classification",
        "lessdask_version": __version__,
        "model_digest": mdl.digest_,
        "model_source": str(model),
        "classes": list(map(str, mdl.classes_)),
        "feature_settings": json.dumps(mdl.feature_settings_.to_dict()),
        "inputs": [str(Path(p).resolve()) for p in [topology, *traj]],
        "frame_selection": json.dumps({"start": start, "stop": stop, "step": step}),
        "selection": select or "all",
        "pbc": bool(pbc),
        "other": bool(other and mdl.has_envelopes),
        "complete": False,
        "Conventions": "CF-1.10",
    }
    if cut is not None:
        attrs["input_truncated_at_frame"] = int(cut)
    with get_client(client=client, quiet=not progress, **cluster) as c:
        n_workers = max(1, len(c.scheduler_info(n_workers=-1).get("workers", {})))
        plan = make_plan(u.trajectory.n_frames, atoms, start, stop, step, frames_per_task, atoms_per_chunk,
                         n_workers=n_workers)
        if resuming:
            plan = _resume_plan(path, plan, attrs, atoms_per_chunk, frames_per_task)
        else:
            try:
                _create_store(path, plan, u.atoms.ids[atoms], list(map(str, mdl.classes_)), mdl.feature_settings_,
                              attrs, save_features, save_positions)
            except OSError as exc:
                raise StoreError(f"cannot create the results store {path} ({exc.strerror or exc}); "
                                 "choose a writable location with free space") from None
        import xarray as xr

        with xr.open_zarr(path, consolidated=True) as existing:
            save_features = "features" in existing
            save_positions = "position" in existing
        done = _done_tasks(path) if resuming else set()
        todo = [t for t in plan.tasks() if t not in done]
        # small, per task; the per-atom arrays travel once per worker in the payload (see the module doc)
        options = {"files": files, "pbc": bool(pbc), "other": attrs["other"], "fpt": plan.frames_per_task,
                   "apc": plan.atoms_per_chunk, "save_features": save_features, "save_positions": save_positions}
        token = uuid.uuid4().hex
        blob = pickle.dumps({"universe": u, "species": species_codes(species, len(species)),
                             "frames": np.asarray(plan.frames, np.int64), "atoms": np.asarray(plan.atoms, np.int64)})
        ran, errors = 0, []
        # The completion markers are the truth: a round ends when every future has finished,
        # failed or been lost (e.g. workers retiring on a batch --lifetime take the broadcast
        # trajectory with them); what is still unmarked is scattered and submitted again.
        for round_ in range(_MAX_ROUNDS):
            marked = _done_tasks(path)  # one directory listing per round, not one per task
            pending = [t for t in plan.tasks() if t not in done and t not in marked]
            if not pending or errors:
                break
            payload = c.scatter(blob, broadcast=True, hash=False)
            futures = [
                c.submit(run_task, token, payload, model_path, mdl.digest_, str(path.resolve()), fb, ac, options,
                         key=f"lessdask-{token[:8]}-{round_}-{fb}-{ac}", retries=2)
                for fb, ac in pending
            ]
            errors = _wait(futures, len(pending), progress)
            ran += len(pending)
        marked = _done_tasks(path)
        missing = [t for t in plan.tasks() if t not in marked]
    if errors:
        raise errors[0]
    if missing:
        raise StoreError(f"{len(missing)} of {plan.n_frame_blocks * plan.n_atom_chunks} chunks of {path} could not be "
                         f"computed after {_MAX_ROUNDS} rounds (workers kept disappearing); rerun with --resume")
    try:
        _mark_complete(path)
    except OSError as exc:
        raise StoreError(f"cannot finish {path} ({exc.strerror or exc}); free space, then rerun with --resume") from None
    if cut is not None:
        raise InputError(
            f"frame {cut} of {files} is incomplete (the file ends in the middle of it: truncated); "
            f"frames {plan.frames[0]}..{plan.frames[-1]} before it were classified into {path}"
        )
    seconds = time.perf_counter() - t0
    n_af = len(plan.frames) * len(plan.atoms)
    return {"output": str(path), "frames": int(len(plan.frames)), "atoms": int(len(plan.atoms)),
            "tasks_run": len(todo), "task_submissions": ran, "tasks_skipped": len(done), "seconds": round(seconds, 3),
            "atom_frames_per_second": round(n_af / seconds, 1), "workers": n_workers}


def _wait(futures, total, progress):
    """Wait for all tasks with a progress bar; return user errors sorted by frame (others re-raised).

    Takes the futures over: ``futures`` is emptied, and each future is dropped as soon as it
    has finished, so the scheduler releases the task and its worker forgets it (its state and
    receipt) at once instead of holding every finished task of the round until the end.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    remaining = {f.key: f for f in futures}
    done = as_completed(futures)
    futures.clear()
    errors = []
    bar = tqdm(total=total, unit="task", desc="classify", disable=not progress)
    try:
        for fut in done:
            remaining.pop(fut.key, None)
            if fut.status == "cancelled":  # lost with its worker or its data; resubmitted next round
                continue
            exc = fut.exception()
            if exc is None:
                bar.update(1)
            elif isinstance(exc, LessdaskError):
                errors.append(exc)
            else:
                for f in remaining.values():
                    f.cancel()
                raise exc
            del fut, exc  # the loop variable would keep the last future alive until the next one
    finally:
        bar.close()
    errors.sort(key=lambda e: _frame_in(str(e)))
    return errors


def _frame_in(message: str) -> int:
    import re

    m = re.search(r"frame (\d+)", message)
    return int(m.group(1)) if m else math.inf


_RESUME_KEYS = {"other": "'other' setting (--no-other)"}


def _resume_plan(path: Path, plan, attrs, atoms_per_chunk, frames_per_task):
    """The plan of the interrupted run, after checking it is the same job."""
    import xarray as xr

    try:
        ds = xr.open_zarr(path, consolidated=True)
    except Exception as exc:  # noqa: BLE001
        raise StoreError(f"cannot resume {path}: not a readable results store ({exc})") from None
    for key in ("model_digest", "inputs", "frame_selection", "selection", "feature_settings", "other"):
        if ds.attrs.get(key) != attrs[key]:
            raise StoreError(
                f"cannot resume {path}: it was made with a different {_RESUME_KEYS.get(key, key.replace('_', ' '))} "
                f"({ds.attrs.get(key)!r} vs {attrs[key]!r}); use --overwrite to start again"
            )
    from lessdask.trajectory import Plan

    fpt = ds["label"].encoding["chunks"][0]
    apc = ds["label"].encoding["chunks"][1]
    if not np.array_equal(ds["frame"].values, plan.frames) or ds.sizes["atom"] != len(plan.atoms):
        raise StoreError(f"cannot resume {path}: frames or atoms differ from the interrupted run")
    return Plan(frames=plan.frames, atoms=plan.atoms, frames_per_task=int(fpt), atoms_per_chunk=int(apc))
