"""Class envelopes: which atoms look like none of the reference classes ("other").

The LESS stack always names one of its classes, so an atom in an environment it never saw
(a grain boundary, a free surface, a vacancy's neighbour) gets whichever class is least
unlike it; at a Cu grain boundary that is mostly fcc or hcp. Template methods (PTM,
adaptive CNA) call such atoms "other". Envelopes give lessdask the same answer from the
reference data alone, with no new class and no new training data:

* per class, ``k`` k-means centres of its training features (the envelope);
* per class, a radius: the ``quantile`` (default 99.7 %) of the distances from atoms of
  that class held out of the k-means fit to their nearest centre (20 % held out; k-fold
  for classes under 5,000 atoms, so every atom gives a held-out distance);
* an atom whose distance to the nearest centre of its *predicted* class exceeds that
  class's radius is labelled ``-1`` ("other"). Probabilities are unchanged.

By construction about ``1 - quantile`` of atoms like the reference ones are called other;
the training report gives the measured rate on both held-out sets.
"""

from __future__ import annotations

import numpy as np

from lessdask.model.kmeans import kmeans

#: k-means centres per class. 32-512 gave the same picture on the Cu polycrystal (at a 99.5 %
#: radius, 50-59 % of grain-boundary and 1.4-1.8 % of grain atoms outside the fcc envelope;
#: ``python jobs/envelope_quantile.py --compare-centres``); 64 keeps inference cost small.
N_CENTRES = 64
#: Share of held-out reference atoms of a class that must fall inside its envelope: 0.997 keeps
#: held-out accuracy counting "other" as wrong above 99.5 % (jobs/envelope_quantile.py).
QUANTILE = 0.997
#: Share of each class's atoms held out of the k-means fit to set its radius.
HOLDOUT = 0.2
#: At least this many atoms per centre: a class with few atoms (one added by ``extend`` from
#: 2 % of its data) gets few centres, which generalise to its unseen atoms.
ATOMS_PER_CENTRE = 50
#: An envelope fitted on atoms from one temperature holds only that temperature's thermal
#: spread: heated, a class's features broaden and drift (towards the liquid's). Measured on the
#: seven crystal classes of the reference data (``python jobs/envelope_transfer.py``: envelopes
#: fitted as for an extended class on 230 atoms at one temperature T, the radius needed to hold
#: the same share of the class at T' > T), the radius must grow about as (T'/T) ** alpha.
#: :func:`temperature_widening` uses this exponent to widen an extended class's envelope so it
#: holds the class up to ``TRANSFER_RATIO`` times the hottest temperature it was given.
TEMPERATURE_EXPONENT = 1.5
TRANSFER_RATIO = 2.0
#: Below this many atoms a single hold-out leaves too few distances for a 99.7 % quantile;
#: k-fold held-out distances of every atom are used instead (centres then fitted on all).
SMALL_CLASS = 5000
FOLDS = 5


def fit_envelope(X, n_centres: int = N_CENTRES, quantile: float = QUANTILE, random_state=0):
    """Envelope of one class: k-means centres and the radius that holds ``quantile`` of it.

    Parameters
    ----------
    X : array_like, shape (n, n_features)
        Features of the atoms of one class.
    n_centres : int
        Number of k-means centres (fewer for small classes: at most one per
        ``ATOMS_PER_CENTRE`` atoms).
    quantile : float
        Share of held-out atoms of the class that the radius must contain.
    random_state : int

    Returns
    -------
    centres : ndarray, float32, shape (k, n_features)
    radius : float
        Distance (feature units) from the nearest centre beyond which an atom is "other".
    """
    X = np.asarray(X, np.float32)
    if len(X) < 2:
        raise ValueError("an envelope needs at least two atoms of the class")
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(X))
    if len(X) >= SMALL_CLASS:
        n_held = int(round(HOLDOUT * len(X)))
        held, fit = X[order[:n_held]], X[order[n_held:]]
        centres = _kmeans(fit, n_centres, random_state)
        distances = nearest_centre_distance(held, centres)
    else:
        folds = np.array_split(order, min(FOLDS, len(X)))
        distances = np.concatenate([
            nearest_centre_distance(X[f], _kmeans(X[np.setdiff1d(order, f)], n_centres, random_state))
            for f in folds])
        centres = _kmeans(X, n_centres, random_state)
    return centres, float(np.quantile(distances, quantile))


def temperature_widening(temperatures=None, ratio: float = TRANSFER_RATIO,
                         exponent: float = TEMPERATURE_EXPONENT) -> tuple[float, str]:
    """How much to widen an envelope fitted on atoms at ``temperatures`` to hold ``ratio`` times hotter.

    Data spanning a factor ``ratio`` in temperature (hottest / coldest) need no widening:
    the envelope has seen the spread. Data at one temperature, or at unknown temperatures,
    get the full ``ratio ** exponent``; data spanning a factor ``s < ratio`` get
    ``(ratio / s) ** exponent``.

    Parameters
    ----------
    temperatures : array_like of float, optional
        Temperature (K) of each atom; NaN or None where unknown.
    ratio : float
        How much hotter than the data the envelope must hold (default 2).
    exponent : float
        See :data:`TEMPERATURE_EXPONENT`.

    Returns
    -------
    factor : float
        Multiplier of the radius (>= 1).
    note : str
        What the data covered and what was done, for the user.
    """
    t = np.asarray([] if temperatures is None else temperatures, np.float64).ravel()
    t = t[np.isfinite(t) & (t > 0)]
    if t.size == 0:
        factor = float(ratio**exponent)
        return factor, (f"the temperature of the new data is unknown, so it is taken to be one temperature: "
                        f"the new class's envelope is widened by {factor:.2f} to hold it up to {ratio:g} times "
                        "hotter; give the temperature of each data set (or data at several temperatures) to "
                        "fit it from the data")
    values = np.unique(t)
    span = float(values.max() / values.min())
    if span >= ratio:
        return 1.0, (f"the new data span {values.min():g}-{values.max():g} K ({values.size} temperatures): "
                     "the new class's envelope is fitted from them as they are")
    factor = float((ratio / span) ** exponent)
    which = (f"come from one temperature ({values[0]:g} K)" if values.size == 1
             else f"span only {values.min():g}-{values.max():g} K")
    return factor, (f"the new data {which}: the new class's envelope is widened by {factor:.2f} to hold it up to "
                    f"{ratio:g} times hotter (measured on the known classes); give data at several "
                    "temperatures to fit it from the data")


def _kmeans(X, n_centres, random_state):
    k = int(max(1, min(n_centres, len(X) // ATOMS_PER_CENTRE, len(np.unique(X, axis=0)))))
    return kmeans(X, k, random_state, n_init=1)[0]


def fit_envelopes(X, y, n_classes: int, n_centres: int = N_CENTRES, quantile: float = QUANTILE,
                  random_state=0):
    """Envelopes of every class (see :func:`fit_envelope`).

    Parameters
    ----------
    X : array_like, shape (n, n_features)
    y : array_like of int, shape (n,)
        Class indices ``0 .. n_classes - 1``.

    Returns
    -------
    centres : ndarray, float32, shape (n_classes, n_centres, n_features)
        Padded with NaN where a class has fewer centres.
    radius : ndarray, float32, shape (n_classes,)
    """
    X = np.asarray(X, np.float32)
    y = np.asarray(y)
    centres = np.full((n_classes, n_centres, X.shape[1]), np.nan, np.float32)
    radius = np.zeros(n_classes, np.float32)
    for c in range(n_classes):
        cc, r = fit_envelope(X[y == c], n_centres, quantile, random_state)
        centres[c, :len(cc)] = cc
        radius[c] = r
    return centres, radius


def nearest_centre_distance(X, centres) -> np.ndarray:
    """Euclidean distance of each row of ``X`` to its nearest centre (NaN rows of ``centres`` ignored)."""
    X = np.asarray(X, np.float32)
    C = centres[~np.isnan(centres).any(axis=1)].astype(np.float32)
    if len(X) == 0:
        return np.zeros(0, np.float32)
    # |x - c|^2 = |x|^2 + min_c (|c|^2 - 2 x.c): one matrix product per block of rows, the
    # (rows, centres) block kept small enough to stay in cache (2x faster than one big array)
    minus_2ct = -2.0 * C.T
    c2 = (C * C).sum(axis=1)
    d2 = np.empty(len(X), np.float32)
    for i in range(0, len(X), _BLOCK):
        M = X[i:i + _BLOCK] @ minus_2ct
        M += c2
        M.min(axis=1, out=d2[i:i + _BLOCK])
    d2 += np.einsum("ij,ij->i", X, X)
    return np.sqrt(np.maximum(d2, 0.0, out=d2), out=d2)


_BLOCK = 4096


def envelope_score(X, labels, centres, radius) -> np.ndarray:
    """Distance to the nearest centre of each atom's class, in units of that class's radius.

    Parameters
    ----------
    X : array_like, shape (n, n_features)
    labels : array_like of int, shape (n,)
        Predicted class index of each row.
    centres, radius : ndarray
        From :func:`fit_envelopes`.

    Returns
    -------
    ndarray, float32, shape (n,)
        Above 1: outside the envelope of its class ("other").
    """
    X = np.asarray(X, np.float32)
    labels = np.asarray(labels)
    score = np.zeros(len(X), np.float32)
    classes = np.unique(labels)
    if len(classes) == 1:  # the common case of a chunk inside one crystal: no gather
        return nearest_centre_distance(X, centres[classes[0]]) / np.float32(max(float(radius[classes[0]]), 1e-12))
    for c in classes:
        rows = np.flatnonzero(labels == c)
        score[rows] = nearest_centre_distance(X[rows], centres[c]) / max(float(radius[c]), 1e-12)
    return score
