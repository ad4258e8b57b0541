"""The default model: shipped with lessdask, or trained once from the shipped reference data."""

from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path

from lessdask.errors import ModelFileError

logger = logging.getLogger(__name__)

SHIPPED_NAME = "default_model.lessmodel"


def shipped_model_path() -> Path:
    """Where the package keeps its default model file."""
    return Path(str(resources.files("lessdask") / "data" / SHIPPED_NAME))


def cache_dir() -> Path:
    """Per-user cache (``$XDG_CACHE_HOME/lessdask`` or ``~/.cache/lessdask``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lessdask"


def default_model_path() -> Path:
    """Path of the default model: the shipped file, else a per-user cached one trained on first use."""
    shipped = shipped_model_path()
    if shipped.exists():
        return shipped
    from lessdask import __version__

    cached = cache_dir() / f"default-{__version__}.lessmodel"
    if cached.exists():
        return cached
    try:
        from lessdask.model.training import train_model
    except ImportError as exc:  # pragma: no cover
        raise ModelFileError(f"no default model is available: {exc}") from None
    cached.parent.mkdir(parents=True, exist_ok=True)
    logger.warning("training the default model once, into %s ...", cached)
    train_model(output=cached, report_dir=None, progress=True)
    return cached
