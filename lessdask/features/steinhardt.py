"""Steinhardt order parameters over the neighbours inside each atom's adaptive cutoff, and
their neighbour averages.

Y_lm is evaluated without trigonometric calls: with x = z/r and w = (x + iy)/r,
Y_lm = P~_l^m(x) w^m, where P~ is the fully normalised associated Legendre function
without its (1 - x^2)^(m/2) factor, obtained by the standard stable recurrence in l.
Only m >= 0 is summed: |Q_l,-m| = |Q_lm| for real bond vectors.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from lessdask.features.neighbors import (
    COINCIDENT,
    candidates_within,
    gather_buffers,
    gather_capacity,
    gather_neighbour_cells,
)

FOUR_PI = 4.0 * math.pi


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


@njit(cache=True, fastmath=True)
def _atoms_of_cell(
    k0, k1, tsorted, trow, cart_sorted, species_sorted, ng, gx, gy, gz, gs, r2buf,
    radius, eps2, can_widen, n_nearest, padding, l_index, l_list, a_inv, a_tab, pmm,
    gj, to0, out, out_count, out_cutoff, out_incomplete, nbr,
    best, cand, qre, qim, ore, oim, bx, bu, bv, bo, wr, wi, p1, p2,
):
    nl = l_list.shape[0]
    n_slots = nbr.shape[1]
    remap = to0.shape[0] > 0
    lmax = a_tab.shape[0] - 1
    r2max = radius * radius
    for k in range(k0, k1):
        row = trow[k]
        s = tsorted[k]
        xi, yi, zi = cart_sorted[s, 0], cart_sorted[s, 1], cart_sorted[s, 2]
        si = species_sorted[s]
        found = candidates_within(ng, gx, gy, gz, xi, yi, zi, r2max, eps2, r2buf, cand)
        for p in range(n_nearest):
            best[p] = 1e300
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
            if n_all < n_slots:  # the neighbour list, kept for the averaging pass
                j = gj[b]
                nbr[row, n_all] = to0[j] if remap else j
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
    l_index, l_list, a_inv, a_tab, pmm, to0, out, out_count, out_cutoff, out_incomplete, nbr,
):
    """Features of the target atoms (positions ``tsorted`` in the cell-ordered arrays).

    Targets come in runs sharing a cell (``run_start``); each run gathers its neighbourhood
    once. For target k, writes row ``trow[k]`` of ``out[:, :nl]`` (all neighbours) and
    ``out[:, nl:]`` (other-species neighbours), ``out_count``, ``out_cutoff``, and the first
    ``nbr.shape[1]`` neighbours inside the cutoff into ``nbr[trow[k]]`` (positions in this
    cell order, mapped through ``to0`` when it is not empty); sets ``out_incomplete`` when the
    search ``radius`` was too small to decide the adaptive cutoff (the caller widens it). Work
    is split in blocks of runs so that each thread allocates its scratch buffers once.
    """
    n_runs = run_start.shape[0] - 1
    nl = l_list.shape[0]
    lmax = a_tab.shape[0] - 1
    eps2 = COINCIDENT * COINCIDENT
    can_widen = radius < max_cutoff
    capacity, mmax = gather_capacity(start, mrange)
    n_blocks = min(n_runs, 256)
    for blk in prange(n_blocks):
        gx, gy, gz, gs, gj, wrapped, shifts = gather_buffers(capacity, mmax, species_sorted)
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
            ng = gather_neighbour_cells(cell_sorted[tsorted[k0]], cart_sorted, species_sorted, start, ncell,
                                         mrange, H, wrapped, shifts, gx, gy, gz, gs, gj)
            _atoms_of_cell(
                    k0, run_start[run + 1], tsorted, trow, cart_sorted, species_sorted,
                    ng, gx, gy, gz, gs, r2buf,
                    radius, eps2, can_widen, n_nearest, padding, l_index, l_list, a_inv, a_tab, pmm,
                    gj, to0, out, out_count, out_cutoff, out_incomplete, nbr,
                    best, cand, qre, qim, ore, oim, bx, bu, bv, bo, wr, wi, p1, p2,
                )


@njit(parallel=True, cache=True)  # no fastmath: the same rounding as slot_mean
def neighbour_mean(cart_sorted, species_sorted, start, ncell, mrange, H, cell_sorted, tsorted, trow, run_start,
                   cutoff, values, out):
    """Mean of ``values`` over each target atom and its neighbours inside the target's cutoff.

    ``values`` is indexed by position in the cell-ordered arrays; row ``trow[k]`` of ``out``
    receives the mean for target ``tsorted[k]`` with cutoff ``cutoff[trow[k]]`` (neighbours
    chosen exactly as in :func:`steinhardt_features`).
    """
    n_runs = run_start.shape[0] - 1
    nv = values.shape[1]
    eps2 = COINCIDENT * COINCIDENT
    capacity, mmax = gather_capacity(start, mrange)
    n_blocks = min(n_runs, 256)
    for blk in prange(n_blocks):
        gx, gy, gz, gs, gj, wrapped, shifts = gather_buffers(capacity, mmax, species_sorted)
        acc = np.empty(nv)
        r2buf = np.empty(capacity)
        cand = np.empty(capacity, np.int64)
        for run in range(blk * n_runs // n_blocks, (blk + 1) * n_runs // n_blocks):
            k0 = run_start[run]
            ng = gather_neighbour_cells(cell_sorted[tsorted[k0]], cart_sorted, species_sorted, start, ncell,
                                         mrange, H, wrapped, shifts, gx, gy, gz, gs, gj)
            for k in range(k0, run_start[run + 1]):
                row = trow[k]
                s = tsorted[k]
                xi, yi, zi = cart_sorted[s, 0], cart_sorted[s, 1], cart_sorted[s, 2]
                rc2 = cutoff[row] * cutoff[row]
                for f in range(nv):
                    acc[f] = values[s, f]
                found = candidates_within(ng, gx, gy, gz, xi, yi, zi, rc2, eps2, r2buf, cand)
                for q in range(found):
                    j = gj[cand[q]]
                    for f in range(nv):
                        acc[f] += values[j, f]
                count = found + 1
                for f in range(nv):
                    out[row, f] = acc[f] / count


@njit(parallel=True, cache=True)
def slot_mean(rows, values, nbr, count, out):
    """Mean of ``values`` over each atom ``rows[k]`` and the neighbours in its list ``nbr``, into
    ``out[k]``; rows whose list overflowed (``count > nbr.shape[1]``) are left to the caller."""
    n_slots = nbr.shape[1]
    nv = values.shape[1]
    n = rows.shape[0]
    n_blocks = min(n, 256)
    for blk in prange(n_blocks):
        acc = np.empty(nv)
        for k in range(blk * n // n_blocks, (blk + 1) * n // n_blocks):
            i = rows[k]
            c = count[i]
            if c > n_slots:
                continue
            for f in range(nv):
                acc[f] = values[i, f]
            for q in range(c):
                j = nbr[i, q]
                for f in range(nv):
                    acc[f] += values[j, f]
            for f in range(nv):
                out[k, f] = acc[f] / (c + 1)


@njit(cache=True)
def slot_halo(rows, nbr, count, mark):
    """Set ``mark`` for every listed neighbour of the atoms ``rows`` (overflowed lists excepted)."""
    n_slots = nbr.shape[1]
    for k in range(rows.shape[0]):
        i = rows[k]
        c = count[i]
        if c > n_slots:
            continue
        for q in range(c):
            mark[nbr[i, q]] = True
