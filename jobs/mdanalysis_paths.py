"""In memory or on Dask: the MDAnalysis paths through lessdask on the bundled demo, timed.

    python jobs/mdanalysis_paths.py [--repeat 3] [--workers 2] [--json out.json]

On the demo trajectory (4,000 Au atoms x 10 frames, gzipped LAMMPS dump), each repeat times:
``LESS(u.atoms).run()`` serially with lessdask's dump reader and with MDAnalysis' own, with
MDAnalysis' ``multiprocessing`` and ``dask`` backends (``--workers`` processes), and
``lessdask.classify`` of the file path, of a Universe and of an AtomGroup on the embedded
LocalCluster (``--workers`` workers; cluster start-up included, as a user meets it). The
model is loaded and numba's cache read once before timing. Checks that every path gives the
serial labels and prints the medians (seconds) as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path


def main() -> None:
    import MDAnalysis as mda
    import numpy as np
    import xarray as xr

    import lessdask
    from lessdask.analysis import LESS
    from lessdask.demo import demo_trajectory
    from lessdask.trajectory import open_universe

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # MDAnalysis' "Guessed all Masses" for dumps
    path = str(demo_trajectory())
    fast = open_universe(path)
    mdar = mda.Universe(path, format="LAMMPSDUMP", dt=0.001)
    ref = LESS(fast.atoms).run().results.labels  # warm-up: model load, numba cache
    n = args.workers
    runs = {
        "LESS serial (lessdask dump reader)": lambda: LESS(fast.atoms).run().results.labels,
        "LESS serial (MDAnalysis LAMMPSDUMP reader)": lambda: LESS(mdar.atoms).run().results.labels,
        f"LESS multiprocessing, {n} processes": lambda: LESS(fast.atoms).run(
            backend="multiprocessing", n_workers=n).results.labels,
        f"LESS dask, {n} processes": lambda: LESS(fast.atoms).run(backend="dask", n_workers=n).results.labels,
    }
    with tempfile.TemporaryDirectory() as tmp:
        def store(inp):
            out = Path(tmp) / "run.zarr"
            lessdask.classify(inp, output=out, overwrite=True, progress=False, cluster={"n_workers": n})
            return xr.open_zarr(out)["label"].values

        runs[f"classify(path), {n} workers"] = lambda: store(path)
        runs[f"classify(Universe), {n} workers"] = lambda: store(fast)
        runs[f"classify(u.atoms), MDAnalysis reader, {n} workers"] = lambda: store(mdar.atoms)
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeat):
            for name, run in runs.items():
                t0 = time.perf_counter()
                labels = run()
                times[name].append(time.perf_counter() - t0)
                if not np.array_equal(labels, ref):
                    raise SystemExit(f"{name}: labels differ from the serial run")
    out = {"atoms": int(fast.atoms.n_atoms), "frames": int(fast.trajectory.n_frames), "repeat": args.repeat,
           "median_seconds": {k: round(statistics.median(v), 3) for k, v in times.items()}}
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
