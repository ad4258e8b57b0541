"""Why a ``compute_features`` call's time spreads: numpy's huge-page requests on or off.

Times 24 features on 1M noisy fcc (one thread), ``--calls`` calls per process, in
``--pairs`` interleaved process pairs: one with numpy's default (``madvise`` huge pages for
big arrays), one with them switched off. Prints each process's calls and the median of its
calls after the first (the first fills lessdask's scratch pool).

    python jobs/features_hugepages.py [--pairs 3] [--calls 8]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def _one_process(hugepages: bool, calls: int) -> list[float]:
    import numba
    import numpy as np

    numba.set_num_threads(1)
    if not hugepages:
        np._core.multiarray._set_madvise_hugepage(False)
    from lessdask.bench.features import noisy_fcc
    from lessdask.features import compute_features

    pos, dims = noisy_fcc(1_000_000)
    compute_features(pos[:2000], dims)  # compile / load the kernels
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        compute_features(pos, dims)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--calls", type=int, default=8)
    p.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(" ".join(f"{t:.3f}" for t in _one_process(a.child == "on", a.calls)))
        return
    for _ in range(a.pairs):
        for mode in ("on", "off"):
            r = subprocess.run([sys.executable, __file__, "--child", mode, "--calls", str(a.calls)],
                               capture_output=True, text=True, check=True)
            times = [float(x) for x in r.stdout.split()]
            print(f"huge pages {mode:3}: median after the first {statistics.median(times[1:]):.3f} s; "
                  f"calls {' '.join(f'{t:.2f}' for t in times)}")


if __name__ == "__main__":
    main()
