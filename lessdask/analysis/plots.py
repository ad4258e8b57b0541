"""Figures of fractions, profiles and fronts, with the object-oriented matplotlib API (no pyplot state)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from lessdask.analysis.colors import class_color
from lessdask.store import OTHER


def _new_figure(nrows: int = 1, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, 1, squeeze=False)[:, 0]
    return fig, axes


def _save(fig, path: str | os.PathLike) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out


def _visible_classes(values: np.ndarray, names: list[str]) -> list[int]:
    """Indices of classes that are non-zero somewhere (all of them if none is)."""
    shown = [i for i in range(len(names)) if np.nanmax(np.abs(values[..., i]), initial=0.0) > 0]
    return shown or list(range(len(names)))


def plot_fractions(fractions: xr.DataArray, path: str | os.PathLike) -> Path:
    """Plot phase fractions against time.

    Parameters
    ----------
    fractions : xarray.DataArray
        Output of :func:`lessdask.analysis.phase_fractions`, dims ``(frame, structure)``.
    path : str or os.PathLike
        Image file to write (format from the suffix, e.g. ``.png``).

    Returns
    -------
    pathlib.Path
        The file written. Classes that are zero in every frame are left out of the plot.
        Fractions of ``method="probability"`` are drawn as what they are, the mean class
        probability (y axis so named, with a note that absent classes keep a small floor).
    """
    return _save(fractions_figure(fractions), path)


def fractions_figure(fractions: xr.DataArray):
    """The figure :func:`plot_fractions` saves, for notebooks and tests.

    Parameters
    ----------
    fractions : xarray.DataArray
        Output of :func:`lessdask.analysis.phase_fractions`.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: label fractions, or mean class probabilities (``method="probability"``:
        y axis "mean class probability", with a note on the floor of absent classes).
    """
    frac = fractions.transpose("frame", "structure").compute()
    names = [str(s) for s in frac["structure"].values]
    if "time" in frac.coords:
        x, xlabel = np.asarray(frac["time"].values), f"time ({frac['time'].attrs.get('units', 'ps')})"
    else:
        x, xlabel = np.asarray(frac["frame"].values), "frame"
    values = np.asarray(frac.values, dtype=np.float64)
    fig, (ax,) = _new_figure()
    for i in _visible_classes(values, names):
        ax.plot(x, values[:, i], color=class_color(names[i]), label=names[i], lw=1.5)
    method = frac.attrs.get("method", "label")
    if method == "probability":
        # a soft measure, not a phase fraction: absent classes keep a floor (docs/science.md)
        ax.set_title("Mean class probability over the atoms")
        ax.set_ylabel("mean class probability")
        ax.text(0.01, 0.01, "probabilities never reach 0: classes absent from the system keep a small floor "
                "(docs/science.md);\nphase fractions: --method label", transform=ax.transAxes, fontsize="x-small",
                va="bottom", color="0.35")
    else:
        ax.set_title("Phase fractions (labels)")
        ax.set_ylabel("fraction of atoms")
    ax.set_xlabel(xlabel)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="best", fontsize="small", ncols=2)
    return fig


def plot_profile(profile: xr.Dataset, path: str | os.PathLike) -> Path:
    """Plot a structure profile: label fraction (top) and mean probability (bottom).

    Parameters
    ----------
    profile : xarray.Dataset
        Output of :func:`lessdask.analysis.profile`.
    path : str or os.PathLike
        Image file to write.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    prof = profile.compute()
    names = [str(s) for s in prof["structure"].values]
    x = np.asarray(prof["bin_center"].values)
    axis_name = prof.attrs.get("axis", "position")
    fig, axes = _new_figure(2, height=3.2)
    panels = (("fraction", "fraction of atoms (labels)"), ("probability", "mean probability"))
    for ax, (var, ylabel) in zip(axes, panels):
        values = np.asarray(prof[var].transpose("bin", "structure").values, dtype=np.float64)
        for i in _visible_classes(values, names):
            ax.plot(x, values[:, i], color=class_color(names[i]), label=names[i], lw=1.5, marker=".")
        if var == "fraction" and "other" in prof and np.nanmax(prof["other"].values, initial=0) > 1e-3:
            ax.plot(x, prof["other"].values, color=class_color(OTHER), label=OTHER, lw=1.5, marker=".", ls="--")
        ax.set_ylabel(ylabel)
        ax.set_xlabel(f"{axis_name} (Å)")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="best", fontsize="small", ncols=2)
    n_frames = prof.attrs.get("n_frames")
    suffix = f", mean over {n_frames} frame{'s' if n_frames != 1 else ''}" if n_frames else ""
    axes[0].set_title(f"Structure profile along {axis_name}{suffix}")
    return _save(fig, path)


def plot_interface(interface: xr.Dataset, path: str | os.PathLike) -> Path:
    """Plot every front's position against time with its fitted line and velocity.

    Parameters
    ----------
    interface : xarray.Dataset
        Output of :func:`lessdask.analysis.interface_position`.
    path : str or os.PathLike
        Image file to write.

    Returns
    -------
    pathlib.Path
        The file written.

    Notes
    -----
    Positions are drawn followed across the periodic boundary (``position_unwrapped``), so
    a front that crosses the box edge stays one line; the legend gives each front's
    velocity with its uncertainty (:func:`~lessdask.analysis.fronts.format_uncertain`).
    """
    from matplotlib import colormaps

    from lessdask.analysis.fronts import format_uncertain

    t = np.asarray(interface["time"].values, dtype=np.float64)
    units = interface["time"].attrs.get("units", "ps")
    xlabel = "time (ps)" if units == "ps" else "frame"
    attrs = interface.attrs
    between = [str(b) for b in attrs.get("between", ("A", "B"))]
    axis_name = attrs.get("axis", "z")
    fig, (ax,) = _new_figure()
    n = int(interface.sizes.get("front", 0))
    colours = colormaps["tab10"]
    for j in range(n):
        f = interface.isel(front=j)
        pos = np.asarray(f["position_unwrapped"].values, dtype=np.float64)
        side = "above" if int(f["orientation"]) > 0 else "below"
        colour = colours(j % 10)
        ax.plot(t, pos, "o", color=colour, ms=4, label=f"front {j} ({between[0]} {side})")
        v, err, z0 = float(f["velocity"]), float(f["velocity_stderr"]), float(f["intercept"])
        if np.isfinite(v) and np.isfinite(z0):
            seen = np.isfinite(pos)
            tt = t[seen]
            ax.plot(tt, v * tt + z0, "--", color=colour, lw=1,
                    label=f"fit: v = {format_uncertain(v, err, 'Å/' + ('ps' if units == 'ps' else 'frame'))}")
    if n == 0:
        ax.text(0.5, 0.5, f"no {between[0]}/{between[1]} front found", transform=ax.transAxes, ha="center")
    ax.set_title(f"{between[0]}/{between[1]} fronts along {axis_name} ({n} found)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{axis_name} (Å, followed across the periodic boundary)")
    if n:
        ax.legend(loc="best", fontsize="small")
    return _save(fig, path)
