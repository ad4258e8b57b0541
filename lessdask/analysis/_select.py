"""Shared selection helpers of the analysis functions: results as a Dataset, atoms, frames."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import xarray as xr

from lessdask.errors import InputError
from lessdask.store import open_results


def as_dataset(results: xr.Dataset | str | os.PathLike) -> xr.Dataset:
    """The results as a Dataset: one given, or a store opened with :func:`lessdask.store.open_results`."""
    if isinstance(results, xr.Dataset):
        return results
    if isinstance(results, (str, os.PathLike)):
        return open_results(results)
    raise InputError(f"expected an xarray.Dataset or the path of a results store, got {type(results).__name__}")


def structure_names(ds: xr.Dataset) -> list[str]:
    """Class names of a results dataset, in model order."""
    return [str(s) for s in np.asarray(ds["structure"].values).tolist()]


def select_atoms(ds: xr.Dataset, atoms: Iterable[int] | None) -> xr.Dataset:
    """The atoms with these ids (all when None); unknown ids are an InputError naming them."""
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


def select_frames(ds: xr.Dataset, frames: Any) -> xr.Dataset:
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


def time_coord(ds: xr.Dataset) -> dict:
    """The ``time`` coordinate to carry over to a per-frame result, if the dataset has one."""
    return {"time": ds["time"]} if "time" in ds.coords or "time" in ds.variables else {}
