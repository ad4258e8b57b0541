"""From per-atom labels to physics: phase fractions, layer profiles, fronts, figures, colours, export.

Everything that scales with the number of atoms stays a Dask graph: :func:`phase_fractions`
and :func:`profile` return lazily evaluated objects (call ``.compute()`` or ``.load()``).
Only small, per-frame quantities (box lengths, the frame selection, whether any atom is
"other") are evaluated eagerly. :func:`interface_position` fits a line, so it computes its
(per-frame) result. Results stores are opened with :func:`lessdask.store.open_results`.

:func:`export_labels` writes labels and probabilities as extended XYZ or LAMMPS dump for OVITO,
VMD and ASE.

:class:`LESS` classifies an MDAnalysis AtomGroup in memory, frame by frame (an MDAnalysis
``AnalysisBase``: labels, probabilities and fractions as arrays or an xarray Dataset);
:class:`PhaseFractions` is its earlier form (the group alone makes the environments).
"""

from lessdask.analysis.colors import CLASS_COLORS, class_color
from lessdask.analysis.export import export_labels
from lessdask.analysis.fractions import phase_fractions
from lessdask.analysis.fronts import interface_position
from lessdask.analysis.plots import plot_fractions, plot_interface, plot_profile
from lessdask.analysis.profiles import profile
from lessdask.store import OTHER, open_results

__all__ = [
    "CLASS_COLORS", "LESS", "OTHER", "PhaseFractions", "class_color", "export_labels", "interface_position",
    "open_results",
    "phase_fractions", "plot_fractions", "plot_interface", "plot_profile", "profile",
]


def __getattr__(name: str):
    if name in ("LESS", "PhaseFractions"):  # imports MDAnalysis, which is slow to import
        from lessdask.analysis import mdanalysis

        return getattr(mdanalysis, name)
    raise AttributeError(f"module 'lessdask.analysis' has no attribute {name!r}")
