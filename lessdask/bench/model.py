"""``lessdask bench model``: inference speed of the fast and paper presets, single thread."""

from __future__ import annotations

import json
import os
import time

import numpy as np


def bench_model(n_atoms=1_000_000, paper_atoms=50_000, paper_train=30_000, json_path=None) -> dict:
    """Atoms per second per core of ``predict_proba`` for both presets.

    Both presets are trained here on the shipped reference data (same data, same split);
    the fast preset is timed on an ``n_atoms`` feature matrix, the paper preset on
    ``paper_atoms`` rows (its rate per atom is what is compared), both on one thread. The
    paper preset is fitted on a stratified ``paper_train``-atom subset of the training split
    (its single-thread fit on all of it takes over ten minutes); the fast preset on all of it.
    Held-out accuracy (val_config) of each is printed next to its speed. For the fast
    preset the envelope test that turns labels into "other" (``predict_labels`` after
    ``predict_proba``) is timed too, on the same rows and thread.
    """
    from threadpoolctl import threadpool_limits

    from lessdask.model import LESSClassifier
    from lessdask.reference.dataset import load_reference

    ds = load_reference("crystals")
    train = ds.split.values == "train"
    val = ds.split.values == "val_config"
    X, y = ds.features.values[train], ds.structure.values[train]
    rng = np.random.default_rng(0)
    big = ds.features.values[rng.integers(0, ds.sizes["sample"], n_atoms)]
    out = {"n_atoms": n_atoms, "cores": os.cpu_count()}
    from lessdask.model.stacking import _subsample

    sub = _subsample(y, paper_train, rng)
    for preset, rows, (Xf, yf) in (("fast", n_atoms, (X, y)), ("paper", paper_atoms, (X[sub], y[sub]))):
        t = time.perf_counter()
        m = LESSClassifier(preset=preset, n_jobs=1, prediction_threads=1).fit(Xf, yf)
        fit = time.perf_counter() - t
        acc = float(np.mean(m.predict(ds.features.values[val]) == ds.structure.values[val]))
        m.predict_proba(big[:1000])
        with threadpool_limits(1):  # the envelope distances are one BLAS matrix product
            t = time.perf_counter()
            P = m.predict_proba(big[:rows])
            dt = time.perf_counter() - t
            out[preset] = {"fit_seconds": round(fit, 1), "train_atoms": int(len(yf)), "timed_atoms": rows,
                           "predict_seconds": round(dt, 3), "atoms_per_second_per_core": round(rows / dt),
                           "val_config_accuracy": round(acc, 5)}
            if preset == "fast":
                t = time.perf_counter()
                labels = m.predict_labels(big[:rows], proba=P)
                de = time.perf_counter() - t
                out[preset].update({"envelope_seconds": round(de, 3),
                                    "other_fraction": round(float(np.mean(labels == -1)), 4),
                                    "atoms_per_second_per_core_with_other": round(rows / (dt + de))})
    out["speed_ratio_fast_vs_paper"] = round(out["fast"]["atoms_per_second_per_core"]
                                             / out["paper"]["atoms_per_second_per_core"], 1)
    out["accuracy_difference_points"] = round(100 * (out["fast"]["val_config_accuracy"]
                                                     - out["paper"]["val_config_accuracy"]), 3)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(out, f, indent=2)
    return out
