"""Perfect reference crystals for the eight LESS structure classes.

The builders here replace the ATOMSK step of the paper's "Data Preparation": they return
periodic, orthorhombic supercells of the eight structures of Table 1 (fcc Au, bcc Fe,
hcp Mg, diamond-cubic Si, rock-salt NaCl, CsCl, fluorite CaF2 and AB graphite), with real
lattice constants by default, optionally rotated (cubic structures, LAMMPS-style
``orient``) and thermally jittered.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from lessdask.errors import InputError

__all__ = [
    "STRUCTURES",
    "DEFAULT_LATTICE",
    "Crystal",
    "build_crystal",
    "write_lammps_data",
]

#: The eight structure classes of the paper, in the order of its Table 1.
STRUCTURES = ("fcc", "bcc", "hcp", "DC", "NaCl", "CsCl", "CaF2", "graphite")

#: Cubic structures (the only ones that accept ``orient``).
CUBIC = ("fcc", "bcc", "DC", "NaCl", "CsCl", "CaF2")

#: Experimental room-temperature lattice constants (Å) of the paper's materials.
#: Cubic structures: ``a``; hcp and graphite: ``(a, c)`` of the hexagonal cell.
DEFAULT_LATTICE = {
    "fcc": 4.08,  # Au
    "bcc": 2.855,  # alpha-Fe
    "hcp": (3.21, 5.21),  # Mg
    "DC": 5.431,  # Si
    "NaCl": 5.64,  # NaCl
    "CsCl": 4.12,  # CsCl
    "CaF2": 5.463,  # CaF2
    "graphite": (2.46, 6.70),  # C, AB (Bernal) stacking
}

_SPECIES_NAMES = {
    "fcc": ("Au",),
    "bcc": ("Fe",),
    "hcp": ("Mg",),
    "DC": ("Si",),
    "NaCl": ("Na", "Cl"),
    "CsCl": ("Cs", "Cl"),
    "CaF2": ("Ca", "F"),
    "graphite": ("C",),
}

_FCC = [(0.0, 0.0, 0.0), (0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0)]


def _shift(points, d):
    return [tuple((p[i] + d[i]) % 1.0 for i in range(3)) for p in points]


# Fractional basis of the (orthorhombic) conventional cell: list of (species, frac).
_BASIS = {
    "fcc": [(0, p) for p in _FCC],
    "bcc": [(0, (0.0, 0.0, 0.0)), (0, (0.5, 0.5, 0.5))],
    # orthohexagonal cell (a, sqrt(3) a, c): A layer at z=0, B layer at z=1/2
    "hcp": [
        (0, (0.0, 0.0, 0.0)),
        (0, (0.5, 0.5, 0.0)),
        (0, (0.5, 1.0 / 6.0, 0.5)),
        (0, (0.0, 2.0 / 3.0, 0.5)),
    ],
    "DC": [(0, p) for p in _FCC] + [(0, p) for p in _shift(_FCC, (0.25, 0.25, 0.25))],
    "NaCl": [(0, p) for p in _FCC] + [(1, p) for p in _shift(_FCC, (0.5, 0.0, 0.0))],
    "CsCl": [(0, (0.0, 0.0, 0.0)), (1, (0.5, 0.5, 0.5))],
    "CaF2": [(0, p) for p in _FCC]
    + [
        (1, (x, y, z))
        for x in (0.25, 0.75)
        for y in (0.25, 0.75)
        for z in (0.25, 0.75)
    ],
    # orthohexagonal cell (a, sqrt(3) a, c); honeycomb layers A (z=0) and B (z=1/2)
    "graphite": [
        (0, (0.0, 0.0, 0.0)),
        (0, (0.0, 1.0 / 3.0, 0.0)),
        (0, (0.5, 0.5, 0.0)),
        (0, (0.5, 5.0 / 6.0, 0.0)),
        (0, (0.0, 0.0, 0.5)),
        (0, (0.5, 1.0 / 6.0, 0.5)),
        (0, (0.5, 0.5, 0.5)),
        (0, (0.0, 2.0 / 3.0, 0.5)),
    ],
}


@dataclass(frozen=True, eq=False)
class Crystal:
    """An atomic configuration in an orthorhombic periodic box.

    Attributes
    ----------
    positions : numpy.ndarray
        ``(n, 3)`` float64 Cartesian coordinates in Å, wrapped into ``[0, L)``.
    dimensions : numpy.ndarray
        ``(6,)`` float64 box in MDAnalysis convention ``[a, b, c, alpha, beta, gamma]``
        (Å and degrees; the angles are always 90 here).
    species : numpy.ndarray
        ``(n,)`` int32 species index of each atom, ``0, 1, ...``.
    species_names : tuple of str
        Element name of each species index, e.g. ``("Na", "Cl")``.
    """

    positions: np.ndarray
    dimensions: np.ndarray
    species: np.ndarray
    species_names: tuple[str, ...]

    def __post_init__(self):
        pos = np.ascontiguousarray(self.positions, dtype=np.float64)
        dim = np.ascontiguousarray(self.dimensions, dtype=np.float64)
        spe = np.ascontiguousarray(self.species, dtype=np.int32)
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise InputError(f"positions must have shape (n, 3), got {pos.shape}")
        if dim.shape != (6,):
            raise InputError(f"dimensions must have shape (6,), got {dim.shape}")
        if spe.shape != (pos.shape[0],):
            raise InputError(
                f"species must have shape ({pos.shape[0]},), got {spe.shape}"
            )
        for arr in (pos, dim, spe):
            arr.setflags(write=False)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "dimensions", dim)
        object.__setattr__(self, "species", spe)
        object.__setattr__(self, "species_names", tuple(self.species_names))

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return int(self.positions.shape[0])

    @property
    def volume(self) -> float:
        """Box volume in Å^3."""
        return float(np.prod(self.dimensions[:3]))

    def __repr__(self) -> str:
        box = "x".join(f"{v:.3f}" for v in self.dimensions[:3])
        return (
            f"Crystal(n_atoms={self.n_atoms}, box={box} Å, "
            f"species_names={self.species_names})"
        )


def _cells3(cells) -> tuple[int, int, int]:
    if np.ndim(cells) == 0:
        cells = (cells, cells, cells)
    try:
        out = tuple(int(c) for c in cells)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cells must be an int or 3 ints, got {cells!r}") from exc
    if len(out) != 3 or any(c < 1 for c in out) or any(
        float(c) != float(o) for c, o in zip(cells, out)
    ):
        raise InputError(f"cells must be an int or 3 positive ints, got {cells!r}")
    return out


def _cell_lengths(structure: str, lattice_constant) -> np.ndarray:
    default = DEFAULT_LATTICE[structure]
    if structure in ("hcp", "graphite"):
        a0, c0 = default
        if lattice_constant is None:
            a, c = a0, c0
        elif np.ndim(lattice_constant) == 0:
            a = float(lattice_constant)
            c = a * c0 / a0  # keep the default c/a
        else:
            a, c = (float(v) for v in lattice_constant)
        lengths = np.array([a, np.sqrt(3.0) * a, c])
    else:
        if lattice_constant is None:
            a = default
        elif np.ndim(lattice_constant) == 0:
            a = float(lattice_constant)
        else:
            raise InputError(
                f"{structure} is cubic: lattice_constant must be one number, "
                f"got {lattice_constant!r}"
            )
        lengths = np.array([a, a, a])
    if not np.all(np.isfinite(lengths)) or np.any(lengths <= 0):
        raise InputError(f"lattice constants must be positive, got {lattice_constant!r}")
    return lengths


def _rotation(orient) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the rotation (unit box axes in crystal frame) and the reduced directions."""
    try:
        dirs = np.array(orient, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"orient must be three integer directions, got {orient!r}") from exc
    if dirs.shape != (3, 3) or not np.all(dirs == np.round(dirs)):
        raise InputError(f"orient must be three integer directions, got {orient!r}")
    dirs = dirs.astype(np.int64)
    reduced = []
    for d in dirs:
        g = gcd(gcd(abs(int(d[0])), abs(int(d[1]))), abs(int(d[2])))
        if g == 0:
            raise InputError(f"orient direction {list(d)} is the zero vector")
        reduced.append(d // g)
    reduced = np.array(reduced)
    for i in range(3):
        for j in range(i + 1, 3):
            if int(reduced[i] @ reduced[j]) != 0:
                raise InputError(
                    f"orient directions {list(reduced[i])} and {list(reduced[j])} "
                    "are not orthogonal"
                )
    if int(np.cross(reduced[0], reduced[1]) @ reduced[2]) <= 0:
        raise InputError(
            f"orient directions {reduced.tolist()} are left-handed; "
            "flip the sign of one of them (LAMMPS requires a right-handed system)"
        )
    rot = reduced / np.linalg.norm(reduced, axis=1)[:, None]
    return rot, reduced


def _dedupe_periodic(points: np.ndarray, species: np.ndarray, box: np.ndarray, tol: float):
    points = np.mod(points, box)
    points[np.isclose(points, box, atol=tol, rtol=0)] = 0.0
    points = np.mod(points, box)  # guard -0.0 and tiny negatives
    tree = cKDTree(points, boxsize=box)
    pairs = tree.query_pairs(tol, output_type="ndarray")
    keep = np.ones(len(points), dtype=bool)
    if len(pairs):
        # union-find free: drop the larger index of every close pair, keep the smallest
        keep[np.maximum(pairs[:, 0], pairs[:, 1])] = False
    return points[keep], species[keep]


def build_crystal(
    structure: str,
    cells=1,
    lattice_constant=None,
    orient=None,
    seed=None,
    jitter: float = 0.0,
) -> Crystal:
    """Build a periodic orthorhombic supercell of one of the eight reference structures.

    Parameters
    ----------
    structure : str
        One of :data:`STRUCTURES`: ``"fcc"`` (Au), ``"bcc"`` (Fe), ``"hcp"`` (Mg),
        ``"DC"`` (Si), ``"NaCl"``, ``"CsCl"``, ``"CaF2"`` or ``"graphite"`` (AB stacked).
    cells : int or tuple of 3 int, default 1
        Repeats of the unit cell along x, y, z. Without ``orient`` the unit cell is the
        conventional cubic cell, or for hcp and graphite the orthohexagonal cell
        ``(a, sqrt(3) a, c)``. With ``orient`` it is the periodic length
        ``a * |[h k l]|`` of each (gcd-reduced) Miller direction.
    lattice_constant : float or tuple of 2 float, optional
        Cubic ``a`` in Å; for hcp and graphite ``(a, c)`` or just ``a`` (keeping the
        default c/a). Defaults to :data:`DEFAULT_LATTICE`.
    orient : sequence of 3 integer directions, optional
        Cubic structures only: crystal directions along box x, y, z, e.g.
        ``[(1, 1, 0), (-1, 1, 0), (0, 0, 1)]`` as in LAMMPS ``lattice ... orient``.
        They must be mutually orthogonal and right-handed.
    seed : int or numpy.random.Generator, optional
        Seed of the Gaussian ``jitter``.
    jitter : float, default 0.0
        Standard deviation in Å of an independent Gaussian displacement of each
        Cartesian coordinate (a crude stand-in for thermal motion).

    Returns
    -------
    Crystal
        Positions wrapped into the box, 90-degree box, species indices and names.

    Raises
    ------
    lessdask.errors.InputError
        For an unknown structure, bad cells, lattice constant or orientation.

    Examples
    --------
    >>> xtal = build_crystal("fcc", 3)
    >>> xtal.n_atoms
    108
    >>> build_crystal("NaCl", (2, 2, 1)).species_names
    ('Na', 'Cl')
    """
    if structure not in STRUCTURES:
        raise InputError(f"unknown structure {structure!r}; choose one of {STRUCTURES}")
    nx, ny, nz = _cells3(cells)
    lengths = _cell_lengths(structure, lattice_constant)
    basis_sp = np.array([s for s, _ in _BASIS[structure]], dtype=np.int32)
    basis = np.array([f for _, f in _BASIS[structure]], dtype=np.float64) * lengths
    jitter = float(jitter)
    if not np.isfinite(jitter) or jitter < 0:
        raise InputError(f"jitter must be a non-negative number of Å, got {jitter!r}")

    if orient is None:
        grid = np.stack(
            np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij"), -1
        ).reshape(-1, 3)
        origins = grid * lengths
        positions = (origins[:, None, :] + basis[None, :, :]).reshape(-1, 3)
        species = np.tile(basis_sp, len(origins))
        box = lengths * np.array([nx, ny, nz])
    else:
        if structure not in CUBIC:
            raise InputError(
                f"orient is only supported for cubic structures {CUBIC}, not {structure!r}"
            )
        a = lengths[0]
        rot, reduced = _rotation(orient)
        box = a * np.linalg.norm(reduced, axis=1) * np.array([nx, ny, nz])
        corners = np.array(
            [[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float
        ) * box
        crystal_corners = corners @ rot  # box frame -> crystal frame (rot is orthonormal)
        lo = np.floor(crystal_corners.min(axis=0) / a).astype(int) - 1
        hi = np.ceil(crystal_corners.max(axis=0) / a).astype(int) + 1
        grid = np.stack(
            np.meshgrid(*(np.arange(l, h) for l, h in zip(lo, hi)), indexing="ij"), -1
        ).reshape(-1, 3)
        pts = (grid[:, None, :] * a + basis[None, :, :]).reshape(-1, 3)
        sp = np.tile(basis_sp, len(grid))
        pts = pts @ rot.T  # crystal frame -> box frame
        tol = 1e-6 * a
        inside = np.all((pts > -tol) & (pts < box + tol), axis=1)
        positions, species = _dedupe_periodic(pts[inside], sp[inside], box, 1e-3 * a)
        expected = round(len(basis) * np.prod(box) / a**3)
        if len(positions) != expected:  # pragma: no cover - would be a builder bug
            raise RuntimeError(
                f"orient fill produced {len(positions)} atoms, expected {expected}"
            )
        order = np.lexsort(np.round(positions / tol).T)  # sort by z, then y, then x
        positions, species = positions[order], species[order]

    if jitter > 0:
        rng = np.random.default_rng(seed)
        positions = positions + rng.normal(0.0, jitter, positions.shape)
    positions = np.mod(positions, box)
    positions[positions >= box] = 0.0  # mod of tiny negatives can round up to L
    dims = np.concatenate([box, [90.0, 90.0, 90.0]])
    return Crystal(positions, dims, species, _SPECIES_NAMES[structure])


def write_lammps_data(
    crystal: Crystal,
    path,
    masses=None,
    charges=None,
) -> Path:
    """Write a crystal as a LAMMPS data file (``atom_style atomic`` or ``charge``).

    Parameters
    ----------
    crystal : Crystal
        The configuration; LAMMPS atom type is ``species + 1``.
    path : str or os.PathLike
        Output file.
    masses : sequence of float, optional
        Mass (g/mol) of each species, written to a ``Masses`` section.
    charges : sequence of float, optional
        Charge (e) of each species. If given, the ``Atoms`` section uses the
        ``charge`` style (``id type q x y z``), otherwise ``atomic``.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    n_types = len(crystal.species_names)
    box = crystal.dimensions[:3]
    lines = [
        f"LAMMPS data file written by lessdask: {'/'.join(crystal.species_names)}",
        "",
        f"{crystal.n_atoms} atoms",
        f"{n_types} atom types",
        "",
        f"0.0 {float(box[0])!r} xlo xhi",
        f"0.0 {float(box[1])!r} ylo yhi",
        f"0.0 {float(box[2])!r} zlo zhi",
        "",
    ]
    if masses is not None:
        lines += ["Masses", ""]
        lines += [f"{t + 1} {float(m)!r}  # {crystal.species_names[t]}" for t, m in enumerate(masses)]
        lines.append("")
    style = "charge" if charges is not None else "atomic"
    lines += [f"Atoms  # {style}", ""]
    for i, (t, (x, y, z)) in enumerate(zip(crystal.species, crystal.positions)):
        if charges is not None:
            lines.append(f"{i + 1} {t + 1} {float(charges[t])!r} {float(x)!r} {float(y)!r} {float(z)!r}")
        else:
            lines.append(f"{i + 1} {t + 1} {float(x)!r} {float(y)!r} {float(z)!r}")
    path.write_text("\n".join(lines) + "\n")
    return path
