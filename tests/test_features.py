"""The feature engine: textbook values, an independent reference, freud, invariances, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation
from scipy.special import sph_harm_y

from lessdask.errors import InputError
from lessdask.features import FeatureSettings, box_matrix, compute_features

FCC = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
BCC = np.array([[0, 0, 0], [0.5, 0.5, 0.5]])
SC = np.array([[0.0, 0, 0]])


def lattice(basis, cells, a):
    """Cubic lattice: positions (Å) and orthorhombic dimensions."""
    cells = np.broadcast_to(np.asarray(cells), (3,))
    g = np.stack(np.meshgrid(*[np.arange(c) for c in cells], indexing="ij"), -1).reshape(-1, 3)
    pos = (g[:, None, :] + basis[None]).reshape(-1, 3) * a
    return pos, np.array([*(cells * a), 90.0, 90, 90])


def hcp(cells=(4, 3, 3), a=3.2):
    """Ideal hcp (c/a = sqrt(8/3)) in its orthorhombic cell a x sqrt(3)a x c."""
    c = a * math.sqrt(8 / 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 5 / 6, 0.5], [0, 1 / 3, 0.5]])
    g = np.stack(np.meshgrid(*[np.arange(k) for k in cells], indexing="ij"), -1).reshape(-1, 3)
    frac = (g[:, None, :] + basis[None]).reshape(-1, 3)
    L = np.array([a, math.sqrt(3) * a, c])
    return frac * L, np.array([*(np.array(cells) * L), 90.0, 90, 90])


def rocksalt(cells=3, a=5.64):
    pos, box = lattice(FCC, cells, a)
    pos2 = pos + np.array([0.5, 0, 0]) * a
    return np.vstack([pos, pos2]), box, np.array(["Na"] * len(pos) + ["Cl"] * len(pos2))


# ----------------------------------------------------------------- textbook values


@pytest.mark.parametrize(
    ("name", "build", "n_expected", "q4", "q6"),
    [
        ("fcc", lambda: lattice(FCC, 3, 4.08), 12, 0.19094, 0.57452),
        ("hcp", lambda: hcp(), 12, 0.09722, 0.48476),
        ("bcc", lambda: lattice(BCC, 4, 2.855), 14, 0.03637, 0.51069),
        ("sc", lambda: lattice(SC, 4, 2.5), 6, 0.76376, 0.35355),
    ],
)
def test_perfect_lattices_give_textbook_steinhardt_values(name, build, n_expected, q4, q6):
    pos, box = build()
    X, n = compute_features(pos, box)
    assert np.all(n == n_expected)
    np.testing.assert_allclose(X[:, 1], q4, atol=1e-5)
    np.testing.assert_allclose(X[:, 2], q6, atol=1e-5)
    assert np.all(X[:, 6:12] == 0), "single species: other-species features are zero"
    np.testing.assert_allclose(X[:, 12:], X[:, :12], atol=1e-6)  # every atom alike: averages equal its own


def test_rock_salt_other_species_features_see_the_octahedron():
    pos, box, species = rocksalt()
    X, n = compute_features(pos, box, species)
    assert np.all(n == 6)
    np.testing.assert_allclose(X[:, 7], 0.76376, atol=1e-5)  # q4 of 6 unlike neighbours
    np.testing.assert_allclose(X[:, 8], 0.35355, atol=1e-5)
    np.testing.assert_allclose(X[:, :6], X[:, 6:12], atol=1e-6)  # all neighbours are unlike


def test_species_as_strings_or_ints_give_the_same_features():
    pos, box, species = rocksalt(2)
    codes = (species == "Cl").astype(int) + 11
    np.testing.assert_array_equal(compute_features(pos, box, species)[0], compute_features(pos, box, codes)[0])


# ----------------------------------------------------------------- independent reference


def reference_features(pos, dims, species, n_nearest, padding, l_values, images=2):
    """Brute force over explicit periodic images, Y_lm from scipy, all in double precision.

    Returns the per-atom q_l and then their means over each atom and its neighbours.
    """
    H = box_matrix(dims) if dims is not None else np.zeros((3, 3))
    shifts = np.array([[i, j, k] for i in range(-images, images + 1)
                       for j in range(-images, images + 1) for k in range(-images, images + 1)])
    if dims is None:
        shifts = np.zeros((1, 3))
    out = np.zeros((len(pos), 2 * len(l_values)))
    neighbours = []
    for i in range(len(pos)):
        d = (pos[None, :, :] + (shifts @ H)[:, None, :] - pos[i]).reshape(-1, 3)
        sp = np.tile(species, len(shifts))
        idx = np.tile(np.arange(len(pos)), len(shifts))
        r = np.linalg.norm(d, axis=1)
        keep = r > 1e-6
        d, r, sp, idx = d[keep], r[keep], sp[keep], idx[keep]
        rc = padding * np.sort(r)[:n_nearest].mean()
        inside = r <= rc
        neighbours.append(np.concatenate([[i], idx[inside]]))
        for col, mask in ((0, inside), (len(l_values), inside & (sp != species[i]))):
            if not mask.any():
                continue
            theta = np.arccos(np.clip(d[mask, 2] / r[mask], -1, 1))
            phi = np.arctan2(d[mask, 1], d[mask, 0])
            for k, l in enumerate(l_values):
                qlm = np.array([sph_harm_y(l, m, theta, phi).mean() for m in range(-l, l + 1)])
                out[i, col + k] = math.sqrt(4 * math.pi / (2 * l + 1) * np.sum(np.abs(qlm) ** 2))
    return np.hstack([out, [out[nb].mean(axis=0) for nb in neighbours]])


@pytest.mark.parametrize("triclinic", [False, True])
def test_agrees_with_a_plain_scipy_reference_to_1e_9(triclinic):
    rng = np.random.default_rng(1)
    pos, box, species = rocksalt(2)
    if triclinic:
        box = np.array([box[0], box[1] * 1.05, box[2] * 0.97, 80.0, 95.0, 70.0])
        pos = (rng.random((len(pos), 3))) @ box_matrix(box)
    pos = pos + rng.normal(0, 0.25, pos.shape)
    s = FeatureSettings()
    X, _ = compute_features(pos, box, species, settings=s, dtype=np.float64)
    ref = reference_features(pos, box, species, s.n_nearest, s.padding, s.l_values)
    np.testing.assert_allclose(X, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("padding", [1.3, 1.9])  # 1.9: many atoms have more than PAIR_MAX bonds
def test_bond_pair_sums_equal_the_spherical_harmonic_sums(padding):
    from lessdask.features.steinhardt import PAIR_L, PAIR_MAX

    pos, box, species = rocksalt(2)
    pos = pos + np.random.default_rng(3).normal(0, 0.2, pos.shape)
    pair = FeatureSettings(padding=padding, average=False)
    assert pair.l_values == PAIR_L
    ylm = FeatureSettings(padding=padding, average=False, l_values=(2, *PAIR_L))  # not PAIR_L: the Y_lm path
    a, n = compute_features(pos, box, species, settings=pair, dtype=np.float64)
    b, _ = compute_features(pos, box, species, settings=ylm, dtype=np.float64)
    assert (n <= PAIR_MAX).any() and ((n > PAIR_MAX).any() if padding > 1.5 else True)
    nl = len(PAIR_L)
    np.testing.assert_allclose(a[:, :nl], b[:, 1:nl + 1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(a[:, nl:], b[:, nl + 2:], rtol=0, atol=1e-12)


def test_agrees_with_freud_steinhardt_on_the_same_neighbours():
    freud = pytest.importorskip("freud")
    pos, box = lattice(FCC, 5, 3.615)
    pos = pos + np.random.default_rng(2).normal(0, 0.05, pos.shape)
    L = box[0]
    X, n = compute_features(pos, box, dtype=np.float64)
    assert np.all(n == 12)
    fbox = freud.box.Box.cube(L)
    fpos = (pos - L / 2).astype(np.float32)
    for k, l in enumerate((3, 4, 6, 8, 10, 12)):
        ql = freud.order.Steinhardt(l)
        ql.compute((fbox, fpos), neighbors={"num_neighbors": 12})
        np.testing.assert_allclose(X[:, k], ql.particle_order, atol=2e-3)


# ----------------------------------------------------------------- invariances (hypothesis)

_noisy_fcc = lattice(FCC, 3, 3.615)


def _noisy(seed, sigma=0.15):
    pos, box = _noisy_fcc
    return pos + np.random.default_rng(seed).normal(0, sigma, pos.shape), box


hyp = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@hyp
@given(seed=st.integers(0, 2**16), rot=st.integers(0, 2**16))
def test_rotation_of_a_free_cluster_leaves_features_unchanged(seed, rot):
    pos, _ = _noisy(seed)
    R = Rotation.random(random_state=rot).as_matrix()
    a, _ = compute_features(pos, None, dtype=np.float64)
    b, _ = compute_features(pos @ R.T + 7.0, None, dtype=np.float64)
    np.testing.assert_allclose(a, b, atol=1e-9)


@hyp
@given(seed=st.integers(0, 2**16), shift=st.lists(st.floats(-50, 50), min_size=3, max_size=3))
def test_translation_in_a_periodic_box_leaves_features_unchanged(seed, shift):
    pos, box = _noisy(seed)
    a, _ = compute_features(pos, box, dtype=np.float64)
    b, _ = compute_features(pos + np.array(shift), box, dtype=np.float64)
    np.testing.assert_allclose(a, b, atol=1e-9)


@hyp
@given(seed=st.integers(0, 2**16), images=st.lists(st.integers(-3, 3), min_size=3, max_size=3))
def test_rewrapping_atoms_by_box_vectors_leaves_features_unchanged(seed, images):
    pos, box = _noisy(seed)
    moved = pos.copy()
    moved[::3] += np.array(images) * box[:3]
    a, _ = compute_features(pos, box, dtype=np.float64)
    b, _ = compute_features(moved, box, dtype=np.float64)
    np.testing.assert_allclose(a, b, atol=1e-9)


@hyp
@given(seed=st.integers(0, 2**16))
def test_permuting_atoms_permutes_features(seed):
    pos, box, species = rocksalt(2)
    pos = pos + np.random.default_rng(seed).normal(0, 0.2, pos.shape)
    perm = np.random.default_rng(seed + 1).permutation(len(pos))
    a, _ = compute_features(pos, box, species)
    b, _ = compute_features(pos[perm], box, species[perm])
    np.testing.assert_allclose(a[perm], b, atol=1e-6)


@hyp
@given(seed=st.integers(0, 2**16), reps=st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 2)))
def test_replicating_the_box_replicates_features(seed, reps):
    pos, box = _noisy(seed)
    H = box_matrix(box)
    shifts = np.array([[i, j, k] for i in range(reps[0]) for j in range(reps[1]) for k in range(reps[2])])
    big = (pos[None] + (shifts @ H)[:, None]).reshape(-1, 3)
    big_box = np.array([*(box[:3] * reps), 90, 90, 90])
    a, _ = compute_features(pos, box, dtype=np.float64)
    b, _ = compute_features(big, big_box, dtype=np.float64)
    np.testing.assert_allclose(np.tile(a, (len(shifts), 1)), b, atol=1e-9)


@hyp
@given(seed=st.integers(0, 2**16), n_chunks=st.integers(1, 7))
def test_chunks_of_atoms_give_exactly_the_unchunked_features(seed, n_chunks):
    pos, box, species = rocksalt(2)
    pos = pos + np.random.default_rng(seed).normal(0, 0.2, pos.shape)
    full, nfull = compute_features(pos, box, species)
    idx = np.random.default_rng(seed).permutation(len(pos))
    for chunk in np.array_split(idx, n_chunks):
        part, npart = compute_features(pos, box, species, atoms=chunk)
        np.testing.assert_array_equal(part, full[chunk])
        np.testing.assert_array_equal(npart, nfull[chunk])


# ----------------------------------------------------------------- boxes and edge cases


def test_triclinic_primitive_fcc_cell_of_one_atom_sees_its_own_images():
    a = 3.615
    d = a / math.sqrt(2)
    X, n = compute_features([[0.3, -0.2, 0.1]], [d, d, d, 60, 60, 60])
    cubic, _ = compute_features(*lattice(FCC, 3, a))
    assert n[0] == 12
    np.testing.assert_allclose(X[0], cubic[0], atol=1e-6)


def test_box_smaller_than_the_cutoff_counts_every_periodic_image():
    X, n = compute_features([[0.0, 0.0, 0.0]], [2.5, 2.5, 2.5, 90, 90, 90])
    assert n[0] == 6
    np.testing.assert_allclose(X[0, [1, 2]], [0.76376, 0.35355], atol=1e-5)


def test_isolated_atom_and_sparse_cluster_give_finite_features():
    pos = np.array([[0.0, 0, 0], [1000.0, 0, 0], [1002.0, 0, 0]])
    X, n = compute_features(pos, None)
    assert np.all(np.isfinite(X))
    assert n.tolist() == [0, 1, 1]
    assert np.all(X[0] == 0)
    np.testing.assert_allclose(X[1, :6], 1.0, atol=1e-6)  # one bond: every q_l is 1


def test_surface_atoms_of_a_free_cluster_use_the_neighbours_that_exist():
    pos, _ = lattice(FCC, 3, 3.615)
    X, n = compute_features(pos, None)
    assert np.all(np.isfinite(X)) and n.min() >= 3 and n.max() == 12


def test_coincident_atoms_do_not_produce_nan():
    pos, box = lattice(FCC, 3, 3.615)
    pos = np.vstack([pos, pos[:1]])
    X, n = compute_features(pos, box)
    assert np.all(np.isfinite(X))
    np.testing.assert_allclose(X[-1], X[0], atol=1e-6)


def test_nan_coordinates_are_refused_naming_the_atom():
    pos, box = lattice(FCC, 2, 3.615)
    pos[5, 1] = np.nan
    with pytest.raises(InputError, match="atom index 5"):
        compute_features(pos, box, where="frame 3 of x.dump")


@pytest.mark.parametrize("box", [[0, 10, 10, 90, 90, 90], [10, 10, -1, 90, 90, 90],
                                 [10, 10, 10, 90, 90, 190], [10, 10, 10, 10, 10, 150]])
def test_impossible_boxes_are_refused(box):
    with pytest.raises(InputError, match="box"):
        compute_features(np.zeros((1, 3)), box)


def test_averaged_features_are_the_mean_over_the_atom_and_its_neighbours():
    from scipy.spatial import cKDTree

    pos, box, species = rocksalt(3)
    pos = pos + np.random.default_rng(4).normal(0, 0.2, pos.shape)
    X, n, rc = compute_features(pos, box, species, return_cutoff=True)
    assert X.shape[1] == 24
    L = np.asarray(box[:3])
    tree = cKDTree(np.mod(pos, L), boxsize=L)
    for i, nb in enumerate(tree.query_ball_point(np.mod(pos, L), rc)):
        assert len(nb) == n[i] + 1  # the atom itself and its neighbours
        np.testing.assert_allclose(X[i, 12:], X[nb, :12].mean(axis=0), atol=1e-6)


def test_settings_written_before_averaging_existed_load_without_it():
    old = {"n_nearest": 4, "padding": 1.3, "l_values": [3, 4, 6, 8, 10, 12], "max_cutoff": 10.0}
    s = FeatureSettings.from_dict(old)
    assert not s.average and s.n_features == 12
    assert FeatureSettings().n_features == 24
    assert FeatureSettings.from_dict(FeatureSettings().to_dict()) == FeatureSettings()


# ----------------------------------------------------------------- one frame, many chunks


def _gas_and_crystal(seed):
    """A free fcc cluster and a few far, sparse atoms: some atoms need wider searches than others."""
    pos, _ = lattice(FCC, 3, 3.615)
    rng = np.random.default_rng(seed)
    pos = pos + rng.normal(0, 0.1, pos.shape)
    far = rng.uniform(30, 60, (12, 3))
    return np.vstack([pos, far])


@hyp
@given(seed=st.integers(0, 2**16), n_chunks=st.integers(2, 6))
def test_chunks_needing_wider_searches_give_exactly_the_unchunked_features(seed, n_chunks):
    from lessdask.features.engine import FrameFeatures

    pos = _gas_and_crystal(seed)
    full, nfull = compute_features(pos, None)
    idx = np.random.default_rng(seed).permutation(len(pos))
    frame = FrameFeatures(pos, None)  # one frame asked chunk by chunk, as the pipeline does
    for chunk in np.array_split(idx, n_chunks):
        part, npart = compute_features(pos, None, atoms=chunk)
        np.testing.assert_array_equal(part, full[chunk])
        np.testing.assert_array_equal(npart, nfull[chunk])
        shared, nshared, _ = frame.features(chunk)
        np.testing.assert_array_equal(shared, full[chunk])
        np.testing.assert_array_equal(nshared, nfull[chunk])


def test_averages_do_not_change_when_neighbour_lists_overflow(monkeypatch):
    """Atoms with more neighbours than the kept list are averaged by a second search: same result."""
    from lessdask.features import engine

    pos, box, species = rocksalt(2)
    pos = pos + np.random.default_rng(4).normal(0, 0.35, pos.shape)
    kept, _ = compute_features(pos, box, species, dtype=np.float64)
    monkeypatch.setattr(engine, "NEIGHBOUR_SLOTS", 3)  # every atom overflows
    searched, _ = compute_features(pos, box, species, dtype=np.float64)
    np.testing.assert_array_equal(searched, kept)
    chunk = np.arange(5, 40)
    part, _ = compute_features(pos, box, species, atoms=chunk, dtype=np.float64)
    np.testing.assert_array_equal(part, kept[chunk])
