"""Shared fixtures: real trajectories written to disk, one real LocalCluster per session."""

from __future__ import annotations

import numpy as np
import pytest

from lessdask.testing import write_lammps_dump


@pytest.fixture(scope="session")
def crystal_frames():
    """Four frames of a thermally disordered fcc Au crystal with a liquid-like slab (864 atoms)."""
    from lessdask.reference import build_crystal

    c = build_crystal("fcc", 6)
    rng = np.random.default_rng(7)
    frames = []
    L = c.dimensions[:3]
    for _k in range(4):
        pos = c.positions + rng.normal(0, 0.08, c.positions.shape)
        slab = np.abs(pos[:, 2] - L[2] / 2) < L[2] / 6
        pos[slab] = rng.random((slab.sum(), 3)) * [L[0], L[1], L[2] / 3] + [0, 0, L[2] / 3]
        frames.append(pos)
    return frames, np.ones(c.n_atoms, int), [c.dimensions] * 4


@pytest.fixture(scope="session")
def dump_file(tmp_path_factory, crystal_frames):
    frames, types, dims = crystal_frames
    return write_lammps_dump(tmp_path_factory.mktemp("traj") / "run.lammpstrj", frames, types, dims)


@pytest.fixture(scope="session")
def client():
    """A real LocalCluster of two worker processes on loopback."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster) as c:
        yield c
