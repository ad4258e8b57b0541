"""Structure class names: what each short name means, and the aliases users type.

The shipped model's classes are the paper's short names (``fcc``, ``DC``, ``AM``, ...);
prose and other tools say "diamond", "amorphous", "liquid", "rock salt". :func:`resolve_class`
accepts either, case-insensitively, wherever a class is named (``interface_position``'s
``between``, ``lessdask fractions|profile --classes``, ``lessdask interface --between``).
"""

from __future__ import annotations

from collections.abc import Iterable

from lessdask.errors import InputError

#: Full name of every known class (``lessdask model info`` prints them).
CLASS_NAMES: dict[str, str] = {
    "fcc": "face-centred cubic",
    "bcc": "body-centred cubic",
    "hcp": "hexagonal close-packed",
    "DC": "cubic diamond",
    "NaCl": "rock salt (B1)",
    "CsCl": "caesium chloride (B2)",
    "CaF2": "fluorite (C1)",
    "AM": "amorphous / liquid",
    "graphite": "graphite (hexagonal)",
    "other": "outside the reference envelope of its most probable class (label -1)",
}

#: Other names of classes (lower case) and the class they mean.
ALIASES: dict[str, str] = {
    "diamond": "DC",
    "cubic-diamond": "DC",
    "cubic diamond": "DC",
    "cd": "DC",
    "amorphous": "AM",
    "liquid": "AM",
    "glass": "AM",
    "melt": "AM",
    "rocksalt": "NaCl",
    "rock-salt": "NaCl",
    "rock salt": "NaCl",
    "b1": "NaCl",
    "b2": "CsCl",
    "fluorite": "CaF2",
    "c1": "CaF2",
}


def describe_class(name: str) -> str:
    """The full name of a class.

    Parameters
    ----------
    name : str
        A class name as a model or store spells it (``"DC"``).

    Returns
    -------
    str
        Its entry in :data:`CLASS_NAMES` (``"cubic diamond"``), or ``"added class (lessdask
        extend)"`` for a class a user added to a model.
    """
    return CLASS_NAMES.get(str(name), "added class (lessdask extend)")


def resolve_class(name: str, classes: Iterable[str]) -> str:
    """The class of ``classes`` that ``name`` means: the name itself, any case, or an alias.

    Parameters
    ----------
    name : str
        What the user typed: ``"fcc"``, ``"am"``, ``"diamond"``, ``"Liquid"``, ``"rocksalt"``, ...
    classes : iterable of str
        The classes available (a store's ``structure`` coordinate or a model's ``classes_``;
        ``"other"`` may be among them).

    Returns
    -------
    str
        The class name as spelt in ``classes``.

    Raises
    ------
    lessdask.errors.InputError
        ``name`` is none of the classes nor an alias of one; the message lists them.
    """
    classes = [str(c) for c in classes]
    text = str(name).strip()
    if text in classes:
        return text
    lower = {c.lower(): c for c in classes}
    if text.lower() in lower:
        return lower[text.lower()]
    target = ALIASES.get(text.lower())
    if target is not None and target in classes:
        return target
    known = ", ".join(f"{c} ({CLASS_NAMES[c]})" if c in CLASS_NAMES else c for c in classes)
    hint = f" ({text!r} means {target}, which these results do not have)" if target else ""
    raise InputError(f"unknown class {text!r}{hint}; the classes are: {known}; aliases such as 'diamond', "
                     "'amorphous', 'liquid', 'rocksalt', 'fluorite' are accepted")


def resolve_classes(names: Iterable[str] | None, classes: Iterable[str]) -> list[str] | None:
    """:func:`resolve_class` for each of ``names``.

    Parameters
    ----------
    names : iterable of str or None
        What the user typed; None stays None (no restriction).
    classes : iterable of str
        The classes available.

    Returns
    -------
    list of str or None
        The classes meant, in the order given.
    """
    if names is None:
        return None
    classes = list(classes)
    return [resolve_class(n, classes) for n in names]
