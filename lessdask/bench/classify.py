"""``lessdask bench classify``: end-to-end throughput, 1 vs 2 workers, memory vs trajectory length.

When OVITO's Python module is installed (``pip install '.[ovito]'``), the same frames are
also labelled by OVITO's Polyhedral Template Matching on one thread, for a per-core speed
ratio and an fcc-fraction sanity check (:func:`time_ovito_ptm`).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

OVITO_NOT_INSTALLED = "OVITO not installed: pip install ovito to compare"


class OvitoUnavailable(RuntimeError):
    """OVITO's Python module cannot be used; the message says why and starts with what to tell the user.

    ``installed`` is False when the ``ovito`` package is simply absent, True when it is
    installed but fails to load (e.g. a missing system library).
    """

    def __init__(self, message: str, installed: bool):
        super().__init__(message)
        self.installed = installed


def import_ovito(threads: int | None = 1):
    """Import OVITO's Python module, restricted to ``threads`` worker threads.

    Parameters
    ----------
    threads : int or None, default 1
        Sets the environment variable ``OVITO_THREAD_COUNT`` (OVITO's own thread-pool
        size) before the import; it stays set for the rest of the process. None leaves
        OVITO's default (all cores).

    Returns
    -------
    module
        The ``ovito`` package.

    Raises
    ------
    OvitoUnavailable
        ``"OVITO not installed: pip install ovito to compare"`` when the package is absent,
        ``"OVITO comparison skipped: <reason>"`` when it is installed but its import fails
        with an ImportError or OSError (for instance a shared library it needs is missing).
    """
    if threads is not None:
        os.environ["OVITO_THREAD_COUNT"] = str(int(threads))
    try:
        import ovito
        from ovito.data import DataCollection  # noqa: F401  (loads the compiled extension)
        from ovito.modifiers import CommonNeighborAnalysisModifier, PolyhedralTemplateMatchingModifier  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name == "ovito":
            raise OvitoUnavailable(OVITO_NOT_INSTALLED, installed=False) from exc
        raise OvitoUnavailable(f"OVITO comparison skipped: {type(exc).__name__}: {exc}", installed=True) from exc
    except (ImportError, OSError) as exc:
        raise OvitoUnavailable(f"OVITO comparison skipped: {type(exc).__name__}: {exc}", installed=True) from exc
    return ovito


def _ovito_data(positions, dims, pbc):
    """An OVITO DataCollection of ``positions`` in the box ``dims`` (periodic) or an enclosing free cell."""
    from ovito.data import DataCollection

    pos = np.asarray(positions, dtype=np.float64)
    data = DataCollection()
    if pbc:
        from MDAnalysis.lib.mdamath import triclinic_vectors

        h = np.asarray(triclinic_vectors(np.asarray(dims, dtype=np.float64)), dtype=np.float64)  # rows: a, b, c
        frac = pos @ np.linalg.inv(h)
        pos = (frac - np.floor(frac)) @ h  # wrapped into the cell
        data.create_cell(np.column_stack([h.T, np.zeros(3)]), pbc=(True, True, True))
    else:
        lo, hi = pos.min(axis=0) - 1.0, pos.max(axis=0) + 1.0
        data.create_cell(np.column_stack([np.diag(hi - lo), lo]), pbc=(False, False, False))
    data.create_particles(count=len(pos)).create_property("Position", data=pos)
    return data


def _type_names(modifier_class) -> tuple[str, ...]:
    """Lower-case names of a structure-identification modifier's type values, indexed by value."""
    members = {int(v): k.lower() for k, v in modifier_class.Type.__members__.items()}
    return tuple(members.get(i, f"type{i}") for i in range(max(members) + 1))


def ovito_structure_types(positions, dims=None, method="ptm", pbc=True):
    """Label atoms with OVITO's PTM or adaptive common-neighbour analysis.

    Call :func:`import_ovito` first to choose the thread count (otherwise OVITO's
    default applies).

    Parameters
    ----------
    positions : array_like
        ``(n, 3)`` Cartesian coordinates in Å.
    dims : array_like, optional
        Box ``[a, b, c, alpha, beta, gamma]`` (MDAnalysis convention); required when
        ``pbc`` is true.
    method : {"ptm", "acna"}, default "ptm"
        ``"ptm"``: ``PolyhedralTemplateMatchingModifier`` with OVITO's defaults (FCC, HCP,
        BCC enabled, RMSD cutoff 0.1). ``"acna"``: ``CommonNeighborAnalysisModifier`` in
        adaptive-cutoff mode.
    pbc : bool, default True
        Periodic box ``dims``; False puts the atoms in a free (non-periodic) cell.

    Returns
    -------
    types : numpy.ndarray
        ``(n,)`` int structure type of each atom (OVITO's ``Structure Type``).
    names : tuple of str
        Lower-case name of each type value: ``names[types[i]]``, e.g. ``"fcc"``, ``"other"``.

    Raises
    ------
    OvitoUnavailable
        If OVITO cannot be imported.
    ValueError
        For an unknown ``method`` or ``pbc`` without ``dims``.
    """
    import_ovito(threads=None)  # keeps a thread count set earlier
    from ovito.modifiers import CommonNeighborAnalysisModifier, PolyhedralTemplateMatchingModifier

    if pbc and dims is None:
        raise ValueError("dims is required with pbc=True")
    if method == "ptm":
        mod = PolyhedralTemplateMatchingModifier()
    elif method == "acna":
        mod = CommonNeighborAnalysisModifier(mode=CommonNeighborAnalysisModifier.Mode.AdaptiveCutoff)
    else:
        raise ValueError(f"method must be 'ptm' or 'acna', not {method!r}")
    data = _ovito_data(positions, dims, pbc)
    data.apply(mod)
    names = _type_names(type(mod))
    return np.asarray(data.particles["Structure Type"], dtype=np.int64).copy(), names


def time_ovito_ptm(positions_frames, dims, pbc=True, threads=1) -> dict:
    """Time OVITO's Polyhedral Template Matching on frames, on a fixed number of threads.

    Only the modifier evaluation is timed (building OVITO's particle arrays from numpy
    is not), so the rate is PTM's own compute rate, not an end-to-end one.

    Parameters
    ----------
    positions_frames : iterable of array_like
        ``(n, 3)`` positions in Å of each frame (a generator is fine: frames are used one
        at a time).
    dims : array_like
        Box ``[a, b, c, alpha, beta, gamma]`` shared by all frames (ignored if not ``pbc``).
    pbc : bool, default True
        Periodic boundaries.
    threads : int, default 1
        OVITO thread count (``OVITO_THREAD_COUNT``, see :func:`import_ovito`).

    Returns
    -------
    dict
        ``frames``, ``atom_frames``, ``seconds`` (wall), ``cpu_seconds`` (process CPU
        time over the same calls), ``cpu_per_wall`` (about the number of busy threads; at
        most about ``threads`` when the restriction holds), ``atoms_per_second`` (wall)
        and ``atoms_per_second_per_core`` (= atoms_per_second / threads),
        ``atoms_per_cpu_second``, ``fractions`` (fraction of atom-frames per PTM type),
        ``fcc_fraction``, ``threads`` and ``ovito_version``.

    Raises
    ------
    OvitoUnavailable
        If OVITO cannot be imported (message ``"OVITO not installed: ..."`` or
        ``"OVITO comparison skipped: <reason>"``).

    Examples
    --------
    >>> from lessdask.reference import build_crystal
    >>> x = build_crystal("fcc", 4)
    >>> r = time_ovito_ptm([x.positions], x.dimensions)  # doctest: +SKIP
    >>> r["fcc_fraction"]  # doctest: +SKIP
    1.0
    """
    ovito = import_ovito(threads)
    from ovito.modifiers import PolyhedralTemplateMatchingModifier

    names = _type_names(PolyhedralTemplateMatchingModifier)
    counts = np.zeros(len(names), np.int64)
    wall = cpu = 0.0
    frames = 0
    warmed = False
    for pos in positions_frames:
        pos = np.asarray(pos)
        if not warmed:  # first-call set-up of OVITO's task system, outside the timing
            _ovito_data(pos[: min(len(pos), 2000)], None, False).apply(PolyhedralTemplateMatchingModifier())
            warmed = True
        data = _ovito_data(pos, dims, pbc)
        mod = PolyhedralTemplateMatchingModifier()
        c0, t0 = time.process_time(), time.perf_counter()
        data.apply(mod)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        types = np.asarray(data.particles["Structure Type"])
        counts += np.bincount(types, minlength=len(names))[: len(names)]
        frames += 1
    if frames == 0:
        raise ValueError("positions_frames is empty")
    af = int(counts.sum())
    fractions = {n: float(c / af) for n, c in zip(names, counts) if c}
    return {
        "method": "OVITO PolyhedralTemplateMatchingModifier (defaults: FCC/HCP/BCC, RMSD cutoff 0.1)",
        "ovito_version": ovito.version_string,
        "threads": threads,
        "frames": frames,
        "atom_frames": af,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "cpu_per_wall": round(cpu / wall, 2),
        "atoms_per_second": round(af / wall),
        "atoms_per_second_per_core": round(af / wall / (threads or os.cpu_count() or 1)),
        "atoms_per_cpu_second": round(af / cpu) if cpu > 0 else None,
        "fractions": fractions,
        "fcc_fraction": fractions.get("fcc", 0.0),
        "timed": "modifier evaluation only (positions already in memory; no file reading)",
    }


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
    # MDAnalysis writes 'id mol type x y z' under a bare "Atoms": name the style, as LAMMPS does
    top.write_text(top.read_text().replace("\nAtoms\n", "\nAtoms # molecular\n", 1))
    rng = np.random.default_rng(seed)
    with mda.Writer(str(traj), n) as w:
        for _ in range(n_frames):
            u.atoms.positions = pos + rng.normal(0, 0.08, pos.shape)
            w.write(u.atoms)
    return top, traj


def _serial(top, traj, model):
    """The peer: the same work in one process, no Dask (MDAnalysis loop, features, model, no writes)."""
    import numba

    from lessdask.frame import classify_frame
    from lessdask.trajectory import open_universe, read_frame

    numba.set_num_threads(1)
    u = open_universe(top, [traj])
    t = time.perf_counter()
    for frame in range(u.trajectory.n_frames):
        pos, box, _ = read_frame(u, frame)
        classify_frame(pos, box, None, model)
    return time.perf_counter() - t


def _worker_peak_mb():
    from lessdask.bench.frames import peak_rss_mb

    return peak_rss_mb()  # not ru_maxrss: a spawned worker's includes the client's RSS


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


def _fcc_fraction(store) -> float:
    """Fraction of atom-frames labelled fcc in a results store."""
    from lessdask.store import open_results

    ds = open_results(store)
    names = [str(s) for s in np.asarray(ds["structure"].values).tolist()]
    return float((ds["label"] == names.index("fcc")).mean().compute())


def _ovito_ptm_section(top, traj, out) -> dict | str:
    """PTM on one thread over the benchmark frames, and the per-core ratio to lessdask."""
    from lessdask.trajectory import open_universe

    try:
        import_ovito(threads=1)
    except OvitoUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return str(exc)
    u = open_universe(top, [traj])
    dims = u.trajectory.ts.dimensions.copy()
    ptm = time_ovito_ptm((u.atoms.positions.copy() for _ in u.trajectory), dims, pbc=True, threads=1)
    per_core = ptm["atoms_per_second_per_core"]
    ptm["lessdask_per_core_vs_ptm_per_core"] = {
        f"workers_{w}": round(out[f"workers_{w}"]["atom_frames_per_second_per_core"] / per_core, 2) for w in (1, 2)
    }
    ptm["ratio_definition"] = ("lessdask end-to-end atom-frames/s per core (read DCD, features, model, write Zarr) "
                               "/ PTM atoms/s on one thread (modifier only)")
    if ptm["cpu_per_wall"] > 1.3:
        ptm["thread_check"] = f"PTM used about {ptm['cpu_per_wall']} cores, not 1: the per-core rate is too high"
    elif ptm["cpu_per_wall"] < 0.8:
        ptm["thread_check"] = (f"PTM got only {ptm['cpu_per_wall']} of a core (busy machine): its wall rate is too "
                               f"low; "
                               "atoms_per_cpu_second is the uncontended one-thread rate")
    print(f"OVITO PTM, 1 thread: {ptm['atoms_per_second']} atoms/s (CPU/wall {ptm['cpu_per_wall']}); "
          f"lessdask/PTM per core: {ptm['lessdask_per_core_vs_ptm_per_core']['workers_1']} (1 worker), "
          f"{ptm['lessdask_per_core_vs_ptm_per_core']['workers_2']} (2 workers); "
          f"fcc fraction PTM {ptm['fcc_fraction']:.4f}, lessdask {out['lessdask_fcc_fraction']:.4f}", file=sys.stderr)
    return ptm


def bench_classify(n_atoms=1_000_000, n_frames=10, long_frames=40, json_path=None) -> dict:
    """Time ``classify`` on 1 and 2 workers against a serial in-process loop; report worker memory.

    Memory is bounded by the chunk, not the trajectory: the peak worker RSS of a run over
    ``long_frames`` frames is reported next to that of ``n_frames``. The trajectory is a
    generated noisy fcc Cu crystal in LAMMPS data + DCD (binary) format.

    If OVITO is installed, its PTM labels the same frames on one thread (``ovito_ptm``:
    atoms/s per core, the lessdask-per-core / PTM-per-core ratio, and PTM's fcc fraction
    next to ``lessdask_fcc_fraction``); otherwise ``ovito_ptm`` holds the message
    ``"OVITO not installed: pip install ovito to compare"``.
    """
    from MDAnalysis.coordinates.DCD import DCDReader

    from lessdask.model import load_model

    out = {"atoms": n_atoms, "frames": n_frames, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        top, traj = write_benchmark_trajectory(tmp, n_atoms, n_frames)
        model = load_model("default")
        _serial(top, traj, model)  # warm caches
        t = _serial(top, traj, model)
        with warnings.catch_warnings():  # DCDReader's timestep-copy DeprecationWarning
            warnings.simplefilter("ignore", DeprecationWarning)
            with DCDReader(str(traj)) as r:  # the lattice holds 4 n^3 atoms, close to n_atoms
                out["atoms_per_frame"] = int(r.n_atoms)
        af = out["atoms_per_frame"] * n_frames
        out["serial_seconds"] = round(t, 2)
        out["serial_atom_frames_per_second"] = round(af / t)
        for workers in (1, 2):
            dt, peak = _run_on_cluster(workers, top, traj, tmp, f"w{workers}")
            out[f"workers_{workers}"] = {"seconds": round(dt, 2), "atom_frames_per_second": round(af / dt),
                                         "atom_frames_per_second_per_core": round(af / dt / workers),
                                         "peak_worker_rss_mb": round(peak)}
        out["speedup_2_vs_1_workers"] = round(out["workers_1"]["seconds"] / out["workers_2"]["seconds"], 2)
        out["dask_1_worker_vs_serial"] = round(out["serial_seconds"] / out["workers_1"]["seconds"], 2)
        out["lessdask_fcc_fraction"] = round(_fcc_fraction(Path(tmp) / "w1.zarr"), 4)
        out["ovito_ptm"] = _ovito_ptm_section(top, traj, out)
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
