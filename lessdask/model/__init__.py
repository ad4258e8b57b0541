"""The LESS stacked classifier, its presets, safe model files and class extension."""

from lessdask.model.presets import BASE_MODELS, PRESETS, resolve_spec
from lessdask.model.stacking import LESSClassifier

__all__ = ["LESSClassifier", "PRESETS", "BASE_MODELS", "resolve_spec"]
