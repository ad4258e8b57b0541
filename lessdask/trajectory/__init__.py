"""Trajectories in: opening inputs with MDAnalysis, species, selections, frames, and the run's plan."""

from lessdask.trajectory.plan import Plan, make_plan
from lessdask.trajectory.readers import (
    LAMMPS_DUMP_DT,
    current_frame,
    frame_box,
    guess_format,
    open_universe,
    read_frame,
    select_atoms,
    species_of,
    truncated_frame,
)

__all__ = [
    "LAMMPS_DUMP_DT", "Plan", "current_frame", "frame_box", "guess_format", "make_plan", "open_universe", "read_frame",
    "select_atoms", "species_of", "truncated_frame",
]
