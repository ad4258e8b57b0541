"""What a model file holds, for people: classes with full names, feature settings, accuracy."""

from __future__ import annotations

import os

from lessdask.classes import describe_class


def model_info(model="default") -> dict:
    """Describe a model: its classes, feature settings, classifier settings and stored accuracy.

    Parameters
    ----------
    model : str or Path or LESSClassifier
        A ``.lessmodel`` file, ``"default"`` (the shipped model) or a loaded model.

    Returns
    -------
    dict
        ``source`` and ``digest`` of the file; ``classes``: a list of ``{"index", "name",
        "description", "training_atoms"}`` in model order (``index`` is the stored label);
        ``other``: whether atoms outside a class's reference envelope are labelled -1;
        ``features``: the feature settings (``n_nearest``, ``padding``, ``l_values``,
        ``average``, ``max_cutoff``) and the number of features; ``classifier``: preset,
        output and temperature; ``training`` and ``accuracy`` (held-out accuracy per
        validation split) when the model file stores them (models made by ``lessdask
        train``), else empty.

    Raises
    ------
    lessdask.errors.ModelFileError
        A missing, damaged or unsafe model file.
    """
    from lessdask.model import load_model

    mdl = load_model(model) if isinstance(model, (str, os.PathLike)) else model
    counts = getattr(mdl, "class_count_", None)
    classes = [{"index": i, "name": str(c), "description": describe_class(str(c)),
                "training_atoms": int(counts[i]) if counts is not None and i < len(counts) else None}
               for i, c in enumerate(mdl.classes_)]
    settings = mdl.feature_settings_.to_dict()
    params = mdl.get_params()
    extra = dict(getattr(mdl, "extra_", None) or {})
    return {
        "source": str(getattr(mdl, "source_", model)),
        "digest": getattr(mdl, "digest_", None),
        "classes": classes,
        "other": bool(mdl.has_envelopes),
        "features": {**settings, "n_features": int(mdl.feature_settings_.n_features)},
        "classifier": {k: params.get(k) for k in ("preset", "output", "temperature", "envelope_quantile")},
        "training": dict(extra.get("training", {})),
        "accuracy": {k: float(v) for k, v in dict(extra.get("accuracy", {})).items()},
    }
