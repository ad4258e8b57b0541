"""Paper Figure 3a test case: a non-periodic Cu polycrystal, classified with free boundaries.

Construction (:func:`build_polycrystal`): ``n_grains`` Voronoi grains in a cube of edge
``box`` Å with **free surfaces** (no periodic images). Grain seeds are random (minimum
seed spacing so no grain is tiny); each grain is filled with fcc Cu (a = 3.615 Å) under
its own random rotation and random sub-cell shift, keeping the lattice sites whose nearest
seed is that grain's; then one atom of every pair closer than ``rmin`` (2.0 Å) across a
grain boundary is removed. For every atom the builder keeps its grain and its distance to
the nearest grain boundary (the Voronoi bisector plane) and to the nearest free surface.

MD (real LAMMPS, EAM ``Cu_u3.eam``, Foiles-Baskes-Daw 1986, one process):
``boundary s s s``, conjugate-gradient minimisation, then 4 ps NVT at 300 K (1 fs),
dumped every 1 ps (5 frames: the minimised structure and 1-4 ps).

Classification: ``lessdask.pipeline.classify`` with the default model, ``pbc=False``.
Outputs in ``docs/testcases/cu_polycrystal/``: ``numbers.json`` (fcc fraction inside
grains, i.e. atoms > 5 Å from every grain boundary and free surface, and in
boundaries/surfaces, all classes per region), ``slice.png`` (a 3 Å slab through the
middle coloured by grain and by class), ``regions.png`` (class fractions per region).

OVITO comparison (optional, ``pip install '.[ovito]'``): when OVITO's Python module imports,
its Polyhedral Template Matching and adaptive common-neighbour analysis label the same
frames of the same dump (free cell, one thread) and ``numbers.json["ovito_comparison"]``
holds their fcc fractions inside grains, per region and over all atoms next to lessdask's;
otherwise it holds the reason it was skipped.

Run: python jobs/testcase_cu_polycrystal.py [--outdir DIR]   (about 5 minutes on one core)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from lessdask.reference.testcases import (
    INNER,
    SHELL,
    build_polycrystal,
    lammps_dump,
    read_dump_frames,
    region_masks,
    run_case,
    write_json,
)

ROOT = Path(__file__).resolve().parents[1]

CASE = "cu_polycrystal"
DOCS = ROOT / "docs" / "testcases" / CASE
def write_data(path: Path, pos: np.ndarray, box: float, mass: float = 63.546):
    lines = [
        "Cu Voronoi polycrystal (lessdask test case)",
        "",
        f"{len(pos)} atoms",
        "1 atom types",
        "",
        f"-1.0 {box + 1.0} xlo xhi",
        f"-1.0 {box + 1.0} ylo yhi",
        f"-1.0 {box + 1.0} zlo zhi",
        "",
        "Masses",
        "",
        f"1 {mass}",
        "",
        "Atoms # atomic",
        "",
    ]
    lines += [f"{i + 1} 1 {x:.6f} {y:.6f} {z:.6f}" for i, (x, y, z) in enumerate(pos)]
    path.write_text("\n".join(lines) + "\n")


def md_stage(work: Path, poly: dict) -> Path:
    from lessdask.reference.md import potential_dir

    dump = work / "polycrystal.lammpstrj.gz"
    if dump.exists():
        print(f"[md] reusing {dump}")
        return dump
    data = work / "polycrystal.data"
    write_data(data, poly["positions"], poly["box"])
    raw = work / "polycrystal.lammpstrj"
    return lammps_dump(
        f"""
        units metal
        atom_style atomic
        boundary s s s
        read_data {data}
        pair_style eam
        pair_coeff * * {potential_dir()}/Cu_u3.eam
        neighbor 2.0 bin
        neigh_modify every 1 delay 0 check yes
        thermo 500
        min_style cg
        minimize 1.0e-8 1.0e-10 300 3000
        reset_timestep 0
        timestep 0.001
        velocity all create 600 8123 mom yes rot yes dist gaussian
        fix nvt all nvt temp 300 300 0.1
        dump d all custom 1000 {raw} id type x y z
        dump_modify d sort id
        run 4000
        """,
        work, raw, dump,
    )


def analyse(store: Path, poly: dict, model_name: str = "default") -> dict:
    from lessdask.analysis import CLASS_COLORS, OTHER, open_results

    ds = open_results(store)
    names = [str(s) for s in ds["structure"].values]
    labels = np.asarray(ds["label"].values)  # (frame, atom)
    ids = np.asarray(ds["atom"].values)
    assert np.array_equal(ids, np.arange(1, len(poly["grain"]) + 1)), "atom ids do not match construction"
    masks = region_masks(poly)
    out = {"classes": names, "regions": {}, "n_frames": int(labels.shape[0]), "time_ps": ds["time"].values.tolist()}
    fcc = labels == names.index("fcc")
    out["all_atoms"] = {
        "n_atoms": int(labels.shape[1]),
        "fcc_fraction_all_frames": float(fcc.mean()),
        "fcc_fraction_per_frame": fcc.mean(axis=1).tolist(),
    }
    for region, m in masks.items():
        lab = labels[:, m]
        frac = {n: float((lab == k).mean()) for k, n in enumerate(names)}
        frac[OTHER] = float((lab == -1).mean())
        per_frame_fcc = [float((lab[f] == names.index("fcc")).mean()) for f in range(lab.shape[0])]
        out["regions"][region] = {
            "n_atoms": int(m.sum()),
            "fractions_all_frames": frac,
            "fcc_fraction_per_frame": per_frame_fcc,
        }
    # figures
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    pos = np.asarray(ds["position"].isel(frame=-1).values)
    zmid = 0.5 * (pos[:, 2].min() + pos[:, 2].max())
    sl = np.abs(pos[:, 2] - zmid) < 1.5
    fig = Figure(figsize=(12, 6), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.scatter(pos[sl, 0], pos[sl, 1], c=poly["grain"][sl], cmap="tab10", s=9, vmin=0, vmax=9)
    ax1.set_title(f"grain (construction), slab |z - {zmid:.0f} Å| < 1.5 Å")
    lab = labels[-1]
    colors = np.array([CLASS_COLORS.get(n, "#000000") for n in names] + [CLASS_COLORS[OTHER]])
    ax2.scatter(pos[sl, 0], pos[sl, 1], c=colors[lab[sl]], s=9)
    present = sorted(set(lab[sl].tolist()))
    ax2.legend(
        handles=[Line2D([], [], marker="o", ls="", color=colors[k],
                        label=names[k] if k >= 0 else OTHER) for k in present],
        loc="upper right",
        fontsize=8,
    )
    ax2.set_title(f"LESS class ({model_name} model), t = {float(ds['time'].values[-1]):.0f} ps")
    for ax in (ax1, ax2):
        ax.set_aspect("equal")
        ax.set_xlabel("x (Å)")
        ax.set_ylabel("y (Å)")
    DOCS.mkdir(parents=True, exist_ok=True)
    fig.savefig(DOCS / "slice.png", dpi=110)

    fig = Figure(figsize=(7, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    regions = list(masks)
    bottom = np.zeros(len(regions))
    for n in [*names, OTHER]:
        vals = np.array([out["regions"][r]["fractions_all_frames"][n] for r in regions])
        if vals.max() > 0.001:
            ax.bar(regions, vals, bottom=bottom, color=CLASS_COLORS.get(n, "k"), label=n)
            bottom += vals
    ax.set_ylabel("fraction of atoms (all frames)")
    ax.legend(fontsize=8)
    ax.set_title("Cu polycrystal, free surfaces: LESS classes per region")
    fig.savefig(DOCS / "regions.png", dpi=110)
    return out


def ovito_comparison(dump: Path, poly: dict, lessdask: dict) -> dict | str:
    """OVITO's PTM and adaptive CNA on every frame of ``dump``: fcc fractions per region next to lessdask's.

    ``lessdask`` is the output of :func:`analyse`. The regions are :func:`region_masks`
    (the construction's distances), plus all atoms. Returns the reason as a string when
    OVITO cannot be imported ("OVITO not installed: ..." or "OVITO comparison skipped: ...").
    """
    from lessdask.bench.classify import OvitoUnavailable, import_ovito, ovito_structure_types

    try:
        ovito = import_ovito(threads=1)
    except OvitoUnavailable as exc:
        print(f"[ovito] {exc}")
        return str(exc)
    frames = read_dump_frames(dump)
    n = len(poly["grain"])
    masks = {**region_masks(poly), "all_atoms": np.ones(n, bool)}
    methods = {
        "ptm": "PolyhedralTemplateMatchingModifier, OVITO defaults (FCC/HCP/BCC, RMSD cutoff 0.1)",
        "acna": "CommonNeighborAnalysisModifier(mode=AdaptiveCutoff)",
    }
    fractions = {m: {r: [] for r in masks} for m in methods}  # per frame: {class: fraction}
    seconds = {}
    for m in methods:
        t = time.perf_counter()
        for _, _, cols in frames:
            assert np.array_equal(cols["id"], np.arange(1, n + 1)), "dump atom ids do not match construction"
            pos = np.column_stack([cols["x"], cols["y"], cols["z"]])
            types, names = ovito_structure_types(pos, method=m, pbc=False)
            for r, mask in masks.items():
                counts = np.bincount(types[mask], minlength=len(names))
                fractions[m][r].append({k: float(c / mask.sum()) for k, c in zip(names, counts)})
        seconds[m] = round(time.perf_counter() - t, 2)

    def fcc_of(region):
        if region == "all_atoms":
            les = lessdask["all_atoms"]
            row = {"lessdask": les["fcc_fraction_all_frames"]}
            per = {"lessdask": les["fcc_fraction_per_frame"]}
        else:
            les = lessdask["regions"][region]
            row = {"lessdask": les["fractions_all_frames"]["fcc"]}
            per = {"lessdask": les["fcc_fraction_per_frame"]}
        for m in methods:
            per[m] = [f["fcc"] for f in fractions[m][region]]
            row[m] = float(np.mean(per[m]))  # every frame has the same atoms: mean over frames = all atom-frames
        return row, per

    res = {
        "ovito_version": ovito.version_string,
        "methods": methods,
        "input": f"{dump.name}: the {len(frames)} frames lessdask classified, free (non-periodic) cell, one OVITO "
                 f"thread",
        "regions": "same masks as lessdask (construction distances): " + ", ".join(masks),
    }
    per_frame = {}
    for r in masks:
        res[f"fcc_fraction_{r}"], per_frame[r] = fcc_of(r)
    res["fcc_fraction_per_frame"] = per_frame
    res["fractions_all_frames"] = {
        m: {r: {k: float(np.mean([f[k] for f in fr])) for k in fr[0] if any(f[k] for f in fr)} for r,
            fr in by_r.items()}
        for m, by_r in fractions.items()
    }
    res["seconds"] = seconds
    gi, al = res["fcc_fraction_grain_interior"], res["fcc_fraction_all_atoms"]
    print("[ovito] fcc fraction inside grains: " + ", ".join(f"{k} {v:.4f}" for k, v in gi.items())
          + "; all atoms: " + ", ".join(f"{k} {v:.4f}" for k, v in al.items()))
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outdir", default=str(Path.home() / ".cache" / "lessdask" / "testcases" / CASE))
    ap.add_argument("--box", type=float, default=65.0)
    ap.add_argument("--grains", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--model", default="default",
                    help="model file (default: the default model; another model writes its figures and "
                         "numbers to OUTDIR/model-NAME/ instead of docs/)")
    args = ap.parse_args(argv)
    global DOCS
    tag = "" if args.model == "default" else f"-{Path(args.model).stem}"
    if tag:
        DOCS = Path(args.outdir) / f"model{tag}"
    work = Path(args.outdir)
    work.mkdir(parents=True, exist_ok=True)
    poly = build_polycrystal(box=args.box, n_grains=args.grains, seed=args.seed)
    print(f"[build] {len(poly['grain'])} atoms, {args.grains} grains, {poly['n_removed']} removed (< 2.0 Å)")
    dump, store = work / "polycrystal.lammpstrj.gz", work / f"polycrystal{tag}.zarr"
    out = run_case(work, dump, lambda: md_stage(work, poly), store, lambda: analyse(store, poly, Path(args.model).stem),
                   model=args.model, pbc=False)
    inside = out["regions"]["grain_interior"]
    out.update(
        {
            "case": "Cu polycrystal, free surfaces (paper Figure 3a)",
            "n_atoms": int(len(poly["grain"])),
            "n_grains": args.grains,
            "box_A": args.box,
            "n_removed_close_pairs": poly["n_removed"],
            "potential": "EAM Cu_u3.eam (Foiles, Baskes, Daw 1986)",
            "md": "boundary s s s; CG minimisation; 4 ps NVT 300 K, 1 fs; frames every 1 ps",
            "region_definition": f"interior: > {INNER} Å from every Voronoi face and cube face (construction); "
            f"grain_boundary: < {SHELL} Å from a Voronoi face and > {INNER} Å from the surface; surface: < {SHELL} Å "
            f"from a cube face",
            "fcc_fraction_interior": inside["fractions_all_frames"]["fcc"],
            "fcc_fraction_grain_boundary": out["regions"]["grain_boundary"]["fractions_all_frames"]["fcc"],
            "fcc_fraction_surface": out["regions"]["surface"]["fractions_all_frames"]["fcc"],
            "fcc_fraction_all_atoms": out["all_atoms"]["fcc_fraction_all_frames"],
            "other_fraction": {r: v["fractions_all_frames"]["other"] for r, v in out["regions"].items()},
        }
    )
    out["ovito_comparison"] = ovito_comparison(dump, poly, out)
    write_json(DOCS / "numbers.json", out)
    print(f"fcc fraction: interior {out['fcc_fraction_interior']:.3f}, GB {out['fcc_fraction_grain_boundary']:.3f}, "
          f"surface {out['fcc_fraction_surface']:.3f}; total {out['wall_time_s']['this_invocation']:.0f} s")


if __name__ == "__main__":
    main()
