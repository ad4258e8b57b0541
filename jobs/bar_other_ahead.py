"""'Other' share of the Cu bar's crystal ahead of the melt front (front + 10 Å .. 140 Å, ~0.8-1.0 Tm),
from the labels in the test case's results store (as jobs/envelope_quantile.py's bar column, at the
model's own quantile). Run after python jobs/testcase_cu_bar_melting.py [--outdir DIR]:
    python jobs/bar_other_ahead.py [DIR/cu_bar.zarr] [docs/testcases/cu_bar_melting/numbers.json]"""
import json
import sys
from pathlib import Path

import numpy as np

from lessdask.analysis import open_results

ROOT = Path(__file__).resolve().parents[1]
store = sys.argv[1] if len(sys.argv) > 1 else Path.home() / ".cache/lessdask/testcases/cu_bar_melting/cu_bar.zarr"
numbers = sys.argv[2] if len(sys.argv) > 2 else ROOT / "docs/testcases/cu_bar_melting/numbers.json"
ds = open_results(store)
fronts = json.load(open(numbers))["front_position_A"]
rows = []
for f in range(1, ds.sizes["frame"]):
    if fronts[f] is None or not np.isfinite(fronts[f]):
        continue
    pos = np.asarray(ds["position"].isel(frame=f).values)
    lab = np.asarray(ds["label"].isel(frame=f).values) if "label" in ds else None
    ahead = (pos[:, 2] > fronts[f] + 10.0) & (pos[:, 2] < 140.0)
    rows.append((f, ahead.sum(), float(np.mean(lab[ahead] == -1))))
for f, n, o in rows:
    if f in (10, 20, 30):
        print(f"frame {f}: {n} atoms ahead, other {o:.4f}")
o = np.array([r[2] for r in rows])
print(f"frames 10/20/30 mean other {np.mean([r[2] for r in rows if r[0] in (10, 20, 30)]):.4f}; all {len(o)} frames: "
      f"mean {o.mean():.4f}, range {o.min():.4f}-{o.max():.4f}")
