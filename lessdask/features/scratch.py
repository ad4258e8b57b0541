"""Frame-sized scratch arrays handed from one frame to the next.

A :class:`~lessdask.features.engine.FrameFeatures` needs about 350 bytes per atom of fresh
arrays (cell-ordered positions, q_l, neighbour lists, cell list). Fresh memory costs page
faults on first touch: on the 2-core VM of docs/speed.md, 0.07 to 0.5 s of system time per
1M-atom frame (with transparent huge pages, whose synchronous compaction makes it noisy),
against 0.93 s of computing. Frames of one trajectory have the same size, so a finished
frame's arrays are kept here and the next frame of the same size takes them back: no faults
after the first frame.

Only arrays given back with :func:`give_back` are ever reused, and the arrays kept add up
to at most :data:`KEEP_SETS` times the largest set given back at once (a frame's; one per
worker thread in flight), the oldest dropped first.
"""

from __future__ import annotations

import threading

import numpy as np

#: Frames' worth of arrays kept for reuse.
KEEP_SETS = 2

_lock = threading.Lock()
_free: list[np.ndarray] = []  # oldest first
_largest_set = 0


def take(shape, dtype, zero: bool = False) -> np.ndarray:
    """An array of ``shape`` and ``dtype``: a given-back one when one matches, else new.

    Parameters
    ----------
    shape : int or tuple of int
    dtype : dtype-like
    zero : bool
        Fill with zeros (otherwise the content is undefined, as with ``np.empty``).

    Returns
    -------
    ndarray, C-contiguous
    """
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    found = None
    with _lock:
        for i in range(len(_free) - 1, -1, -1):  # newest first
            if _free[i].shape == shape and _free[i].dtype == dtype:
                found = _free.pop(i)
                break
    if found is None:
        return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    if zero:
        found.fill(0)
    return found


def give_back(arrays) -> None:
    """Keep ``arrays`` (no longer used anywhere) for the next :func:`take` of their shape.

    The oldest arrays kept are dropped beyond :data:`KEEP_SETS` times the largest set given back.
    """
    global _largest_set
    arrays = [a for a in arrays if isinstance(a, np.ndarray) and a.size and a.flags.c_contiguous
              and a.base is None]
    if not arrays:
        return
    with _lock:
        _free.extend(arrays)
        _largest_set = max(_largest_set, sum(a.nbytes for a in arrays))
        total = sum(a.nbytes for a in _free)
        while total > KEEP_SETS * _largest_set:
            total -= _free.pop(0).nbytes


def clear() -> None:
    """Drop every kept array (their memory goes back to the allocator)."""
    global _largest_set
    with _lock:
        _free.clear()
        _largest_set = 0


def kept_bytes() -> int:
    """Bytes held for reuse."""
    with _lock:
        return sum(a.nbytes for a in _free)
