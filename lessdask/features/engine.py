"""The public feature entry point: positions, box, species -> Steinhardt features per atom (24 by default)."""

from __future__ import annotations

import math

import numpy as np

from lessdask.errors import InputError
from lessdask.features.box import box_matrix
from lessdask.features.neighbors import CellList, make_cell_list, mark_neighbours, runs_in_cell_order, wrap_into_box
from lessdask.features.settings import DEFAULT_SETTINGS, FeatureSettings
from lessdask.features.steinhardt import legendre_tables, neighbour_mean, steinhardt_features


def species_codes(species, n: int) -> np.ndarray:
    """Integer codes (int32) for species given as ints, strings or None (one species)."""
    if species is None:
        return np.zeros(n, np.int32)
    s = np.asarray(species)
    if s.shape != (n,):
        raise InputError(f"species must have one entry per atom ({n}), got shape {s.shape}")
    if s.dtype.kind in "iu":
        return s.astype(np.int32)
    _, codes = np.unique(s.astype(str), return_inverse=True)
    return codes.astype(np.int32)


def _check_positions(positions, where: str) -> np.ndarray:
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise InputError(f"positions{where} must have shape (n_atoms, 3), got {pos.shape}")
    bad = ~np.isfinite(pos).all(axis=1)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise InputError(
            f"positions{where}: {idx.size} atom(s) have NaN or infinite coordinates, "
            f"first at atom index {idx[0]} ({pos[idx[0]].tolist()}); fix or drop these atoms"
        )
    return pos


def compute_features(positions, box, species=None, settings: FeatureSettings | None = None,
                     atoms=None, return_cutoff: bool = False, where: str = "",
                     dtype=np.float32):
    """Steinhardt bond-orientational features of atoms, with the LESS adaptive cutoff.

    Parameters
    ----------
    positions : array_like, shape (n, 3)
        Cartesian coordinates (Å). Atoms outside a periodic box are wrapped.
    box : array_like of 6 floats or None
        MDAnalysis ``dimensions`` ``[a, b, c, alpha, beta, gamma]`` (Å, degrees) of a
        periodic box, orthorhombic or triclinic; ``None`` for free boundaries.
    species : array_like, shape (n,), optional
        Species as ints or strings; ``None`` means a single species.
    settings : FeatureSettings, optional
        N, P, l list and search bound; defaults to :class:`FeatureSettings()`.
    atoms : array_like of int, optional
        Indices of the atoms to featurise (all by default). Neighbours are always searched
        among all atoms, so chunks of a frame give exactly the unchunked features.
    return_cutoff : bool
        Also return each atom's adaptive cutoff (Å).
    where : str
        Context for error messages (file and frame).
    dtype : numpy dtype
        float32 (default, what models and stores use) or float64. Sums are always
        accumulated in double precision.

    Returns
    -------
    features : ndarray, ``dtype``, shape (k, settings.n_features)
        ``q_l`` over all neighbours, then over neighbours of another species (zero when
        there are none); with ``settings.average`` (default) then the same twelve averaged
        over the atom and its neighbours inside its cutoff. For a chunk (``atoms``), the
        neighbours' own q_l are computed too, so the averages equal the unchunked ones.
    n_neighbors : ndarray, int32, shape (k,)
        Number of neighbours inside each atom's cutoff (0 for an isolated atom, whose
        features are all zero).
    cutoff : ndarray, float64, shape (k,)
        Only with ``return_cutoff``.

    Examples
    --------
    >>> from lessdask.reference import build_crystal
    >>> c = build_crystal("fcc", 3)
    >>> X, n = compute_features(c.positions, c.dimensions)
    >>> round(float(X[0, 2]), 5), int(n[0])   # q6 of perfect fcc, 12 neighbours
    (0.57452, 12)
    """
    s = settings or DEFAULT_SETTINGS
    ctx = f" ({where})" if where else ""
    pos = _check_positions(positions, ctx)
    n = pos.shape[0]
    codes = species_codes(species, n)
    if atoms is None:
        targets = np.arange(n, dtype=np.int64)
    else:
        targets = np.asarray(atoms, dtype=np.int64).reshape(-1)
        if targets.size and (targets.min() < 0 or targets.max() >= n):
            raise InputError(f"atom indices{ctx} must lie in [0, {n}), got {targets.min()}..{targets.max()}")
        # O(n) duplicate check (not a sort): this runs on every chunk of every frame
        if targets.size and np.bincount(targets, minlength=n).max() > 1:
            raise InputError(f"atom indices{ctx} contain duplicates")
    nf = s.n_features
    features = np.zeros((targets.size, nf), dtype)
    counts = np.zeros(targets.size, np.int32)
    cutoffs = np.zeros(targets.size, np.float64)
    if targets.size == 0 or n == 0:
        return (features, counts, cutoffs) if return_cutoff else (features, counts)

    if box is None:
        lo = pos.min(axis=0) - s.max_cutoff
        extent = pos.max(axis=0) - pos.min(axis=0) + 2 * s.max_cutoff + 1.0
        H = np.diag(extent)
        frac, cart = wrap_into_box(pos - lo, H, np.diag(1.0 / extent))
        volume = float(np.prod(np.maximum(pos.max(axis=0) - pos.min(axis=0), 1.0)))
    else:
        H = box_matrix(box, where)
        frac, cart = wrap_into_box(pos, H, np.linalg.inv(H))
        volume = abs(float(np.linalg.det(H)))

    nb = s.n_base_features
    cells = _steinhardt(frac, cart, codes, H, volume, targets, s, features[:, :nb], counts, cutoffs)
    if s.average:
        _average_over_neighbours(frac, cart, codes, H, volume, targets, s, features, cutoffs, cells)
    return (features, counts, cutoffs) if return_cutoff else (features, counts)


def _steinhardt(frac, cart, codes, H, volume, targets, s, features, counts, cutoffs) -> CellList:
    """Per-atom q_l of ``targets`` into ``features`` (k, 2 * len(l_values)), counts, cutoffs.

    Returns the last cell list, whose search radius covers every target's cutoff.
    """
    n = frac.shape[0]
    lmax = max(s.l_values)
    a_tab, a_inv, pmm = legendre_tables(lmax)
    l_list = np.array(s.l_values, np.int64)
    l_index = np.full(lmax + 1, -1, np.int64)
    l_index[l_list] = np.arange(l_list.size)
    incomplete = np.zeros(targets.size, np.bool_)
    out = np.zeros((targets.size, features.shape[1]), features.dtype)

    # first search radius from the density; widened only for atoms that need it (so results
    # never depend on it). Probing atoms for a tighter radius was tried: slower (the redo pass
    # for the few atoms beyond it costs more than the smaller neighbourhoods save).
    est = (3.0 * s.n_nearest / (4.0 * math.pi * n / volume)) ** (1.0 / 3.0)
    radius = float(np.clip(1.25 * s.padding * est, s.max_cutoff / 64.0, s.max_cutoff))
    pending = None  # rows still to do; None: all of them
    while True:
        cells = make_cell_list(frac, cart, codes, H, radius)
        rows = np.arange(targets.size) if pending is None else pending
        tsorted, trow, run_start = runs_in_cell_order(cells, targets, rows)
        steinhardt_features(
            cells.cart_sorted, cells.species_sorted, cells.start, cells.ncell, cells.mrange, H, cells.cell_sorted,
            tsorted, trow, run_start, radius, s.max_cutoff, s.n_nearest, s.padding,
            l_index, l_list, a_inv, a_tab, pmm, out, counts, cutoffs, incomplete,
        )
        pending = np.flatnonzero(incomplete)
        if pending.size == 0:
            break
        incomplete[:] = False
        radius = min(2.0 * radius, s.max_cutoff)
    features[:] = out
    return cells


def _average_over_neighbours(frac, cart, codes, H, volume, targets, s, features, cutoffs, cells: CellList):
    """Fill the averaged half of ``features``: each q_l averaged over the atom and its neighbours.

    A chunk's neighbours may lie outside it, so their own q_l are computed first (the halo).
    """
    n = frac.shape[0]
    nb = s.n_base_features
    grid = (cells.cart_sorted, cells.species_sorted, cells.start, cells.ncell, cells.mrange, H, cells.cell_sorted)
    tsorted, trow, run_start = runs_in_cell_order(cells, targets, np.arange(targets.size))
    values = np.zeros((n, nb), features.dtype)  # per-atom q_l in cell order (float32: 48 MB at 1M atoms)
    values[cells.rank[targets]] = features[:, :nb]
    if targets.size < n:
        mark = np.zeros(n, np.bool_)
        mark_neighbours(*grid, tsorted, trow, run_start, cutoffs, mark)
        mark[cells.rank[targets]] = False
        order = np.empty(n, np.int64)
        order[cells.rank] = np.arange(n)
        halo_sorted = np.flatnonzero(mark)
        if halo_sorted.size:
            hf = np.zeros((halo_sorted.size, nb), features.dtype)
            _steinhardt(frac, cart, codes, H, volume, order[halo_sorted], s, hf,
                        np.zeros(halo_sorted.size, np.int32), np.zeros(halo_sorted.size))
            values[halo_sorted] = hf
    avg = np.zeros((targets.size, nb), features.dtype)
    neighbour_mean(*grid, tsorted, trow, run_start, cutoffs, values, avg)
    features[:, nb:] = avg
