"""Compiled kernels: cell list, adaptive-cutoff neighbour selection, Steinhardt sums.

Everything here works on plain arrays; :mod:`lessdask.features.engine` prepares them.
Y_lm is evaluated without trigonometric calls: with x = z/r and w = (x + iy)/r,
Y_lm = P~_l^m(x) w^m, where P~ is the fully normalised associated Legendre function
without its (1 - x^2)^(m/2) factor, obtained by the standard stable recurrence in l.
Only m >= 0 is summed: |Q_l,-m| = |Q_lm| for real bond vectors.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

FOUR_PI = 4.0 * math.pi
# Bonds shorter than this (Å) have no direction: coincident atoms are not neighbours.
COINCIDENT = 1e-6


def legendre_tables(lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Recurrence coefficients: ``a[l, m]`` and ``1 / a[l, m]`` (0 where l == m), and P~_m^m factors."""
    a = np.zeros((lmax + 1, lmax + 1))
    inv_a = np.zeros((lmax + 1, lmax + 1))
    for m in range(lmax + 1):
        for l in range(m + 1, lmax + 1):
            a[l, m] = math.sqrt((4.0 * l * l - 1.0) / (l * l - m * m))
            inv_a[l, m] = 1.0 / a[l, m]
    pmm = np.zeros(lmax + 1)
    pmm[0] = 1.0 / math.sqrt(FOUR_PI)
    for m in range(1, lmax + 1):
        pmm[m] = -math.sqrt(1.0 + 1.0 / (2.0 * m)) * pmm[m - 1]
    return a, inv_a, pmm


@njit(cache=True)
def wrap_into_box(pos, H, H_inv):
    """Fractional coordinates in [0, 1) and the wrapped Cartesian positions."""
    n = pos.shape[0]
    frac = np.empty((n, 3))
    cart = np.empty((n, 3))
    for i in range(n):
        for d in range(3):
            s = pos[i, 0] * H_inv[0, d] + pos[i, 1] * H_inv[1, d] + pos[i, 2] * H_inv[2, d]
            s -= math.floor(s)
            if s >= 1.0:  # s - floor(s) can round up to exactly 1
                s = 0.0
            frac[i, d] = s
        for d in range(3):
            cart[i, d] = frac[i, 0] * H[0, d] + frac[i, 1] * H[1, d] + frac[i, 2] * H[2, d]
    return frac, cart


@njit(cache=True)
def build_cell_list(frac, cart, species, ncell):
    """Counting sort of atoms into cells by fractional coordinates in [0, 1).

    Returns the cell start offsets, each atom's rank in cell order, and the positions,
    species and cell coordinates in cell order (contiguous per cell, for locality).
    """
    n = frac.shape[0]
    n0, n1, n2 = ncell[0], ncell[1], ncell[2]
    start = np.zeros(n0 * n1 * n2 + 1, np.int64)
    cell_of = np.empty(n, np.int64)
    for i in range(n):
        cx = min(int(frac[i, 0] * n0), n0 - 1)
        cy = min(int(frac[i, 1] * n1), n1 - 1)
        cz = min(int(frac[i, 2] * n2), n2 - 1)
        c = (cx * n1 + cy) * n2 + cz
        cell_of[i] = c
        start[c + 1] += 1
    for c in range(n0 * n1 * n2):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    rank = np.empty(n, np.int64)
    cart_sorted = np.empty((n, 3))
    species_sorted = np.empty(n, species.dtype)
    cell_sorted = np.empty((n, 3), np.int64)
    for i in range(n):
        c = cell_of[i]
        r = fill[c]
        fill[c] += 1
        rank[i] = r
        cart_sorted[r, 0] = cart[i, 0]
        cart_sorted[r, 1] = cart[i, 1]
        cart_sorted[r, 2] = cart[i, 2]
        species_sorted[r] = species[i]
        cell_sorted[r, 0] = c // (n1 * n2)
        cell_sorted[r, 1] = (c // n2) % n1
        cell_sorted[r, 2] = c % n2
    return start, rank, cart_sorted, species_sorted, cell_sorted


@njit(cache=True)
def targets_in_cell_order(rank, rows_atoms, n):
    """Sorted-array positions of the target atoms in ascending (cell) order, and their output rows."""
    row_of = np.full(n, -1, np.int64)
    for r in range(rows_atoms.shape[0]):
        row_of[rank[rows_atoms[r]]] = r
    m = 0
    for s in range(n):
        if row_of[s] >= 0:
            m += 1
    tsorted = np.empty(m, np.int64)
    trow = np.empty(m, np.int64)
    m = 0
    for s in range(n):
        if row_of[s] >= 0:
            tsorted[m] = s
            trow[m] = row_of[s]
            m += 1
    return tsorted, trow


@njit(cache=True)
def _axis_images(c, m, n, wrapped, shift):
    """Wrapped cell index and image shift of cells c-m .. c+m along one axis."""
    for o in range(2 * m + 1):
        u = c - m + o
        w = u % n
        wrapped[o] = w
        shift[o] = (u - w) // n


@njit(cache=True)
def _gather_neighbour_cells(cell, cart_sorted, species_sorted, start, ncell, mrange, H, wrapped, shifts,
                            gx, gy, gz, gs, gj):
    """Copy the atoms of every (cell, periodic image) within reach of ``cell`` into flat buffers.

    ``gj`` receives each copy's position in the cell-ordered arrays.

    All atoms of one cell share this neighbourhood, so it is gathered once per cell and then
    scanned as contiguous arrays, which the compiler vectorises.
    """
    n1, n2 = ncell[1], ncell[2]
    for d in range(3):
        _axis_images(cell[d], mrange[d], ncell[d], wrapped[d], shifts[d])
    ng = 0
    for ox in range(2 * mrange[0] + 1):
        wx = wrapped[0, ox]
        sx = shifts[0, ox]
        for oy in range(2 * mrange[1] + 1):
            wy = wrapped[1, oy]
            sy = shifts[1, oy]
            for oz in range(2 * mrange[2] + 1):
                wz = wrapped[2, oz]
                sz = shifts[2, oz]
                shx = sx * H[0, 0] + sy * H[1, 0] + sz * H[2, 0]
                shy = sx * H[0, 1] + sy * H[1, 1] + sz * H[2, 1]
                shz = sx * H[0, 2] + sy * H[1, 2] + sz * H[2, 2]
                c = (wx * n1 + wy) * n2 + wz
                for j in range(start[c], start[c + 1]):
                    gx[ng] = cart_sorted[j, 0] + shx
                    gy[ng] = cart_sorted[j, 1] + shy
                    gz[ng] = cart_sorted[j, 2] + shz
                    gs[ng] = species_sorted[j]
                    gj[ng] = j
                    ng += 1
    return ng


@njit(cache=True)
def _gather_capacity(start, mrange):
    """Largest neighbourhood a gather can produce (buffer size), and the largest image range."""
    occupancy = 0
    for c in range(start.shape[0] - 1):
        occupancy = max(occupancy, start[c + 1] - start[c])
    n_images = (2 * mrange[0] + 1) * (2 * mrange[1] + 1) * (2 * mrange[2] + 1)
    return max(1, occupancy * n_images), max(mrange[0], max(mrange[1], mrange[2]))


@njit(cache=True)
def _gather_buffers(capacity, mmax, species_sorted):
    """Per-thread scratch of :func:`_gather_neighbour_cells`: gx, gy, gz, gs, gj, wrapped, shifts."""
    return (np.empty(capacity), np.empty(capacity), np.empty(capacity),
            np.empty(capacity, species_sorted.dtype), np.empty(capacity, np.int64),
            np.empty((3, 2 * mmax + 1), np.int64), np.empty((3, 2 * mmax + 1), np.int64))


@njit(cache=True, fastmath=True)
def _atoms_of_cell(
    k0, k1, tsorted, trow, cart_sorted, species_sorted, ng, gx, gy, gz, gs, r2buf,
    radius, eps2, can_widen, n_nearest, padding, l_index, l_list, a_inv, a_tab, pmm,
    out, out_count, out_cutoff, out_incomplete,
    best, cand, qre, qim, ore, oim, bx, bu, bv, bo, wr, wi, p1, p2,
):
    nl = l_list.shape[0]
    lmax = a_tab.shape[0] - 1
    r2max = radius * radius
    for k in range(k0, k1):
        row = trow[k]
        s = tsorted[k]
        xi, yi, zi = cart_sorted[s, 0], cart_sorted[s, 1], cart_sorted[s, 2]
        si = species_sorted[s]
        for b in range(ng):  # vectorised: squared distances to the whole neighbourhood
            dx = gx[b] - xi
            dy = gy[b] - yi
            dz = gz[b] - zi
            r2buf[b] = dx * dx + dy * dy + dz * dz
        for p in range(n_nearest):
            best[p] = 1e300
        found = 0
        for b in range(ng):  # branch-free compaction of the candidates inside the radius
            r2 = r2buf[b]
            cand[found] = b
            found += (r2 <= r2max) & (r2 >= eps2)
        for q in range(found):
            r2 = r2buf[cand[q]]
            if r2 < best[n_nearest - 1]:
                p = n_nearest - 1
                while p > 0 and best[p - 1] > r2:
                    best[p] = best[p - 1]
                    p -= 1
                best[p] = r2
        kk = min(found, n_nearest)
        for f in range(out.shape[1]):
            out[row, f] = 0.0
        out_count[row] = 0
        out_cutoff[row] = 0.0
        out_incomplete[row] = False
        if kk == 0:
            out_incomplete[row] = can_widen
            continue
        mean = 0.0
        for p in range(kk):
            mean += math.sqrt(best[p])
        rc = padding * mean / kk
        if can_widen and (found < n_nearest or rc > radius):
            out_incomplete[row] = True
            continue
        if rc > radius:
            rc = radius
        out_cutoff[row] = rc
        rc2 = rc * rc
        # the bonds inside the adaptive cutoff as unit vectors (structure of arrays)
        n_all = 0
        n_other = 0
        for q in range(found):
            b = cand[q]
            r2 = r2buf[b]
            if r2 > rc2:
                continue
            inv = 1.0 / math.sqrt(r2)
            bx[n_all] = (gz[b] - zi) * inv
            bu[n_all] = (gx[b] - xi) * inv
            bv[n_all] = (gy[b] - yi) * inv
            if gs[b] != si:
                bo[n_all] = 1.0
                n_other += 1
            else:
                bo[n_all] = 0.0
            wr[n_all] = 1.0
            wi[n_all] = 0.0
            n_all += 1
        # Y_lm = P~_lm(x) (u + iv)^m, summed over bonds; loops ordered so the bond loop vectorises
        for m in range(lmax + 1):
            if m > 0:
                for b in range(n_all):
                    t = wr[b] * bu[b] - wi[b] * bv[b]
                    wi[b] = wr[b] * bv[b] + wi[b] * bu[b]
                    wr[b] = t
            for b in range(n_all):
                p1[b] = pmm[m]
                p2[b] = 0.0
            for l in range(m, lmax + 1):
                if l > m:
                    al = a_tab[l, m]
                    ai = a_inv[l - 1, m]
                    for b in range(n_all):
                        p = al * (bx[b] * p1[b] - p2[b] * ai)
                        p2[b] = p1[b]
                        p1[b] = p
                li = l_index[l]
                if li < 0:
                    continue
                s_re = 0.0
                s_im = 0.0
                for b in range(n_all):
                    s_re += p1[b] * wr[b]
                    s_im += p1[b] * wi[b]
                qre[li, m] = s_re
                qim[li, m] = s_im
                if n_other > 0:
                    o_re = 0.0
                    o_im = 0.0
                    for b in range(n_all):
                        o_re += p1[b] * wr[b] * bo[b]
                        o_im += p1[b] * wi[b] * bo[b]
                    ore[li, m] = o_re
                    oim[li, m] = o_im
        out_count[row] = n_all
        for li in range(nl):
            l = l_list[li]
            s_all = qre[li, 0] * qre[li, 0] + qim[li, 0] * qim[li, 0]
            for m in range(1, l + 1):
                s_all += 2.0 * (qre[li, m] * qre[li, m] + qim[li, m] * qim[li, m])
            norm = FOUR_PI / (2.0 * l + 1.0)
            out[row, li] = math.sqrt(norm * s_all) / n_all
            if n_other > 0:
                s_oth = ore[li, 0] * ore[li, 0] + oim[li, 0] * oim[li, 0]
                for m in range(1, l + 1):
                    s_oth += 2.0 * (ore[li, m] * ore[li, m] + oim[li, m] * oim[li, m])
                out[row, nl + li] = math.sqrt(norm * s_oth) / n_other


@njit(parallel=True, cache=True)
def steinhardt_features(
    cart_sorted, species_sorted, start, ncell, mrange, H, cell_sorted,
    tsorted, trow, run_start, radius, max_cutoff, n_nearest, padding,
    l_index, l_list, a_inv, a_tab, pmm, out, out_count, out_cutoff, out_incomplete,
):
    """Features of the target atoms (positions ``tsorted`` in the cell-ordered arrays).

    Targets come in runs sharing a cell (``run_start``); each run gathers its neighbourhood
    once. For target k, writes row ``trow[k]`` of ``out[:, :nl]`` (all neighbours) and
    ``out[:, nl:]`` (other-species neighbours), ``out_count``, ``out_cutoff``; sets
    ``out_incomplete`` when the search ``radius`` was too small to decide the adaptive
    cutoff (the caller widens it). Work is split in blocks of runs so that each thread
    allocates its scratch buffers once.
    """
    n_runs = run_start.shape[0] - 1
    nl = l_list.shape[0]
    lmax = a_tab.shape[0] - 1
    eps2 = COINCIDENT * COINCIDENT
    can_widen = radius < max_cutoff
    capacity, mmax = _gather_capacity(start, mrange)
    n_blocks = min(n_runs, 256)
    for blk in prange(n_blocks):
        gx, gy, gz, gs, gj, wrapped, shifts = _gather_buffers(capacity, mmax, species_sorted)
        r2buf = np.empty(capacity)
        best = np.empty(n_nearest)
        cand = np.empty(capacity, np.int64)
        qre = np.empty((nl, lmax + 1))
        qim = np.empty((nl, lmax + 1))
        ore = np.empty((nl, lmax + 1))
        oim = np.empty((nl, lmax + 1))
        bx = np.empty(capacity)
        bu = np.empty(capacity)
        bv = np.empty(capacity)
        bo = np.empty(capacity)
        wr = np.empty(capacity)
        wi = np.empty(capacity)
        p1 = np.empty(capacity)
        p2 = np.empty(capacity)
        for run in range(blk * n_runs // n_blocks, (blk + 1) * n_runs // n_blocks):
            k0 = run_start[run]
            ng = _gather_neighbour_cells(cell_sorted[tsorted[k0]], cart_sorted, species_sorted, start, ncell,
                                         mrange, H, wrapped, shifts, gx, gy, gz, gs, gj)
            _atoms_of_cell(
                    k0, run_start[run + 1], tsorted, trow, cart_sorted, species_sorted,
                    ng, gx, gy, gz, gs, r2buf,
                    radius, eps2, can_widen, n_nearest, padding, l_index, l_list, a_inv, a_tab, pmm,
                    out, out_count, out_cutoff, out_incomplete,
                    best, cand, qre, qim, ore, oim, bx, bu, bv, bo, wr, wi, p1, p2,
                )


@njit(parallel=True, cache=True, fastmath=True)
def neighbour_mean(cart_sorted, species_sorted, start, ncell, mrange, H, cell_sorted, tsorted, trow, run_start,
                   cutoff, values, out, mark):
    """Mean of ``values`` over each target atom and its neighbours inside the target's cutoff.

    ``values`` is indexed by position in the cell-ordered arrays; row ``trow[k]`` of ``out``
    receives the mean for target ``tsorted[k]`` with cutoff ``cutoff[trow[k]]`` (neighbours
    chosen exactly as in :func:`steinhardt_features`). When ``mark`` is not empty, every
    neighbour's entry is set to True instead (the halo a chunk needs), and ``out`` is untouched.
    """
    n_runs = run_start.shape[0] - 1
    nv = values.shape[1]
    marking = mark.shape[0] > 0
    eps2 = COINCIDENT * COINCIDENT
    capacity, mmax = _gather_capacity(start, mrange)
    n_blocks = min(n_runs, 256)
    for blk in prange(n_blocks):
        gx, gy, gz, gs, gj, wrapped, shifts = _gather_buffers(capacity, mmax, species_sorted)
        acc = np.empty(nv)
        r2buf = np.empty(capacity)
        cand = np.empty(capacity, np.int64)
        for run in range(blk * n_runs // n_blocks, (blk + 1) * n_runs // n_blocks):
            k0 = run_start[run]
            ng = _gather_neighbour_cells(cell_sorted[tsorted[k0]], cart_sorted, species_sorted, start, ncell,
                                         mrange, H, wrapped, shifts, gx, gy, gz, gs, gj)
            for k in range(k0, run_start[run + 1]):
                row = trow[k]
                s = tsorted[k]
                xi, yi, zi = cart_sorted[s, 0], cart_sorted[s, 1], cart_sorted[s, 2]
                rc2 = cutoff[row] * cutoff[row]
                for f in range(nv):
                    acc[f] = values[s, f]
                for b in range(ng):  # vectorised, then a branch-free compaction, as in _atoms_of_cell
                    dx = gx[b] - xi
                    dy = gy[b] - yi
                    dz = gz[b] - zi
                    r2buf[b] = dx * dx + dy * dy + dz * dz
                found = 0
                for b in range(ng):
                    r2 = r2buf[b]
                    cand[found] = gj[b]
                    found += (r2 <= rc2) & (r2 >= eps2)
                if marking:
                    for q in range(found):
                        mark[cand[q]] = True
                    continue
                for q in range(found):
                    j = cand[q]
                    for f in range(nv):
                        acc[f] += values[j, f]
                count = found + 1
                for f in range(nv):
                    out[row, f] = acc[f] / count
