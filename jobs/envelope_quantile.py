"""Trade-off of the envelope quantile: boundary atoms called "other" vs crystal atoms called "other".

For each quantile the class envelopes of the default model are refitted on the shipped
reference data (training split, as ``lessdask train`` does; the LightGBM class models, and
so the most probable class of every atom, are unchanged), and the share of atoms labelled
"other" is measured on

* the two held-out reference sets (val_config, val_temperature at 0.7 Tm);
* the Cu polycrystal test case: grain interiors, grain boundaries, free surfaces;
* the Cu bar melting test case: the crystal ahead of the front (z from the front + 10 Å to
  140 Å, about 1,000-1,250 K, i.e. 0.8-1.0 of the potential's melting point).

The test cases must have run first (their work directories hold the positions):
``python jobs/testcase_cu_polycrystal.py && python jobs/testcase_cu_bar_melting.py``.

``--compare-centres`` also measures how the envelope's form matters: the share of
polycrystal atoms outside the fcc envelope (99.5 % radius) with 32, 64, 128 or 512 k-means
centres, and with the distance to the 5th nearest of all fcc training atoms instead.

Run: python jobs/envelope_quantile.py [--quantiles 0.99,0.995,0.997,0.999] [--compare-centres] [--json FILE]
(about 1 minute)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CACHE = Path.home() / ".cache" / "lessdask" / "testcases"


def _features_of(store: Path, frames, pbc: bool):
    """Features of every atom of the given frames, from the positions a results store kept."""
    from lessdask.analysis import open_results
    from lessdask.features import compute_features

    ds = open_results(store)
    out = []
    for f in frames:
        pos = np.asarray(ds["position"].isel(frame=f).values, np.float64)
        box = np.asarray(ds["dimensions"].isel(frame=f).values) if pbc else None
        out.append((pos, compute_features(pos, box)[0]))
    return out


def _labels(model, X):
    return np.argmax(model.predict_proba(X), axis=1)


def _compare_centres(X, y, split, X_poly, masks, quantile=0.995):
    """Share of polycrystal atoms outside the fcc envelope (whatever their class), per region, for
    k-means envelopes of several sizes and for the distance to the 5th nearest fcc training atom;
    radius: the ``quantile`` of the held-out (val) fcc atoms' distances."""
    from scipy.spatial import cKDTree
    from sklearn.cluster import KMeans

    from lessdask.model.envelope import nearest_centre_distance

    fit, val = X[(split == "train") & (y == "fcc")], X[(split != "train") & (y == "fcc")]
    tree = cKDTree(fit)
    forms = {f"kmeans{k}": KMeans(k, n_init=1, random_state=0).fit(fit).cluster_centers_.astype(np.float32)
             for k in (32, 64, 128, 512)}
    forms["5th_neighbour"] = None

    def distance(name, A):
        return tree.query(A, 5)[0][:, -1] if forms[name] is None else nearest_centre_distance(A, forms[name])

    out = {}
    for name in forms:
        outside = distance(name, X_poly) > np.quantile(distance(name, val), quantile)
        out[name] = {r: float(outside[m].mean()) for r, m in masks.items()}
        print(name, " ".join(f"{r} {v:.3f}" for r, v in out[name].items()), flush=True)
    return out


def main(argv=None):
    from lessdask.model import load_model
    from lessdask.model.envelope import envelope_score, fit_envelopes
    from lessdask.reference.dataset import load_reference

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quantiles", default="0.99,0.995,0.997,0.999")
    ap.add_argument("--json", default=str(ROOT / "docs" / "envelope_quantile.json"))
    ap.add_argument("--compare-centres", action="store_true",
                    help="also compare k-means envelopes of 32-512 centres with the 5th-nearest-neighbour "
                         "distance to all fcc training atoms (last polycrystal frame)")
    args = ap.parse_args(argv)
    quantiles = [float(q) for q in args.quantiles.split(",")]

    model = load_model("default")
    classes = list(map(str, model.classes_))
    ref = load_reference("crystals")
    split, y = ref.split.values, ref.structure.values
    X = ref.features.values
    train = split == "train"
    y_enc = np.array([classes.index(c) for c in y[train]])
    held = {s: X[split == s] for s in ("val_config", "val_temperature")}

    from lessdask.reference.testcases import build_polycrystal, region_masks

    poly_store = CACHE / "cu_polycrystal" / "polycrystal.zarr"
    bar_store = CACHE / "cu_bar_melting" / "cu_bar.zarr"
    for s in (poly_store, bar_store):
        if not s.exists():
            sys.exit(f"{s} not found: run jobs/testcase_cu_polycrystal.py and jobs/testcase_cu_bar_melting.py first")
    masks = region_masks(build_polycrystal())
    poly = _features_of(poly_store, range(5), pbc=False)
    bar_numbers = json.loads((ROOT / "docs" / "testcases" / "cu_bar_melting" / "numbers.json").read_text())
    fronts = bar_numbers["front_position_A"]
    bar_frames = [f for f in (10, 20, 30) if f < len(fronts) and fronts[f] is not None]
    bar = _features_of(bar_store, bar_frames, pbc=True)

    # the most probable class of every atom does not depend on the quantile: once per data set
    sets = {s: (Xs, _labels(model, Xs), None) for s, Xs in held.items()}
    for f, (_, Xf) in enumerate(poly):
        sets[f"poly{f}"] = (Xf, _labels(model, Xf), None)
    for f, (pos, Xf) in zip(bar_frames, bar):
        ahead = (pos[:, 2] > fronts[f] + 10.0) & (pos[:, 2] < 140.0)
        sets[f"bar{f}"] = (Xf, _labels(model, Xf), ahead)

    rows = []
    for q in quantiles:
        centres, radius = fit_envelopes(X[train], y_enc, len(classes), quantile=q, random_state=model.random_state)
        other = {k: envelope_score(Xs, lab, centres, radius) > 1.0 for k, (Xs, lab, _) in sets.items()}
        row = {"quantile": q}
        row.update({f"{s}_other": float(other[s].mean()) for s in held})
        row.update({f"polycrystal_{r}_other": float(np.mean([other[f"poly{f}"][m].mean() for f in range(len(poly))]))
                    for r, m in masks.items()})
        row["bar_hot_crystal_other"] = float(np.mean([other[f"bar{f}"][sets[f"bar{f}"][2]].mean() for f in bar_frames]))
        rows.append(row)
        print(" ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)
    extra = {}
    if args.compare_centres:
        extra["fcc_envelope_by_centres"] = _compare_centres(X, y, split, poly[-1][1], masks)
    out = {"description": __doc__.splitlines()[0], "bar_frames": bar_frames, "rows": rows, **extra}
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"written: {args.json}")


if __name__ == "__main__":
    main()
