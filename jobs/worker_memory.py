"""Where worker memory goes: worker RSS after every task, and peak RSS for a short and a long run.

  python jobs/worker_memory.py                       # 250k atoms, 10 vs 40 frames, 2 workers (~3 min)
  python jobs/worker_memory.py --mechanism           # also the cause in isolation (+~1 min)
  python jobs/worker_memory.py --atoms 250000 --frames 10 40 --atoms-per-chunk 62500 --workers 2

For each frame count: writes a noisy-fcc DCD benchmark trajectory, starts a fresh LocalCluster
(``--workers`` processes, one thread each), warms every worker up (model, numba kernels,
trajectory) with a 2-frame run, then classifies every frame with one frame per task and
``--atoms-per-chunk`` atoms per task. A worker plugin copies each task's receipt (its
``worker_rss_mb``, read at the end of the task) as the task finishes, so the job prints every
worker's RSS against its task index, a least-squares slope in MB per task, and the peak RSS
(``ru_maxrss``) of the workers. First, the same frames are read, featurised and classified in
one process without Dask (RSS every 10 frames), the flat reference.

Measured on a busy 2-core machine (250,000 atoms -> 256,000; 62,500 atoms per chunk, 5 chunks
per frame; 2 workers; 50 tasks for 10 frames, 200 for 40); the "before" rows are this same job
run against the previous ``lessdask/pipeline.py`` (it only uses ``classify`` and the receipts):

                                   RSS slope per task   peak worker RSS, 10 / 40 frames
  before (per-atom task arguments)  +0.95 .. +1.60 MB   561 / 674 MB  (+20 %)
  after                             +0.02 .. +0.07 MB   547 / 542 MB  (-1 %)
  in one process, no Dask           flat: 469 MB from frame 10 to 39

Cause: a Dask worker keeps the run spec (function and arguments) of every finished task whose
result the client still holds, and ``classify`` held every future of a round until the round
ended. Each task's arguments carried per-atom arrays: the species codes of all atoms (int32,
1.0 MB at 256k atoms) and the chunk's atom indices (int64, 0.5 MB at 62,500 atoms), i.e.
1.5 MB per task that lived on the worker until the end of the run, growing with the number of
frames. (At 1M atoms and 250k-atom chunks that is 4 + 2 = 6 MB per task.) The fix ships those
arrays once per worker in the broadcast payload (with the trajectory) so a task's arguments
are its block and chunk indices, and ``classify`` drops each future as soon as it finishes,
so the worker forgets the task at once. ``--mechanism`` shows the cause without lessdask: a
no-op task with a 1.5 MB array argument, futures held until the end vs dropped when done.

(MB are 10^6 bytes throughout.) The remaining few tens of kB per task are mostly bounded Dask
bookkeeping, by time rather than by task: tracemalloc inside a worker over 92 tasks (185 s)
found +7.3 MB in the worker's statistical profiler (``profile_history`` gains one call tree
per second, ~40 kB each here, in a deque of ``distributed.admin.low-level-log-length`` = 1000
entries, so it levels off after ~17 min) and +1.4 MB of ``linecache`` (source lines of the
profiled files, bounded), next to a one-off 3 MB DCD timestep copy.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def peak_rss_mb() -> float:
    """Peak RSS in MB (10^6 bytes, as the receipts' ``worker_rss_mb``; ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


class ReceiptLog(WorkerPlugin):
    """Keeps a copy of each lessdask task's receipt (a small dict) as the task finishes."""

    name = "lessdask-receipt-log"

    def setup(self, worker):
        self.worker = worker
        self.receipts = []
        self.rss = []  # RSS when the task has finished (after the task's own malloc_trim)

    def transition(self, key, start, finish, **kwargs):
        if start == "executing" and finish == "memory" and str(key).startswith("lessdask-"):
            value = self.worker.data.get(key) if key in self.worker.data else None
            if isinstance(value, dict) and "worker_rss_mb" in value:
                self.receipts.append(dict(value))
                self.rss.append(rss_mb())


def _take_receipts(dask_worker):
    plugin = dask_worker.plugins[ReceiptLog.name]
    out = {"receipts": list(plugin.receipts), "rss_done": list(plugin.rss)}
    plugin.receipts.clear()
    plugin.rss.clear()
    return out


def _slope(values) -> float:
    y = np.asarray(values, float)
    return float(np.polyfit(np.arange(len(y)), y, 1)[0]) if len(y) > 2 else float("nan")


def in_process(top, traj, every=10):
    """The reference: read, featurise and classify every frame in this process, no Dask."""
    from lessdask.features import compute_features
    from lessdask.model import load_model
    from lessdask.trajectory import open_universe

    u, model = open_universe(top, [traj]), load_model("default")
    for f, ts in enumerate(u.trajectory):
        X, _ = compute_features(u.atoms.positions, ts.dimensions, None, settings=model.feature_settings_)
        model.predict_proba(X)
        if f % every == 0 or f == u.trajectory.n_frames - 1:
            print(f"in-process, frame {f}: {rss_mb():.0f} MB", flush=True)


def on_cluster(top, traj, n_frames, workers, atoms_per_chunk, tmp) -> float:
    """Classify on a fresh LocalCluster; print every worker's RSS per task; return the peak worker RSS."""
    from distributed import Client, LocalCluster

    from lessdask.pipeline import classify

    with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster) as c:
        c.register_plugin(ReceiptLog())
        classify(top, [traj], output=Path(tmp) / f"warm{n_frames}.zarr", client=c, progress=False, stop=2,
                 frames_per_task=1, atoms_per_chunk=atoms_per_chunk)  # model, kernels, trajectory on every worker
        c.run(_take_receipts)
        t = time.perf_counter()
        summary = classify(top, [traj], output=Path(tmp) / f"run{n_frames}.zarr", client=c, progress=False,
                           frames_per_task=1, atoms_per_chunk=atoms_per_chunk)
        dt = time.perf_counter() - t
        logs = c.run(_take_receipts)
        peaks = c.run(peak_rss_mb)
    peak = max(peaks.values())
    print(f"\n{n_frames} frames x {summary['atoms']} atoms, {summary['chunks']} chunks of "
          f"{atoms_per_chunk} atoms in {summary['tasks_run']} tasks, {workers} workers: {dt:.0f} s; "
          f"peak worker RSS {peak:.0f} MB", flush=True)
    for i, (addr, log) in enumerate(sorted(logs.items())):
        r = [x["worker_rss_mb"] for x in log["receipts"]]
        if not r:
            print(f"  worker {i}: no tasks")
            continue
        print(f"  worker {i}: {len(r)} tasks; receipt RSS first {r[0]:.0f}, last {r[-1]:.0f}, max {max(r):.0f} MB; "
              f"slope {_slope(r):+.3f} MB/task (after trim: {_slope(log['rss_done']):+.3f}); peak {peaks[addr]:.0f} MB")
        print("    RSS (MB) by task: " + " ".join(f"{v:.0f}" for v in r), flush=True)
    return peak


def _noop(i, array=None):
    return {"i": i}


def mechanism(workers=1, tasks=60, nbytes=1_500_000):
    """The cause without lessdask: finished tasks' arguments stay on the worker while their futures live."""
    from distributed import Client, LocalCluster, wait

    print(f"\nmechanism: {tasks} no-op tasks, each with a {nbytes / 1e6:.1f} MB numpy argument", flush=True)
    with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster) as c:
        for held in (True, False):
            r0 = max(c.run(rss_mb).values())
            keep = []
            for i in range(tasks):
                f = c.submit(_noop, i, np.ones(nbytes // 8), key=f"noop-{held}-{i}")
                wait(f)
                if held:
                    keep.append(f)
                del f
            time.sleep(1)
            r1 = max(c.run(rss_mb).values())
            held_tasks = max(c.run(lambda dask_worker: len(dask_worker.state.tasks)).values())
            print(f"  futures {'held until the end' if held else 'dropped when done'}: worker RSS {r0:.0f} -> "
                  f"{r1:.0f} MB "
                  f"({(r1 - r0) / tasks:+.2f} MB/task), tasks the worker still holds: {held_tasks}", flush=True)
            del keep
            time.sleep(1)


def main(argv=None):
    from lessdask.bench.classify import write_benchmark_trajectory

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, default=250_000)
    ap.add_argument("--frames", type=int, nargs="+", default=[10, 40])
    ap.add_argument("--atoms-per-chunk", type=int, default=62_500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-in-process", action="store_true", help="skip the one-process reference")
    ap.add_argument("--mechanism", action="store_true", help="also show the cause in isolation")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        trajectories = {}
        for nf in args.frames:
            d = Path(tmp) / f"f{nf}"
            d.mkdir()
            trajectories[nf] = write_benchmark_trajectory(d, args.atoms, nf)
        if not args.no_in_process:
            in_process(*trajectories[max(args.frames)])
        peaks = {nf: on_cluster(*trajectories[nf], nf, args.workers, args.atoms_per_chunk, tmp) for nf in args.frames}
    base = peaks[args.frames[0]]
    print("\npeak worker RSS: " + ", ".join(f"{nf} frames {p:.0f} MB ({(p / base - 1) * 100:+.1f} %)"
                                             for nf, p in peaks.items()), flush=True)
    if args.mechanism:
        mechanism()


if __name__ == "__main__":
    main()
