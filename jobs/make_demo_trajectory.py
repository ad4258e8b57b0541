"""Make the bundled demo trajectory: a gold crystal with a molten slab, near its melting point.

Real LAMMPS MD (EAM Au_u3, as the reference data): a 4,000-atom fcc Au box; the middle
half is melted at 2,500 K while the rest is held at 900 K, then the whole box runs
Nose-Hoover NPT at 1,000 K (just below this potential's ~1,040 K melting point) and
ten frames are dumped, 1 ps apart. Writes lessdask/data/demo/au_melt_slab.lammpstrj.gz.

Run: python jobs/make_demo_trajectory.py   (needs pip install '.[md]'; about a minute)
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path

from lessdask.reference.md import import_lammps, potential_dir

OUT = Path(__file__).resolve().parents[1] / "lessdask" / "data" / "demo" / "au_melt_slab.lammpstrj.gz"


def main():
    lammps = import_lammps()
    lmp = lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    tmp = Path(tempfile.mkdtemp())
    cmds = f"""
    units metal
    atom_style atomic
    boundary p p p
    lattice fcc 4.08
    region box block 0 10 0 10 0 10
    create_box 1 box
    create_atoms 1 box
    mass 1 196.967
    pair_style eam
    pair_coeff * * {potential_dir()}/Au_u3.eam
    timestep 0.001
    region mid block INF INF INF INF 3.5 6.5 units lattice
    group mid region mid
    group rest subtract all mid
    velocity all create 900 4928 mom yes rot no dist gaussian
    fix hot mid nvt temp 2500 2500 0.1
    fix cold rest nvt temp 900 900 0.1
    run 4000
    unfix hot
    unfix cold
    fix npt all npt temp 1000 1000 0.1 aniso 0 0 1.0
    run 1000
    reset_timestep 0
    dump d all custom 1000 {tmp}/demo.lammpstrj id type x y z
    dump_modify d sort id
    run 9000
    """
    for line in cmds.strip().splitlines():
        lmp.command(line.strip())
    lmp.close()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp / "demo.lammpstrj", "rb") as src, gzip.open(OUT, "wb", compresslevel=9) as dst:
        shutil.copyfileobj(src, dst)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
