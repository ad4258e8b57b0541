"""``lessdask bench model``: inference speed of the fast and paper presets, single thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

#: Run in a fresh process by :func:`worker_startup`: what a Dask worker does before its first task.
_STARTUP = """
import time, numpy as np
t0 = time.perf_counter()
from lessdask.model import load_model
m = load_model("default")
t1 = time.perf_counter()
X = np.random.default_rng(0).random((2000, m.n_features_in_), dtype=np.float32)
m.predict_labels(X, proba=m.predict_proba(X))
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def worker_startup(inference: str = "compiled", cache_dir=None) -> dict:
    """Seconds a fresh process takes to import lessdask and load the default model, then to label 2,000 rows.

    Parameters
    ----------
    inference : {"compiled", "booster"}
        The path timed (``LESSDASK_INFERENCE``).
    cache_dir : str, optional
        ``NUMBA_CACHE_DIR`` for the process; an empty directory times the first run on a machine
        (numba compiles), a used one a later start (numba loads its cache).

    Returns
    -------
    dict
        ``import_and_load_seconds`` and ``first_prediction_seconds``.
    """
    env = dict(os.environ, LESSDASK_INFERENCE=inference)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    out = subprocess.run([sys.executable, "-c", _STARTUP], env=env, capture_output=True, text=True, check=True)
    load, first = map(float, out.stdout.split()[-2:])
    return {"import_and_load_seconds": round(load, 3), "first_prediction_seconds": round(first, 3)}


def _median_time(fn, repeat):
    """Median wall and thread-CPU seconds of ``repeat`` calls, and the last result."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.thread_time()
        out = fn()
        cpus.append(time.thread_time() - c)
        walls.append(time.perf_counter() - w)
    return float(np.median(walls)), float(np.median(cpus)), out


def _inference_rates(m, X, repeat, inference) -> dict:
    """predict_proba, then predict_labels (the envelope test), on one thread; then both in one call
    (``predict_proba_and_labels``, float32 probabilities: what a classify task calls); medians of ``repeat``."""
    from lessdask.model.compiled import INFERENCE_ENV

    old = os.environ.get(INFERENCE_ENV)
    os.environ[INFERENCE_ENV] = inference
    try:
        m.predict_labels(X[:2000], proba=m.predict_proba(X[:2000]))  # compile / warm up
        dt, ct, P = _median_time(lambda: m.predict_proba(X), repeat)
        de, ce, labels = _median_time(lambda: m.predict_labels(X, proba=P), repeat)
        m.predict_proba_and_labels(X[:2000])
        d1, c1, _ = _median_time(lambda: m.predict_proba_and_labels(X), repeat)  # the pipeline's call
    finally:
        if old is None:
            os.environ.pop(INFERENCE_ENV, None)
        else:
            os.environ[INFERENCE_ENV] = old
    n = len(X)
    return {"predict_seconds": round(dt, 3), "envelope_seconds": round(de, 3),
            "atoms_per_second_per_core": round(n / dt),
            "atoms_per_second_per_core_with_other": round(n / (dt + de)),
            "cpu_atoms_per_second_with_other": round(n / (ct + ce)),
            "one_pass_seconds": round(d1, 3),
            "atoms_per_second_per_core_one_pass": round(n / d1),
            "cpu_atoms_per_second_one_pass": round(n / c1),
            "other_fraction": round(float(np.mean(labels == -1)), 4)}, P


def bench_model(n_atoms=1_000_000, paper_atoms=50_000, paper_train=30_000, repeat=3, json_path=None,
                startup=True) -> dict:
    """Atoms per second per core of ``predict_proba`` and the envelope test, single thread.

    Both presets are trained here on the shipped reference data (same data, same split);
    the fast preset is timed on ``n_atoms`` rows drawn at random from the reference features
    (every block of rows mixes classes: the envelope test's slow case), through the compiled
    kernel of :mod:`lessdask.model.compiled` and through ``Booster.predict`` (the two in
    the same run, medians of ``repeat``); the paper preset on ``paper_atoms`` rows (its rate
    per atom is what is compared). The paper preset is fitted on a stratified
    ``paper_train``-atom subset of the training split (its single-thread fit on all of it
    takes over ten minutes); the fast preset on all of it. Held-out accuracy (val_config) of
    each is printed next to its speed. Rates are wall-clock; ``cpu_atoms_per_second_with_other``
    divides by the thread's CPU time instead (the same on a quiet machine; on a shared one it
    is the figure that does not count other processes' time); ``*_one_pass`` times
    ``predict_proba_and_labels``, the one call a classify task makes (float32 probabilities
    and labels with "other", from the trees' pass). ``startup``: a fresh process
    importing lessdask, loading the default model and labelling 2,000 rows, with an empty
    numba cache (first run on a machine) and with the cache filled (every later worker).
    """
    from threadpoolctl import threadpool_limits

    from lessdask.model import LESSClassifier
    from lessdask.model.stacking import _subsample
    from lessdask.reference.dataset import load_reference

    ds = load_reference("crystals")
    train = ds.split.values == "train"
    val = ds.split.values == "val_config"
    X, y = ds.features.values[train], ds.structure.values[train]
    rng = np.random.default_rng(0)
    big = ds.features.values[rng.integers(0, ds.sizes["sample"], n_atoms)]
    out = {"n_atoms": n_atoms, "repeat": repeat, "cores": os.cpu_count()}
    sub = _subsample(y, paper_train, rng)
    for preset, rows, (Xf, yf) in (("fast", n_atoms, (X, y)), ("paper", paper_atoms, (X[sub], y[sub]))):
        t = time.perf_counter()
        m = LESSClassifier(preset=preset, n_jobs=1, prediction_threads=1).fit(Xf, yf)
        fit = time.perf_counter() - t
        acc = float(np.mean(m.predict(ds.features.values[val]) == ds.structure.values[val]))
        entry = {"fit_seconds": round(fit, 1), "train_atoms": int(len(yf)), "timed_atoms": rows,
                 "val_config_accuracy": round(acc, 5)}
        with threadpool_limits(1):  # the numpy envelope distances are one BLAS matrix product
            if preset == "fast":
                entry["compiled"], P = _inference_rates(m, big, repeat, "compiled")
                entry["booster"], P_ref = _inference_rates(m, big, repeat, "booster")
                entry["max_probability_difference"] = float(np.abs(P - P_ref).max())
                entry["atoms_per_second_per_core"] = entry["compiled"]["atoms_per_second_per_core"]
            else:
                entry["booster"], _ = _inference_rates(m, big[:rows], 1, "booster")
                entry["atoms_per_second_per_core"] = entry["booster"]["atoms_per_second_per_core"]
        out[preset] = entry
    fast = out["fast"]
    out["speedup_compiled_vs_booster"] = round(fast["compiled"]["atoms_per_second_per_core"]
                                               / fast["booster"]["atoms_per_second_per_core"], 2)
    out["speedup_compiled_vs_booster_with_other"] = round(
        fast["compiled"]["atoms_per_second_per_core_with_other"]
        / fast["booster"]["atoms_per_second_per_core_with_other"], 2)
    out["speed_ratio_fast_vs_paper"] = round(fast["atoms_per_second_per_core"]
                                             / out["paper"]["atoms_per_second_per_core"], 1)
    out["accuracy_difference_points"] = round(100 * (fast["val_config_accuracy"]
                                                     - out["paper"]["val_config_accuracy"]), 3)
    if startup:
        with tempfile.TemporaryDirectory() as cache:
            out["startup"] = {"compiled_empty_cache": worker_startup("compiled", cache),
                              "compiled_filled_cache": worker_startup("compiled", cache),
                              "booster": worker_startup("booster", cache)}
    if json_path:
        with open(json_path, "w") as f:
            json.dump(out, f, indent=2)
    return out
