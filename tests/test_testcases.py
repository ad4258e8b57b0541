"""Fast checks of the helpers of the paper's test-case jobs (jobs/testcase_*.py); no MD."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

JOBS = Path(__file__).resolve().parents[1] / "jobs"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, JOBS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def poly():
    from lessdask.reference import testcases

    return testcases, testcases.build_polycrystal(box=40.0, n_grains=4, seed=3)


def test_polycrystal_no_close_pairs(poly):
    from scipy.spatial import cKDTree

    _, p = poly
    assert len(cKDTree(p["positions"]).query_pairs(2.0)) == 0
    assert p["n_removed"] > 0
    assert set(np.unique(p["grain"])) == {0, 1, 2, 3}
    assert np.all((p["positions"] >= 0) & (p["positions"] < 40.0))


def test_polycrystal_fcc_coordination_inside_grains(poly):
    from scipy.spatial import cKDTree

    mod, p = poly
    inside = mod.region_masks(p)["grain_interior"]
    assert inside.sum() > 100
    tree = cKDTree(p["positions"])
    # first shell of fcc Cu at a/sqrt(2) = 2.556 Å; the second at a = 3.615 Å
    counts = np.array([len(n) - 1 for n in tree.query_ball_point(p["positions"][inside], 3.0)])
    assert np.all(counts == 12)
    # neighbours of interior atoms belong to the same grain and sit at the fcc distance
    d, j = tree.query(p["positions"][inside], k=13)
    assert np.allclose(d[:, 1:], mod.A_CU / np.sqrt(2), atol=1e-6)
    assert np.all(p["grain"][j] == p["grain"][inside][:, None])


def test_polycrystal_distances_consistent(poly):
    _, p = poly
    # the grain of an atom is its nearest seed, so distances to boundaries are non-negative
    assert np.all(p["dist_gb"] >= -1e-9)
    assert np.all(p["dist_surface"] >= 0)
    d2 = ((p["positions"][:, None] - p["seeds"][None]) ** 2).sum(-1)
    assert np.array_equal(np.argmin(d2, 1), p["grain"])


def test_temperature_profile_and_isotherm_of_linear_ramp():
    mod = _load("testcase_cu_bar_melting")
    rng = np.random.default_rng(0)
    length, n = 150.0, 200_000
    z = rng.uniform(0, length, n)
    temperature = 2200.0 - 10.0 * z  # K; 1273 K at z = 92.7 Å
    # per-atom kinetic energies with the right mean: 3/2 k_B T (chi-square, 3 dof)
    ke = 0.5 * mod.KB_EV * temperature * rng.chisquare(3, n)
    centers, t = mod.temperature_profile(z, ke, length, bins=40, smooth=1)
    assert np.allclose(t, 2200.0 - 10.0 * centers, rtol=0.03)
    pos = mod.isotherm_position(centers, t, 1273.0, start=0.0)
    assert pos == pytest.approx((2200.0 - 1273.0) / 10.0, abs=2.0)
    # exact ramp, exact crossing
    exact = mod.isotherm_position(centers, 2200.0 - 10.0 * centers, 1273.0)
    assert exact == pytest.approx(92.7, abs=1e-9)
    # never crosses / already below at the start
    assert np.isnan(mod.isotherm_position(centers, np.full(40, 2000.0), 1273.0))
    assert np.isnan(mod.isotherm_position(centers, np.full(40, 1000.0), 1273.0))


def test_temperature_profile_periodic_smoothing():
    mod = _load("testcase_cu_bar_melting")
    z = np.array([0.5, 1.5, 2.5, 3.5])
    ke = np.array([1.0, 2.0, 3.0, 4.0]) * 1.5 * mod.KB_EV * 1000.0
    _, t = mod.temperature_profile(z, ke, 4.0, bins=4, smooth=3)
    assert t == pytest.approx([(4 + 1 + 2) / 3 * 1000, 2000, 3000, (3 + 4 + 1) / 3 * 1000])


def test_si_al_builder():
    mod = _load("testcase_si_al_interface")
    s = mod.build_interface()
    from scipy.spatial import cKDTree

    pos = s["positions"]
    assert (s["types"] == 2).sum() == 8 * mod.N_SI_XY**2 * mod.N_SI_Z
    assert (s["types"] == 1).sum() == 4 * mod.N_AL_XY**2 * mod.N_AL_Z
    assert np.all(pos[s["types"] == 2, 2] < pos[s["types"] == 1, 2].min())
    box = np.array(s["box"])
    assert np.all((pos >= -1e-9) & (pos < box))
    assert len(cKDTree(np.mod(pos, box), boxsize=box).query_pairs(2.2)) == 0


def test_coexistence_inside_slab_periodic():
    mod = _load("testcase_cu_coexistence")
    length = 100.0
    z = np.arange(0.5, 100.0, 1.0)
    # crystal from 20 to 70 Å, 10 Å margin: 30 < z < 60
    inner = mod.inside_slab(z, 20.0, 70.0, length, margin=10.0)
    assert np.array_equal(z[inner], np.arange(30.5, 60.0, 1.0))
    # the complement (liquid) wraps across the periodic boundary: 80 < z or z < 10
    liquid = mod.inside_slab(z, 70.0, 20.0, length, margin=10.0)
    assert np.array_equal(z[liquid], np.concatenate([np.arange(0.5, 10.0, 1.0), np.arange(80.5, 100.0, 1.0)]))
    assert not np.any(inner & liquid)
    # positions outside [0, L) (unwrapped dump coordinates) count modulo L
    assert np.array_equal(mod.inside_slab(z + length, 20.0, 70.0, length, 10.0), inner)
    # a slab thinner than both margins, or a missing front, holds no atom
    assert not mod.inside_slab(z, 20.0, 35.0, length, 10.0).any()
    assert not mod.inside_slab(z, np.nan, 70.0, length, 10.0).any()


def test_coexistence_slab_temperature():
    mod = _load("testcase_cu_coexistence")
    rng = np.random.default_rng(1)
    ke = 0.5 * mod.KB_EV * 1300.0 * rng.chisquare(3, 100_000)
    assert mod.slab_temperature(ke) == pytest.approx(1300.0, rel=0.01)
    assert np.isnan(mod.slab_temperature(np.array([])))
