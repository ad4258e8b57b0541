"""The driver side of a run, on the client: check the options, open the inputs, lock, plan,
create or resume the store, submit tasks in rounds until every chunk is marked, and finish.

Order matters for the user's data: options, inputs and model are validated first; then the
store's lock is taken (:class:`lessdask.store.StoreLock`: one writer per store); only then is
a store to ``overwrite`` cleared (and only if it is a lessdask store that holds no input).

The completion markers in the store are the truth: a round ends when every task has finished,
failed or been lost (with a worker whose batch job ended); what is still unmarked is submitted
again, and the store is marked complete only when every chunk is there (markers checked against
the chunk files). A user error met by a task (a :class:`~lessdask.errors.LessdaskError` in its
receipt) stops the run at once. The plan is made once workers have joined (waiting for them is
part of the run); SIGTERM and SIGINT stop a run cleanly, keeping what is written for ``--resume``.
"""

from __future__ import annotations

import _thread
import contextlib
import json
import math
import os
import pickle
import re
import shutil
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lessdask import __version__
from lessdask.errors import ClusterError, InputError, Interrupted, LessdaskError, StoreError
from lessdask.pipeline.worker import PayloadFile, TaskSettings, run_task
from lessdask.trajectory.readers import is_mdanalysis_input, universe_files, universe_of

#: Rounds in a row that may finish no new chunk before a run gives up (workers keep disappearing).
MAX_STALLED_ROUNDS = 3
#: Folder inside the store holding the running run's payload file (removed when the run ends).


@dataclass
class _Inputs:
    """What the client opened: the Universe, the atoms to classify, their species, the model."""

    universe: object
    files: str
    atoms: np.ndarray
    species: np.ndarray
    truncated_at: int | None
    model: object


def classify(topology, trajectory=(), output="results.zarr", model="default", start=None, stop=None, step=None,
             select=None, atoms_per_chunk=None, frames_per_task=None, save_features=False, save_positions=False,
             resume=False, overwrite=False, format=None, topology_format=None, dt=None, pbc=True,
             other=True, client=None, cluster: dict | None = None, progress=True,
             model_digest: str | None = None) -> dict:
    """Classify every atom of every selected frame and write a results store.

    Parameters
    ----------
    topology : str or Path or MDAnalysis.Universe or MDAnalysis.core.groups.AtomGroup
        Topology, or a self-describing trajectory (LAMMPS dump, extended XYZ) used alone.
        Or an MDAnalysis object: a Universe classifies all its atoms, an AtomGroup its atoms,
        with neighbours from every atom of its Universe; the workers reopen the Universe's
        files with its reader's options (format, ``dt``), so its trajectory must be read from
        files they can see, not held in memory (``MemoryReader``; see Raises). A big gzipped
        LAMMPS dump is read faster through its path, or a Universe from
        :func:`lessdask.trajectory.open_universe` (random access into gzip), than through
        MDAnalysis' own ``LAMMPSDUMP`` reader, which reaches a frame by decompressing what comes before it.
    trajectory : str or sequence of str
        Trajectory files (DCD, XTC, TRR, LAMMPS dump, ...), concatenated. Not with an MDAnalysis object.
    output : str or Path
        The Zarr store to write (a directory). Never replaced unless ``overwrite``.
    model : str or Path
        A ``.lessmodel`` file or ``"default"``.
    start, stop, step : int, optional
        Frame slice.
    select : str, optional
        MDAnalysis selection of the atoms to classify (within the AtomGroup, if one is given);
        neighbours always come from all atoms.
    atoms_per_chunk, frames_per_task : int, optional
        Task and chunk sizes (see :func:`lessdask.trajectory.make_plan` for the defaults).
    save_features, save_positions : bool
        Also store the features (24 by default) / the positions (needed by profiles and interfaces).
    resume : bool
        Finish an interrupted run: compute only chunks whose completion marker is missing.
    overwrite : bool
        Replace an existing results store: only a store lessdask wrote, never the working
        directory or a folder holding an input, and only after inputs, model and options
        are validated.
    format, topology_format : str, optional
        MDAnalysis format names when file names do not tell (files only).
    dt : float, optional
        Picoseconds per step for LAMMPS dumps (default 0.001; files only).
    pbc : bool
        Periodic boundaries from the file's box (default); False for free boundaries.
    other : bool
        Label ``-1`` ("other") every atom whose features lie outside the reference envelope
        of its most probable class (grain boundaries, surfaces, defects; see
        :mod:`lessdask.model.envelope`), as PTM and CNA do. False: every atom gets its most
        probable class. Probabilities are stored either way.
    client : distributed.Client, optional
        Use this client; otherwise one is made from ``cluster`` (see :func:`lessdask.cluster.open_cluster`).
    cluster : dict, optional
        Keyword arguments of :func:`lessdask.cluster.open_cluster` (``scheduler``, ``cluster``,
        ``cluster_config``, ``jobs``, ``wait_workers``, ...).
    progress : bool
        Show a progress bar.
    model_digest : str, optional
        Pin the model: refuse any model file whose content digest is not this one (see
        :func:`lessdask.model.load_model`).

    Returns
    -------
    dict
        Summary: output path, frames, atoms, chunks of the store and those already done (resume),
        tasks run and submitted, seconds, atom-frames per second, the workers the plan was sized
        for, and (dask-jobqueue) the ids of the batch jobs used.

    Raises
    ------
    lessdask.errors.InputError
        Bad options, inputs, or inputs a worker cannot read; a Universe whose trajectory is in
        memory or has no file (write it out, or classify it in memory with
        :class:`lessdask.analysis.LESS`); file options (``trajectory``, ``format``, ``dt``) with
        an MDAnalysis object.
    lessdask.errors.ModelFileError
        A model file that is missing, damaged, invalid, unsafe, or not the pinned one.
    lessdask.errors.StoreError
        An output that may not be written or replaced, another run writing it, a resume that
        would change results, or a store that cannot be written.
    lessdask.errors.ClusterError
        A cluster that cannot be reached or give workers (with the batch system's reason), or
        workers killed by their memory limit.
    lessdask.errors.Interrupted
        SIGTERM or SIGINT: the cluster is closed, finished chunks are kept, and the message
        says how to finish with ``resume=True``.
    """
    from lessdask import store

    t0 = time.perf_counter()
    _check_options(start, stop, step, frames_per_task, atoms_per_chunk, cluster)
    path = Path(output)
    from_mda = is_mdanalysis_input(topology)
    if from_mda:
        _check_no_file_options(topology, trajectory, format, topology_format, dt)
        files, names = universe_files(universe_of(topology))
    else:
        files, names = _input_files(topology, trajectory), " + ".join([str(topology), *_paths(trajectory)])
    protect = [*files, *([] if str(model) == "default" else [model])]
    mode = store.check_output(path, resume, overwrite, protect=protect)
    if from_mda:
        inputs, select = _universe_inputs(topology, select, model, names, model_digest)
    else:
        inputs = _open_inputs(files[0], files[1:], model, select, format, topology_format, dt, names=names,
                              model_digest=model_digest)
    run_id = uuid.uuid4().hex
    attrs = _provenance(inputs, files, model, start, stop, step, select, pbc, other, run_id)
    with store.StoreLock(path, run_id) as lock:
        with _StopOnSignals(path) as stopper, _cluster_errors(), \
                _open_session(client, cluster, progress, stopper, inputs.model) as (c, session):
            n_workers = session.wait_for_workers()  # the plan is sized for the workers the run will have
            _check_workers_see(c, files)
            plan, layout = _plan_store(path, mode, inputs, attrs, start, stop, step, frames_per_task,
                                       atoms_per_chunk, save_features, save_positions, n_workers, protect)
            stopper.plan = plan
            skipped = store.completed_tasks(path) & set(plan.chunks()) if mode == "resume" else set()
            todo = _pending_tasks(plan, skipped)
            settings = TaskSettings(run_id=run_id, files=inputs.files, store=str(path.resolve()),
                                    model_path=str(Path(inputs.model.source_).resolve()),
                                    model_digest=inputs.model.digest_, layout=layout, pbc=bool(pbc),
                                    other=attrs["other"])
            with _payload_file(path, run_id, inputs, plan) as payload, session.keep_workers(stopper.dead_end):
                submissions = _run_rounds(c, settings, payload, plan, path, progress, lock)
            batch_jobs = session.batch_jobs
        _finish(path, plan, inputs)
    seconds = time.perf_counter() - t0
    n_af = len(plan.frames) * len(plan.atoms)
    summary = {"output": str(path), "frames": int(len(plan.frames)), "atoms": int(len(plan.atoms)),
               "chunks": plan.n_chunks, "chunks_skipped": len(skipped), "tasks_run": len(todo),
               "task_submissions": submissions,
               "seconds": round(seconds, 3), "atom_frames_per_second": round(n_af / seconds, 1),
               "workers": n_workers}
    if batch_jobs:
        summary["batch_jobs"] = batch_jobs
    return summary


class _StopOnSignals:
    """SIGTERM and SIGINT stop a run cleanly: the cluster is closed, what is written is kept, and
    :class:`~lessdask.errors.Interrupted` says how to finish (exit code 143 or 130 from the CLI).

    SIGTERM is what a batch system sends at the walltime or on ``scancel``; SIGINT is Ctrl-C.
    Handlers are installed only in the main thread (Python allows no other); a second signal
    while the run is closing is ignored so that the cluster's jobs are still cancelled. The
    worker watch (:meth:`lessdask.cluster.ClusterSession.keep_workers`) stops the run the same
    way when it meets a dead end, and its :class:`~lessdask.errors.ClusterError` is raised.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, path: Path):
        self.path, self.plan, self.session = path, None, None
        self.stopping = False
        self._previous: dict = {}
        self.installed = threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.installed:
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, exc_type, exc, tb):
        for s, h in self._previous.items():
            signal.signal(s, h)
        if isinstance(exc, Interrupted) and not str(exc):
            raise Interrupted(exc.signum, self.message(exc.signum)) from None
        if exc is not None and self.session is not None and self.session.error is not None \
                and not isinstance(exc, ClusterError):
            raise self.session.error from None  # the dead end that stopped the run, not its echo
        return False

    def _handle(self, signum, frame):
        if self.stopping:
            return  # already closing the cluster: let it finish
        self.stopping = True
        if self.session is not None and self.session.error is not None:
            raise self.session.error
        raise Interrupted(signum)

    def dead_end(self) -> None:
        """Called from the worker watch thread: stop the main thread with the session's error."""
        if self.installed:
            _thread.interrupt_main(signal.SIGINT)  # runs _handle in the main thread
        elif self.session is not None:
            self.session.client.close()  # the run's next call into the client fails; __exit__ raises the error

    def message(self, signum: int) -> str:
        from lessdask import store

        name = signal.Signals(signum).name
        if self.plan is None:
            return f"stopped by {name} before anything was written to {self.path}; rerun the same command"
        done = len(store.completed_tasks(self.path) & set(self.plan.chunks()))
        return (f"stopped by {name}: {done} of {self.plan.n_chunks} chunks are written to {self.path} and kept; "
                "finish with the same command and --resume (Python: classify(..., resume=True))")


@contextlib.contextmanager
def _open_session(client, cluster, progress, stopper, model):
    """The client and :class:`~lessdask.cluster.ClusterSession` of a run (see :func:`lessdask.cluster.open_cluster`)."""
    from lessdask.cluster import open_cluster
    from lessdask.warmup import compile_kernels

    # embedded workers share this machine's numba cache: on a first run compile once here, with a
    # message, instead of in every worker behind a progress bar at 0 % (returns at once when cached)
    with open_cluster(client=client, quiet=not progress, before_embedded=lambda: compile_kernels(model),
                      **dict(cluster or {})) as session:
        stopper.session = session
        yield session.client, session


@contextlib.contextmanager
def _payload_file(path: Path, run_id: str, inputs, plan):
    """The run's payload in a signed file beside the store, read by every worker from the shared path.

    Per-atom arrays (species codes, the plan's atoms) and the trajectory reader with its frame
    offsets travel in it once per worker, never with a task, and it does not die with a worker
    (a broadcast copy held by the workers did, ending rounds on batch systems).
    """
    from lessdask import store
    from lessdask.features import species_codes

    folder = path.resolve() / store.PAYLOAD_DIR  # absolute: workers may run in another directory
    shutil.rmtree(folder, ignore_errors=True)  # a killed run's; one run per store at a time
    data = pickle.dumps({"universe": inputs.universe, "species": species_codes(inputs.species, len(inputs.species)),
                         "plan": plan})
    try:
        try:
            folder.mkdir(mode=0o700)
            payload = PayloadFile.write(folder / f"{run_id}.pickle", data)
        except OSError as exc:
            raise StoreError(f"cannot write the run's payload ({len(data) >> 10} KiB) into {path} "
                             f"({exc.strerror or exc}); free space or fix permissions, then rerun with "
                             "--resume") from None
        yield payload
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check_options(start, stop, step, frames_per_task, atoms_per_chunk, cluster) -> None:
    """Refuse impossible options before anything is opened or written."""
    checks = [("start", start, None), ("stop", stop, None), ("step", step, 1), ("frames-per-task", frames_per_task, 1),
              ("atoms-per-chunk", atoms_per_chunk, 1)]
    cluster = dict(cluster or {})
    checks += [("workers", cluster.get("n_workers"), 1), ("jobs", cluster.get("jobs"), 1)]
    for name, value, low in checks:
        if value is None:
            continue
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise InputError(f"--{name} must be an integer, got {value!r}")
        if low is not None and value < low:
            raise InputError(f"--{name} must be at least {low}, got {value}")


def _input_files(topology, trajectory) -> list[str]:
    """Absolute paths of the inputs, made on the client: workers may run in another directory."""
    return [os.path.abspath(os.path.expanduser(str(p))) for p in [topology, *_paths(trajectory)]]


def _open_inputs(topology, trajectory, model, select, format, topology_format, dt, names=None,
                 model_digest=None) -> _Inputs:
    from lessdask.frame import check_species
    from lessdask.model import load_model
    from lessdask.model.validation import check_model_features
    from lessdask.trajectory import open_universe, select_atoms, species_of, truncated_frame

    u = open_universe(topology, trajectory, format=format, topology_format=topology_format, dt=dt)
    files = names or " + ".join([str(topology), *_paths(trajectory)])
    atoms = select_atoms(u, select, files)
    species = species_of(u.atoms)
    mdl = load_model(model, expected_digest=model_digest)
    check_model_features(mdl)
    check_species(species, mdl, files)
    return _Inputs(u, files, atoms, species, truncated_frame(u), mdl)


def _check_no_file_options(obj, trajectory, format, topology_format, dt) -> None:
    """Options that open files do not apply to an MDAnalysis object, which has its reader already."""
    given = [name for name, value in (("trajectory", trajectory or None), ("format", format),
                                      ("topology_format", topology_format), ("dt", dt)) if value is not None]
    if given:
        raise InputError(f"{', '.join(given)} apply to input files, but {obj} is an MDAnalysis object that already "
                         "reads its files: give them to mda.Universe(...) instead (e.g. mda.Universe(top, traj, "
                         "format=..., dt=...))")


def _universe_inputs(obj, select, model, names, model_digest=None) -> tuple[_Inputs, str]:
    """Like :func:`_open_inputs`, for an MDAnalysis Universe or AtomGroup: the group is the selection, neighbours
    come from its Universe, which workers receive pickled (its reader reopens the files)."""
    from lessdask.frame import check_species
    from lessdask.model import load_model
    from lessdask.model.validation import check_model_features
    from lessdask.trajectory import group_atoms, species_of, truncated_frame

    u, atoms, selection = group_atoms(obj, select)
    try:
        pickle.dumps(u.trajectory)  # what the workers get: the reader, reopened from its file when unpickled
    except Exception as exc:  # noqa: BLE001 - pickling fails in many ways (lambdas, open handles, C objects)
        raise InputError(f"the trajectory reader of {u} cannot be sent to the workers ({type(exc).__name__}: {exc}); "
                         "on-the-fly transformations must be picklable (MDAnalysis' own are); give the files "
                         "instead, or classify in memory with lessdask.analysis.LESS") from None
    species = species_of(u.atoms)
    mdl = load_model(model, expected_digest=model_digest)
    check_model_features(mdl)
    check_species(species, mdl, names)
    return _Inputs(u, names, atoms, species, truncated_frame(u), mdl), selection


def _paths(trajectory) -> list[str]:
    return [str(t) for t in (trajectory if isinstance(trajectory, (list, tuple)) else [trajectory])]


def _time_step(universe) -> float | None:
    """Picoseconds between steps as the reader sees them (None if it has no idea)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dt = float(universe.trajectory.dt)
    except Exception:  # noqa: BLE001 - readers without a time step raise various errors
        return None
    return dt if math.isfinite(dt) else None


def _provenance(inputs, files, model, start, stop, step, select, pbc, other, run_id) -> dict:
    from lessdask.store import file_fingerprint

    mdl = inputs.model
    attrs = {
        "lessdask_version": __version__,
        "run_id": run_id,
        "model_digest": mdl.digest_,
        "model_source": str(model),
        "classes": list(map(str, mdl.classes_)),
        "feature_settings": json.dumps(mdl.feature_settings_.to_dict()),
        "inputs": [str(Path(p).resolve()) for p in files],
        "input_files": [file_fingerprint(p) for p in files],
        "time_step": _time_step(inputs.universe),
        "frame_selection": json.dumps({"start": start, "stop": stop, "step": step}),
        "selection": select or "all",
        "pbc": bool(pbc),
        "other": bool(other and mdl.has_envelopes),
        "Conventions": "CF-1.10",
    }
    if inputs.truncated_at is not None:
        attrs["input_truncated_at_frame"] = int(inputs.truncated_at)
    return attrs


@contextlib.contextmanager
def _cluster_errors():
    """Connection errors Dask raises as programming errors, turned into a ClusterError saying what to do."""
    try:
        yield
    except TypeError as exc:
        if "TLS" not in str(exc) and "ssl_context" not in str(exc):
            raise
        raise ClusterError(
            "the scheduler speaks TLS (tls://) but this client has no TLS certificates: give the cluster's CA "
            "file and a client certificate and key in Dask's configuration (distributed.comm.tls.ca-file, "
            "distributed.comm.tls.client.cert and .key, e.g. in ~/.config/dask/distributed.yaml or "
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE=...), or use the scheduler file the cluster wrote"
        ) from None


def _check_workers_see(client, files) -> None:
    """Refuse, before a store is created, inputs that a connected worker cannot read at the client's path."""
    from lessdask.pipeline.worker import missing_files

    missing = {w: m for w, m in client.run(missing_files, list(files)).items() if m}
    if missing:
        worker, paths = next(iter(missing.items()))
        raise InputError(
            f"{len(missing)} worker(s) cannot read the input at the path the client gave (e.g. worker {worker}: "
            f"{paths[0]}); workers open the trajectory themselves: put it on a file system every worker "
            "sees, at the same path"
        )


def _plan_store(path, mode, inputs, attrs, start, stop, step, frames_per_task, atoms_per_chunk,
                save_features, save_positions, n_workers, protect=()):
    """The plan of tasks, and the store's layout: a new store's, or the interrupted run's.

    Called with the store's lock held, once inputs, model and options are validated: only
    then is a store to ``--overwrite`` cleared.
    """
    from lessdask import store
    from lessdask.trajectory import make_plan

    u, mdl = inputs.universe, inputs.model
    plan = make_plan(u.trajectory.n_frames, inputs.atoms, start, stop, step, frames_per_task, atoms_per_chunk,
                     n_workers=n_workers)
    if mode == "resume":
        layout = store.resume_layout(path, attrs, plan.frames, len(plan.atoms), save_features=bool(save_features),
                                     save_positions=bool(save_positions))
        return plan.rechunked(layout.frames_per_task, layout.atoms_per_chunk), layout
    if mode == "overwrite":
        store.clear_store(path, protect)
    layout = store.StoreLayout(plan.frames_per_task, plan.atoms_per_chunk, save_features=bool(save_features),
                               save_positions=bool(save_positions))
    store.create_store(path, frames=plan.frames, atom_ids=u.atoms.ids[inputs.atoms], classes=attrs["classes"],
                       feature_names=mdl.feature_settings_.feature_names, layout=layout, attrs=attrs,
                       species=inputs.species[inputs.atoms])
    return plan, layout


def _run_rounds(client, settings, payload, plan, path, progress, lock=None) -> int:
    """Submit every unmarked task, in rounds, until all are marked; returns the submissions made.

    Resubmission is bounded by progress, not by a fixed number of rounds: a run gives up only
    after :data:`MAX_STALLED_ROUNDS` rounds in a row that finished no new chunk. A task that
    meets a user error (a :class:`LessdaskError` in its receipt) stops the run at once: the
    remaining tasks are cancelled and that one message is raised.
    """
    from lessdask import store

    # the per-atom arrays travel once per worker in the payload file, never with a task (see worker.py)
    started = time.time()
    all_chunks = set(plan.chunks())
    submissions, stalled, round_ = 0, 0, 0
    marked = store.completed_tasks(path) & all_chunks  # one directory listing per round, not one per task
    while True:
        pending = _pending_tasks(plan, marked)
        if not pending:
            return submissions
        if lock is not None and not lock.held():
            raise StoreError(f"{path} is no longer locked by this run ({store.lock_owner(path)}); stopping")
        # retries only for errors that are not lessdask's (those come back in receipts, see worker.py)
        futures = [client.submit(run_task, settings, payload, fb, g, retries=2,
                                 key=f"lessdask-{settings.run_id[:8]}-{round_}-{fb}-{g}")
                   for fb, g in pending]
        errors = _wait(futures, len(pending), progress, client, started)
        submissions += len(pending)
        if errors:
            raise errors[0]
        now = store.completed_tasks(path) & all_chunks
        stalled = 0 if len(now) > len(marked) else stalled + 1
        marked = now
        round_ += 1
        if stalled >= MAX_STALLED_ROUNDS:
            missing = plan.n_chunks - len(marked)
            memory = _memory_kills(client, started)
            if memory:
                raise ClusterError(f"{missing} of {plan.n_chunks} chunks of {path} could not be computed: {memory}")
            raise StoreError(f"{missing} of {plan.n_chunks} chunks of {path} could not be computed: {stalled} rounds "
                             "in a row finished none (workers kept disappearing; see the worker logs); "
                             "rerun with --resume")


def _pending_tasks(plan, marked) -> list[tuple[int, int]]:
    """(frame block, chunk group) of every task with a chunk not marked done."""
    return [(fb, g) for fb, g in plan.tasks() if any((fb, ac) not in marked for ac in plan.group_chunks(g))]


def _finish(path, plan, inputs) -> None:
    """Mark the store complete (every chunk verified); then report an input that was cut off mid-frame."""
    from lessdask import store

    store.mark_complete(path, plan.chunks())
    if inputs.truncated_at is not None:
        raise InputError(
            f"frame {inputs.truncated_at} of {inputs.files} is incomplete (the file ends in the middle of it: "
            f"truncated); frames {plan.frames[0]}..{plan.frames[-1]} before it were classified into {path}"
        )


def _wait(futures, total, progress, client=None, started=None):
    """Wait for the tasks with a progress bar; return the user errors met (the run then stops).

    At the first receipt carrying a :class:`LessdaskError` every remaining task is cancelled;
    the errors returned are those already received, sorted by frame. Other exceptions are
    raised (workers that kept dying while running a task: named, with the memory limit if
    their nannies killed them for memory).

    Takes the futures over: ``futures`` is emptied, and each future is dropped as soon as it
    has finished, so the scheduler releases the task and its worker forgets it (its state and
    receipt) at once instead of holding every finished task of the round until the end.
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker
    from tqdm.auto import tqdm

    remaining = {f.key: f for f in futures}
    # results are fetched here, not inside as_completed: a gather that fails in its tracking
    # coroutine (seen once under load: a tornado write assertion) is logged there and that
    # future never arrives, so the run would wait forever; here the error reaches the run
    done = as_completed(futures, with_results=False)
    futures.clear()
    errors = []
    bar = tqdm(total=total, unit="task", desc="classify", disable=not progress)
    try:
        for fut in done:
            result = _outcome(fut)
            remaining.pop(fut.key, None)
            cancelled = fut.status == "cancelled" or _is_cancelled(result)
            del fut
            if cancelled:  # lost with its worker or its data; resubmitted next round
                continue
            if isinstance(result, dict) and isinstance(result.get("error"), LessdaskError):
                errors.append(result["error"])
                _cancel(client, remaining)
                break
            if isinstance(result, BaseException):
                _cancel(client, remaining)
                if isinstance(result, KilledWorker):
                    raise ClusterError(_killed_message(result, client, started)) from None
                raise result
            bar.update(1)
            del result  # the loop variable would keep the last receipt alive until the next one
    finally:
        bar.close()
    errors.sort(key=lambda e: _frame_in(str(e)))
    return errors


def _outcome(fut):
    """A finished future's result, its exception if it erred, or a CancelledError if it was cancelled."""
    from concurrent.futures import CancelledError

    try:
        return fut.exception() if fut.status == "error" else fut.result()
    except CancelledError as exc:
        return exc


def _is_cancelled(result) -> bool:
    import asyncio
    from concurrent.futures import CancelledError

    return isinstance(result, (CancelledError, asyncio.CancelledError))


def _cancel(client, remaining: dict) -> None:
    """Cancel the tasks not finished yet (queued ones never start)."""
    if remaining:
        if client is not None:
            client.cancel(list(remaining.values()))
        else:
            for f in remaining.values():
                f.cancel()
        remaining.clear()


def _memory_kills(client, started) -> str:
    """What the nannies' memory monitors did since ``started``: a sentence naming the setting, or ''."""
    if client is None:
        return ""
    try:
        events = [e for t, e in client.get_events("worker-restart-memory") if started is None or t >= started]
        limits = {w["memory_limit"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}
    except Exception:  # noqa: BLE001 - diagnostics only
        return ""
    if not events:
        return ""
    limit = max((x for x in limits if x), default=None)
    rss = max(e.get("rss", 0) for e in events if isinstance(e, dict))
    shown = f"{limit / 2**30:.2f} GiB" if limit else "unknown"
    return (f"workers were killed {len(events)} time(s) by their memory limit ({shown} per worker; a worker "
            f"reached {rss / 2**30:.2f} GiB). Give each worker more memory (fewer --workers on this machine; "
            "'memory' in the --cluster-config profile; the dask-worker --memory-limit; "
            "distributed.worker.memory.terminate) or make tasks smaller (--atoms-per-chunk, --frames-per-task), "
            "then rerun with --resume")


def _killed_message(exc, client, started) -> str:
    memory = _memory_kills(client, started)
    task = getattr(exc, "task", "?")
    if memory:
        return f"task {task} could not be computed: {memory}"
    return (f"task {task} could not be computed: {exc.allowed_failures + 1} workers died while running it "
            "(killed from outside, out of memory without a nanny, or crashed; see the worker logs); "
            "rerun with --resume")


def _frame_in(message: str) -> float:
    m = re.search(r"frame (\d+)", message)
    return int(m.group(1)) if m else math.inf
