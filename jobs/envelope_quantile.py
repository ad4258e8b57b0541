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

Run: python jobs/envelope_quantile.py [--quantiles 0.99,0.995,0.999] [--json FILE]  (about 1 minute)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _testcase_common import ROOT  # noqa: E402

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


def main(argv=None):
    from lessdask.model import load_model
    from lessdask.model.envelope import envelope_score, fit_envelopes
    from lessdask.reference.dataset import load_reference

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quantiles", default="0.99,0.995,0.999")
    ap.add_argument("--json", default=str(ROOT / "docs" / "envelope_quantile.json"))
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

    sys.path.insert(0, str(ROOT / "jobs"))
    from testcase_cu_polycrystal import build_polycrystal, region_masks

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

    def labels_of(Xa):
        return np.argmax(model.predict_proba(Xa), axis=1)

    rows = []
    for q in quantiles:
        centres, radius = fit_envelopes(X[train], y_enc, len(classes), quantile=q, random_state=model.random_state)

        def other(Xa):
            return envelope_score(Xa, labels_of(Xa), centres, radius) > 1.0

        row = {"quantile": q}
        for s, Xs in held.items():
            row[f"{s}_other"] = float(other(Xs).mean())
        per_region = {r: [] for r in masks}
        for _, Xf in poly:
            o = other(Xf)
            for r, m in masks.items():
                per_region[r].append(o[m].mean())
        row.update({f"polycrystal_{r}_other": float(np.mean(v)) for r, v in per_region.items()})
        crystal = []
        for f, (pos, Xf) in zip(bar_frames, bar):
            z = pos[:, 2]
            ahead = (z > fronts[f] + 10.0) & (z < 140.0)
            crystal.append(other(Xf)[ahead].mean())
        row["bar_hot_crystal_other"] = float(np.mean(crystal))
        rows.append(row)
        print(" ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)
    out = {"description": __doc__.splitlines()[0], "bar_frames": bar_frames, "rows": rows}
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"written: {args.json}")


if __name__ == "__main__":
    main()
