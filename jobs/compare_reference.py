"""Compare a rebuilt reference data set with the shipped one (docs/science.md, "Reference data").

  lessdask reference build -o /tmp/rebuild/reference.nc      # from scratch, about 20 minutes
  python jobs/compare_reference.py /tmp/rebuild/reference.nc

Per material: whether the features are bit for bit the shipped ones, and which configurations
differ in their number of labelled atoms; then the shipped default model's held-out accuracy
on the rebuilt data.
"""

from __future__ import annotations

import collections
import sys

import numpy as np

from lessdask.model import load_model
from lessdask.reference.dataset import CRYSTALS, EXTENSION, load_reference


def main(rebuilt: str):
    new, shipped = load_reference("all", path=rebuilt), load_reference("all")
    for material in CRYSTALS + EXTENSION:
        a = np.char.startswith(new.config_id.values.astype(str), material + "-")
        b = np.char.startswith(shipped.config_id.values.astype(str), material + "-")
        same = a.sum() == b.sum() and np.array_equal(new.features.values[a], shipped.features.values[b])
        na, nb = collections.Counter(new.config_id.values[a]), collections.Counter(shipped.config_id.values[b])
        differ = sorted(k for k in set(na) | set(nb) if na[k] != nb[k])
        print(f"{material}: {'identical' if same else 'differs'}; {len(differ)} of {len(nb)} configurations "
              f"differ in labelled atoms" + (f" (up to {max(abs(na[k] - nb[k]) for k in differ)})" if differ else ""))
    model = load_model("default")
    crystals = load_reference("crystals", path=rebuilt)
    for split in ("val_config", "val_temperature"):
        k = crystals.split.values == split
        acc = np.mean(model.predict(crystals.features.values[k]) == crystals.structure.values[k])
        print(f"shipped default model on the rebuilt {split}: {100 * acc:.2f} %")


if __name__ == "__main__":
    main(sys.argv[1])
