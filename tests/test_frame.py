"""The one in-memory core, classify_frame, and the one frame reader, read_frame."""

from __future__ import annotations

import numpy as np
import pytest

from lessdask.errors import InputError
from lessdask.frame import check_species, classify_frame, resolve_model
from lessdask.reference import build_crystal


def test_classify_frame_is_features_then_probabilities_then_labels():
    from lessdask.features import compute_features

    c = build_crystal("NaCl", 3)
    rng = np.random.default_rng(0)
    pos = c.positions + rng.normal(0, 0.1, c.positions.shape)
    model = resolve_model("default")
    r = classify_frame(pos, c.dimensions, c.species, model)
    X, n = compute_features(pos, c.dimensions, c.species, settings=model.feature_settings_)
    np.testing.assert_array_equal(r.features, X)
    np.testing.assert_array_equal(r.n_neighbors, n)
    np.testing.assert_allclose(r.probabilities, model.predict_proba(X).astype(np.float32))
    np.testing.assert_array_equal(r.labels, model.predict_labels(X))
    assert r.labels.dtype == np.int8 and r.probabilities.dtype == np.float32
    assert np.mean(np.asarray(r.classes)[r.labels] == "NaCl") > 0.95


def test_chunks_of_a_frame_classify_exactly_like_the_whole_frame():
    c = build_crystal("fcc", 4)
    pos = c.positions + np.random.default_rng(1).normal(0, 0.15, c.positions.shape)
    whole = classify_frame(pos, c.dimensions)
    order = np.random.default_rng(2).permutation(c.n_atoms)
    for chunk in np.array_split(order, 3):
        part = classify_frame(pos, c.dimensions, atoms=chunk)
        np.testing.assert_array_equal(part.labels, whole.labels[chunk])
        np.testing.assert_array_equal(part.probabilities, whole.probabilities[chunk])


def test_other_can_be_switched_off():
    c = build_crystal("fcc", 3)
    pos = c.positions + np.random.default_rng(3).normal(0, 0.6, c.positions.shape)  # far from any crystal
    r = classify_frame(pos, c.dimensions)
    assert (r.labels == -1).any()
    r2 = classify_frame(pos, c.dimensions, other=False)
    np.testing.assert_array_equal(r2.labels, r2.probabilities.argmax(1))


def test_a_model_file_path_is_loaded_once_per_process(tmp_path):
    from lessdask.model.default import default_model_path

    path = default_model_path()
    assert resolve_model(path) is resolve_model(str(path))


def test_species_beyond_what_the_model_distinguishes_are_refused_with_a_short_message():
    model = resolve_model("default")
    with pytest.raises(InputError, match="3 species") as err:
        check_species(["A", "B", "C"] * 5, model, "x.data")
    assert "x.data" in str(err.value)
    with pytest.raises(InputError) as err:
        check_species(np.arange(500_000), model)
    assert len(str(err.value)) < 600  # a few species named, never one per atom


def test_read_frame_takes_the_box_of_an_extended_xyz_lattice(tmp_path):
    from lessdask.trajectory import open_universe, read_frame

    c = build_crystal("fcc", 3)
    L = c.dimensions[:3]
    path = tmp_path / "x.extxyz"
    with open(path, "w") as f:
        for _ in range(2):
            lattice = f"{L[0]} 0 0 0 {L[1]} 0 0 0 {L[2]}"
            f.write(f'{c.n_atoms}\nLattice="{lattice}" Properties=species:S:1:pos:R:3 pbc="T T T"\n')
            for x, y, z in c.positions:
                f.write(f"Au {x:.6f} {y:.6f} {z:.6f}\n")
    u = open_universe(path)
    pos, box, _ = read_frame(u, 1)
    np.testing.assert_allclose(box[:3], L, rtol=1e-6)
    with pytest.raises(InputError, match="no usable periodic box"):
        read_frame(open_universe(_plain_xyz(tmp_path, c)), 0)


def _plain_xyz(tmp_path, c):
    path = tmp_path / "plain.xyz"
    with open(path, "w") as f:
        f.write(f"{c.n_atoms}\nno box\n")
        for x, y, z in c.positions:
            f.write(f"Au {x:.6f} {y:.6f} {z:.6f}\n")
    return path


def _noisy_fcc():
    c = build_crystal("fcc", 4)
    rng = np.random.default_rng(5)
    return c.positions + rng.normal(0, 0.15, c.positions.shape), c.dimensions


def test_an_ase_atoms_is_classified_like_its_coordinates_box_and_symbols():
    ase = pytest.importorskip("ase")
    from MDAnalysis.lib.mdamath import triclinic_vectors

    pos, dims = _noisy_fcc()
    atoms = ase.Atoms("Au" * len(pos), positions=pos, cell=triclinic_vectors(dims), pbc=True)
    ref = classify_frame(pos, dims, ["Au"] * len(pos))
    r = classify_frame(atoms)
    np.testing.assert_allclose(r.probabilities, ref.probabilities, atol=1e-5)
    np.testing.assert_array_equal(r.labels, ref.labels)
    # a cell in any orientation (ASE keeps it as given) is turned into MDAnalysis' orientation
    atoms.rotate(37, "x", rotate_cell=True)
    atoms.rotate(-52, "z", rotate_cell=True)
    rotated = classify_frame(atoms)
    np.testing.assert_allclose(rotated.probabilities, ref.probabilities, atol=1e-4)
    assert np.mean(rotated.labels == ref.labels) > 0.99  # atoms on a decision boundary may flip
    # free boundaries
    free = ase.Atoms("Au" * len(pos), positions=pos)
    np.testing.assert_allclose(classify_frame(free).probabilities, classify_frame(pos, None).probabilities, atol=1e-6)


def test_a_triclinic_ase_cell_gives_the_labels_of_the_cubic_one():
    pytest.importorskip("ase")
    from ase.build import bulk

    primitive = classify_frame(bulk("Au", "fcc", a=4.08).repeat(6))  # 60-degree rhombohedral cell
    cubic = classify_frame(bulk("Au", "fcc", a=4.08, cubic=True).repeat(4))
    assert {cubic.classes[k] for k in primitive.labels} == {"fcc"}
    np.testing.assert_allclose(primitive.probabilities, np.repeat(cubic.probabilities[:1], 216, axis=0), atol=1e-4)


def test_ase_atoms_that_cannot_be_classified_are_refused():
    ase = pytest.importorskip("ase")
    pos, dims = _noisy_fcc()
    slab = ase.Atoms("Au" * len(pos), positions=pos, cell=dims[:3], pbc=[True, True, False])
    with pytest.raises(InputError, match="periodic along some axes"):
        classify_frame(slab)
    with pytest.raises(InputError, match="box is given twice"):
        classify_frame(slab, dims)


def test_a_freud_style_box_and_points_pair_is_classified_like_the_mdanalysis_box():
    from MDAnalysis.lib.mdamath import triclinic_vectors

    pos, dims = _noisy_fcc()
    ref = classify_frame(pos, dims)
    L = dims[:3]
    r = classify_frame((L, pos - L / 2))  # freud's [Lx, Ly, Lz], origin at the centre
    np.testing.assert_allclose(r.probabilities, ref.probabilities, atol=1e-5)
    np.testing.assert_array_equal(r.labels, ref.labels)
    # a triclinic freud Box: same fractional coordinates as the MDAnalysis box
    freud = pytest.importorskip("freud")
    tri = np.array([12.0, 12.0, 12.0, 75.0, 80.0, 65.0])
    a, b, c = triclinic_vectors(tri).astype(np.float64)
    frac = np.random.default_rng(2).random((300, 3))
    xyz = frac @ np.array([a, b, c])
    box = freud.box.Box(a[0], b[1], c[2], b[0] / b[1], c[0] / c[2], c[1] / c[2])
    r = classify_frame((box, box.wrap(xyz - 0.5 * (a + b + c))))
    ref = classify_frame(xyz, tri)
    np.testing.assert_allclose(r.probabilities, ref.probabilities, atol=1e-4)


def test_coordinates_without_a_box_are_refused():
    pos, _ = _noisy_fcc()
    with pytest.raises(InputError, match="needs the box"):
        classify_frame(pos)
    freud = pytest.importorskip("freud")
    with pytest.raises(InputError, match="two-dimensional"):
        classify_frame((freud.box.Box.square(10.0), pos))


def test_the_examples_in_the_docstring_run():
    import doctest

    import lessdask.frame

    result = doctest.testmod(lessdask.frame, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
