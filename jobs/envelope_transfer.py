"""How much wider must an envelope fitted at one temperature be to hold its class at a higher one?

``lessdask extend`` fits a new class's envelope on the atoms it is given; from one temperature
they cover only that temperature's thermal spread. This measures, on the known classes of the
reference data, what an extension from one temperature would need: per crystal class and
per pair of temperatures T < T', an envelope is fitted exactly as for an extended class
(:func:`lessdask.model.envelope.fit_envelope` on a random subset of ``--atoms`` atoms at T,
at the model's quantile), and the factor by which its radius must grow so that the same
quantile of the class's atoms at T' lies inside is recorded against the ratio T'/T. A power
law ``factor = (T'/T) ** alpha`` is fitted (least squares in log-log, through 1 at ratio 1);
``lessdask.model.envelope.SINGLE_TEMPERATURE_WIDENING`` is the factor for a ratio of 2,
taken at the upper end of the measured spread.

Run from the repository root::

    python jobs/envelope_transfer.py [--reference PATH] [--json docs/envelope_transfer.json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from lessdask.model.envelope import QUANTILE, fit_envelope, nearest_centre_distance
from lessdask.reference.dataset import CRYSTALS, load_reference


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", help="reference data (default: the shipped set)")
    ap.add_argument("--atoms", type=int, default=230, help="atoms the envelope is fitted on (an extension's 2 %%)")
    ap.add_argument("--repeats", type=int, default=5, help="random subsets per (class, temperature)")
    ap.add_argument("--json", help="write the measurements here")
    args = ap.parse_args(argv)

    ds = load_reference("crystals", path=args.reference)
    crystal_cfg = np.char.find(ds.config_id.values.astype(str), "-crystal-") > 0
    rows = []
    for c in CRYSTALS:
        sel = crystal_cfg & (ds.structure.values == c) & ~np.char.endswith(
            np.char.partition(ds.config_id.values.astype(str), "/")[:, 0], "other-size")
        temps = np.unique(ds.temperature.values[sel])
        for t in temps:
            X_t = ds.features.values[sel & (ds.temperature.values == t)]
            for rep in range(args.repeats):
                rng = np.random.default_rng(rep)
                sub = X_t[rng.choice(len(X_t), min(args.atoms, len(X_t)), replace=False)]
                centres, radius = fit_envelope(sub, quantile=QUANTILE, random_state=rep)
                for t2 in temps[temps > t]:
                    d = nearest_centre_distance(ds.features.values[sel & (ds.temperature.values == t2)], centres)
                    rows.append({"class": c, "t": float(t), "t2": float(t2), "ratio": float(t2 / t),
                                 "factor": float(np.quantile(d, QUANTILE) / radius),
                                 "inside_unwidened": float(np.mean(d <= radius))})
    ratio = np.array([r["ratio"] for r in rows])
    factor = np.array([r["factor"] for r in rows])
    alpha = float(np.sum(np.log(ratio) * np.log(factor)) / np.sum(np.log(ratio) ** 2))
    near2 = (ratio > 1.5) & (ratio < 3.0)
    pair_alpha = np.log(factor) / np.log(ratio)
    summary = {"alpha": alpha, "factor_at_2_from_power_law": 2**alpha,
               "alpha_per_pair": {q: float(np.quantile(pair_alpha, q)) for q in (0.25, 0.5, 0.75, 0.9)},
               "pairs_with_ratio_1.5_to_3": int(near2.sum()),
               "factor_needed_ratio_1.5_to_3": {q: float(np.quantile(factor[near2], q)) for q in (0.5, 0.9, 1.0)},
               "inside_unwidened_ratio_1.5_to_3_median": float(np.median([r["inside_unwidened"] for r, n in
                                                                          zip(rows, near2) if n]))}
    per_class = {}
    for c in CRYSTALS:
        f = [r["factor"] for r, n in zip(rows, near2) if n and r["class"] == c]
        if f:
            per_class[c] = {"median": float(np.median(f)), "max": float(np.max(f))}
    summary["per_class_ratio_1.5_to_3"] = per_class
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"summary": summary, "pairs": rows, "atoms": args.atoms, "quantile": QUANTILE}, fh, indent=1)


if __name__ == "__main__":
    main()
