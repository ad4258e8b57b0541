"""Is a configuration amorphous? Crystalline order and the radial distribution function.

Before a quenched configuration is labelled amorphous (class AM) in the reference data, it
must have no crystalline order left. The test here is independent of any lessdask model:
the bond-orientational order of ten Wolde, Ruiz-Montero and Frenkel (J. Chem. Phys. 104,
9932 (1996)). Per atom the complex vector q_lm (m = -l..l) over its neighbours (all atoms
inside one first-shell cutoff per frame, :func:`shell_cutoff`) is normalised to unit length;
a bond i-j is *coherent* when the real part of q_l(i) . q_l(j)* exceeds ``0.7``; an atom is
crystal-like when at least ``0.7`` of its bonds (and at least three) are coherent, for l = 4
or l = 6, over all atoms or over its own species' sublattice (:func:`crystal_like`). Every
crystal of the reference set, up to 0.95 Tm, is crystal-like for nearly all of its atoms
(superionic fluorite: its Ca sublattice), liquids for none, glasses for a few per cent in
small scattered clusters: ``jobs/glass_check.py`` records it for every run, beside OVITO's
polyhedral template matching. Even l makes the test blind to inversion, so diamond's two
inverted tetrahedra count as coherent, as they should.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["radial_distribution", "shell_cutoff", "crystal_like", "crystalline_fraction", "largest_crystal_cluster"]

#: Coherent bond: Re(q6(i) . q6(j)*) above this (unit vectors).
BOND_COHERENCE = 0.7
#: Crystal-like atom: at least this share of its bonds coherent (and at least MIN_BONDS of them).
COHERENT_SHARE = 0.7
MIN_BONDS = 3
#: A species' sublattice is tested alone when it has at least this many atoms.
MIN_SUBLATTICE = 20


def _pairs(positions, dimensions, r_max):
    L = np.asarray(dimensions, np.float64)[:3]
    pos = np.mod(np.asarray(positions, np.float64), L)
    pos[pos >= L] = 0.0
    tree = cKDTree(pos, boxsize=L)
    pairs = tree.query_pairs(r_max, output_type="ndarray")
    d = pos[pairs[:, 1]] - pos[pairs[:, 0]]
    d -= L * np.round(d / L)
    return pairs, d


def radial_distribution(positions, dimensions, r_max: float = 8.0, bins: int = 160):
    """Total radial distribution function g(r) of a periodic orthorhombic configuration.

    Parameters
    ----------
    positions : array_like, shape (n, 3)
    dimensions : array_like, shape (6,)
        MDAnalysis box (orthorhombic: the angles are ignored).
    r_max : float
        Largest distance (Å), at most half the shortest box length.
    bins : int

    Returns
    -------
    r, g : ndarray
        Bin centres (Å) and g(r).
    """
    L = np.asarray(dimensions, np.float64)[:3]
    r_max = float(min(r_max, 0.5 * L.min()))
    n = len(positions)
    _, d = _pairs(positions, dimensions, r_max)
    hist, edges = np.histogram(np.linalg.norm(d, axis=1), bins=bins, range=(0.0, r_max))
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = 2.0 * hist / (n * (n / np.prod(L)) * shell)
    return 0.5 * (edges[1:] + edges[:-1]), g


def shell_cutoff(positions, dimensions, n: int = 4, factor: float = 1.3) -> float:
    """First-shell cutoff (Å): ``factor`` times the median over atoms of their mean distance to
    their ``n`` nearest neighbours (the features' adaptive cutoff, made one number per frame).

    It keeps the first shell of fcc, hcp, diamond, rock salt and graphite, and the first two
    (merged) shells of bcc and CsCl, as the features do (docs/science.md).
    """
    L = np.asarray(dimensions, np.float64)[:3]
    pos = np.mod(np.asarray(positions, np.float64), L)
    pos[pos >= L] = 0.0
    dist = cKDTree(pos, boxsize=L).query(pos, k=n + 1)[0][:, 1:]
    return float(factor * np.median(dist.mean(axis=1)))


def _coherent(positions, dimensions, cutoff, l):
    """Atoms whose q_lm vector agrees with those of most of their neighbours (one l)."""
    from scipy.special import sph_harm_y

    n = len(positions)
    pairs, d = _pairs(positions, dimensions, cutoff)
    r = np.linalg.norm(d, axis=1)
    theta = np.arccos(np.clip(d[:, 2] / np.maximum(r, 1e-12), -1.0, 1.0))
    phi = np.arctan2(d[:, 1], d[:, 0])
    m = np.arange(-l, l + 1)
    Y = sph_harm_y(l, m[None, :], theta[:, None], phi[:, None])  # Y(-d) = Y(d) for even l
    q = np.zeros((n, 2 * l + 1), np.complex128)
    np.add.at(q, pairs[:, 0], Y)
    np.add.at(q, pairs[:, 1], Y)
    norm = np.linalg.norm(q, axis=1)
    q /= np.where(norm > 0, norm, 1.0)[:, None]
    coherent = np.real(np.sum(q[pairs[:, 0]] * np.conj(q[pairs[:, 1]]), axis=1)) > BOND_COHERENCE
    bonds = np.bincount(pairs.ravel(), minlength=n)
    good = np.bincount(pairs[coherent].ravel(), minlength=n)
    return (bonds >= MIN_BONDS) & (good >= COHERENT_SHARE * bonds)


def crystal_like(positions, dimensions, species=None, cutoff: float | None = None) -> np.ndarray:
    """Which atoms have crystalline bond-orientational order (ten Wolde-Frenkel, l = 4 and 6).

    The test runs on all atoms together and, for a compound, on each species' sublattice
    alone (at least ``MIN_SUBLATTICE`` atoms), each with l = 4 and l = 6; an atom is
    crystal-like if any of them finds it so. The sublattices and l = 4 matter near the
    melting point: at 0.9 Tm rock salt is crystal-like for 4 % of its atoms by l = 6 over
    all atoms and for 99 % by the sublattice test, and in superionic fluorite only the
    cation sublattice keeps its order.

    Parameters
    ----------
    positions : array_like, shape (n, 3)
    dimensions : array_like, shape (6,)
        Orthorhombic periodic box.
    species : array_like, shape (n,), optional
        Species of each atom (any labels); None: one species.
    cutoff : float, optional
        Neighbour distance (Å) of the all-atom test; default :func:`shell_cutoff` (each
        sublattice uses its own).

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
    """
    pos = np.asarray(positions, np.float64)
    n = len(pos)
    groups = [np.arange(n)]
    if species is not None:
        species = np.asarray(species)
        kinds = np.unique(species)
        if kinds.size > 1:
            groups += [np.flatnonzero(species == k) for k in kinds
                       if np.count_nonzero(species == k) >= MIN_SUBLATTICE]
    out = np.zeros(n, bool)
    for g, idx in enumerate(groups):
        cut = cutoff if (g == 0 and cutoff is not None) else shell_cutoff(pos[idx], dimensions)
        for l in (4, 6):
            out[idx] |= _coherent(pos[idx], dimensions, cut, l)
    return out


def crystalline_fraction(positions, dimensions, species=None, cutoff: float | None = None) -> float:
    """Share of atoms that are crystal-like (:func:`crystal_like`); near 0 in a glass or liquid."""
    return float(np.mean(crystal_like(positions, dimensions, species, cutoff)))


def largest_crystal_cluster(positions, dimensions, species=None, cutoff: float | None = None) -> int:
    """Atoms in the largest cluster of crystal-like atoms (neighbours within the cutoff joined).

    A glass has a few per cent of crystal-like atoms, scattered (clusters of a few atoms); a
    crystal nucleus or grain is one compact cluster that grows with it.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if cutoff is None:
        cutoff = shell_cutoff(positions, dimensions)
    xtal = np.flatnonzero(crystal_like(positions, dimensions, species, cutoff))
    if xtal.size == 0:
        return 0
    pairs, _ = _pairs(np.asarray(positions)[xtal], dimensions, cutoff)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(xtal.size, xtal.size))
    _, labels = connected_components(graph, directed=False)
    return int(np.bincount(labels).max())
