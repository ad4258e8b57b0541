"""Read a lessdask results store and turn per-atom labels into physics.

A results store is an :class:`xarray.Dataset` in Zarr written by ``lessdask classify``
(see the store contract below). This module opens it safely, reduces it to phase
fractions, spatial profiles and the position and velocity of a transformation front,
and draws those results with fixed, consistent colours per structure class.

Store contract (what this module relies on)
-------------------------------------------
coords
    ``frame`` (frame) int64; ``time`` (frame) float64 in ps; ``atom`` (atom) int64 atom
    ids; ``structure`` (structure) str class names in model order.
``label`` (frame, atom) int8
    Index into ``structure``; ``-1`` means "no label".
``probability`` (frame, atom, structure) float32
    Class probabilities; each row sums to 1.
``position`` (frame, atom, spatial) float32, optional
    Cartesian coordinates in Å with ``spatial = ["x", "y", "z"]``.
``dimensions`` (frame, cell) float64, optional
    Box ``[a, b, c, alpha, beta, gamma]`` in Å and degrees.
attrs
    ``complete`` is true only once the store is fully written.

Laziness
--------
Everything that scales with the number of atoms stays a Dask graph:
:func:`phase_fractions` and :func:`profile` return lazily evaluated objects (call
``.compute()`` or ``.load()``). Only small, per-frame quantities (the box lengths, the
frame selection, whether any atom is labelled "other") are evaluated eagerly.
:func:`interface_position` has to fit a line, so it computes its (per-frame) result.
"""

from __future__ import annotations

import importlib
import os
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from lessdask.errors import InputError, StoreError

__all__ = [
    "fractions_report",
    "interface_report",
    "profile_report",
    "CLASS_COLORS",
    "OTHER",
    "PhaseFractions",
    "class_color",
    "interface_position",
    "open_results",
    "phase_fractions",
    "plot_fractions",
    "plot_interface",
    "plot_profile",
    "profile",
]

#: Name of the extra class that collects atoms with label ``-1``: outside the reference
#: envelope of their most probable class (grain boundaries, surfaces, defects), or not labelled.
OTHER = "other"

#: Fixed colour of every known structure class, used by every figure of this module.
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

_AXES = {"x": 0, "y": 1, "z": 2}
_CELL_LENGTH = ("a", "b", "c")


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


# --------------------------------------------------------------------------- opening


def open_results(path: str | os.PathLike, allow_incomplete: bool = False) -> xr.Dataset:
    """Open a results store written by ``lessdask classify``.

    Parameters
    ----------
    path : str or os.PathLike
        Path (or URL) of the Zarr store.
    allow_incomplete : bool, default False
        Open a store whose ``complete`` attribute is not true (a run that was interrupted
        or is still writing). Frames that were not written yet hold fill values.

    Returns
    -------
    xarray.Dataset
        The lazily loaded (Dask-backed) results.

    Raises
    ------
    lessdask.errors.StoreError
        If ``path`` does not exist, is not a Zarr store, lacks the ``label`` variable or
        the ``structure`` coordinate, or is incomplete and ``allow_incomplete`` is false.
    """
    where = os.fspath(path)
    is_url = "://" in where
    if not is_url and not os.path.exists(where):
        raise StoreError(f"results store {where!r} does not exist; write it with 'lessdask classify' first")
    try:
        with warnings.catch_warnings():
            # a store written without consolidated metadata is fine, just slower to open
            warnings.filterwarnings("ignore", message=".*consolidated metadata.*")
            ds = xr.open_zarr(where)
    except Exception as exc:  # zarr raises many different types for "not a store"
        raise StoreError(f"{where!r} is not a readable lessdask results store (Zarr): {exc}") from exc
    missing = [name for name in ("label", "structure") if name not in ds.variables]
    if missing:
        raise StoreError(
            f"{where!r} is a Zarr store but not a lessdask results store: it has no {', '.join(missing)}"
        )
    complete = ds.attrs.get("complete", False)
    if not (isinstance(complete, (bool, np.bool_)) and bool(complete)) and not allow_incomplete:
        raise StoreError(
            f"results store {where!r} is incomplete (attribute complete={complete!r}): the run that wrote it "
            "was interrupted or is still running; rerun lessdask classify with --resume to finish it, "
            "or open it with allow_incomplete=True to read the frames written so far"
        )
    return ds


def _as_dataset(results: xr.Dataset | str | os.PathLike) -> xr.Dataset:
    if isinstance(results, xr.Dataset):
        return results
    if isinstance(results, (str, os.PathLike)):
        return open_results(results)
    raise InputError(f"expected an xarray.Dataset or the path of a results store, got {type(results).__name__}")


def _structure_names(ds: xr.Dataset) -> list[str]:
    return [str(s) for s in np.asarray(ds["structure"].values).tolist()]


def _select_atoms(ds: xr.Dataset, atoms: Iterable[int] | None) -> xr.Dataset:
    if atoms is None:
        return ds
    ids = np.unique(np.asarray(list(atoms) if not isinstance(atoms, np.ndarray) else atoms).astype(np.int64))
    if ids.size == 0:
        raise InputError("the atom selection is empty; pass at least one atom id")
    known = np.asarray(ds["atom"].values)
    absent = np.setdiff1d(ids, known)
    if absent.size:
        shown = ", ".join(str(a) for a in absent[:10]) + (" ..." if absent.size > 10 else "")
        raise InputError(f"{absent.size} selected atom id(s) are not in the results store: {shown}")
    return ds.sel(atom=ids)


def _select_frames(ds: xr.Dataset, frames: Any) -> xr.Dataset:
    """Select frames by their ``frame`` coordinate value (a slice, an int or a list)."""
    if frames is None:
        return ds
    if isinstance(frames, slice):
        out = ds.sel(frame=frames)
    else:
        values = np.atleast_1d(np.asarray(frames, dtype=np.int64))
        absent = np.setdiff1d(values, np.asarray(ds["frame"].values))
        if absent.size:
            raise InputError(f"frame(s) {absent[:10].tolist()} are not in the results store")
        out = ds.sel(frame=values)
    if out.sizes["frame"] == 0:
        raise InputError(f"the frame selection {frames!r} selects no frame")
    return out


def _time_coord(ds: xr.Dataset) -> dict:
    return {"time": ds["time"]} if "time" in ds.coords or "time" in ds.variables else {}


# --------------------------------------------------------------------------- fractions


def phase_fractions(
    results: xr.Dataset | str | os.PathLike,
    method: str = "label",
    atoms: Iterable[int] | None = None,
) -> xr.DataArray:
    """Fraction of atoms in each structure class, frame by frame.

    Parameters
    ----------
    results : xarray.Dataset or str or os.PathLike
        Results dataset, or the path of a results store (opened with
        :func:`open_results`, so it must be complete).
    method : {"label", "probability"}, default "label"
        ``"label"`` counts the hard labels: the fraction of class *k* is the number of
        selected atoms labelled *k* divided by the number of **all** selected atoms,
        "other" ones (label ``-1``) included. If any selected atom of any frame is
        labelled -1, an extra class :data:`OTHER` (``"other"``) is appended to
        ``structure`` holding their fraction, so every row still sums to 1; if none is,
        the output has exactly the store's classes. ``"probability"`` averages the class
        probabilities over the selected atoms (rows sum to 1; no "other" class).
    atoms : array_like of int, optional
        Atom ids (values of the ``atom`` coordinate) to restrict the count to; default
        all atoms.

    Returns
    -------
    xarray.DataArray
        ``fraction`` with dims ``(frame, structure)`` and the ``time`` coordinate,
        float64, Dask-backed (lazy). Deciding whether the ``other`` class is needed
        is the one eager step (a single pass over the int8 labels).

    Raises
    ------
    lessdask.errors.InputError
        For an unknown method or atom ids that are not in the store.
    lessdask.errors.StoreError
        If ``results`` is a path that cannot be opened (see :func:`open_results`).
    """
    ds = _select_atoms(_as_dataset(results), atoms)
    names = _structure_names(ds)
    n_atoms = ds.sizes["atom"]
    if method == "label":
        label = ds["label"]
        classes = xr.DataArray(np.arange(len(names), dtype=np.int8), dims="structure")
        counts = (label == classes).sum("atom", dtype=np.int64)
        frac = counts.astype(np.float64) / n_atoms
        frac = frac.assign_coords(structure=np.asarray(names, dtype=str))
        other = label == -1
        if bool(other.any().compute()):
            extra = (other.sum("atom", dtype=np.int64).astype(np.float64) / n_atoms).expand_dims(
                structure=np.asarray([OTHER], dtype=str), axis=-1
            )
            frac = xr.concat([frac, extra], dim="structure")
        frac = frac.transpose("frame", "structure")
        description = "fraction of selected atoms labelled with each class (label -1 counted as 'other')"
    elif method == "probability":
        if "probability" not in ds.variables:
            raise StoreError("the results have no 'probability' variable; use method='label'")
        frac = ds["probability"].astype(np.float64).mean("atom").transpose("frame", "structure")
        frac = frac.assign_coords(structure=np.asarray(names, dtype=str))
        description = "mean class probability over the selected atoms"
    else:
        raise InputError(f"unknown method {method!r}; use 'label' or 'probability'")
    frac = frac.assign_coords(_time_coord(ds))
    frac.name = "fraction"
    frac.attrs = {"units": "1", "method": method, "n_atoms": int(n_atoms), "long_name": description}
    return frac


# --------------------------------------------------------------------------- profiles


def _axis_index(axis: str | int) -> int:
    if isinstance(axis, (int, np.integer)) and 0 <= int(axis) <= 2:
        return int(axis)
    if isinstance(axis, str) and axis.lower() in _AXES:
        return _AXES[axis.lower()]
    raise InputError(f"unknown axis {axis!r}; use 'x', 'y' or 'z'")


def _positions_along(ds: xr.Dataset, axis: int) -> xr.DataArray:
    if "position" not in ds.variables:
        raise StoreError(
            "the results store has no 'position' variable, which profiles and interfaces need; "
            "rerun lessdask classify with --save-positions (save_positions=True in the Python API)"
        )
    pos = ds["position"]
    if "spatial" in pos.dims:
        return pos.isel(spatial=axis)
    raise StoreError("the 'position' variable has no 'spatial' dimension; the store does not follow the contract")


def _box_lengths(ds: xr.Dataset, axis: int, coord: xr.DataArray) -> np.ndarray:
    """Per-frame box length along ``axis`` in Å (eager; one number per frame).

    Profiles assume an orthorhombic box; a warning is issued for other angles. Without
    a ``dimensions`` variable the span ``[0, max position]`` of each frame is used.
    """
    if "dimensions" in ds.variables:
        dims = ds["dimensions"]
        cell = [str(c) for c in dims["cell"].values] if "cell" in dims.coords else ["a", "b", "c", "alpha", "beta", "gamma"]
        values = np.asarray(dims.values, dtype=np.float64)
        lengths = values[:, cell.index(_CELL_LENGTH[axis])]
        angles = values[:, [cell.index(a) for a in ("alpha", "beta", "gamma") if a in cell]]
        if angles.size and not np.allclose(angles, 90.0, atol=1e-3):
            warnings.warn(
                "the box is not orthorhombic; profiles wrap positions with the cell length along the axis "
                "(orthorhombic assumption) and may be distorted",
                stacklevel=3,
            )
    else:
        lengths = np.asarray(coord.max("atom").values, dtype=np.float64)
    if not np.all(np.isfinite(lengths)) or np.any(lengths <= 0):
        raise StoreError("the box length along the profile axis is missing or not positive in some frame")
    return lengths


def _hist_block(coord, length, label, prob, bins, n_classes):
    """Per-frame histogram sums of one (frame, atom) block.

    Returns an array ``(n_frames, bins, 2 * n_classes + 1)`` holding, per bin, the
    number of atoms labelled with each class, the summed probability of each class and
    (last column) the number of atoms.
    """
    n_frames = coord.shape[0]
    s = np.mod(coord.astype(np.float64) / length[:, None], 1.0)
    b = np.clip(np.floor(s * bins).astype(np.int64), 0, bins - 1)
    b[~np.isfinite(s)] = -1
    out = np.zeros((n_frames, bins, 2 * n_classes + 1), dtype=np.float64)
    for f in range(n_frames):
        ok = b[f] >= 0
        bf = b[f][ok]
        lf = label[f][ok].astype(np.int64)
        good = lf >= 0
        flat = bf[good] * n_classes + lf[good]
        out[f, :, :n_classes] = np.bincount(flat, minlength=bins * n_classes).reshape(bins, n_classes)
        pf = np.asarray(prob[f][ok], dtype=np.float64)
        for k in range(n_classes):
            out[f, :, n_classes + k] = np.bincount(bf, weights=pf[:, k], minlength=bins)
        out[f, :, -1] = np.bincount(bf, minlength=bins)
    return out


def _per_frame_histograms(ds: xr.Dataset, axis: int, bins: int) -> tuple[da.Array, np.ndarray, list[str]]:
    """Lazy per-frame histogram sums ``(frame, bin, 2K+1)`` and box lengths ``(frame,)``."""
    if int(bins) != bins or bins < 2:
        raise InputError(f"bins must be an integer >= 2, got {bins!r}")
    bins = int(bins)
    names = _structure_names(ds)
    n_classes = len(names)
    coord = _positions_along(ds, axis)
    lengths = _box_lengths(ds, axis, coord)
    c = da.asarray(coord.transpose("frame", "atom").data)
    chunks = c.chunks
    lab = da.asarray(ds["label"].transpose("frame", "atom").data).rechunk(chunks)
    if "probability" in ds.variables:
        prob = da.asarray(ds["probability"].transpose("frame", "atom", "structure").data)
    else:  # hard labels as one-hot probabilities
        prob = da.asarray(ds["label"].transpose("frame", "atom").data)[..., None] == np.arange(n_classes)
    prob = prob.rechunk((chunks[0], chunks[1], n_classes))
    c_blocks, l_blocks, p_blocks = c.to_delayed(), lab.to_delayed(), prob.to_delayed()
    starts = np.concatenate([[0], np.cumsum(chunks[0])])
    kernel = dask.delayed(_hist_block, pure=True)
    per_chunk = []
    for i, nf in enumerate(chunks[0]):
        length_i = lengths[starts[i] : starts[i + 1]]
        parts = [
            da.from_delayed(
                kernel(c_blocks[i, j], length_i, l_blocks[i, j], p_blocks[i, j, 0], bins, n_classes),
                shape=(nf, bins, 2 * n_classes + 1),
                dtype=np.float64,
            )
            for j in range(len(chunks[1]))
        ]
        per_chunk.append(da.stack(parts).sum(axis=0))
    return da.concatenate(per_chunk, axis=0), lengths, names


def profile(
    results: xr.Dataset | str | os.PathLike,
    axis: str | int = "z",
    bins: int = 50,
    frames: Any = None,
) -> xr.Dataset:
    """Structure profile along one box axis, averaged over frames.

    Positions are wrapped into the periodic box along ``axis`` with the per-frame cell
    length from ``dimensions`` (``a``, ``b`` or ``c`` for x, y, z). This assumes an
    **orthorhombic** box (a warning is issued otherwise). A store without
    ``dimensions`` is treated as the non-periodic span ``[0, max coordinate]`` of each
    frame. The box is cut into ``bins``
    slabs of equal width in fractional coordinates, so a box that changes size (NPT)
    is handled; ``bin_center`` is given in Å for the mean box length of the selected
    frames. Averages over frames are atom-weighted: the sums over all selected frames
    are divided by the total number of atoms in each bin.

    Parameters
    ----------
    results : xarray.Dataset or str or os.PathLike
        Results dataset or the path of a results store.
    axis : {"x", "y", "z"} or int, default "z"
        Profile direction.
    bins : int, default 50
        Number of slabs.
    frames : int, sequence of int or slice, optional
        Values of the ``frame`` coordinate to average over (a slice selects by value,
        inclusive, as :meth:`xarray.Dataset.sel`); default all frames.

    Returns
    -------
    xarray.Dataset
        Lazy (Dask) variables ``probability`` (bin, structure), the mean class
        probability, ``fraction`` (bin, structure), the fraction of atoms labelled with
        each class ("other" atoms, label -1, count in the denominator, so rows may sum to less
        than 1), ``other`` (bin), the fraction labelled "other", and ``count`` (bin), the
        mean number of atoms per bin and frame.
        Coordinates ``bin`` and ``bin_center`` (Å). Empty bins are NaN.

    Raises
    ------
    lessdask.errors.StoreError
        If the store has no ``position`` variable (rerun classify with
        ``--save-positions`` / ``save_positions=True``).
    lessdask.errors.InputError
        For an unknown axis, bad ``bins`` or frames not in the store.
    """
    ds = _select_frames(_as_dataset(results), frames)
    ax = _axis_index(axis)
    hist, lengths, names = _per_frame_histograms(ds, ax, bins)
    k = len(names)
    total = hist.sum(axis=0)
    count = total[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = da.where(count > 0, count, np.nan)[:, None]
        fraction = total[:, :k] / denom
        probability = total[:, k : 2 * k] / denom
    nbins = int(bins)
    mean_length = float(np.mean(lengths))
    centers = (np.arange(nbins) + 0.5) / nbins * mean_length
    axis_name = "xyz"[ax]
    out = xr.Dataset(
        {
            "probability": (("bin", "structure"), probability, {"units": "1", "long_name": "mean class probability"}),
            "fraction": (("bin", "structure"), fraction, {"units": "1", "long_name": "fraction of atoms per class"}),
            "other": (("bin",), 1.0 - fraction.sum(axis=1),
                      {"units": "1", "long_name": "fraction of atoms labelled other (label -1)"}),
            "count": (("bin",), count / len(lengths), {"units": "1", "long_name": "mean atoms per bin and frame"}),
        },
        coords={
            "bin": np.arange(nbins),
            "structure": np.asarray(names, dtype=str),
            "bin_center": ("bin", centers, {"units": "Å", "long_name": f"{axis_name} (bin centre)"}),
        },
        attrs={
            "axis": axis_name,
            "bins": nbins,
            "bin_width": mean_length / nbins,
            "box_length": mean_length,
            "n_frames": int(len(lengths)),
            "units": "Å",
        },
    )
    return out


# --------------------------------------------------------------------------- interface


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
    ds = _as_dataset(results)
    names = _structure_names(ds)
    between = tuple(str(b) for b in between)
    if len(between) != 2 or between[0] == between[1]:
        raise InputError(f"between must name two different classes, got {between!r}")
    for name in between:
        if name not in names:
            raise InputError(f"class {name!r} is not in the results store; its classes are {names}")
    ia, ib = names.index(between[0]), names.index(between[1])
    ax = _axis_index(axis)
    hist, lengths, _ = _per_frame_histograms(ds, ax, bins)
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
        {"position": ("frame", front, {"units": "Å", "long_name": f"{between[0]}/{between[1]} front along {axis_name}"})},
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


# --------------------------------------------------------------------------- plots


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
        Output of :func:`phase_fractions`, dims ``(frame, structure)``.
    path : str or os.PathLike
        Image file to write (format from the suffix, e.g. ``.png``).

    Returns
    -------
    pathlib.Path
        The file written. Classes that are zero in every frame are left out of the plot.
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
    ax.set_title(f"Phase fractions ({'labels' if method == 'label' else 'mean probability'})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of atoms")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="best", fontsize="small", ncols=2)
    return _save(fig, path)


def plot_profile(profile: xr.Dataset, path: str | os.PathLike) -> Path:
    """Plot a structure profile: label fraction (top) and mean probability (bottom).

    Parameters
    ----------
    profile : xarray.Dataset
        Output of :func:`profile`.
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
    """Plot the front position against time with its fitted line and velocity.

    Parameters
    ----------
    interface : xarray.Dataset
        Output of :func:`interface_position`.
    path : str or os.PathLike
        Image file to write.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    pos = np.asarray(interface["position"].values, dtype=np.float64)
    if "time" in interface.coords:
        t, xlabel = np.asarray(interface["time"].values, dtype=np.float64), "time (ps)"
    else:
        t, xlabel = np.asarray(interface["frame"].values, dtype=np.float64), "frame"
    attrs = interface.attrs
    between = [str(b) for b in attrs.get("between", ("A", "B"))]
    axis_name = attrs.get("axis", "z")
    fig, (ax,) = _new_figure()
    ax.plot(t, pos, "o", color=class_color(between[0]), ms=4, label=f"{between[0]}/{between[1]} front")
    v, err, z0 = attrs.get("velocity", np.nan), attrs.get("velocity_stderr", np.nan), attrs.get("velocity_intercept", np.nan)
    if np.isfinite(v) and np.isfinite(z0):
        err_text = f" ± {err:.3g}" if np.isfinite(err) else ""
        ax.plot(t, v * t + z0, "--", color="black", label=f"fit: v = {v:.4g}{err_text} Å/ps")
    ax.set_title(f"Interface position {between[0]}/{between[1]} along {axis_name}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{axis_name} (Å)")
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


# --------------------------------------------------------------------------- MDAnalysis


def _mda_base():
    try:
        from MDAnalysis.analysis.base import AnalysisBase
    except ImportError:  # pragma: no cover - MDAnalysis is a hard dependency
        return object
    return AnalysisBase


class PhaseFractions(_mda_base()):
    """Phase fractions of an MDAnalysis AtomGroup, frame by frame (MDAnalysis style).

    Classifies the atoms in memory, one frame at a time, without Dask or a results
    store; meant for small systems and interactive use. For big trajectories use
    ``lessdask classify`` and :func:`phase_fractions`.

    Parameters
    ----------
    atomgroup : MDAnalysis.core.groups.AtomGroup
        Atoms to classify (the whole group is used for the local environments).
    model : str or os.PathLike or model object, default "default"
        Name or path given to :func:`lessdask.model.load_model`, or an already loaded
        model.
    species : array_like, optional
        Species of each atom passed to :func:`lessdask.features.compute_features`;
        default the atoms' ``elements`` if set, else their ``types``.
    verbose : bool, default False
        Show MDAnalysis' progress bar.

    Attributes
    ----------
    results.fractions : numpy.ndarray
        ``(n_frames, n_classes)`` fraction of atoms with each label; "other" atoms
        (label -1) count in the denominator.
    results.labels : numpy.ndarray
        ``(n_frames, n_atoms)`` int8 labels.
    results.structures : list of str
        Class names, the columns of ``fractions``.
    results.times : numpy.ndarray
        Time of each analysed frame in ps.

    Examples
    --------
    >>> pf = PhaseFractions(u.atoms, model="default").run()   # doctest: +SKIP
    >>> pf.results.fractions.shape                             # doctest: +SKIP
    (n_frames, 8)
    """

    def __init__(self, atomgroup, model: Any = "default", species: Any = None, verbose: bool = False, **kwargs):
        super().__init__(atomgroup.universe.trajectory, verbose=verbose, **kwargs)
        self._ag = atomgroup
        self._model_spec = model
        self._species_arg = species

    def _prepare(self):
        features = importlib.import_module("lessdask.features")
        self._compute_features = features.compute_features
        if isinstance(self._model_spec, (str, os.PathLike)):
            self._model = importlib.import_module("lessdask.model").load_model(self._model_spec)
        else:
            self._model = self._model_spec
        self._structures = _model_classes(self._model)
        if self._species_arg is not None:
            self._species = np.asarray(self._species_arg)
        else:
            try:
                self._species = np.asarray(self._ag.elements)
            except Exception:  # MDAnalysis raises NoDataError when elements are unset
                self._species = np.asarray(self._ag.types)
        if self._species.shape[0] != self._ag.n_atoms:
            raise InputError(f"species has {self._species.shape[0]} entries for {self._ag.n_atoms} atoms")
        self._labels = np.full((self.n_frames, self._ag.n_atoms), -1, dtype=np.int8)
        self._times = np.zeros(self.n_frames, dtype=np.float64)

    def _single_frame(self):
        box = self._ts.dimensions
        box = None if box is None else np.asarray(box, dtype=np.float64)  # None: free boundaries
        feats = self._compute_features(self._ag.positions, box, self._species,
                                       settings=getattr(self._model, "feature_settings_", None))
        if isinstance(feats, tuple):  # (features, n_neighbors[, cutoff])
            feats = feats[0]
        self._labels[self._frame_index] = _predict_labels(self._model, feats, self._structures)
        self._times[self._frame_index] = self._ts.time

    def _conclude(self):
        n_classes = len(self._structures)
        counts = np.stack([(self._labels == k).sum(axis=1) for k in range(n_classes)], axis=1)
        self.results.fractions = counts / max(self._ag.n_atoms, 1)
        self.results.labels = self._labels
        self.results.structures = list(self._structures)
        self.results.times = self._times


def _model_classes(model) -> list[str]:
    for attr in ("structures", "class_names", "classes_", "classes"):
        names = getattr(model, attr, None)
        if names is not None and not callable(names):
            return [str(n) for n in np.asarray(names).tolist()]
    raise InputError(f"cannot find the class names of model {type(model).__name__} (no 'structures' or 'classes_')")


def _predict_labels(model, feats, structures: list[str]) -> np.ndarray:
    """Label indices (int8, -1 for "other") of one frame's features."""
    if hasattr(model, "predict_labels"):
        return np.asarray(model.predict_labels(feats), dtype=np.int8)
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(feats))
        return np.argmax(proba, axis=1).astype(np.int8)
    raw = np.asarray(model.predict(feats))
    if raw.dtype.kind in "iu":
        return raw.astype(np.int8)
    index = {name: i for i, name in enumerate(structures)}
    return np.array([index.get(str(r), -1) for r in raw], dtype=np.int8)



def fractions_report(results, method: str = "label", csv=None, png=None) -> str:
    """Phase fractions of a results store as a printable table; optionally CSV and a PNG plot.

    Parameters
    ----------
    results : str or Path
        Results store.
    method : {"label", "probability"}
        Count labels, or average probabilities.
    csv : str or Path, optional
        Write the table (time in ps, one column per class) as CSV.
    png : str or Path, optional
        Where to draw the time series (default: next to the store, ``<store>.fractions.png``).

    Returns
    -------
    str
        The table, with the paths written.
    """
    fr = phase_fractions(results, method=method).compute()
    table = fr.to_pandas()
    table.insert(0, "time_ps", fr["time"].values)
    if csv:
        table.to_csv(csv)
    png = png or Path(str(results).rstrip("/")).with_suffix(".fractions.png")
    plot_fractions(fr, png)
    lines = [table.round(4).to_string(), f"plot: {png}"]
    if csv:
        lines.append(f"csv: {csv}")
    return "\n".join(lines)


def profile_report(results, axis: str = "z", bins: int = 50, png=None) -> str:
    """Draw the layer profile of a results store and return a short text summary.

    See :func:`profile`; the figure goes to ``png`` (default ``<store>.profile-<axis>.png``).
    """
    prof = profile(results, axis=axis, bins=bins).compute()
    png = png or Path(str(results).rstrip("/")).with_suffix(f".profile-{axis}.png")
    plot_profile(prof, png)
    table = prof["fraction"].to_pandas()
    table.index = [f"{z:.1f}" for z in prof["bin_center"].values]
    table.index.name = f"{axis} (Å)"
    return table.round(3).to_string() + f"\nplot: {png}"


def interface_report(results, axis: str = "z", between=("fcc", "AM"), bins: int = 50, png=None) -> str:
    """Track the front between two classes, draw it and return its positions and velocity.

    See :func:`interface_position`; the figure goes to ``png`` (default ``<store>.interface.png``).
    """
    itf = interface_position(results, axis=axis, between=between, bins=bins)
    png = png or Path(str(results).rstrip("/")).with_suffix(".interface.png")
    plot_interface(itf, png)
    lines = [f"{t:8.2f} ps  {z:8.2f} Å" for t, z in zip(itf["time"].values, itf["position"].values)]
    v, dv = itf.attrs.get("velocity"), itf.attrs.get("velocity_stderr")
    lines.append(f"front velocity: {v:.4g} ± {dv:.2g} Å/ps" if v is not None else "front velocity: n/a")
    lines.append(f"plot: {png}")
    return "\n".join(lines)
