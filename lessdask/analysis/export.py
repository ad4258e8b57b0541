"""Labels out: a results store written as extended XYZ or LAMMPS dump, for OVITO, VMD and ASE.

Each exported atom carries its id, species (or LAMMPS type), position, label (index into the
store's ``structure`` coordinate, ``-1`` for "other"), class name (extended XYZ only) and one
``prob_<class>`` column per class, so that a viewer can colour atoms by structure
(OVITO's Color coding modifier on ``label``, tested) without any lessdask code. VMD reads the
positions, ids and types of both files (its plugins pass no extra columns on; tested only
through MDAnalysis' and ASE's readers, as there is no VMD here).

Species come from the store (the ``species`` coordinate every store written by this version
keeps); positions from the store (``classify --save-positions``) or, when it is given, from the
original trajectory. Nothing is read from the input unless it is asked for.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from pathlib import Path

import numpy as np
import xarray as xr

from lessdask.analysis._select import as_dataset, structure_names
from lessdask.errors import InputError
from lessdask.store import OTHER, OTHER_LABEL, atom_species, open_results

logger = logging.getLogger("lessdask")

#: File formats :func:`export_labels` writes, with the file name endings that select them.
EXPORT_FORMATS = {
    "extxyz": (".xyz", ".extxyz"),
    "lammps-dump": (".lammpstrj", ".dump", ".lammpsdump"),
}


def export_format(path: str | os.PathLike) -> str:
    """The export format a file name asks for; a trailing ``.gz`` is allowed.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.

    Returns
    -------
    str
        ``"extxyz"`` or ``"lammps-dump"``.

    Raises
    ------
    lessdask.errors.InputError
        The name ends in none of :data:`EXPORT_FORMATS`' endings (and does not start with ``dump.``).
    """
    name = Path(path).name.lower().removesuffix(".gz")
    for fmt, endings in EXPORT_FORMATS.items():
        if name.endswith(endings):
            return fmt
    if name.startswith("dump."):
        return "lammps-dump"
    known = ", ".join(e for endings in EXPORT_FORMATS.values() for e in endings)
    raise InputError(f"{path}: cannot tell the export format from the file name; end it in one of {known} "
                     "(optionally .gz), or give format='extxyz' or 'lammps-dump' (--format)")


def parse_frames(spec: str | None):
    """Frames given on the command line (``lessdask export --frames``), as :func:`export_labels` takes them.

    Parameters
    ----------
    spec : str or None
        ``"5"``, ``"0,4,9"``, ``"0:10:2"`` (values of the ``frame`` coordinate, stop excluded),
        ``"last"``, or a comma-separated mix; None, ``""`` or ``"all"`` for every frame.

    Returns
    -------
    None, str, slice or list
        None (all), ``"last"``, a slice, or a list mixing ints, slices and ``"last"``.

    Raises
    ------
    lessdask.errors.InputError
        A part that is none of these.
    """
    if spec is None or str(spec).strip() in ("", "all"):
        return None
    out = []
    for part in str(spec).split(","):
        part = part.strip()
        try:
            if part == "last":
                out.append("last")
            elif ":" in part:
                bits = [int(b) if b.strip() else None for b in part.split(":")]
                if len(bits) > 3:
                    raise ValueError(part)
                out.append(slice(*bits))
            else:
                out.append(int(part))
        except ValueError:
            raise InputError(f"--frames {spec!r}: {part!r} is not a frame number, a range START:STOP[:STEP] or "
                             "'last'") from None
    return out[0] if len(out) == 1 and not isinstance(out[0], int) else out


def _frame_values(ds: xr.Dataset, frames) -> np.ndarray:
    """The ``frame`` values selected by ``frames`` (None, "last", an int, a slice, or a list of those)."""
    values = np.asarray(ds["frame"].values, dtype=np.int64)
    if frames is None:
        return values
    items = frames if isinstance(frames, (list, tuple, np.ndarray)) else [frames]
    chosen: list[int] = []
    for item in items:
        if isinstance(item, str) and item == "last":
            chosen.append(int(values[-1]))
        elif isinstance(item, slice):
            lo = -np.inf if item.start is None else item.start
            hi = np.inf if item.stop is None else item.stop
            sel = values[(values >= lo) & (values < hi)]
            chosen.extend(int(v) for v in sel[::item.step or 1])
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if int(item) not in values:
                raise InputError(f"frame {int(item)} is not in the results store (its frames: "
                                 f"{_ranges(values)})")
            chosen.append(int(item))
        else:
            raise InputError(f"frames: {item!r} is not a frame number, a slice or 'last'")
    if not chosen:
        raise InputError(f"the frame selection {frames!r} selects no frame of the store (its frames: "
                         f"{_ranges(values)})")
    return np.asarray(chosen, dtype=np.int64)


def _ranges(values: np.ndarray) -> str:
    if len(values) <= 6:
        return ", ".join(map(str, values))
    return f"{values[0]}, {values[1]}, ..., {values[-1]} ({len(values)} frames)"


def _open_trajectory(trajectory):
    """A Universe from a Universe/AtomGroup, a path, or [topology, trajectory files...]."""
    if hasattr(trajectory, "universe") and hasattr(trajectory, "atoms"):
        return trajectory.universe
    from lessdask.trajectory import open_universe

    paths = [trajectory] if isinstance(trajectory, (str, os.PathLike)) else list(trajectory)
    if not paths:
        raise InputError("trajectory: give the topology and trajectory files the store was classified from")
    return open_universe(paths[0], paths[1:])


class _TrajectoryPositions:
    """Positions and boxes of the stored atoms, read from the original input."""

    def __init__(self, trajectory, ds: xr.Dataset):
        from lessdask.trajectory.readers import atom_ids

        self.universe = _open_trajectory(trajectory)
        ids, _ = atom_ids(self.universe)
        order = np.argsort(ids)
        want = np.asarray(ds["atom"].values, dtype=np.int64)
        pos = np.searchsorted(ids[order], want)
        pos = np.clip(pos, 0, len(ids) - 1)
        found = ids[order][pos] == want
        if not found.all():
            raise InputError(f"{trajectory}: {int((~found).sum())} atom id(s) of the store are not in this input "
                             f"(e.g. {int(want[~found][0])}); give the files the store was classified from")
        self.index = order[pos]
        self.n_frames = self.universe.trajectory.n_frames

    def frame(self, f: int):
        if f >= self.n_frames:
            raise InputError(f"frame {f} of the store is not in the trajectory, which has {self.n_frames} frames; "
                             "give the files the store was classified from")
        ts = self.universe.trajectory[int(f)]
        dims = ts.dimensions
        dims = np.zeros(6) if dims is None else np.asarray(dims, dtype=np.float64)
        return np.asarray(ts.positions[self.index], dtype=np.float64), dims


def _lammps_types(species: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Integer LAMMPS types: the species themselves when they are numbers, else 1..n in sorted order."""
    if all(s.isdigit() for s in np.unique(species)):
        types = species.astype(np.int64)
        return types, {s: int(s) for s in np.unique(species)}
    names = sorted(np.unique(species))
    mapping = {s: i + 1 for i, s in enumerate(names)}
    return np.array([mapping[s] for s in species], dtype=np.int64), mapping


def _column_name(name: str) -> str:
    return "prob_" + re.sub(r"[^0-9A-Za-z_]", "_", name)


def _lattice(dims: np.ndarray) -> np.ndarray | None:
    """Box vectors (rows) of MDAnalysis dimensions, or None for free boundaries."""
    from MDAnalysis.lib.mdamath import triclinic_vectors

    if dims is None or not np.all(np.isfinite(dims)) or np.any(dims[:3] <= 0):
        return None
    return np.asarray(triclinic_vectors(dims), dtype=np.float64)


#: Chemical symbols (hydrogen to oganesson): species written as they are to extended XYZ.
ELEMENTS = frozenset("""
H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr
Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt
Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc
Lv Ts Og""".split())


def _write_extxyz(f, n, pos, dims, ids, species, types, labels, names, probs, classes, frame, time):
    lat = _lattice(dims)
    columns = ["species:S:1", "pos:R:3", "id:I:1"]
    xyz_species = species
    if not all(s in ELEMENTS for s in np.unique(species)):
        # ASE needs chemical symbols in "species"; numeric LAMMPS types go to their own column
        xyz_species = np.full(len(species), "X")
        columns.append("lammps_type:I:1")
    columns += ["label:I:1", "structure:S:1"] + [f"{_column_name(c)}:R:1" for c in classes]
    info = []
    if lat is not None:
        info.append('Lattice="' + " ".join(f"{v:.8g}" for v in lat.ravel()) + '"')
    info.append("Properties=" + ":".join(columns))
    info.append(f"frame={frame}")
    if np.isfinite(time):
        info.append(f"time_ps={time:.8g}")
    info.append('pbc="T T T"' if lat is not None else 'pbc="F F F"')
    f.write(f"{n}\n{' '.join(info)}\n")
    cols, fmt = [xyz_species, pos[:, 0], pos[:, 1], pos[:, 2], ids], ["%s", "%.6f", "%.6f", "%.6f", "%d"]
    if xyz_species is not species:
        cols.append(types)
        fmt.append("%d")
    cols += [labels, names, *probs.T]
    fmt += ["%d", "%s"] + ["%.6g"] * probs.shape[1]
    _write_rows(f, " ".join(fmt), cols)


def _write_dump(f, n, pos, dims, ids, types, labels, probs, classes, step):
    lat = _lattice(dims)
    if lat is None:  # free boundaries: the box that holds the atoms, not periodic
        lo, hi = pos.min(axis=0) - 1.0, pos.max(axis=0) + 1.0
        bounds, header = [(lo[k], hi[k]) for k in range(3)], "ITEM: BOX BOUNDS ff ff ff"
    elif np.allclose(dims[3:], 90.0):
        bounds, header = [(0.0, dims[k]) for k in range(3)], "ITEM: BOX BOUNDS pp pp pp"
    else:
        lx, xy, xz = lat[0, 0], lat[1, 0], lat[2, 0]
        ly, yz, lz = lat[1, 1], lat[2, 1], lat[2, 2]
        bounds = [(min(0.0, xy, xz, xy + xz), lx + max(0.0, xy, xz, xy + xz), xy),
                  (min(0.0, yz), ly + max(0.0, yz), xz), (0.0, lz, yz)]
        header = "ITEM: BOX BOUNDS xy xz yz pp pp pp"
    f.write(f"ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n{n}\n{header}\n")
    for b in bounds:
        f.write(" ".join(f"{v:.8g}" for v in b) + "\n")
    f.write("ITEM: ATOMS id type x y z label " + " ".join(_column_name(c) for c in classes) + "\n")
    cols = [ids, types, pos[:, 0], pos[:, 1], pos[:, 2], labels, *probs.T]
    _write_rows(f, " ".join(["%d", "%d", "%.6f", "%.6f", "%.6f", "%d"] + ["%.6g"] * probs.shape[1]), cols)


def _write_rows(f, fmt: str, cols, block: int = 100_000) -> None:
    """One line per atom, ``fmt % row``, in blocks (3.5 µs per atom for 8 classes)."""
    n = len(cols[0])
    for a in range(0, n, block):
        part = [np.asarray(c[a:a + block]).tolist() for c in cols]
        f.write("\n".join(fmt % row for row in zip(*part)) + "\n")


def export_labels(results: xr.Dataset | str | os.PathLike, output: str | os.PathLike, frames=None,
                  trajectory=None, format: str | None = None, allow_incomplete: bool = False) -> dict:
    """Write the labels and probabilities of a results store as extended XYZ or LAMMPS dump.

    Parameters
    ----------
    results : xarray.Dataset or str or os.PathLike
        A results store (path) or its dataset (:func:`lessdask.store.open_results`).
    output : str or os.PathLike
        File to write (replaced if it exists). Its name gives the format unless ``format``
        does: ``.xyz``/``.extxyz`` extended XYZ, ``.lammpstrj``/``.dump``/``dump.*`` LAMMPS dump;
        a further ``.gz`` writes it gzipped. Several frames go one after another in the file.
    frames : int, slice, "last", or sequence of those, optional
        Frames to write, by their ``frame`` coordinate (the trajectory's frame index); a slice
        selects the stored frames in ``[start, stop)`` with its step. Default: every frame.
    trajectory : str, os.PathLike, sequence of them, or MDAnalysis Universe/AtomGroup, optional
        The input the store was classified from (topology first, then trajectory files, as
        for :func:`lessdask.classify`): positions and boxes are read from it. Default: the
        store's own ``position`` (written by ``classify --save-positions``).
    format : {"extxyz", "lammps-dump"}, optional
        Overrides the format the file name gives.
    allow_incomplete : bool, default False
        Export from a store whose run did not finish (unwritten atoms have label -1 and NaN
        probabilities).

    The atoms written are the store's (the ``--select`` of the run, if any), in store order.

    Returns
    -------
    dict
        ``output`` (path), ``format``, ``frames`` (the frame values written), ``atoms``,
        ``positions`` (``"store"`` or ``"trajectory"``), ``classes`` (label ``i`` is
        ``classes[i]``; -1 is "other") and ``types`` (species -> LAMMPS type; dump only).

    Raises
    ------
    lessdask.errors.InputError
        Neither the store nor ``trajectory`` has positions, an unknown format or frame, or a
        trajectory that is not the store's input (atom ids or frames missing).
    lessdask.errors.StoreError
        The store cannot be opened (see :func:`lessdask.store.open_results`).

    Notes
    -----
    Extended XYZ (read by OVITO, ASE, VMD's xyz plugin reads its first four columns): one
    frame is ``N``, a comment line with ``Lattice``, ``Properties=species:S:1:pos:R:3:id:I:1:
    label:I:1:structure:S:1:prob_<class>:R:1...``, ``frame``, ``time_ps`` and ``pbc``, then
    one line per atom. Species that are not chemical symbols (numeric LAMMPS types) are written
    as ``X`` with the type in a ``lammps_type`` column, as ASE requires symbols.

    LAMMPS dump (read by OVITO, VMD, MDAnalysis): ``ITEM: ATOMS id type x y z label
    prob_<class>...``; the timestep is the MD step (``time / time_step`` when the store records
    both, else the frame index); the box starts at the origin (results stores keep box lengths
    and angles, not the origin), and triclinic boxes carry ``xy xz yz``. Class names are not a
    dump column (dump readers expect numbers): ``label`` ``i`` is ``classes[i]`` of the
    returned summary and of the store's ``structure`` coordinate.
    """
    if isinstance(results, (str, os.PathLike)):
        ds = open_results(results, allow_incomplete=allow_incomplete)
    else:
        ds = as_dataset(results)
    fmt = format or export_format(output)
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    classes = structure_names(ds)
    values = _frame_values(ds, frames)
    source = None
    if trajectory is not None:
        source = _TrajectoryPositions(trajectory, ds)
    elif "position" not in ds.variables:
        inputs = ds.attrs.get("inputs")
        recorded = (f" (recorded in the store: --trajectory {' '.join(map(str, inputs))})"
                    if isinstance(inputs, list) and inputs else "")
        raise InputError(
            f"{_name(results)} has no positions (it was classified without --save-positions) and no trajectory "
            "was given: pass the input it was classified from (trajectory=[topology, trajectory files...]; "
            f"lessdask export ... --trajectory FILE [FILE ...]){recorded}, or classify again with --save-positions"
        )
    species = atom_species(ds)
    if species is None:
        if source is not None:
            from lessdask.trajectory import species_of

            species = species_of(source.universe.atoms[source.index])
        else:
            logger.warning("%s has no species (written by an older lessdask): atoms are exported as species X, "
                           "type 1; pass the trajectory to have them", _name(results))
            species = np.full(ds.sizes["atom"], "X")
    species = np.asarray(species).astype(str)
    types, mapping = _lammps_types(species)
    ids = np.asarray(ds["atom"].values, dtype=np.int64)
    names_of = np.asarray([*classes, OTHER], dtype=object)  # label -1 indexes the last entry
    step_ps = ds.attrs.get("time_step")
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if out.name.lower().endswith(".gz") else open
    n = ds.sizes["atom"]
    frame_index = {int(v): i for i, v in enumerate(np.asarray(ds["frame"].values))}
    with opener(out, "wt") as f:
        for value in values:
            i = frame_index[int(value)]
            one = ds.isel(frame=i)
            labels = np.asarray(one["label"].values, dtype=np.int64)
            probs = np.asarray(one["probability"].values, dtype=np.float64)
            time = float(one["time"].values) if "time" in one.variables else np.nan
            if source is not None:
                pos, dims = source.frame(int(value))
            else:
                pos = np.asarray(one["position"].values, dtype=np.float64)
                dims = np.asarray(one["dimensions"].values, dtype=np.float64) if "dimensions" in one.variables \
                    else np.zeros(6)
                if not np.all(np.isfinite(pos)):
                    raise InputError(f"frame {value} of {_name(results)} has positions that were never written "
                                     "(an incomplete store); pass the trajectory or finish the run with --resume")
            if fmt == "extxyz":
                names = names_of[np.where(labels == OTHER_LABEL, len(classes), labels)].astype(str)
                _write_extxyz(f, n, pos, dims, ids, species, types, labels, names, probs, classes, int(value), time)
            else:
                step = int(value)
                if isinstance(step_ps, (int, float)) and step_ps and np.isfinite(time):
                    step = int(round(time / float(step_ps)))
                _write_dump(f, n, pos, dims, ids, types, labels, probs, classes, step)
    summary = {"output": str(out), "format": fmt, "frames": [int(v) for v in values], "atoms": int(n),
               "positions": "trajectory" if source is not None else "store", "classes": classes}
    if fmt == "lammps-dump":
        summary["types"] = mapping
    return summary


def _name(results) -> str:
    return str(results) if isinstance(results, (str, os.PathLike)) else "the results dataset"


__all__ = ["ELEMENTS", "EXPORT_FORMATS", "export_format", "export_labels", "parse_frames"]

