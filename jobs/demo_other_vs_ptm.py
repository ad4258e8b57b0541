"""Hot crystal in the demo: share called "other" by lessdask and by OVITO's PTM, same atoms.

The demo trajectory is Au at 1,000 K, 0.96 of the potential's melting point, hotter than any
training crystal. For the first and last frame, among the atoms whose most probable class is
fcc, this prints the share lessdask labels "other" (outside the fcc envelope) and the share
PTM (OVITO defaults, one thread) calls "other". Needs OVITO (``pip install '.[ovito]'``).

Run: lessdask demo -o demo.zarr && python jobs/demo_other_vs_ptm.py demo.zarr   (seconds)
"""

from __future__ import annotations

import argparse

import numpy as np


def main(argv=None):
    from lessdask.analysis import open_results
    from lessdask.bench.classify import import_ovito, ovito_structure_types

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", help="results store of `lessdask demo` (made with positions)")
    args = ap.parse_args(argv)
    import_ovito(threads=1)
    ds = open_results(args.store)
    fcc = list(map(str, ds["structure"].values)).index("fcc")
    for f in (0, ds.sizes["frame"] - 1):
        frame = ds.isel(frame=f)
        types, names = ovito_structure_types(np.asarray(frame["position"].values, float),
                                             np.asarray(frame["dimensions"].values), method="ptm")
        crystal = np.asarray(frame["probability"].values).argmax(axis=1) == fcc
        lessdask_other = np.mean(np.asarray(frame["label"].values)[crystal] == -1)
        ptm_other = np.mean(np.asarray(names)[types][crystal] == "other")
        print(f"frame {f}: of {crystal.sum()} atoms most probably fcc, lessdask calls {lessdask_other:.3f} other, "
              f"PTM {ptm_other:.3f}")


if __name__ == "__main__":
    main()
