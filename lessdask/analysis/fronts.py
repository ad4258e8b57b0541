"""Fronts: every boundary between two phases along an axis, frame by frame, and how fast each moves."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import xarray as xr

from lessdask.analysis._select import as_dataset, structure_names
from lessdask.analysis.profiles import axis_index, per_frame_histograms
from lessdask.classes import resolve_class
from lessdask.errors import InputError

__all__ = ["interface_position", "find_fronts", "format_uncertain"]

#: A slab belongs to a phase when its order parameter is at least this far from 0.5: a front
#: is a change from one phase to the other, so noise that flickers across 0.5 inside an
#: interface region counts once.
HYSTERESIS = 0.25


def find_fronts(phi: np.ndarray, centers: np.ndarray, length: float,
                hysteresis: float = HYSTERESIS) -> list[tuple[float, int]]:
    """Every front in one periodic profile of the order parameter ``phi`` (1 in phase A, 0 in B).

    A slab is in phase A where ``phi >= 0.5 + hysteresis``, in B where
    ``phi <= 0.5 - hysteresis``, and undecided in between; NaN slabs (no atom of either
    class) are skipped. Walking once around the periodic box, every change from one phase to
    the other is a front; its position is where the straight lines between the slab centres
    cross 0.5 between the two decided slabs (the mean, if noise makes it cross more than
    once there), wrapped into ``[0, length)``.

    Parameters
    ----------
    phi : ndarray, shape (bins,)
    centers : ndarray, shape (bins,)
        Slab centres in ``[0, length)``, increasing.
    length : float
        Box length along the axis (periodic).
    hysteresis : float
        See above; 0 counts every crossing of 0.5.

    Returns
    -------
    list of (position, sign)
        Sorted by position; ``sign`` is +1 where phase A lies above the front (``phi`` rises
        along the axis) and -1 where it lies below.
    """
    valid = np.flatnonzero(np.isfinite(phi))
    if valid.size < 2:
        return []
    x, y = centers[valid], phi[valid] - 0.5
    state = np.where(y >= hysteresis, 1, np.where(y <= -hysteresis, -1, 0))
    if hysteresis <= 0:
        state = np.where(y > 0, 1, -1)
    decided = np.flatnonzero(state != 0)
    if decided.size == 0 or np.all(state[decided] == state[decided[0]]):
        return []
    n = x.size
    out = []
    start = int(decided[0])
    last = start
    for step in range(1, n + 1):
        k = (start + step) % n
        if state[k] == 0:
            continue
        if state[k] != state[last]:
            # crossings of 0.5 on the straight segments from bin ``last`` to bin ``k`` (periodic)
            idx = [(last + j) % n for j in range((k - last) % n + 1)]
            xs = x[idx] + length * np.cumsum([0] + [1 if b < a else 0 for a, b in zip(idx[:-1], idx[1:])])
            ys = y[idx]
            cross = [x0 + (x1 - x0) * y0 / (y0 - y1)
                     for x0, y0, x1, y1 in zip(xs[:-1], ys[:-1], xs[1:], ys[1:]) if y0 * y1 < 0 or y1 == 0]
            pos = float(np.mean(cross)) if cross else float(0.5 * (xs[0] + xs[-1]))
            out.append((float(np.mod(pos, length)), int(state[k])))
        last = k
    return sorted(out)


def _track(detected: list[list[tuple[float, int]]], lengths: np.ndarray):
    """Link the fronts of successive frames: each to the nearest front of the same sign in the
    previous frame it was seen (minimum image, at most a quarter box away). Returns per track
    its sign and its unwrapped positions (NaN where absent)."""
    n_frames = len(detected)
    tracks: list[dict] = []
    for f, fronts in enumerate(detected):
        L = float(lengths[f])
        candidates = []
        for i, (z, sign) in enumerate(fronts):
            for t, tr in enumerate(tracks):
                if tr["sign"] == sign and tr["last"] is not None:
                    d = z - tr["last_wrapped"]
                    d -= L * np.round(d / L)
                    if abs(d) <= 0.25 * L:
                        candidates.append((abs(d), i, t, d))
        used_i, used_t = set(), set()
        for _, i, t, d in sorted(candidates):
            if i in used_i or t in used_t:
                continue
            tr = tracks[t]
            tr["positions"][f] = tr["positions"][tr["last"]] + d
            tr["last"], tr["last_wrapped"] = f, fronts[i][0]
            used_i.add(i)
            used_t.add(t)
        for i, (z, sign) in enumerate(fronts):
            if i not in used_i:
                pos = np.full(n_frames, np.nan)
                pos[f] = z
                tracks.append({"sign": sign, "positions": pos, "last": f, "last_wrapped": z, "first": f})
    tracks.sort(key=lambda tr: (tr["first"], tr["positions"][tr["first"]]))
    return tracks


def _fit(t: np.ndarray, z: np.ndarray) -> dict:
    """Least-squares line ``z = v t + z0`` with the scatter about it and the stderr of ``v``.

    The stderr is the ordinary least-squares one from the residual scatter (the frame-to-frame
    noise of the position), inflated by ``sqrt((1 + r) / (1 - r))`` for a positive lag-1
    autocorrelation ``r`` of the residuals (at most 0.9): correlated noise carries fewer
    independent frames.
    """
    out = {"velocity": np.nan, "velocity_stderr": np.nan, "intercept": np.nan, "position_noise": np.nan}
    ok = np.isfinite(t) & np.isfinite(z)
    t, z = t[ok], z[ok]
    if t.size < 2 or np.ptp(t) == 0:
        return out
    tm, zm = t.mean(), z.mean()
    sxx = np.sum((t - tm) ** 2)
    v = float(np.sum((t - tm) * (z - zm)) / sxx)
    out["velocity"], out["intercept"] = v, float(zm - v * tm)
    if t.size >= 3:
        resid = z - (v * t + out["intercept"])
        s2 = float(np.sum(resid**2) / (t.size - 2))
        r = 0.0
        if t.size >= 4 and np.sum(resid**2) > 0:
            r = float(np.clip(np.sum(resid[1:] * resid[:-1]) / np.sum(resid**2), 0.0, 0.9))
        out["position_noise"] = math.sqrt(s2)
        out["velocity_stderr"] = math.sqrt(s2 / sxx * (1 + r) / (1 - r))
    return out


def interface_position(
    results: xr.Dataset | str | os.PathLike,
    axis: str | int = "z",
    between: Sequence[str] = ("fcc", "AM"),
    bins: int = 50,
    hysteresis: float = HYSTERESIS,
) -> xr.Dataset:
    """Every front between two phases along an axis, frame by frame, with each one's velocity.

    For each frame the box is cut into ``bins`` slabs along ``axis`` (as in
    :func:`profile`, orthorhombic assumption, positions wrapped into the box). In each
    slab the order parameter is the fraction of the first class among the atoms
    labelled with either class, ``phi = n_A / (n_A + n_B)``: 1 inside phase A, 0 inside
    phase B, and not disturbed by a sprinkle of other labels (e.g. hcp stacking faults
    in fcc or "other" atoms). Slabs with neither class are skipped. Every front in the
    periodic box is found (:func:`find_fronts`: a slab of A in B has two, one with A
    above and one with A below), and fronts are followed from frame to frame (each to the
    nearest front of the same orientation, across the periodic boundary), so a front that
    crosses the box edge keeps its identity.

    Each front's velocity is a least-squares line through its (unwrapped) position against
    time. Its uncertainty comes from the frame-to-frame scatter of the position about that
    line (``position_noise``), as the ordinary least-squares standard error, widened when
    successive residuals are correlated; :func:`format_uncertain` prints a value with no
    more digits than its uncertainty supports.

    Parameters
    ----------
    results : xarray.Dataset or str or os.PathLike
        Results dataset or the path of a results store.
    axis : {"x", "y", "z"} or int, default "z"
        Direction normal to the fronts.
    between : pair of str, default ("fcc", "AM")
        The two class names; ``phi`` is the fraction of the first. Any case and aliases
        (``"liquid"``, ``"amorphous"``, ``"diamond"``, ...) are accepted
        (:func:`lessdask.classes.resolve_class`).
    bins : int, default 50
        Number of slabs.
    hysteresis : float, default 0.25
        See :func:`find_fronts`.

    Returns
    -------
    xarray.Dataset
        Dimensions ``frame`` and ``front`` (one entry per front found in any frame, ordered
        by the frame it first appears in, then position). ``position`` (frame, front), Å in
        ``[0, L)``, NaN where that front is absent; ``position_unwrapped`` (frame, front),
        the same followed continuously across the periodic boundary. Per front:
        ``velocity`` and ``velocity_stderr`` (Å/ps; NaN with fewer than two / three frames),
        ``intercept`` (Å, of the unwrapped line), ``position_noise`` (Å, the rms scatter
        about the line), ``orientation`` (+1: the first class lies above the front, -1:
        below), ``growth`` (Å/ps, the speed at which the first class advances through
        this front: ``-orientation * velocity``) and ``n_frames``. Coordinate ``time``
        (ps; frame numbers when the store has no times); attributes ``axis``, ``between``,
        ``bins``, ``hysteresis``, ``n_fronts``. This function computes its result.

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
    if len(between) != 2:
        raise InputError(f"between must name two different classes, got {between!r}")
    between = tuple(resolve_class(b, names) for b in between)  # 'liquid', 'diamond', 'am', ... accepted
    if between[0] == between[1]:
        raise InputError(f"between must name two different classes, got {between!r}")
    if not 0.0 <= float(hysteresis) < 0.5:
        raise InputError(f"hysteresis must be in [0, 0.5), got {hysteresis!r}")
    ia, ib = names.index(between[0]), names.index(between[1])
    ax = axis_index(axis)
    hist, lengths, _ = per_frame_histograms(ds, ax, bins)
    counts = np.asarray(hist[:, :, [ia, ib]].compute())
    nbins = int(bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = counts[:, :, 0] / (counts[:, :, 0] + counts[:, :, 1])
    unit = (np.arange(nbins) + 0.5) / nbins
    lengths = np.asarray(lengths, dtype=np.float64)
    detected = [find_fronts(phi[f], unit * lengths[f], lengths[f], hysteresis) for f in range(phi.shape[0])]
    tracks = _track(detected, lengths)
    coords = {"frame": ds["frame"].values}
    if "time" in ds.variables:
        time = np.asarray(ds["time"].values, dtype=np.float64)
        coords["time"] = ("frame", time, dict(ds["time"].attrs) or {"units": "ps"})
    else:
        time = np.asarray(ds["frame"].values, dtype=np.float64)
        coords["time"] = ("frame", time, {"units": "frame", "long_name": "frame number (no times stored)"})
    n_frames, n_fronts = phi.shape[0], len(tracks)
    unwrapped = np.full((n_frames, n_fronts), np.nan)
    for j, tr in enumerate(tracks):
        unwrapped[:, j] = tr["positions"]
    wrapped = np.mod(unwrapped, lengths[:, None])
    fits = [_fit(time, unwrapped[:, j]) for j in range(n_fronts)]
    orientation = np.array([tr["sign"] for tr in tracks], dtype=np.int8)
    velocity = np.array([f["velocity"] for f in fits], dtype=np.float64)
    axis_name = "xyz"[ax]
    coords["front"] = np.arange(n_fronts)
    per_front = {
        "velocity": (velocity, "Å/ps", "front velocity along the axis"),
        "velocity_stderr": (np.array([f["velocity_stderr"] for f in fits]), "Å/ps",
                            "standard error of the velocity, from the frame-to-frame scatter"),
        "intercept": (np.array([f["intercept"] for f in fits]), "Å", "unwrapped position of the fit at time 0"),
        "position_noise": (np.array([f["position_noise"] for f in fits]), "Å",
                           "rms scatter of the position about the fitted line"),
        "growth": (-orientation * velocity, "Å/ps", f"speed at which {between[0]} advances through the front"),
    }
    data = {
        "position": (("frame", "front"), wrapped,
                     {"units": "Å", "long_name": f"{between[0]}/{between[1]} front along {axis_name}"}),
        "position_unwrapped": (("frame", "front"), unwrapped,
                               {"units": "Å", "long_name": "front position followed across the periodic boundary"}),
        "orientation": ("front", orientation,
                        {"long_name": f"+1: {between[0]} above the front, -1: {between[0]} below"}),
        "n_frames": ("front", np.isfinite(unwrapped).sum(axis=0).astype(np.int64)),
    }
    for name, (values, units, long_name) in per_front.items():
        data[name] = ("front", values, {"units": units, "long_name": long_name})
    return xr.Dataset(data, coords=coords, attrs={"axis": axis_name, "between": list(between), "bins": nbins,
                                                  "hysteresis": float(hysteresis), "n_fronts": n_fronts})


def format_uncertain(value: float, uncertainty: float, unit: str = "") -> str:
    """``value ± uncertainty`` with no more digits than the uncertainty supports.

    The uncertainty keeps two significant digits when they start with 1 or 2, else one; the
    value is rounded to the same decimal place. A missing uncertainty (NaN) prints the value
    with three significant digits and "(no uncertainty)", a zero one "± 0".

    Examples
    --------
    >>> format_uncertain(0.97312, 0.0523, "Å/ps")
    '0.97 ± 0.05 Å/ps'
    >>> format_uncertain(12.3456, 0.147)
    '12.35 ± 0.15'
    >>> format_uncertain(1234.0, 56.0)
    '1230 ± 60'
    """
    suffix = f" {unit}" if unit else ""
    if not np.isfinite(value):
        return f"n/a{suffix}"
    if uncertainty == 0:  # positions exactly on the line (e.g. fronts on slab edges)
        return f"{value:.3g} ± 0{suffix}"
    if not np.isfinite(uncertainty) or uncertainty < 0:
        return f"{value:.3g}{suffix} (no uncertainty)"
    exponent = math.floor(math.log10(uncertainty))
    lead = uncertainty / 10**exponent
    digits = 2 if lead < 3 else 1
    decimals = -(exponent - digits + 1)
    err = round(uncertainty, decimals)
    if err >= 10 ** (exponent + 1):  # rounding moved the leading digit (0.096 -> 0.1)
        decimals -= 1 if digits == 1 else 0
        err = round(uncertainty, decimals)
    val = round(value, decimals) + 0.0  # + 0.0: no "-0.0"
    if decimals > 0:
        return f"{val:.{decimals}f} ± {err:.{decimals}f}{suffix}"
    return f"{val:.0f} ± {err:.0f}{suffix}"
