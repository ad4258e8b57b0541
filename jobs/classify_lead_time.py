"""Where a classify run's wall time goes besides its tasks: the client's lead before the first task.

Writes ``bench classify``'s noisy-fcc DCD + data file (1M atoms x 10 frames by default),
times the serial in-process loop (the benchmark's peer), then classifies on a one-worker
``LocalCluster`` (one warm-up run, then ``--repeat`` timed runs) with Dask's task stream:
prints the run's seconds, the sum of the tasks' compute time and the lead (seconds from
the call to the first task's start: opening the input, waiting for workers, planning,
creating the store, the payload).

    python jobs/classify_lead_time.py [--atoms 1000000] [--frames 10] [--repeat 2] [--workdir /tmp/lead-time]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--atoms", type=int, default=1_000_000)
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--workdir", default="/tmp/lead-time")
    a = p.parse_args()
    from distributed import Client, LocalCluster, get_task_stream

    from lessdask.bench.classify import _serial, write_benchmark_trajectory
    from lessdask.model import load_model
    from lessdask.pipeline import classify

    d = Path(a.workdir)
    d.mkdir(parents=True, exist_ok=True)
    top, traj = write_benchmark_trajectory(d, a.atoms, a.frames)
    model = load_model("default")
    _serial(top, traj, model)
    print(f"serial loop (universe opened outside the timer): {_serial(top, traj, model):.2f} s")
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster) as client:
        classify(top, [traj], output=d / "warm.zarr", overwrite=True, client=client, progress=False, stop=1)
        for _ in range(a.repeat):
            called = time.time()
            t = time.perf_counter()
            with get_task_stream(client=client) as ts:
                classify(top, [traj], output=d / "run.zarr", overwrite=True, client=client, progress=False,
                         frames_per_task=1)
            seconds = time.perf_counter() - t
            spans = [s for task in ts.data for s in task["startstops"] if s["action"] == "compute"]
            compute = sum(s["stop"] - s["start"] for s in spans)
            lead = min(s["start"] for s in spans) - called
            print(f"classify {seconds:.2f} s: {len(ts.data)} tasks, compute {compute:.2f} s, lead {lead:.2f} s")


if __name__ == "__main__":
    main()
