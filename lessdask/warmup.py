"""The compiled kernels' first run: say that numba is compiling, and compile once per machine.

lessdask's kernels (neighbour search and Steinhardt features in :mod:`lessdask.features`, tree
inference and the envelope test in :mod:`lessdask.model.compiled`) are numba functions with
``cache=True``: the first call on a machine compiles them (about a minute of CPU on the
2-core machine lessdask is developed on; most of it the parallel Steinhardt kernels) and
writes machine code to numba's cache (``__pycache__`` beside the sources, or
``NUMBA_CACHE_DIR``); every later process loads it in about a second.

Left alone, every Dask worker of a first run compiles the same kernels at once, each showing
0 % progress. :func:`compile_kernels` compiles them once, in the calling process, with a log
message, before workers start; the workers then load the cache.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def _dispatchers() -> list:
    """The cached numba kernels a classification calls (features and model)."""
    from numba.core.registry import CPUDispatcher

    import lessdask.features.neighbors as neighbors
    import lessdask.features.steinhardt as steinhardt
    import lessdask.model.compiled as compiled

    found = []
    for module in (neighbors, steinhardt, compiled):
        for value in vars(module).values():
            # numba-inlined helpers are compiled into their callers: no cache entry of their own
            if (isinstance(value, CPUDispatcher) and value.__module__ == module.__name__
                    and value.targetoptions.get("inline", "never") == "never"):
                found.append(value)
    return found


def _index_path(dispatcher) -> Path | None:
    try:  # numba internals: the cache index of a cache=True function
        return Path(dispatcher._cache._cache_file._index_path)
    except AttributeError:
        return None


def kernels_cached() -> bool:
    """Whether numba's cache holds an entry for every lessdask kernel (False: the next run compiles)."""
    paths = [_index_path(d) for d in _dispatchers()]
    return all(p is not None and p.exists() for p in paths)


def compile_kernels(model="default", force: bool = False) -> float:
    """Compile (or load from numba's cache) every kernel a classification uses, in this process.

    Computes the features of :func:`warmup_frames` chunk by chunk from one
    :class:`~lessdask.features.engine.FrameFeatures` per frame, then classifies the chunks
    with ``model``, as a worker's task does: every kernel is called with the argument types of
    a real run. The model's kernels compile meanwhile in a second process
    (:func:`compile_model_kernels`). When the cache is empty, logs "compiling
    kernels, first run only" through the ``lessdask`` logger first (the CLI prints it).

    Parameters
    ----------
    model : LESSClassifier or str or Path
        A fitted model, a ``.lessmodel`` file or ``"default"``.
    force : bool
        Run even when the cache looks complete (a cache written on another CPU is recompiled).

    Returns
    -------
    float
        Seconds spent (0.0 when the cache was complete and ``force`` is False).
    """
    if not force and kernels_cached():
        return 0.0
    from lessdask.features.engine import FrameFeatures
    from lessdask.frame import classify_frame, resolve_model

    logger.info("compiling kernels, first run only (numba writes them to its cache; about a minute)")
    t = time.perf_counter()
    # the model's kernels compile in a second process while this one compiles the features'
    # (numba compiles under the GIL: threads would not overlap); both write the same cache
    helper = subprocess.Popen([sys.executable, "-c", "from lessdask.warmup import compile_model_kernels as c; c()"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        frames = warmup_frames()
        shared = [FrameFeatures(pos, box, species) for pos, box, species in frames]
        for frame in shared:  # the features' kernels, every path (before the model's are ready)
            half = frame.n_atoms // 2
            frame.features(range(half))
            frame.features(range(half, frame.n_atoms))
        helper.wait()
        mdl = resolve_model(model)
        for (pos, box, species), frame in zip(frames, shared):  # as a worker's task: chunks of one frame
            if frame.settings != mdl.feature_settings_:
                frame = FrameFeatures(pos, box, species, settings=mdl.feature_settings_)
            half = frame.n_atoms // 2
            for atoms in (np.arange(half), np.arange(half, frame.n_atoms)):
                classify_frame(pos, box, species, mdl, atoms=atoms, shared=frame)
    finally:
        if helper.poll() is None:
            helper.kill()
    seconds = time.perf_counter() - t
    logger.info("kernels compiled in %.0f s", seconds)
    return seconds


def _sphere(n: int, radius: float) -> np.ndarray:
    """``n`` points spread evenly on a sphere (Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    polar = np.arccos(1.0 - 2.0 * i / n)
    azimuth = np.pi * (1.0 + 5.0**0.5) * i
    return radius * np.column_stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar),
                                     np.cos(polar)])


def warmup_frames() -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
    """Small frames that between them take every path of a real classification.

    A periodic two-species bcc crystal (128 atoms), and a frame with free boundaries holding
    an fcc cluster, an atom crowded by 30 neighbours (more than the
    :data:`~lessdask.features.engine.NEIGHBOUR_SLOTS` kept per atom: its average is searched
    again) and a sparse shell of atoms whose neighbours lie beyond the first search radius
    (a second, wider search round).

    Returns
    -------
    list of (positions, box, species)
        Positions float32 (as MDAnalysis reads them; the cell-list kernel is compiled per
        position type); ``box`` None means free boundaries; species are int codes.
    """
    from lessdask.reference import build_crystal

    bcc = build_crystal("bcc", 4)
    periodic = (bcc.positions.astype(np.float32), bcc.dimensions, np.arange(len(bcc.positions)) % 2)
    fcc = build_crystal("fcc", 3)
    side = fcc.dimensions[0]
    centre = np.array([[side + 6.0, side / 2, side / 2]])
    crowd = np.vstack([centre, centre + _sphere(4, 2.5), centre + _sphere(26, 3.0)])
    sparse = np.array([side / 2, side / 2, side + 2.0]) + _sphere(6, 6.0)
    free = np.vstack([fcc.positions, crowd, sparse])
    return [periodic, (free.astype(np.float32), None, np.zeros(len(free), np.int64))]


def compile_model_kernels() -> None:
    """Compile (or load) the kernels of :mod:`lessdask.model.compiled` on a few rows of random data."""
    import numpy as np

    from lessdask.model import load_model
    from lessdask.model.compiled import CompiledForest, envelope_arrays, other_labels

    model = load_model("default")
    X = np.random.default_rng(0).random((600, model.n_features_in_), dtype=np.float32)
    forest = model.compiled_ or CompiledForest.from_boosters(model.mega_models_)
    labels = np.argmax(forest.softmax(X, model.temperature), axis=1)
    if model.has_envelopes:
        other_labels(X, labels, envelope_arrays(model.envelope_centres_, model.envelope_radius_))
