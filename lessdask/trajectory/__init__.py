"""Trajectories in: opening inputs with MDAnalysis, species, selections, frames, and the run's plan.

LAMMPS text dumps are read by :class:`lessdask.trajectory.lammpsdump.FastDumpReader`, an
MDAnalysis reader registered as format ``LAMMPSDUMPFAST`` when that module is imported (which
:func:`open_universe` does). LAMMPS data files are read by
:class:`lessdask.trajectory.dataparse.FastDATAParser` and ``FastDATAReader`` (format ``DATAFAST``),
registered the same way.
"""

from lessdask.trajectory.plan import Plan, make_plan
from lessdask.trajectory.readers import (
    ATOM_STYLES,
    LAMMPS_DUMP_DT,
    atom_ids,
    atom_style_columns,
    check_dt,
    current_frame,
    data_file_atom_style,
    frame_box,
    group_atoms,
    guess_format,
    is_mdanalysis_input,
    open_universe,
    read_frame,
    select_atoms,
    species_of,
    truncated_frame,
    universe_files,
    universe_of,
)

__all__ = [
    "ATOM_STYLES", "LAMMPS_DUMP_DT", "Plan", "atom_ids", "atom_style_columns", "check_dt", "current_frame",
    "data_file_atom_style", "frame_box", "group_atoms", "guess_format", "is_mdanalysis_input", "make_plan",
    "open_universe", "read_frame", "select_atoms", "species_of", "truncated_frame", "universe_files",
    "universe_of",
]
