"""Paper Figure 3c test case: layer-averaged LESS class probabilities across a Si/Al interface.

Structure: diamond-cubic Si (a = 5.431 Å, 6 x 6 x 6 cells) stacked along z on fcc Al
(a = 4.05 Å, 8 x 8 x 8 cells; its x/y spacing is stretched by 0.56 % to the Si cell,
8 x 4.05 = 32.40 vs 6 x 5.431 = 32.59 Å), (001) on (001), periodic in x, y, z (so there
are two Si/Al interfaces), 2.3 Å gap between the last Si and first Al layer.

MD (real LAMMPS, one process): ``pair_style meam`` with the Jelinek et al. (PRB 85,
245102, 2012) Al-Si-Mg-Cu-Fe MEAM: ``pair_coeff * * library.meam AlS SiS MgS CuS FeS
AlSiMgCuFe.meam AlS SiS`` (type 1 = Al, type 2 = Si); ``fix box/relax`` minimisation,
then 3 ps Nose-Hoover NPT at 500 K, 0 bar (aniso), 1 fs, dumped every 0.5 ps.

Classification: default model, two species (types 1 and 2). ``lessdask.analysis.profile``
along z (bins about one Si layer wide) averaged over the last 2 ps, ``plot_profile`` as
``profile.png``; ``profile_fraction.png`` with hard-label fractions; ``numbers.json``
with the bulk class probabilities of each side and the peak NaCl/AM probabilities at
the interfaces, and the phase fractions per element.

Run: python jobs/testcase_si_al_interface.py [--outdir DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lessdask.reference.testcases import lammps_dump, run_case, write_json

ROOT = Path(__file__).resolve().parents[1]

CASE = "si_al_interface"
DOCS = ROOT / "docs" / "testcases" / CASE
A_SI, A_AL = 5.431, 4.05
N_SI_XY, N_SI_Z = 6, 6
N_AL_XY, N_AL_Z = 8, 8
GAP = 2.3
FCC = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
DIAMOND = np.concatenate([FCC, FCC + 0.25])


def build_interface() -> dict:
    """Positions, types (1 Al, 2 Si) and box lengths of the Si/Al stack."""
    lx = N_SI_XY * A_SI
    g = np.stack(np.meshgrid(np.arange(N_SI_XY), np.arange(N_SI_XY), np.arange(N_SI_Z), indexing="ij"),
                 -1).reshape(-1, 1, 3)
    si = ((g + DIAMOND[None]) * A_SI).reshape(-1, 3)
    g = np.stack(np.meshgrid(np.arange(N_AL_XY), np.arange(N_AL_XY), np.arange(N_AL_Z), indexing="ij"),
                 -1).reshape(-1, 1, 3)
    al = ((g + FCC[None]) * A_AL).reshape(-1, 3)
    al[:, :2] *= lx / (N_AL_XY * A_AL)
    si_top = si[:, 2].max()
    al[:, 2] += si_top + GAP
    lz = al[:, 2].max() + GAP
    pos = np.concatenate([si, al])
    types = np.concatenate([np.full(len(si), 2), np.full(len(al), 1)])
    return {"positions": pos, "types": types, "box": (lx, lx, lz), "si_top": si_top, "al_bottom": si_top + GAP}


def md_stage(work: Path) -> Path:
    from lessdask.reference.md import potential_dir

    dump = work / "si_al.lammpstrj.gz"
    if dump.exists():
        print(f"[md] reusing {dump}")
        return dump
    s = build_interface()
    lx, ly, lz = s["box"]
    data = work / "si_al.data"
    lines = ["Si/Al interface", "", f"{len(s['types'])} atoms", "2 atom types", "",
             f"0 {lx} xlo xhi", f"0 {ly} ylo yhi", f"0 {lz} zlo zhi", "", "Masses", "", "1 26.9815", "2 28.0855", "",
             "Atoms # atomic", ""]
    lines += [f"{i + 1} {t} {x:.6f} {y:.6f} {z:.6f}" for i, (t, (x, y, z)) in enumerate(zip(s["types"],
                                                                                            s["positions"]))]
    data.write_text("\n".join(lines) + "\n")
    raw = work / "si_al.lammpstrj"
    pot = potential_dir()
    return lammps_dump(
        f"""
        units metal
        atom_style atomic
        boundary p p p
        read_data {data}
        pair_style meam
        pair_coeff * * {pot}/library.meam AlS SiS MgS CuS FeS {pot}/AlSiMgCuFe.meam AlS SiS
        neighbor 2.0 bin
        neigh_modify every 1 delay 0 check yes
        thermo 200
        fix br all box/relax aniso 0.0 vmax 0.001
        min_style cg
        minimize 1.0e-8 1.0e-10 300 3000
        unfix br
        reset_timestep 0
        timestep 0.001
        velocity all create 1000 4242 mom yes rot no dist gaussian
        fix npt all npt temp 500 500 0.1 aniso 0 0 1.0
        dump d all custom 500 {raw} id type x y z
        dump_modify d sort id
        run 3000
        """,
        work, raw, dump,
    )


def analyse(store: Path) -> dict:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from lessdask.analysis import CLASS_COLORS, OTHER, open_results, phase_fractions, plot_profile, profile

    DOCS.mkdir(parents=True, exist_ok=True)
    ds = open_results(store)
    names = [str(s) for s in ds["structure"].values]
    frames = ds["frame"].values
    last = [int(f) for f in frames if float(ds["time"].sel(frame=f)) >= float(ds["time"].values[-1]) - 2.0 - 1e-6]
    lz = float(np.mean(ds["dimensions"].values[:, 2]))
    bins = int(round(lz / (A_SI / 4)))
    prof = profile(ds, axis="z", bins=bins, frames=last).compute()
    plot_profile(prof, DOCS / "profile.png")

    # hard-label fractions and probabilities per layer, paper style (z vertical)
    fig = Figure(figsize=(9, 6), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    zc = prof["bin_center"].values
    for n in names:
        p = prof["probability"].sel(structure=n).values
        f = prof["fraction"].sel(structure=n).values
        if np.nanmax(p) > 0.02:
            ax1.plot(p, zc, "-o", ms=2, color=CLASS_COLORS.get(n, "k"), label=n)
        if np.nanmax(f) > 0.02:
            ax2.plot(f, zc, "-o", ms=2, color=CLASS_COLORS.get(n, "k"), label=n)
    if np.nanmax(prof["other"].values) > 0.02:
        ax2.plot(prof["other"].values, zc, "--o", ms=2, color=CLASS_COLORS[OTHER], label=OTHER)
    ax1.set_xlabel("mean class probability per layer")
    ax2.set_xlabel("fraction of atoms labelled (hard label)")
    ax1.set_ylabel("z (Å)")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    ax1.set_title("regression mode (probabilities)")
    ax2.set_title("classification mode (labels)")
    fig.savefig(DOCS / "profile_layers.png", dpi=110)

    # bulk regions and interface layers from the (mean) atom positions of each species
    pos = np.asarray(ds["position"].sel(frame=last).values)  # (f, atom, 3)
    ids = np.asarray(ds["atom"].values)
    s = build_interface()
    types = s["types"][ids - 1]
    lab = np.asarray(ds["label"].sel(frame=last).values)
    prob = np.asarray(ds["probability"].sel(frame=last).values)
    z = np.mod(pos[..., 2], lz)
    # interface planes: where the Si fraction of fine slabs crosses 0.5 (periodic, from all selected frames)
    nb = 4 * bins
    edges_idx = np.clip((z / lz * nb).astype(int), 0, nb - 1)
    n_si = np.bincount(edges_idx[:, types == 2].ravel(), minlength=nb).astype(float)
    n_all = np.bincount(edges_idx.ravel(), minlength=nb).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_si = n_si / n_all
    valid = np.flatnonzero(n_all > 0)
    centers_f = (valid + 0.5) / nb * lz
    xs = x_si[valid] - 0.5
    planes = []
    for k in range(len(valid)):
        k1 = (k + 1) % len(valid)
        x0, x1 = centers_f[k], centers_f[k1] + (lz if k1 == 0 else 0.0)
        if xs[k] * xs[k1] < 0:
            planes.append(float(np.mod(x0 + (x1 - x0) * xs[k] / (xs[k] - xs[k1]), lz)))
    d_iface = np.full(z.shape, np.inf)
    for zp in planes:
        dz = np.abs(z - zp)
        d_iface = np.minimum(d_iface, np.minimum(dz, lz - dz))
    out = {"classes": names, "frames_averaged": last, "bins": bins, "bin_width_A": lz / bins, "box_z_A": lz,
           "interface_planes_A": planes, "regions": {}}
    for elem, t in (("Si", 2), ("Al", 1)):
        for region, m in (("bulk", d_iface > 6.0), ("interface", d_iface < 3.0)):
            sel = (types[None, :] == t) & m
            out["regions"][f"{elem}_{region}"] = {
                "n_atom_frames": int(sel.sum()),
                "label_fractions": {**{n: float((lab[sel] == k).mean()) for k, n in enumerate(names)},
                                    OTHER: float((lab[sel] == -1).mean())},
                "mean_probability": {n: float(prob[..., k][sel].mean()) for k, n in enumerate(names)},
            }
    out["profile"] = {
        "bin_center_A": zc.tolist(),
        "probability": {n: prof["probability"].sel(structure=n).values.tolist() for n in names},
    }
    out["max_layer_probability"] = {n: float(np.nanmax(prof["probability"].sel(structure=n).values)) for n in names}
    frac = phase_fractions(ds).compute()
    out["overall_fractions_last_frame"] = {str(k): float(v) for k, v in zip(frac.structure.values, frac.values[-1])}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outdir", default=str(Path.home() / ".cache" / "lessdask" / "testcases" / CASE))
    args = ap.parse_args(argv)
    work = Path(args.outdir)
    work.mkdir(parents=True, exist_ok=True)
    store = work / "si_al.zarr"
    out = run_case(work, work / "si_al.lammpstrj.gz", lambda: md_stage(work), store, lambda: analyse(store))
    out.update(
        {
            "case": "Si (DC) / Al (fcc) interface, layer-averaged probabilities (paper Figure 3c)",
            "n_atoms": int(len(build_interface()["types"])),
            "potential": "MEAM, Jelinek et al. PRB 85, 245102 (2012): library.meam AlS SiS MgS CuS FeS + "
                         "AlSiMgCuFe.meam",
            "md": "box/relax CG minimisation; 3 ps NPT 500 K aniso 0 bar, 1 fs; dump every 0.5 ps; profile over last "
                  "2 ps",
        }
    )
    write_json(DOCS / "numbers.json", out)
    for k, v in out["regions"].items():
        top = sorted(v["mean_probability"].items(), key=lambda kv: -kv[1])[:3]
        print(k, {a: round(b, 3) for a, b in top})
    print(f"total {out['wall_time_s']['this_invocation']:.0f} s")


if __name__ == "__main__":
    main()
