"""Compare a rebuilt reference data set with the shipped one (docs/science.md, "Reference data").

  lessdask reference build -o /tmp/rebuild/reference.nc [--workdir CACHE]
  python jobs/compare_reference.py /tmp/rebuild/reference.nc [OTHER.nc]

Per material: how many configurations both files hold are bit for bit identical (features),
which differ in their number of labelled atoms, and which exist in only one file; then the
default model's held-out accuracy on the rebuilt data. OTHER.nc defaults to the shipped set.
"""

from __future__ import annotations

import collections
import sys

import numpy as np

from lessdask.model import load_model
from lessdask.reference.dataset import CRYSTALS, EXTENSION, GLASS_ONLY, load_reference


def main(rebuilt: str, against: str | None = None):
    new, shipped = load_reference("all", path=rebuilt), load_reference("all", path=against)
    for material in CRYSTALS + EXTENSION + GLASS_ONLY:
        a = np.char.startswith(new.config_id.values.astype(str), material + "-")
        b = np.char.startswith(shipped.config_id.values.astype(str), material + "-")
        ca, cb = new.config_id.values[a], shipped.config_id.values[b]
        common = sorted(set(ca) & set(cb))
        na, nb = collections.Counter(ca), collections.Counter(cb)
        differ = [k for k in common if na[k] != nb[k]]
        same_features = [k for k in common if na[k] == nb[k] and np.array_equal(
            new.features.values[a][ca == k], shipped.features.values[b][cb == k])]
        print(f"{material}: {len(same_features)} of {len(common)} common configurations identical"
              + (f", {len(differ)} differ in labelled atoms (up to {max(abs(na[k] - nb[k]) for k in differ)})"
                 if differ else "")
              + f"; {len(set(ca) - set(cb))} only in {rebuilt}, {len(set(cb) - set(ca))} only in the other")
    model = load_model("default")
    crystals = load_reference("crystals", path=rebuilt)
    for split in ("val_config", "val_temperature", "val_hot"):
        k = crystals.split.values == split
        if k.any():
            acc = np.mean(model.predict(crystals.features.values[k]) == crystals.structure.values[k])
            print(f"default model on the rebuilt {split}: {100 * acc:.2f} %")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
