"""The DATAFAST parser and reader: MDAnalysis' DATA Topology and positions, and clear errors for damaged files."""

import warnings

import MDAnalysis as mda
import numpy as np
import pytest
from MDAnalysis.core.topologyattrs import Bonds
from MDAnalysis.topology.LAMMPSParser import DATAParser

from lessdask.errors import InputError
from lessdask.trajectory import open_universe
from lessdask.trajectory.dataparse import FORMAT, FastDATAParser

# atom style columns (MDAnalysis' vocabulary) -> LAMMPS name and how to write an atom line's leading fields
STYLES = {
    "id type x y z": ("atomic", lambda i, mol, t, q: [i, t]),
    "id resid type x y z": ("molecular", lambda i, mol, t, q: [i, mol, t]),
    "id resid type charge x y z": ("full", lambda i, mol, t, q: [i, mol, t, q]),
    "id type charge x y z": ("charge", lambda i, mol, t, q: [i, t, q]),
}


def _write(path, style, n=40, seed=0, shuffle=True, images=False, comments=False, masses=True, bonds=False,
           tilt=False, n_types=3, sep=" ", sci=False, hint=True, n_declared=None, extra_blank=True):
    """A LAMMPS data file with ``n`` atoms written by hand, with the given quirks."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    if shuffle:
        rng.shuffle(ids)
    fmt = (lambda v: f"{v:.9e}") if sci else (lambda v: f"{v:.6f}")
    lines = ["LAMMPS data file written by a test", "", f"{n if n_declared is None else n_declared} atoms",
             f"{n_types} atom types"]
    if bonds:
        lines += [f"{n // 2} bonds", "1 bond types"]
    lines += ["", "0.0 20.0 xlo xhi", "-1.0 19.5 ylo yhi", "0 21 zlo zhi"]
    if tilt:
        lines.append("0.5 -0.25 0.125 xy xz yz")
    if masses:
        lines += ["", "Masses", ""] + [f"{t} {1.5 * t + 0.25}  # type {t}" for t in range(1, n_types + 1)]
    lines += ["", "Atoms" + (f" # {STYLES[style][0]}" if hint else ""), ""]
    for k, i in enumerate(ids):
        lead = STYLES[style][1](int(i), 1 + int(i) // 4, 1 + int(i) % n_types, fmt(rng.normal() * 0.5))
        xyz = [fmt(v) for v in rng.random(3) * 19]
        fields = [str(v) for v in lead] + xyz
        if images:
            fields += [str(v) for v in rng.integers(-2, 3, 3)]
        line = sep.join(fields)
        if comments and k % 3 == 0:
            line += f"  # atom {i}"
        if extra_blank and k == n // 2:
            lines.append("   ")
        lines.append(line)
    lines += ["", "Velocities", ""] + [f"{i} {fmt(a)} {fmt(b)} {fmt(c)}" for i, (a, b, c) in
                                       zip(range(1, n + 1), rng.normal(size=(n, 3)))]
    if bonds:
        lines += ["", "Bonds", ""] + [f"{b + 1} 1 {2 * b + 1} {2 * b + 2}" for b in range(n // 2)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _assert_same_topology(a, b):
    assert (a.n_atoms, a.n_residues, a.n_segments) == (b.n_atoms, b.n_residues, b.n_segments)
    names = {attr.attrname for attr in a.attrs}
    assert names == {attr.attrname for attr in b.attrs}
    for attr in a.attrs:
        if not hasattr(attr, "values"):
            continue
        other = getattr(b, attr.attrname)
        va, vb = np.asarray(attr.values), np.asarray(other.values)
        assert va.dtype == vb.dtype, attr.attrname
        assert va.shape == vb.shape, attr.attrname
        assert np.array_equal(va, vb), attr.attrname
        if hasattr(attr, "name_lookup"):  # interned strings: same lookup, same codes
            assert list(attr.name_lookup) == list(other.name_lookup)
            assert np.array_equal(attr.nmidx, other.nmidx) and attr.namedict == other.namedict
        if attr.attrname in ("bonds", "angles", "dihedrals", "impropers"):
            assert list(attr.types) == list(other.types)
    assert np.array_equal(a.tt.atoms2residues(np.arange(a.n_atoms)), b.tt.atoms2residues(np.arange(b.n_atoms)))


def _both(path, atom_style=None, fast=True):
    """MDAnalysis' Topology and ours; ``fast``: ours from the compiled path, no fallback to MDAnalysis."""
    kwargs = {} if atom_style is None else {"atom_style": atom_style}
    ours = FastDATAParser(str(path))
    return DATAParser(str(path)).parse(**kwargs), ours._fast_parse(kwargs) if fast else ours.parse(**kwargs)


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize(("images", "comments", "masses", "sep", "sci", "tilt", "seed"), [
    (False, False, True, " ", False, False, 0),
    (True, True, True, "  ", True, True, 1),
    (True, False, False, "\t", False, False, 2),
    (False, True, False, " \t ", True, True, 3),
])
def test_the_topology_equals_mdanalysis_for_every_atom_style_and_layout(tmp_path, style, images, comments, masses,
                                                                          sep, sci, tilt, seed):
    path = _write(tmp_path / "a.data", style, seed=seed, images=images, comments=comments, masses=masses, sep=sep,
                  sci=sci, tilt=tilt, n_types=1 + seed)
    _assert_same_topology(*_both(path, style))


@pytest.mark.parametrize(("style", "images"), [("id resid type x y z", False), ("id resid type charge x y z", False),
                                               ("id resid type charge x y z", True), ("id type x y z", False)])
def test_without_an_atom_style_the_topology_is_read_as_mdanalysis_reads_it(tmp_path, style, images):
    # MDAnalysis reads 'id mol type ...' by default: an atomic file's x column becomes its types
    path = _write(tmp_path / "a.data", style, images=images, hint=False, masses=style != "id type x y z")
    _assert_same_topology(*_both(path, fast=style != "id type x y z"))
    if style == "id type x y z":
        with pytest.raises(ValueError, match="Failed to parse atoms section"):
            FastDATAParser(str(_write(tmp_path / "m.data", style, hint=False))).parse()


def test_sorted_shuffled_and_scattered_ids_give_mdanalysis_order(tmp_path):
    for name, shuffle in (("sorted", False), ("shuffled", True)):
        _assert_same_topology(*_both(_write(tmp_path / f"{name}.data", "id resid type x y z", shuffle=shuffle),
                                     "id resid type x y z"))
    text = (tmp_path / "sorted.data").read_text()
    gaps = text.replace("\n3 1 ", "\n300 1 ").replace("\n7 2 ", "\n7000 2 ")
    (tmp_path / "gaps.data").write_text(gaps)
    _assert_same_topology(*_both(tmp_path / "gaps.data", "id resid type x y z"))


def test_bonds_and_crlf_lines_equal_mdanalysis(tmp_path):
    path = _write(tmp_path / "b.data", "id resid type charge x y z", bonds=True, comments=True)
    _assert_same_topology(*_both(path, "id resid type charge x y z"))
    crlf = tmp_path / "crlf.data"
    crlf.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    _assert_same_topology(*_both(crlf, "id resid type charge x y z"))


def test_files_written_by_mdanalysis_give_the_same_topology(tmp_path):
    u = mda.Universe.empty(30, n_residues=6, atom_resindex=np.repeat(np.arange(6), 5), trajectory=True)
    u.add_TopologyAttr("types", [str(1 + i % 4) for i in range(30)])
    u.add_TopologyAttr("masses", [1.0 + i % 4 for i in range(30)])
    u.add_TopologyAttr("charges", np.linspace(-1, 1, 30))
    u.add_TopologyAttr("resids", np.arange(1, 7))
    u.add_TopologyAttr(Bonds([(i, i + 1) for i in range(0, 29, 2)], types=["1"] * 15))
    for attr in ("angles", "dihedrals", "impropers"):
        u.add_TopologyAttr(attr, [])
    u.atoms.positions = np.random.default_rng(0).random((30, 3)) * 10
    u.dimensions = [10, 10, 10, 90, 90, 90]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u.atoms.write(str(tmp_path / "w.data"))
    _assert_same_topology(*_both(tmp_path / "w.data"))


def test_type_labels_go_through_mdanalysis(tmp_path):
    path = _write(tmp_path / "a.data", "id resid type x y z", masses=False)
    labelled = tmp_path / "labels.data"
    lines = path.read_text().split("\n")
    start = lines.index("Atoms # molecular") + 2
    for k in range(start, start + 41):  # 40 atoms and one blank line
        if lines[k].strip():
            f = lines[k].split()
            f[2] = "C" + f[2]
            lines[k] = " ".join(f)
    labelled.write_text("\n".join(lines))
    a, b = _both(labelled, "id resid type x y z", fast=False)
    _assert_same_topology(a, b)
    assert set(b.types.values) <= {"C1", "C2", "C3"}


@pytest.mark.parametrize("style", ["id type x y z", "id resid type charge x y z"])
def test_universe_positions_velocities_and_box_equal_mdanalysis(tmp_path, style):
    path = str(_write(tmp_path / "a.data", style, tilt=True, sci=True, images=True))
    ref = mda.Universe(path, format="DATA", atom_style=style)
    u = mda.Universe(path, topology_format=FORMAT, format=FORMAT, atom_style=style)
    assert np.array_equal(u.atoms.positions, ref.atoms.positions)
    assert np.array_equal(u.atoms.velocities, ref.atoms.velocities)
    assert np.array_equal(u.dimensions, ref.dimensions)
    assert np.array_equal(u.atoms.types, ref.atoms.types)


def test_open_universe_reads_data_files_with_the_fast_format(tmp_path):
    path = _write(tmp_path / "a.data", "id resid type charge x y z")
    u = open_universe(path)
    assert type(u.trajectory).__name__ == "FastDATAReader"
    ref = mda.Universe(str(path), format="DATA", atom_style="id resid type charge x y z")
    assert np.array_equal(u.atoms.positions, ref.atoms.positions)
    assert np.array_equal(u.atoms.charges, ref.atoms.charges)
    # users' own MDAnalysis calls are untouched
    assert type(ref.trajectory).__name__ == "DATAReader"


def _damage(tmp_path, old, new):
    path = _write(tmp_path / "ok.data", "id resid type charge x y z", shuffle=False, extra_blank=False)
    text = path.read_text()
    assert old in text
    bad = tmp_path / "bad.data"
    bad.write_text(text.replace(old, new, 1))
    return bad


def _line_of(path, text):
    return next(k for k, line in enumerate(path.read_text().split("\n"), 1) if line.startswith(text))


def test_a_missing_column_is_an_input_error_naming_the_file_and_line(tmp_path):
    path = _write(tmp_path / "ok.data", "id resid type charge x y z", shuffle=False, extra_blank=False)
    lines = path.read_text().split("\n")
    k = next(k for k, line in enumerate(lines) if line.startswith("5 2 "))
    lines[k] = " ".join(lines[k].split()[:4])  # id mol type q: no x y z
    bad = tmp_path / "bad.data"
    bad.write_text("\n".join(lines))
    with pytest.raises(InputError) as err:
        open_universe(bad)
    assert "bad.data" in str(err.value) and f"line {k + 1}" in str(err.value)


def test_a_word_where_a_number_belongs_is_an_input_error_naming_the_file_and_line(tmp_path):
    path = _write(tmp_path / "ok.data", "id resid type charge x y z", shuffle=False, extra_blank=False)
    lines = path.read_text().split("\n")
    k = next(k for k, line in enumerate(lines) if line.startswith("7 2 "))
    f = lines[k].split()
    f[3] = "charge"
    lines[k] = " ".join(f)
    bad = tmp_path / "bad.data"
    bad.write_text("\n".join(lines))
    with pytest.raises(InputError) as err:
        open_universe(bad)
    assert "bad.data" in str(err.value) and f"line {k + 1}" in str(err.value) and "'charge'" in str(err.value)
    f[3], f[0] = "0.5", "seven"
    lines[k] = " ".join(f)
    bad.write_text("\n".join(lines))
    with pytest.raises(InputError, match=f"bad.data.*line {k + 1}.*'seven'"):
        open_universe(bad)


def test_fewer_atom_lines_than_the_header_declares_is_an_input_error(tmp_path):
    path = _write(tmp_path / "short.data", "id resid type charge x y z", n_declared=41)
    with pytest.raises(InputError, match=r"short.data.*40 atom lines.*41"):
        open_universe(path)
    with pytest.raises(InputError, match="short.data"):
        FastDATAParser(str(path)).parse(atom_style="id resid type charge x y z")


@pytest.mark.parametrize("seed", range(8))
def test_random_layouts_give_mdanalysis_topology_and_positions(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    style = list(STYLES)[seed % 4]
    options = {k: bool(rng.integers(2)) for k in ("images", "comments", "masses", "sci", "tilt", "bonds", "shuffle")}
    sep = str(rng.choice([" ", "  ", "\t", " \t"]))
    path = _write(tmp_path / "r.data", style, n=int(rng.integers(1, 60)), seed=seed, sep=sep,
                  n_types=int(rng.integers(1, 5)), **options)
    _assert_same_topology(*_both(path, style))
    ref = mda.Universe(str(path), format="DATA", atom_style=style)
    u = mda.Universe(str(path), topology_format=FORMAT, format=FORMAT, atom_style=style)
    assert np.array_equal(u.atoms.positions, ref.atoms.positions)


def test_repeated_ids_are_ordered_as_mdanalysis_orders_them(tmp_path):
    path = _write(tmp_path / "a.data", "id resid type charge x y z", n=30)
    lines = path.read_text().split("\n")
    start = lines.index("Atoms # full") + 2
    for k in range(start, start + 31, 3):
        if lines[k].strip():
            lines[k] = "7 " + lines[k].split(" ", 1)[1]
    dup = tmp_path / "dup.data"
    dup.write_text("\n".join(lines))
    _assert_same_topology(*_both(dup, "id resid type charge x y z"))


def test_gzipped_data_files_and_pickled_universes_read_the_same(tmp_path):
    import gzip
    import pickle

    path = _write(tmp_path / "a.data", "id resid type charge x y z")
    gz = tmp_path / "a.data.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    _assert_same_topology(*_both(gz, "id resid type charge x y z"))
    u = open_universe(path)
    v = pickle.loads(pickle.dumps(u))
    assert type(v.trajectory).__name__ == "FastDATAReader"
    assert np.array_equal(u.atoms.positions, v.atoms.positions)


def test_more_atom_lines_than_the_header_declares_is_an_input_error(tmp_path):
    path = _write(tmp_path / "long.data", "id resid type charge x y z", n_declared=39)
    with pytest.raises(InputError, match=r"long.data.*more lines than the 39 atoms"):
        open_universe(path)
