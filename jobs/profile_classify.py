"""Where a classify task's time goes: Dask's own statistical profiler on a one-worker run.

Writes ``bench classify``'s noisy-fcc DCD (1M atoms x 10 frames by default), classifies it
once to warm the worker (model and kernels), then once more with the profiler's samples
kept, and prints the share of samples under each function (inclusive) and in it (self).
Numba kernels appear as the Python line that calls them.

    python jobs/profile_classify.py [--atoms 1000000] [--frames 10] [--workdir /tmp/profile-classify]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import time
from pathlib import Path


def _name(node) -> str:
    desc = node.get("description", {})
    where = desc.get("filename", "").split("site-packages/")[-1]
    return f'{desc.get("name", "?")} {where}:{desc.get("line_number", "")}'


def profile_shares(profile: dict) -> tuple[collections.Counter, collections.Counter, int]:
    """Inclusive and self sample counts per function of a ``Client.profile()`` tree, and the total."""
    inclusive, own = collections.Counter(), collections.Counter()

    def walk(node, stack):
        name = _name(node)
        children = node.get("children", {})
        own[name] += node["count"] - sum(c["count"] for c in children.values())
        if name not in stack:
            inclusive[name] += node["count"]
        for child in children.values():
            walk(child, stack | {name})

    walk(profile, frozenset())
    return inclusive, own, profile["count"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, default=1_000_000)
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--workdir", default="/tmp/profile-classify")
    a = p.parse_args()
    from distributed import Client, LocalCluster

    from lessdask.bench.classify import write_benchmark_trajectory
    from lessdask.pipeline import classify

    d = Path(a.workdir)
    d.mkdir(parents=True, exist_ok=True)
    top, traj = write_benchmark_trajectory(d, a.atoms, a.frames)
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster) as client:
        for name in ("warm.zarr", "run.zarr"):
            shutil.rmtree(d / name, ignore_errors=True)
        classify(top, [traj], output=d / "warm.zarr", client=client, progress=False, stop=1)
        t0 = time.time()
        summary = classify(top, [traj], output=d / "run.zarr", client=client, progress=False)
        seconds = time.time() - t0
        profile = client.profile(start=t0)
    af = summary["atoms"] * summary["frames"]
    print(f"{af:,} atom-frames in {seconds:.1f} s: {af / seconds:,.0f} atom-frames/s on one worker")
    inclusive, own, total = profile_shares(profile)
    print(f"{total} samples; inclusive:")
    for name, n in inclusive.most_common(30):
        print(f"{100 * n / total:5.1f} %  {name}")
    print("self:")
    for name, n in own.most_common(15):
        print(f"{100 * n / total:5.1f} %  {name}")


if __name__ == "__main__":
    main()
