"""Extension of a trained model to a new class by generative sampling."""

from __future__ import annotations

import numpy as np
import pytest

import lessdask.model.extension as extension
from lessdask.errors import InputError
from lessdask.model import load_model, save_model
from lessdask.model.extension import extend_model, sample_class, sample_classes
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


@pytest.fixture(scope="module")
def extended(model, graphite):
    return extend_model(model, "graphite", graphite[0], fraction=0.02, seed=0, return_info=True)


def test_sampler_only_keeps_states_the_model_assigns_to_the_class(model):
    c = list(model.classes_).index("fcc")
    X, stats = sample_class(model, c, 200, p_accept=0.8, seed=1)
    assert X.shape == (200, model.n_features_in_)
    assert np.all(model.predict_proba(X)[:, c] > 0.8)
    assert 0 < stats["acceptance"] <= 1
    # features without spread in the class (fcc is monatomic: the other-species features)
    # are never proposed and keep the value of the class's modes
    frozen = (np.asarray(model.class_mode_std_[c]) == 0).all(axis=0)
    assert frozen.any(), "fcc is monatomic: some features have no spread"
    for j in np.flatnonzero(frozen):
        assert np.isin(X[:, j], np.asarray(model.class_modes_[c])[:, j]).all()
    assert X[:, ~frozen].std(axis=0).min() > 0, "chains move away from their start"


def test_sampler_is_reproducible_with_a_seed(model):
    c = list(model.classes_).index("CaF2")
    a, _ = sample_class(model, c, 100, seed=3)
    b, _ = sample_class(model, c, 100, seed=3)
    d, _ = sample_class(model, c, 100, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, d)


def test_joint_sampling_of_all_classes_equals_sampling_each_alone(model):
    # the vectorised path scores every class's chains in one call; each class keeps its own
    # random stream, so its samples do not depend on the other classes in the batch (this is
    # also what makes sampling on a Dask cluster, one class per task, give the same samples)
    classes = list(range(len(model.classes_)))
    seeds = [11 * c + 5 for c in classes]
    joint = sample_classes(model, classes, 60, seeds=seeds, chains=20, burn_in=1)
    for c, s, (X, stats) in zip(classes, seeds, joint):
        alone, alone_stats = sample_class(model, c, 60, seed=s, chains=20, burn_in=1)
        np.testing.assert_array_equal(X, alone)
        assert stats == alone_stats
    again = sample_classes(model, classes[::-1], 60, seeds=seeds[::-1], chains=20, burn_in=1)
    for (X, _), (Y, _) in zip(joint, again[::-1]):
        np.testing.assert_array_equal(X, Y)


def test_strict_threshold_that_nothing_passes_is_reported(model):
    c = list(model.classes_).index("AM")
    with pytest.raises(InputError, match="lower p_accept"):
        sample_class(model, c, 50, p_accept=1.0, seed=0)
    with pytest.raises(InputError, match="lower p_accept"):
        sample_classes(model, [0, c], 50, p_accept=1.0, seeds=[0, 1])


def test_extended_model_learns_graphite_and_keeps_old_predictions(model, graphite, extended, tmp_path):
    _, X_test = graphite
    ext, info = extended
    assert list(ext.classes_)[-1] == "graphite" and len(ext.classes_) == len(model.classes_) + 1
    # the target: >= 99.9 % of held-out graphite from 2 % of the graphite data
    assert np.mean(ext.predict(X_test) == "graphite") >= 0.999
    ref = load_reference("crystals")
    X_old = ref.features.values[ref.split.values == "val_config"][::7]
    # kept class models are unchanged: old predictions move only where graphite outscores them
    assert np.mean(ext.predict(X_old) == model.predict(X_old)) > 0.99
    assert info["new_samples_used"] == round(0.02 * len(graphite[0]))
    path = save_model(ext, tmp_path / "ext.lessmodel")
    again = load_model(path)
    np.testing.assert_array_equal(again.predict(X_test[:500]), ext.predict(X_test[:500]))


def test_extension_costs_the_old_classes_at_most_0_3_points(model, extended):
    ext, _ = extended
    ref = load_reference("crystals")
    X_old = ref.features.values[ref.split.values == "val_config"][::7]
    y_old = ref.structure.values[ref.split.values == "val_config"][::7]
    assert np.mean(ext.predict(X_old) == y_old) >= np.mean(model.predict(X_old) == y_old) - 0.003


def test_kept_class_models_are_unchanged_and_claiming_classes_get_more_samples(model, graphite, extended):
    _, X_test = graphite
    ext, info = extended
    classes = list(map(str, model.classes_))
    for old, new in zip(model.mega_models_, ext.mega_models_):
        assert new is old
    # the class the old model gives graphite to claims it: the new class model sees more of it
    claiming = info["claiming_classes"]
    names, counts = np.unique(model.predict(X_test), return_counts=True)
    assert str(names[np.argmax(counts)]) in claiming
    assert 0 < len(claiming) < len(classes)
    assert info["samples_per_claiming_class"] == extension.CLAIM_SAMPLES_PER_CLASS
    assert info["samples_trained_on"] == (len(claiming) * extension.CLAIM_SAMPLES_PER_CLASS
                                          + (len(classes) - len(claiming)) * info["samples_per_old_class"]
                                          + info["new_class_samples_trained_on"])
    # the new class model outscores every kept one on held-out graphite
    S = ext.class_scores(X_test[:2000])
    assert np.mean(S[:, -1] > S[:, :-1].max(axis=1)) > 0.99


def test_extension_is_reproducible_with_a_seed(model, graphite, extended):
    X_new, X_test = graphite
    ext, _ = extended
    same = extend_model(model, "graphite", X_new, fraction=0.02, seed=0)
    other = extend_model(model, "graphite", X_new, fraction=0.02, seed=1)
    np.testing.assert_array_equal(same.class_scores(X_test[:2000]), ext.class_scores(X_test[:2000]))
    assert not np.array_equal(other.class_scores(X_test[:2000]), ext.class_scores(X_test[:2000]))


def test_extension_on_a_dask_cluster_equals_the_local_one(model, graphite, extended, client):
    X_new, X_test = graphite
    ext, info = extended
    remote, remote_info = extend_model(model, "graphite", X_new, fraction=0.02, seed=0, client=client,
                                       return_info=True)
    assert remote_info["acceptance"] == info["acceptance"]
    np.testing.assert_array_equal(remote.class_scores(X_test[:2000]), ext.class_scores(X_test[:2000]))


def test_smoothed_bootstrap_keeps_features_without_spread_exact():
    rng = np.random.default_rng(0)
    X = np.zeros((50, 5), np.float32)
    X[:, :3] = rng.uniform(0.3, 0.7, (50, 3))
    X[:, 3] = 0.5  # no spread: stays exact
    out = extension._smoothed_bootstrap(X, 3, 1.0, 5, np.random.default_rng(1))
    assert out.shape == (200, 5) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:50], X)
    assert np.all(out[:, 3] == 0.5) and np.all(out[:, 4] == 0)
    assert np.all((out >= 0) & (out <= 1))
    assert not np.array_equal(out[50:100], X)
    np.testing.assert_array_equal(out, extension._smoothed_bootstrap(X, 3, 1.0, 5, np.random.default_rng(1)))
    np.testing.assert_array_equal(extension._smoothed_bootstrap(X, 0, 1.0, 5, rng), X)
    np.testing.assert_array_equal(extension._smoothed_bootstrap(X[:1], 3, 1.0, 5, rng), X[:1])


def test_class_modes_find_the_clusters_of_a_class():
    from lessdask.model.kmeans import N_MODES, class_modes

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0.2, 0.01, (40, 7)), rng.normal(0.8, 0.01, (60, 7))])
    modes, spread, weight = class_modes(X, np.zeros(len(X), int), 1, 0)
    assert modes.shape == spread.shape == (1, N_MODES, 7) and weight.shape == (1, N_MODES)
    assert weight.sum() == pytest.approx(1.0)
    # the two clusters are found: every mode lies near 0.2 or near 0.8
    live = weight[0] > 0
    assert np.all(np.minimum(np.abs(modes[0, live] - 0.2), np.abs(modes[0, live] - 0.8)).max(axis=1) < 0.05)
    one = class_modes(np.full((5, 7), 0.4), np.zeros(5, int), 1, 0)
    assert one[2][0, 0] == 1.0 and np.all(one[0][0, 0] == np.float32(0.4))


def test_an_extended_model_carries_every_class_array_with_one_more_row(model, extended):
    from lessdask.model.stacking import CLASS_ARRAYS

    once, _ = extended
    for attr in CLASS_ARRAYS:
        old, new = getattr(model, attr), getattr(once, attr)
        assert new.shape == (old.shape[0] + 1, *old.shape[1:]) and new.dtype == old.dtype, attr
        np.testing.assert_array_equal(new[:-1], old)
    assert once.envelope_centres_.shape[0] == len(once.classes_) == len(once.mega_models_)


def test_extending_twice_works(model, graphite, extended):
    once, _ = extended
    rng = np.random.default_rng(0)
    fake = np.clip(rng.normal(0.95, 0.01, (2000, model.n_features_in_)), 0, 1).astype(np.float32)  # a made-up class
    twice = extend_model(once, "blob", fake, fraction=0.1, seed=0)
    assert list(twice.classes_)[-2:] == ["graphite", "blob"]
    assert np.mean(twice.predict(fake) == "blob") > 0.9


def test_existing_class_name_is_refused(model, graphite):
    with pytest.raises(InputError, match="already has a class named 'fcc'"):
        extend_model(model, "fcc", graphite[0])


def test_envelope_widening_follows_the_temperatures_the_data_cover():
    from lessdask.model.envelope import TEMPERATURE_EXPONENT, TRANSFER_RATIO, temperature_widening

    full = TRANSFER_RATIO**TEMPERATURE_EXPONENT
    f, note = temperature_widening(np.full(50, 1200.0))
    assert f == pytest.approx(full) and "one temperature (1200 K)" in note
    f, note = temperature_widening(None)
    assert f == pytest.approx(full) and "unknown" in note
    f, note = temperature_widening([300.0, 500.0, np.nan])  # spans 5/3: part of the way
    assert 1.0 < f < full and "span only 300-500 K" in note
    f, note = temperature_widening([300.0, 900.0])
    assert f == 1.0 and "fitted from them as they are" in note


def test_a_class_taught_at_one_temperature_still_holds_when_hotter(model):
    """Graphite from one temperature: the widened envelope keeps hot graphite out of "other"."""
    g = load_reference("graphite")
    cfg = np.char.partition(g.config_id.values.astype(str), "/")[:, 0]
    crystal = (g.structure.values == "graphite") & np.char.startswith(cfg, "graphite-crystal-0")
    temps = np.unique(g.temperature.values[crystal])
    cold, hot = temps[1], temps[temps >= 2 * temps[1]][0]
    X0 = g.features.values[crystal & (g.temperature.values == cold)]
    Xh = g.features.values[crystal & (g.temperature.values == hot)]
    ext, info = extend_model(model, "graphite", X0, fraction=0.1, seed=0, return_info=True,
                             temperatures=np.full(len(X0), cold))
    plain = extend_model(model, "graphite", X0, fraction=0.1, seed=0, envelope_widening=1.0)
    gi = list(ext.classes_).index("graphite")
    assert info["envelope_widening"] > 1 and "one temperature" in info["envelope_note"]
    widened, unwidened = np.mean(ext.predict_labels(Xh) == gi), np.mean(plain.predict_labels(Xh) == gi)
    assert widened >= 0.98 > unwidened
    # only the new class's envelope differs: every old class keeps its radius
    np.testing.assert_array_equal(ext.envelope_radius_[:-1], model.envelope_radius_)
    assert ext.envelope_radius_[-1] == pytest.approx(plain.envelope_radius_[-1] * info["envelope_widening"], rel=1e-3)


def test_extend_needs_one_temperature_per_row(model, graphite):
    with pytest.raises(InputError, match="one value per row"):
        extend_model(model, "graphite", graphite[0], temperatures=[300.0, 400.0])
