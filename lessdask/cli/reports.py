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
    """Track the front between two classes, draw it and return its positions and velocity.

    See :func:`interface_position`; the figure goes to ``png`` (default ``<store>.interface.png``).
    """
    itf = interface_position(results, axis=axis, between=between, bins=bins)
    png = png or Path(str(results).rstrip("/")).with_suffix(".interface.png")
    plot_interface(itf, png)
    lines = [f"{t:8.2f} ps  {z:8.2f} Å" for t, z in zip(itf["time"].values, itf["position"].values)]
    v, dv = itf.attrs.get("velocity"), itf.attrs.get("velocity_stderr")
    lines.append(f"front velocity: {v:.4g} ± {dv:.2g} Å/ps" if v is not None else "front velocity: n/a")
    lines.append(f"plot: {png}")
    return "\n".join(lines)
