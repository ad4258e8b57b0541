"""Reports of the command line: tables and summaries printed by ``lessdask classify|fractions|profile|interface``
and ``lessdask model info``."""

from __future__ import annotations

from pathlib import Path

from lessdask.analysis import interface_position, phase_fractions, plot_fractions, plot_interface, plot_profile, profile


def _only(data, classes):
    """``data`` restricted to ``classes`` (names or aliases, see :func:`lessdask.classes.resolve_class`)."""
    from lessdask.classes import resolve_classes

    if not classes:
        return data
    names = [str(s) for s in data["structure"].values]
    return data.sel(structure=resolve_classes(classes, names))


def fractions_report(results, method: str = "label", csv=None, png=None, classes=None) -> str:
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
    classes : sequence of str, optional
        Show only these classes (names or aliases such as ``liquid``, ``diamond``).

    Returns
    -------
    str
        The table, with the paths written.
    """
    fr = _only(phase_fractions(results, method=method), classes).compute()
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


def profile_report(results, axis: str = "z", bins: int = 50, png=None, classes=None) -> str:
    """Draw the layer profile of a results store and return a short text summary.

    See :func:`profile`; the figure goes to ``png`` (default ``<store>.profile-<axis>.png``);
    ``classes`` (names or aliases) restricts the table and figure to those classes.
    """
    prof = _only(profile(results, axis=axis, bins=bins), classes).compute()
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


def classify_report(summary: dict) -> str:
    """A short human summary of a finished :func:`lessdask.classify` run.

    Frames, atoms, time, rate and workers, and the phase fractions of the last frame as a
    small table (classes with no atom left out), read back from the store.

    Parameters
    ----------
    summary : dict
        What :func:`lessdask.classify` returned.

    Returns
    -------
    str
    """
    from lessdask.classes import describe_class

    nf = summary["frames"]
    lines = [f"classified {summary['atoms']:,} atoms x {nf:,} frame{'s' if nf != 1 else ''} "
             f"in {summary['seconds']:.1f} s "
             f"({summary['atom_frames_per_second']:,.0f} atom-frames/s on {summary['workers']} worker"
             f"{'s' if summary['workers'] != 1 else ''}) -> {summary['output']}"]
    if summary.get("chunks_skipped"):
        lines.append(f"resumed: {summary['chunks_skipped']} of {summary['chunks']} chunks were already written")
    from lessdask.store import open_results

    last = open_results(summary["output"]).isel(frame=[-1])  # read the last frame only, whatever the store's size
    fr = phase_fractions(last).isel(frame=0).compute()
    time = float(fr["time"]) if "time" in fr.coords else float("nan")
    when = f"frame {int(fr['frame'])}" + (f", {time:g} ps" if time == time else "")
    lines.append(f"phase fractions of the last frame ({when}):")
    rows = [(str(s), float(v)) for s, v in zip(fr["structure"].values, fr.values) if v > 0]
    rows.sort(key=lambda r: -r[1])
    for name, value in rows:
        lines.append(f"  {name:>8}  {value:6.3f}  {describe_class(name)}")
    lines.append(f"more: lessdask fractions {summary['output']}  |  lessdask export {summary['output']} -o labels.xyz")
    return "\n".join(lines)


def model_info_report(info: dict) -> str:
    """The text of ``lessdask model info``: classes with full names, feature settings, accuracy.

    Parameters
    ----------
    info : dict
        What :func:`lessdask.model.info.model_info` returned.

    Returns
    -------
    str
    """
    f, c = info["features"], info["classifier"]
    lines = [f"model: {info['source']}", f"digest: {info['digest']}", "classes (label: name, what it is, "
             "training atoms):"]
    for k in info["classes"]:
        n = f"{k['training_atoms']:,}" if k["training_atoms"] is not None else "?"
        lines.append(f"  {k['index']:>3}  {k['name']:<8} {k['description']:<28} {n:>8}")
    lines.append("   -1  other    " + ("outside the reference envelope of its most probable class" if info["other"]
                                      else "(never: this model has no envelopes)"))
    lines.append(f"features: {f['n_features']} (q_l for l = {', '.join(map(str, f['l_values']))}"
                 f"{', and their neighbour averages' if f.get('average') else ''}); cutoff {f['padding']} x the mean "
                 f"distance of the {f['n_nearest']} nearest neighbours, at most {f['max_cutoff']} Å")
    lines.append(f"classifier: preset {c['preset']}, {c['output']} output, temperature {c['temperature']}, "
                 f"envelope quantile {c['envelope_quantile']}")
    if info["training"]:
        t = info["training"]
        lines.append("training: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in t.items()))
    if info["accuracy"]:
        lines.append("held-out accuracy: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in info["accuracy"].items()))
    else:
        lines.append("held-out accuracy: not stored in this model file")
    return "\n".join(lines)
