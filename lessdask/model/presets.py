"""Base and mega models by name, and the two presets (``paper`` and ``fast``).

A model specification is plain data (YAML or a dict), so users choose models without
writing code and model files never need to store code::

    base_models:
      - {name: extra_trees, mode: ovr, params: {n_estimators: 100}}
      - {name: radius_neighbors, mode: multiclass, params: {radius: 0.6}}
    mega_model: {name: lightgbm, params: {n_estimators: 100}}
"""

from __future__ import annotations

import copy

import yaml
from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier, ExtraTreesClassifier, RandomForestClassifier
from sklearn.neighbors import RadiusNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from lessdask.errors import LessdaskError


def _radius_neighbors(**params):
    # Features are scaled first so one radius fits all twelve dimensions.
    params.setdefault("radius", 1.0)
    params.setdefault("weights", "distance")
    params.setdefault("outlier_label", "most_frequent")
    return make_pipeline(StandardScaler(), RadiusNeighborsClassifier(**params))


def _bagging(**params):
    params.setdefault("n_estimators", 10)
    depth = params.pop("max_depth", None)
    return BaggingClassifier(estimator=DecisionTreeClassifier(max_depth=depth), **params)


#: Base-model factories; each takes keyword parameters and returns a scikit-learn classifier.
BASE_MODELS = {
    "bagging": _bagging,
    "adaboost": lambda **p: AdaBoostClassifier(**{"n_estimators": 50, **p}),
    "extra_trees": lambda **p: ExtraTreesClassifier(**{"n_estimators": 100, **p}),
    "random_forest": lambda **p: RandomForestClassifier(**{"n_estimators": 100, **p}),
    "radius_neighbors": _radius_neighbors,
}

#: Mega-model kinds (LightGBM regressors, one per class, as the paper).
MEGA_MODELS = ("lightgbm",)

#: Built-in presets. ``paper``: the paper's four base models one-vs-rest per class, with
#: radius neighbours as one multi-class model (one neighbour query serves every class),
#: on a bounded, scaled training subset. ``fast``: no base level; one LightGBM regressor
#: per class on the features (a distilled stack), for trajectory-scale inference.
PRESETS: dict[str, dict] = {
    "paper": {
        "base_models": [
            {"name": "bagging", "mode": "ovr", "params": {"n_estimators": 10, "max_depth": 16}},
            {"name": "adaboost", "mode": "ovr", "params": {"n_estimators": 50}},
            {"name": "extra_trees", "mode": "ovr", "params": {"n_estimators": 50, "min_samples_leaf": 2}},
            {"name": "radius_neighbors", "mode": "multiclass", "params": {"radius": 1.0}, "max_samples": 20000},
        ],
        "mega_model": {"name": "lightgbm", "params": {"n_estimators": 100, "num_leaves": 15, "learning_rate": 0.1}},
    },
    "fast": {
        "base_models": [],
        # 25 rounds at a high learning rate instead of 150 at 0.1: several times faster
        # inference for a few hundredths of a point (python jobs/model_choices.py rounds)
        "mega_model": {"name": "lightgbm", "params": {"n_estimators": 25, "num_leaves": 31, "learning_rate": 0.4}},
    },
}


def resolve_spec(preset: str | dict | None) -> dict:
    """A full model specification from a preset name, a YAML path or a dict.

    Raises
    ------
    LessdaskError
        Unknown preset or model name, with the list of known ones.
    """
    if preset is None:
        preset = "fast"
    if isinstance(preset, dict):
        spec = copy.deepcopy(preset)
    elif preset in PRESETS:
        spec = copy.deepcopy(PRESETS[preset])
    else:
        from lessdask.configs import config_path

        try:
            path = config_path(preset, kind="model")
        except LessdaskError:
            raise LessdaskError(f"unknown model preset {preset!r}: use one of {sorted(PRESETS)} "
                                "or a YAML file") from None
        spec = yaml.safe_load(path.read_text()) or {}
    spec.setdefault("base_models", [])
    spec.setdefault("mega_model", {"name": "lightgbm", "params": {}})
    for b in spec["base_models"]:
        if b.get("name") not in BASE_MODELS:
            raise LessdaskError(f"unknown base model {b.get('name')!r}: known are {sorted(BASE_MODELS)}")
        b.setdefault("mode", "ovr")
        b.setdefault("params", {})
        if b["mode"] not in ("ovr", "multiclass"):
            raise LessdaskError(f"base model mode must be 'ovr' or 'multiclass', got {b['mode']!r}")
    if spec["mega_model"].get("name", "lightgbm") not in MEGA_MODELS:
        raise LessdaskError(f"unknown mega model {spec['mega_model'].get('name')!r}: known are {MEGA_MODELS}")
    spec["mega_model"].setdefault("params", {})
    return spec


def make_base_model(entry: dict, random_state: int | None):
    """A fresh, unfitted scikit-learn classifier for one base-model entry."""
    params = dict(entry.get("params", {}))
    est = BASE_MODELS[entry["name"]](**params)
    if random_state is not None:
        try:
            est.set_params(random_state=random_state)
        except ValueError:
            pass  # e.g. radius neighbours: deterministic
    return est
