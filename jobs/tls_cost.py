"""What TLS with temporary credentials costs the embedded cluster: start-up and per task.

    python jobs/tls_cost.py [--repeat 5] [--tasks 2000] [--workers 2]

Starts the embedded LocalCluster both ways, alternating (plain TCP as lessdask did before, and
TLS as ``lessdask.cluster`` does now), and times: the cluster's start-up to a connected client,
``--tasks`` trivial tasks (the per-task overhead of the scheduler-worker traffic), and one
``lessdask classify`` of the bundled demo trajectory (4,000 atoms x 10 frames). Prints the
medians as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def _one(tls: bool, n_workers: int, n_tasks: int) -> dict:
    import logging

    from distributed import Client, LocalCluster
    from distributed.security import Security

    from lessdask.demo import demo_trajectory
    from lessdask.pipeline import classify

    t0 = time.perf_counter()
    kw = {"protocol": "tls://", "security": Security.temporary()} if tls else {}
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                      silence_logs=logging.CRITICAL, **kw) as cluster, Client(cluster) as c:
        start = time.perf_counter() - t0
        c.gather(c.map(abs, range(50), pure=False))  # warm the connections
        t0 = time.perf_counter()
        c.gather(c.map(abs, range(n_tasks), pure=False))
        per_task = (time.perf_counter() - t0) / n_tasks
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            classify(demo_trajectory(), output=Path(d) / "demo.zarr", client=c, progress=False)
            demo = time.perf_counter() - t0
    return {"start_s": start, "per_task_ms": per_task * 1e3, "classify_demo_s": demo}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--tasks", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    runs: dict[str, list[dict]] = {"tcp": [], "tls": []}
    for _ in range(args.repeat):
        for name in ("tcp", "tls"):
            runs[name].append(_one(name == "tls", args.workers, args.tasks))
    out = {name: {k: round(statistics.median(r[k] for r in rs), 4) for k in rs[0]} for name, rs in runs.items()}
    out["repeats"], out["tasks"], out["workers"] = args.repeat, args.tasks, args.workers
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
