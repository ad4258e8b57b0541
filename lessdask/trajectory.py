"""Opening trajectories with MDAnalysis: formats, species, and the (frame block x atom chunk) plan."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lessdask.errors import InputError

# How users name LAMMPS dumps; MDAnalysis only recognises the LAMMPSDUMP extension itself.
_DUMP_SUFFIXES = (".lammpstrj", ".lammpstrj.gz", ".lammpsdump", ".lammpsdump.gz", ".dump", ".dump.gz")
#: Time step (ps) assumed for LAMMPS dumps, which store step numbers only (metal units, 1 fs).
LAMMPS_DUMP_DT = 0.001


def guess_format(path: str | os.PathLike) -> str | None:
    """MDAnalysis format name for file names MDAnalysis does not recognise by itself.

    ``*.lammpstrj``, ``*.lammpstrj.gz``, ``dump.*`` and ``*.dump`` are LAMMPS dumps; other
    names are left to MDAnalysis (None).
    """
    name = Path(path).name.lower()
    if name.endswith(_DUMP_SUFFIXES) or name.startswith("dump."):
        return "LAMMPSDUMP"
    if name.endswith(".extxyz"):
        return "XYZ"
    return None


def open_universe(topology, trajectory=(), format: str | None = None, topology_format: str | None = None,
                  dt: float | None = None):
    """An MDAnalysis Universe for a topology and trajectory files, with clear errors.

    Parameters
    ----------
    topology : str or Path
        Topology file (LAMMPS data, GRO, PDB, ...) or a self-describing trajectory (LAMMPS
        dump, extended XYZ) used alone.
    trajectory : sequence of str or Path
        Trajectory files, read one after another.
    format, topology_format : str, optional
        MDAnalysis format names overriding the guess from the file names.
    dt : float, optional
        Time between steps (ps) for LAMMPS dumps (default 0.001, metal units).
    """
    import MDAnalysis as mda

    topology = str(topology)
    trajectory = [str(t) for t in (trajectory if isinstance(trajectory, (list, tuple)) else [trajectory])]
    for p in [topology, *trajectory]:
        if not Path(p).exists():
            raise InputError(f"{p}: no such file")
        if Path(p).is_dir():
            raise InputError(f"{p} is a directory, not a trajectory or topology file")
    traj_format = format or (guess_format(trajectory[0]) if trajectory else None)
    top_format = topology_format or guess_format(topology) or (format if not trajectory else None)
    kwargs = {}
    if top_format:
        kwargs["topology_format"] = top_format
    if traj_format:
        kwargs["format"] = traj_format
    elif not trajectory and top_format:
        kwargs["format"] = top_format
    if kwargs.get("format") == "LAMMPSDUMP":
        kwargs["dt"] = LAMMPS_DUMP_DT if dt is None else dt
    files = [topology, *trajectory]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            u = mda.Universe(topology, *trajectory, **kwargs)
    except (ValueError, TypeError, KeyError, IndexError, OSError, EOFError, UnicodeDecodeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = ("; name the format with --format (e.g. LAMMPSDUMP, XYZ, XTC, DCD) if the file name "
                "does not show it") if "format" in msg.lower() or "unknown" in msg.lower() else ""
        raise InputError(f"cannot read {' + '.join(files)}: {msg}{hint}") from None
    if u.atoms.n_atoms == 0:
        raise InputError(f"{topology} contains no atoms")
    return u


def species_of(atoms) -> np.ndarray:
    """Species of atoms as strings: elements if the file has them, else names, else types."""
    for attr in ("elements", "names", "types"):
        if hasattr(atoms, attr):
            values = np.asarray(getattr(atoms, attr)).astype(str)
            if values.size and np.all(values != ""):
                return values
    return np.full(atoms.n_atoms, "X")


def select_atoms(universe, select: str | None, where: str = "") -> np.ndarray:
    """Indices (0-based, into ``universe.atoms``) of the atoms to classify."""
    if not select or select == "all":
        return np.arange(universe.atoms.n_atoms)
    try:
        ag = universe.select_atoms(select)
    except Exception as exc:  # noqa: BLE001 - MDAnalysis raises many selection errors
        raise InputError(f"atom selection {select!r} is not valid: {exc}") from None
    if ag.n_atoms == 0:
        raise InputError(f"atom selection {select!r} matches no atoms in {where or 'the topology'}")
    return ag.indices.copy()


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
        return math.ceil(len(self.frames) / self.frames_per_task)

    @property
    def n_atom_chunks(self) -> int:
        return math.ceil(len(self.atoms) / self.atoms_per_chunk)

    def tasks(self):
        """(frame block, atom chunk) index pairs, frame-major."""
        for fb in range(self.n_frame_blocks):
            for ac in range(self.n_atom_chunks):
                yield fb, ac

    def frame_slice(self, fb: int) -> slice:
        return slice(fb * self.frames_per_task, min((fb + 1) * self.frames_per_task, len(self.frames)))

    def atom_slice(self, ac: int) -> slice:
        return slice(ac * self.atoms_per_chunk, min((ac + 1) * self.atoms_per_chunk, len(self.atoms)))


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


def truncated_frame(universe) -> int | None:
    """Index of an incomplete last frame that the reader silently dropped, or None.

    MDAnalysis' LAMMPS dump reader counts only complete frames, so a dump cut off in the
    middle of a frame (a crashed or still running simulation) looks shorter but healthy.
    This reads the tail of the file after the last complete frame and reports the cut frame.
    """
    reader = universe.trajectory
    if getattr(reader, "format", None) != "LAMMPSDUMP" or not hasattr(reader, "_offsets"):
        return None
    from MDAnalysis.lib.util import anyopen

    with anyopen(reader.filename) as f:
        f.seek(reader._offsets[-1])
        lines = f.read().splitlines()
    if len(lines) < 4:
        return None
    n_atoms = int(lines[3])
    frame_lines = 9 + n_atoms
    tail = lines[frame_lines:]
    if any(line.strip() for line in tail):
        return reader.n_frames
    return None


def frame_box(universe, frame: int):
    """The periodic box of a frame as MDAnalysis ``dimensions``, or None.

    MDAnalysis' XYZ reader ignores the ``Lattice="..."`` of extended XYZ comment lines; it is
    read here so extended XYZ files are periodic as written.
    """
    ts = universe.trajectory.ts
    if ts.dimensions is not None:
        return ts.dimensions
    reader = universe.trajectory
    if getattr(reader, "format", None) not in ("XYZ",) or not hasattr(reader, "_offsets"):
        return None
    import re

    from MDAnalysis.lib.mdamath import triclinic_box
    from MDAnalysis.lib.util import anyopen

    with anyopen(reader.filename) as f:
        f.seek(reader._offsets[frame])
        f.readline()
        comment = f.readline()
    if isinstance(comment, bytes):
        comment = comment.decode(errors="replace")
    m = re.search(r'Lattice\s*=\s*"([^"]+)"', comment)
    if not m:
        return None
    v = np.array(m.group(1).split(), float).reshape(3, 3)
    pbc = re.search(r'pbc\s*=\s*"([^"]+)"', comment)
    if pbc and not all(x.upper().startswith("T") for x in pbc.group(1).split()):
        return None
    return triclinic_box(v[0], v[1], v[2])
