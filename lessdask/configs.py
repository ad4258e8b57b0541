"""Settings files shipped inside the package: feature settings, model presets, cluster profiles.

The same files are in the source tree's ``configs/`` as copies to edit; ``lessdask config
show NAME`` prints one, so an installed wheel is enough to start your own.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from lessdask.errors import InputError


def _shipped_dir() -> Path:
    return Path(str(resources.files("lessdask") / "data" / "configs"))


def config_names() -> list[str]:
    """Names of the shipped settings files (``cluster-slurm``, ``features-paper``, ``model-fast``, ...)."""
    return sorted(p.stem for p in _shipped_dir().glob("*.yaml"))


def config_path(name_or_path: str | os.PathLike, kind: str | None = None) -> Path:
    """A settings file: an existing path, else a shipped file by name.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A YAML path, a shipped name (``cluster-slurm``) or, with ``kind``, its short form
        (``slurm`` for kind ``cluster``).
    kind : {"cluster", "features", "model"}, optional
        Prefix tried for short names.

    Raises
    ------
    InputError
        Neither a file nor a shipped name; the message lists the shipped names.
    """
    p = Path(name_or_path)
    if p.exists():
        return p
    shipped = _shipped_dir()
    name = str(name_or_path)
    if (shipped / f"{name}.yaml").exists():
        return shipped / f"{name}.yaml"
    kinds = [kind] if kind else sorted({n.split("-", 1)[0] for n in config_names()})
    found = [f"{k}-{name}" for k in kinds if (shipped / f"{k}-{name}.yaml").exists()]
    if len(found) == 1:
        return shipped / f"{found[0]}.yaml"
    names = found or [n for n in config_names() if kind is None or n.startswith(f"{kind}-")]
    which = "is ambiguous" if found else "is neither a settings file nor a shipped one"
    raise InputError(f"{name_or_path} {which} ({', '.join(names)})")


def config_text(name: str) -> str:
    """The text of a shipped settings file (to copy and edit)."""
    return config_path(name).read_text()
