"""Small real inputs for tests and examples: LAMMPS text dumps written from arrays.

Used by lessdask's own test suite and handy for users' tests of their pipelines.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np


def write_lammps_dump(path: str | os.PathLike, frames, types, boxes, ids=None, gz: bool = False,
                      timestep_stride: int = 1000) -> Path:
    """Write a LAMMPS text dump (``ITEM: ATOMS id type x y z``, orthorhombic box).

    Parameters
    ----------
    path : str or os.PathLike
        File to write.
    frames : sequence of ndarray, shape (n, 3)
        Cartesian positions (Å) per frame.
    types : sequence of int, length n
        LAMMPS atom types.
    boxes : sequence of array_like
        Per frame, at least the box lengths ``(a, b, c)`` (a box from 0 to each length).
    ids : sequence of int, optional
        Atom ids (default 1..n).
    gz : bool
        gzip the file.
    timestep_stride : int
        Time steps between frames (frame k has time step ``k * timestep_stride``).

    Returns
    -------
    pathlib.Path
    """
    opener = gzip.open if gz else open
    n = len(types)
    ids = np.arange(1, n + 1) if ids is None else ids
    with opener(path, "wt") as f:
        for k, (pos, dims) in enumerate(zip(frames, boxes)):
            f.write(f"ITEM: TIMESTEP\n{k * timestep_stride}\nITEM: NUMBER OF ATOMS\n{n}\n")
            f.write(f"ITEM: BOX BOUNDS pp pp pp\n0 {dims[0]}\n0 {dims[1]}\n0 {dims[2]}\n")
            f.write("ITEM: ATOMS id type x y z\n")
            for i in range(n):
                f.write(f"{ids[i]} {types[i]} {pos[i, 0]:.6f} {pos[i, 1]:.6f} {pos[i, 2]:.6f}\n")
    return Path(path)
