"""Fronts: where the boundary between two phases lies along an axis, frame by frame, and how fast it moves."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import xarray as xr

from lessdask.analysis._select import as_dataset, structure_names
from lessdask.analysis.profiles import axis_index, per_frame_histograms
from lessdask.errors import InputError


def _first_crossing(phi: np.ndarray, centers: np.ndarray, length: float) -> float:
    """Position of the first 0.5 crossing of ``phi`` from the low side (periodic).

    Bins with NaN are skipped; neighbouring valid bins are joined by a straight line
    and scanned upwards from the lowest one. Only when no crossing lies inside the box
    is the pair that wraps around the periodic boundary (last bin to first bin) used,
    its crossing mapped into ``[0, length)``. Returns NaN when ``phi`` never crosses 0.5.
    """
    valid = np.flatnonzero(np.isfinite(phi))
    if valid.size < 2:
        return np.nan
    x = centers[valid]
    y = phi[valid] - 0.5
    for x0, y0, x1, y1 in zip(x[:-1], y[:-1], x[1:], y[1:]):
        if y0 == 0.0:
            return float(x0)
        if y0 * y1 < 0.0:
            return float(x0 + (x1 - x0) * y0 / (y0 - y1))
    if y[-1] == 0.0:
        return float(x[-1])
    x0, y0, x1, y1 = x[-1], y[-1], x[0] + length, y[0]
    if y0 * y1 < 0.0:
        return float(np.mod(x0 + (x1 - x0) * y0 / (y0 - y1), length))
    return np.nan


def interface_position(
    results: xr.Dataset | str | os.PathLike,
    axis: str | int = "z",
    between: Sequence[str] = ("fcc", "AM"),
    bins: int = 50,
) -> xr.Dataset:
    """Position of the front between two phases in every frame, and its velocity.

    For each frame the box is cut into ``bins`` slabs along ``axis`` (as in
    :func:`profile`, orthorhombic assumption, positions wrapped into the box). In each
    slab the order parameter is the fraction of the first class among the atoms
    labelled with either class, ``phi = n_A / (n_A + n_B)``: 1 inside phase A, 0 inside
    phase B, and not disturbed by a sprinkle of other labels (e.g. hcp stacking faults
    in fcc). Slabs with neither class are skipped. The front is where ``phi`` crosses
    0.5, by linear interpolation between slab centres. A slab in a periodic box has two
    interfaces; the **first crossing from the low side** is reported: slabs are scanned
    upwards from coordinate 0 and the first crossing inside the box, in either
    direction, wins. An interface lying across the periodic boundary (between the last
    and the first slab) is reported only if there is no crossing inside the box, so a
    box with phase A at the bottom and phase B at the top gives the A/B front in the
    middle, not the B/A contact at the box edge. Positions are not unwrapped over time.

    Parameters
    ----------
    results : xarray.Dataset or str or os.PathLike
        Results dataset or the path of a results store.
    axis : {"x", "y", "z"} or int, default "z"
        Direction normal to the front.
    between : pair of str, default ("fcc", "AM")
        The two class names; the front is located with the fraction of the first.
    bins : int, default 50
        Number of slabs.

    Returns
    -------
    xarray.Dataset
        ``position`` (frame), Å, NaN in frames without a crossing, with the ``time``
        coordinate. Attributes ``velocity`` and ``velocity_stderr`` (Å/ps) from a
        least-squares line through position against time over frames with a front
        (NaN with fewer than two such frames; stderr NaN with fewer than three), plus
        ``axis``, ``between`` and ``bins``. This function computes its result.

    Raises
    ------
    lessdask.errors.InputError
        If a class of ``between`` is not in the store or the two are equal.
    lessdask.errors.StoreError
        If the store has no ``position`` variable.
    """
    ds = as_dataset(results)
    names = structure_names(ds)
    between = tuple(str(b) for b in between)
    if len(between) != 2 or between[0] == between[1]:
        raise InputError(f"between must name two different classes, got {between!r}")
    for name in between:
        if name not in names:
            raise InputError(f"class {name!r} is not in the results store; its classes are {names}")
    ia, ib = names.index(between[0]), names.index(between[1])
    ax = axis_index(axis)
    hist, lengths, _ = per_frame_histograms(ds, ax, bins)
    counts = np.asarray(hist[:, :, [ia, ib]].compute())
    nbins = int(bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = counts[:, :, 0] / (counts[:, :, 0] + counts[:, :, 1])
    unit = (np.arange(nbins) + 0.5) / nbins
    front = np.array(
        [_first_crossing(phi[f], unit * lengths[f], lengths[f]) for f in range(phi.shape[0])], dtype=np.float64
    )
    coords = {"frame": ds["frame"].values}
    if "time" in ds.variables:
        time = np.asarray(ds["time"].values, dtype=np.float64)
        coords["time"] = ("frame", time, dict(ds["time"].attrs) or {"units": "ps"})
    else:
        time = np.asarray(ds["frame"].values, dtype=np.float64)
    ok = np.isfinite(front) & np.isfinite(time)
    velocity = stderr = intercept = np.nan
    if ok.sum() >= 2 and np.ptp(time[ok]) > 0:
        t, z = time[ok], front[ok]
        (velocity, intercept), cov = _linear_fit(t, z)
        stderr = float(np.sqrt(cov)) if ok.sum() >= 3 else np.nan
    axis_name = "xyz"[ax]
    return xr.Dataset(
        {"position": ("frame", front, {"units": "Å",
                                       "long_name": f"{between[0]}/{between[1]} front along {axis_name}"})},
        coords=coords,
        attrs={
            "axis": axis_name,
            "between": list(between),
            "bins": nbins,
            "velocity": float(velocity),
            "velocity_stderr": float(stderr),
            "velocity_intercept": float(intercept),
            "velocity_units": "Å/ps",
        },
    )


def _linear_fit(t: np.ndarray, z: np.ndarray) -> tuple[tuple[float, float], float]:
    """Least-squares line ``z = v t + z0``; returns ``((v, z0), var(v))``."""
    n = t.size
    tm, zm = t.mean(), z.mean()
    sxx = np.sum((t - tm) ** 2)
    v = float(np.sum((t - tm) * (z - zm)) / sxx)
    z0 = float(zm - v * tm)
    resid = z - (v * t + z0)
    var = float(np.sum(resid**2) / (n - 2) / sxx) if n > 2 else np.nan
    return (v, z0), var

