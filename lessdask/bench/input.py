"""``lessdask bench input``: reading LAMMPS dumps with lessdask's reader and MDAnalysis', in the same run.

On one generated trajectory (noisy fcc, atom lines in a different order every frame, as a
LAMMPS run on several processors writes them, ``%g`` numbers as LAMMPS' default format),
plain and gzipped, it times:

* opening (finding the frames and reading the first): lessdask's one pass vs MDAnalysis'
  line-counting scan;
* reading one frame, per atom: lessdask plain and ``.gz`` vs MDAnalysis' ``LAMMPSDUMP``
  reader on the same files (and MDAnalysis' DCD reader on the same frames, for scale);
* the first vs the last frames of the ``.gz`` (lessdask: equal; MDAnalysis: grows with the
  frame's position, since its gzip stream restarts or inflates everything before the frame).

The readers run one after the other in this process; medians over the frames read.
"""

from __future__ import annotations

import gzip
import json
import pickle
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

_STAMP = "bench-input.json"
_FORMAT_VERSION = 1


def write_input_benchmark_files(directory, n_atoms: int = 1_000_000, n_frames: int = 40, seed: int = 0) -> dict:
    """A LAMMPS dump, its gzipped copy and a DCD of the same frames (reused when already there).

    Parameters
    ----------
    directory : str or Path
        Where to write (created).
    n_atoms, n_frames : int
        Atoms per frame (about; a whole fcc cube) and frames.
    seed : int
        Random seed of the positions and line orders.

    Returns
    -------
    dict
        Paths ``dump``, ``gz``, ``dcd``, and the ``atoms`` per frame.
    """
    from lessdask.bench.features import noisy_fcc

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    want = {"version": _FORMAT_VERSION, "n_atoms": n_atoms, "n_frames": n_frames, "seed": seed}
    paths = {"dump": d / "bench.lammpstrj", "gz": d / "bench.lammpstrj.gz", "dcd": d / "bench.dcd"}
    stamp = d / _STAMP
    if stamp.exists() and all(p.exists() for p in paths.values()):
        have = json.loads(stamp.read_text())
        if {k: have.get(k) for k in want} == want:
            return {**{k: str(v) for k, v in paths.items()}, "atoms": have["atoms"]}
    pos, dims = noisy_fcc(n_atoms, seed=seed)
    n = len(pos)
    lines = [f"{i} 1 {x:g} {y:g} {z:g}\n".encode() for i, (x, y, z) in zip(range(1, n + 1), pos.tolist())]
    rng = np.random.default_rng(seed)
    head = ("ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n" + f"{n}\nITEM: BOX BOUNDS pp pp pp\n"
            + "".join(f"0 {dims[k]:g}\n" for k in range(3)) + "ITEM: ATOMS id type x y z\n")
    with open(paths["dump"], "wb") as f:
        for k in range(n_frames):
            f.write(head.format(step=1000 * k).encode())
            f.write(b"".join([lines[i] for i in rng.permutation(n)]))
    with open(paths["dump"], "rb") as src, gzip.open(paths["gz"], "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 24)
    import MDAnalysis as mda

    from lessdask.trajectory import open_universe

    u = open_universe(paths["dump"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mda.Writer(str(paths["dcd"]), n) as w:
            for _ in u.trajectory:
                w.write(u.atoms)
    stamp.write_text(json.dumps({**want, "atoms": n}))
    return {**{k: str(v) for k, v in paths.items()}, "atoms": n}


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _read_times(reader, frames) -> list[float]:
    times = []
    for k in frames:
        times.append(_timed(lambda k=k: reader[int(k)])[0])
    return times


def bench_input(n_atoms: int = 1_000_000, n_frames: int = 40, repeat: int = 5, workdir=None,
                json_path=None, mdanalysis_frames: int = 3) -> dict:
    """Per-atom read rates of lessdask's LAMMPS dump reader and MDAnalysis', plain and gzipped.

    Parameters
    ----------
    n_atoms, n_frames : int
        Size of the generated trajectory.
    repeat : int
        Frames read per reader and file (random frames; medians reported) by lessdask and DCD.
    workdir : str or Path, optional
        Where the trajectory is written and reused (default: a temporary directory, removed).
    json_path : str or Path, optional
        Also write the figures there.
    mdanalysis_frames : int
        Frames MDAnalysis' dump reader reads from the plain file (several seconds each at 1M atoms).

    Returns
    -------
    dict
        Seconds and atoms per second per reader, the speed-ups, the ``.gz`` first-vs-last
        ratio, the index sizes.
    """
    from MDAnalysis.coordinates.DCD import DCDReader
    from MDAnalysis.coordinates.LAMMPS import DumpReader

    from lessdask.trajectory.dumpindex import build_index
    from lessdask.trajectory.lammpsdump import FastDumpReader

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="lessdask-bench-input-")
        workdir = tmp.name
    try:
        files = write_input_benchmark_files(workdir, n_atoms, n_frames)
        n = files["atoms"]
        out = {"atoms": n, "frames": n_frames, "dump_bytes": Path(files["dump"]).stat().st_size,
               "gz_bytes": Path(files["gz"]).stat().st_size, "repeat": repeat}
        rng = np.random.default_rng(1)
        sample = rng.choice(n_frames, size=min(repeat, n_frames), replace=False)
        index, seconds, rate = {}, {}, {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # opening = finding the frames + reading frame 0: lessdask's pass vs MDAnalysis' line-counting scan
            index["lessdask_plain_index_only"], plain_idx = _timed(lambda: build_index(files["dump"]))
            index["lessdask_gz_index_only"], gz_idx = _timed(lambda: build_index(files["gz"]))
            index["lessdask_plain"], ours = _timed(lambda: FastDumpReader(files["dump"], dt=0.001))
            index["lessdask_gz"], ours_gz = _timed(lambda: FastDumpReader(files["gz"], dt=0.001))
            index["mdanalysis_plain"], mda_plain = _timed(lambda: DumpReader(files["dump"], dt=0.001))
            index["mdanalysis_gz"], mda_gz = _timed(lambda: DumpReader(files["gz"], dt=0.001))
            # one frame, per atom
            seconds["lessdask_plain"] = _read_times(ours, sample)
            seconds["lessdask_gz"] = _read_times(ours_gz, sample)
            mda_sample = sample[:mdanalysis_frames]
            seconds["mdanalysis_plain"] = _read_times(mda_plain, mda_sample)
            for k in mda_sample:  # same positions, same run
                np.testing.assert_array_equal(ours[int(k)].positions, mda_plain[int(k)].positions)
            dcd = DCDReader(files["dcd"])
            seconds["mdanalysis_dcd"] = _read_times(dcd, sample)
            # gz: first frames vs last frames. lessdask: a fresh reader as a worker gets it, interleaved order
            fresh = pickle.loads(pickle.dumps(ours_gz))
            k_first = list(range(min(5, n_frames)))
            k_last = list(range(max(0, n_frames - 5), n_frames))
            first, last = [], []
            for _ in range(max(1, repeat // 2)):
                for a, b in zip(k_first, reversed(k_last)):
                    last.append(_timed(lambda b=b: fresh[b])[0])
                    first.append(_timed(lambda a=a: fresh[a])[0])
            # MDAnalysis on the gz: frame 1, then the last frame (forward: it inflates every frame in between)
            seconds["mdanalysis_gz_frame_1"] = _read_times(mda_gz, [1])
            seconds[f"mdanalysis_gz_frame_{n_frames - 1}"] = _read_times(mda_gz, [n_frames - 1])
            np.testing.assert_array_equal(fresh[n_frames - 1].positions, mda_gz.ts.positions)
        med = {k: statistics.median(v) for k, v in seconds.items()}
        rate = {k: round(n / v) for k, v in med.items()}
        out["open_seconds"] = {k: round(v, 3) for k, v in index.items()}
        out["read_seconds_per_frame_median"] = {k: round(v, 4) for k, v in med.items()}
        out["atoms_per_second"] = rate
        out["microseconds_per_atom"] = {k: round(1e6 * v / n, 4) for k, v in med.items()}
        out["speedup_vs_mdanalysis"] = {
            "plain": round(med["mdanalysis_plain"] / med["lessdask_plain"], 1),
            "gz_first_frames": round(med["mdanalysis_gz_frame_1"] / med["lessdask_gz"], 1),
            "gz_last_frame": round(med[f"mdanalysis_gz_frame_{n_frames - 1}"] / med["lessdask_gz"], 1),
            "open_plain": round(index["mdanalysis_plain"] / index["lessdask_plain"], 1),
            "open_gz": round(index["mdanalysis_gz"] / index["lessdask_gz"], 1),
        }
        out["lessdask_vs_dcd"] = {"plain": round(med["mdanalysis_dcd"] / med["lessdask_plain"], 3),
                                  "gz": round(med["mdanalysis_dcd"] / med["lessdask_gz"], 3)}
        out["gz_first_vs_last"] = {
            "first_frames": k_first, "last_frames": k_last,
            "first_median_seconds": round(statistics.median(first), 4),
            "last_median_seconds": round(statistics.median(last), 4),
            "ratio_last_over_first": round(statistics.median(last) / statistics.median(first), 3),
            "mdanalysis_ratio_last_over_first": round(med[f"mdanalysis_gz_frame_{n_frames - 1}"]
                                                      / med["mdanalysis_gz_frame_1"], 1),
        }
        out["gz_restart_points_bytes"] = len(gz_idx.gz_points)
        out["pickled_gz_reader_bytes"] = len(pickle.dumps(ours_gz))
    finally:
        if tmp is not None:
            tmp.cleanup()
    if json_path:
        with open(json_path, "w") as f:
            json.dump(out, f, indent=2)
    return out


def input_report(result: dict) -> str:
    """The figures of :func:`bench_input` as a few lines of text."""
    r, s = result["atoms_per_second"], result["speedup_vs_mdanalysis"]
    g, n, o = result["gz_first_vs_last"], result["frames"], result["open_seconds"]
    lines = [
        f"{result['atoms']:,} atoms x {n} frames; dump {result['dump_bytes'] / 1e6:.0f} MB, "
        f".gz {result['gz_bytes'] / 1e6:.0f} MB",
        f"read one frame (atoms/s, median): lessdask {r['lessdask_plain']:,} plain, {r['lessdask_gz']:,} .gz; "
        f"MDAnalysis LAMMPSDUMP {r['mdanalysis_plain']:,} plain; MDAnalysis DCD {r['mdanalysis_dcd']:,}",
        f"lessdask / MDAnalysis dump reader: {s['plain']}x plain, {s['gz_first_frames']}x .gz (frame 1), "
        f"{s['gz_last_frame']}x .gz (frame {n - 1})",
        f"open (find the frames, read frame 0): lessdask {o['lessdask_plain']} s plain, {o['lessdask_gz']} s .gz; "
        f"MDAnalysis {o['mdanalysis_plain']} s plain, {o['mdanalysis_gz']} s .gz",
        f".gz first vs last frames (lessdask): {g['first_median_seconds']} s vs {g['last_median_seconds']} s "
        f"(ratio {g['ratio_last_over_first']}; MDAnalysis frame {n - 1} / frame 1: "
        f"{g['mdanalysis_ratio_last_over_first']})",
    ]
    return "\n".join(lines)
