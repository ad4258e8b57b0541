"""Extension of a trained model to a new class by generative sampling."""

from __future__ import annotations

import numpy as np
import pytest

from lessdask.errors import InputError
from lessdask.model import load_model, save_model
from lessdask.model.extension import extend_model, sample_class
from lessdask.reference.dataset import load_reference


@pytest.fixture(scope="module")
def model():
    return load_model("default")


@pytest.fixture(scope="module")
def graphite():
    g = load_reference("graphite")
    train = (g.structure.values == "graphite") & (g.split.values == "train")
    test = (g.structure.values == "graphite") & (g.split.values != "train")
    return g.features.values[train], g.features.values[test]


def test_sampler_only_keeps_states_the_model_assigns_to_the_class(model):
    c = list(model.classes_).index("fcc")
    X, stats = sample_class(model, c, 200, p_accept=0.8, seed=1)
    assert X.shape == (200, 12)
    assert np.all(model.predict_proba(X)[:, c] > 0.8)
    assert 0 < stats["acceptance"] <= 1
    assert np.all(X[:, 6:] == 0), "fcc is monatomic: other-species features stay zero"
    assert X[:, :6].std(axis=0).min() > 0, "chains move away from their start"


def test_sampler_is_reproducible_with_a_seed(model):
    c = list(model.classes_).index("CaF2")
    a, _ = sample_class(model, c, 100, seed=3)
    b, _ = sample_class(model, c, 100, seed=3)
    d, _ = sample_class(model, c, 100, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, d)


def test_strict_threshold_that_nothing_passes_is_reported(model):
    c = list(model.classes_).index("AM")
    with pytest.raises(InputError, match="lower p_accept"):
        sample_class(model, c, 50, p_accept=1.0, seed=0)


def test_extended_model_learns_graphite_and_keeps_old_predictions(model, graphite, tmp_path):
    X_new, X_test = graphite
    ext = extend_model(model, "graphite", X_new, fraction=0.02, seed=0)
    assert list(ext.classes_)[-1] == "graphite" and len(ext.classes_) == len(model.classes_) + 1
    assert np.mean(ext.predict(X_test) == "graphite") > 0.99
    ref = load_reference("crystals")
    X_old = ref.features.values[ref.split.values == "val_config"][::7]
    # kept class models only gain a few boosting rounds: old predictions barely move
    assert np.mean(ext.predict(X_old) == model.predict(X_old)) > 0.99
    y_old = ref.structure.values[ref.split.values == "val_config"][::7]
    assert np.mean(ext.predict(X_old) == y_old) > np.mean(model.predict(X_old) == y_old) - 0.005
    path = save_model(ext, tmp_path / "ext.lessmodel")
    again = load_model(path)
    np.testing.assert_array_equal(again.predict(X_test[:500]), ext.predict(X_test[:500]))


def test_extending_twice_works(model, graphite):
    X_new, _ = graphite
    once = extend_model(model, "graphite", X_new, seed=0)
    rng = np.random.default_rng(0)
    fake = np.clip(rng.normal(0.95, 0.01, (2000, 12)), 0, 1).astype(np.float32)  # a made-up class
    twice = extend_model(once, "blob", fake, fraction=0.1, seed=0)
    assert list(twice.classes_)[-2:] == ["graphite", "blob"]
    # kept class models never saw "blob": a few far-out atoms still score high for graphite
    assert np.mean(twice.predict(fake) == "blob") > 0.9


def test_existing_class_name_is_refused(model, graphite):
    with pytest.raises(InputError, match="already has a class named 'fcc'"):
        extend_model(model, "fcc", graphite[0])
