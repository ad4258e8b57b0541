"""MDAnalysis' analysis vocabulary: per-frame labels, probabilities and fractions of an AtomGroup in memory.

:class:`LESS` is an MDAnalysis ``AnalysisBase``: ``LESS(atomgroup).run(...)`` classifies the
group frame by frame in this process (or, being declared parallelizable, in MDAnalysis' own
``multiprocessing`` and ``dask`` backends, MDAnalysis >= 2.8), with no Dask cluster and no
results store. Its results are numpy arrays; :meth:`LESS.to_xarray` gives them as a Dataset
shaped like the results store. For big trajectories use :func:`lessdask.classify`, which
writes per-atom results to a store from workers that read the files themselves.
"""

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


def _results_group(lookup):
    from MDAnalysis.analysis.results import ResultsGroup

    return ResultsGroup(lookup={key: getattr(ResultsGroup, how) for key, how in lookup.items()})


def _limit_threads(n: int) -> None:
    """Pool initializer: numba threads per process, so that the processes share the cores."""
    import numba

    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


def _safe_multiprocessing(n_workers: int):
    """MDAnalysis' multiprocessing backend with processes that do not inherit OpenMP threads.

    MDAnalysis' own backend uses the platform's default start method, ``fork`` on Linux: once
    numba's OpenMP threads have run in the calling process (any earlier classification does
    it), a forked child aborts ("fork() called from a process already using GNU OpenMP") and
    the pool waits for it forever. ``forkserver`` (``spawn`` where there is none) starts
    clean processes; like ``spawn``, it needs the ``if __name__ == "__main__":`` guard in scripts.
    """
    import multiprocessing
    import os

    from MDAnalysis.analysis.backends import BackendMultiprocessing

    class _CleanProcesses(BackendMultiprocessing):
        def apply(self, func, computations):
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            threads = max(1, (os.cpu_count() or 1) // self.n_workers)
            with ctx.Pool(processes=self.n_workers, initializer=_limit_threads, initargs=(threads,)) as pool:
                return pool.map(func, computations)

    return _CleanProcesses(n_workers=n_workers)


class LESS(_mda_base()):
    """LESS labels, class probabilities and phase fractions of an AtomGroup, frame by frame, in memory.

    An MDAnalysis analysis class: parameters in the constructor, then ``run(start, stop, step,
    frames, backend, n_workers)``. Each frame goes through :func:`lessdask.classify_frame`,
    so the labels and probabilities are those :func:`lessdask.classify` writes to a store
    for the same atoms. Runs serially or with MDAnalysis' ``"multiprocessing"`` and
    ``"dask"`` backends (MDAnalysis >= 2.8), which split the frames between processes and
    give the serial results.

    Parameters
    ----------
    atomgroup : MDAnalysis.core.groups.AtomGroup
        Atoms to classify (a Universe, residue or segment group means its atoms).
    model : str or os.PathLike or LESSClassifier, default "default"
        A ``.lessmodel`` file, ``"default"``, or an already loaded model.
    species : array_like, optional
        Species of every atom of the Universe (``neighbors="universe"``) or of the group
        (``neighbors="group"``). Default: elements, else names, else types (as
        :func:`lessdask.classify` reads them).
    pbc : bool, default True
        Periodic boundaries from each frame's box (also an extended-XYZ ``Lattice``); False
        for free boundaries.
    other : bool, default True
        Label atoms outside the envelope of their most probable class -1 ("other").
    neighbors : {"universe", "group"}, default "universe"
        Where the neighbours of the group's atoms come from: every atom of the Universe (as
        ``lessdask.classify(..., select=...)`` does), or only the group (the group is a
        system of its own).
    verbose : bool, default False
        Show MDAnalysis' progress bar (serial backend only).

    Attributes
    ----------
    results.labels : numpy.ndarray
        ``(n_frames, n_atoms)`` int8: index into ``results.classes``, -1 "other".
    results.probabilities : numpy.ndarray
        ``(n_frames, n_atoms, n_classes)`` float32, rows sum to 1.
    results.fractions : numpy.ndarray
        ``(n_frames, n_classes)`` fraction of the group's atoms with each label; "other"
        atoms count in the denominator only (``1 - fractions.sum(axis=1)`` is their share).
    results.dimensions : numpy.ndarray
        ``(n_frames, 6)`` box of each frame (NaN with ``pbc=False``).
    results.classes : tuple of str
        Class names, the columns of ``fractions`` and ``probabilities``.
    results.structures : list of str
        The same as a list (the name :class:`PhaseFractions` used).
    results.times : numpy.ndarray
        Simulation time of each analysed frame (ps); also ``times`` and ``frames``.

    See Also
    --------
    lessdask.classify : the distributed path, into a results store.
    lessdask.classify_frame : one frame in memory.

    Notes
    -----
    Memory: ``probabilities`` takes ``4 * n_frames * n_atoms * n_classes`` bytes (8 classes,
    100,000 atoms, 1,000 frames: 3.2 GB); MDAnalysis' parallel backends also gather every
    part's arrays in the calling process. Beyond that, use :func:`lessdask.classify`.

    The ``multiprocessing`` and ``dask`` backends pickle the analysis with its Universe: each
    process reopens the trajectory files (an in-memory trajectory is copied to it), loads the
    model once, and compiles nothing already in numba's on-disk cache. ``multiprocessing``
    starts its processes with ``forkserver`` (``spawn`` where there is none), not ``fork``:
    a child forked after numba's OpenMP threads ran aborts and MDAnalysis' pool would wait
    forever. Both backends need scripts to start them under ``if __name__ == "__main__":``.
    Each process first imports lessdask and loads the model (about 2 s): for the 4,000-atom,
    10-frame demo the serial run (0.3 s) beats two processes (5 s); the backends pay off for
    runs that take minutes serially.

    Examples
    --------
    >>> import MDAnalysis as mda
    >>> from lessdask.analysis import LESS
    >>> u = mda.Universe("run.lammpstrj", format="LAMMPSDUMP", dt=0.001)  # doctest: +SKIP
    >>> less = LESS(u.select_atoms("type 1")).run(step=10)                 # doctest: +SKIP
    >>> less.results.fractions.shape                                        # doctest: +SKIP
    (n_frames, 8)
    >>> less.run(backend="multiprocessing", n_workers=4)                    # doctest: +SKIP
    >>> less.to_xarray()["label"].sel(structure=...)                        # doctest: +SKIP
    """

    _analysis_algorithm_is_parallelizable = True

    @classmethod
    def get_supported_backends(cls):
        """The MDAnalysis backends this analysis runs with: ``serial``, ``multiprocessing``, ``dask``."""
        return ("serial", "multiprocessing", "dask")

    def _configure_backend(self, backend, n_workers, unsupported_backend=False):
        executor = super()._configure_backend(backend, n_workers, unsupported_backend=unsupported_backend)
        from MDAnalysis.analysis.backends import BackendMultiprocessing

        if type(executor) is BackendMultiprocessing:  # the built-in one, asked for by name
            return _safe_multiprocessing(executor.n_workers)
        return executor

    def __init__(self, atomgroup, model: Any = "default", species: Any = None, pbc: bool = True,
                 other: bool = True, neighbors: str = "universe", verbose: bool = False, **kwargs):
        atomgroup = atomgroup.atoms  # a Universe, residue or segment group means its atoms
        super().__init__(atomgroup.universe.trajectory, verbose=verbose, **kwargs)
        if neighbors not in ("universe", "group"):
            raise InputError(f"neighbors must be 'universe' or 'group', got {neighbors!r}")
        self.atomgroup = atomgroup
        self.model = model
        self.species = species
        self.pbc = bool(pbc)
        self.other = bool(other)
        self.neighbors = neighbors

    def _system_atoms(self):
        return self.atomgroup.universe.atoms if self.neighbors == "universe" else self.atomgroup

    def _prepare(self):
        from lessdask.features import species_codes
        from lessdask.frame import check_species, resolve_model
        from lessdask.trajectory import species_of

        model = resolve_model(self.model)
        system = self._system_atoms()
        species = species_of(system) if self.species is None else np.asarray(self.species)
        if species.shape != (system.n_atoms,):
            raise InputError(f"species has shape {species.shape}, but the {self.neighbors} has {system.n_atoms} atoms "
                             f"(neighbors={self.neighbors!r}); give one species per atom of it")
        check_species(species, model, str(self.atomgroup.universe))
        self._codes = species_codes(species, system.n_atoms)
        if self.neighbors == "universe":
            idx = np.asarray(self.atomgroup.indices)
            self._atoms = None if np.array_equal(idx, np.arange(system.n_atoms)) else idx
        else:
            self._atoms = None
        n, k, m = self.n_frames, self.atomgroup.n_atoms, len(model.classes_)
        self.results.labels = np.full((n, k), -1, dtype=np.int8)
        self.results.probabilities = np.zeros((n, k, m), dtype=np.float32)
        self.results.dimensions = np.full((n, 6), np.nan, dtype=np.float64)

    def _single_frame(self):
        from lessdask.frame import classify_frame, resolve_model
        from lessdask.trajectory import current_frame

        u = self.atomgroup.universe
        where = f"frame {self._ts.frame} of {u}"
        positions, box, _ = current_frame(u, self.pbc, where)
        if self.neighbors == "group":
            positions = self.atomgroup.positions
        r = classify_frame(positions, box, self._codes, resolve_model(self.model), atoms=self._atoms,
                           other=self.other, where=where)
        self.results.labels[self._frame_index] = r.labels
        self.results.probabilities[self._frame_index] = r.probabilities
        if box is not None:
            self.results.dimensions[self._frame_index] = box

    def _get_aggregator(self):
        return _results_group({"labels": "ndarray_vstack", "probabilities": "ndarray_vstack",
                               "dimensions": "ndarray_vstack"})

    def _conclude(self):
        # runs in the calling process, on the gathered arrays: nothing from _prepare is here
        from lessdask.frame import resolve_model

        model = resolve_model(self.model)
        classes = tuple(map(str, model.classes_))
        labels = self.results.labels
        counts = np.stack([(labels == c).sum(axis=1) for c in range(len(classes))], axis=1) if labels.size \
            else np.zeros((labels.shape[0], len(classes)), np.int64)
        self.results.fractions = counts / max(self.atomgroup.n_atoms, 1)
        self.results.classes = classes
        self.results.structures = list(classes)
        self.results.times = np.asarray(self.times, np.float64)
        self._digest = getattr(model, "digest_", None)
        self._feature_settings = model.feature_settings_.to_dict() if hasattr(model, "feature_settings_") else None

    def to_xarray(self):
        """The results as an xarray Dataset shaped like the results store.

        Returns
        -------
        xarray.Dataset
            ``label`` (frame, atom) int8 with CF ``flag_values``/``flag_meanings``,
            ``probability`` (frame, atom, structure) float32, ``dimensions`` (frame, cell),
            ``fraction`` (frame, structure); coordinates ``frame``, ``time`` (ps), ``atom``
            (the atoms' ids), ``structure``. :func:`lessdask.phase_fractions` works on it.

        Raises
        ------
        RuntimeError
            Before :meth:`run`.
        """
        import json

        import xarray as xr

        from lessdask import __version__
        from lessdask.store import CELL, OTHER, OTHER_LABEL

        if "fractions" not in self.results:
            raise RuntimeError("no results yet: call .run() first")
        r = self.results
        m = len(r.classes)
        ds = xr.Dataset(
            {
                "label": (("frame", "atom"), r.labels),
                "probability": (("frame", "atom", "structure"), r.probabilities),
                "dimensions": (("frame", "cell"), r.dimensions),
                "fraction": (("frame", "structure"), r.fractions),
            },
            coords={
                "frame": ("frame", np.asarray(self.frames, np.int64)),
                "time": ("frame", np.asarray(self.times, np.float64)),
                "atom": ("atom", np.asarray(self.atomgroup.ids, np.int64)),
                "structure": ("structure", np.array(r.classes, dtype=object)),
                "cell": ("cell", np.array(CELL, dtype=object)),
            },
            attrs={
                "title": "lessdask structure classification (in memory, lessdask.analysis.LESS)",
                "lessdask_version": __version__,
                "model_digest": str(self._digest),
                "classes": list(r.classes),
                "feature_settings": json.dumps(self._feature_settings),
                "selection": "all" if self.atomgroup.n_atoms == self.atomgroup.universe.atoms.n_atoms
                else f"an AtomGroup of {self.atomgroup.n_atoms} atoms",
                "neighbors": self.neighbors,
                "pbc": self.pbc,
                "other": self.other,
                "complete": True,
                "Conventions": "CF-1.10",
            },
        )
        ds["label"].attrs.update(long_name="structure class", flag_values=np.arange(OTHER_LABEL, m, dtype=np.int8)
                                 .tolist(), flag_meanings=" ".join([OTHER, *r.classes]), missing_label=OTHER_LABEL)
        ds["probability"].attrs.update(long_name="class probability", units="1")
        ds["fraction"].attrs.update(long_name="fraction of atoms with the label", units="1")
        ds["time"].attrs.update(long_name="simulation time", units="ps")
        ds["dimensions"].attrs.update(long_name="box lengths (Å) and angles (degrees)", units="Å, degree")
        ds["atom"].attrs.update(long_name="atom id from the input file")
        return ds


class PhaseFractions(LESS):
    """:class:`LESS` with the group as a system of its own (``neighbors="group"``), its earlier name.

    Kept for scripts written against it: ``results.fractions``, ``results.labels``,
    ``results.structures`` and ``results.times`` are as before. New code: :class:`LESS`.

    Parameters
    ----------
    atomgroup : MDAnalysis.core.groups.AtomGroup
        Atoms to classify; the whole group, and only it, makes the local environments.
    model, species, pbc, other, verbose
        As for :class:`LESS`.

    Examples
    --------
    >>> pf = PhaseFractions(u.atoms, model="default").run()   # doctest: +SKIP
    >>> pf.results.fractions.shape                             # doctest: +SKIP
    (n_frames, 8)
    """

    def __init__(self, atomgroup, model: Any = "default", species: Any = None, pbc: bool = True,
                 other: bool = True, verbose: bool = False, **kwargs):
        super().__init__(atomgroup, model=model, species=species, pbc=pbc, other=other, neighbors="group",
                         verbose=verbose, **kwargs)
