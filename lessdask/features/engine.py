"""The public feature entry points: positions, box, species -> Steinhardt features per atom (24 by default).

:class:`FrameFeatures` holds one frame's neighbour search and the per-atom q_l, computed once
and shared by every chunk of atoms asked of it: the pipeline builds one per frame and asks it
chunk by chunk, so each atom's q_l and neighbour list are computed once per frame, whatever
the chunking. :func:`compute_features` is one frame, one call.

Every atom's q_l, cutoff and neighbour list depend only on the atom and the frame (its search
round is decided by its own neighbourhood), never on which other atoms were asked for, so
chunks give exactly, bit for bit, the unchunked features.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from lessdask.errors import InputError
from lessdask.features import scratch
from lessdask.features.box import box_matrix
from lessdask.features.neighbors import CellList, make_cell_list, mark_neighbours
from lessdask.features.settings import DEFAULT_SETTINGS, FeatureSettings
from lessdask.features.steinhardt import (
    cell_mates,
    legendre_tables,
    neighbour_mean,
    slot_features,
    slot_halo,
    steinhardt_features,
)

#: Neighbours kept per atom for the averaging pass (4 bytes each). An atom with more (rare:
#: dense liquids) is averaged by searching its neighbours again.
NEIGHBOUR_SLOTS = 20


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


def _has_duplicates(targets: np.ndarray, n: int) -> bool:
    """Whether ``targets`` (indices in [0, n)) repeat an index: O(len) for increasing chunks."""
    if targets.size < 2 or (np.diff(targets) > 0).all():
        return False
    seen = np.zeros(n, np.bool_)
    seen[targets] = True
    return int(np.count_nonzero(seen)) != targets.size


def _sorted_unique(idx: np.ndarray, n: int) -> np.ndarray:
    """The distinct values of ``idx`` (ints in [0, n)), ascending.

    A mark of the frame when ``idx`` is a large part of it (sorting a million indices took
    50 ms, the mark 2 ms); a sort otherwise, so a small chunk costs O(chunk), not O(frame).
    """
    if idx.size * 16 > n:
        mark = np.zeros(n, np.bool_)
        mark[idx] = True
        return np.flatnonzero(mark)
    s = np.sort(idx)
    return s[np.concatenate([[True], s[1:] != s[:-1]])] if s.size else s


def _check_positions(positions, where: str) -> np.ndarray:
    """``positions`` as an array (float32 and float64 kept as they are: no frame-sized copy), checked."""
    pos = np.asarray(positions)
    if pos.dtype not in (np.float32, np.float64):
        pos = pos.astype(np.float64)
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
        among all atoms, so chunks of a frame give exactly the unchunked features. To ask
        for many chunks of one frame, build one :class:`FrameFeatures` and ask it each.
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
    frame = FrameFeatures(positions, box, species, settings=s, where=where, dtype=dtype)
    X, counts, cutoffs = frame.features(atoms)
    return (X, counts, cutoffs) if return_cutoff else (X, counts)


class FrameFeatures:
    """One frame's neighbour search and per-atom q_l, shared by every chunk of atoms asked of it.

    Parameters
    ----------
    positions, box, species, settings, where, dtype
        As :func:`compute_features`. ``positions`` is read again only if some atom needs a
        wider neighbour search than the first (sparse regions); do not change it meanwhile.

    Notes
    -----
    Memory: about 200 bytes per atom of the frame (cell-ordered positions, q_l, cutoffs and
    neighbour lists), whichever atoms are asked for; work: each atom's q_l once, whatever the
    chunks. ``features(chunk)`` adds only the chunk's averages and the q_l of its halo atoms
    not computed yet.

    Examples
    --------
    >>> from lessdask.reference import build_crystal
    >>> c = build_crystal("fcc", 3)
    >>> frame = FrameFeatures(c.positions, c.dimensions)
    >>> X, n, cutoff = frame.features([0, 1])
    >>> X.shape, int(n[0])
    ((2, 24), 12)
    """

    def __init__(self, positions, box, species=None, settings: FeatureSettings | None = None, where: str = "",
                 dtype=np.float32):
        self.settings = s = settings or DEFAULT_SETTINGS
        self._ctx = f" ({where})" if where else ""
        self._where = where
        pos = _check_positions(positions, self._ctx)
        self.n_atoms = n = pos.shape[0]
        self._positions = pos
        self._codes = species_codes(species, n)
        self._dtype = np.dtype(dtype)
        if box is None:  # a box padded around the atoms (float64 arithmetic, whatever the positions' type)
            lo = pos.min(axis=0).astype(np.float64) if n else np.zeros(3)
            hi = pos.max(axis=0).astype(np.float64) if n else np.zeros(3)
            self._lo = lo - s.max_cutoff if n else np.zeros(3)
            extent = (hi - lo + 2 * s.max_cutoff + 1.0) if n else np.ones(3)
            self._H = np.diag(extent)
            self._H_inv = np.diag(1.0 / np.diag(self._H))
            self._volume = float(np.prod(np.maximum(hi - lo, 1.0))) if n else 1.0
        else:
            self._lo = np.zeros(3)
            self._H = box_matrix(box, where)
            self._H_inv = np.linalg.inv(self._H)
            self._volume = abs(float(np.linalg.det(self._H)))
        lmax = max(s.l_values)
        self._a_tab, self._a_inv, self._pmm = legendre_tables(lmax)
        self._l_list = np.array(s.l_values, np.int64)
        self._l_index = np.full(lmax + 1, -1, np.int64)
        self._l_index[self._l_list] = np.arange(self._l_list.size)
        nb = s.n_base_features
        # per-atom results, in the cell order of the first search round (rows)
        # frame-sized arrays come from the scratch pool and go back to it with this object
        self._owned: list[np.ndarray] = []
        weakref.finalize(self, scratch.give_back, self._owned)
        self._q = self._take((n, nb), self._dtype, zero=True)
        self._cut = self._take(n, np.float64, zero=True)
        self._count = self._take(n, np.int32, zero=True)
        self._round = self._take(n, np.int8)
        self._round.fill(-1)  # -1: q_l not computed yet
        self._nbr = self._take((n, NEIGHBOUR_SLOTS), np.int32, zero=True)
        self._rounds: list[tuple[float, CellList, np.ndarray]] = []  # (radius, cells, to0) per round
        if n:
            # first search radius from the density; widened only for the atoms that need it, so
            # results never depend on it. Probing atoms for a tighter radius was tried: slower
            # (the redo pass for the few atoms beyond it costs more than smaller neighbourhoods save).
            est = (3.0 * s.n_nearest / (4.0 * math.pi * n / self._volume)) ** (1.0 / 3.0)
            self._radius0 = float(np.clip(1.25 * s.padding * est, s.max_cutoff / 64.0, s.max_cutoff))
            self._add_round(pos)

    def _take(self, shape, dtype, zero=False):
        a = scratch.take(shape, dtype, zero)
        self._owned.append(a)
        return a

    # ------------------------------------------------------------------ search rounds
    def _add_round(self, pos=None):
        """Cell list of the next search round (radius doubled, up to the search bound)."""
        s = self.settings
        r = len(self._rounds)
        radius = self._radius0 if r == 0 else min(2.0 * self._rounds[-1][0], s.max_cutoff)
        if pos is None:
            pos = self._positions
        cells = make_cell_list(pos, self._lo, self._H, self._H_inv, self._codes, radius, self._owned)
        if r == 0:
            to0 = np.zeros(0, np.int64)  # rows are this round's cell order
            self._rank0 = cells.rank
        else:
            to0 = self._take(self.n_atoms, np.int64)
            to0[cells.rank] = self._rank0  # position in this round's order -> row
        self._rounds.append((radius, cells, to0))

    def _rows_in_round(self, r, rows):
        """Positions in round ``r``'s cell order of the atoms at ``rows``, sorted, with their rows."""
        if r == 0:
            return rows, None  # rows come sorted
        order0 = np.empty(self.n_atoms, np.int64)
        order0[self._rank0] = np.arange(self.n_atoms)
        pos_r = self._rounds[r][1].rank[order0[rows]]
        idx = np.argsort(pos_r)
        return pos_r[idx], rows[idx]

    def _compute_rows(self, rows):
        """q_l, cutoff and neighbour list of the atoms at ``rows`` (not computed yet), round by round."""
        s = self.settings
        r = 0
        pending = np.asarray(rows, np.int64)
        while pending.size:
            if r >= len(self._rounds):
                self._add_round()
            radius, cells, to0 = self._rounds[r]
            tsorted, trow = self._rows_in_round(r, pending)
            if trow is None:
                trow = tsorted
            cs, nc = cells.cell_sorted, cells.ncell
            cell_lin = (cs[tsorted, 0] * nc[1] + cs[tsorted, 1]) * nc[2] + cs[tsorted, 2]
            run_start = np.concatenate([[0], np.flatnonzero(np.diff(cell_lin)) + 1, [tsorted.size]]).astype(np.int64)
            incomplete = np.zeros(self.n_atoms, np.bool_)
            steinhardt_features(
                cells.cart_sorted, cells.species_sorted, cells.start, cells.ncell, cells.mrange, self._H,
                cells.cell_sorted, tsorted, trow, run_start, radius, s.max_cutoff, s.n_nearest, s.padding,
                self._l_index, self._l_list, self._a_inv, self._a_tab, self._pmm, to0,
                self._q, self._count, self._cut, incomplete, self._nbr,
            )
            done = pending[~incomplete[pending]]
            self._round[done] = r
            pending = pending[incomplete[pending]]
            r += 1

    def _ensure(self, rows):
        todo = rows[self._round[rows] < 0]
        if todo.size:
            self._compute_cells_of(_sorted_unique(todo, self.n_atoms))

    def _compute_cells_of(self, rows):
        """q_l of ``rows`` (sorted, unique, not computed yet) and of every other atom not computed yet
        in their cells (a cell's atoms are computed together: its neighbourhood is gathered once)."""
        cells = self._rounds[0][1]
        out = np.empty(self.n_atoms, np.int64)
        m = cell_mates(rows, cells.cell_sorted, cells.start, cells.ncell, self._round, out)
        self._compute_rows(out[:m])

    # ------------------------------------------------------------------ the public call
    def features(self, atoms=None):
        """Features of ``atoms`` (indices into the frame; all by default), in that order.

        Returns
        -------
        features : ndarray, shape (k, settings.n_features)
        n_neighbors : ndarray, int32, shape (k,)
        cutoff : ndarray, float64, shape (k,)
            Each atom's adaptive cutoff (Å).
        """
        s, n = self.settings, self.n_atoms
        if atoms is None:
            targets = np.arange(n, dtype=np.int64)
        else:
            targets = np.asarray(atoms, dtype=np.int64).reshape(-1)
            if targets.size and (targets.min() < 0 or targets.max() >= n):
                raise InputError(f"atom indices{self._ctx} must lie in [0, {n}), got {targets.min()}..{targets.max()}")
            if _has_duplicates(targets, n):
                raise InputError(f"atom indices{self._ctx} contain duplicates")
        k, nb = targets.size, s.n_base_features
        X = np.zeros((k, s.n_features), self._dtype)
        if k == 0 or n == 0:
            return X, np.zeros(k, np.int32), np.zeros(k)
        rows = self._rank0[targets]
        self._ensure(rows)
        if s.average and atoms is not None:  # a whole frame is its own halo
            self._ensure_halo(rows)
        slot_features(rows, self._q, self._nbr, self._count, X, s.average)
        if s.average:
            self._average_overflowed(rows, X[:, nb:])
        return X, self._count[rows], self._cut[rows]

    # ------------------------------------------------------------------ neighbour averages
    def _overflowed(self, rows):
        return rows[self._count[rows] > NEIGHBOUR_SLOTS]

    def _ensure_halo(self, rows):
        """q_l of every neighbour of ``rows`` (a chunk's neighbours may lie outside it)."""
        buf = np.empty(int(np.minimum(self._count[rows], NEIGHBOUR_SLOTS).sum()), np.int64)  # listed neighbours
        parts = [buf[:slot_halo(rows, self._nbr, self._count, self._round, buf)]]  # listed, q_l not done
        for r, over in self._by_round(self._overflowed(rows)):  # rare (dense liquids): search again
            _, cells, to0 = self._rounds[r]
            tsorted, trow = self._sorted_for_kernel(r, over)
            mark_r = np.zeros(self.n_atoms, np.bool_)
            mark_neighbours(*self._grid(cells), tsorted, trow, self._runs(cells, tsorted), self._cut, mark_r)
            found = np.flatnonzero(mark_r) if r == 0 else to0[np.flatnonzero(mark_r)]
            parts.append(found[self._round[found] < 0])
        halo = _sorted_unique(np.concatenate(parts), self.n_atoms)
        if halo.size:
            self._compute_cells_of(halo)

    def _average_overflowed(self, rows, out):
        """Averages of the atoms whose neighbour lists overflowed (the rest are done by slot_features)."""
        over = self._overflowed(rows)
        if over.size == 0:
            return
        where = {row: k for k, row in enumerate(rows.tolist()) if self._count[row] > NEIGHBOUR_SLOTS}
        for r, part in self._by_round(over):
            _, cells, to0 = self._rounds[r]
            tsorted, trow = self._sorted_for_kernel(r, part)
            values = self._q if r == 0 else self._q[to0]  # values in round r's cell order
            avg = np.zeros((self.n_atoms, out.shape[1]), self._dtype)
            neighbour_mean(*self._grid(cells), tsorted, trow, self._runs(cells, tsorted), self._cut, values, avg)
            for row in part.tolist():
                out[where[row]] = avg[row]

    def _by_round(self, rows):
        rounds = self._round[rows]
        for r in np.unique(rounds):
            yield int(r), rows[rounds == r]

    def _sorted_for_kernel(self, r, rows):
        tsorted, trow = self._rows_in_round(r, rows)
        return tsorted, (tsorted if trow is None else trow)

    def _grid(self, cells):
        return (cells.cart_sorted, cells.species_sorted, cells.start, cells.ncell, cells.mrange, self._H,
                cells.cell_sorted)

    @staticmethod
    def _runs(cells, tsorted):
        cs, nc = cells.cell_sorted, cells.ncell
        cell_lin = (cs[tsorted, 0] * nc[1] + cs[tsorted, 1]) * nc[2] + cs[tsorted, 2]
        return np.concatenate([[0], np.flatnonzero(np.diff(cell_lin)) + 1, [tsorted.size]]).astype(np.int64)
