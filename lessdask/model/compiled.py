"""Compiled inference: the mega models' trees and the envelope test without LightGBM's Booster.

``Booster.predict`` walks each tree node by node, one row at a time, behind a data-dependent
branch per node; with 8-9 classes x 25 trees of 31 leaves that is ~950 unpredictable branches
per atom (~3-4 us). Here the trees are *data*: the LightGBM text of each booster is parsed
into flat arrays (split feature, threshold, leaf values) when a model is fitted or loaded, and
one generic numba kernel, compiled once per machine and kept in numba's cache, evaluates any
forest from those arrays. No code is generated from a model file, so a model stays data.

The kernel uses the branch-free bit-vector traversal of QuickScorer (Lucchese et al., SIGIR
2015): each leaf of a tree is a bit, numbered left to right; every split node whose test
fails (``x > threshold``: the row goes right) clears the bits of the leaves of its left
subtree; the lowest set bit left is the exit leaf. Every node of every tree is evaluated, but
for a block of rows at once, as a vectorised compare-and-mask over a feature-major copy of
the block: no branch depends on the data. Trees with at most 32 leaves use 32-bit masks (the
shipped presets grow 31), up to 64 leaves 64-bit masks; larger trees, categorical splits,
linear trees, missing-value handling other than LightGBM's default for NaN-free training
data, and objectives with an output transform are refused (:class:`UnsupportedForest`) and
the model keeps using ``Booster.predict``.

Equality with LightGBM: a float32 feature ``x`` and a float64 threshold ``t`` satisfy
``x <= t`` exactly when ``x <= t32`` where ``t32`` is the largest float32 not above ``t``, so
the float32 compares take the same branches as LightGBM's float64 ones; inputs are treated as
LightGBM treats dense rows (NaN and ``|x| <= 1e-35`` are 0); leaf values are summed in
float64 in tree order. The scores are therefore bitwise those of ``Booster.predict``.

Switch to the Booster path with the environment variable ``LESSDASK_INFERENCE=booster``
(read at every call, inherited by Dask workers started afterwards) or
:func:`booster_inference`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass

import numba as nb
import numpy as np
from numba.extending import intrinsic

#: Environment variable choosing the inference path: "compiled" (default) or "booster".
INFERENCE_ENV = "LESSDASK_INFERENCE"
#: Rows per block: the block's feature-major copy (24 features x 512 rows x 4 bytes = 48 kB)
#: and its leaf masks stay in L1/L2 while every node of every tree passes over them.
BLOCK = 512
#: LightGBM's kZeroThreshold: dense inputs at or below it in magnitude are read as 0.
ZERO_THRESHOLD = 1e-35
#: Objectives whose prediction is the raw sum of the trees (no output transform).
_IDENTITY_OBJECTIVES = frozenset({"regression", "regression_l2", "l2", "mean_squared_error", "mse",
                                  "regression_l1", "l1", "huber", "fair", "quantile", "mape"})


class UnsupportedForest(ValueError):
    """A booster uses something the compiled path does not evaluate (the Booster path is used)."""


def compiled_inference_enabled() -> bool:
    """Whether predictions use the compiled forest (``LESSDASK_INFERENCE`` is not ``booster``)."""
    return os.environ.get(INFERENCE_ENV, "compiled").strip().lower() != "booster"


@contextlib.contextmanager
def booster_inference():
    """Context manager: predictions inside use ``Booster.predict`` (for tests and comparisons).

    Sets ``LESSDASK_INFERENCE=booster`` for the block, so Dask workers started inside it
    inherit the choice.
    """
    old = os.environ.get(INFERENCE_ENV)
    os.environ[INFERENCE_ENV] = "booster"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(INFERENCE_ENV, None)
        else:
            os.environ[INFERENCE_ENV] = old


# ----------------------------------------------------------------------------- parsing
def _parse_trees(text: str, where: str) -> tuple[int, list[dict]]:
    head, sep, body = text.partition("\nTree=")
    header = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
    if header.get("num_class", "1").strip() != "1" or header.get("num_tree_per_iteration", "1").strip() != "1":
        raise UnsupportedForest(f"{where}: multi-class booster")
    objective = header.get("objective", "").split()
    if not objective or objective[0] not in _IDENTITY_OBJECTIVES or "sqrt" in objective[1:]:
        raise UnsupportedForest(f"{where}: objective {' '.join(objective)!r} transforms its output")
    if "average_output" in head.split():
        raise UnsupportedForest(f"{where}: random-forest (averaged) output")
    if not sep:
        raise UnsupportedForest(f"{where}: no trees")
    body = body.split("\nend of trees", 1)[0]
    trees = []
    for block in ("Tree=" + body).split("\nTree="):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        trees.append(fields)
    return int(header.get("max_feature_idx", "-1")) + 1, trees


def _tree_arrays(fields: dict, where: str):
    """(features, thresholds, left-subtree masks as Python ints, leaf values in left-to-right order)."""
    n_leaves = int(fields["num_leaves"])
    leaf_value = np.array(fields["leaf_value"].split(), np.float64)
    if int(fields.get("num_cat", "0")) != 0:
        raise UnsupportedForest(f"{where}: categorical splits")
    if int(fields.get("is_linear", "0")) != 0:
        raise UnsupportedForest(f"{where}: linear trees")
    if n_leaves > 64:
        raise UnsupportedForest(f"{where}: a tree with {n_leaves} leaves (at most 64 are compiled)")
    if n_leaves == 1:
        return np.zeros(0, np.int32), np.zeros(0), [], leaf_value[:1]
    feature = np.array(fields["split_feature"].split(), np.int64)
    threshold = np.array(fields["threshold"].split(), np.float64)
    decision = np.array(fields["decision_type"].split(), np.int64)
    left = np.array(fields["left_child"].split(), np.int64)
    right = np.array(fields["right_child"].split(), np.int64)
    if (decision & 1).any():
        raise UnsupportedForest(f"{where}: categorical splits")
    if ((decision >> 2) & 3).any():  # missing type Zero or NaN: trained on data with missing values
        raise UnsupportedForest(f"{where}: splits with a missing-value direction")
    # leaves in left-to-right order, and the leaves under each node's left child
    below: dict[int, list[int]] = {}

    def leaves(child):
        if child < 0:
            return [~child]
        if child not in below:
            below[child] = leaves(left[child]) + leaves(right[child])
        return below[child]

    order = leaves(0)
    if sorted(order) != list(range(n_leaves)):
        raise UnsupportedForest(f"{where}: malformed tree")
    position = {leaf: i for i, leaf in enumerate(order)}
    masks = []
    full = (1 << 64) - 1
    for i in range(n_leaves - 1):
        m = full
        for leaf in leaves(left[i]):
            m &= ~(1 << position[leaf])
        masks.append(m)
    return feature.astype(np.int32), threshold, masks, leaf_value[order]


def float32_at_or_below(t) -> np.ndarray:
    """The largest float32 not above each float64 ``t``: for float32 ``x``, ``x <= t`` iff ``x <= result``."""
    t = np.asarray(t, np.float64)
    with np.errstate(over="ignore"):
        f = t.astype(np.float32)
    above = f.astype(np.float64) > t
    f[above] = np.nextafter(f[above], np.float32(-np.inf))
    return f


@dataclass(frozen=True, eq=False)
class CompiledForest:
    """One or more single-output LightGBM boosters (one per class) as flat arrays.

    Build with :meth:`from_texts` or :meth:`from_boosters`; evaluate with :meth:`scores`
    (bitwise ``Booster.predict`` of each booster, one column per booster) or
    :meth:`softmax` (probabilities as :class:`~lessdask.model.LESSClassifier` computes them).

    Attributes
    ----------
    feature, threshold, mask : ndarray
        Per split node (all trees concatenated): feature index, float32 threshold (see
        :func:`float32_at_or_below`), and the leaf mask that clears the node's left subtree.
    leaf_value : ndarray, float64
        Per leaf, trees concatenated, leaves of each tree left to right.
    node_start, leaf_start, tree_class : ndarray
        Per tree: first split node (one more entry: the end), first leaf, output column.
    n_outputs, n_features : int
    digest : str
        SHA-256 of the boosters' LightGBM text.
    """

    feature: np.ndarray
    threshold: np.ndarray
    mask: np.ndarray
    leaf_value: np.ndarray
    node_start: np.ndarray
    leaf_start: np.ndarray
    tree_class: np.ndarray
    n_outputs: int
    n_features: int
    digest: str

    @classmethod
    def from_texts(cls, texts, n_features: int | None = None) -> CompiledForest:
        """Parse boosters saved with ``Booster.model_to_string()`` (one text per output column).

        Raises
        ------
        UnsupportedForest
            If any tree uses something the kernel does not evaluate.
        """
        feats, thrs, masks, values, node_start, leaf_start, tree_class = [], [], [], [], [0], [], []
        n_leaves_max = 1
        h = hashlib.sha256()
        width = 0
        for c, text in enumerate(texts):
            h.update(text.encode())
            n_in, trees = _parse_trees(text, f"booster {c}")
            width = max(width, n_in)
            for t, fields in enumerate(trees):
                f, thr, m, v = _tree_arrays(fields, f"booster {c}, tree {t}")
                n_leaves_max = max(n_leaves_max, len(v))
                feats.append(f)
                thrs.append(thr)
                masks.extend(m)
                leaf_start.append(sum(len(x) for x in values))
                values.append(v)
                node_start.append(node_start[-1] + len(f))
                tree_class.append(c)
        feature = np.concatenate(feats).astype(np.int32)
        width = n_features if n_features is not None else width
        if feature.size and feature.max() >= width:
            raise UnsupportedForest(f"a split on feature {int(feature.max())} of {width}")
        mask = np.array(masks, np.uint64)
        if n_leaves_max <= 32:
            mask = (mask & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        return cls(feature=feature, threshold=float32_at_or_below(np.concatenate(thrs)), mask=mask,
                   leaf_value=np.concatenate(values), node_start=np.array(node_start, np.int64),
                   leaf_start=np.array(leaf_start, np.int64), tree_class=np.array(tree_class, np.int32),
                   n_outputs=len(texts), n_features=int(width), digest=h.hexdigest())

    @classmethod
    def from_boosters(cls, boosters, n_features: int | None = None) -> CompiledForest:
        """:meth:`from_texts` of ``[b.model_to_string() for b in boosters]``; width: the boosters' inputs."""
        if n_features is None:
            n_features = max(b.num_feature() for b in boosters)
        return cls.from_texts([b.model_to_string() for b in boosters], n_features)

    def _args(self):
        return (self.feature, self.threshold, self.mask, self.leaf_value, self.node_start, self.leaf_start,
                self.tree_class, self.n_outputs, ~self.mask.dtype.type(0))

    def _rows(self, X) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a (n, {self.n_features}) feature matrix, got shape {X.shape}")
        return X

    def scores(self, X, threads: int = 1) -> np.ndarray:
        """Sum of the trees of each booster, shape (n, n_outputs), float64: ``Booster.predict`` bitwise.

        ``threads`` > 1 splits the rows between that many threads (the kernel releases the GIL).
        """
        return self._run(X, 0.0, threads)

    def softmax(self, X, temperature: float, threads: int = 1) -> np.ndarray:
        """``softmax(scores / temperature)`` per row, float64, in the same pass as the trees."""
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        return self._run(X, float(temperature), threads)

    def softmax_labels(self, X, temperature: float, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`softmax` as float32 and the index of each row's highest probability, in one pass.

        Returns
        -------
        proba : ndarray, float32, shape (n, n_outputs)
            ``softmax(X, temperature).astype(np.float32)``, bitwise.
        labels : ndarray, int8, shape (n,)
            ``np.argmax(softmax(X, temperature), axis=1)`` (of the float64 probabilities).
        """
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        X = self._rows(X)
        labels = np.empty(X.shape[0], np.int8)
        return self._run(X, float(temperature), threads, np.float32, labels), labels

    def _run(self, X, temperature, threads, dtype=np.float64, labels=None):
        X = self._rows(X)
        out = np.empty((X.shape[0], self.n_outputs), dtype)
        if labels is None:
            labels = np.empty(0, np.int8)  # not asked for
        parts = min(int(threads), X.shape[0] // BLOCK)
        if parts <= 1:
            _forest(X, *self._args(), temperature, out, labels)
            return out
        from concurrent.futures import ThreadPoolExecutor

        edges = np.linspace(0, X.shape[0], parts + 1).astype(int)

        def part(i):
            a, b = edges[i], edges[i + 1]
            _forest(X[a:b], *self._args(), temperature, out[a:b], labels[a:b] if labels.size else labels)

        with ThreadPoolExecutor(parts) as pool:
            list(pool.map(part, range(parts)))
        return out


# ----------------------------------------------------------------------------- kernels
@intrinsic
def _cttz(typingctx, x):
    """Count of trailing zero bits (LLVM ``cttz``)."""
    from llvmlite import ir

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

    return x(x), codegen


@nb.njit(cache=True, nogil=True)
def _forest(X, feature, threshold, mask, leaf_value, node_start, leaf_start, tree_class, n_outputs, ones,
            temperature, out, labels):
    """Scores (``temperature == 0``) or softmax(scores / temperature) of every row of X into ``out``
    (computed in float64, stored in ``out``'s dtype), and with the softmax, when ``labels`` is not
    empty, each row's first index of the highest (float64) probability into ``labels``."""
    n, n_features = X.shape
    B = BLOCK
    XT = np.zeros((n_features, B), np.float32)
    bits = np.empty(B, mask.dtype)
    leaf = np.empty(B, np.int32)
    acc = np.empty((n_outputs, B), np.float64)
    zb = np.empty(n_outputs, np.float64)
    want_labels = labels.shape[0] > 0
    tiny = np.float32(ZERO_THRESHOLD)
    zero = np.float32(0.0)
    for s in range(0, n, B):
        m = min(B, n - s)
        for j in range(m):  # feature-major copy; LightGBM reads NaN and |x| <= 1e-35 as 0
            for f in range(n_features):
                x = X[s + j, f]
                if x != x or abs(x) <= tiny:
                    x = zero
                XT[f, j] = x
        acc[:, :] = 0.0
        for t in range(tree_class.shape[0]):
            bits[:] = ones
            for node in range(node_start[t], node_start[t + 1]):
                f = feature[node]
                th = threshold[node]
                mk = mask[node]
                for j in range(B):
                    bits[j] &= mk if XT[f, j] > th else ones
            for j in range(B):  # exit leaf: the lowest bit left (a separate loop vectorises)
                leaf[j] = _cttz(bits[j])
            c = tree_class[t]
            l0 = leaf_start[t]
            for j in range(B):
                acc[c, j] += leaf_value[l0 + leaf[j]]
        if temperature == 0.0:
            for j in range(m):
                for c in range(n_outputs):
                    out[s + j, c] = acc[c, j]
        else:  # as LESSClassifier._softmax: Z = S / T; Z -= max; exp; Z /= sum
            for j in range(m):
                top = -np.inf
                for c in range(n_outputs):
                    z = acc[c, j] / temperature
                    zb[c] = z
                    top = max(top, z)
                total = 0.0
                for c in range(n_outputs):
                    e = np.exp(zb[c] - top)
                    zb[c] = e
                    total += e
                best = 0
                pbest = -1.0
                for c in range(n_outputs):
                    p = zb[c] / total
                    out[s + j, c] = p
                    if p > pbest:  # strict: the first of equal maxima, as np.argmax
                        pbest = p
                        best = c
                if want_labels:
                    labels[s + j] = best


# ----------------------------------------------------------------------------- envelopes
def envelope_arrays(centres, radius):
    """The envelopes of :mod:`lessdask.model.envelope` packed for :func:`other_labels`.

    Returns
    -------
    packed : ndarray, float32, shape (n_classes, k, n_features)
        Each class's valid centres first (NaN rows of ``centres`` dropped).
    counts : ndarray, int64, shape (n_classes,)
    radius : ndarray, float32, shape (n_classes,)
        ``max(radius, 1e-12)``, as :func:`~lessdask.model.envelope.envelope_score` divides by it.
    """
    centres = np.asarray(centres, np.float32)
    packed = np.zeros_like(centres)
    counts = np.zeros(centres.shape[0], np.int64)
    for c in range(centres.shape[0]):
        valid = centres[c][~np.isnan(centres[c]).any(axis=1)]
        packed[c, :len(valid)] = valid
        counts[c] = len(valid)
    return packed, counts, np.maximum(np.asarray(radius, np.float32), np.float32(1e-12))


def other_labels(X, labels, packed) -> np.ndarray:
    """``labels`` with -1 where a row lies outside the envelope of its label's class.

    The compiled form of ``envelope_score(X, labels, ...) > 1``: per block of rows, the rows of
    each class are gathered into a feature-major scratch and their distances to that class's
    centres computed as sums of squared float32 differences (no |x|^2 + |c|^2 - 2 x.c
    cancellation, so more accurate than the BLAS form; the two differ only for rows whose
    score is within ~1e-4 of 1).

    Parameters
    ----------
    X : array_like, shape (n, n_features)
    labels : array_like of int, shape (n,)
        Class index of each row (0 .. n_classes - 1).
    packed : tuple
        :func:`envelope_arrays` of the model's envelopes.

    Returns
    -------
    ndarray, int8, shape (n,)
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    out = np.array(labels, dtype=np.int8, copy=True)
    centres, counts, radius = packed
    if X.shape[0]:
        _other(X, out, centres, counts, radius)
    return out


#: Centres every row of a batch visits before the rows still outside are set aside (``_other``).
FIRST_CENTRES = 8


@nb.njit(cache=True, nogil=True)
def _other(X, labels, centres, counts, radius):
    # rows are read in order and copied, feature-major, into a batch per class; a full batch
    # visits its class's first FIRST_CENTRES centres, each row dropped as soon as one centre is
    # within the radius (3-5 centres for a typical atom of the reference data, not all 64);
    # rows still outside go to a second batch per class that visits the remaining centres once
    # it holds BLOCK rows, so the few atoms near or beyond the edge do not drag a
    # mostly-finished batch through every centre. Rows outside every centre are "other".
    n, n_features = X.shape
    n_classes = counts.shape[0]
    B = BLOCK
    T0 = np.empty((n_classes, n_features, B), np.float32)
    T1 = np.empty((n_classes, n_features, 2 * B), np.float32)
    rows0 = np.empty((n_classes, B), np.int64)
    rows1 = np.empty((n_classes, 2 * B), np.int64)
    fill0 = np.zeros(n_classes, np.int64)
    fill1 = np.zeros(n_classes, np.int64)
    d2 = np.empty(2 * B, np.float32)
    for i in range(n + 1):
        if i < n:
            c = labels[i]
            k = fill0[c]
            for f in range(n_features):
                T0[c, f, k] = X[i, f]
            rows0[c, k] = i
            fill0[c] = k + 1
            if k + 1 < B:
                continue
            todo = (c,)
        else:  # the end: every partial batch
            todo = (-1,)
        for c in range(n_classes):
            if (todo[0] >= 0 and c != todo[0]) or (todo[0] < 0 and fill0[c] == 0 and fill1[c] == 0):
                continue
            first = min(FIRST_CENTRES, counts[c])
            k = _drop_inside(T0[c], rows0[c], fill0[c], d2, centres[c], 0, first, radius[c])
            fill0[c] = 0
            for q in range(k):
                if first < counts[c]:
                    h = fill1[c]
                    for f in range(n_features):
                        T1[c, f, h] = T0[c, f, q]
                    rows1[c, h] = rows0[c, q]
                    fill1[c] = h + 1
                else:
                    labels[rows0[c, q]] = -1
            if fill1[c] >= B or (i == n and fill1[c] > 0):
                k = _drop_inside(T1[c], rows1[c], fill1[c], d2, centres[c], first, counts[c], radius[c])
                fill1[c] = 0
                for q in range(k):
                    labels[rows1[c, q]] = -1


@nb.njit(cache=True, nogil=True)
def _drop_inside(T, rows, k, d2, centres, p0, p1, r):
    """Keep (compacted to the front) the first k rows of T and ``rows`` outside every centre p0..p1-1.

    Rows found inside a centre are flagged dead; the batch is compacted only once half of it is
    dead, so a row's 24 features are moved about twice, not once per centre.
    """
    n_features = T.shape[0]
    one = np.float32(1.0)
    live = np.ones(k, np.uint8)
    n_live = k
    for p in range(p0, p1):
        if n_live == 0:
            break
        d2[:k] = 0.0
        for f in range(n_features):
            cf = centres[p, f]
            for q in range(k):
                d = T[f, q] - cf
                d2[q] += d * d
        for q in range(k):
            live[q] &= np.uint8(np.sqrt(d2[q]) / r > one)  # still outside every centre so far
        n_live = 0
        for q in range(k):
            n_live += live[q]
        if 2 * n_live < k:
            k = _compact(T, rows, live, k)
    return _compact(T, rows, live, k)


@nb.njit(cache=True, nogil=True)
def _compact(T, rows, live, k):
    kept = 0
    for q in range(k):
        if live[q]:
            if kept != q:
                rows[kept] = rows[q]
                live[kept] = 1
                for f in range(T.shape[0]):
                    T[f, kept] = T[f, q]
            kept += 1
    return kept
