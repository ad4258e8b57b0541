"""Is a configuration amorphous? Crystalline order and the radial distribution function.

Before a quenched configuration is labelled amorphous (class AM) in the reference data, it
must have no crystalline order left. The test here is independent of any lessdask model:
the bond-orientational order of ten Wolde, Ruiz-Montero and Frenkel (J. Chem. Phys. 104,
9932 (1996)). Per atom the complex vector q_6m (m = -6..6) over its neighbours (all atoms
inside one first-shell cutoff per frame, :func:`shell_cutoff`) is normalised to unit length;
a bond i-j is *coherent* when the real part of q_6(i) . q_6(j)* exceeds ``0.7``; an atom is
crystal-like when at least ``0.7`` of its bonds (and at least three) are coherent. In every
crystal of the reference set (fcc, bcc, hcp, diamond, rock salt, CsCl, fluorite, also at
0.9 Tm) nearly every atom is crystal-like and in liquids and glasses nearly none: see
``jobs/glass_check.py``, which also compares it with OVITO's polyhedral template matching.
Even l makes the test blind to inversion, so diamond's two inverted tetrahedra count as
coherent, as they should.
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


def crystal_like(positions, dimensions, cutoff: float | None = None) -> np.ndarray:
    """Which atoms have crystalline bond-orientational order (ten Wolde-Frenkel, l = 6).

    Parameters
    ----------
    positions : array_like, shape (n, 3)
    dimensions : array_like, shape (6,)
        Orthorhombic periodic box.
    cutoff : float, optional
        Neighbour distance (Å); default :func:`shell_cutoff`.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
    """
    from scipy.special import sph_harm_y

    n = len(positions)
    if cutoff is None:
        cutoff = shell_cutoff(positions, dimensions)
    pairs, d = _pairs(positions, dimensions, cutoff)
    r = np.linalg.norm(d, axis=1)
    theta = np.arccos(np.clip(d[:, 2] / np.maximum(r, 1e-12), -1.0, 1.0))
    phi = np.arctan2(d[:, 1], d[:, 0])
    m = np.arange(-6, 7)
    Y = sph_harm_y(6, m[None, :], theta[:, None], phi[:, None])  # (pairs, 13); Y(-d) = Y(d) for l = 6
    q = np.zeros((n, 13), np.complex128)
    np.add.at(q, pairs[:, 0], Y)
    np.add.at(q, pairs[:, 1], Y)
    norm = np.linalg.norm(q, axis=1)
    q /= np.where(norm > 0, norm, 1.0)[:, None]
    coherent = np.real(np.sum(q[pairs[:, 0]] * np.conj(q[pairs[:, 1]]), axis=1)) > BOND_COHERENCE
    bonds = np.bincount(pairs.ravel(), minlength=n)
    good = np.bincount(pairs[coherent].ravel(), minlength=n)
    return (bonds >= MIN_BONDS) & (good >= COHERENT_SHARE * bonds)


def crystalline_fraction(positions, dimensions, cutoff: float | None = None) -> float:
    """Share of atoms that are crystal-like (:func:`crystal_like`); near 0 in a glass or liquid."""
    return float(np.mean(crystal_like(positions, dimensions, cutoff)))


def largest_crystal_cluster(positions, dimensions, cutoff: float | None = None) -> int:
    """Atoms in the largest cluster of crystal-like atoms (neighbours within the cutoff joined).

    A glass has a few per cent of crystal-like atoms, scattered (clusters of a few atoms); a
    crystal nucleus or grain is one compact cluster that grows with it.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if cutoff is None:
        cutoff = shell_cutoff(positions, dimensions)
    xtal = np.flatnonzero(crystal_like(positions, dimensions, cutoff))
    if xtal.size == 0:
        return 0
    pairs, _ = _pairs(np.asarray(positions)[xtal], dimensions, cutoff)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(xtal.size, xtal.size))
    _, labels = connected_components(graph, directed=False)
    return int(np.bincount(labels).max())
