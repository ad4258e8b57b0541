"""Neighbour finding: periodic wrapping, a cell list in fractional coordinates, and the
gathering of each cell's neighbourhood (every periodic image within reach) into flat buffers.

Orthorhombic and triclinic boxes, boxes smaller than the cutoff and free boundaries (a box
padded around the atoms) are handled the same way. Everything here works on plain arrays;
:mod:`lessdask.features.engine` prepares them and :mod:`lessdask.features.steinhardt` sums
the order parameters over the neighbours found here.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from lessdask.features import scratch

# Bonds shorter than this (Å) have no direction: coincident atoms are not neighbours.
COINCIDENT = 1e-6


class CellList(NamedTuple):
    """Atoms sorted into a cell grid for a search radius (arrays in cell order).

    Attributes
    ----------
    ncell : ndarray, int64, shape (3,)
        Cells along each cell vector.
    mrange : ndarray, int64, shape (3,)
        Cells to search on each side along each vector for the radius.
    start : ndarray, int64, shape (n_cells + 1,)
        Offset of each cell's atoms in the cell-ordered arrays.
    rank : ndarray, int64, shape (n,)
        Position of each atom in cell order.
    cart_sorted : ndarray, float64, shape (3, n)
        Wrapped Cartesian positions in cell order, one row per axis (a cell's atoms are
        contiguous in each row, so a gather copies contiguous runs).
    species_sorted : ndarray, shape (n,)
        Species codes in cell order.
    cell_sorted : ndarray, int32, shape (n, 3)
        Cell coordinates of each atom, in cell order.
    """

    ncell: np.ndarray
    mrange: np.ndarray
    start: np.ndarray
    rank: np.ndarray
    cart_sorted: np.ndarray
    species_sorted: np.ndarray
    cell_sorted: np.ndarray


# Cap on the number of cells relative to atoms, so sparse free-boundary systems stay small.
MAX_CELLS_PER_ATOM = 8


def make_cell_list(pos, lo, H, H_inv, codes, radius: float, owned: list | None = None) -> CellList:
    """Wrap positions into the box and sort the atoms into a cell grid of box ``H`` whose cells
    are at least ``radius`` wide where possible.

    Each atom's fractional coordinates are ``(pos - lo) @ H_inv`` wrapped into [0, 1) (``lo``:
    the origin of a padded box around free boundaries, zeros for a periodic box); the
    cell-ordered Cartesian positions are those fractions times ``H``. ``pos`` is read as it
    is (float32 from MDAnalysis, or float64): no converted or wrapped copy of the frame is
    made. The arrays are taken from :mod:`lessdask.features.scratch` and listed in ``owned``
    (when given), for the caller to give back once the cell list is no longer used.
    """
    from lessdask.features.box import plane_spacings

    n = pos.shape[0]
    spacing = plane_spacings(H)
    ncell = np.maximum(1, np.floor(spacing / radius)).astype(np.int64)
    limit = max(MAX_CELLS_PER_ATOM * n, 27)
    if np.prod(ncell.astype(float)) > limit:
        f = (np.prod(ncell.astype(float)) / limit) ** (1.0 / 3.0)
        ncell = np.maximum(1, np.floor(ncell / f)).astype(np.int64)
    mrange = np.ceil(radius * ncell / spacing - 1e-12).astype(np.int64)
    n_cells = int(np.prod(ncell))
    start = _take(owned, n_cells + 1, np.int64, zero=True)
    rank = _take(owned, n, np.int64)
    cart_sorted = _take(owned, (3, n), np.float64)
    species_sorted = _take(owned, n, codes.dtype)
    cell_sorted = _take(owned, (n, 3), np.int32)
    cell_of = np.empty(n, np.int64)  # counting-sort scratch: freed on return, not kept with the frame
    fill = np.empty(n_cells, np.int64)
    _cell_list(np.ascontiguousarray(pos), np.asarray(lo, np.float64), np.asarray(H, np.float64),
               np.asarray(H_inv, np.float64), codes, ncell, cell_of, fill, start, rank, cart_sorted,
               species_sorted, cell_sorted)
    return CellList(ncell, mrange, start, rank, cart_sorted, species_sorted, cell_sorted)


# Frame-sized arrays are allocated outside the compiled kernels, from the scratch pool
# (docs/design.md, "Frame-sized memory": first-touch page faults cost as much as a third of a
# frame's computing on a VM).
def _take(owned, shape, dtype, zero=False):
    a = scratch.take(shape, dtype, zero)
    if owned is not None:
        owned.append(a)
    return a


@njit(inline="always")
def _fractional(pos, i, lo, H_inv):
    """Atom i's fractional coordinates, wrapped into [0, 1) (in float64 whatever pos's type)."""
    x0 = pos[i, 0] - lo[0]
    x1 = pos[i, 1] - lo[1]
    x2 = pos[i, 2] - lo[2]
    f0 = _wrap01(x0 * H_inv[0, 0] + x1 * H_inv[1, 0] + x2 * H_inv[2, 0])
    f1 = _wrap01(x0 * H_inv[0, 1] + x1 * H_inv[1, 1] + x2 * H_inv[2, 1])
    f2 = _wrap01(x0 * H_inv[0, 2] + x1 * H_inv[1, 2] + x2 * H_inv[2, 2])
    return f0, f1, f2


@njit(inline="always")
def _wrap01(s):
    s -= math.floor(s)
    if s >= 1.0:  # s - floor(s) can round up to exactly 1
        s = 0.0
    return s


@njit(cache=True)
def _cell_list(pos, lo, H, H_inv, species, ncell, cell_of, fill, start, rank, cart_sorted, species_sorted,
               cell_sorted):
    """Counting sort of atoms into cells by their wrapped fractional coordinates; the
    fractions are computed twice (count, then place) rather than stored."""
    n = pos.shape[0]
    n0, n1, n2 = ncell[0], ncell[1], ncell[2]
    for i in range(n):
        f0, f1, f2 = _fractional(pos, i, lo, H_inv)
        cx = min(int(f0 * n0), n0 - 1)
        cy = min(int(f1 * n1), n1 - 1)
        cz = min(int(f2 * n2), n2 - 1)
        c = (cx * n1 + cy) * n2 + cz
        cell_of[i] = c
        start[c + 1] += 1
    for c in range(n0 * n1 * n2):
        start[c + 1] += start[c]
    fill[:] = start[:-1]
    for i in range(n):
        c = cell_of[i]
        r = fill[c]
        fill[c] += 1
        rank[i] = r
        f0, f1, f2 = _fractional(pos, i, lo, H_inv)
        for d in range(3):
            cart_sorted[d, r] = f0 * H[0, d] + f1 * H[1, d] + f2 * H[2, d]
        species_sorted[r] = species[i]
        cell_sorted[r, 0] = c // (n1 * n2)
        cell_sorted[r, 1] = (c // n2) % n1
        cell_sorted[r, 2] = c % n2


@njit(cache=True)
def _axis_images(c, m, n, wrapped, shift):
    """Wrapped cell index and image shift of cells c-m .. c+m along one axis."""
    for o in range(2 * m + 1):
        u = c - m + o
        w = u % n
        wrapped[o] = w
        shift[o] = (u - w) // n


@njit(cache=True)
def gather_neighbour_cells(cell, cart_sorted, species_sorted, start, ncell, mrange, H, wrapped, shifts,
                            gx, gy, gz, gs, gj):
    """Copy the atoms of every (cell, periodic image) within reach of ``cell`` into flat buffers.

    ``gj`` receives each copy's position in the cell-ordered arrays.

    All atoms of one cell share this neighbourhood, so it is gathered once per cell and then
    scanned as contiguous arrays, which the compiler vectorises.
    """
    n1, n2 = ncell[1], ncell[2]
    for d in range(3):
        _axis_images(cell[d], mrange[d], ncell[d], wrapped[d], shifts[d])
    z_first = cell[2] - mrange[2]
    z_contiguous = z_first >= 0 and cell[2] + mrange[2] < n2
    ng = 0
    for ox in range(2 * mrange[0] + 1):
        wx = wrapped[0, ox]
        sx = shifts[0, ox]
        for oy in range(2 * mrange[1] + 1):
            wy = wrapped[1, oy]
            sy = shifts[1, oy]
            column = (wx * n1 + wy) * n2
            if z_contiguous:  # the column's cells are consecutive in cell order: one range, one shift
                c = column + z_first
                ng = _copy_range(start[c], start[c + 2 * mrange[2] + 1], sx, sy, 0, H, cart_sorted,
                                 species_sorted, gx, gy, gz, gs, gj, ng)
                continue
            for oz in range(2 * mrange[2] + 1):
                c = column + wrapped[2, oz]
                ng = _copy_range(start[c], start[c + 1], sx, sy, shifts[2, oz], H, cart_sorted, species_sorted,
                                 gx, gy, gz, gs, gj, ng)
    return ng


@njit(inline="always")
def _copy_range(j0, j1, sx, sy, sz, H, cart_sorted, species_sorted, gx, gy, gz, gs, gj, ng):
    """Append atoms j0..j1-1 (cell order), shifted by the periodic image (sx, sy, sz), at ``ng``;
    returns the new count."""
    shx = sx * H[0, 0] + sy * H[1, 0] + sz * H[2, 0]
    shy = sx * H[0, 1] + sy * H[1, 1] + sz * H[2, 1]
    shz = sx * H[0, 2] + sy * H[1, 2] + sz * H[2, 2]
    for j in range(j0, j1):
        gx[ng] = cart_sorted[0, j] + shx
        gy[ng] = cart_sorted[1, j] + shy
        gz[ng] = cart_sorted[2, j] + shz
        gs[ng] = species_sorted[j]
        gj[ng] = j
        ng += 1
    return ng


@njit(cache=True)
def gather_capacity(start, mrange):
    """Largest neighbourhood a gather can produce (buffer size), and the largest image range."""
    occupancy = 0
    for c in range(start.shape[0] - 1):
        occupancy = max(occupancy, start[c + 1] - start[c])
    n_images = (2 * mrange[0] + 1) * (2 * mrange[1] + 1) * (2 * mrange[2] + 1)
    return max(1, occupancy * n_images), max(mrange[0], max(mrange[1], mrange[2]))


@njit(cache=True)
def gather_buffers(capacity, mmax, species_sorted):
    """Per-thread scratch of :func:`gather_neighbour_cells`: gx, gy, gz, gs, gj, wrapped, shifts."""
    return (np.empty(capacity), np.empty(capacity), np.empty(capacity),
            np.empty(capacity, species_sorted.dtype), np.empty(capacity, np.int64),
            np.empty((3, 2 * mmax + 1), np.int64), np.empty((3, 2 * mmax + 1), np.int64))


@njit(cache=True, fastmath=True)
def candidates_within(ng, gx, gy, gz, xi, yi, zi, r2max, eps2, r2buf, cand):
    """Squared distances from (xi, yi, zi) to the gathered neighbourhood into ``r2buf``, and the
    buffer positions of those within ``r2max`` (and beyond ``eps2``: not coincident) into
    ``cand``; returns how many. Vectorised distance loop, then a branch-free compaction."""
    for b in range(ng):
        dx = gx[b] - xi
        dy = gy[b] - yi
        dz = gz[b] - zi
        r2buf[b] = dx * dx + dy * dy + dz * dz
    found = 0
    for b in range(ng):
        r2 = r2buf[b]
        cand[found] = b
        found += (r2 <= r2max) & (r2 >= eps2)
    return found


@njit(parallel=True, cache=True, fastmath=True)
def mark_neighbours(cart_sorted, species_sorted, start, ncell, mrange, H, cell_sorted, tsorted, trow, run_start,
                    cutoff, mark):
    """Set ``mark[j]`` for every neighbour j (cell-order position) of each target atom inside the
    target's cutoff ``cutoff[trow[k]]`` -- the halo whose own q_l a chunk's averages need.
    Neighbours are chosen exactly as in the Steinhardt and averaging kernels."""
    n_runs = run_start.shape[0] - 1
    eps2 = COINCIDENT * COINCIDENT
    capacity, mmax = gather_capacity(start, mrange)
    n_blocks = min(n_runs, 256)
    for blk in prange(n_blocks):
        gx, gy, gz, gs, gj, wrapped, shifts = gather_buffers(capacity, mmax, species_sorted)
        r2buf = np.empty(capacity)
        cand = np.empty(capacity, np.int64)
        for run in range(blk * n_runs // n_blocks, (blk + 1) * n_runs // n_blocks):
            k0 = run_start[run]
            ng = gather_neighbour_cells(cell_sorted[tsorted[k0]], cart_sorted, species_sorted, start, ncell,
                                        mrange, H, wrapped, shifts, gx, gy, gz, gs, gj)
            for k in range(k0, run_start[run + 1]):
                s = tsorted[k]
                rc2 = cutoff[trow[k]] * cutoff[trow[k]]
                found = candidates_within(ng, gx, gy, gz, cart_sorted[0, s], cart_sorted[1, s], cart_sorted[2, s],
                                          rc2, eps2, r2buf, cand)
                for q in range(found):
                    mark[gj[cand[q]]] = True


