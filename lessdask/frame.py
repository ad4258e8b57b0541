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


class _Unset:
    def __repr__(self):
        return "<required>"


_UNSET = _Unset()


def _is_ase_atoms(obj) -> bool:
    return all(hasattr(obj, a) for a in ("get_scaled_positions", "get_chemical_symbols", "cell", "pbc"))


def _from_ase(atoms, where: str):
    """Positions, box and species of an ASE ``Atoms``, the cell turned into MDAnalysis' orientation."""
    pbc = np.asarray(atoms.pbc, bool)
    symbols = np.asarray(atoms.get_chemical_symbols())
    if not pbc.any():
        return np.asarray(atoms.positions, np.float64), None, symbols
    if not pbc.all():
        raise InputError(f"the ASE Atoms{where} are periodic along some axes only (pbc={pbc.tolist()}); lessdask "
                         "classifies fully periodic or free systems: set atoms.pbc = True (with a cell) or False")
    from lessdask.trajectory.readers import ase_coordinates

    positions, dims = ase_coordinates(atoms)
    if dims is None or np.any(dims[:3] <= 0):
        raise InputError(f"the ASE Atoms{where} are periodic but their cell is {atoms.cell.tolist()}; give a cell")
    return positions, dims, symbols


def _from_freud(system, where: str):
    """Positions and box of a freud-style ``(box, points)`` pair (origin at the box centre)."""
    from MDAnalysis.lib.mdamath import triclinic_box

    fbox, points = system
    if hasattr(fbox, "Lx"):  # a freud.box.Box
        if getattr(fbox, "is2D", False):
            raise InputError(f"the freud box{where} is two-dimensional; lessdask classifies 3-d systems")
        lx, ly, lz, xy, xz, yz = (float(getattr(fbox, k)) for k in ("Lx", "Ly", "Lz", "xy", "xz", "yz"))
    else:
        values = np.asarray(fbox, np.float64).ravel()
        if values.size not in (3, 6):
            raise InputError(f"the box of the (box, points) pair{where} must be a freud Box or freud's "
                             f"[Lx, Ly, Lz] or [Lx, Ly, Lz, xy, xz, yz], got {values.size} numbers")
        lx, ly, lz, xy, xz, yz = (*values[:3], *(values[3:] if values.size == 6 else (0.0, 0.0, 0.0)))
    a, b, c = np.array([lx, 0, 0]), np.array([xy * ly, ly, 0]), np.array([xz * lz, yz * lz, lz])
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f"the points of the (box, points) pair{where} must have shape (n, 3), got {points.shape}")
    # freud puts the origin at the box centre, MDAnalysis at a corner; freud's box vectors are
    # already in MDAnalysis' orientation (a along x, b in the xy plane)
    return points + 0.5 * (a + b + c), triclinic_box(a, b, c).astype(np.float64)


def frame_system(positions, box=_UNSET, species=None, where: str = ""):
    """Positions, MDAnalysis box and species from any of the systems :func:`classify_frame` takes.

    Parameters
    ----------
    positions : array_like or ase.Atoms or tuple
        ``(n, 3)`` coordinates with ``box``; an ASE ``Atoms``; or a freud-style
        ``(box, points)`` pair.
    box : array_like of 6 floats or None
        With coordinates only: MDAnalysis ``dimensions``, None for free boundaries.
    species : array_like, optional
        Overrides the chemical symbols of an ASE ``Atoms``.
    where : str
        For error messages.

    Returns
    -------
    positions : ndarray, shape (n, 3)
    box : ndarray of 6 floats or None
    species : ndarray or None
    """
    at = f" ({where})" if where else ""
    if _is_ase_atoms(positions) or (box is _UNSET and isinstance(positions, tuple) and len(positions) == 2):
        if box is not _UNSET:
            raise InputError(f"box is given twice{at}: an ASE Atoms carries its own cell and pbc; leave out the box "
                             "argument")
        if _is_ase_atoms(positions):
            pos, dims, symbols = _from_ase(positions, at)
            return pos, dims, symbols if species is None else species
        pos, dims = _from_freud(positions, at)
        return pos, dims, species
    if box is _UNSET:
        raise InputError(f"classify_frame needs the box{at} with coordinates: MDAnalysis dimensions "
                         "[a, b, c, alpha, beta, gamma], or box=None for free boundaries")
    return positions, box, species


def classify_frame(positions, box=_UNSET, species=None, model="default", atoms=None, other: bool = True,
                   where: str = "", shared=None) -> FrameClassification:
    """Label atoms of one frame: features, then class probabilities, then labels.

    The in-memory call for scripts and notebooks (and the one core every other path uses):
    no Dask, no files, no store. It takes coordinates with a box and species, an ASE
    ``Atoms``, or a freud-style ``(box, points)`` pair.

    Parameters
    ----------
    positions : array_like, shape (n, 3), or ase.Atoms, or tuple (box, points)
        Cartesian coordinates (Å) of every atom of the frame, with ``box``. Or an ASE
        ``Atoms`` (positions, cell, ``pbc`` and chemical symbols; fully periodic or free).
        Or freud's ``system`` pair ``(box, points)``: a ``freud.box.Box`` or freud's
        ``[Lx, Ly, Lz, xy, xz, yz]`` (or ``[Lx, Ly, Lz]``) and points with the origin at
        the box centre, as freud keeps them (always periodic).
    box : array_like of 6 floats or None
        With coordinates: MDAnalysis ``dimensions`` ``[a, b, c, alpha, beta, gamma]``, None
        for free boundaries. Required then, and not given with an ``Atoms`` or a pair.
    species : array_like, shape (n,), optional
        Species as ints or strings; None means one species (an ``Atoms``: its chemical
        symbols). Not checked against the model's species limit here (see
        :func:`check_species`).
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
        ``labels`` (int8, -1 "other"), ``probabilities``, ``features`` and ``n_neighbors``
        of the classified atoms, and the model's ``classes``.

    Raises
    ------
    InputError
        Wrong shapes, NaN coordinates, a missing box, a box given twice, a partly periodic
        ``Atoms``, a 2-d freud box.

    See Also
    --------
    lessdask.analysis.LESS : every frame of an MDAnalysis AtomGroup, in memory.
    lessdask.classify : a whole trajectory on Dask, into a results store.

    Notes
    -----
    Atoms with fewer neighbours than the features need (isolated atoms, free surfaces of
    small clusters) still get features from the neighbours they have; such atoms usually
    fall outside every class's envelope and are labelled -1 ("other").

    Examples
    --------
    Coordinates, an MDAnalysis box and species:

    >>> from lessdask.reference import build_crystal
    >>> c = build_crystal("bcc", 4)
    >>> r = classify_frame(c.positions, c.dimensions)
    >>> r.classes[r.labels[0]], r.probabilities.shape
    ('bcc', (128, 8))

    An ASE ``Atoms`` (``pip install ase``):

    >>> from ase.build import bulk                                 # doctest: +SKIP
    >>> r = classify_frame(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(5))  # doctest: +SKIP
    >>> r.classes[r.labels[0]]                                      # doctest: +SKIP
    'fcc'

    A freud-style ``(box, points)`` pair, origin at the box centre:

    >>> import numpy as np
    >>> L = c.dimensions[:3]
    >>> r = classify_frame((L, c.positions - L / 2))
    >>> np.unique(r.labels).tolist() == [r.classes.index("bcc")]
    True
    """
    from lessdask.features.engine import FrameFeatures

    if shared is None:
        positions, box, species = frame_system(positions, box, species, where)
    mdl = resolve_model(model)
    frame = shared if shared is not None else FrameFeatures(positions, box, species, settings=mdl.feature_settings_,
                                                            where=where)
    if frame.settings != mdl.feature_settings_:
        raise InputError(f"the shared frame features use {frame.settings}, the model {mdl.feature_settings_}")
    X, n_neighbors, _ = frame.features(atoms)
    proba, labels = mdl.predict_proba_and_labels(X, other=other)
    return FrameClassification(labels=labels, probabilities=proba, features=X,
                               n_neighbors=n_neighbors, classes=tuple(map(str, mdl.classes_)))
