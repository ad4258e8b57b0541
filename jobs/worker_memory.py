"""Where worker memory goes: the README's "Worker memory, measured" figures.

  python jobs/worker_memory.py

Writes a 250,000-atom, 40-frame benchmark trajectory, then (1) in one process reads,
featurises and classifies every frame, printing RSS every 10 frames; (2) classifies the first
5, 10, 20 and 40 frames on one LocalCluster worker, printing the worker's RSS after each run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def main():
    from distributed import Client, LocalCluster

    from lessdask.bench.classify import write_benchmark_trajectory
    from lessdask.features import compute_features
    from lessdask.model import load_model
    from lessdask.pipeline import classify
    from lessdask.trajectory import open_universe

    tmp = tempfile.mkdtemp()
    top, traj = write_benchmark_trajectory(tmp, 250_000, 40)
    u, model = open_universe(top, [traj]), load_model("default")
    for f, ts in enumerate(u.trajectory):
        X, _ = compute_features(u.atoms.positions, ts.dimensions, None, settings=model.feature_settings_)
        model.predict_proba(X)
        if f % 10 == 0:
            print(f"in-process, frame {f}: {rss_mb():.0f} MB", flush=True)
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster) as c:
        for stop in (5, 10, 20, 40):
            classify(top, [traj], output=Path(tmp) / f"s{stop}.zarr", client=c, progress=False, frames_per_task=1,
                     stop=stop)
            print(f"worker after a {stop}-frame run: {list(c.run(rss_mb).values())[0]:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
