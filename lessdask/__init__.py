"""lessdask: the LESS crystal-structure classifier for big MD trajectories, on Dask.

The most used names are re-exported here lazily, so ``import lessdask`` stays cheap (no numba
compilation, no Dask start-up):

* :func:`classify` -- a trajectory into a results store (:mod:`lessdask.pipeline`);
* :func:`classify_frame` -- one frame in memory (:mod:`lessdask.frame`);
* :class:`LESS` -- every frame of an MDAnalysis AtomGroup in memory (:mod:`lessdask.analysis`);
* :func:`compute_features` -- the 24 Steinhardt features (:mod:`lessdask.features`);
* :func:`load_model`, :func:`save_model`, :class:`LESSClassifier` (:mod:`lessdask.model`);
* :func:`open_results`, :func:`phase_fractions` -- reading results (:mod:`lessdask.store`,
  :mod:`lessdask.analysis`).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "classify": "lessdask.pipeline",
    "classify_frame": "lessdask.frame",
    "LESS": "lessdask.analysis",
    "compute_features": "lessdask.features",
    "FeatureSettings": "lessdask.features",
    "LESSClassifier": "lessdask.model",
    "load_model": "lessdask.model",
    "save_model": "lessdask.model",
    "open_results": "lessdask.store",
    "phase_fractions": "lessdask.analysis",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lessdask' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
