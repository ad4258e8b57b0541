"""``lessdask bench classify``: end-to-end throughput, 1 vs 2 workers, memory vs trajectory length."""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def write_benchmark_trajectory(directory, n_atoms=256_000, n_frames=8, seed=0):
    """A noisy fcc Cu LAMMPS data file and DCD trajectory of ``n_frames`` frames."""
    import MDAnalysis as mda

    from lessdask.bench.features import noisy_fcc

    pos, dims = noisy_fcc(n_atoms, sigma=0.0)
    n = len(pos)
    u = mda.Universe.empty(n, trajectory=True, atom_resindex=np.zeros(n, int), residue_segindex=[0])
    u.add_TopologyAttr("type", ["1"] * n)
    u.add_TopologyAttr("mass", [63.546] * n)
    u.add_TopologyAttr("id", np.arange(1, n + 1))
    for attr in ("bonds", "angles", "dihedrals", "impropers"):  # the DATA writer asks for them
        u.add_TopologyAttr(attr, [])
    u.dimensions = dims
    u.atoms.positions = pos
    d = Path(directory)
    top, traj = d / "bench.data", d / "bench.dcd"
    u.atoms.write(str(top))
    rng = np.random.default_rng(seed)
    with mda.Writer(str(traj), n) as w:
        for _ in range(n_frames):
            u.atoms.positions = pos + rng.normal(0, 0.08, pos.shape)
            w.write(u.atoms)
    return top, traj


def _serial(top, traj, model):
    """The peer: the same work in one process, no Dask (MDAnalysis loop, features, model)."""
    from lessdask.features import compute_features
    from lessdask.trajectory import open_universe

    import numba

    numba.set_num_threads(1)
    u = open_universe(top, [traj])
    t = time.perf_counter()
    for ts in u.trajectory:
        X, _ = compute_features(u.atoms.positions, ts.dimensions, None, settings=model.feature_settings_)
        model.predict_proba(X)
    return time.perf_counter() - t


def _worker_peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_on_cluster(workers, top, traj, tmp, name):
    """Seconds of a classify run on a fresh LocalCluster, and the peak RSS of its workers (MB)."""
    from distributed import Client, LocalCluster

    from lessdask.pipeline import classify

    with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=":0", silence_logs=40) as cluster, Client(cluster) as c:
        classify(top, [traj], output=Path(tmp) / f"warm-{name}.zarr", overwrite=True, client=c, progress=False,
                 stop=workers, frames_per_task=1)  # every worker loads the model and kernels first
        t = time.perf_counter()
        classify(top, [traj], output=Path(tmp) / f"{name}.zarr", overwrite=True, client=c,
                 progress=False, frames_per_task=1)
        dt = time.perf_counter() - t
        peak = max(c.run(_worker_peak_mb).values())
    return dt, peak


def bench_classify(n_atoms=1_000_000, n_frames=10, long_frames=40, json_path=None) -> dict:
    """Time ``classify`` on 1 and 2 workers against a serial in-process loop; report worker memory.

    Memory is bounded by the chunk, not the trajectory: the peak worker RSS of a run over
    ``long_frames`` frames is reported next to that of ``n_frames``. The trajectory is a
    generated noisy fcc Cu crystal in LAMMPS data + DCD (binary) format.
    """
    from lessdask.model import load_model

    out = {"atoms": n_atoms, "frames": n_frames, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        top, traj = write_benchmark_trajectory(tmp, n_atoms, n_frames)
        model = load_model("default")
        _serial(top, traj, model)  # warm caches
        t = _serial(top, traj, model)
        af = n_atoms * n_frames
        out["serial_seconds"] = round(t, 2)
        out["serial_atom_frames_per_second"] = round(af / t)
        for workers in (1, 2):
            dt, peak = _run_on_cluster(workers, top, traj, tmp, f"w{workers}")
            out[f"workers_{workers}"] = {"seconds": round(dt, 2), "atom_frames_per_second": round(af / dt),
                                         "atom_frames_per_second_per_core": round(af / dt / workers),
                                         "peak_worker_rss_mb": round(peak)}
        out["speedup_2_vs_1_workers"] = round(out["workers_1"]["seconds"] / out["workers_2"]["seconds"], 2)
        out["dask_1_worker_vs_serial"] = round(out["serial_seconds"] / out["workers_1"]["seconds"], 2)
        long_dir = Path(tmp) / "long"
        long_dir.mkdir()
        top_l, traj_l = write_benchmark_trajectory(long_dir, n_atoms, long_frames)
        _, peak_long = _run_on_cluster(2, top_l, traj_l, tmp, "long")
        out[f"peak_worker_rss_mb_{n_frames}_frames"] = out["workers_2"]["peak_worker_rss_mb"]
        out[f"peak_worker_rss_mb_{long_frames}_frames"] = round(peak_long)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(out, f, indent=2)
    return out
