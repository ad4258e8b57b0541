"""``lessdask bench frames``: cost per atom-frame and worker memory against the size of the frames.

The same noisy fcc crystal is classified end to end (``lessdask.classify`` on one worker:
read the DCD, features, model, write the store) with frames of 1M and of 8M atoms in one run,
the same number of frames each, and the peak worker memory is recorded with 16M-atom frames.
Before the per-frame neighbour search was shared by every chunk, a 250k-atom chunk cost more
the bigger its frame (every task wrapped and binned every atom of the frame); the ratio of the
two rates is the figure. Both trajectories have the same number of frames because a run's
own work (parsing and shipping the topology, unpickling it on the worker) grows with the
atoms, not the atom-frames: with as many frames on both sides it weighs the same per
atom-frame, as it does in a long trajectory (where it vanishes).
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (``VmHWM``; ``ru_maxrss`` where there is no ``/proc``).

    Not ``ru_maxrss`` on Linux: a process started by another (a Dask worker spawned by the
    client) keeps in ``ru_maxrss`` the RSS of the process that started it, as it was then, when
    that is larger than its own peak; ``VmHWM`` is the peak of this process image alone.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds():
    return time.process_time()


def workers_cpu_seconds(client) -> float:
    """CPU seconds used so far by all the client's worker processes (their sum)."""
    return sum(client.run(_cpu_seconds).values())


def _run(n_atoms: int, n_frames: int, tmp: Path, repeat: int, name: str) -> dict:
    from distributed import Client, LocalCluster

    from lessdask.bench.classify import write_benchmark_trajectory
    from lessdask.pipeline import classify

    d = tmp / name
    d.mkdir()
    top, traj = write_benchmark_trajectory(d, n_atoms, n_frames)
    times, cpus, first_cpus = [], [], []
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster) as c:
        classify(top, [traj], output=d / "warm.zarr", client=c, progress=False, stop=1)  # model and kernels
        for k in range(repeat):
            if n_frames > 1:  # the first frame alone: the run's own work plus one frame
                c0 = workers_cpu_seconds(c)
                classify(top, [traj], output=d / f"first{k}.zarr", client=c, progress=False, stop=1)
                first_cpus.append(workers_cpu_seconds(c) - c0)
            c0 = workers_cpu_seconds(c)
            t = time.perf_counter()
            s = classify(top, [traj], output=d / f"r{k}.zarr", client=c, progress=False)
            times.append(time.perf_counter() - t)
            cpus.append(workers_cpu_seconds(c) - c0)
        peak = max(c.run(peak_rss_mb).values())
    seconds, cpu = sorted(times)[len(times) // 2], sorted(cpus)[len(cpus) // 2]
    af = s["atoms"] * s["frames"]
    # the worker's CPU time is the robust figure on a shared machine (wall time also measures other jobs)
    out = {"atoms": s["atoms"], "frames": s["frames"], "chunks": s["chunks"], "seconds": round(seconds, 2),
           "all_seconds": [round(t, 2) for t in times], "atom_frames_per_second": round(af / seconds),
           "worker_cpu_seconds": round(cpu, 2), "atom_frames_per_worker_cpu_second": round(af / cpu),
           "peak_worker_rss_mb": round(peak)}
    if first_cpus:
        # what each further frame costs: (all frames - the first alone), per atom-frame; the run's
        # own work (topology, payload, store, the first task) cancels
        first = sorted(first_cpus)[len(first_cpus) // 2]
        marginal = [a - b for a, b in zip(cpus, first_cpus)]
        out["first_frame_worker_cpu_seconds"] = round(first, 2)
        out["further_frames_worker_cpu_seconds"] = [round(m, 2) for m in marginal]
        out["further_atom_frames_per_worker_cpu_second"] = round(
            s["atoms"] * (s["frames"] - 1) / sorted(marginal)[len(marginal) // 2])
    return out


def bench_frames(small=1_000_000, big=8_000_000, memory=16_000_000, frames=4, repeat=3, json_path=None) -> dict:
    """Atom-frames/s on one worker (one core) for small and big frames, and peak memory at ``memory`` atoms.

    Parameters
    ----------
    small, big : int
        Atoms per frame of the two timed trajectories (``frames`` frames each).
    memory : int
        Atoms per frame of a one-frame run whose peak worker memory is reported (0: skip).
    frames : int
        Frames of each timed trajectory.
    repeat : int
        Timed runs of each (the median is reported).
    json_path : str, optional
        Also write the figures as JSON.

    Returns
    -------
    dict
        Per size: atoms, frames, chunks, seconds (median), atom-frames/s, the worker's CPU
        seconds and atom-frames per CPU second, peak worker RSS (MB), and
        ``further_atom_frames_per_worker_cpu_second``: the frames after the first, from the
        difference between the whole run and a run of the first frame alone (interleaved), so
        that what a run costs once cancels; ``big_vs_small_*`` are the ratios of the rates
        (the CPU ones are robust on a shared machine; the ``further`` one is the cost per
        atom-frame of a long trajectory).
    """
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        out["small"] = _run(small, frames, tmp, repeat, "small")
        out["big"] = _run(big, frames, tmp, repeat, "big")
        for key in ("atom_frames_per_second", "atom_frames_per_worker_cpu_second",
                    "further_atom_frames_per_worker_cpu_second"):
            if key in out["big"] and key in out["small"]:
                out[f"big_vs_small_{key}"] = round(out["big"][key] / out["small"][key], 3)
        if memory:
            out["memory"] = _run(memory, 1, tmp, 1, "memory")
            out["memory"]["bytes_per_atom"] = round(out["memory"]["peak_worker_rss_mb"] * 1e6 / out["memory"]["atoms"])
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=2) + "\n")
    return out
