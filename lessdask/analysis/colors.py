"""Fixed colours of structure classes: the same class has the same colour in every figure and process."""

from __future__ import annotations

import zlib

from lessdask.store import OTHER

#: Fixed colour of every known structure class, used by every figure.
CLASS_COLORS: dict[str, str] = {
    "fcc": "#1f77b4",  # blue
    "bcc": "#d62728",  # red
    "hcp": "#2ca02c",  # green
    "DC": "#9467bd",  # purple
    "NaCl": "#ff7f0e",  # orange
    "CsCl": "#8c564b",  # brown
    "CaF2": "#e377c2",  # pink
    "AM": "#7f7f7f",  # grey
    "graphite": "#17becf",  # cyan
    OTHER: "#000000",  # black
}

#: Colours for classes not in :data:`CLASS_COLORS` (e.g. ones added with ``extend``).
_FALLBACK_COLORS: tuple[str, ...] = (
    "#bcbd22",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
)

def class_color(name: str) -> str:
    """Return the fixed colour of a structure class.

    Parameters
    ----------
    name : str
        Class name, e.g. ``"fcc"``.

    Returns
    -------
    str
        A matplotlib colour. Known classes use :data:`CLASS_COLORS`; any other name gets
        a colour from a fallback cycle chosen by a stable hash of the name, so the same
        unknown class has the same colour in every figure and every process.
    """
    name = str(name)
    if name in CLASS_COLORS:
        return CLASS_COLORS[name]
    return _FALLBACK_COLORS[zlib.crc32(name.encode("utf-8")) % len(_FALLBACK_COLORS)]

