"""Phase fractions: the share of atoms in each class, frame by frame (lazy, Dask-backed)."""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import xarray as xr

from lessdask.analysis._select import as_dataset, select_atoms, structure_names, time_coord
from lessdask.errors import InputError, StoreError
from lessdask.store import OTHER


def phase_fractions(
    results: xr.Dataset | str | os.PathLike,
    method: str = "label",
    atoms: Iterable[int] | None = None,
    allow_incomplete: bool = False,
) -> xr.DataArray:
    """Fraction of atoms in each structure class, frame by frame.

    Parameters
    ----------
    results : xarray.Dataset or str or os.PathLike
        Results dataset, or the path of a results store (opened with
        :func:`lessdask.store.open_results`, so it must be complete).
    method : {"label", "probability"}, default "label"
        ``"label"`` counts the hard labels: the fraction of class *k* is the number of
        selected atoms labelled *k* divided by the number of **all** selected atoms,
        "other" ones (label ``-1``) included. If any selected atom of any frame is
        labelled -1, an extra class :data:`OTHER` (``"other"``) is appended to
        ``structure`` holding their fraction, so every row still sums to 1; if none is,
        the output has exactly the store's classes. ``"probability"`` averages the class
        probabilities over the selected atoms (rows sum to 1; no "other" class). This is a
        soft measure, not a phase fraction: probabilities are a softmax and never reach 0, and
        atoms the model is unsure of (hot crystal, interfaces, "other" atoms) spread theirs over
        every class, so classes absent from the system keep a floor of up to about 1 % each
        (docs/science.md, "Probabilities are not fractions").
    atoms : array_like of int, optional
        Atom ids (values of the ``atom`` coordinate) to restrict the count to; default
        all atoms.
    allow_incomplete : bool, default False
        Count a store whose ``complete`` attribute is false (an interrupted run, opened with
        ``open_results(path, allow_incomplete=True)``). Its unwritten chunks read as label -1
        and would count as "other"; here only written atoms (finite probabilities) are
        counted, and frames with none are NaN. Without it such a dataset is refused.

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
        If ``results`` is a path that cannot be opened (see :func:`lessdask.store.open_results`),
        or a dataset of an incomplete store and ``allow_incomplete`` is false.
    """
    ds = select_atoms(as_dataset(results), atoms)
    names = structure_names(ds)
    complete = ds.attrs.get("complete", True)  # datasets made in memory carry no such attribute
    incomplete = not (isinstance(complete, (bool, np.bool_)) and bool(complete))
    if incomplete and not allow_incomplete:
        raise StoreError("these results come from an incomplete store (complete=false): unwritten chunks read as "
                         "'other'; finish it with lessdask classify --resume, or pass allow_incomplete=True to "
                         "count only the atoms written so far")
    n_atoms = ds.sizes["atom"]
    written = None
    if incomplete and "probability" in ds.variables:
        written = ds["probability"].isel(structure=0, drop=True).notnull()
        n_atoms = written.sum("atom", dtype=np.int64).astype(np.float64)
        n_atoms = n_atoms.where(n_atoms > 0)
    if method == "label":
        label = ds["label"] if written is None else ds["label"].where(written, -2)
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
    frac = frac.assign_coords(time_coord(ds))
    frac.name = "fraction"
    frac.attrs = {"units": "1", "method": method, "n_atoms": int(ds.sizes["atom"]), "long_name": description,
                  "complete": not incomplete}
    return frac
