"""The frame-sized scratch pool: reused arrays never change a result, and what it keeps is bounded."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from lessdask.features import compute_features, scratch
from lessdask.features.engine import FrameFeatures
from lessdask.reference import build_crystal


@pytest.fixture(autouse=True)
def empty_pool():
    scratch.clear()
    yield
    scratch.clear()


def _noisy(seed, reps=5):
    c = build_crystal("fcc", reps)
    rng = np.random.default_rng(seed)
    return c.positions + rng.normal(0, 0.15, c.positions.shape), c.dimensions


def test_features_are_the_same_whatever_the_pool_hands_back():
    pos_a, box = _noisy(0)
    pos_b, _ = _noisy(1)
    fresh = compute_features(pos_b, box)[0]
    compute_features(pos_a, box)  # its arrays go back to the pool ...
    gc.collect()
    assert scratch.kept_bytes() > 0
    # ... and are spoilt, so a kernel relying on zeros it did not write would show it
    for a in scratch._free:
        a.view(np.uint8).fill(0xFF)
    reused = compute_features(pos_b, box)[0]
    assert scratch.kept_bytes() > 0
    np.testing.assert_array_equal(reused, fresh)


def test_two_live_frames_never_share_an_array():
    pos, box = _noisy(2)
    compute_features(pos, box)
    gc.collect()
    a = FrameFeatures(pos, box)
    b = FrameFeatures(pos, box)
    ids_a = {id(x) for x in a._owned}
    assert not ids_a & {id(x) for x in b._owned}
    Xa = a.features()[0]
    Xb = b.features()[0]
    np.testing.assert_array_equal(Xa, Xb)


def test_the_pool_keeps_at_most_two_sets_of_the_largest_size():
    for _ in range(5):
        scratch.give_back([np.ones(1000), np.ones((10, 3))])
    one_set = 1000 * 8 + 30 * 8
    assert scratch.kept_bytes() <= 2 * one_set
    scratch.give_back([np.ones(10)])
    assert scratch.kept_bytes() <= 2 * one_set


def test_views_and_empty_arrays_are_not_kept():
    base = np.ones(100)
    scratch.give_back([base[:50], np.ones(0)])
    assert scratch.kept_bytes() == 0


def test_a_taken_array_has_the_asked_shape_dtype_and_zeros():
    scratch.give_back([np.full((4, 3), 7, np.int64)])
    a = scratch.take((4, 3), np.int64, zero=True)
    assert a.shape == (4, 3) and a.dtype == np.int64 and not a.any()
    assert scratch.kept_bytes() == 0
    b = scratch.take(5, np.float32)
    assert b.shape == (5,) and b.dtype == np.float32
