"""Training from the reference data, with the evidence: held-out accuracy, confusion matrix, importances."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError

from lessdask.errors import LessdaskError

logger = logging.getLogger(__name__)

#: Single base models compared with the stack in the report (the paper's Figure 2c).
COMPARED_BASE_MODELS = ("bagging", "adaboost", "extra_trees", "radius_neighbors")


def _split(ds, name):
    idx = np.flatnonzero(ds.split.values == name)
    return ds.features.values[idx], ds.structure.values[idx]


def evaluate(model, X, y) -> dict:
    """Accuracy, per-class precision and recall, and the confusion matrix of a fitted model.

    Accuracy is that of the most probable class. For a model with envelopes, ``other_rate``
    (overall and per class) is the share of atoms that :meth:`LESSClassifier.predict_labels`
    calls "other" (outside the envelope of their most probable class), and
    ``accuracy_with_other`` counts those as wrong.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    classes = list(map(str, model.classes_))
    proba = model.predict_proba(X)
    pred = np.asarray(classes)[np.argmax(proba, axis=1)]
    p, r, _, support = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    out = {
        "n": int(len(y)),
        "accuracy": float(np.mean(pred == y)),
        "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "support": int(support[i])}
                      for i, c in enumerate(classes)},
        "confusion": confusion_matrix(y, pred, labels=classes).tolist(),
        "classes": classes,
    }
    if getattr(model, "has_envelopes", False):
        other = model.predict_labels(X, proba=proba) == -1
        out["other_rate"] = float(other.mean())
        out["accuracy_with_other"] = float(np.mean((pred == y) & ~other))
        for c in classes:
            if out["per_class"][c]["support"]:
                out["per_class"][c]["other_rate"] = float(other[y == c].mean())
    return out


def held_out_subsets(ds) -> dict:
    """Masks of held-out parts of the reference data reported apart by :func:`train_model`.

    ``val_config glasses`` (the held-out melt-quench glasses), ``val_config undercooled
    liquids`` and ``val_config as before glasses`` (val_config without the configurations
    added with the glasses and hot crystals: comparable with models trained before them).
    """
    cfg = np.asarray(ds.config_id.values).astype(str)
    val = np.asarray(ds.split.values) == "val_config"
    glass = np.char.find(cfg, "-glass") >= 0
    under = np.char.find(cfg, "-liquid-undercooled") >= 0
    return {"val_config glasses": val & glass, "val_config undercooled liquids": val & under,
            "val_config as before glasses": val & ~glass & ~under}


def feature_importance(model) -> np.ndarray:
    """Per-class importance of each input feature (rows: classes), normalised to sum to 1."""
    names = model.n_features_in_
    imp = np.zeros((len(model.classes_), names))
    if not model.base_models_:
        for c, booster in enumerate(model.mega_models_):
            imp[c] = booster.feature_importance(importance_type="gain")
    else:
        for _entry, c, fitted in model.base_models_:
            if c is not None and hasattr(fitted, "feature_importances_"):
                imp[c] += fitted.feature_importances_
    s = imp.sum(axis=1, keepdims=True)
    return imp / np.where(s > 0, s, 1)


def train_model(reference=None, preset="fast", output=None, report_dir=None, client=None, progress=True,
                compare_base_models=False, n_jobs=None, envelope_quantile=None) -> dict:
    """Train a LESS model on the reference data and report its held-out accuracy.

    Parameters
    ----------
    reference : str or Path, optional
        Reference data file (default: the shipped set; the seven crystal classes and AM).
    preset : str or dict
        Model preset (``"fast"``, ``"paper"``, a YAML path or a dict).
    output : str or Path, optional
        Where to save the model file.
    report_dir : str or Path, optional
        Where to write ``report.json``, ``confusion.png``, ``importance.png`` and
        ``base_models.png``.
    client : distributed.Client, optional
        Run the independent fits on this Dask cluster (joblib's Dask backend).
    compare_base_models : bool
        Also fit each base model alone (multi-class) for the Figure 2c comparison.
    n_jobs : int, optional
        Parallel fits without Dask.
    envelope_quantile : float, optional
        Share of held-out atoms of each class inside its envelope (default 0.997; see
        :mod:`lessdask.model.envelope`).

    Returns
    -------
    dict
        The report: accuracy per held-out split (``val_config``, ``val_temperature`` at 0.7
        Tm, ``val_hot`` at 0.9 Tm) and per held-out subset (:func:`held_out_subsets`),
        per-class precision/recall, confusion matrix, base-model comparison, fit time.
    """
    from lessdask.features import FeatureSettings
    from lessdask.model.files import save_model
    from lessdask.model.stacking import LESSClassifier
    from lessdask.reference.dataset import load_reference

    ds = load_reference("crystals", path=reference)
    settings = FeatureSettings.from_dict(json.loads(ds.attrs["feature_settings"]))
    X, y = _split(ds, "train")
    if len(X) == 0:
        raise LessdaskError("the reference data have no training samples")
    backend = contextlib.nullcontext()
    if client is not None:
        import joblib

        backend = joblib.parallel_backend("dask")
        n_jobs = -1
    model = LESSClassifier(preset=preset, n_jobs=n_jobs)
    if envelope_quantile is not None:
        model.set_params(envelope_quantile=envelope_quantile)
    try:
        model._validate_params()  # the declared constraints, before minutes of training
    except InvalidParameterError as exc:
        raise LessdaskError(f"cannot train: {exc}") from None
    t0 = time.perf_counter()
    if progress:
        logger.info("training preset %r on %d atoms ...", preset, len(X))
    with backend:
        model.fit(X, y)
    fit_seconds = time.perf_counter() - t0
    model.feature_settings_ = settings
    model.max_species_ = 2
    report = {"preset": preset if isinstance(preset, str) else "custom", "train_samples": int(len(X)),
              "fit_seconds": round(fit_seconds, 2), "splits": {}}
    for split in ("val_config", "val_temperature", "val_hot"):
        Xv, yv = _split(ds, split)
        if len(Xv):
            report["splits"][split] = evaluate(model, Xv, yv)
    report["subsets"] = {}
    for name, mask in held_out_subsets(ds).items():
        if mask.any():
            report["subsets"][name] = evaluate(model, ds.features.values[mask], ds.structure.values[mask])
    if compare_base_models:
        report["base_models"] = _compare_base_models(X, y, ds, report)
    model.extra_ = {"training": {k: report[k] for k in ("preset", "train_samples", "fit_seconds")},
                    "accuracy": {s: r["accuracy"] for s, r in report["splits"].items()}}
    if output:
        save_model(model, output, feature_settings=settings)
        report["model"] = str(output)
    if report_dir:
        write_report(report, model, report_dir)
    return report


def _compare_base_models(X, y, ds, report):
    from lessdask.model.presets import PRESETS, make_base_model

    Xv, yv = _split(ds, "val_config")
    out = {}
    for entry in PRESETS["paper"]["base_models"]:
        est = make_base_model({**entry, "mode": "multiclass"}, 0)
        idx = np.arange(len(y))
        if entry.get("max_samples") and len(y) > entry["max_samples"]:
            idx = np.random.default_rng(0).choice(len(y), entry["max_samples"], replace=False)
        est.fit(X[idx], y[idx])
        out[entry["name"]] = float(np.mean(est.predict(Xv) == yv))
    out["LESS stack"] = report["splits"]["val_config"]["accuracy"]
    return out


def write_report(report: dict, model, report_dir) -> Path:
    """Write report.json and the PNG figures (confusion matrix, importances, base models)."""
    from matplotlib.figure import Figure

    d = Path(report_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / "report.json").write_text(json.dumps(report, indent=1))
    res = report["splits"].get("val_config")
    if res:
        cm = np.array(res["confusion"], float)
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        fig = Figure(figsize=(6.5, 5.5))
        ax = fig.subplots()
        im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        n = len(res["classes"])
        ax.set_xticks(range(n), res["classes"], rotation=45)
        ax.set_yticks(range(n), res["classes"])
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, f"{norm[i, j]:.3f}", ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(f"Held-out configurations: accuracy {100 * res['accuracy']:.2f}%")
        fig.colorbar(im, ax=ax, label="fraction of true class")
        fig.tight_layout()
        fig.savefig(d / "confusion.png", dpi=120)
    imp = feature_importance(model)
    names = list(model.feature_settings_.feature_names) if hasattr(model, "feature_settings_") else None
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    im = ax.imshow(imp, cmap="viridis", aspect="auto")
    ax.set_yticks(range(len(model.classes_)), list(map(str, model.classes_)))
    if names:
        ax.set_xticks(range(len(names)), names, rotation=60)
    ax.set_title("Per-class feature importance (normalised gain)")
    fig.colorbar(im, ax=ax, label="importance")
    fig.tight_layout()
    fig.savefig(d / "importance.png", dpi=120)
    if "base_models" in report:
        bm = report["base_models"]
        fig = Figure(figsize=(6, 3.5))
        ax = fig.subplots()
        ax.bar(list(bm), [100 * v for v in bm.values()], color=["0.6"] * (len(bm) - 1) + ["tab:red"])
        lo = min(bm.values()) * 100
        ax.set_ylim(max(0, lo - 2), 100)
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title("Base models alone vs the LESS stack")
        fig.tight_layout()
        fig.savefig(d / "base_models.png", dpi=120)
    return d
