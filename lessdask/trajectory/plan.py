"""The plan of a run: which frames and atoms each (frame block, atom chunk) task handles."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lessdask.errors import InputError


@dataclass(frozen=True)
class Plan:
    """Which frames and atoms each task handles.

    Attributes
    ----------
    frames : ndarray
        Trajectory frame indices to classify, in order.
    atoms : ndarray
        0-based indices of the atoms to classify.
    frames_per_task, atoms_per_chunk : int
        Task (and Zarr chunk) sizes along frame and atom.
    """

    frames: np.ndarray
    atoms: np.ndarray
    frames_per_task: int
    atoms_per_chunk: int

    @property
    def n_frame_blocks(self) -> int:
        """Number of frame blocks."""
        return math.ceil(len(self.frames) / self.frames_per_task)

    @property
    def n_atom_chunks(self) -> int:
        """Number of atom chunks."""
        return math.ceil(len(self.atoms) / self.atoms_per_chunk)

    @property
    def n_tasks(self) -> int:
        """Number of (frame block, atom chunk) tasks."""
        return self.n_frame_blocks * self.n_atom_chunks

    def tasks(self):
        """(frame block, atom chunk) index pairs, frame-major."""
        for fb in range(self.n_frame_blocks):
            for ac in range(self.n_atom_chunks):
                yield fb, ac

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
        """The same frames and atoms in tasks of other sizes (those of a store being resumed)."""
        return Plan(self.frames, self.atoms, int(frames_per_task), int(atoms_per_chunk))


def make_plan(n_frames: int, atoms: np.ndarray, start=None, stop=None, step=None,
              frames_per_task: int | None = None, atoms_per_chunk: int | None = None,
              n_workers: int = 1) -> Plan:
    """Split the frame slice and the atom list into tasks.

    Defaults: atom chunks of at most 250,000 atoms; frame blocks holding about a million
    atom-frames, but small enough that every worker gets at least two tasks.
    """
    frames = np.arange(n_frames)[slice(start, stop, step)]
    if frames.size == 0:
        raise InputError(f"the frame selection start={start} stop={stop} step={step} is empty "
                         f"(the trajectory has {n_frames} frames)")
    if atoms_per_chunk is not None and atoms_per_chunk < 1 or frames_per_task is not None and frames_per_task < 1:
        raise InputError("atoms per chunk and frames per task must be at least 1")
    apc = int(atoms_per_chunk or min(len(atoms), 250_000))
    apc = max(1, min(apc, len(atoms)))
    if frames_per_task is None:
        n_chunks = math.ceil(len(atoms) / apc)
        by_size = max(1, 1_000_000 // apc)
        by_spread = max(1, math.ceil(frames.size * n_chunks / (2 * max(1, n_workers))))
        frames_per_task = max(1, min(by_size, by_spread, frames.size))
    return Plan(frames=frames, atoms=np.asarray(atoms, np.int64), frames_per_task=int(frames_per_task),
                atoms_per_chunk=apc)
