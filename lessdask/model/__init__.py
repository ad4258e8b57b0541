"""The LESS stacked classifier, its presets, safe model files and class extension."""

from lessdask.model.files import load_model, read_model_metadata, save_model
from lessdask.model.presets import BASE_MODELS, PRESETS, resolve_spec
from lessdask.model.stacking import LESSClassifier

__all__ = ["LESSClassifier", "PRESETS", "BASE_MODELS", "resolve_spec", "load_model", "save_model",
           "read_model_metadata"]
