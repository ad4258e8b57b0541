"""The LESS stacked estimator (paper sections "ML Workflow", "Based Models", "Mega Model", eq 3-8).

Level 0: for each class c, one-vs-rest base models M_c (bagging, AdaBoost, extra trees,
radius neighbours) give out-of-fold probabilities of "atom is c"; these columns, over all
classes and base models, form the OOF matrix F (n x m*B). Level 1: per class, a LightGBM
regressor on F predicts the indicator I_{y,c}; the class scores S pass a softmax.
"""

from __future__ import annotations

import logging
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import StratifiedKFold
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from lessdask.model.compiled import (
    CompiledForest,
    UnsupportedForest,
    compiled_inference_enabled,
    envelope_arrays,
    other_labels,
)
from lessdask.model.envelope import QUANTILE, envelope_score, fit_envelopes
from lessdask.model.kmeans import class_modes
from lessdask.model.presets import make_base_model, resolve_spec

logger = logging.getLogger(__name__)

#: Fitted per-class arrays kept in model files and carried through extension, with their dtypes.
CLASS_ARRAYS = {
    "class_feature_mean_": np.float32,
    "class_feature_std_": np.float32,
    "class_count_": np.int64,
    "class_modes_": np.float32,
    "class_mode_std_": np.float32,
    "class_mode_weight_": np.float32,
}


def _subsample(y, max_samples, rng):
    """Indices of a class-stratified subset of at most ``max_samples`` rows."""
    n = len(y)
    if not max_samples or n <= max_samples:
        return np.arange(n)
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = max(1, int(round(max_samples * len(idx) / n)))
        keep.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(keep))


def _fit_base(entry, X, y, train_idx, predict_idx, n_classes, random_state, cls):
    """Fit one base model (one class, or all classes) and predict probabilities on ``predict_idx``.

    Returns (columns, fitted): columns has one column for an OvR model (class ``cls``) and
    ``n_classes`` columns for a multi-class model.
    """
    rng = np.random.default_rng(random_state)
    tr = train_idx[_subsample(y[train_idx], entry.get("max_samples"), rng)]
    est = make_base_model(entry, random_state)
    target = (y[tr] == cls).astype(np.int8) if cls is not None else y[tr]
    if np.unique(target).size < 2:
        return _constant_columns(target, predict_idx.size, n_classes, cls), ("constant", int(target[0]))
    est.fit(X[tr], target)
    return _columns(est, X[predict_idx], n_classes, cls), est


def _constant_columns(target, n, n_classes, cls):
    if cls is not None:
        return np.full((n, 1), float(target[0]), np.float32)
    out = np.zeros((n, n_classes), np.float32)
    out[:, int(target[0])] = 1.0
    return out


def _columns(est, X, n_classes, cls):
    if len(X) == 0:
        return np.zeros((0, 1 if cls is not None else n_classes), np.float32)
    proba = est.predict_proba(X)
    if cls is not None:
        col = np.zeros((len(X), 1), np.float32)
        col[:, 0] = proba[:, list(est.classes_).index(1)]
        return col
    out = np.zeros((len(X), n_classes), np.float32)
    out[:, est.classes_.astype(int)] = proba
    return out


def _compile_forest(boosters):
    """The boosters as a :class:`~lessdask.model.compiled.CompiledForest`, or None where unsupported."""
    try:
        return CompiledForest.from_boosters(boosters, n_features=boosters[0].num_feature())
    except UnsupportedForest as exc:
        logger.info("mega models stay on LightGBM's Booster.predict: %s", exc)
        return None


def _softmax(S, temperature):
    Z = S / temperature
    Z -= Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=1, keepdims=True)
    return Z


class LESSClassifier(ClassifierMixin, BaseEstimator):
    """The LESS stacked classifier of atomic structure.

    Parameters
    ----------
    preset : str or dict, default "fast"
        ``"paper"`` (the paper's four base models, one-vs-rest, and a LightGBM mega model per
        class), ``"fast"`` (LightGBM per class on the features, no base level), the path of a
        YAML file, or a dict with ``base_models`` and ``mega_model`` (see
        :mod:`lessdask.model.presets` and ``configs/model-*.yaml``).
    n_folds : int, default 5
        k of the k-fold out-of-fold predictions that train the mega model.
    temperature : float, default 0.1
        Softmax temperature over the mega-model scores (which lie near 0 or 1); 0.1 makes a
        clear score of 1 against 0 a probability of ~0.9999 rather than the e/(e+m-1) that a
        plain softmax of regressor outputs gives.
    output : {"softmax", "normalized"}
        ``predict_proba`` returns the softmax (rows sum to 1) or the paper's normalised score
        matrix of eq 8, (S - mean(S)) / var(S) per row.
    random_state : int, default 0
    n_jobs : int or None
        Parallel fits (folds x classes x base models) through joblib; inside
        ``joblib.parallel_backend("dask")`` they run on a Dask cluster.
    prediction_threads : int, default 1
        Threads LightGBM uses in ``predict`` (one per Dask worker thread is right).
    envelope_quantile : float or None, default 0.997
        Share of held-out atoms of each class inside its envelope; atoms outside the
        envelope of their predicted class are "other" (:meth:`predict_labels`). Higher:
        fewer hot-crystal atoms called other, fewer boundary atoms too. None: no envelopes.

    Attributes
    ----------
    classes_ : ndarray
        Class labels in model order.
    class_feature_mean_, class_feature_std_ : ndarray, shape (n_classes, n_features)
        Per-class feature statistics, kept for extension by generative sampling.
    class_count_ : ndarray
        Training samples per class.
    envelope_centres_, envelope_radius_ : ndarray
        Per-class k-means centres of the training features and the radius holding 99.7 % of
        held-out atoms of the class (:mod:`lessdask.model.envelope`); atoms outside the
        envelope of their predicted class are "other" in :meth:`predict_labels`. ``None`` in
        models written before envelopes existed.
    compiled_ : CompiledForest or None
        The mega models' trees as arrays for the compiled kernel of
        :mod:`lessdask.model.compiled` (built from the boosters' LightGBM text when the model is
        fitted or loaded), which :meth:`predict_proba` and :meth:`predict_labels` use unless
        ``LESSDASK_INFERENCE=booster``; None when a booster uses something it does not evaluate.
    """

    # declared, not hand-checked (scikit-learn's parameter validation, run by ``fit``)
    _parameter_constraints: dict = {
        "preset": [StrOptions({"fast", "paper"}), str, Path, dict],
        "n_folds": [Interval(Integral, 2, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "output": [StrOptions({"softmax", "normalized"})],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
        "n_jobs": [Integral, None],
        "prediction_threads": [Interval(Integral, 1, None, closed="left")],
        "envelope_quantile": [Interval(Real, 0, 1, closed="neither"), None],
    }

    def __init__(self, preset="fast", n_folds=5, temperature=0.1, output="softmax",
                 random_state=0, n_jobs=None, prediction_threads=1, envelope_quantile=QUANTILE):
        self.preset = preset
        self.n_folds = n_folds
        self.temperature = temperature
        self.output = output
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.prediction_threads = prediction_threads
        self.envelope_quantile = envelope_quantile

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit base models with k-fold out-of-fold predictions, then the mega models.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)
        """
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(f"LESSClassifier needs at least 2 classes; got 1 class: {self.classes_[0]!r}")
        self.spec_ = resolve_spec(self.preset)
        n_classes = self.classes_.size
        self.class_count_ = np.bincount(y_enc, minlength=n_classes)
        self.class_feature_mean_ = np.stack([X[y_enc == c].mean(axis=0) for c in range(n_classes)])
        self.class_feature_std_ = np.stack([X[y_enc == c].std(axis=0) for c in range(n_classes)])
        self.class_modes_, self.class_mode_std_, self.class_mode_weight_ = class_modes(
            X, y_enc, n_classes, self.random_state)
        self.envelope_centres_ = self.envelope_radius_ = None
        if self.envelope_quantile is not None:
            self.envelope_centres_, self.envelope_radius_ = fit_envelopes(
                X, y_enc, n_classes, quantile=self.envelope_quantile, random_state=self.random_state)
        F = self._fit_level0(X, y_enc)
        self.mega_models_ = self._fit_level1(F, y_enc)
        self.compiled_ = _compile_forest(self.mega_models_)
        return self

    def _base_jobs(self):
        n_classes = self.classes_.size
        for b, entry in enumerate(self.spec_["base_models"]):
            if entry["mode"] == "ovr":
                for c in range(n_classes):
                    yield b, entry, c
            else:
                yield b, entry, None

    def _fit_level0(self, X, y):
        """Out-of-fold matrix F and the base models refitted on all data."""
        entries = list(self._base_jobs())
        if not entries:
            self.base_models_ = []
            return X
        n_classes = self.classes_.size
        k = int(min(self.n_folds, self.class_count_.min()))
        if k >= 2:
            folds = list(StratifiedKFold(k, shuffle=True, random_state=self.random_state).split(X, y))
        else:  # a class with one sample: no out-of-fold estimate exists; use in-sample
            folds = [(np.arange(len(y)), np.arange(len(y)))]
        all_idx = np.arange(len(y))
        tasks = [(j, f, entry, tr, te, c) for j, (b, entry, c) in enumerate(entries)
                 for f, (tr, te) in enumerate(folds)]
        tasks += [(j, None, entry, all_idx, all_idx[:0], c) for j, (b, entry, c) in enumerate(entries)]
        results = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_base)(entry, X, y, tr, te, n_classes, self._seed(j, f), c)
            for j, f, entry, tr, te, c in tasks
        )
        widths = [1 if c is not None else n_classes for _, _, c in entries]
        offsets = np.concatenate([[0], np.cumsum(widths)])
        F = np.zeros((len(y), offsets[-1]), np.float32)
        self.base_models_ = [None] * len(entries)
        for (j, f, entry, _tr, te, c), (cols, fitted) in zip(tasks, results):
            if f is None:
                self.base_models_[j] = (entry, c, fitted)
            else:
                F[te, offsets[j]:offsets[j + 1]] = cols
        return F

    def _seed(self, j, f):
        if self.random_state is None:
            return None
        return int(self.random_state) * 1_000_003 + j * 101 + (f if f is not None else 99)

    def _fit_level1(self, F, y):
        import lightgbm as lgb

        params = {"verbose": -1, "n_jobs": 1, "random_state": self.random_state,
                  **self.spec_["mega_model"]["params"]}
        n_classes = self.classes_.size

        def fit_one(c):
            reg = lgb.LGBMRegressor(**params)
            reg.fit(F, (y == c).astype(np.float32))
            return reg.booster_

        return Parallel(n_jobs=self.n_jobs)(delayed(fit_one)(c) for c in range(n_classes))

    # ------------------------------------------------------------------ inference
    def transform_level0(self, X):
        """The base-model matrix F for new samples (X itself when there is no base level)."""
        check_is_fitted(self, "mega_models_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        if not self.base_models_:
            return X
        n_classes = self.classes_.size
        cols = []
        for _entry, c, fitted in self.base_models_:
            if isinstance(fitted, tuple):  # ("constant", value)
                cols.append(_constant_columns(np.array([fitted[1]]), len(X), n_classes, c))
            else:
                cols.append(_columns(fitted, X, n_classes, c))
        return np.hstack(cols)

    def decision_function(self, X):
        """Mega-model class scores S (eq 6), shape (n_samples, n_classes).

        For two classes, scikit-learn's convention: one column, S[:, 1] - S[:, 0].
        """
        S = self.class_scores(X)
        return S[:, 1] - S[:, 0] if S.shape[1] == 2 else S

    def class_scores(self, X):
        """Mega-model score of every class, shape (n_samples, n_classes)."""
        return self._scores(self.transform_level0(X))

    def _forest(self):
        """The compiled forest if it exists and compiled inference is on, else None."""
        return getattr(self, "compiled_", None) if compiled_inference_enabled() else None

    def _scores(self, F):
        forest = self._forest()
        if forest is not None:
            return forest.scores(F, threads=self.prediction_threads)
        S = np.empty((F.shape[0], self.classes_.size), np.float64)
        for c, booster in enumerate(self.mega_models_):
            S[:, c] = booster.predict(F, num_threads=self.prediction_threads)
        return S

    def predict_proba(self, X):
        """Class probabilities: softmax of the scores (rows sum to 1), or eq 8 if ``output="normalized"``."""
        return self._proba(self.transform_level0(X))

    def _proba(self, F):
        forest = self._forest()
        if forest is not None and self.output == "softmax":  # trees and softmax in one pass
            return forest.softmax(F, self.temperature, threads=self.prediction_threads)
        return self._proba_from_scores(self._scores(F))

    def _proba_from_scores(self, S):
        if self.output == "normalized":
            var = S.var(axis=1, keepdims=True)
            return (S - S.mean(axis=1, keepdims=True)) / np.where(var > 0, var, 1.0)
        return _softmax(S, self.temperature)

    def predict_proba_unchecked(self, X):
        """:meth:`predict_proba` for a float32 array of the right width, without input validation.

        For callers that score many small batches of arrays they made themselves (the
        generative sampler of :mod:`lessdask.model.extension`), where validation dominates.
        """
        F = X if not self.base_models_ else self.transform_level0(X)
        return self._proba(F)

    def predict_labels(self, X, proba=None, other: bool = True) -> np.ndarray:
        """Class indices of the highest probability, -1 ("other") outside the class's envelope.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        proba : ndarray, optional
            ``predict_proba(X)`` if already computed.
        other : bool
            Label atoms outside the envelope of their predicted class -1. Ignored (every atom
            gets a class) for models without envelopes.

        Returns
        -------
        ndarray, int8, shape (n_samples,)
        """
        if proba is None:
            proba = self.predict_proba(X)
        labels = np.argmax(proba, axis=1).astype(np.int8)
        if other and self.has_envelopes:
            if compiled_inference_enabled():
                return other_labels(X, labels, envelope_arrays(self.envelope_centres_, self.envelope_radius_))
            score = envelope_score(X, labels, self.envelope_centres_, self.envelope_radius_)
            labels[score > 1.0] = -1
        return labels

    def predict_proba_and_labels(self, X, other: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities as float32 and labels, as ``predict_proba`` then ``predict_labels``, in one pass.

        What the trajectory pipeline stores per atom: with compiled trees the softmax, its
        float32 copy and the highest-probability class come out of the trees' pass.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        other : bool
            As in :meth:`predict_labels`.

        Returns
        -------
        proba : ndarray, float32, shape (n_samples, n_classes)
            ``predict_proba(X)`` rounded to float32.
        labels : ndarray, int8, shape (n_samples,)
            ``predict_labels(X, other=other)``.
        """
        forest = self._forest()
        if forest is None or self.output != "softmax" or self.base_models_:
            proba = self.predict_proba(X)
            return np.asarray(proba, np.float32), self.predict_labels(X, proba=proba, other=other)
        F = self.transform_level0(X)
        proba, labels = forest.softmax_labels(F, self.temperature, threads=self.prediction_threads)
        if other and self.has_envelopes:
            labels = other_labels(F, labels, self._packed_envelopes())
        return proba, labels

    def _packed_envelopes(self):
        # packed once per envelope arrays (the cache holds them, so they are the same objects)
        c, r = self.envelope_centres_, self.envelope_radius_
        cached = getattr(self, "_packed_cache", None)
        if cached is None or cached[0] is not c or cached[1] is not r:
            cached = (c, r, envelope_arrays(c, r))
            self._packed_cache = cached
        return cached[2]

    # ------------------------------------------------------------------ state
    def fitted_state(self) -> dict:
        """The fitted state as plain JSON data (classes, spec, per-class arrays, envelopes, settings).

        Boosters and base models are not included: :mod:`lessdask.model.files` stores them
        as LightGBM text and skops members. :meth:`from_fitted_state` is the inverse.
        """
        check_is_fitted(self, "mega_models_")
        from lessdask.features import FeatureSettings

        settings = getattr(self, "feature_settings_", None) or FeatureSettings()
        state = {
            "classes": [str(c) for c in self.classes_],
            "spec": self.spec_,
            "n_features_in": int(self.n_features_in_),
            "feature_settings": settings.to_dict(),
            "max_species": int(getattr(self, "max_species_", 2)),
            "extra": getattr(self, "extra_", {}) or {},
            "envelope_centres": None,
            "envelope_radius": None,
        }
        for name in CLASS_ARRAYS:
            state[name[:-1]] = np.asarray(getattr(self, name)).tolist()
        if self.has_envelopes:
            state["envelope_centres"] = np.where(np.isnan(self.envelope_centres_), None,
                                                 self.envelope_centres_).tolist()
            state["envelope_radius"] = np.asarray(self.envelope_radius_).tolist()
        return state

    @classmethod
    def from_fitted_state(cls, params: dict, state: dict, base_models: list, mega_models: list) -> LESSClassifier:
        """A fitted model from :meth:`get_params`, :meth:`fitted_state`, and its fitted models."""
        from lessdask.features import FeatureSettings

        model = cls(**params)
        model.classes_ = np.array(state["classes"])
        model.spec_ = state["spec"]
        model.n_features_in_ = int(state["n_features_in"])
        for name, dtype in CLASS_ARRAYS.items():
            setattr(model, name, np.array(state[name[:-1]], dtype))
        if state.get("envelope_centres") is not None:  # absent in files written before envelopes
            model.envelope_centres_ = np.array(state["envelope_centres"], np.float64).astype(np.float32)
            model.envelope_radius_ = np.array(state["envelope_radius"], np.float32)
        else:
            model.envelope_centres_ = model.envelope_radius_ = None
        model.base_models_ = list(base_models)
        model.mega_models_ = list(mega_models)
        model.compiled_ = _compile_forest(model.mega_models_)
        model.feature_settings_ = FeatureSettings.from_dict(state["feature_settings"])
        model.max_species_ = int(state.get("max_species", 2))
        model.extra_ = state.get("extra", {}) or {}
        return model

    def with_class(self, name: str, mega_models: list, class_arrays: dict, envelope=None) -> LESSClassifier:
        """A copy of this fitted model with one more class appended (used by extension).

        Parameters
        ----------
        name : str
            The new class, last in ``classes_``.
        mega_models : list
            Boosters of every class, the new one last.
        class_arrays : dict
            The new class's row of every array of :data:`CLASS_ARRAYS` (keyed by attribute name).
        envelope : (centres, radius), optional
            The new class's envelope; None for a model without envelopes.
        """
        import copy

        check_is_fitted(self, "mega_models_")
        new = copy.copy(self)
        new.classes_ = np.append(np.asarray(self.classes_, dtype=object), name).astype(str)
        new.mega_models_ = list(mega_models)
        new.compiled_ = _compile_forest(new.mega_models_)
        for attr, dtype in CLASS_ARRAYS.items():
            old = np.asarray(getattr(self, attr))
            row = np.asarray(class_arrays[attr], dtype).reshape((1, *old.shape[1:]))
            setattr(new, attr, np.concatenate([old.astype(dtype), row]))
        if self.has_envelopes and envelope is not None:
            centres, radius = envelope
            k, d = self.envelope_centres_.shape[1:]
            row = np.full((1, k, d), np.nan, np.float32)
            row[0, :len(centres)] = centres
            new.envelope_centres_ = np.concatenate([self.envelope_centres_, row])
            new.envelope_radius_ = np.append(self.envelope_radius_, np.float32(radius)).astype(np.float32)
        else:
            new.envelope_centres_ = new.envelope_radius_ = None
        return new

    @property
    def has_envelopes(self) -> bool:
        """Whether this model can call atoms "other" (see :mod:`lessdask.model.envelope`)."""
        return getattr(self, "envelope_centres_", None) is not None

    def predict(self, X):
        """Class labels (the highest score)."""
        check_is_fitted(self, "mega_models_")
        return self.classes_[np.argmax(self.class_scores(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
