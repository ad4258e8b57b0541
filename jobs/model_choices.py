"""The measurements behind the model and feature choices of docs/science.md, rerun in one command.

  python jobs/model_choices.py [averaging] [sweep] [rounds] [insample] [extension]   (default: all)

* averaging: held-out accuracy of the fast preset with the paper's twelve features, with the
  twelve plus their neighbour averages (the default), and with Lechner-Dellago averaging of
  the q_lm vectors instead; features recomputed from the cached reference MD (needs
  ``lessdask reference build``'s ``reference.nc.work``; WORKDIR=... points elsewhere).
* sweep: the same for several (N, P) with the paper's twelve features.
* rounds: the fast preset's LightGBM at 150 rounds / lr 0.1 vs 25 rounds / lr 0.4 —
  held-out accuracy and single-thread inference speed.
* insample: accuracy of the default model on its own training frames per crystal temperature
  (shows the hot-crystal / liquid overlap).
* extension: graphite vs old-class accuracy for the number of samples per known class, and with
  and without the new class's jittered copies and randomised trees.
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


def _fit_and_score(path, label):
    ds = load_reference("crystals", path=path)
    tr = ds.split.values == "train"
    m = LESSClassifier().fit(ds.features.values[tr], ds.structure.values[tr])
    print(f"{label}: val_config {_acc(m, ds, 'val_config')}, val_temperature {_acc(m, ds, 'val_temperature')}",
          flush=True)


def _lechner_dellago(positions, box, species, settings=None, **kw):
    """Twelve q_l, then twelve Lechner-Dellago averages (mean q_lm over atom + neighbours, then |.|)."""
    from scipy.spatial import cKDTree
    from scipy.special import sph_harm_y

    from lessdask.features import compute_features

    s = FeatureSettings(**{**settings.to_dict(), "average": False})
    X, n, rc = compute_features(positions, box, species, settings=s, return_cutoff=True)
    L = np.asarray(box[:3], float)
    if not np.allclose(box[3:], 90):
        raise ValueError("this comparison handles orthorhombic boxes only")
    p = np.mod(np.asarray(positions, float), L)
    p[p >= L] = 0
    nb = cKDTree(p, boxsize=L).query_ball_point(p, rc)
    ii = np.concatenate([np.full(len(x), i) for i, x in enumerate(nb)])
    jj = np.concatenate([np.asarray(x, int) for x in nb])
    keep = ii != jj
    ii, jj = ii[keep], jj[keep]
    d = p[jj] - p[ii]
    d -= L * np.round(d / L)
    r = np.linalg.norm(d, axis=1)
    theta, phi = np.arccos(np.clip(d[:, 2] / r, -1, 1)), np.arctan2(d[:, 1], d[:, 0])
    sp = np.unique(np.asarray(species).astype(str), return_inverse=True)[1]
    other = sp[ii] != sp[jj]
    cols = []
    for sel in (np.ones_like(other), other):
        cnt = np.bincount(ii[sel], minlength=len(p)).astype(float)
        for l in s.l_values:
            Y = sph_harm_y(l, np.arange(-l, l + 1)[None, :], theta[sel, None], phi[sel, None])
            q = np.zeros((len(p), 2 * l + 1), complex)
            np.add.at(q, ii[sel], Y)
            q /= np.maximum(cnt, 1)[:, None]
            qbar = q.copy()
            np.add.at(qbar, ii, q[jj])  # average over the atom and all its neighbours
            qbar /= (np.bincount(ii, minlength=len(p)) + 1)[:, None]
            cols.append(np.sqrt(4 * np.pi / (2 * l + 1) * (np.abs(qbar) ** 2).sum(1)))
    return np.hstack([X, np.stack(cols, 1)]).astype(np.float32), n


def averaging(workdir):
    import lessdask.reference.dataset as dataset

    for label, settings in (("paper's twelve", FeatureSettings(average=False)),
                            ("twelve + neighbour means (default)", FeatureSettings())):
        out = f"/tmp/lessdask-averaging-{settings.average}.nc"
        build_reference(out, structures=dataset.CRYSTALS, workdir=workdir, settings=settings, overwrite=True,
                        progress=False)
        _fit_and_score(out, label)
    out = "/tmp/lessdask-averaging-ld.nc"
    plain = dataset.compute_features
    dataset.compute_features = _lechner_dellago  # same file layout: 24 columns, the last 12 are LD averages
    try:
        build_reference(out, structures=dataset.CRYSTALS, workdir=workdir, settings=FeatureSettings(), overwrite=True,
                        progress=False)
    finally:
        dataset.compute_features = plain
    _fit_and_score(out, "twelve + Lechner-Dellago averages")


def sweep(workdir):
    for n, p in [(4, 1.3), (6, 1.25), (8, 1.25), (12, 1.2), (4, 1.5), (12, 1.4)]:
        out = f"/tmp/lessdask-sweep-{n}-{p}.nc"
        build_reference(out, workdir=workdir, settings=FeatureSettings(n_nearest=n, padding=p, average=False),
                        overwrite=True, progress=False)
        _fit_and_score(out, f"N={n} P={p}")


def rounds():
    ds = load_reference("crystals")
    tr = ds.split.values == "train"
    big = np.tile(ds.features.values[ds.split.values == "val_config"], (3, 1))[:100_000]
    for ne, lr in [(150, 0.1), (25, 0.4)]:
        params = {"n_estimators": ne, "num_leaves": 31, "learning_rate": lr}
        spec = {"base_models": [], "mega_model": {"name": "lightgbm", "params": params}}
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
    """The extension choices of docs/science.md: samples per known class, and what fixes hot graphite.

    Measured before the margin design (kept class models then got continued rounds), on the
    graphite data before the rebuild; ``extension_margin`` measures the current choices.
    """
    import lessdask.model.extension as ext

    m = load_model("default")
    g, c = load_reference("graphite"), load_reference("crystals")
    tr = (g.structure.values == "graphite") & (g.split.values == "train")
    te = (g.structure.values == "graphite") & (g.split.values != "train")
    cv = c.split.values == "val_config"
    before = np.mean(m.predict(c.features.values[cv]) == c.structure.values[cv])

    def run(label, fraction=0.02):
        new = ext.extend_model(m, "graphite", g.features.values[tr], fraction=fraction)
        old = np.mean(new.predict(c.features.values[cv]) == c.structure.values[cv])
        print(f"{label}: graphite {np.mean(new.predict(g.features.values[te]) == 'graphite'):.4f}, "
              f"old classes {old:.4f} ({100 * (old - before):+.2f} points)", flush=True)

    default_n, default_copies, default_params = ext.OLD_SAMPLES_PER_CLASS, ext.NEW_CLASS_COPIES, ext.NEW_CLASS_PARAMS
    plain = {k: v for k, v in default_params.items() if k not in ("feature_fraction", "extra_trees")}
    try:
        for n in (25, 50, 100, None):  # None: as many as new atoms used
            ext.OLD_SAMPLES_PER_CLASS = n
            run(f"{n or 'all'} samples per known class")
        ext.OLD_SAMPLES_PER_CLASS = default_n
        for label, copies, params, fraction in [("no copies, plain trees", 0, plain, 0.02),
                                                ("no copies, plain trees, 10 % of the data", 0, plain, 0.10),
                                                ("4 copies, plain trees", default_copies, plain, 0.02),
                                                ("4 copies, randomised trees (default)", default_copies, default_params,
                                                 0.02)]:
            ext.NEW_CLASS_COPIES, ext.NEW_CLASS_PARAMS = copies, params
            run(label, fraction)
    finally:
        ext.OLD_SAMPLES_PER_CLASS, ext.NEW_CLASS_COPIES = default_n, default_copies
        ext.NEW_CLASS_PARAMS = default_params


def extension_margin(seeds=range(5)):
    """The new class model's margin over the kept class models, and the samples of the claiming classes.

    Old classes' val_config change (points) and held-out graphite, mean and worst over seeds.
    """
    import lessdask.model.extension as ext

    m = load_model("default")
    g, c = load_reference("graphite"), load_reference("crystals")
    tr = (g.structure.values == "graphite") & (g.split.values == "train")
    te = (g.structure.values == "graphite") & (g.split.values != "train")
    cv = c.split.values == "val_config"
    Xc, yc = c.features.values[cv], c.structure.values[cv]
    before = np.mean(m.predict(Xc) == yc)
    defaults = ext.NEW_CLASS_MARGIN, ext.CLAIM_SAMPLES_PER_CLASS
    try:
        for margin in (0.5, 1.0, 1.5):
            for claim in (100, 1000):
                ext.NEW_CLASS_MARGIN, ext.CLAIM_SAMPLES_PER_CLASS = margin, claim
                loss, gr = [], []
                for seed in seeds:
                    new = ext.extend_model(m, "graphite", g.features.values[tr], fraction=0.02, seed=seed)
                    loss.append(100 * (before - np.mean(new.predict(Xc) == yc)))
                    gr.append(100 * np.mean(new.predict(g.features.values[te]) == "graphite"))
                print(f"margin {margin}, {claim} samples per claiming class: old classes -{np.mean(loss):.3f} "
                      f"points (worst -{max(loss):.3f}), graphite {np.mean(gr):.2f} % (worst {min(gr):.2f} %)",
                      flush=True)
    finally:
        ext.NEW_CLASS_MARGIN, ext.CLAIM_SAMPLES_PER_CLASS = defaults


if __name__ == "__main__":
    parts = sys.argv[1:] or ["averaging", "sweep", "rounds", "insample", "extension", "extension_margin"]
    for part in parts:
        print(f"== {part}")
        if part in ("averaging", "sweep"):
            globals()[part](os.environ.get("WORKDIR", "reference.nc.work"))
        else:
            globals()[part]()
