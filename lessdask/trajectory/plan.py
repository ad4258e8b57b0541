"""The plan of a run: the store's chunks (frame block x atom chunk) and the tasks that compute them.

A task is one frame block and a group of atom chunks (by default all of them): it reads each
frame of its block once, builds the frame's neighbour search once
(:class:`lessdask.features.engine.FrameFeatures`) and classifies its chunks one after the other,
writing each chunk's region of the store. Cost per atom-frame therefore depends neither on the
frame's size nor on the number of chunks. Only when there are fewer frame blocks than workers
to keep busy are the chunks of a block split over several tasks (each then searches the frame).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from lessdask.errors import InputError

#: Atoms per chunk of the store (and per model call), at most.
ATOMS_PER_CHUNK = 250_000
#: Atom-frames a task aims at when frames are small (frames are grouped into blocks up to this).
ATOM_FRAMES_PER_TASK = 1_000_000
#: Work a task repeats when a frame block is split over several tasks (reading the frames,
#: wrapping and binning them, the chunk borders' q_l), as a fraction of the block's work.
SPLIT_OVERHEAD = 0.1


@dataclass(frozen=True)
class Plan:
    """Which frames and atoms each chunk holds, and which chunks each task computes.

    Attributes
    ----------
    frames : ndarray
        Trajectory frame indices to classify, in order.
    atoms : ndarray
        0-based indices of the atoms to classify.
    frames_per_task, atoms_per_chunk : int
        Chunk sizes along frame and atom (the store's Zarr chunks).
    chunks_per_task : int
        Atom chunks of a frame block computed by one task.
    """

    frames: np.ndarray
    atoms: np.ndarray
    frames_per_task: int
    atoms_per_chunk: int
    chunks_per_task: int = 0

    def __post_init__(self):
        if self.chunks_per_task < 1:
            object.__setattr__(self, "chunks_per_task", self.n_atom_chunks)

    @property
    def n_frame_blocks(self) -> int:
        """Number of frame blocks."""
        return math.ceil(len(self.frames) / self.frames_per_task)

    @property
    def n_atom_chunks(self) -> int:
        """Number of atom chunks."""
        return math.ceil(len(self.atoms) / self.atoms_per_chunk)

    @property
    def n_chunks(self) -> int:
        """Number of (frame block, atom chunk) regions of the store."""
        return self.n_frame_blocks * self.n_atom_chunks

    @property
    def n_groups(self) -> int:
        """Tasks per frame block."""
        return math.ceil(self.n_atom_chunks / self.chunks_per_task)

    @property
    def n_tasks(self) -> int:
        """Number of (frame block, chunk group) tasks."""
        return self.n_frame_blocks * self.n_groups

    def chunks(self) -> Iterator[tuple[int, int]]:
        """(frame block, atom chunk) of every region of the store, frame-major."""
        for fb in range(self.n_frame_blocks):
            for ac in range(self.n_atom_chunks):
                yield fb, ac

    def tasks(self) -> Iterator[tuple[int, int]]:
        """(frame block, chunk group) of every task, frame-major."""
        for fb in range(self.n_frame_blocks):
            for g in range(self.n_groups):
                yield fb, g

    def group_chunks(self, group: int) -> range:
        """Atom chunks computed by the tasks of chunk group ``group``."""
        return range(group * self.chunks_per_task, min((group + 1) * self.chunks_per_task, self.n_atom_chunks))

    def frame_slice(self, fb: int) -> slice:
        """Positions in :attr:`frames` of frame block ``fb``."""
        return slice(fb * self.frames_per_task, min((fb + 1) * self.frames_per_task, len(self.frames)))

    def atom_slice(self, ac: int) -> slice:
        """Positions in :attr:`atoms` of atom chunk ``ac``."""
        return slice(ac * self.atoms_per_chunk, min((ac + 1) * self.atoms_per_chunk, len(self.atoms)))

    def task_frames(self, fb: int) -> np.ndarray:
        """Trajectory frame indices of frame block ``fb``."""
        return self.frames[self.frame_slice(fb)]

    def task_atoms(self, ac: int) -> np.ndarray:
        """Atom indices (0-based, into the Universe) of atom chunk ``ac``."""
        return self.atoms[self.atom_slice(ac)]

    def rechunked(self, frames_per_task: int, atoms_per_chunk: int) -> Plan:
        """The same frames, atoms and task grouping in chunks of other sizes (a store being resumed)."""
        plan = Plan(self.frames, self.atoms, int(frames_per_task), int(atoms_per_chunk))
        groups = min(self.n_groups, plan.n_atom_chunks)
        return Plan(self.frames, self.atoms, plan.frames_per_task, plan.atoms_per_chunk,
                    math.ceil(plan.n_atom_chunks / max(groups, 1)))


def chunk_groups(n_blocks: int, n_chunks: int, n_workers: int) -> int:
    """Tasks each frame block's chunks are split over: the count that finishes soonest.

    With ``k`` groups there are ``n_blocks * k`` tasks of ``1/k + SPLIT_OVERHEAD`` of a block's
    work each, run ``n_workers`` at a time; the smallest ``k`` of least
    ``ceil(n_blocks * k / n_workers) * (1/k + SPLIT_OVERHEAD)`` is chosen. One worker never
    splits (a split only repeats work); one frame on two workers splits in two.
    """
    best, best_k = math.inf, 1
    for k in range(1, min(n_chunks, 2 * n_workers) + 1):
        span = math.ceil(n_blocks * k / n_workers) * (1.0 / k + SPLIT_OVERHEAD)
        if span < best - 1e-12:
            best, best_k = span, k
    return best_k


def make_plan(n_frames: int, atoms: np.ndarray, start=None, stop=None, step=None,
              frames_per_task: int | None = None, atoms_per_chunk: int | None = None,
              n_workers: int = 1) -> Plan:
    """Split the frame slice and the atom list into chunks and tasks.

    Defaults: atom chunks of at most :data:`ATOMS_PER_CHUNK` atoms; frame blocks of about
    :data:`ATOM_FRAMES_PER_TASK` atom-frames (one frame when frames are bigger), but small
    enough that every worker gets at least two tasks; one task per frame block, computing all
    its chunks, unless splitting a block's chunks over several tasks ends the run sooner
    (:func:`chunk_groups`: few frame blocks for the workers).
    """
    frames = np.arange(n_frames)[slice(start, stop, step)]
    if frames.size == 0:
        raise InputError(f"the frame selection start={start} stop={stop} step={step} is empty "
                         f"(the trajectory has {n_frames} frames)")
    if atoms_per_chunk is not None and atoms_per_chunk < 1 or frames_per_task is not None and frames_per_task < 1:
        raise InputError("atoms per chunk and frames per task must be at least 1")
    n_atoms = len(atoms)
    apc = int(atoms_per_chunk or min(n_atoms, ATOMS_PER_CHUNK))
    apc = max(1, min(apc, n_atoms))
    want = 2 * max(1, n_workers)  # tasks wanted, at least
    if frames_per_task is None:
        by_size = max(1, ATOM_FRAMES_PER_TASK // max(n_atoms, 1))
        by_spread = max(1, math.ceil(frames.size / want))
        frames_per_task = max(1, min(by_size, by_spread, frames.size))
    n_blocks = math.ceil(frames.size / frames_per_task)
    n_chunks = math.ceil(n_atoms / apc)
    groups = chunk_groups(n_blocks, n_chunks, max(1, n_workers))
    return Plan(frames=frames, atoms=np.asarray(atoms, np.int64), frames_per_task=int(frames_per_task),
                atoms_per_chunk=apc, chunks_per_task=math.ceil(n_chunks / groups))
