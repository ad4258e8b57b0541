"""The driver side of a run, on the client: open the inputs, plan, create or resume the store,
submit tasks in rounds until every chunk is marked, and finish.

The completion markers in the store are the truth: a round ends when every task has finished,
failed or been lost (workers retiring on a batch ``--lifetime`` take the broadcast trajectory
with them); what is still unmarked is submitted again, and the store is marked complete only
when every chunk is there.
"""

from __future__ import annotations

import json
import math
import pickle
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lessdask import __version__
from lessdask.errors import InputError, LessdaskError, StoreError
from lessdask.pipeline.worker import TaskSettings, run_task

#: Rounds in a row that may finish no new chunk before a run gives up (workers keep disappearing).
MAX_STALLED_ROUNDS = 3


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
        Summary: output path, frames, atoms, chunks of the store and those already done (resume),
        tasks run and submitted, seconds, atom-frames per second, workers.
    """
    from lessdask import store
    from lessdask.cluster import get_client

    t0 = time.perf_counter()
    path = Path(output)
    resuming = store.check_output(path, resume, overwrite)
    inputs = _open_inputs(topology, trajectory, model, select, format, topology_format, dt)
    attrs = _provenance(inputs, topology, trajectory, model, start, stop, step, select, pbc, other)
    with get_client(client=client, quiet=not progress, **dict(cluster or {})) as c:
        n_workers = max(1, len(c.scheduler_info(n_workers=-1).get("workers", {})))
        plan, layout = _plan_store(path, resuming, inputs, attrs, start, stop, step, frames_per_task,
                                   atoms_per_chunk, save_features, save_positions, n_workers)
        skipped = store.completed_tasks(path) if resuming else set()
        todo = _pending_tasks(plan, skipped)
        settings = TaskSettings(run_id=uuid.uuid4().hex, files=inputs.files, store=str(path.resolve()),
                                model_path=str(Path(inputs.model.source_).resolve()),
                                model_digest=inputs.model.digest_, layout=layout, pbc=bool(pbc),
                                other=attrs["other"])
        submissions = _run_rounds(c, settings, inputs, plan, path, progress)
    _finish(path, plan, inputs)
    seconds = time.perf_counter() - t0
    n_af = len(plan.frames) * len(plan.atoms)
    return {"output": str(path), "frames": int(len(plan.frames)), "atoms": int(len(plan.atoms)),
            "chunks": plan.n_chunks, "chunks_skipped": len(skipped), "tasks_run": len(todo),
            "task_submissions": submissions,
            "seconds": round(seconds, 3), "atom_frames_per_second": round(n_af / seconds, 1), "workers": n_workers}


def _open_inputs(topology, trajectory, model, select, format, topology_format, dt) -> _Inputs:
    from lessdask.frame import check_species
    from lessdask.model import load_model
    from lessdask.trajectory import open_universe, select_atoms, species_of, truncated_frame

    u = open_universe(topology, trajectory, format=format, topology_format=topology_format, dt=dt)
    files = " + ".join([str(topology), *_paths(trajectory)])
    atoms = select_atoms(u, select, files)
    species = species_of(u.atoms)
    mdl = load_model(model)
    check_species(species, mdl, files)
    return _Inputs(u, files, atoms, species, truncated_frame(u), mdl)


def _paths(trajectory) -> list[str]:
    return [str(t) for t in (trajectory if isinstance(trajectory, (list, tuple)) else [trajectory])]


def _provenance(inputs, topology, trajectory, model, start, stop, step, select, pbc, other) -> dict:
    mdl = inputs.model
    attrs = {
        "title": "lessdask structure classification",
        "lessdask_version": __version__,
        "model_digest": mdl.digest_,
        "model_source": str(model),
        "classes": list(map(str, mdl.classes_)),
        "feature_settings": json.dumps(mdl.feature_settings_.to_dict()),
        "inputs": [str(Path(p).resolve()) for p in [topology, *_paths(trajectory)]],
        "frame_selection": json.dumps({"start": start, "stop": stop, "step": step}),
        "selection": select or "all",
        "pbc": bool(pbc),
        "other": bool(other and mdl.has_envelopes),
        "Conventions": "CF-1.10",
    }
    if inputs.truncated_at is not None:
        attrs["input_truncated_at_frame"] = int(inputs.truncated_at)
    return attrs


def _plan_store(path, resuming, inputs, attrs, start, stop, step, frames_per_task, atoms_per_chunk,
                save_features, save_positions, n_workers):
    """The plan of tasks, and the store's layout: a new store's, or the interrupted run's."""
    from lessdask import store
    from lessdask.trajectory import make_plan

    u, mdl = inputs.universe, inputs.model
    plan = make_plan(u.trajectory.n_frames, inputs.atoms, start, stop, step, frames_per_task, atoms_per_chunk,
                     n_workers=n_workers)
    if resuming:
        layout = store.resume_layout(path, attrs, plan.frames, len(plan.atoms))
        return plan.rechunked(layout.frames_per_task, layout.atoms_per_chunk), layout
    layout = store.StoreLayout(plan.frames_per_task, plan.atoms_per_chunk, save_features=bool(save_features),
                               save_positions=bool(save_positions))
    store.create_store(path, frames=plan.frames, atom_ids=u.atoms.ids[inputs.atoms], classes=attrs["classes"],
                       feature_names=mdl.feature_settings_.feature_names, layout=layout, attrs=attrs)
    return plan, layout


def _run_rounds(client, settings, inputs, plan, path, progress) -> int:
    """Submit every unmarked task, in rounds, until all are marked; returns the submissions made.

    Resubmission is bounded by progress, not by a fixed number of rounds: a run gives up only
    after :data:`MAX_STALLED_ROUNDS` rounds in a row that finished no new chunk.
    """
    from lessdask import store
    from lessdask.features import species_codes

    # the per-atom arrays travel once per worker in the payload, never with a task (see worker.py)
    blob = pickle.dumps({"universe": inputs.universe, "species": species_codes(inputs.species, len(inputs.species)),
                         "plan": plan})
    submissions, stalled, round_ = 0, 0, 0
    marked = store.completed_tasks(path)  # one directory listing per round, not one per task
    while True:
        pending = _pending_tasks(plan, marked)
        if not pending:
            return submissions
        payload = client.scatter(blob, broadcast=True, hash=False)
        futures = [client.submit(run_task, settings, payload, fb, ac, retries=2,
                                 key=f"lessdask-{settings.run_id[:8]}-{round_}-{fb}-{ac}")
                   for fb, ac in pending]
        errors = _wait(futures, len(pending), progress)
        submissions += len(pending)
        if errors:
            raise errors[0]
        now = store.completed_tasks(path)
        stalled = 0 if len(now) > len(marked) else stalled + 1
        marked = now
        round_ += 1
        if stalled >= MAX_STALLED_ROUNDS:
            missing = plan.n_chunks - len(marked & set(plan.chunks()))
            raise StoreError(f"{missing} of {plan.n_chunks} chunks of {path} could not be computed: {stalled} rounds "
                             "in a row finished none (workers kept disappearing); rerun with --resume")


def _pending_tasks(plan, marked) -> list[tuple[int, int]]:
    """(frame block, chunk group) of every task with a chunk not marked done."""
    return [(fb, g) for fb, g in plan.tasks() if any((fb, ac) not in marked for ac in plan.group_chunks(g))]


def _finish(path, plan, inputs) -> None:
    """Mark the store complete; then report an input that was cut off mid-frame."""
    from lessdask import store

    store.mark_complete(path)
    if inputs.truncated_at is not None:
        raise InputError(
            f"frame {inputs.truncated_at} of {inputs.files} is incomplete (the file ends in the middle of it: "
            f"truncated); frames {plan.frames[0]}..{plan.frames[-1]} before it were classified into {path}"
        )


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


def _frame_in(message: str) -> float:
    m = re.search(r"frame (\d+)", message)
    return int(m.group(1)) if m else math.inf
