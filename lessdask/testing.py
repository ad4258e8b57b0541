"""Small real inputs for tests and examples: LAMMPS text dumps written from arrays.

Used by lessdask's own test suite and handy for users' tests of their pipelines.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from pathlib import Path

import numpy as np

#: Coordinate columns of each LAMMPS dump convention.
COORDINATE_COLUMNS = {
    "unscaled": ("x", "y", "z"),
    "scaled": ("xs", "ys", "zs"),
    "unwrapped": ("xu", "yu", "zu"),
    "scaled_unwrapped": ("xsu", "ysu", "zsu"),
}


def _cell(dims, tilt) -> np.ndarray:
    """LAMMPS cell vectors (rows a, b, c) from lengths ``lx ly lz`` and tilts ``xy xz yz``."""
    xy, xz, yz = tilt
    return np.array([[dims[0], 0, 0], [xy, dims[1], 0], [xz, yz, dims[2]]], float)


def write_lammps_dump(path: str | os.PathLike, frames, types, boxes, ids=None, gz: bool = False,
                      timestep_stride: int = 1000, *, columns=None, coordinates: str = "unscaled", tilt=None,
                      origin=(0.0, 0.0, 0.0), order=None, images=None, float_format: str = "{:.6f}",
                      compression: str | None = None, timesteps=None, header_extra: str = "") -> Path:
    """Write a LAMMPS text dump (``ITEM: ATOMS id type x y z`` and orthorhombic boxes by default).

    Parameters
    ----------
    path : str or os.PathLike
        File to write.
    frames : sequence of ndarray, shape (n, 3)
        Cartesian positions (Å) per frame, relative to the box origin.
    types : sequence of int, length n
        LAMMPS atom types.
    boxes : sequence of array_like
        Per frame, at least the box lengths ``(lx, ly, lz)`` (LAMMPS' ``xhi - xlo`` ...).
    ids : sequence of int, optional
        Atom ids (default 1..n).
    gz : bool
        gzip the file (same as ``compression="gz"``).
    timestep_stride : int
        Time steps between frames (frame k has time step ``k * timestep_stride``).
    columns : sequence of str, optional
        The ``ITEM: ATOMS`` columns in file order (default ``id type`` and the coordinate
        columns). ``id``, ``type``, the coordinate columns of ``coordinates``, ``ix iy iz``
        (``images``) and any other name (written as a per-atom number ``0.5 * id``) are allowed.
    coordinates : {"unscaled", "scaled", "unwrapped", "scaled_unwrapped"}
        Which coordinates to write: ``x y z``, ``xs ys zs`` (fractions of the cell), ``xu yu zu``
        (positions plus ``images`` times the cell vectors) or ``xsu ysu zsu``.
    tilt : array_like of 3 floats, optional
        ``xy xz yz`` of a triclinic cell (same for every frame); written as LAMMPS writes
        triclinic bounds (``ITEM: BOX BOUNDS xy xz yz pp pp pp``).
    origin : array_like of 3 floats
        ``xlo ylo zlo`` of the cell (positions are written shifted by it).
    order : sequence of int, optional
        Order of the atom lines (a permutation of ``range(n)``; default file order = atom order).
    images : ndarray of int, shape (n, 3), optional
        Image flags: written in ``ix iy iz`` columns and added to unwrapped coordinates.
    float_format : str
        ``str.format`` pattern of the real numbers, e.g. ``"{:.6f}"`` or ``"{:g}"`` (LAMMPS' default).
    compression : {None, "gz", "bz2", "xz"}
        Compress the file.
    timesteps : sequence of int, optional
        The ``TIMESTEP`` of each frame (overrides ``timestep_stride``).
    header_extra : str
        Text written before each frame's ``ITEM: TIMESTEP`` line (e.g. ``"ITEM: UNITS\\nmetal\\n"``).

    Returns
    -------
    pathlib.Path
    """
    compression = compression or ("gz" if gz else None)
    opener = {None: open, "gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[compression]
    n = len(types)
    ids = np.arange(1, n + 1) if ids is None else np.asarray(ids)
    coord_cols = COORDINATE_COLUMNS[coordinates]
    columns = list(columns) if columns is not None else ["id", "type", *coord_cols]
    order = np.arange(n) if order is None else np.asarray(order)
    images = np.zeros((n, 3), int) if images is None else np.asarray(images, int)
    tilt_ = (0.0, 0.0, 0.0) if tilt is None else tuple(float(t) for t in tilt)
    origin = np.asarray(origin, float)
    steps = [k * timestep_stride for k in range(len(frames))] if timesteps is None else list(timesteps)
    with opener(path, "wt") as f:
        for k, (pos, dims) in enumerate(zip(frames, boxes)):
            cell = _cell(dims, tilt_)
            pos = np.asarray(pos, float)
            shift = images @ cell if coordinates.endswith("unwrapped") else 0.0
            values = {"x": origin + pos + shift}  # written as given (also NaN, inf, or a zero box)
            if coordinates.startswith("scaled"):
                values["s"] = np.linalg.solve(cell.T, pos.T).T + (images if coordinates.endswith("unwrapped") else 0)
            f.write(f"{header_extra}ITEM: TIMESTEP\n{steps[k]}\nITEM: NUMBER OF ATOMS\n{n}\n")
            lo, hi = origin, origin + np.asarray(dims[:3], float)
            if tilt is None:
                f.write("ITEM: BOX BOUNDS pp pp pp\n")
                f.write("".join(f"{lo[d]} {hi[d]}\n" for d in range(3)))
            else:
                xy, xz, yz = tilt_
                f.write("ITEM: BOX BOUNDS xy xz yz pp pp pp\n")
                f.write(f"{lo[0] + min(0.0, xy, xz, xy + xz)} {hi[0] + max(0.0, xy, xz, xy + xz)} {xy}\n")
                f.write(f"{lo[1] + min(0.0, yz)} {hi[1] + max(0.0, yz)} {xz}\n")
                f.write(f"{lo[2]} {hi[2]} {yz}\n")
            f.write("ITEM: ATOMS " + " ".join(columns) + "\n")
            cols = []
            for name in columns:
                if name == "id":
                    cols.append([str(int(v)) for v in ids])
                elif name == "type":
                    cols.append([str(int(v)) for v in types])
                elif name in ("ix", "iy", "iz"):
                    cols.append([str(int(v)) for v in images[:, "xyz".index(name[1])]])
                elif name in coord_cols:
                    d = coord_cols.index(name)
                    src = values["s"] if name[1:2] == "s" else values["x"]
                    cols.append([float_format.format(float(v)) for v in src[:, d]])
                else:
                    cols.append([float_format.format(0.5 * float(v)) for v in ids])
            f.write("".join(" ".join(c[i] for c in cols) + "\n" for i in order))
    return Path(path)
