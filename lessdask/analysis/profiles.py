"""Layer profiles: class fractions and probabilities in slabs along a box axis (lazy, Dask-backed)."""

from __future__ import annotations

import os
import warnings
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from lessdask.analysis._select import as_dataset, select_frames, structure_names
from lessdask.errors import InputError, StoreError
from lessdask.store import CELL

_AXES = {"x": 0, "y": 1, "z": 2}


def axis_index(axis: str | int) -> int:
    """0, 1 or 2 for ``"x"``, ``"y"``, ``"z"`` (or the integer itself); an InputError otherwise."""
    if isinstance(axis, (int, np.integer)) and 0 <= int(axis) <= 2:
        return int(axis)
    if isinstance(axis, str) and axis.lower() in _AXES:
        return _AXES[axis.lower()]
    raise InputError(f"unknown axis {axis!r}; use 'x', 'y' or 'z'")


def positions_along(ds: xr.Dataset, axis: int) -> xr.DataArray:
    if "position" not in ds.variables:
        raise StoreError(
            "the results store has no 'position' variable, which profiles and interfaces need; "
            "rerun lessdask classify with --save-positions (save_positions=True in the Python API)"
        )
    pos = ds["position"]
    if "spatial" in pos.dims:
        return pos.isel(spatial=axis)
    raise StoreError("the 'position' variable has no 'spatial' dimension; the store does not follow the contract")


def box_lengths(ds: xr.Dataset, axis: int, coord: xr.DataArray) -> np.ndarray:
    """Per-frame box length along ``axis`` in Å (eager; one number per frame).

    Profiles assume an orthorhombic box; a warning is issued for other angles. Without
    a ``dimensions`` variable the span ``[0, max position]`` of each frame is used.
    """
    if "dimensions" in ds.variables:
        dims = ds["dimensions"]
        cell = [str(c) for c in dims["cell"].values] if "cell" in dims.coords else list(CELL)
        values = np.asarray(dims.values, dtype=np.float64)
        lengths = values[:, cell.index(CELL[axis])]
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


def per_frame_histograms(ds: xr.Dataset, axis: int, bins: int) -> tuple[da.Array, np.ndarray, list[str]]:
    """Lazy per-frame histogram sums ``(frame, bin, 2K+1)`` and box lengths ``(frame,)``."""
    if int(bins) != bins or bins < 2:
        raise InputError(f"bins must be an integer >= 2, got {bins!r}")
    bins = int(bins)
    names = structure_names(ds)
    n_classes = len(names)
    coord = positions_along(ds, axis)
    lengths = box_lengths(ds, axis, coord)
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
    ds = select_frames(as_dataset(results), frames)
    ax = axis_index(axis)
    hist, lengths, names = per_frame_histograms(ds, ax, bins)
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

