"""Shared fixtures: real trajectories written to disk, one real LocalCluster per session."""

from __future__ import annotations

import gzip

import numpy as np
import pytest


def write_dump(path, frames, types, dims_list, ids=None, gz=False):
    """Write a LAMMPS text dump (``id type x y z``), optionally gzipped."""
    opener = gzip.open if gz else open
    n = len(types)
    ids = np.arange(1, n + 1) if ids is None else ids
    with opener(path, "wt") as f:
        for k, (pos, dims) in enumerate(zip(frames, dims_list)):
            f.write(f"ITEM: TIMESTEP\n{k * 1000}\nITEM: NUMBER OF ATOMS\n{n}\n")
            f.write(f"ITEM: BOX BOUNDS pp pp pp\n0 {dims[0]}\n0 {dims[1]}\n0 {dims[2]}\n")
            f.write("ITEM: ATOMS id type x y z\n")
            for i in range(n):
                f.write(f"{ids[i]} {types[i]} {pos[i, 0]:.6f} {pos[i, 1]:.6f} {pos[i, 2]:.6f}\n")
    return path


@pytest.fixture(scope="session")
def crystal_frames():
    """Four frames of a thermally disordered fcc Au crystal with a liquid-like slab (864 atoms)."""
    from lessdask.reference import build_crystal

    c = build_crystal("fcc", 6)
    rng = np.random.default_rng(7)
    frames = []
    L = c.dimensions[:3]
    for k in range(4):
        pos = c.positions + rng.normal(0, 0.08, c.positions.shape)
        slab = np.abs(pos[:, 2] - L[2] / 2) < L[2] / 6
        pos[slab] = rng.random((slab.sum(), 3)) * [L[0], L[1], L[2] / 3] + [0, 0, L[2] / 3]
        frames.append(pos)
    return frames, np.ones(c.n_atoms, int), [c.dimensions] * 4


@pytest.fixture(scope="session")
def dump_file(tmp_path_factory, crystal_frames):
    frames, types, dims = crystal_frames
    return write_dump(tmp_path_factory.mktemp("traj") / "run.lammpstrj", frames, types, dims)


@pytest.fixture(scope="session")
def client():
    """A real LocalCluster of two worker processes on loopback."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster) as c:
        yield c
