"""Steinhardt order parameters over the neighbours inside each atom's adaptive cutoff, and
their neighbour averages.

Y_lm is evaluated without trigonometric calls: with x = z/r and w = (x + iy)/r,
Y_lm = P~_l^m(x) w^m, where P~ is the fully normalised associated Legendre function
without its (1 - x^2)^(m/2) factor, obtained by the standard stable recurrence in l.
Only m >= 0 is summed: |Q_l,-m| = |Q_lm| for real bond vectors.

For the default l (3, 4, 6, 8, 10, 12) and up to PAIR_MAX bonds, q_l is summed over bond
pairs instead (the addition theorem): sum_m |sum_b Y_lm(b)|^2 = (2l + 1)/(4 pi) sum_{b,c}
P_l(b . c), so (N q_l)^2 = N + 2 sum_{b<c} P_l(b . c). One Legendre recurrence per pair, in
registers, over a long contiguous loop, replaces 91 (l, m) loops over about 12 bonds: 1.3x
faster on fcc, 2x on rock salt (both sums in one pass); equal to the Y_lm path to rounding
(docs/design.md, "Feature kernel").
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


#: Bonds up to which q_l are summed over bond pairs (addition theorem) rather than through Y_lm.
PAIR_MAX = 24
#: The l the pair sums are written out for (the default feature set).
PAIR_L = (3, 4, 6, 8, 10, 12)


@njit(inline="always", fastmath=True)
def _legendre_pair_l(x):
    """P_l(x) for l in PAIR_L, by Bonnet's recurrence l P_l = (2l - 1) x P_(l-1) - (l - 1) P_(l-2)."""
    p1 = x
    p2 = 3.0 / 2.0 * x * p1 - 1.0 / 2.0
    p3 = 5.0 / 3.0 * x * p2 - 2.0 / 3.0 * p1
    p4 = 7.0 / 4.0 * x * p3 - 3.0 / 4.0 * p2
    p5 = 9.0 / 5.0 * x * p4 - 4.0 / 5.0 * p3
    p6 = 11.0 / 6.0 * x * p5 - 5.0 / 6.0 * p4
    p7 = 13.0 / 7.0 * x * p6 - 6.0 / 7.0 * p5
    p8 = 15.0 / 8.0 * x * p7 - 7.0 / 8.0 * p6
    p9 = 17.0 / 9.0 * x * p8 - 8.0 / 9.0 * p7
    p10 = 19.0 / 10.0 * x * p9 - 9.0 / 10.0 * p8
    p11 = 21.0 / 11.0 * x * p10 - 10.0 / 11.0 * p9
    p12 = 23.0 / 12.0 * x * p11 - 11.0 / 12.0 * p10
    return p3, p4, p6, p8, p10, p12


@njit(cache=True, fastmath=True)
def _pair_legendre_sums(npair, cs, sums):
    """Sum over bond pairs of P_l(cos angle), for l in PAIR_L, into ``sums[0]`` (in registers:
    the loop vectorises over pairs)."""
    a3 = a4 = a6 = a8 = a10 = a12 = 0.0
    for p in range(npair):
        p3, p4, p6, p8, p10, p12 = _legendre_pair_l(cs[p])
        a3 += p3
        a4 += p4
        a6 += p6
        a8 += p8
        a10 += p10
        a12 += p12
    sums[0, 0], sums[0, 1], sums[0, 2], sums[0, 3], sums[0, 4], sums[0, 5] = a3, a4, a6, a8, a10, a12


@njit(cache=True, fastmath=True)
def _pair_legendre_sums_other(npair, cs, wo, sums):
    """As :func:`_pair_legendre_sums`, and weighted by ``wo`` (1 for a pair of other-species
    bonds, else 0) into ``sums[1]``."""
    a3 = a4 = a6 = a8 = a10 = a12 = 0.0
    o3 = o4 = o6 = o8 = o10 = o12 = 0.0
    for p in range(npair):
        p3, p4, p6, p8, p10, p12 = _legendre_pair_l(cs[p])
        w = wo[p]
        a3 += p3
        a4 += p4
        a6 += p6
        a8 += p8
        a10 += p10
        a12 += p12
        o3 += p3 * w
        o4 += p4 * w
        o6 += p6 * w
        o8 += p8 * w
        o10 += p10 * w
        o12 += p12 * w
    sums[0, 0], sums[0, 1], sums[0, 2], sums[0, 3], sums[0, 4], sums[0, 5] = a3, a4, a6, a8, a10, a12
    sums[1, 0], sums[1, 1], sums[1, 2], sums[1, 3], sums[1, 4], sums[1, 5] = o3, o4, o6, o8, o10, o12


@njit(cache=True, fastmath=True)
def _pair_sums(n_all, n_other, bx, bu, bv, bo, cs, wo, sums, out, row, nl):
    """q_l of one atom from its bond unit vectors: (N q_l)^2 = N + 2 sum over bond pairs b < c of
    P_l(b . c), the addition theorem."""
    npair = 0
    for b in range(n_all):
        x, u, v, o = bx[b], bu[b], bv[b], bo[b]
        for c in range(b + 1, n_all):
            cs[npair + c - b - 1] = x * bx[c] + u * bu[c] + v * bv[c]
            wo[npair + c - b - 1] = o * bo[c]
        npair += n_all - b - 1
    if n_other > 0:
        _pair_legendre_sums_other(npair, cs, wo, sums)
    else:
        _pair_legendre_sums(npair, cs, sums)
    for li in range(nl):
        out[row, li] = math.sqrt(max(n_all + 2.0 * sums[0, li], 0.0)) / n_all
        if n_other > 0:
            out[row, nl + li] = math.sqrt(max(n_other + 2.0 * sums[1, li], 0.0)) / n_other


@njit(cache=True, fastmath=True)
def _atoms_of_cell(
    k0, k1, tsorted, trow, cart_sorted, species_sorted, ng, gx, gy, gz, gs, r2buf,
    radius, eps2, can_widen, n_nearest, padding, l_index, l_list, a_inv, a_tab, pmm,
    gj, to0, out, out_count, out_cutoff, out_incomplete, nbr,
    best, cand, sel, cs, wo, sums, pair_ok, qre, qim, ore, oim, bx, bu, bv, bo, wr, wi, p1, p2,
):
    nl = l_list.shape[0]
    n_slots = nbr.shape[1]
    remap = to0.shape[0] > 0
    lmax = a_tab.shape[0] - 1
    r2max = radius * radius
    for k in range(k0, k1):
        row = trow[k]
        s = tsorted[k]
        xi, yi, zi = cart_sorted[0, s], cart_sorted[1, s], cart_sorted[2, s]
        si = species_sorted[s]
        found = candidates_within(ng, gx, gy, gz, xi, yi, zi, r2max, eps2, r2buf, cand)
        for p in range(n_nearest):
            best[p] = 1e300
        for q in range(found):  # branch-free insertion into the sorted n_nearest smallest
            r2 = r2buf[cand[q]]
            for p in range(n_nearest - 1, 0, -1):
                best[p] = min(best[p], max(best[p - 1], r2))
            best[0] = min(best[0], r2)
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
        # the bonds inside the adaptive cutoff: branch-free compaction, then unit vectors in
        # contiguous arrays (structure of arrays) so the arithmetic vectorises
        n_all = 0
        for q in range(found):
            b = cand[q]
            sel[n_all] = b
            n_all += r2buf[b] <= rc2
        n_other = 0
        for t in range(n_all):
            b = sel[t]
            inv = 1.0 / math.sqrt(r2buf[b])
            bx[t] = (gz[b] - zi) * inv
            bu[t] = (gx[b] - xi) * inv
            bv[t] = (gy[b] - yi) * inv
            o = gs[b] != si
            bo[t] = 1.0 if o else 0.0
            n_other += o
        for t in range(min(n_all, n_slots)):  # the neighbour list, kept for the averaging pass
            j = gj[sel[t]]
            nbr[row, t] = to0[j] if remap else j
        if pair_ok and n_all <= PAIR_MAX:
            _pair_sums(n_all, n_other, bx, bu, bv, bo, cs, wo, sums, out, row, nl)
            out_count[row] = n_all
            continue
        # Y_lm = P~_lm(x) (u + iv)^m, summed over bonds; loops ordered so the bond loop vectorises
        for b in range(n_all):
            wr[b] = 1.0
            wi[b] = 0.0
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
    pair_ok = nl == len(PAIR_L)
    if pair_ok:
        for li in range(nl):
            pair_ok = pair_ok and l_list[li] == PAIR_L[li]
    n_blocks = min(n_runs, 256)
    for blk in prange(n_blocks):
        gx, gy, gz, gs, gj, wrapped, shifts = gather_buffers(capacity, mmax, species_sorted)
        r2buf = np.empty(capacity)
        best = np.empty(n_nearest)
        cand = np.empty(capacity, np.int64)
        sel = np.empty(capacity, np.int64)
        npair = PAIR_MAX * (PAIR_MAX - 1) // 2
        cs = np.empty(npair)
        wo = np.empty(npair)
        sums = np.empty((2, nl))
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
                    best, cand, sel, cs, wo, sums, pair_ok, qre, qim, ore, oim, bx, bu, bv, bo, wr, wi, p1, p2,
                )


@njit(parallel=True, cache=True)  # no fastmath: the same rounding as slot_features
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
                xi, yi, zi = cart_sorted[0, s], cart_sorted[1, s], cart_sorted[2, s]
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
def slot_features(rows, values, nbr, count, out, average):
    """Features of the atoms ``rows`` into ``out[k]``: ``values[rows[k]]``, then (with ``average``)
    their mean over the atom and the neighbours in its list ``nbr``. Rows whose list overflowed
    (``count > nbr.shape[1]``) get only their own values; the caller averages them."""
    n_slots = nbr.shape[1]
    nv = values.shape[1]
    n = rows.shape[0]
    n_blocks = min(n, 256)
    for blk in prange(n_blocks):
        acc = np.empty(nv)
        for k in range(blk * n // n_blocks, (blk + 1) * n // n_blocks):
            i = rows[k]
            for f in range(nv):
                acc[f] = values[i, f]
                out[k, f] = values[i, f]
            c = count[i]
            if not average or c > n_slots:
                continue
            for q in range(c):
                j = nbr[i, q]
                for f in range(nv):
                    acc[f] += values[j, f]
            for f in range(nv):
                out[k, nv + f] = acc[f] / (c + 1)


@njit(cache=True)
def slot_halo(rows, nbr, count, done_round, out):
    """Listed neighbours of the atoms ``rows`` whose q_l are not computed yet (``done_round < 0``)
    into ``out`` (with repeats; overflowed lists excepted); returns how many."""
    n_slots = nbr.shape[1]
    m = 0
    for k in range(rows.shape[0]):
        i = rows[k]
        c = count[i]
        if c > n_slots:
            continue
        for q in range(c):
            j = nbr[i, q]
            out[m] = j
            m += done_round[j] < 0
    return m


@njit(cache=True)
def cell_mates(rows, cell_sorted, start, ncell, done_round, out):
    """Every atom not computed yet (``done_round < 0``) in the cells of the atoms ``rows``
    (ascending positions in the cell order of ``start``) into ``out``, ascending; returns how many.

    Computing whole cells at once gathers each cell's neighbourhood once per frame: a chunk or
    halo that splits a cell would gather it again for the cell's other atoms.
    """
    n1, n2 = ncell[1], ncell[2]
    m = 0
    last = -1
    for k in range(rows.shape[0]):
        i = rows[k]
        c = (cell_sorted[i, 0] * n1 + cell_sorted[i, 1]) * n2 + cell_sorted[i, 2]
        if c == last:
            continue
        last = c
        for j in range(start[c], start[c + 1]):
            if done_round[j] < 0:
                out[m] = j
                m += 1
    return m
