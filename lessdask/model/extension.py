"""Teaching a trained model a new structure class by generative sampling (paper Algorithm 1).

The original training data are not needed: for each known class the model keeps its
per-class feature means and spreads, and a Metropolis-Hastings / Gibbs sampler draws
synthetic feature vectors that the current model assigns to that class with probability at
least ``p_accept``. The class models are then refitted on n samples of every old class plus
n samples of the new class, as in the paper.
"""

from __future__ import annotations

import numpy as np

from lessdask.errors import InputError


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
    once per sweep, so consecutive samples are not near-copies of each other.

    Returns
    -------
    samples : ndarray, float32, shape (n, n_features)
    stats : dict
        ``acceptance`` (fraction of proposals accepted), ``resets``, ``proposals``.
    """
    rng = np.random.default_rng(seed)
    weight = np.asarray(model.class_mode_weight_[class_index], np.float64)
    live = np.flatnonzero(weight > 0)
    mode_of = live[rng.choice(live.size, size=chains, p=weight[live] / weight[live].sum())]
    start = np.asarray(model.class_modes_[class_index], np.float64)[mode_of]
    std = np.asarray(model.class_mode_std_[class_index], np.float64)[mode_of]
    d = start.shape[1]
    x = start.copy()
    rejected = np.zeros(chains, int)
    out = []
    accepted_total = proposals = resets = 0
    sweep = 0
    while sum(len(o) for o in out) < n:
        for j in np.flatnonzero((std > 0).any(axis=0)):
            moving = std[:, j] > 0
            prop = x.copy()
            prop[moving, j] = np.clip(rng.normal(x[moving, j], step_scale * std[moving, j]), 0.0, 1.0)
            p = model.predict_proba(prop.astype(np.float32))[:, class_index]
            ok = (p > p_accept) & moving
            proposals += int(moving.sum())
            accepted_total += int(ok.sum())
            x[ok] = prop[ok]
            rejected[ok] = 0
            rejected[moving & ~ok] += 1
            stuck = rejected >= max_rejections
            if stuck.any():
                x[stuck] = start[stuck]
                rejected[stuck] = 0
                resets += int(stuck.sum())
        sweep += 1
        if sweep > burn_in:
            # a chain counts only while the model still recognises its state
            good = model.predict_proba(x.astype(np.float32))[:, class_index] > p_accept
            out.append(x[good].copy())
        if sweep > burn_in + 100 * (n // chains + 1):
            raise InputError(f"sampling class {model.classes_[class_index]!r} accepts almost nothing "
                             f"at p_accept={p_accept}; lower p_accept")
    samples = np.vstack(out)[:n].astype(np.float32)
    return samples, {"acceptance": accepted_total / max(proposals, 1), "resets": resets, "proposals": proposals}


def _sample_task(model, c, n, p_accept, seed):
    return sample_class(model, c, n, p_accept=p_accept, seed=seed)


def extend_model(model, name: str, X_new, fraction: float = 0.02, n_per_class: int | None = None,
                 p_accept: float = 0.8, seed: int = 0, client=None, retrain_existing: bool = False,
                 return_info: bool = False):
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
        Samples per class, old and new (default: the number of new samples used).
    p_accept : float
        Acceptance threshold P_ac of the sampler (paper: 0.8).
    seed : int
        Seed of the subset choice and of the sampler (reproducible).
    client : distributed.Client, optional
        Sample the old classes in parallel on this Dask cluster.
    retrain_existing : bool
        False (default): keep the existing class models and add one new class model (a
        LightGBM regressor on the same inputs) trained on the (m+1)·n samples, so old
        classes keep their predictions wherever the new class does not claim an atom.
        True: refit every class model on the (m+1)·n samples, as the paper's Algorithm 1;
        measured here it costs the old classes about 2-3 points of held-out accuracy,
        because samples drawn where p > P_ac carry little of the old decision boundaries.
    return_info : bool
        Also return sampler statistics and timings.

    Returns
    -------
    LESSClassifier (and a dict with ``return_info``)
    """
    import time

    from sklearn.base import clone

    classes = list(map(str, model.classes_))
    if name in classes:
        raise InputError(f"the model already has a class named {name!r} (classes: {classes}); choose another name")
    X_new = np.asarray(X_new, np.float32)
    if X_new.ndim != 2 or X_new.shape[1] != model.n_features_in_:
        raise InputError(f"new data must have shape (n, {model.n_features_in_}), got {X_new.shape}")
    if not 0 < fraction <= 1:
        raise InputError(f"fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    k = max(2, int(round(fraction * len(X_new))))
    used = X_new[rng.choice(len(X_new), size=min(k, len(X_new)), replace=False)]
    n = int(n_per_class or len(used))
    t0 = time.perf_counter()
    seeds = [seed * 1000 + c for c in range(len(classes))]
    if client is not None:
        futures = client.map(_sample_task, [model] * len(classes), range(len(classes)), [n] * len(classes),
                             [p_accept] * len(classes), seeds, pure=False)
        results = client.gather(futures)
    else:
        results = [sample_class(model, c, n, p_accept=p_accept, seed=s) for c, s in enumerate(seeds)]
    t_sample = time.perf_counter() - t0
    if len(used) < n:
        used = used[rng.choice(len(used), size=n, replace=True)]
    X = np.vstack([r[0] for r in results] + [used[:n]])
    y = np.concatenate([[c] * n for c in classes] + [[name] * n])
    if retrain_existing:
        new = clone(model)
        t1 = time.perf_counter()
        new.fit(X, y)
        t_fit = time.perf_counter() - t1
        # carry forward what extension itself cannot re-estimate: the old classes' statistics
        order = list(map(str, new.classes_))
        for i, c in enumerate(order):
            if c in classes:
                j = classes.index(c)
                for attr in ("class_feature_mean_", "class_feature_std_", "class_modes_", "class_mode_std_",
                             "class_mode_weight_"):
                    getattr(new, attr)[i] = getattr(model, attr)[j]
    else:
        new, t_fit = _add_class_model(model, name, X, y, used)
    new.feature_settings_ = getattr(model, "feature_settings_", None)
    new.max_species_ = getattr(model, "max_species_", 2)
    info = {"new_samples_used": int(min(k, len(X_new))), "samples_per_class": n,
            "sampling_seconds": round(t_sample, 2), "fit_seconds": round(t_fit, 2),
            "acceptance": {c: round(r[1]["acceptance"], 3) for c, r in zip(classes, results)},
            "resets": {c: r[1]["resets"] for c, r in zip(classes, results)}}
    new.extra_ = {"extension": {"name": name, **{k_: v for k_, v in info.items() if k_ != "acceptance"}}}
    return (new, info) if return_info else new


#: Boosting rounds appended to each kept class model so that it learns to reject the new
#: class (continued training: the old trees stay, old predictions barely move).
UPDATE_ROUNDS = 10
UPDATE_LEARNING_RATE = 0.1
NEW_CLASS_PARAMS = {"n_estimators": 150, "num_leaves": 31, "learning_rate": 0.1}


def _add_class_model(model, name, X, y, X_class):
    """A copy of ``model`` with one more class model for ``name``, trained on the samples X, y.

    The kept class models get ``UPDATE_ROUNDS`` more boosting rounds on the same samples
    (continued training, not a refit), in which the new class counts as "not this class".
    """
    import copy
    import time

    import lightgbm as lgb

    from lessdask.model.stacking import _class_modes

    t = time.perf_counter()
    F = model.transform_level0(X)
    params = {"verbose": -1, "n_jobs": 1, "random_state": model.random_state,
              **model.spec_["mega_model"]["params"]}
    booster = lgb.LGBMRegressor(**{**params, **NEW_CLASS_PARAMS}).fit(F, (y == name).astype(np.float32)).booster_
    updated = []
    for c, old in zip(map(str, model.classes_), model.mega_models_):
        if UPDATE_ROUNDS:
            train = lgb.Dataset(F, (y == c).astype(np.float32), free_raw_data=False)
            upd = {"objective": "regression", "verbose": -1, "num_threads": 1, "learning_rate": UPDATE_LEARNING_RATE,
                   "num_leaves": 31, "seed": model.random_state or 0}
            old = lgb.train(upd, train, num_boost_round=UPDATE_ROUNDS, init_model=old, keep_training_booster=False)
        updated.append(old)
    new = copy.copy(model)
    new.mega_models_ = updated + [booster]
    new.classes_ = np.append(np.asarray(model.classes_, dtype=object), name).astype(str)
    modes, spread, weight = _class_modes(X_class, np.zeros(len(X_class), int), 1, model.random_state)
    new.class_modes_ = np.concatenate([model.class_modes_, modes])
    new.class_mode_std_ = np.concatenate([model.class_mode_std_, spread])
    new.class_mode_weight_ = np.concatenate([model.class_mode_weight_, weight])
    new.class_feature_mean_ = np.vstack([model.class_feature_mean_, X_class.mean(0)])
    new.class_feature_std_ = np.vstack([model.class_feature_std_, X_class.std(0)])
    new.class_count_ = np.append(model.class_count_, len(X_class))
    return new, time.perf_counter() - t


def load_new_class_features(data, name: str, settings=None) -> np.ndarray:
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
    """
    from pathlib import Path

    from lessdask.features import compute_features, species_codes
    from lessdask.trajectory import open_universe, species_of

    parts = []
    for item in data:
        p = Path(item)
        if p.suffix == ".nc":
            from lessdask.reference.dataset import load_reference

            ds = load_reference("all", path=p)
            sel = (ds.structure.values == name) & (ds.split.values == "train")
            if not sel.any():
                raise InputError(f"{p} has no training samples labelled {name!r}")
            parts.append(ds.features.values[sel])
        else:
            u = open_universe(p)
            codes = species_codes(species_of(u.atoms), u.atoms.n_atoms)
            for ts in u.trajectory:
                X, _ = compute_features(u.atoms.positions, ts.dimensions, codes, settings=settings,
                                        where=f"frame {ts.frame} of {p}")
                parts.append(X)
    if not parts:
        raise InputError("no data given for the new class")
    return np.vstack(parts).astype(np.float32)


def extend(model, name: str, data, output, fraction: float = 0.02, seed: int = 0,
           retrain_existing: bool = False, overwrite: bool = False, client=None) -> dict:
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

    Returns
    -------
    dict
        Output path, class list, samples used, timings, sampler acceptance.
    """
    from lessdask.model.files import load_model, save_model

    base = load_model(model)
    X = load_new_class_features(data, name, settings=base.feature_settings_)
    new, info = extend_model(base, name, X, fraction=fraction, seed=seed, client=client,
                             retrain_existing=retrain_existing, return_info=True)
    save_model(new, output, feature_settings=base.feature_settings_, overwrite=overwrite)
    return {"output": str(output), "classes": list(map(str, new.classes_)), **info}
