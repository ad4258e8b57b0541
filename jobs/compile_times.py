"""First run: what numba compiles for one demo task, per kernel, and how long it takes.

Classifies the first frame of the demo trajectory in this process, in two chunks, and prints
numba's ``numba:compile`` events per function (times include the functions compiled inside
them). Give it an empty cache directory to time a first run on a machine:

Run: NUMBA_CACHE_DIR=$(mktemp -d) python jobs/compile_times.py   (about half a minute)
"""

from __future__ import annotations

import collections
import time


def main():
    import numba
    import numpy as np
    from numba.core import event

    from lessdask.demo import demo_trajectory
    from lessdask.features.engine import species_codes
    from lessdask.frame import classify_frame, resolve_model
    from lessdask.trajectory import read_frame
    from lessdask.trajectory.readers import open_universe, species_of

    numba.set_num_threads(1)  # as a one-thread Dask worker
    u = open_universe(str(demo_trajectory()))
    model = resolve_model("default")
    codes = species_codes(species_of(u.atoms), len(u.atoms))
    with event.install_recorder("numba:compile") as recorder:
        t0 = time.perf_counter()
        pos, box, _ = read_frame(u, 0)
        half = len(pos) // 2
        classify_frame(pos, box, codes, model, atoms=np.arange(half))
        t1 = time.perf_counter()
        classify_frame(pos, box, codes, model, atoms=np.arange(half, len(pos)))
        t2 = time.perf_counter()
    starts, per = {}, collections.defaultdict(list)
    for ts, ev in recorder.buffer:
        fn = ev.data["dispatcher"].py_func
        key = (f"{fn.__module__}.{fn.__qualname__}", str(ev.data["args"]))
        if ev.is_start:
            starts[key] = ts
        else:
            per[key[0]].append(ts - starts[key])
    for name, times in sorted(per.items(), key=lambda kv: -sum(kv[1])):
        print(f"{sum(times):7.2f} s  {len(times):2d} signature(s)  {name}")
    print(f"first chunk {t1 - t0:.1f} s (compiling or loading the cache), second chunk {t2 - t1:.2f} s")


if __name__ == "__main__":
    main()
