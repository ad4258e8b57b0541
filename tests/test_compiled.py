"""Compiled tree inference and envelope test equal LightGBM's Booster and the numpy envelope."""

from __future__ import annotations

import os

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lessdask.model import LESSClassifier, load_model
from lessdask.model.compiled import (
    INFERENCE_ENV,
    CompiledForest,
    UnsupportedForest,
    booster_inference,
    envelope_arrays,
    float32_at_or_below,
    other_labels,
)
from lessdask.model.envelope import envelope_score
from lessdask.model.extension import extend_model
from lessdask.reference.dataset import load_reference


@pytest.fixture(scope="module")
def model():
    return load_model("default")


@pytest.fixture(scope="module")
def extended(model):
    g = load_reference("graphite")
    train = (g.structure.values == "graphite") & (g.split.values == "train")
    return extend_model(model, "graphite", g.features.values[train], fraction=0.02, seed=0)


@pytest.fixture(scope="module")
def reference_rows():
    ref = load_reference("crystals")
    g = load_reference("graphite")
    X = np.concatenate([ref.features.values, g.features.values])
    return X[np.random.default_rng(0).permutation(len(X))[:40_000]]


def booster_scores(model, X):
    return np.column_stack([b.predict(X, num_threads=1) for b in model.mega_models_])


def rows_at_thresholds(model, base, rng):
    """Rows whose features sit exactly at, just below and just above the split thresholds."""
    rows = []
    for b in model.mega_models_:
        for tree in b.dump_model()["tree_info"]:
            stack = [tree["tree_structure"]]
            while stack:
                node = stack.pop()
                if "split_feature" not in node:
                    continue
                t = node["threshold"]
                for x in (np.float32(t), np.nextafter(np.float32(t), np.float32(-1)),
                          np.nextafter(np.float32(t), np.float32(2)), float32_at_or_below([t])[0]):
                    row = base[rng.integers(len(base))].copy()
                    row[node["split_feature"]] = x
                    rows.append(row)
                stack += [node["left_child"], node["right_child"]]
    return np.asarray(rows, np.float32)


@pytest.mark.parametrize("which", ["shipped", "extended"])
def test_compiled_scores_equal_booster_predict_bitwise(which, model, extended, reference_rows):
    m = model if which == "shipped" else extended
    assert m.compiled_ is not None
    rng = np.random.default_rng(1)
    uniform = rng.random((5_000, m.n_features_in_), dtype=np.float32)
    exact = rows_at_thresholds(m, reference_rows, rng)
    assert len(exact) > 4 * 25 * len(m.classes_)
    for X in (reference_rows, uniform, exact):
        np.testing.assert_array_equal(m.compiled_.scores(X), booster_scores(m, X))


@pytest.mark.parametrize("which", ["shipped", "extended"])
def test_compiled_probabilities_and_labels_equal_the_booster_path(which, model, extended, reference_rows):
    m = model if which == "shipped" else extended
    X = reference_rows
    P = m.predict_proba(X)
    labels = m.predict_labels(X, proba=P)
    with booster_inference():
        P_ref = m.predict_proba(X)
        labels_ref = m.predict_labels(X, proba=P_ref)
        score = envelope_score(X, np.argmax(P_ref, axis=1), m.envelope_centres_, m.envelope_radius_)
    np.testing.assert_array_max_ulp(P.astype(np.float32), P_ref.astype(np.float32), maxulp=1)
    np.testing.assert_array_equal(np.argmax(P, axis=1), np.argmax(P_ref, axis=1))
    # "other": the compiled distances are direct float32 differences, the numpy ones
    # |x|^2 + |c|^2 - 2 x.c; they may only disagree for atoms right at an envelope's edge
    differ = labels != labels_ref
    assert np.all(np.abs(score[differ] - 1.0) < 1e-3)
    assert differ.mean() < 1e-3
    assert (labels == -1).any()


@pytest.mark.parametrize("which", ["shipped", "extended"])
@pytest.mark.parametrize("threads", [1, 3])
def test_one_pass_probabilities_and_labels_equal_predict_proba_then_predict_labels(which, threads, model, extended,
                                                                                  reference_rows):
    m = model if which == "shipped" else extended
    m.prediction_threads = threads
    try:
        X = reference_rows
        rng = np.random.default_rng(2)
        ties = np.zeros((4, m.n_features_in_), np.float32)  # all-zero rows: equal scores are possible
        for X in (reference_rows, rng.random((3_000, m.n_features_in_), dtype=np.float32), ties):
            P = m.predict_proba(X)
            for other in (True, False):
                proba, labels = m.predict_proba_and_labels(X, other=other)
                assert proba.dtype == np.float32 and labels.dtype == np.int8
                np.testing.assert_array_equal(proba, P.astype(np.float32))
                np.testing.assert_array_equal(labels, m.predict_labels(X, proba=P, other=other))
        with booster_inference():  # the fallback gives the same
            proba_b, labels_b = m.predict_proba_and_labels(reference_rows)
            assert proba_b.dtype == np.float32
            np.testing.assert_array_equal(labels_b, m.predict_labels(reference_rows))
    finally:
        m.prediction_threads = 1


def test_switching_to_the_booster_path_sets_and_restores_the_environment(model):
    before = os.environ.get(INFERENCE_ENV)
    with booster_inference():
        assert os.environ[INFERENCE_ENV] == "booster"
        assert model._forest() is None
    assert os.environ.get(INFERENCE_ENV) == before
    assert model._forest() is model.compiled_


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 1200), st.just(24)),
              elements=st.floats(0, 1, width=32)))
def test_compiled_scores_equal_booster_on_any_rows_in_the_unit_cube(X):
    m = load_model("default")
    np.testing.assert_array_equal(m.compiled_.scores(X), booster_scores(m, X))


def test_nan_and_tiny_inputs_are_read_as_lightgbm_reads_dense_rows(model, reference_rows):
    X = reference_rows[:3_000].copy()
    rng = np.random.default_rng(2)
    X[rng.random(X.shape) < 0.05] = np.nan
    X[rng.random(X.shape) < 0.05] = np.float32(1e-36)
    X[rng.random(X.shape) < 0.05] = np.float32(-1e-36)
    np.testing.assert_array_equal(model.compiled_.scores(X), booster_scores(model, X))


def test_threads_split_rows_without_changing_scores(model, reference_rows):
    X = reference_rows[:10_001]
    np.testing.assert_array_equal(model.compiled_.scores(X, threads=3), model.compiled_.scores(X))


def test_envelope_kernel_matches_envelope_score_away_from_the_edge(model, reference_rows):
    X = reference_rows[:20_000].copy()
    X[:2_000] += np.float32(0.05)  # pushed out of some envelopes
    labels = np.argmax(model.predict_proba(X), axis=1).astype(np.int8)
    score = envelope_score(X, labels, model.envelope_centres_, model.envelope_radius_)
    got = other_labels(X, labels, envelope_arrays(model.envelope_centres_, model.envelope_radius_))
    clear = np.abs(score - 1.0) > 1e-3
    np.testing.assert_array_equal(got[clear], np.where(score > 1, -1, labels)[clear])
    assert 0 < (got == -1).sum() < len(X)
    assert np.array_equal(got[got != -1], labels[got != -1])


def test_boosters_trained_with_missing_values_stay_on_the_booster_path():
    rng = np.random.default_rng(3)
    X = rng.random((400, 4))
    y = (X[:, 0] > 0.5).astype(float)
    X[rng.random(X.shape) < 0.2] = np.nan  # LightGBM then learns a direction for missing values
    booster = lgb.train({"verbose": -1, "num_leaves": 4}, lgb.Dataset(X, y), num_boost_round=3)
    with pytest.raises(UnsupportedForest, match="missing-value"):
        CompiledForest.from_boosters([booster])
    m = LESSClassifier(envelope_quantile=None).fit(np.nan_to_num(X), y.astype(int))
    fallback = LESSClassifier.from_fitted_state(m.get_params(), m.fitted_state(), [], [booster, booster])
    assert fallback.compiled_ is None
    assert fallback.predict_proba(np.nan_to_num(X[:5])).shape == (5, 2)


def test_wide_trees_use_64_bit_leaf_masks():
    rng = np.random.default_rng(4)
    X = rng.random((5_000, 3)).astype(np.float32)
    y = np.sin(8 * X[:, 0]) + X[:, 1] * X[:, 2]
    booster = lgb.train({"verbose": -1, "num_leaves": 60, "min_data_in_leaf": 5}, lgb.Dataset(X, y),
                        num_boost_round=4)
    forest = CompiledForest.from_boosters([booster])
    assert forest.mask.dtype == np.uint64
    np.testing.assert_array_equal(forest.scores(X)[:, 0], booster.predict(X))


def test_single_leaf_trees_and_too_wide_trees():
    rng = np.random.default_rng(5)
    X = rng.random((300, 3)).astype(np.float32)
    flat = lgb.train({"verbose": -1}, lgb.Dataset(X, np.ones(300)), num_boost_round=2)
    np.testing.assert_array_equal(CompiledForest.from_boosters([flat]).scores(X)[:, 0], flat.predict(X))
    wide = lgb.train({"verbose": -1, "num_leaves": 100, "min_data_in_leaf": 1}, lgb.Dataset(X, rng.random(300)),
                     num_boost_round=1)
    with pytest.raises(UnsupportedForest, match="leaves"):
        CompiledForest.from_boosters([wide])
