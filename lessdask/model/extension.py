"""Teaching a trained model a new structure class by generative sampling (paper Algorithm 1).

The original training data are not needed: for each known class the model keeps its
per-class feature means and spreads, and a Metropolis-Hastings / Gibbs sampler draws
synthetic feature vectors that the current model assigns to that class with probability at
least ``p_accept``. By default every kept class model stays exactly as it was and one model
for the new class is added, trained to outscore the kept ones on the new atoms by a margin
and to score 0 on the samples; ``retrain_existing=True`` refits every class model, as in
the paper.

Cost (measured with ``lessdask bench extension``): all chains of all classes are scored by
one model call per sampler step, the one LightGBM fit runs on one thread, and the extension
takes a few per cent of the CPU time of a full retrain.
"""

from __future__ import annotations

import logging

import numpy as np

from lessdask.errors import InputError
from lessdask.model.envelope import fit_envelope, temperature_widening
from lessdask.model.kmeans import class_modes
from lessdask.model.stacking import CLASS_ARRAYS

logger = logging.getLogger(__name__)


def sample_classes(model, class_indices, n: int, p_accept: float = 0.8, seeds=None, chains: int = 64,
                   max_rejections: int = 50, burn_in: int = 5, step_scale: float = 1.0):
    """Synthetic feature vectors of several classes at once (Algorithm 1, vectorised).

    Every class runs its own ``chains`` chains with its own random generator
    (``seeds[k]``), exactly as :func:`sample_class` does for one class, but the proposals of
    all chains of all classes are scored by one model call per step. Each class therefore
    gets the same samples as it would alone, whichever other classes share the batch.

    Returns
    -------
    list of (samples, stats), one per entry of ``class_indices`` (see :func:`sample_class`).
    """
    class_indices = [int(c) for c in class_indices]
    n_cls = len(class_indices)
    seeds = list(range(n_cls)) if seeds is None else list(seeds)
    if len(seeds) != n_cls:
        raise InputError(f"need one seed per class: {n_cls} classes, {len(seeds)} seeds")
    if n_cls == 0:
        return []
    proba = model.predict_proba_unchecked
    rngs = [np.random.default_rng(s) for s in seeds]
    start, std = [], []
    for c, rng in zip(class_indices, rngs):
        weight = np.asarray(model.class_mode_weight_[c], np.float64)
        live = np.flatnonzero(weight > 0)
        mode_of = live[rng.choice(live.size, size=chains, p=weight[live] / weight[live].sum())]
        start.append(np.asarray(model.class_modes_[c], np.float64)[mode_of])
        std.append(np.asarray(model.class_mode_std_[c], np.float64)[mode_of])
    start, spread = np.vstack(start), np.vstack(std)
    std = step_scale * spread
    d = start.shape[1]
    rows = [np.arange(k * chains, (k + 1) * chains) for k in range(n_cls)]
    target = np.repeat(class_indices, chains)  # the class of every chain
    moves = [(spread[r] > 0).any(axis=0) for r in rows]  # features a class's chains propose at all
    x = start.copy()
    p_start = proba(start.astype(np.float32))[np.arange(len(x)), target]
    px = p_start.copy()  # the model's probability of each chain's current state
    rejected = np.zeros(len(x), int)
    out = [[] for _ in range(n_cls)]
    have = np.zeros(n_cls, int)
    accepted = np.zeros(n_cls, np.int64)
    proposals = np.zeros(n_cls, np.int64)
    resets = np.zeros(n_cls, np.int64)
    active = list(range(n_cls))
    sweep = 0
    while active:
        for j in range(d):
            ks = [k for k in active if moves[k][j]]
            if not ks:
                continue
            idx = [rows[k][spread[rows[k], j] > 0] for k in ks]
            values = [rngs[k].normal(x[i, j], std[i, j]) for k, i in zip(ks, idx)]
            sizes = [len(i) for i in idx]
            idx = np.concatenate(idx)
            prop = x[idx]
            prop[:, j] = np.clip(np.concatenate(values), 0.0, 1.0)
            p = proba(prop.astype(np.float32))[np.arange(len(idx)), target[idx]]
            ok = p > p_accept
            x[idx[ok]] = prop[ok]
            px[idx[ok]] = p[ok]
            rejected[idx[ok]] = 0
            rejected[idx[~ok]] += 1
            stuck = idx[rejected[idx] >= max_rejections]
            if stuck.size:
                x[stuck] = start[stuck]
                px[stuck] = p_start[stuck]
                rejected[stuck] = 0
                np.add.at(resets, stuck // chains, 1)  # rows are blocks of ``chains`` per class
            bounds = np.cumsum([0] + sizes)
            for k, a, b in zip(ks, bounds[:-1], bounds[1:]):
                proposals[k] += b - a
                accepted[k] += int(ok[a:b].sum())
        sweep += 1
        if sweep > burn_in:
            for k in active:
                # a chain counts only while the model still recognises its state
                good = rows[k][px[rows[k]] > p_accept]
                out[k].append(x[good])
                have[k] += good.size
        for k in active:
            if have[k] < n and sweep > burn_in + 100 * (n // chains + 1):
                raise InputError(f"sampling class {model.classes_[class_indices[k]]!r} accepts almost nothing "
                                 f"at p_accept={p_accept}; lower p_accept")
        active = [k for k in active if have[k] < n]
    return [(np.vstack(out[k])[:n].astype(np.float32),
             {"acceptance": float(accepted[k]) / max(int(proposals[k]), 1), "resets": int(resets[k]),
              "proposals": int(proposals[k])}) for k in range(n_cls)]


def sample_class(model, class_index: int, n: int, p_accept: float = 0.8, seed: int = 0, chains: int = 64,
                 max_rejections: int = 50, burn_in: int = 5, step_scale: float = 1.0):
    """Synthetic feature vectors of one class of a fitted model (Algorithm 1).

    Each of ``chains`` parallel chains starts at a mean of the class — the paper uses the
    class mean; lessdask keeps up to four k-means centres per class (``class_modes_``)
    because the mean of a two-site class such as CaF2 lies between its sites, where the
    model does not recognise the class. At every step one feature (in turn, Gibbs-style) is
    proposed from a normal centred on its current value with the spread of the chain's mode;
    the proposal is accepted when the model's probability for the class exceeds
    ``p_accept``. A chain rejected ``max_rejections`` times in a row falls back to its mean.
    After ``burn_in`` sweeps (one proposal per feature), every chain's state is recorded
    once per sweep, so consecutive samples are not near-copies of each other. All chains
    are advanced together: one model call scores the proposals of every chain.

    Returns
    -------
    samples : ndarray, float32, shape (n, n_features)
    stats : dict
        ``acceptance`` (fraction of proposals accepted), ``resets``, ``proposals``.
    """
    return sample_classes(model, [class_index], n, p_accept=p_accept, seeds=[seed], chains=chains,
                          max_rejections=max_rejections, burn_in=burn_in, step_scale=step_scale)[0]


# ---------------------------------------------------------------- extension settings
# Chosen by sweeps over seeds, extending the default model with graphite from 2 % of its
# reference data; what each choice bought is measured in docs/science.md ("Adding a class",
# ``python jobs/model_choices.py extension extension_margin``). Module attributes: change them for experiments.

#: Sampler settings :func:`extend_model` uses (see :func:`sample_classes`). Chains start at
#: the class's k-means centres, states the model already assigns to the class, so one
#: burn-in sweep suffices; 50 chains give 100 samples in three sweeps.
SAMPLER = {"chains": 50, "burn_in": 1}
#: Synthetic samples per old class, at most (fewer when fewer new samples are used): the
#: new class model learns to score 0 on them. The sampler's cost is proportional.
OLD_SAMPLES_PER_CLASS = 100
#: A kept class "claims" the new class if its model scores some new atom above this.
CLAIM_SCORE = 0.5
#: Synthetic samples of each claiming class (AM and DC for graphite): the new class model
#: must learn where the claiming class ends, and a broad class (AM: liquids and glasses of
#: several materials) needs more than 100 samples to show it. With 100 the new class model
#: took Ge and Si glass atoms (old classes -0.60 points on average over 5 seeds, -1.14 at
#: worst, against -0.05 / -0.07 with 1000; ``python jobs/model_choices.py extension_margin``).
CLAIM_SAMPLES_PER_CLASS = 1000
#: Smoothed bootstrap of the new class: every new atom used also enters training as this
#: many copies with Gaussian noise of ``NEW_CLASS_BANDWIDTH`` times the class's spread per
#: feature, scaled by the atom's distance to its ``NEW_CLASS_NEIGHBOURS``-th neighbour
#: relative to the median (atoms in the sparse tails of a 2 % subset spread further).
#: Features without spread in the class (e.g. other-species features of a monatomic
#: class) stay exact. 0 copies: the new atoms only.
NEW_CLASS_COPIES = 4
NEW_CLASS_BANDWIDTH = 1.0
NEW_CLASS_NEIGHBOURS = 5
#: The new class model's target on a new atom (and its smoothed copies): the highest score
#: any kept class model gives it, plus this margin; on the old classes' samples: 0. The kept
#: class models are not touched (continued boosting rounds that taught them to reject the
#: new class lowered their scores on unsampled atoms of their own, e.g. AM on Ge glass: the
#: old classes lost 0.92 points), so the new class wins only where its model outscores them.
#: Margin 0.5: old classes -0.02 points but graphite 99.5 % and, taught at one temperature,
#: 95-99 % at 2.33 times it; 1.5: -0.14 points (5 seeds each).
NEW_CLASS_MARGIN = 1.0
#: Tree settings of the new class model: each tree sees half of the features and draws its
#: thresholds at random (extra trees), so its claim rests on many features and still holds
#: for new-class atoms outside the range of the few used (hot graphite atoms far out in
#: q3/q6, which plain trees left to DC).
NEW_CLASS_PARAMS = {"n_estimators": 50, "num_leaves": 31, "learning_rate": 0.3, "feature_fraction": 0.5,
                    "extra_trees": True}


def _smoothed_bootstrap(X, copies, bandwidth, neighbours, rng):
    """``X`` and ``copies`` noisy copies of it (float32, features clipped to [0, 1])."""
    X = np.asarray(X, np.float32)
    if copies <= 0 or len(X) < 2:
        return X
    sd = X.std(axis=0).astype(np.float64)
    on = sd > 0
    if not on.any():
        return X
    from scipy.spatial import cKDTree

    Z = (X[:, on] - X[:, on].mean(axis=0)) / sd[on]
    k = min(int(neighbours), len(X) - 1)
    r = cKDTree(Z).query(Z, k=k + 1)[0][:, -1]  # the first neighbour is the atom itself
    mid = np.median(r)
    width = bandwidth * (r / mid if mid > 0 else np.ones_like(r))
    scale = width[:, None] * np.where(on, sd, 0.0)[None, :]
    noisy = [np.clip(X + rng.normal(size=X.shape) * scale, 0.0, 1.0) for _ in range(int(copies))]
    return np.vstack([X, *noisy]).astype(np.float32)


def _lgb_params(model, extra):
    """LightGBM parameters: the model's mega-model settings, then ``extra``; one thread, seeded."""
    params = {k: v for k, v in model.spec_["mega_model"]["params"].items()
              if k not in ("n_jobs", "num_threads", "random_state", "seed", "verbose", "verbosity")}
    params = {"objective": "regression", **params, **extra}
    rounds = int(params.pop("n_estimators", params.pop("num_iterations", 100)))
    return {**params, "verbose": -1, "num_threads": 1, "seed": model.random_state or 0}, rounds


def _add_class_model(model, name, X, y, X_class, seed, widening=1.0):
    """A copy of ``model`` with one more class model for ``name``, trained on the samples X, y.

    The kept class models are kept as they are (the same boosters). The new class model (a
    LightGBM regressor on one thread, as every class model of a full retrain) learns, on a
    new-class row, the highest kept class score there plus ``NEW_CLASS_MARGIN``, and 0 on
    the old classes' samples. ``X_class``: the real new-class atoms, for the class
    statistics kept for later extension and the new class's envelope (its radius multiplied
    by ``widening``).

    Returns the new model and a dict with the phase timings.
    """
    import time

    import lightgbm as lgb

    info = {}
    t = time.perf_counter()
    F = model.transform_level0(X) if getattr(model, "base_models_", None) else X  # fast preset: F is X
    is_new = y == name
    label = np.zeros(len(y), np.float32)
    if is_new.any():
        kept = np.column_stack([b.predict(F[is_new], num_threads=1) for b in model.mega_models_]).max(axis=1)
        label[is_new] = np.maximum(kept, 0.0) + NEW_CLASS_MARGIN
    train = lgb.Dataset(F, label=label, params={"verbose": -1, "feature_pre_filter": False})
    params, rounds = _lgb_params(model, NEW_CLASS_PARAMS)
    booster = lgb.train(params, train, num_boost_round=rounds)
    info["new_class_model_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    modes, spread, weight = class_modes(X_class, np.zeros(len(X_class), int), 1, model.random_state)
    arrays = {"class_feature_mean_": X_class.mean(0), "class_feature_std_": X_class.std(0),
              "class_count_": len(X_class), "class_modes_": modes, "class_mode_std_": spread,
              "class_mode_weight_": weight}
    envelope = None
    if model.has_envelopes:  # fitted on the real new atoms: synthetic samples say nothing about where a class ends
        k = model.envelope_centres_.shape[1]
        centres, radius = fit_envelope(X_class, n_centres=k, quantile=model.envelope_quantile, random_state=seed)
        envelope = (centres, radius * float(widening))
    new = model.with_class(name, list(model.mega_models_) + [booster], arrays, envelope)
    info["packing_seconds"] = time.perf_counter() - t
    return new, info


def _envelopes_by_name(new, model, X_class, seed, widening=1.0):
    """Envelopes of a refitted model ``new`` (classes in its own order): the old classes' kept,
    the new class's fitted on its real atoms ``X_class`` (radius times ``widening``). A model
    without envelopes gives one without."""
    new.envelope_quantile = model.envelope_quantile
    if not model.has_envelopes:
        new.envelope_centres_ = new.envelope_radius_ = None
        return
    old, order = list(map(str, model.classes_)), list(map(str, new.classes_))
    k, d = model.envelope_centres_.shape[1:]
    centres = np.full((len(order), k, d), np.nan, np.float32)
    radius = np.zeros(len(order), np.float32)
    for i, c in enumerate(order):
        if c in old:
            centres[i], radius[i] = model.envelope_centres_[old.index(c)], model.envelope_radius_[old.index(c)]
        else:
            cc, r = fit_envelope(X_class, n_centres=k, quantile=model.envelope_quantile, random_state=seed)
            centres[i, :len(cc)], radius[i] = cc, r * float(widening)
    new.envelope_centres_, new.envelope_radius_ = centres, radius


def _sample_task(model, c, n, p_accept, seed, sampler=None):
    return sample_class(model, c, n, p_accept=p_accept, seed=seed, **(sampler or {}))


def extend_model(model, name: str, X_new, fraction: float = 0.02, n_per_class: int | None = None,
                 p_accept: float = 0.8, seed: int = 0, client=None, retrain_existing: bool = False,
                 return_info: bool = False, temperatures=None, envelope_widening: float | None = None):
    """A model with one more class, taught from a small fraction of new data.

    Parameters
    ----------
    model : LESSClassifier
        A fitted model (e.g. from :func:`lessdask.model.load_model`).
    name : str
        The new class name; must not exist yet.
    X_new : array_like, shape (n, n_features)
        Features of atoms of the new class.
    fraction : float
        Fraction of ``X_new`` used (paper: 2 %).
    n_per_class : int, optional
        Samples per class, old and new. Default: every new atom used, and
        ``min(OLD_SAMPLES_PER_CLASS, new atoms used)`` synthetic samples per old class,
        ``CLAIM_SAMPLES_PER_CLASS`` for the old classes that claim new atoms (with
        ``retrain_existing``: as many as new atoms used for every class, as the paper).
    p_accept : float
        Acceptance threshold P_ac of the sampler (paper: 0.8).
    seed : int
        Seed of the subset choice, of the sampler and of the fits (reproducible).
    client : distributed.Client, optional
        Sample the old classes in parallel on this Dask cluster (the same samples as without).
    retrain_existing : bool
        False (default): keep the existing class models unchanged and add one new class
        model (a LightGBM regressor on the same inputs) trained to outscore them on the new
        atoms by ``NEW_CLASS_MARGIN`` and to score 0 on the old classes' samples, so old
        classes keep their predictions wherever the new class model does not outscore
        them. The new atoms also enter as a smoothed bootstrap (``NEW_CLASS_COPIES``).
        True: refit every class model on n samples of every class, as the paper's
        Algorithm 1; it costs the old classes held-out accuracy (``lessdask bench
        extension``), because samples drawn where p > P_ac carry little of the old
        decision boundaries.
    return_info : bool
        Also return sampler statistics and timings.
    temperatures : array_like of float, optional
        Temperature (K) of each row of ``X_new`` (NaN where unknown). The new class's
        envelope is fitted on the atoms used; if they come from one temperature (or
        unknown ones), it is widened so that it still holds the class at twice that
        temperature (:func:`lessdask.model.envelope.temperature_widening`); the returned
        info says which (``envelope_note``).
    envelope_widening : float, optional
        Use this widening instead (1: the envelope exactly as fitted).

    Returns
    -------
    LESSClassifier (and a dict with ``return_info``)
    """
    import time

    classes = list(map(str, model.classes_))
    if name in classes:
        raise InputError(f"the model already has a class named {name!r} (classes: {classes}); choose another name")
    X_new = np.asarray(X_new, np.float32)
    if X_new.ndim != 2 or X_new.shape[1] != model.n_features_in_:
        raise InputError(f"new data must have shape (n, {model.n_features_in_}), got {X_new.shape}")
    if not 0 < fraction <= 1:
        raise InputError(f"fraction must be in (0, 1], got {fraction}")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    k = max(2, int(round(fraction * len(X_new))))
    chosen = rng.choice(len(X_new), size=min(k, len(X_new)), replace=False)
    used = X_new[chosen]
    if temperatures is not None:
        temperatures = np.asarray(temperatures, np.float64).ravel()
        if temperatures.shape != (len(X_new),):
            raise InputError(f"temperatures must give one value per row of the new data ({len(X_new)}), "
                             f"got {temperatures.shape[0]}")
        temperatures = temperatures[chosen]
    widening, note = temperature_widening(temperatures)
    if envelope_widening is not None:
        if not envelope_widening >= 1.0:
            raise InputError(f"envelope_widening must be >= 1, got {envelope_widening!r}")
        widening = float(envelope_widening)
        note = f"the new class's envelope is widened by {widening:g} as asked"
    if not model.has_envelopes:
        note = "the model has no envelopes"
    n = int(n_per_class or len(used))
    n_old = int(n_per_class or (n if retrain_existing else min(n, OLD_SAMPLES_PER_CLASS or n)))
    seeds = [seed * 1000 + c for c in range(len(classes))]
    claiming = []
    counts = [n_old] * len(classes)
    if not retrain_existing and n_per_class is None:
        claim = model.class_scores(used).max(axis=0)  # each kept class's highest score on a new atom
        claiming = [c for c, s in zip(classes, claim) if s > CLAIM_SCORE]
        counts = [max(n_old, int(CLAIM_SAMPLES_PER_CLASS or 0)) if c in claiming else n_old for c in classes]
    if client is not None:
        futures = client.map(_sample_task, [model] * len(classes), range(len(classes)), counts,
                             [p_accept] * len(classes), seeds, [SAMPLER] * len(classes), pure=False)
        results = client.gather(futures)
    else:  # one batch per sample count (a class's samples do not depend on the batch it is in)
        results = [None] * len(classes)
        for count in sorted(set(counts)):
            batch = [i for i, n_i in enumerate(counts) if n_i == count]
            for i, r in zip(batch, sample_classes(model, batch, count, p_accept=p_accept,
                                                  seeds=[seeds[i] for i in batch], **SAMPLER)):
                results[i] = r
    t_sample = time.perf_counter() - t0
    t1 = time.perf_counter()
    if len(used) < n:
        used = used[rng.choice(len(used), size=n, replace=True)]
    if retrain_existing:
        X_cls = used[:n]
    else:
        X_cls = _smoothed_bootstrap(used[:n], NEW_CLASS_COPIES, NEW_CLASS_BANDWIDTH, NEW_CLASS_NEIGHBOURS, rng)
    X = np.vstack([r[0] for r in results] + [X_cls])
    y = np.concatenate([[c] * len(r[0]) for c, r in zip(classes, results)] + [[name] * len(X_cls)])
    if retrain_existing:
        from sklearn.base import clone

        new = clone(model).set_params(envelope_quantile=None)  # envelopes come from real atoms, below
        new.fit(X, y)
        # carry forward what extension itself cannot re-estimate: the old classes' statistics
        order = list(map(str, new.classes_))
        for i, c in enumerate(order):
            if c in classes:
                for attr in CLASS_ARRAYS:
                    if attr != "class_count_":
                        getattr(new, attr)[i] = getattr(model, attr)[classes.index(c)]
        _envelopes_by_name(new, model, used, seed, widening)
        new.feature_settings_ = getattr(model, "feature_settings_", None)
        new.max_species_ = getattr(model, "max_species_", 2)
        phases = {}
    else:
        new, phases = _add_class_model(model, name, X, y, used, seed, widening)
    t_fit = time.perf_counter() - t1
    info = {"new_samples_used": int(min(k, len(X_new))), "samples_per_class": n, "samples_per_old_class": n_old,
            "claiming_classes": claiming, "samples_per_claiming_class": max(counts) if claiming else n_old,
            "new_class_samples_trained_on": int(len(X_cls)), "samples_trained_on": int(len(y)),
            "sampling_seconds": round(t_sample, 3), "fit_seconds": round(t_fit, 3),
            **{k_: (round(v, 3) if isinstance(v, float) else v) for k_, v in phases.items()},
            "acceptance": {c: round(r[1]["acceptance"], 3) for c, r in zip(classes, results)},
            "resets": {c: r[1]["resets"] for c, r in zip(classes, results)},
            "envelope_widening": round(widening, 3), "envelope_note": note}
    new.extra_ = {"extension": {"name": name, **{k_: v for k_, v in info.items() if k_ != "acceptance"}}}
    return (new, info) if return_info else new


def load_new_class_features(data, name: str, settings=None, temperatures=None, return_temperatures: bool = False):
    """Features of the new class from files: a reference data set or trajectories.

    Parameters
    ----------
    data : sequence of str or Path
        NetCDF reference sets written by ``lessdask reference build`` (the samples labelled
        ``name`` are used), or trajectory files lessdask reads (every atom of every frame is
        taken to be of the new class).
    name : str
        The new class.
    settings : FeatureSettings, optional
        Feature settings of the model being extended (trajectories are featurised with them).
    temperatures : sequence of float or None, optional
        Temperature (K) of each trajectory in ``data``, in order (reference sets carry their
        own; their entries are ignored). None: unknown.
    return_temperatures : bool
        Also return the temperature of each row (NaN where unknown).

    Returns
    -------
    X : ndarray, float32, shape (n, n_features)
    temperatures : ndarray, float64, shape (n,)
        Only with ``return_temperatures``.
    """
    from pathlib import Path

    from lessdask.features import compute_features, species_codes
    from lessdask.trajectory import open_universe, read_frame, species_of

    data = list(data)
    if temperatures is not None and len(temperatures) != len(data):
        raise InputError(f"give one temperature per data file: {len(data)} files, {len(temperatures)} temperatures")
    parts, temps = [], []
    for i, item in enumerate(data):
        p = Path(item)
        if p.suffix == ".nc":
            from lessdask.reference.dataset import load_reference

            ds = load_reference("all", path=p)
            sel = (ds.structure.values == name) & (ds.split.values == "train")
            if not sel.any():
                raise InputError(f"{p} has no training samples labelled {name!r}")
            parts.append(ds.features.values[sel])
            temps.append(ds.temperature.values[sel].astype(np.float64))
        else:
            t = np.nan if temperatures is None or temperatures[i] is None else float(temperatures[i])
            u = open_universe(p)
            codes = species_codes(species_of(u.atoms), u.atoms.n_atoms)
            for frame in range(u.trajectory.n_frames):
                pos, box, _ = read_frame(u, frame, where=str(p))
                X, _ = compute_features(pos, box, codes, settings=settings, where=f"frame {frame} of {p}")
                parts.append(X)
                temps.append(np.full(len(X), t))
    if not parts:
        raise InputError("no data given for the new class")
    X = np.vstack(parts).astype(np.float32)
    return (X, np.concatenate(temps)) if return_temperatures else X


def extend(model, name: str, data, output, fraction: float = 0.02, seed: int = 0,
           retrain_existing: bool = False, overwrite: bool = False, client=None, temperatures=None) -> dict:
    """Extend a model file with a new class from data files and save the result.

    Parameters
    ----------
    model : str or Path
        Model file, or ``"default"``.
    name : str
        New class name.
    data : sequence of str or Path
        See :func:`load_new_class_features`.
    output : str or Path
        New model file.
    fraction, seed, retrain_existing, client
        See :func:`extend_model`.
    overwrite : bool
        Replace an existing output file.
    temperatures : sequence of float, optional
        Temperature (K) of each trajectory in ``data`` (see :func:`load_new_class_features`):
        with data at one temperature the new class's envelope is widened to hold it at twice
        that temperature, and the result says so (``envelope_note``).

    Returns
    -------
    dict
        Output path, class list, samples used, timings, sampler acceptance, the envelope
        widening and a note on the temperatures the data covered.
    """
    from lessdask.model.files import load_model, save_model

    base = load_model(model)
    X, T = load_new_class_features(data, name, settings=base.feature_settings_, temperatures=temperatures,
                                   return_temperatures=True)
    new, info = extend_model(base, name, X, fraction=fraction, seed=seed, client=client,
                             retrain_existing=retrain_existing, return_info=True, temperatures=T)
    if info["envelope_widening"] > 1.0:
        logger.warning("%s", info["envelope_note"])
    save_model(new, output, feature_settings=base.feature_settings_, overwrite=overwrite)
    return {"output": str(output), "classes": list(map(str, new.classes_)), **info}
