"""Paper Figure 3b test case: a Cu bar melting from one end, front tracked by LESS.

MD (real LAMMPS, EAM ``Cu_u3.eam`` of Foiles, Baskes & Daw 1986, one process, 1 fs):

* fcc Cu, a = 3.615 Å, 6 x 6 x 40 cells (5,760 atoms), periodic, long axis z;
* 5 ps Nose-Hoover NPT at 1,000 K, 0 bar (aniso) — the equilibrated crystal;
* heating (30 ps): a **hot slab** (first 4 cells in z) under ``fix langevin`` at 2,200 K,
  a **cold slab** (last 4 cells) under ``fix langevin`` at 900 K, everything integrated
  with ``fix nve``; the region between is thermostat-free, so heat flows by conduction
  from the hot slab into the bar (a source/sink pair, not ``fix ehex``). Because z is
  periodic the hot slab also touches the cold slab across z = 0; the cold thermostat
  absorbs that flux and the melt front runs up the bar (+z) from the hot slab.
  ``fix press/berendsen z`` (0 bar, bulk modulus 1.4 Mbar) lets the bar expand along z as
  it melts, so the liquid is not compressed.
* dumped every 1 ps: ``id type x y z c_ke`` with ``compute ke/atom`` (gzip).

Analysis (``docs/testcases/cu_bar_melting/``): phase fractions vs time
(``fractions.png``), every classified fcc/AM front (``interface_position``, 40 bins = one per
cell) with its fitted velocity (``front.png``; the melt front is the one with the liquid below
it, followed in most frames), the
temperature profile T(z) = 2 <ke> / (3 k_B) per one-cell slab (3-slab running mean) and
the position of the 1,273 K isotherm (the melting point the paper marks in Figure 3b), both
positions against time in ``front_vs_isotherm.png``, per-frame temperature profiles
(``temperature_profiles.png``), snapshots coloured by class (``snapshots.png``) and
``numbers.json``.

Run: python jobs/testcase_cu_bar_melting.py [--outdir DIR]   (about 6-8 minutes on one core)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lessdask.reference.testcases import KB_EV, lammps_dump, read_dump_frames, run_case, write_json

ROOT = Path(__file__).resolve().parents[1]

CASE = "cu_bar_melting"
DOCS = ROOT / "docs" / "testcases" / CASE
A_CU = 3.615
NX, NY, NZ = 6, 6, 40
HOT_CELLS, COLD_CELLS = 4, 4
T_EQ, T_HOT, T_COLD = 1000.0, 2200.0, 900.0
T_ISO = 1273.0  # K, melting point of Cu marked in the paper's Figure 3b
EQ_PS, HEAT_PS = 5, 30


def temperature_profile(z: np.ndarray, ke: np.ndarray, length: float, bins: int, smooth: int = 3):
    """Slab temperatures T = 2 <ke> / (3 k_B) along a periodic axis.

    ``z`` positions measured from the box bottom (wrapped into ``[0, length)``), ``ke``
    per-atom kinetic energies in eV. Returns ``(centers, T)``; empty slabs are NaN;
    ``smooth`` > 1 applies a periodic running mean over that many slabs (atom-weighted).
    """
    idx = np.clip((np.mod(z, length) / length * bins).astype(int), 0, bins - 1)
    s = np.bincount(idx, weights=ke, minlength=bins).astype(float)
    n = np.bincount(idx, minlength=bins).astype(float)
    if smooth and smooth > 1:
        h = smooth // 2
        s = sum(np.roll(s, k) for k in range(-h, h + 1))
        n = sum(np.roll(n, k) for k in range(-h, h + 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        t = 2.0 * s / n / (3.0 * KB_EV)
    centers = (np.arange(bins) + 0.5) / bins * length
    return centers, t


def isotherm_position(centers: np.ndarray, temperature: np.ndarray, t_iso: float = T_ISO, start: float = 0.0) -> float:
    """First position above ``start`` where T falls through ``t_iso`` scanning upwards (linear interpolation).

    The scan starts at the first slab centre >= ``start`` (the hot slab); NaN if T never
    drops below ``t_iso`` there, or if it is already below at the start.
    """
    ok = np.isfinite(temperature) & (centers >= start)
    x, y = centers[ok], temperature[ok] - t_iso
    if x.size < 2 or y[0] < 0:
        return np.nan
    for x0, y0, x1, y1 in zip(x[:-1], y[:-1], x[1:], y[1:]):
        if y0 >= 0 > y1:
            return float(x0 + (x1 - x0) * y0 / (y0 - y1))
    return np.nan


def md_stage(work: Path, seed: int = 20231) -> Path:
    from lessdask.reference.md import potential_dir

    dump = work / "cu_bar.lammpstrj.gz"
    if dump.exists():
        print(f"[md] reusing {dump}")
        return dump
    raw = work / "cu_bar.lammpstrj"
    return lammps_dump(
        f"""
        units metal
        atom_style atomic
        boundary p p p
        lattice fcc {A_CU}
        region box block 0 {NX} 0 {NY} 0 {NZ}
        create_box 1 box
        create_atoms 1 box
        pair_style eam
        pair_coeff * * {potential_dir()}/Cu_u3.eam
        neighbor 2.0 bin
        neigh_modify every 1 delay 0 check yes
        timestep 0.001
        thermo 1000
        velocity all create {2 * T_EQ} {seed} mom yes rot no dist gaussian
        fix npt all npt temp {T_EQ} {T_EQ} 0.1 aniso 0 0 1.0
        run {EQ_PS * 1000}
        unfix npt
        region hot block INF INF INF INF 0 {HOT_CELLS} units lattice
        region cold block INF INF INF INF {NZ - COLD_CELLS} {NZ} units lattice
        group hot region hot
        group cold region cold
        compute ke all ke/atom
        fix nve all nve
        fix thot hot langevin {T_HOT} {T_HOT} 0.1 {seed + 1} zero yes
        fix tcold cold langevin {T_COLD} {T_COLD} 0.1 {seed + 2} zero yes
        fix pz all press/berendsen z 0 0 1.0 modulus 1400000
        reset_timestep 0
        dump d all custom 1000 {raw} id type x y z c_ke
        dump_modify d sort id
        run {HEAT_PS * 1000}
        """,
        work, raw, dump,
    )


def analyse(dump: Path, store: Path) -> dict:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from lessdask.analysis import (
        CLASS_COLORS,
        interface_position,
        open_results,
        phase_fractions,
        plot_fractions,
        plot_interface,
    )
    from lessdask.analysis.fronts import format_uncertain

    DOCS.mkdir(parents=True, exist_ok=True)
    ds = open_results(store)
    names = [str(s) for s in ds["structure"].values]
    times = np.asarray(ds["time"].values, float)
    frac = phase_fractions(ds).compute()
    plot_fractions(frac, DOCS / "fractions.png")
    fronts_all = interface_position(ds, axis="z", between=("fcc", "AM"), bins=NZ)
    plot_interface(fronts_all, DOCS / "front.png")
    # the melt front runs up the bar from the hot slab: AM below it, fcc above (orientation +1);
    # of those, the one seen in most frames
    up = np.flatnonzero(fronts_all["orientation"].values == 1)
    main_front = int(up[np.argmax(fronts_all["n_frames"].values[up])]) if up.size else None
    front = fronts_all.isel(front=main_front) if main_front is not None else None
    zf = np.asarray(front["position"].values, float) if front is not None else np.full(len(times), np.nan)

    frames = read_dump_frames(dump, columns=("id", "z", "c_ke"))
    assert len(frames) == len(times), (len(frames), len(times))
    hot_top = HOT_CELLS / NZ  # fraction of the box
    iso, profiles = [], []
    for _step, box, cols in frames:
        length = box[2, 1] - box[2, 0]
        centers, t = temperature_profile(cols["z"] - box[2, 0], cols["c_ke"], length, NZ)
        profiles.append((centers, t))
        iso.append(isotherm_position(centers, t, T_ISO, start=0.5 * hot_top * length))
    iso = np.array(iso)
    both = np.isfinite(zf) & np.isfinite(iso)
    dist = np.abs(zf - iso)[both]

    # front and isotherm on one figure
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(times, zf, "o-", color=CLASS_COLORS["fcc"], label="fcc/AM front (LESS)")
    ax.plot(times, iso, "s--", color="#d62728", label=f"{T_ISO:.0f} K isotherm")
    v = float(front["velocity"]) if front is not None else np.nan
    if np.isfinite(v):
        z0, dv = float(front["intercept"]), float(front["velocity_stderr"])
        tt = times[np.isfinite(zf)]
        ax.plot(tt, v * tt + z0, "k:", label=f"fit: {format_uncertain(v, dv, 'Å/ps')}")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("z (Å)")
    ax.set_title("Cu bar heated at z = 0: classified front vs melting isotherm")
    ax.legend()
    fig.savefig(DOCS / "front_vs_isotherm.png", dpi=110)

    # temperature profiles
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    for k, (c, t) in enumerate(profiles):
        if k % 3 == 0 or k == len(profiles) - 1:
            ax.plot(c, t, color=cmap(k / max(len(profiles) - 1, 1)), label=f"{times[k]:.0f} ps")
    ax.axhline(T_ISO, color="k", ls=":", label=f"{T_ISO:.0f} K")
    ax.set_xlabel("z (Å)")
    ax.set_ylabel("T (K), one-cell slabs, 3-slab mean")
    ax.legend(fontsize=7, ncol=2)
    fig.savefig(DOCS / "temperature_profiles.png", dpi=110)

    # snapshots coloured by class, temperature profile above (paper Figure 3b style)
    pick = [0, len(times) // 3, 2 * len(times) // 3, len(times) - 1]
    fig = Figure(figsize=(10, 2.2 * len(pick)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(pick), 1, sharex=True)
    labels = ds["label"]
    colors = np.array([CLASS_COLORS.get(n, "#000000") for n in names] + ["#000000"])
    for ax, f in zip(axes, pick):
        pos = np.asarray(ds["position"].isel(frame=f).values)
        lab = np.asarray(labels.isel(frame=f).values)
        ax.scatter(pos[:, 2], pos[:, 0], c=colors[lab], s=2)
        c, t = profiles[f]
        ax2 = ax.twinx()
        ax2.plot(c, t, color="#d62728")
        ax2.axhline(T_ISO, color="#d62728", ls=":")
        ax2.set_ylabel("T (K)", color="#d62728")
        if np.isfinite(zf[f]):
            ax.axvline(zf[f], color="k", lw=1)
        ax.set_ylabel("x (Å)")
        ax.set_title(f"t = {times[f]:.0f} ps (blue fcc, grey AM, green hcp, black other; black line = front)",
                     fontsize=9)
    axes[-1].set_xlabel("z (Å)")
    fig.savefig(DOCS / "snapshots.png", dpi=100)

    am = names.index("AM")
    return {
        "classes": names,
        "time_ps": times.tolist(),
        "front_position_A": zf.tolist(),
        "isotherm_1273K_position_A": iso.tolist(),
        "front_velocity_A_per_ps": v,
        "front_velocity_stderr_A_per_ps": float(front["velocity_stderr"]) if front is not None else None,
        "front_velocity": format_uncertain(v, float(front["velocity_stderr"]), "Å/ps") if front is not None else None,
        "front_position_scatter_A": float(front["position_noise"]) if front is not None else None,
        "front_velocity_m_per_s": v * 100.0,
        "all_fronts": [{"orientation": "fcc above" if int(f["orientation"]) > 0 else "fcc below",
                        "frames": int(f["n_frames"]), "velocity_A_per_ps": float(f["velocity"]),
                        "velocity_stderr_A_per_ps": float(f["velocity_stderr"]),
                        "velocity": format_uncertain(float(f["velocity"]), float(f["velocity_stderr"]), "Å/ps"),
                        "position_scatter_A": float(f["position_noise"]),
                        "mean_position_A": float(np.nanmean(f["position"].values))}
                       for f in (fronts_all.isel(front=j) for j in range(fronts_all.attrs["n_fronts"]))],
        "mean_abs_front_minus_isotherm_A": float(dist.mean()) if dist.size else None,
        "n_frames_front_and_isotherm": int(both.sum()),
        "final_liquid_fraction_AM": float(frac.sel(structure="AM").values[-1]) if "AM" in frac.structure else None,
        "final_fractions": {str(s): float(v) for s, v in zip(frac.structure.values, frac.values[-1])},
        "initial_fractions": {str(s): float(v) for s, v in zip(frac.structure.values, frac.values[0])},
        "_am_index": am,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outdir", default=str(Path.home() / ".cache" / "lessdask" / "testcases" / CASE))
    args = ap.parse_args(argv)
    work = Path(args.outdir)
    work.mkdir(parents=True, exist_ok=True)
    dump, store = work / "cu_bar.lammpstrj.gz", work / "cu_bar.zarr"
    out = run_case(work, dump, lambda: md_stage(work), store, lambda: analyse(dump, store))
    out.pop("_am_index", None)
    out.update(
        {
            "case": "Cu bar melting from one end (paper Figure 3b)",
            "n_atoms": 4 * NX * NY * NZ,
            "potential": "EAM Cu_u3.eam (Foiles, Baskes, Daw 1986)",
            "md": f"{EQ_PS} ps NPT {T_EQ:.0f} K; then {HEAT_PS} ps: langevin hot slab (z < {HOT_CELLS} cells) "
                  f"{T_HOT:.0f} K, "
            f"langevin cold slab (last {COLD_CELLS} cells) {T_COLD:.0f} K, nve all, press/berendsen z 0 bar; 1 fs; "
            f"dump every 1 ps",
            "isotherm_K": T_ISO,
        }
    )
    write_json(DOCS / "numbers.json", out)
    print(
        f"front velocity {out['front_velocity']}, mean |front-isotherm| "
        f"{out['mean_abs_front_minus_isotherm_A']} Å, final AM fraction {out['final_liquid_fraction_AM']:.3f}; "
        f"total {out['wall_time_s']['this_invocation']:.0f} s"
    )


if __name__ == "__main__":
    main()
