"""The measurements behind the README's model and feature choices, rerun in one command.

  python jobs/model_choices.py [sweep] [rounds] [insample] [extension]   (default: all)

* sweep: held-out accuracy of the fast preset for several (N, P) feature settings; features
  recomputed from the cached reference MD (needs ``lessdask reference build``'s
  ``reference.nc.work``; pass WORKDIR=... in the environment to point elsewhere).
* rounds: the fast preset's LightGBM at 150 rounds / lr 0.1 vs 25 rounds / lr 0.4 —
  held-out accuracy and single-thread inference speed.
* insample: accuracy of the default model on its own training frames per crystal temperature
  (shows the hot-crystal / liquid overlap).
* extension: graphite vs old-class accuracy as the continued boosting rounds of extension vary.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from lessdask.features import FeatureSettings
from lessdask.model import LESSClassifier, load_model
from lessdask.reference.dataset import build_reference, load_reference


def _acc(model, ds, split):
    k = ds.split.values == split
    return round(float(np.mean(model.predict(ds.features.values[k]) == ds.structure.values[k])), 4)


def sweep(workdir):
    for n, p in [(4, 1.3), (6, 1.25), (8, 1.25), (12, 1.2), (4, 1.5), (12, 1.4)]:
        out = f"/tmp/lessdask-sweep-{n}-{p}.nc"
        build_reference(out, workdir=workdir, settings=FeatureSettings(n_nearest=n, padding=p), overwrite=True,
                        progress=False)
        ds = load_reference("crystals", path=out)
        tr = ds.split.values == "train"
        m = LESSClassifier().fit(ds.features.values[tr], ds.structure.values[tr])
        print(f"N={n} P={p}: val_config {_acc(m, ds, 'val_config')}, val_temperature {_acc(m, ds, 'val_temperature')}")


def rounds():
    ds = load_reference("crystals")
    tr = ds.split.values == "train"
    big = np.tile(ds.features.values[ds.split.values == "val_config"], (3, 1))[:100_000]
    for ne, lr in [(150, 0.1), (25, 0.4)]:
        spec = {"base_models": [], "mega_model": {"name": "lightgbm",
                                                  "params": {"n_estimators": ne, "num_leaves": 31, "learning_rate": lr}}}
        m = LESSClassifier(preset=spec).fit(ds.features.values[tr], ds.structure.values[tr])
        t = time.perf_counter()
        m.predict_proba(big)
        rate = len(big) / (time.perf_counter() - t)
        print(f"{ne} rounds, lr {lr}: val_config {_acc(m, ds, 'val_config')}, "
              f"val_temperature {_acc(m, ds, 'val_temperature')}, {rate:,.0f} atoms/s (1 thread)")


def insample():
    m = load_model("default")
    ds = load_reference("crystals")
    cfg = ds.config_id.values
    for s in ("NaCl", "bcc", "fcc", "hcp"):
        for tag in ("0.5Tm", "0.7Tm", "0.8Tm"):
            k = np.char.startswith(cfg.astype(str), f"{s}-crystal-{tag}")
            print(f"{s} at {tag}: {np.mean(m.predict(ds.features.values[k]) == s):.4f} labelled {s}")
    k = np.char.startswith(cfg.astype(str), "NaCl-liquid")
    print(f"NaCl liquid: {np.mean(m.predict(ds.features.values[k]) == 'AM'):.4f} labelled AM")


def extension():
    import lessdask.model.extension as ext

    m = load_model("default")
    g, c = load_reference("graphite"), load_reference("crystals")
    tr = (g.structure.values == "graphite") & (g.split.values == "train")
    te = (g.structure.values == "graphite") & (g.split.values != "train")
    cv = c.split.values == "val_config"
    for r, lr in [(5, 0.1), (10, 0.1), (20, 0.1), (10, 0.2)]:
        ext.UPDATE_ROUNDS, ext.UPDATE_LEARNING_RATE = r, lr
        new = ext.extend_model(m, "graphite", g.features.values[tr])
        print(f"{r} rounds, lr {lr}: graphite {np.mean(new.predict(g.features.values[te]) == 'graphite'):.4f}, "
              f"old classes {np.mean(new.predict(c.features.values[cv]) == c.structure.values[cv]):.4f}")


if __name__ == "__main__":
    parts = sys.argv[1:] or ["sweep", "rounds", "insample", "extension"]
    for part in parts:
        print(f"== {part}")
        if part == "sweep":
            sweep(os.environ.get("WORKDIR", "reference.nc.work"))
        else:
            globals()[part]()
