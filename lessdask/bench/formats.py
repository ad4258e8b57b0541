"""``lessdask bench formats``: end-to-end classification of the same frames from DCD, a LAMMPS dump and a ``.gz``.

The frames of :func:`lessdask.bench.input.write_input_benchmark_files` (noisy fcc, atom lines
in a different order every frame, ``%g`` numbers) are classified end to end
(:func:`lessdask.pipeline.classify`: open the input, read, features, model, write the store)
on one LocalCluster worker with one thread, from each file in turn, the formats interleaved
and their order rotated across the repeats so that a change in the machine's load falls on
every format alike. Each format is used the way it is best used:

* DCD with a LAMMPS data file as its topology (``Atoms # atomic``, written once next to it);
* the plain dump alone (it names its own types), read by lessdask's registered reader
  ``LAMMPSDUMPFAST`` as ``classify`` does by default (one indexing pass on the client);
* the gzipped dump alone, the same reader (random access through gzip restart points).

Wall time includes what the client does before the tasks (opening the input; for the dumps
the indexing pass); the worker's CPU seconds are measured with ``client.run`` and are the
robust figure on a shared machine. The label counts of the three runs must be equal: the
files hold the same frames.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

FORMATS = ("dcd", "dump", "gz")
#: end-to-end rate of each dump format over DCD's that the benchmark aims at
TARGETS = {"dump": 0.8, "gz": 0.7}


def write_data_topology(dump_path, data_path) -> str:
    """A LAMMPS data file (``Atoms # atomic``) with the ids, types, box and first-frame positions of a dump.

    Parameters
    ----------
    dump_path : str or Path
        A LAMMPS text dump (plain or compressed) with ``id type`` columns.
    data_path : str or Path
        The data file to write (reused when it is newer than the dump).

    Returns
    -------
    str
        ``data_path``.
    """
    from lessdask.trajectory import open_universe

    data_path = Path(data_path)
    if data_path.exists() and data_path.stat().st_mtime >= Path(dump_path).stat().st_mtime:
        return str(data_path)
    u = open_universe(dump_path)
    ts = u.trajectory[0]
    ids = np.asarray(u.atoms.ids)
    types = np.asarray(u.atoms.types).astype(int)
    order = np.argsort(ids)
    lx, ly, lz = ts.dimensions[:3]
    tmp = data_path.with_suffix(data_path.suffix + ".tmp")
    with open(tmp, "w") as f:
        f.write(f"LAMMPS data file from {Path(dump_path).name} (lessdask bench formats)\n\n"
                f"{len(ids)} atoms\n{int(types.max())} atom types\n\n"
                f"0 {lx:.8g} xlo xhi\n0 {ly:.8g} ylo yhi\n0 {lz:.8g} zlo zhi\n\n"
                "Masses\n\n" + "".join(f"{t} 63.546\n" for t in range(1, int(types.max()) + 1))
                + "\nAtoms # atomic\n\n")
        table = np.column_stack([ids[order], types[order], ts.positions[order]])
        np.savetxt(f, table, fmt=["%d", "%d", "%.6g", "%.6g", "%.6g"])
    tmp.replace(data_path)
    return str(data_path)


def _label_counts(store) -> dict:
    """Atoms labelled with each class over all frames of a results store (``other`` for -1)."""
    from lessdask.store import open_results

    ds = open_results(store)
    names = [str(s) for s in np.asarray(ds["structure"].values).tolist()]
    labels = np.asarray(ds["label"].values).ravel()
    counts = np.bincount(labels.astype(np.int64) + 1, minlength=len(names) + 1)
    out = {"other": int(counts[0])} if counts[0] else {}
    out.update({name: int(c) for name, c in zip(names, counts[1:]) if c})
    return out


def bench_formats(n_atoms: int = 1_000_000, n_frames: int = 8, repeat: int = 3, workdir=None,
                  json_path=None) -> dict:
    """Atom-frames/s of ``classify`` end to end from DCD, a plain LAMMPS dump and a gzipped one, in one run.

    The same frames (:func:`lessdask.bench.input.write_input_benchmark_files`) are classified
    on one LocalCluster worker with one thread, the three formats interleaved in every repeat
    (their order rotated from one repeat to the next); medians over the repeats.

    Parameters
    ----------
    n_atoms, n_frames : int
        Size of the generated trajectory (atoms per frame: about; a whole fcc cube).
    repeat : int
        Timed runs per format (the median is reported).
    workdir : str or Path, optional
        Where the trajectory (and the DCD's data file) is written and reused (default: a
        temporary directory, removed). The results stores always go to a temporary
        directory inside it.
    json_path : str or Path, optional
        Also write the figures there as JSON.

    Returns
    -------
    dict
        ``atoms``, ``frames``, ``repeat``, the file sizes, and per format (``dcd``, ``dump``,
        ``gz``): the input files, every run's wall seconds and the worker's CPU seconds, their
        medians, ``atom_frames_per_second`` (wall), ``atom_frames_per_worker_cpu_second`` and
        the ``label_counts`` of its last run; ``ratios`` of each dump format's rates over DCD's
        (``dump_vs_dcd``, ``gz_vs_dcd``, wall and CPU), the ``targets`` and whether they are met,
        and ``labels_equal`` (the three formats gave the same label counts).
    """
    from distributed import Client, LocalCluster

    from lessdask.bench.frames import workers_cpu_seconds
    from lessdask.bench.input import write_input_benchmark_files
    from lessdask.pipeline import classify

    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="lessdask-bench-formats-")
        workdir = tmp.name
    try:
        files = write_input_benchmark_files(workdir, n_atoms, n_frames)
        data = write_data_topology(files["dump"], Path(workdir) / "bench.data")
        inputs = {"dcd": (data, [files["dcd"]]), "dump": (files["dump"], []), "gz": (files["gz"], [])}
        out = {"atoms": files["atoms"], "frames": n_frames, "repeat": repeat,
               "bytes": {"dcd": Path(files["dcd"]).stat().st_size, "dump": Path(files["dump"]).stat().st_size,
                         "gz": Path(files["gz"]).stat().st_size, "dcd_topology": Path(data).stat().st_size}}
        wall = {f: [] for f in FORMATS}
        cpu = {f: [] for f in FORMATS}
        counts, order_log = {}, []
        with tempfile.TemporaryDirectory(prefix="stores-", dir=workdir) as stores, \
                LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                             silence_logs=40) as cluster, Client(cluster) as c:
            stores = Path(stores)
            for f in FORMATS:  # model, numba kernels and each reader's first use, untimed
                top, traj = inputs[f]
                classify(top, traj, output=stores / f"warm-{f}.zarr", client=c, progress=False, stop=1)
            for k in range(repeat):
                order = FORMATS[k % len(FORMATS):] + FORMATS[:k % len(FORMATS)]
                order_log.append(list(order))
                for f in order:
                    top, traj = inputs[f]
                    c0 = workers_cpu_seconds(c)
                    t = time.perf_counter()
                    s = classify(top, traj, output=stores / f"{f}.zarr", client=c, progress=False,
                                 overwrite=True)
                    wall[f].append(time.perf_counter() - t)
                    cpu[f].append(workers_cpu_seconds(c) - c0)
            for f in FORMATS:
                counts[f] = _label_counts(stores / f"{f}.zarr")
        af = s["atoms"] * s["frames"]
        out["order"] = order_log
        for f in FORMATS:
            w, u = statistics.median(wall[f]), statistics.median(cpu[f])
            top, traj = inputs[f]
            out[f] = {"topology": top, "trajectory": traj, "seconds": round(w, 2),
                      "all_seconds": [round(x, 2) for x in wall[f]], "worker_cpu_seconds": round(u, 2),
                      "all_worker_cpu_seconds": [round(x, 2) for x in cpu[f]],
                      "atom_frames_per_second": round(af / w), "atom_frames_per_worker_cpu_second": round(af / u),
                      "label_counts": counts[f]}
        out["ratios"] = {
            f"{f}_vs_dcd": {key: round(out[f][key] / out["dcd"][key], 3)
                            for key in ("atom_frames_per_second", "atom_frames_per_worker_cpu_second")}
            for f in ("dump", "gz")}
        out["targets"] = {f"{f}_vs_dcd": v for f, v in TARGETS.items()}
        out["meets_targets"] = {f"{f}_vs_dcd": out["ratios"][f"{f}_vs_dcd"]["atom_frames_per_second"] >= v
                                for f, v in TARGETS.items()}
        out["labels_equal"] = counts["dcd"] == counts["dump"] == counts["gz"]
    finally:
        if tmp is not None:
            tmp.cleanup()
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=2) + "\n")
    return out


def formats_report(result: dict) -> str:
    """The figures of :func:`bench_formats` as a few lines of text."""
    lines = [f"{result['atoms']:,} atoms x {result['frames']} frames, 1 worker (1 thread), "
             f"median of {result['repeat']} (formats interleaved); atom-frames/s wall, per worker CPU second:"]
    for f, name in (("dcd", "DCD + data file"), ("dump", "LAMMPS dump"), ("gz", "LAMMPS dump .gz")):
        r = result[f]
        lines.append(f"  {name:<16} {r['atom_frames_per_second']:>9,}  {r['atom_frames_per_worker_cpu_second']:>9,}"
                     f"  ({r['seconds']} s, all {r['all_seconds']})")
    for key in ("dump_vs_dcd", "gz_vs_dcd"):
        r, target = result["ratios"][key], result["targets"][key]
        met = "met" if result["meets_targets"][key] else "MISSED"
        lines.append(f"{key.replace('_vs_', '/')}: {r['atom_frames_per_second']} wall, "
                     f"{r['atom_frames_per_worker_cpu_second']} CPU (target {target}: {met})")
    lines.append("label counts equal in the three formats: " + ("yes" if result["labels_equal"] else
                                                                f"NO {[result[f]['label_counts'] for f in FORMATS]}"))
    return "\n".join(lines)
