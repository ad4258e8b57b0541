"""Opening trajectories with MDAnalysis: formats, species, selections, and one frame's positions and box."""

from __future__ import annotations

import os
import warnings
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


def read_frame(universe, frame: int, pbc: bool = True, where: str = ""):
    """Positions, periodic box and time of one frame, with the checks every caller needs.

    Parameters
    ----------
    universe : MDAnalysis.Universe
    frame : int
        Trajectory frame index.
    pbc : bool
        Periodic boundaries: the frame's box is required (also an extended-XYZ ``Lattice``).
        False: free boundaries, the box is None.
    where : str
        The input files, for error messages.

    Returns
    -------
    positions : ndarray, float32, shape (n_atoms, 3)
        Of every atom of the Universe.
    box : ndarray of 6 floats or None
        MDAnalysis ``dimensions``.
    time : float
        Simulation time (ps).

    Raises
    ------
    InputError
        The frame cannot be read, or has no usable periodic box while ``pbc``.
    """
    files = where or str(getattr(universe.trajectory, "filename", "the trajectory"))
    try:
        universe.trajectory[int(frame)]
    except Exception as exc:  # noqa: BLE001 - readers raise many kinds on damaged files
        raise InputError(
            f"frame {frame} of {files} cannot be read ({type(exc).__name__}: {exc}); the file may be "
            f"truncated or damaged; frames before it can be classified with --stop {frame}"
        ) from None
    return current_frame(universe, pbc, files)


def current_frame(universe, pbc: bool = True, where: str = ""):
    """Like :func:`read_frame`, for the frame the trajectory is at (inside an MDAnalysis analysis loop)."""
    ts = universe.trajectory.ts
    box = None
    if pbc:
        box = frame_box(universe, ts.frame)
        if box is None or not np.all(np.isfinite(box)) or np.any(np.asarray(box[:3]) <= 0):
            files = where or str(getattr(universe.trajectory, "filename", "the trajectory"))
            raise InputError(
                f"frame {ts.frame} of {files} has no usable periodic box ({None if box is None else box.tolist()}); "
                "give a file with the box, or classify with free boundaries (--no-pbc / pbc=False)"
            )
    return universe.atoms.positions, box, float(ts.time)
