"""The one k-means of the model: class modes (for generative sampling) and envelope centres."""

from __future__ import annotations

import numpy as np

#: Feature-space modes kept per class for generative sampling: a class of a binary compound
#: (CaF2: Ca and F sites) has several clusters whose mean lies in none of them.
N_MODES = 4


def kmeans(X, k: int, random_state=0, n_init: int = 1):
    """k-means centres (float32) and the label of every row (scikit-learn's ``KMeans``)."""
    from sklearn.cluster import KMeans

    km = KMeans(int(k), n_init=n_init, random_state=random_state).fit(X)
    return km.cluster_centers_.astype(np.float32), km.labels_


def class_modes(X, y, n_classes: int, random_state=0):
    """Per class: up to :data:`N_MODES` k-means centres, their per-feature spreads and weights.

    Parameters
    ----------
    X : array_like, shape (n, n_features)
    y : array_like of int, shape (n,)
        Class indices ``0 .. n_classes - 1``.

    Returns
    -------
    modes, spread : ndarray, float32, shape (n_classes, N_MODES, n_features)
    weight : ndarray, float32, shape (n_classes, N_MODES)
        Share of the class's rows nearest each centre (0 for unused slots).
    """
    X = np.asarray(X)
    y = np.asarray(y)
    d = X.shape[1]
    modes = np.zeros((n_classes, N_MODES, d), np.float32)
    spread = np.zeros((n_classes, N_MODES, d), np.float32)
    weight = np.zeros((n_classes, N_MODES), np.float32)
    for c in range(n_classes):
        Xc = X[y == c]
        k = min(N_MODES, len(np.unique(Xc, axis=0)))
        if k <= 1:
            modes[c, 0], spread[c, 0], weight[c, 0] = Xc.mean(0), Xc.std(0), 1.0
            continue
        _, labels = kmeans(Xc, k, random_state, n_init=3)
        for j in range(k):
            member = Xc[labels == j]
            modes[c, j] = member.mean(0)
            spread[c, j] = member.std(0)
            weight[c, j] = len(member) / len(Xc)
    return modes, spread, weight
