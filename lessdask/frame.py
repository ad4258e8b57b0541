"""The one in-memory core: one frame's positions, box and species through features and model.

Every path that labels atoms goes through :func:`classify_frame`: the pipeline's worker
task, the MDAnalysis analysis class, the benchmarks' serial peer. Reading a frame (and its
box, including an extended-XYZ ``Lattice``) is :func:`lessdask.trajectory.read_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lessdask.errors import InputError


@dataclass(frozen=True)
class FrameClassification:
    """Labels, probabilities and features of the classified atoms of one frame.

    Attributes
    ----------
    labels : ndarray, int8, shape (k,)
        Index into ``classes``; -1 is "other" (outside the envelope of the most probable
        class; never with ``other=False``).
    probabilities : ndarray, float32, shape (k, n_classes)
        Class probabilities, rows sum to 1.
    features : ndarray, float32, shape (k, n_features)
        The model's input features.
    n_neighbors : ndarray, int32, shape (k,)
        Neighbours inside each atom's adaptive cutoff.
    classes : tuple of str
        Class names in model order.
    """

    labels: np.ndarray
    probabilities: np.ndarray
    features: np.ndarray
    n_neighbors: np.ndarray
    classes: tuple[str, ...]


def resolve_model(model):
    """A fitted model from a model object, a ``.lessmodel`` path or ``"default"``.

    Files are loaded once per process (cached by path, size and modification time).
    """
    if hasattr(model, "predict_proba"):
        return model
    from pathlib import Path

    from lessdask.model import load_model

    if str(model) == "default":
        return _cached_model("default", 0, 0)
    p = Path(model)
    try:
        st = p.stat()
    except OSError:
        return load_model(p)  # raises the model-file error naming the path
    return _cached_model(str(p.resolve()), st.st_size, st.st_mtime_ns)


_MODELS: dict = {}


def _cached_model(path: str, size: int, mtime: int):
    key = (path, size, mtime)
    if key not in _MODELS:
        from lessdask.model import load_model

        _MODELS.clear()  # one model per process is what every caller needs
        _MODELS[key] = load_model(path)
    return _MODELS[key]


def check_species(species, model, where: str = "") -> None:
    """Refuse systems with more species than the model distinguishes (the other-species features
    compare an atom with its neighbours of another species).

    Done once per input by the callers that open inputs, not per frame: it sorts the species.

    Raises
    ------
    InputError
        Naming the species found and what to do.
    """
    if species is None:
        return
    present = sorted(set(np.asarray(species).tolist()))
    limit = getattr(model, "max_species_", 2)
    if len(present) > limit:
        shown = present[:10] + (["..."] if len(present) > 10 else [])
        raise InputError(
            f"{where or 'the system'} has {len(present)} species {shown}, but the model distinguishes at most "
            f"{limit} species per system (the other-species features compare an atom with its other-species "
            "neighbours); classify a subsystem by giving a topology with fewer species"
        )


def classify_frame(positions, box, species=None, model="default", atoms=None, other: bool = True,
                   where: str = "", shared=None) -> FrameClassification:
    """Label atoms of one frame: features, then class probabilities, then labels.

    Parameters
    ----------
    positions : array_like, shape (n, 3)
        Cartesian coordinates (Å) of every atom of the frame.
    box : array_like of 6 floats or None
        MDAnalysis ``dimensions`` ``[a, b, c, alpha, beta, gamma]``; None for free boundaries.
    species : array_like, shape (n,), optional
        Species as ints or strings; None means one species. Not checked against the model's
        species limit here (see :func:`check_species`).
    model : LESSClassifier or str or Path
        A fitted model, a ``.lessmodel`` file or ``"default"``.
    atoms : array_like of int, optional
        Indices of the atoms to classify (default all); neighbours always come from every atom,
        so chunks of a frame give exactly the unchunked result.
    other : bool
        Label atoms outside the envelope of their most probable class -1 ("other").
    where : str
        File and frame, for error messages.
    shared : lessdask.features.engine.FrameFeatures, optional
        This frame's neighbour search and q_l, built once and reused for every chunk of atoms
        (``positions``, ``box`` and ``species`` are then those it was built from): what the
        pipeline does, so each atom's q_l is computed once per frame.

    Returns
    -------
    FrameClassification

    Examples
    --------
    >>> from lessdask.reference import build_crystal
    >>> c = build_crystal("bcc", 4)
    >>> r = classify_frame(c.positions, c.dimensions)
    >>> r.classes[r.labels[0]]
    'bcc'
    """
    from lessdask.features.engine import FrameFeatures

    mdl = resolve_model(model)
    frame = shared if shared is not None else FrameFeatures(positions, box, species, settings=mdl.feature_settings_,
                                                            where=where)
    if frame.settings != mdl.feature_settings_:
        raise InputError(f"the shared frame features use {frame.settings}, the model {mdl.feature_settings_}")
    X, n_neighbors, _ = frame.features(atoms)
    proba = mdl.predict_proba(X)
    labels = mdl.predict_labels(X, proba=proba, other=other)
    return FrameClassification(labels=labels, probabilities=np.asarray(proba, np.float32), features=X,
                               n_neighbors=n_neighbors, classes=tuple(map(str, mdl.classes_)))
