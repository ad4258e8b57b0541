"""Simulation boxes: MDAnalysis ``dimensions`` to cell matrices, with checks that name the problem."""

from __future__ import annotations

import math

import numpy as np

from lessdask.errors import InputError


def box_matrix(dimensions, where: str = "") -> np.ndarray:
    """Cell vectors (rows a, b, c; Å) from ``[a, b, c, alpha, beta, gamma]``.

    Follows the LAMMPS/MDAnalysis convention: a along x, b in the xy plane.

    Parameters
    ----------
    dimensions : array_like, shape (6,)
        Box lengths (Å) and angles (degrees).
    where : str
        Context for error messages, e.g. ``"frame 12 of dump.lammpstrj"``.

    Raises
    ------
    InputError
        Missing, zero, negative or non-finite lengths, or angles that do not make a cell.
    """
    ctx = f" ({where})" if where else ""
    d = np.asarray(dimensions, dtype=np.float64).reshape(-1)
    if d.shape != (6,):
        raise InputError(f"box{ctx} must have 6 numbers [a, b, c, alpha, beta, gamma], got {d.size}")
    if not np.all(np.isfinite(d)):
        raise InputError(f"box{ctx} contains NaN or infinite values: {d.tolist()}")
    a, b, c, alpha, beta, gamma = d
    if min(a, b, c) <= 0:
        raise InputError(
            f"box{ctx} has a zero or negative length {d[:3].tolist()}; the file has no usable "
            "periodic box — give the box, or classify with free boundaries (box=None / --no-pbc)"
        )
    if not all(0 < ang < 180 for ang in (alpha, beta, gamma)):
        raise InputError(f"box{ctx} angles {d[3:].tolist()} must lie strictly between 0 and 180 degrees")
    ca, cb, cg = (math.cos(math.radians(x)) for x in (alpha, beta, gamma))
    sg = math.sin(math.radians(gamma))
    cx = cb
    cy = (ca - cb * cg) / sg
    cz2 = 1.0 - cx * cx - cy * cy
    if cz2 <= 1e-12:
        raise InputError(f"box{ctx} angles {d[3:].tolist()} do not form a cell with positive volume")
    return np.array(
        [[a, 0.0, 0.0], [b * cg, b * sg, 0.0], [c * cx, c * cy, c * math.sqrt(cz2)]], dtype=np.float64
    )


def plane_spacings(H: np.ndarray) -> np.ndarray:
    """Distance between opposite faces of the cell along each cell vector (Å)."""
    volume = abs(np.linalg.det(H))
    return np.array(
        [volume / np.linalg.norm(np.cross(H[1], H[2])),
         volume / np.linalg.norm(np.cross(H[2], H[0])),
         volume / np.linalg.norm(np.cross(H[0], H[1]))]
    )
