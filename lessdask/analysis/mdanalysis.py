"""MDAnalysis' analysis vocabulary: per-frame classification of an AtomGroup in memory, no store."""

from __future__ import annotations

from typing import Any

import numpy as np

from lessdask.errors import InputError


def _mda_base():
    try:
        from MDAnalysis.analysis.base import AnalysisBase
    except ImportError:  # pragma: no cover - MDAnalysis is a hard dependency
        return object
    return AnalysisBase


class PhaseFractions(_mda_base()):
    """Phase fractions of an MDAnalysis AtomGroup, frame by frame (MDAnalysis style).

    Classifies the atoms in memory, one frame at a time, without Dask or a results
    store; meant for small systems and interactive use. For big trajectories use
    ``lessdask classify`` and :func:`lessdask.analysis.phase_fractions`.

    Parameters
    ----------
    atomgroup : MDAnalysis.core.groups.AtomGroup
        Atoms to classify (the whole group is used for the local environments).
    model : str or os.PathLike or LESSClassifier, default "default"
        A model file, ``"default"``, or an already loaded model.
    species : array_like, optional
        Species of each atom; default the atoms' ``elements`` if set, else their ``types``.
    pbc : bool, default True
        Periodic boundaries from the frames' box; False for free boundaries.
    other : bool, default True
        Label atoms outside the envelope of their most probable class -1 ("other").
    verbose : bool, default False
        Show MDAnalysis' progress bar.

    Attributes
    ----------
    results.fractions : numpy.ndarray
        ``(n_frames, n_classes)`` fraction of atoms with each label; "other" atoms
        (label -1) count in the denominator.
    results.labels : numpy.ndarray
        ``(n_frames, n_atoms)`` int8 labels.
    results.structures : list of str
        Class names, the columns of ``fractions``.
    results.times : numpy.ndarray
        Time of each analysed frame in ps.

    Examples
    --------
    >>> pf = PhaseFractions(u.atoms, model="default").run()   # doctest: +SKIP
    >>> pf.results.fractions.shape                             # doctest: +SKIP
    (n_frames, 8)
    """

    def __init__(self, atomgroup, model: Any = "default", species: Any = None, pbc: bool = True,
                 other: bool = True, verbose: bool = False, **kwargs):
        super().__init__(atomgroup.universe.trajectory, verbose=verbose, **kwargs)
        self._ag = atomgroup
        self._model_spec = model
        self._species_arg = species
        self._pbc = pbc
        self._other = other

    def _prepare(self):
        from lessdask.frame import check_species, resolve_model

        self._model = resolve_model(self._model_spec)
        self._structures = [str(c) for c in self._model.classes_]
        if self._species_arg is not None:
            self._species = np.asarray(self._species_arg)
        else:
            try:
                self._species = np.asarray(self._ag.elements)
            except Exception:  # noqa: BLE001 - MDAnalysis raises NoDataError when elements are unset
                self._species = np.asarray(self._ag.types)
        if self._species.shape[0] != self._ag.n_atoms:
            raise InputError(f"species has {self._species.shape[0]} entries for {self._ag.n_atoms} atoms")
        check_species(self._species, self._model, str(self._ag))
        self._labels = np.full((self.n_frames, self._ag.n_atoms), -1, dtype=np.int8)
        self._times = np.zeros(self.n_frames, dtype=np.float64)

    def _single_frame(self):
        from lessdask.frame import classify_frame
        from lessdask.trajectory import frame_box

        box = frame_box(self._ag.universe, self._ts.frame) if self._pbc else None
        if box is not None and (not np.all(np.isfinite(box)) or np.any(np.asarray(box[:3]) <= 0)):
            box = None
        if self._pbc and box is None:
            raise InputError(f"frame {self._ts.frame} of {self._ag.universe} has no usable periodic box; "
                             "give a Universe with the box, or pass pbc=False for free boundaries")
        r = classify_frame(self._ag.positions, box, self._species, self._model, other=self._other,
                           where=f"frame {self._ts.frame}")
        self._labels[self._frame_index] = r.labels
        self._times[self._frame_index] = self._ts.time

    def _conclude(self):
        n_classes = len(self._structures)
        counts = np.stack([(self._labels == k).sum(axis=1) for k in range(n_classes)], axis=1)
        self.results.fractions = counts / max(self._ag.n_atoms, 1)
        self.results.labels = self._labels
        self.results.structures = list(self._structures)
        self.results.times = self._times
