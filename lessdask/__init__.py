"""lessdask: the LESS crystal-structure classifier for big MD trajectories, on Dask.

The public API lives in the rooms below; the most used names are re-exported here
lazily, so ``import lessdask`` stays cheap (no numba compilation, no Dask start-up).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "compute_features": "lessdask.features",
    "FeatureSettings": "lessdask.features",
    "LESSClassifier": "lessdask.model",
    "load_model": "lessdask.model",
    "save_model": "lessdask.model",
    "classify": "lessdask.pipeline",
    "open_results": "lessdask.analysis",
    "phase_fractions": "lessdask.analysis",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lessdask' has no attribute {name!r}")
