"""Reference crystals (lessdask.reference.crystals) and the LAMMPS MD wrapper."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial import cKDTree

from lessdask.errors import InputError, LessdaskError
from lessdask.reference import MATERIALS, STRUCTURES, Crystal, build_crystal
from lessdask.reference.crystals import DEFAULT_LATTICE

# atoms per conventional (orthorhombic) cell and the cell volume in units of a^3 (a*a*c
# for the orthohexagonal cells, which are a x sqrt(3) a x c)
ATOMS_PER_CELL = {
    "fcc": 4, "bcc": 2, "hcp": 4, "DC": 8, "NaCl": 8, "CsCl": 2, "CaF2": 12, "graphite": 8,
}
# (nearest-neighbour distance / a, coordination within 1.1 d_nn, all neighbours unlike?)
FIRST_SHELL = {
    "fcc": (np.sqrt(2) / 2, {12}, False),
    "bcc": (np.sqrt(3) / 2, {8}, False),
    "hcp": (1.0, {12}, False),  # ideal-ish c/a: 6 in-plane + 6 out of plane
    "DC": (np.sqrt(3) / 4, {4}, False),
    "NaCl": (0.5, {6}, True),
    "CsCl": (np.sqrt(3) / 2, {8}, True),
    "CaF2": (np.sqrt(3) / 4, {4, 8}, True),  # F has 4 Ca, Ca has 8 F
    "graphite": (1 / np.sqrt(3), {3}, False),
}


def first_shell(xtal: Crystal, k: int = 20):
    """Nearest-neighbour distance, set of coordination numbers, all-unlike flag."""
    tree = cKDTree(xtal.positions, boxsize=xtal.dimensions[:3])
    d, idx = tree.query(xtal.positions, k=min(k, xtal.n_atoms))
    d, idx = d[:, 1:], idx[:, 1:]
    dnn = d[:, 0].min()
    shell = d < 1.1 * dnn
    cn = set(shell.sum(axis=1).tolist())
    unlike = all(
        np.all(xtal.species[idx[i][shell[i]]] != xtal.species[i]) for i in range(xtal.n_atoms)
    )
    return dnn, cn, unlike


def a_of(structure):
    lat = DEFAULT_LATTICE[structure]
    return lat[0] if isinstance(lat, tuple) else lat


@pytest.mark.parametrize("structure", STRUCTURES)
def test_counts_density_and_box(structure):
    cells = (3, 2, 4)
    xtal = build_crystal(structure, cells)
    assert xtal.n_atoms == ATOMS_PER_CELL[structure] * 24
    assert xtal.positions.dtype == np.float64 and xtal.positions.shape == (xtal.n_atoms, 3)
    assert xtal.species.dtype == np.int32 and xtal.dimensions.dtype == np.float64
    assert xtal.dimensions.shape == (6,)
    np.testing.assert_allclose(xtal.dimensions[3:], 90.0)
    assert np.all(xtal.positions >= 0) and np.all(xtal.positions < xtal.dimensions[:3])
    lat = DEFAULT_LATTICE[structure]
    if isinstance(lat, tuple):
        a, c = lat
        cell = np.array([a, np.sqrt(3) * a, c])
    else:
        cell = np.array([lat] * 3)
    np.testing.assert_allclose(xtal.dimensions[:3], cell * cells)
    np.testing.assert_allclose(xtal.n_atoms / xtal.volume, ATOMS_PER_CELL[structure] / cell.prod())
    # stoichiometry
    counts = np.bincount(xtal.species)
    assert len(counts) == len(xtal.species_names)
    if structure in ("NaCl", "CsCl"):
        assert counts[0] == counts[1]
    if structure == "CaF2":
        assert 2 * counts[0] == counts[1]


def test_real_densities():
    # mass density (g/cm^3) from the default lattice constants vs handbook values
    masses = {"fcc": [196.97], "bcc": [55.845], "DC": [28.086], "NaCl": [22.99, 35.45]}
    expected = {"fcc": 19.3, "bcc": 7.87, "DC": 2.33, "NaCl": 2.16}
    for s, rho in expected.items():
        x = build_crystal(s, 2)
        m = np.array(masses[s])[x.species].sum() / 6.02214076e23
        assert m / (x.volume * 1e-24) == pytest.approx(rho, rel=0.02)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_first_shell(structure):
    xtal = build_crystal(structure, (3, 3, 3))
    dnn, cn, unlike = first_shell(xtal)
    ratio, want_cn, want_unlike = FIRST_SHELL[structure]
    assert dnn == pytest.approx(ratio * a_of(structure), rel=1e-9 if structure != "hcp" else 0.01)
    assert cn == want_cn
    assert unlike == want_unlike


def test_graphite_layers():
    xtal = build_crystal("graphite", (3, 2, 2))
    a, c = DEFAULT_LATTICE["graphite"]
    z = np.unique(np.round(xtal.positions[:, 2], 6))
    np.testing.assert_allclose(np.diff(z), c / 2)
    # AB stacking: half the atoms of a layer sit directly above an atom two layers down
    layer0 = xtal.positions[np.isclose(xtal.positions[:, 2], 0)]
    layer1 = xtal.positions[np.isclose(xtal.positions[:, 2], c / 2)]
    box2 = xtal.dimensions[:2]
    d = cKDTree(layer0[:, :2], boxsize=box2).query(layer1[:, :2])[0]
    assert np.sum(d < 1e-6) == len(layer1) // 2


@pytest.mark.parametrize(
    ("structure", "orient"),
    [
        ("fcc", [(1, 1, 0), (-1, 1, 0), (0, 0, 1)]),
        ("fcc", [(1, 1, 1), (1, -1, 0), (1, 1, -2)]),
        ("bcc", [(1, 1, 1), (-1, 1, 0), (-1, -1, 2)]),
        ("DC", [(1, 1, 0), (0, 0, 1), (1, -1, 0)]),
        ("NaCl", [(1, 1, 0), (-1, 1, 0), (0, 0, 1)]),
        ("CaF2", [(1, 1, 0), (-1, 1, 0), (0, 0, 1)]),
    ],
)
def test_orient_keeps_structure(structure, orient):
    ref = build_crystal(structure, 1)
    xtal = build_crystal(structure, (2, 2, 2), orient=orient)
    norms = np.linalg.norm(np.array(orient, float), axis=1)
    np.testing.assert_allclose(xtal.dimensions[:3], 2 * a_of(structure) * norms)
    # same number density as the unrotated crystal, no duplicates, same first shell
    assert xtal.n_atoms / xtal.volume == pytest.approx(ref.n_atoms / ref.volume)
    dnn, cn, unlike = first_shell(xtal)
    ratio, want_cn, want_unlike = FIRST_SHELL[structure]
    assert dnn == pytest.approx(ratio * a_of(structure), rel=1e-9)
    assert cn == want_cn and unlike == want_unlike
    assert np.all(xtal.positions >= 0) and np.all(xtal.positions < xtal.dimensions[:3])


def test_orient_fcc_110_axes():
    # in fcc [110]/[-110]/[001] the nearest neighbours lie along x at distance a/sqrt(2)
    a = a_of("fcc")
    xtal = build_crystal("fcc", (3, 2, 2), orient=[(1, 1, 0), (-1, 1, 0), (0, 0, 1)])
    tree = cKDTree(xtal.positions, boxsize=xtal.dimensions[:3])
    step = np.array([a / np.sqrt(2), 0, 0])
    d, _ = tree.query(np.mod(xtal.positions + step, xtal.dimensions[:3]))
    assert np.all(d < 1e-8)


def test_orient_errors():
    with pytest.raises(InputError, match="orthogonal"):
        build_crystal("fcc", 1, orient=[(1, 1, 0), (1, 0, 0), (0, 0, 1)])
    with pytest.raises(InputError, match="left-handed"):
        build_crystal("fcc", 1, orient=[(1, 0, 0), (0, 0, 1), (0, 1, 0)])
    with pytest.raises(InputError, match="cubic"):
        build_crystal("hcp", 1, orient=[(1, 0, 0), (0, 1, 0), (0, 0, 1)])
    with pytest.raises(InputError, match="unknown structure"):
        build_crystal("sc", 1)
    with pytest.raises(InputError):
        build_crystal("fcc", (1, 0, 1))


def test_jitter_reproducible():
    a = build_crystal("NaCl", 2, jitter=0.1, seed=7)
    b = build_crystal("NaCl", 2, jitter=0.1, seed=7)
    c = build_crystal("NaCl", 2, jitter=0.1, seed=8)
    perfect = build_crystal("NaCl", 2)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)
    box = perfect.dimensions[:3]
    d = a.positions - perfect.positions
    d -= box * np.round(d / box)
    assert np.std(d) == pytest.approx(0.1, rel=0.15)
    assert np.all(a.positions >= 0) and np.all(a.positions < box)


def test_lattice_constant_and_cells_forms():
    x = build_crystal("hcp", 2, lattice_constant=(3.0, 5.0))
    np.testing.assert_allclose(x.dimensions[:3], [6.0, 2 * np.sqrt(3) * 3.0, 10.0])
    y = build_crystal("hcp", 1, lattice_constant=3.0)  # default c/a kept
    a0, c0 = DEFAULT_LATTICE["hcp"]
    assert y.dimensions[2] == pytest.approx(3.0 * c0 / a0)
    assert build_crystal("fcc", 2, lattice_constant=4.0).dimensions[0] == pytest.approx(8.0)
    with pytest.raises(InputError):
        build_crystal("fcc", 1, lattice_constant=(4.0, 5.0))


def test_crystal_is_frozen():
    x = build_crystal("fcc", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        x.positions = np.zeros((4, 3))
    with pytest.raises(ValueError):
        x.positions[0, 0] = 1.0


def test_write_lammps_data(tmp_path):
    from lessdask.reference.crystals import write_lammps_data

    x = build_crystal("NaCl", 1)
    p = write_lammps_data(x, tmp_path / "nacl.data", masses=(22.99, 35.45), charges=(1, -1))
    text = p.read_text()
    assert "8 atoms" in text and "2 atom types" in text and "Atoms  # charge" in text


def test_materials_table():
    assert set(MATERIALS) == set(STRUCTURES)
    for s, m in MATERIALS.items():
        assert m["elements"] == build_crystal(s, 1).species_names
        assert len(m["masses"]) == len(m["elements"])
        assert m["t_melt"] > m["tm"] and m["t_liquid"] > m["tm"] > m["t_solid"]


def _lammps_or_skip():
    from lessdask.reference import import_lammps

    try:
        import_lammps()
    except LessdaskError as exc:
        pytest.skip(str(exc))


@pytest.mark.lammps
def test_potential_files_exist():
    _lammps_or_skip()
    from lessdask.reference.md import potential_dir

    pot = potential_dir()
    for name in ("Au_u3.eam", "Fe_mm.eam.fs", "Mg_mm.eam.fs", "Si.sw", "ffield.eim", "CH.airebo"):
        assert (pot / name).is_file(), name


@pytest.mark.lammps
def test_run_md_fcc_au_npt():
    _lammps_or_skip()
    from lessdask.reference import run_md

    xtal = build_crystal("fcc", 4, jitter=0.02, seed=3)
    frames = run_md(xtal, "fcc", temperature=300.0, steps=200, dump_every=50, seed=11)
    assert len(frames) == 5
    for pos, dims in frames:
        assert pos.shape == (xtal.n_atoms, 3) and dims.shape == (6,)
        assert np.all(np.isfinite(pos))
        assert np.all(pos >= 0) and np.all(pos < dims[:3])
        np.testing.assert_allclose(dims[:3] / 4, 4.08, rtol=0.02)
    # atoms stay on their sites (no melting, same order as the input)
    d = frames[-1][0] - xtal.positions
    d -= frames[-1][1][:3] * np.round(d / frames[-1][1][:3])
    assert np.sqrt(np.mean(np.sum(d**2, axis=1))) < 0.5


@pytest.mark.lammps
def test_run_md_rejects_wrong_species():
    _lammps_or_skip()
    from lessdask.reference import run_md

    with pytest.raises(InputError, match="species"):
        run_md(build_crystal("NaCl", 1), "fcc", 300.0, 10, 10, seed=1)


@pytest.mark.lammps
@pytest.mark.parametrize("structure", STRUCTURES)
def test_every_material_runs(structure):
    """Each MATERIALS entry is a valid LAMMPS setup: 20 NPT steps near the potential's a."""
    _lammps_or_skip()
    from lessdask.reference import run_md

    cells = {"hcp": (3, 2, 2), "graphite": (3, 2, 1)}.get(structure, 2)
    if structure in ("NaCl", "CsCl", "CaF2", "bcc"):
        cells = 3 if structure != "CaF2" else 2
    xtal = build_crystal(structure, cells, lattice_constant=MATERIALS[structure]["lattice_md"])
    frames, thermo = run_md(xtal, structure, 300.0, 20, 10, seed=5, return_thermo=True)
    assert len(frames) == 3
    assert np.all(np.isfinite(frames[-1][0]))
    assert np.all(np.isfinite(thermo["pe"])) and thermo["pe"][-1] < 0
    # started at the potential's lattice constant: the box barely moves in 20 fs
    np.testing.assert_allclose(frames[-1][1][:3], xtal.dimensions[:3], rtol=0.01)


@pytest.mark.lammps
@pytest.mark.parametrize("structure", ["fcc", "CsCl"])
def test_run_md_melt_disorders(structure):
    """melt=True leaves the lattice sites (short stages; CsCl uses the expanded-box path)."""
    _lammps_or_skip()
    from lessdask.reference import run_md

    xtal = build_crystal(structure, 4, lattice_constant=MATERIALS[structure]["lattice_md"])
    frames = run_md(
        xtal, structure, MATERIALS[structure]["t_liquid"], 200, 100, seed=2, melt=True,
        melt_steps=1500, quench_steps=300, relax_steps=300,
    )
    pos, dims = frames[-1]
    s = pos / dims[:3] - xtal.positions / xtal.dimensions[:3]
    s -= np.round(s)
    d = s * dims[:3]
    d -= d.mean(axis=0)
    assert np.mean(np.sum(d**2, axis=1)) > 1.0  # Å^2; a crystal stays at ~0.1


# --------------------------------------------------------------------------- glasses


@pytest.mark.parametrize("structure", ["fcc", "bcc", "hcp", "DC", "NaCl", "CsCl", "CaF2"])
def test_thermal_crystals_are_crystal_like_and_a_gas_is_not(structure):
    from lessdask.reference.amorphous import crystalline_fraction, largest_crystal_cluster

    x = build_crystal(structure, (6, 4, 4) if structure == "hcp" else 4, jitter=0.1, seed=2)
    assert crystalline_fraction(x.positions, x.dimensions) >= 0.95
    assert largest_crystal_cluster(x.positions, x.dimensions) >= 0.95 * x.n_atoms
    rng = np.random.default_rng(0)
    gas = rng.random((x.n_atoms, 3)) * x.dimensions[:3]
    assert crystalline_fraction(gas, x.dimensions) < 0.02


def test_glass_formers_start_from_their_crystal_with_their_composition():
    from lessdask.reference.md import GLASS_FORMERS, starting_configuration

    cuzr = starting_configuration("CuZr", 4, seed=1)
    assert cuzr.species_names == GLASS_FORMERS["CuZr"]["elements"] == ("Cu", "Zr")
    assert np.mean(cuzr.species == 0) == pytest.approx(0.64, abs=0.01)
    assert not np.array_equal(cuzr.species, starting_configuration("CuZr", 4, seed=2).species)
    ge = starting_configuration("Ge", 2)
    assert ge.species_names == ("Ge",) and ge.n_atoms == 64
    assert GLASS_FORMERS["Ge"]["class"] == "AM"


@pytest.mark.lammps
def test_run_quench_holds_each_temperature_and_leaves_a_glass():
    """A Cu64Zr36 melt cooled at 1e14 K/s: frames at every hold, a cooling curve, no crystal."""
    _lammps_or_skip()
    from lessdask.reference.amorphous import crystalline_fraction
    from lessdask.reference.md import run_quench, starting_configuration

    x = starting_configuration("CuZr", 4, seed=1)
    frames, thermo = run_quench(x, "CuZr", [900.0, 300.0], 1e14, 200, 100, seed=3, melt_steps=500,
                                quench_steps=200, relax_steps=200)
    assert list(frames) == [900.0, 300.0] and all(len(v) == 3 for v in frames.values())
    assert thermo["temp"][0] < 1600.0 and thermo["temp"][-1] == 300.0
    assert thermo["pe"][-1] < thermo["pe"][0]  # cooled
    pos, dims = frames[300.0][-1]
    assert pos.shape == (x.n_atoms, 3)
    assert crystalline_fraction(pos, dims) < 0.1


def test_run_quench_refuses_temperatures_that_do_not_decrease():
    from lessdask.reference.md import run_quench, starting_configuration

    with pytest.raises(InputError, match="decrease"):
        run_quench(starting_configuration("CuZr", 2), "CuZr", [300.0, 900.0], 1e13, 10, 10, seed=1)
    with pytest.raises(InputError, match="rate"):
        run_quench(starting_configuration("CuZr", 2), "CuZr", [300.0], 0.0, 10, 10, seed=1)
