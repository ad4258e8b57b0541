"""Reports of the command line: tables and summaries printed by ``lessdask fractions|profile|interface``."""

from __future__ import annotations

from pathlib import Path

from lessdask.analysis import interface_position, phase_fractions, plot_fractions, plot_interface, plot_profile, profile


def fractions_report(results, method: str = "label", csv=None, png=None) -> str:
    """Phase fractions of a results store as a printable table; optionally CSV and a PNG plot.

    Parameters
    ----------
    results : str or Path
        Results store.
    method : {"label", "probability"}
        Count labels, or average probabilities.
    csv : str or Path, optional
        Write the table (time in ps, one column per class) as CSV.
    png : str or Path, optional
        Where to draw the time series (default: next to the store, ``<store>.fractions.png``).

    Returns
    -------
    str
        The table, with the paths written.
    """
    fr = phase_fractions(results, method=method).compute()
    table = fr.to_pandas()
    table.insert(0, "time_ps", fr["time"].values)
    if csv:
        table.to_csv(csv)
    png = png or Path(str(results).rstrip("/")).with_suffix(".fractions.png")
    plot_fractions(fr, png)
    lines = [table.round(4).to_string(), f"plot: {png}"]
    if csv:
        lines.append(f"csv: {csv}")
    return "\n".join(lines)


def profile_report(results, axis: str = "z", bins: int = 50, png=None) -> str:
    """Draw the layer profile of a results store and return a short text summary.

    See :func:`profile`; the figure goes to ``png`` (default ``<store>.profile-<axis>.png``).
    """
    prof = profile(results, axis=axis, bins=bins).compute()
    png = png or Path(str(results).rstrip("/")).with_suffix(f".profile-{axis}.png")
    plot_profile(prof, png)
    table = prof["fraction"].to_pandas()
    table.index = [f"{z:.1f}" for z in prof["bin_center"].values]
    table.index.name = f"{axis} (Å)"
    return table.round(3).to_string() + f"\nplot: {png}"


def interface_report(results, axis: str = "z", between=("fcc", "AM"), bins: int = 50, png=None) -> str:
    """Find every front between two classes, draw them and return their positions and velocities.

    See :func:`interface_position`; the figure goes to ``png`` (default
    ``<store>.interface.png``). Values are printed with no more digits than their
    uncertainty (the frame-to-frame scatter) supports.
    """
    import numpy as np

    from lessdask.analysis.fronts import format_uncertain

    itf = interface_position(results, axis=axis, between=between, bins=bins)
    png = png or Path(str(results).rstrip("/")).with_suffix(".interface.png")
    plot_interface(itf, png)
    a, b = itf.attrs["between"]
    n = itf.attrs["n_fronts"]
    unit = "Å/ps" if itf["time"].attrs.get("units", "ps") == "ps" else "Å/frame"
    lines = [f"{a}/{b} fronts along {itf.attrs['axis']}: {n} ({itf.attrs['bins']} slabs)"]
    decimals = []
    for j in range(n):
        f = itf.isel(front=j)
        side = "above" if int(f["orientation"]) > 0 else "below"
        v, dv, noise = float(f["velocity"]), float(f["velocity_stderr"]), float(f["position_noise"])
        lines.append(f"front {j}: {a} {side}, {int(f['n_frames'])} frames; "
                     f"velocity {format_uncertain(v, dv, unit)}, {a} advances at "
                     f"{format_uncertain(float(f['growth']), dv, unit)}; "
                     + (f"position scatter about the fit {noise:.2g} Å" if np.isfinite(noise)
                        else "no scatter (fewer than 3 frames)"))
        decimals.append(max(0, -int(np.floor(np.log10(noise)))) if np.isfinite(noise) and noise > 0 else 1)
    if n:
        t_unit = "ps" if unit == "Å/ps" else "frame"
        lines.append(f"{'time (' + t_unit + ')':>12}" + "".join(f"{'front ' + str(j) + ' (Å)':>16}" for j in range(n)))
        for i, t in enumerate(itf["time"].values):
            row = [itf["position"].values[i, j] for j in range(n)]
            lines.append(f"{t:12.2f}" + "".join(f"{'-':>16}" if not np.isfinite(z) else f"{z:16.{decimals[j]}f}"
                                                 for j, z in enumerate(row)))
    lines.append(f"plot: {png}")
    return "\n".join(lines)
