"""Time opening LAMMPS data files: MDAnalysis' DATA parser and reader vs lessdask's DATAFAST.

Writes a ``molecular`` data file of ~1M atoms with
:func:`lessdask.bench.classify.write_benchmark_trajectory` and an ``atomic`` copy of it (the
molecule id column dropped), then times ``mda.Universe(path, format="DATA")`` (topology and
positions) against the same with ``topology_format=format="DATAFAST"``, and the topology alone
(``DATAParser(path).parse()`` vs ``FastDATAParser(path).parse()``), interleaved, median of
``--repeats``. Run it niced on a quiet machine: absolute times are noisy, the ratio less so::

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 nice -n 19 python jobs/bench_data_parser.py --atoms 1000000
"""

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import MDAnalysis as mda
from MDAnalysis.topology.LAMMPSParser import DATAParser

from lessdask.bench.classify import write_benchmark_trajectory
from lessdask.trajectory.dataparse import FORMAT, FastDATAParser


def _atomic_copy(src: Path, dst: Path) -> None:
    out, in_atoms = [], False
    for line in src.read_text().split("\n"):
        s = line.strip()
        if s.startswith("Atoms"):
            out.append("Atoms # atomic")
            in_atoms = True
            continue
        if in_atoms and s and s[0].isalpha():
            in_atoms = False
        if in_atoms and s:
            t = line.split()
            line = " ".join([t[0], *t[2:]])
        out.append(line)
    dst.write_text("\n".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", default=None, help="reuse/write the files here (default: a temporary directory)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(args.dir or tmp)
        d.mkdir(parents=True, exist_ok=True)
        molecular = d / "bench.data"
        if not molecular.exists():
            write_benchmark_trajectory(d, args.atoms, 1)
        atomic = d / "atomic.data"
        if not atomic.exists():
            _atomic_copy(molecular, atomic)
        FastDATAParser(str(atomic)).parse(atom_style="id type x y z")  # compile (cached after the first run)
        cases = {"atomic": (atomic, "id type x y z"), "molecular": (molecular, "id resid type x y z")}
        runs = {
            "Universe DATA": lambda p, s: mda.Universe(str(p), format="DATA", atom_style=s),
            "Universe DATAFAST": lambda p, s: mda.Universe(str(p), topology_format=FORMAT, format=FORMAT,
                                                           atom_style=s),
            "topology DATA": lambda p, s: DATAParser(str(p)).parse(atom_style=s),
            "topology DATAFAST": lambda p, s: FastDATAParser(str(p)).parse(atom_style=s),
        }
        times = {(c, r): [] for c in cases for r in runs}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(args.repeats):
                for c, (path, style) in cases.items():
                    for r, run in runs.items():
                        t = time.perf_counter()
                        run(path, style)
                        times[c, r].append(time.perf_counter() - t)
        for c in cases:
            med = {r: statistics.median(times[c, r]) for r in runs}
            for what in ("Universe", "topology"):
                slow, fast = med[f"{what} DATA"], med[f"{what} DATAFAST"]
                print(f"{c:9s} {what:8s}  DATA {slow:6.2f} s  DATAFAST {fast:6.3f} s  ratio {slow / fast:5.1f}x")


if __name__ == "__main__":
    main()
