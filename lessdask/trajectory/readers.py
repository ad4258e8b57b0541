"""Opening trajectories with MDAnalysis: formats, species, selections, and one frame's positions and box.

LAMMPS dumps are read by lessdask's own MDAnalysis reader (format ``LAMMPSDUMPFAST``,
:mod:`lessdask.trajectory.lammpsdump`); LAMMPS data files by lessdask's own MDAnalysis parser
and reader (format ``DATAFAST``, :mod:`lessdask.trajectory.dataparse`) with the atom style
named in the file (``Atoms # atomic``) or given (``atom_style``).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
import weakref
from pathlib import Path

import numpy as np

from lessdask.errors import InputError

# How users name LAMMPS dumps; MDAnalysis only recognises the LAMMPSDUMP extension itself.
_DUMP_SUFFIXES = (".lammpstrj", ".lammpstrj.gz", ".lammpsdump", ".lammpsdump.gz", ".dump", ".dump.gz")
#: Time step (ps) assumed for LAMMPS dumps, which store step numbers only (metal units, 1 fs).
LAMMPS_DUMP_DT = 0.001
#: MDAnalysis format names that lessdask reads with its own dump reader.
_DUMP_FORMATS = ("LAMMPSDUMP", "LAMMPSDUMPFAST", "LAMMPSTRJ")
#: MDAnalysis format names of LAMMPS data files, which lessdask reads with its own parser and reader.
_DATA_FORMATS = ("DATA", "DATAFAST")
_DATA_FAST = "DATAFAST"

#: Columns of the ``Atoms`` section of LAMMPS data files per ``atom_style`` (LAMMPS' read_data
#: documentation), in MDAnalysis' ``atom_style`` vocabulary (``resid`` is the molecule id,
#: ``charge`` is q; other names are placeholders).
ATOM_STYLES = {
    "atomic": "id type x y z",
    "charge": "id type charge x y z",
    "bond": "id resid type x y z",
    "angle": "id resid type x y z",
    "molecular": "id resid type x y z",
    "full": "id resid type charge x y z",
    "sphere": "id type diameter density x y z",
    "dipole": "id type charge x y z",
    "dpd": "id type theta x y z",
    "electron": "id type charge espin eradius x y z",
    "ellipsoid": "id type ellipsoidflag density x y z",
    "line": "id resid type lineflag density x y z",
    "tri": "id resid type triangleflag density x y z",
    "body": "id type bodyflag mass x y z",
    "peri": "id type volume density x y z",
    "hybrid": "id type x y z",
}
# formats MDAnalysis cannot read (or reads as something else: .cif as PDBx/mmCIF), read with ASE
_ASE_SUFFIXES = (".cif", ".vasp", ".poscar", ".contcar", ".traj")
_ASE_PREFIXES = ("poscar", "contcar")
#: The ``format`` name that reads a file with ASE (any format ``ase.io.read`` knows).
ASE_FORMAT = "ASE"
# formats whose atom numbers have five digits and wrap after 99,999
_WRAPPING_ID_FORMATS = ("GRO", "PDB", "ENT", "PQR", "PDBQT", "XPDB")
_ID_NOTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
logger = logging.getLogger("lessdask")


def guess_format(path: str | os.PathLike) -> str | None:
    """MDAnalysis format name for file names MDAnalysis does not recognise by itself.

    ``*.lammpstrj``, ``*.lammpstrj.gz``, ``dump.*`` and ``*.dump`` are LAMMPS dumps; CIF,
    POSCAR/CONTCAR (``*.vasp``, ``*.poscar``) and ASE trajectories (``*.traj``) are read with ASE
    (``"ASE"``, the ``ase`` extra); other names are left to MDAnalysis (None).
    """
    name = Path(path).name.lower()
    if name.endswith(_DUMP_SUFFIXES) or name.startswith("dump."):
        return "LAMMPSDUMP"
    if name.endswith(".extxyz"):
        return "XYZ"
    if name.endswith(_ASE_SUFFIXES) or name.startswith(_ASE_PREFIXES):
        return "ASE"
    return None


def check_dt(dt) -> float | None:
    """A time step (ps per step) that is a positive finite number, or None; otherwise an InputError."""
    if dt is None:
        return None
    try:
        value = float(dt)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"the time step dt={dt!r} ps is not a positive number; give the picoseconds per MD step "
                         "(--dt), e.g. 0.001 for LAMMPS metal units (1 fs)")
    return value


def atom_style_columns(atom_style: str) -> str:
    """MDAnalysis ``atom_style`` columns for a LAMMPS atom style name or a column list.

    Parameters
    ----------
    atom_style : str
        A LAMMPS ``atom_style`` (``atomic``, ``charge``, ``molecular``, ``full``, ... see
        :data:`ATOM_STYLES`) or the columns themselves (``"id type q x y z"``; ``q`` may be
        written for ``charge`` and ``mol`` for ``resid``).

    Returns
    -------
    str
        E.g. ``"id type x y z"`` for ``atomic``.
    """
    name = str(atom_style).strip()
    if name.lower() in ATOM_STYLES:
        return ATOM_STYLES[name.lower()]
    cols = ["charge" if c == "q" else "resid" if c in ("mol", "molecule") else c for c in name.split()]
    if not {"id", "type", "x", "y", "z"} <= set(cols):
        raise InputError(f"atom style {atom_style!r} is neither a LAMMPS atom style lessdask knows "
                         f"({', '.join(ATOM_STYLES)}) nor a list of columns with id, type, x, y and z "
                         "(e.g. 'id type q x y z')")
    return " ".join(cols)


def data_file_atom_style(path: str | os.PathLike) -> str | None:
    """The atom style a LAMMPS data file declares (``Atoms # atomic``), guessed from its columns if it does not.

    Returns None when the file has no ``Atoms`` section. Without a ``# style`` hint, 5 or 8
    columns are ``atomic`` and 7 or 10 ``full``; 6 or 9 columns are ``charge`` when the third
    column holds fractional numbers, otherwise ``molecular`` (as MDAnalysis reads them), with a
    warning naming the way to say otherwise.
    """
    from MDAnalysis.lib.util import anyopen

    hint, rows = None, []
    with anyopen(str(path)) as f:
        in_atoms = False
        for line in f:
            text = line.partition("#")[0].strip()
            if not in_atoms:
                if text == "Atoms":
                    in_atoms = True
                    hint = line.partition("#")[2].strip().split()[0] if "#" in line and line.partition("#")[2].strip() \
                        else None
                    if hint is not None:
                        break
                continue
            if not text:
                if rows:
                    break
                continue
            if text[0].isalpha():
                break
            rows.append(text.split())
            if len(rows) >= 200:
                break
    if hint is not None:
        if hint.lower() not in ATOM_STYLES:
            raise InputError(f"{path}: atom style {hint!r} (the 'Atoms # {hint}' line) is not one lessdask knows "
                             f"({', '.join(ATOM_STYLES)}); give the columns with atom_style (--atom-style), "
                             "e.g. 'id type x y z'")
        return hint.lower()
    if not rows:
        return None
    n = len(rows[0])
    if n in (5, 8):
        return "atomic"
    if n in (7, 10):
        return "full"
    if n in (6, 9):
        if any(any(c in r[2] for c in ".eE") for r in rows if len(r) > 2):
            return "charge"
        logger.warning("%s: the Atoms section does not name its style and has %d columns: read as 'molecular' "
                       "(id mol type x y z); if it is 'charge' (id type q x y z), say so with atom_style='charge' "
                       "(--atom-style charge)", path, n)
        return "molecular"
    return None


def open_universe(topology, trajectory=(), format: str | None = None, topology_format: str | None = None,
                  dt: float | None = None, atom_style: str | None = None):
    """An MDAnalysis Universe for a topology and trajectory files, with clear errors.

    LAMMPS dumps are read with :class:`lessdask.trajectory.lammpsdump.FastDumpReader` (format
    ``LAMMPSDUMPFAST``; also when ``format="LAMMPSDUMP"`` is asked for): the same positions,
    boxes and times as MDAnalysis' own reader, many times faster, with random access into gzipped
    dumps. LAMMPS data files are read with :class:`lessdask.trajectory.dataparse.FastDATAParser`
    and ``FastDATAReader`` (format ``DATAFAST``): MDAnalysis' ``DATA`` Topology and positions,
    many times faster.

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
        Time between steps (ps) for LAMMPS dumps (default 0.001, metal units), and for any
        format that records no time (XYZ, PDB, ...; default 1 ps, said once in a log message
        instead of MDAnalysis' warning at every frame); must be positive.
    atom_style : str, optional
        For LAMMPS data files: the ``atom_style`` (``atomic``, ``charge``, ``molecular``,
        ``full``, ...) or the columns (``"id type q x y z"``). Default: the ``Atoms # style``
        line of the file, else a guess from the column count (see :func:`data_file_atom_style`).

    Raises
    ------
    InputError
        A missing or unreadable file, a bad ``dt`` or atom style, a damaged first frame.
    """
    import MDAnalysis as mda

    import lessdask.trajectory.dataparse  # noqa: F401 - registers the DATAFAST parser and reader
    import lessdask.trajectory.lammpsdump  # noqa: F401 - registers the LAMMPSDUMPFAST reader

    dt = check_dt(dt)
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
    if str(kwargs.get("format", "")).upper() in _DUMP_FORMATS:
        kwargs["format"] = "LAMMPSDUMPFAST"
        kwargs["dt"] = LAMMPS_DUMP_DT if dt is None else dt
        if str(kwargs.get("topology_format", "")).upper() in _DUMP_FORMATS:
            kwargs["topology_format"] = "LAMMPSDUMP"
    if _is_data_file(topology, kwargs.get("topology_format")):
        style = atom_style or data_file_atom_style(topology)
        if style:
            kwargs["atom_style"] = atom_style_columns(style)
        kwargs["topology_format"] = _DATA_FAST
        if not trajectory and str(kwargs.get("format", "DATA")).upper() in _DATA_FORMATS:
            kwargs["format"] = _DATA_FAST
    elif atom_style:
        raise InputError(f"atom_style (--atom-style) applies to LAMMPS data files; {topology} is not one")
    files = [topology, *trajectory]
    if ASE_FORMAT in (str(kwargs.get("format", "")).upper(), str(kwargs.get("topology_format", "")).upper()):
        if trajectory:
            raise InputError(f"{topology}: files read with ASE (CIF, POSCAR, ASE formats) hold their own frames; "
                             f"give it alone, without {' + '.join(trajectory)}")
        u = ase_universe(topology, dt=dt)
        _settle_time_step(u, dt, topology)
        return u
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            u = mda.Universe(topology, *trajectory, **kwargs)
    except InputError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OSError, EOFError, UnicodeDecodeError) as exc:
        inner = exc.__cause__ or exc.__context__
        if isinstance(inner, InputError):  # MDAnalysis wraps what a topology parser raises
            raise inner from None
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if len(msg) > 300:
            msg = msg[:300] + " ..."
        hint = ("; name the format with --format (e.g. LAMMPSDUMP, XYZ, XTC, DCD) if the file name "
                "does not show it") if "format" in msg.lower() or "unknown" in msg.lower() else ""
        if "atom_style" in kwargs:
            hint += (f"; it was read as atom style columns '{kwargs['atom_style']}': give the right one with "
                     "atom_style (--atom-style)")
        raise InputError(f"cannot read {' + '.join(files)}: {msg}{hint}") from None
    if u.atoms.n_atoms == 0:
        raise InputError(f"{topology} contains no atoms")
    _settle_time_step(u, dt, " + ".join(files))
    return u


def ase_coordinates(atoms) -> tuple[np.ndarray, np.ndarray | None]:
    """Positions and MDAnalysis box of a fully periodic ASE ``Atoms`` (box None when it is not).

    The cell is turned into MDAnalysis' orientation (a along x, b in the xy plane) through
    fractional coordinates, so that a cell in any orientation keeps its distances and angles.
    """
    from MDAnalysis.lib.mdamath import triclinic_vectors

    if not np.all(atoms.pbc) or atoms.cell.rank != 3:
        return np.asarray(atoms.positions, np.float64), None
    dims = np.asarray(atoms.cell.cellpar(), np.float64)
    return atoms.get_scaled_positions(wrap=False) @ triclinic_vectors(dims).astype(np.float64), dims


def ase_universe(path: str | os.PathLike, dt: float | None = None):
    """An MDAnalysis Universe of every frame of a file ASE reads (CIF, POSCAR, extended XYZ variants, ...).

    The ``ase`` extra (``pip install 'lessdask[ase]'``). Frames are held in memory
    (MDAnalysis' ``MemoryReader``): meant for structures and short trajectories in formats
    MDAnalysis cannot read; big trajectories belong in a format MDAnalysis streams.

    Parameters
    ----------
    path : str or os.PathLike
        Any file ``ase.io.read`` reads (its format from the name, as ASE guesses it).
    dt : float, optional
        Picoseconds between frames (default 1).

    Returns
    -------
    MDAnalysis.Universe
        Atoms with ``names``, ``elements`` and ``types`` set to ASE's chemical symbols, ``ids``
        from an ``id`` array when the file has one (else 1..N), the periodic box of each frame
        (none where ASE's cell is not periodic in all three directions).

    Raises
    ------
    InputError
        ASE is not installed (the message gives the command that installs it), cannot read
        the file, or its frames differ in atoms.
    """
    try:
        import ase.io
    except ImportError:
        raise InputError(f"{path}: reading this format needs ASE, which is not installed; "
                         "install it with: pip install 'lessdask[ase]'") from None
    import MDAnalysis as mda
    from MDAnalysis.coordinates.memory import MemoryReader

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frames = ase.io.read(str(path), index=":")
    except Exception as exc:  # noqa: BLE001 - ASE's readers raise every kind of error
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read {path} with ASE: {msg[:300]}") from None
    if not isinstance(frames, list):
        frames = [frames]
    if not frames or len(frames[0]) == 0:
        raise InputError(f"{path} contains no atoms")
    first = frames[0]
    symbols = np.asarray(first.get_chemical_symbols(), dtype=object)
    for k, atoms in enumerate(frames[1:], start=1):
        if len(atoms) != len(first) or list(atoms.get_chemical_symbols()) != list(symbols):
            raise InputError(f"frame {k} of {path} has other atoms ({len(atoms)}) than frame 0 ({len(first)}); "
                             "every frame needs the same atoms in the same order")
    n = len(first)
    u = mda.Universe.empty(n, trajectory=True)
    ids = np.asarray(first.arrays["id"], np.int64) if "id" in first.arrays else np.arange(1, n + 1)
    u.add_TopologyAttr("ids", ids)
    for attr in ("names", "elements", "types"):
        u.add_TopologyAttr(attr, symbols.astype(str))
    systems = [ase_coordinates(a) for a in frames]
    coords = np.stack([pos for pos, _ in systems]).astype(np.float32)
    dims = np.stack([np.zeros(6) if box is None else box for _, box in systems])
    u.load_new(coords, format=MemoryReader, dimensions=dims.astype(np.float32), dt=1.0 if dt is None else dt)
    u.trajectory.filename = str(path)
    return u


def _settle_time_step(universe, dt: float | None, files: str) -> None:
    """Give a reader that knows no time step one, once, instead of MDAnalysis warning at every frame read.

    Formats without times (XYZ, PDB, ...) make MDAnalysis warn "Reader has no dt information,
    set to 1.0 ps" whenever a time is read, on the client and on every worker. Here the time
    step is set on the reader (``dt`` if given, else MDAnalysis' 1 ps), so that it travels with
    the pickled reader to the workers, and one message says what the times mean.
    """
    reader = universe.trajectory
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            reader.dt  # noqa: B018 - the property warns when the reader has no time step
        except Exception:  # noqa: BLE001 - readers without a time step raise various errors
            return
    if not any("no dt information" in str(w.message) for w in seen):
        return
    value = 1.0 if dt is None else float(dt)
    for r in [reader, *getattr(reader, "readers", [])]:  # ChainReader: each file's reader
        kwargs = getattr(r, "_ts_kwargs", None)
        if isinstance(kwargs, dict):
            kwargs["dt"] = value
        ts = getattr(r, "ts", None)
        if ts is not None:
            ts.data["dt"] = value
    if dt is None and getattr(reader, "n_frames", 1) > 1:  # one frame: its time, 0, needs no step
        logger.info("%s records no time step: times are frame numbers x 1 ps; give the real one with --dt (dt=)",
                    files)


def _is_data_file(path: str, topology_format: str | None) -> bool:
    if topology_format:
        return str(topology_format).upper() in _DATA_FORMATS
    name = Path(path).name.lower()
    for ext in (".gz", ".bz2"):
        name = name.removesuffix(ext)
    return name.endswith((".data", ".lmp", ".lammps")) or name.startswith("data.")


def atom_ids(universe) -> tuple[np.ndarray, str | None]:
    """Atom ids of a Universe, made unique, and a note saying if they were renumbered.

    GRO and PDB files number atoms with five digits: beyond 99,999 atoms the numbers wrap and
    repeat. Such ids are replaced by 1..N in file order -- in the Universe too, so selections
    by ``id`` and the ids stored with the results agree -- and the note says so (record it
    with the results). Repeated ids in any other format are refused.

    Parameters
    ----------
    universe : MDAnalysis.Universe

    Returns
    -------
    ids : ndarray of int64
        One per atom, unique.
    note : str or None
        Why and how the ids were renumbered; None if the file's ids are kept. The note of a
        Universe is returned by every later call too.

    Raises
    ------
    InputError
        Repeated atom ids in a format whose ids do not wrap.
    """
    ids = np.asarray(universe.atoms.ids, np.int64)
    if universe in _ID_NOTES:
        return ids, _ID_NOTES[universe]
    uniq, counts = np.unique(ids, return_counts=True)
    if len(uniq) == len(ids):
        return ids, None
    top = getattr(universe, "filename", None) or "the topology"
    first = int(uniq[np.argmax(counts > 1)])
    top_format = _topology_format(universe)
    if top_format not in _WRAPPING_ID_FORMATS:
        raise InputError(f"{top}: atom id {first} is used by {int(counts[np.argmax(counts > 1)])} atoms "
                         f"({int(np.sum(counts > 1))} ids repeat); every atom needs its own id")
    new = np.arange(1, len(ids) + 1, dtype=np.int64)
    universe.atoms.ids = new
    note = (f"atom ids renumbered 1..{len(ids)} in file order: {top} ({top_format}) numbers atoms with five digits, "
            f"which wrap after 99,999 ({int(np.sum(counts > 1))} ids repeat, first {first})")
    _ID_NOTES[universe] = note
    logger.warning("%s", note)
    return new, note


def _topology_format(universe) -> str:
    name = str(getattr(universe, "filename", "") or "").lower()
    for ext in (".gz", ".bz2"):
        name = name.removesuffix(ext)
    suffix = Path(name).suffix.lstrip(".").upper()
    return suffix


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

    LAMMPS dump readers count only complete frames, so a dump cut off in the middle of a
    frame (a crashed or still running simulation, a partly copied ``.gz``) looks shorter but
    healthy. lessdask's dump reader records the cut frame when it indexes the file; for
    MDAnalysis' own reader the tail of the file after the last complete frame is read.
    """
    reader = universe.trajectory
    if hasattr(reader, "truncated_at"):
        return reader.truncated_at
    parts = getattr(reader, "readers", None)  # several files read one after another
    if parts and all(hasattr(r, "truncated_at") for r in parts):
        for r in parts[:-1]:
            if r.truncated_at is not None:
                raise InputError(f"{r.filename} ends in the middle of its frame {r.truncated_at} (truncated), and "
                                 "more files follow it; classify the files separately or drop the cut file")
        last = parts[-1].truncated_at
        return None if last is None else sum(r.n_frames for r in parts[:-1]) + last
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


def is_mdanalysis_input(obj) -> bool:
    """True for an MDAnalysis object (what :func:`lessdask.classify` takes besides files; see :func:`universe_of`)."""
    return type(obj).__module__.startswith("MDAnalysis")  # no MDAnalysis import for file names


def universe_of(obj):
    """The Universe of an MDAnalysis ``Universe``, ``AtomGroup``, ``ResidueGroup`` or ``SegmentGroup``.

    Raises
    ------
    InputError
        Any other object (a Timestep, a reader, ...), saying what to give.
    """
    from MDAnalysis import Universe
    from MDAnalysis.core.groups import AtomGroup, ResidueGroup, SegmentGroup

    if isinstance(obj, Universe):
        return obj
    if isinstance(obj, (AtomGroup, ResidueGroup, SegmentGroup)):
        return obj.universe
    raise InputError(f"{obj!r} ({type(obj).__name__}) is not something lessdask can classify: give file paths, "
                     "an MDAnalysis Universe or an AtomGroup")


#: What to do with a Universe that distributed workers cannot reopen (named in the errors below).
_IN_MEMORY_HINT = (
    "Dask workers run in other processes, possibly on other machines, and reopen the trajectory from its files, "
    "so the frames must be in files they can read: write them out where every worker sees them and classify "
    "the files (e.g. u.atoms.write('top.pdb'); u.atoms.write('frames.dcd', frames='all'); then "
    "classify(mda.Universe('top.pdb', 'frames.dcd'), ...)), or, for a small system, classify in memory "
    "without Dask: lessdask.analysis.LESS(atomgroup).run()"
)


def universe_files(universe) -> tuple[list[str], str]:
    """The files a Universe reads, checked so that a distributed worker can reopen them.

    Parameters
    ----------
    universe : MDAnalysis.Universe

    Returns
    -------
    files : list of str
        Absolute paths: the topology file (if the Universe was made from one), then the
        trajectory file(s) in reading order.
    names : str
        The same, joined with ``" + "`` as given, for messages.

    Raises
    ------
    InputError
        A trajectory held in memory (``MemoryReader``, e.g. after ``transfer_to_memory()`` or
        ``load_new(array)``), a Universe without a trajectory, or a trajectory whose file is
        gone: such frames cannot reach a worker that reopens files.

    Notes
    -----
    Workers receive the Universe pickled: its topology as it is in memory (so ids, types or
    elements the user changed are kept) and its reader, which MDAnalysis reopens from the
    file name with the reader's keyword arguments (format, ``dt``, ...). See
    ``docs/design.md`` ("MDAnalysis objects as input").
    """
    from MDAnalysis.coordinates.memory import MemoryReader

    try:
        reader = universe.trajectory
    except AttributeError:
        raise InputError(f"{universe} has no trajectory (no coordinates); {_IN_MEMORY_HINT}") from None
    parts = getattr(reader, "readers", None) or [reader]  # a ChainReader reads several files
    traj = []
    for r in parts:
        if isinstance(r, MemoryReader):
            raise InputError(f"the trajectory of {universe} is held in memory (MemoryReader), not read from a file; "
                             + _IN_MEMORY_HINT)
        name = getattr(r, "filename", None)
        if not isinstance(name, (str, os.PathLike)) or not Path(name).is_file():
            raise InputError(f"the trajectory of {universe} is not read from a file a worker can reopen "
                             f"({type(r).__name__}, file {name!r}); " + _IN_MEMORY_HINT)
        traj.append(str(name))
    top = getattr(universe, "filename", None)
    given = ([str(top)] if isinstance(top, (str, os.PathLike)) and Path(top).is_file() else []) + traj
    given = list(dict.fromkeys(given))  # a self-describing file is topology and trajectory at once
    return [os.path.abspath(p) for p in given], " + ".join(given)


def group_atoms(obj, select: str | None = None) -> tuple[object, np.ndarray, str]:
    """The Universe of an MDAnalysis input and the indices of the atoms to classify.

    Parameters
    ----------
    obj : MDAnalysis.Universe or MDAnalysis.core.groups.AtomGroup
        A Universe means all its atoms; an AtomGroup (or a residue or segment group) its
        atoms, with neighbours still from every atom of its Universe.
    select : str, optional
        An MDAnalysis selection applied within the group.

    Returns
    -------
    universe : MDAnalysis.Universe
    atoms : ndarray of int
        Indices into ``universe.atoms``, sorted, without repeats.
    selection : str
        What was selected, for the store's ``selection`` attribute.
    """
    universe = universe_of(obj)
    group = universe.atoms if obj is universe else obj.atoms
    whole = obj is universe or np.unique(group.indices).size == universe.atoms.n_atoms
    described = "all" if whole else f"an AtomGroup of {group.n_atoms} atoms"
    if select and select != "all":
        try:
            group = group.select_atoms(select)
        except Exception as exc:  # noqa: BLE001 - MDAnalysis raises many selection errors
            raise InputError(f"atom selection {select!r} is not valid: {exc}") from None
        described = select if whole else f"({select}) within {described}"
    atoms = np.unique(group.indices)
    if atoms.size == 0:
        raise InputError(f"no atoms to classify ({described} of {universe}); give a non-empty AtomGroup or selection")
    return universe, atoms, described
