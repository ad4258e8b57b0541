"""``lessdask demo``: classify the bundled trajectory on an embedded cluster and print phase fractions."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEMO_TRAJECTORY = "au_melt_slab.lammpstrj.gz"


def demo_trajectory() -> Path:
    """Path of the bundled demo trajectory (LAMMPS dump of a 4,000-atom Au crystal with a molten slab)."""
    return Path(str(resources.files("lessdask") / "data" / "demo" / DEMO_TRAJECTORY))


def run_demo(output="lessdask-demo.zarr", overwrite=True, cluster: dict | None = None, progress=True,
             png=None) -> dict:
    """Classify the demo trajectory with the default model and return its phase fractions.

    Parameters
    ----------
    output : str or Path
        Results store to write (replaced if it exists: the demo is disposable).
    overwrite : bool
        Replace an existing demo store.
    cluster : dict, optional
        Keyword arguments of :func:`lessdask.cluster.get_client` (default: embedded LocalCluster).
    progress : bool
        Show progress.
    png : str or Path, optional
        Draw the phase fractions into this image file. Default: no figure (nothing is written
        besides the store; ``lessdask fractions STORE --png FILE`` draws it later).

    Returns
    -------
    dict
        ``summary`` of the run, ``fractions`` (a pandas DataFrame: frames x classes), and the
        ``plot`` path of the phase-fraction figure (None unless ``png`` was given).
    """
    from lessdask.analysis import phase_fractions, plot_fractions
    from lessdask.pipeline import classify
    summary = classify(demo_trajectory(), output=output, overwrite=overwrite, save_positions=True,
                       cluster=cluster, progress=progress)
    fr = phase_fractions(output).compute()
    table = fr.to_pandas()
    table.index = [f"{t:.1f} ps" for t in fr["time"].values]
    table = table.loc[:, (table > 0).any()]  # classes seen at least once
    plot = str(plot_fractions(fr, png)) if png else None
    return {"summary": summary, "fractions": table, "plot": plot}
