"""Topologies: LAMMPS data files of every common atom style (also triclinic), GRO/PDB ids beyond 99,999."""

from __future__ import annotations

import warnings

import MDAnalysis as mda
import numpy as np
import pytest

from lessdask.errors import InputError
from lessdask.testing import write_lammps_dump
from lessdask.trajectory import (
    atom_ids,
    atom_style_columns,
    data_file_atom_style,
    open_universe,
    select_atoms,
    species_of,
)

STYLES = ["atomic", "charge", "molecular", "full"]


def _lammps_or_skip():
    from lessdask.reference import import_lammps

    try:
        return import_lammps()
    except Exception as exc:  # noqa: BLE001 - any failure to load LAMMPS means: skip
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def lammps_data_files(tmp_path_factory):
    """Data files written by LAMMPS itself, each with a full-precision dump of the same atoms."""
    lammps = _lammps_or_skip()
    d = tmp_path_factory.mktemp("data")
    for style in STYLES:
        for shape, region in (("ortho", "block -1 3 0 4 0.5 3.5"), ("tri", "prism -1 3 0 4 0.5 3.5 0.6 -0.4 0.3")):
            lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
            lmp.commands_string(f"""
                units metal
                atom_style {style}
                lattice fcc 3.61
                region box {region}
                create_box 2 box
                create_atoms 1 box
                set type 1 type/fraction 2 0.3 12345
                mass * 63.5
                {"set type 2 charge 0.5" if style in ("charge", "full") else ""}
                displace_atoms all random 0.1 0.1 0.1 4567
                write_data {d}/{style}-{shape}.data
                write_dump all custom {d}/{style}-{shape}.dump id type x y z modify format float %.17g
            """)
            lmp.close()
    return d


@pytest.mark.lammps
@pytest.mark.parametrize("shape", ["ortho", "tri"])
@pytest.mark.parametrize("style", STYLES)
def test_lammps_data_files_of_every_style_give_the_atoms_lammps_wrote(lammps_data_files, style, shape):
    path = lammps_data_files / f"{style}-{shape}.data"
    u = open_universe(path)
    ref = open_universe(lammps_data_files / f"{style}-{shape}.dump")
    np.testing.assert_array_equal(u.atoms.ids, ref.atoms.ids)
    np.testing.assert_array_equal(u.atoms.types.astype(int), ref.atoms.types.astype(int))
    assert set(u.atoms.types.astype(int)) == {1, 2}
    # positions written with 17 digits by both; the data file keeps positions inside the cell
    np.testing.assert_allclose(u.atoms.positions, ref.atoms.positions + np.array([-3.61, 0, 0.5 * 3.61]),
                               atol=1e-4)
    np.testing.assert_allclose(u.dimensions, ref.dimensions, rtol=1e-5)
    assert len(select_atoms(u, "type 1")) > 0 and len(set(species_of(u.atoms))) == 2


@pytest.mark.lammps
@pytest.mark.parametrize("style", STYLES)
def test_data_files_without_the_style_hint_are_read_from_their_columns(lammps_data_files, style, tmp_path):
    text = (lammps_data_files / f"{style}-tri.data").read_text()
    bare = tmp_path / f"{style}.data"
    bare.write_text(text.replace(f"Atoms # {style}", "Atoms"))
    assert data_file_atom_style(bare) == style  # charge: its q are fractional (0.5)
    u, ref = open_universe(bare), open_universe(lammps_data_files / f"{style}-tri.data")
    np.testing.assert_array_equal(u.atoms.types, ref.atoms.types)
    np.testing.assert_array_equal(u.atoms.positions, ref.atoms.positions)


def _data_file(path, atoms_header="Atoms # atomic", rows=None, tilt=None):
    rows = rows or ["1 1 0.0 0.0 0.0", "2 2 1.8 1.8 0.0", "3 1 1.8 0.0 1.8", "4 2 0.0 1.8 1.8"]
    tilt_line = f"{tilt[0]} {tilt[1]} {tilt[2]} xy xz yz\n" if tilt else ""
    path.write_text(f"test\n\n{len(rows)} atoms\n2 atom types\n\n0 3.6 xlo xhi\n0 3.6 ylo yhi\n0 3.6 zlo zhi\n"
                    f"{tilt_line}\nMasses\n\n1 63.5\n2 58.7\n\n{atoms_header}\n\n" + "\n".join(rows) + "\n")
    return path


def test_atomic_data_file_is_read_as_atomic_not_as_full(tmp_path):
    """The README's case: 'Atoms # atomic' files used to be read as style full (no 'type 1' atoms)."""
    u = open_universe(_data_file(tmp_path / "a.data"))
    assert list(u.atoms.types) == ["1", "2", "1", "2"]
    np.testing.assert_array_equal(u.atoms.positions[1], np.float32([1.8, 1.8, 0.0]))
    assert len(select_atoms(u, "type 1")) == 2


def test_triclinic_data_file_is_read(tmp_path):
    u = open_universe(_data_file(tmp_path / "t.data", tilt=(0.4, -0.3, 0.2)))
    assert u.dimensions[3:].tolist() != [90, 90, 90] and u.atoms.n_atoms == 4


@pytest.mark.parametrize(("style", "rows", "types"), [
    ("charge", ["1 1 0.5 0 0 0", "2 2 -0.5 1.8 1.8 0"], ["1", "2"]),
    ("molecular", ["1 7 1 0 0 0", "2 7 2 1.8 1.8 0"], ["1", "2"]),
    ("full", ["1 7 1 0.5 0 0 0", "2 7 2 -0.5 1.8 1.8 0"], ["1", "2"]),
])
def test_the_atom_style_argument_and_hint_agree(tmp_path, style, rows, types):
    hinted = open_universe(_data_file(tmp_path / "h.data", f"Atoms # {style}", rows))
    given = open_universe(_data_file(tmp_path / "g.data", "Atoms", rows), atom_style=style)
    for u in (hinted, given):
        assert list(u.atoms.types) == types
        np.testing.assert_array_equal(u.atoms.positions[1], np.float32([1.8, 1.8, 0.0]))


def test_ambiguous_six_columns_are_read_like_mdanalysis_with_a_warning(tmp_path, caplog):
    path = _data_file(tmp_path / "m.data", "Atoms", ["1 1 1 0 0 0", "2 1 2 1.8 1.8 0"])
    with caplog.at_level("WARNING", logger="lessdask"):
        assert data_file_atom_style(path) == "molecular"
    assert "--atom-style charge" in caplog.text


def test_unknown_atom_styles_are_refused_naming_the_known_ones(tmp_path):
    with pytest.raises(InputError, match="'spin'.*atomic, charge"):
        open_universe(_data_file(tmp_path / "s.data", "Atoms # spin"))
    with pytest.raises(InputError, match="neither a LAMMPS atom style"):
        open_universe(_data_file(tmp_path / "a.data"), atom_style="bogus")
    assert atom_style_columns("id type q x y z") == "id type charge x y z"


def test_a_data_file_read_with_the_wrong_style_gives_a_short_message(tmp_path):
    rows = [f"{i} 1 {i * 0.1:.2f} 0.5 0.5" for i in range(1, 5001)]
    with pytest.raises(InputError) as err:
        open_universe(_data_file(tmp_path / "w.data", "Atoms", rows), atom_style="full")
    assert "w.data" in str(err.value) and "--atom-style" in str(err.value) and len(str(err.value)) < 800


def test_data_topology_with_a_dump_trajectory(tmp_path):
    top = _data_file(tmp_path / "top.data")
    rng = np.random.default_rng(0)
    traj = write_lammps_dump(tmp_path / "traj.lammpstrj", [rng.random((4, 3)) * 3.6 for _ in range(2)],
                             [1, 2, 1, 2], [[3.6, 3.6, 3.6]] * 2)
    u = open_universe(top, [traj])
    assert u.trajectory.n_frames == 2 and list(u.atoms.types) == ["1", "2", "1", "2"]


# ----------------------------------------------------------------- atom ids beyond 99,999


def _big_universe(n):
    u = mda.Universe.empty(n, trajectory=True, atom_resindex=np.zeros(n, int), n_residues=1)
    u.add_TopologyAttr("names", ["Cu"] * n)
    u.add_TopologyAttr("resnames", ["CU"])
    u.add_TopologyAttr("ids", np.arange(1, n + 1))
    u.atoms.positions = np.random.default_rng(0).uniform(0, 99, (n, 3))
    u.dimensions = [100, 100, 100, 90, 90, 90]
    return u


@pytest.mark.parametrize("ext", ["gro", "pdb"])
def test_gro_and_pdb_beyond_99999_atoms_get_unique_ids_and_a_note(tmp_path, ext):
    n = 100_005
    path = tmp_path / f"big.{ext}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _big_universe(n).atoms.write(str(path))
    u = open_universe(path)
    assert len(np.unique(u.atoms.ids)) < n  # the file's numbers wrap
    ids, note = atom_ids(u)
    np.testing.assert_array_equal(ids, np.arange(1, n + 1))
    assert "renumbered 1..100005 in file order" in note and "99,999" in note
    assert len(u.select_atoms("id 5")) == 1 and len(u.select_atoms("id 100003")) == 1
    again, note_again = atom_ids(u)  # the note is kept for the Universe
    assert note_again == note and np.array_equal(again, ids)


def test_unique_ids_are_kept_without_a_note(dump_file):
    u = open_universe(dump_file)
    ids, note = atom_ids(u)
    assert note is None
    np.testing.assert_array_equal(ids, u.atoms.ids)


def test_repeated_ids_in_a_data_file_are_refused_naming_the_id(tmp_path):
    rows = ["1 1 0 0 0", "2 2 1.8 1.8 0", "2 1 1.8 0 1.8", "4 2 0 1.8 1.8"]
    u = open_universe(_data_file(tmp_path / "d.data", rows=rows))
    with pytest.raises(InputError, match="atom id 2 is used by 2 atoms"):
        atom_ids(u)
