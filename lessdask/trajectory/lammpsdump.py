"""A fast LAMMPS text-dump reader that is an MDAnalysis reader: format ``LAMMPSDUMPFAST``.

Importing this module registers :class:`FastDumpReader` with MDAnalysis, so
``mda.Universe(topology, "run.lammpstrj.gz", format="LAMMPSDUMPFAST")`` uses it, and
:func:`lessdask.trajectory.open_universe` uses it for every LAMMPS dump. It gives what
MDAnalysis' own ``LAMMPSDUMP`` reader gives -- positions sorted by atom id, in any column
order, unscaled (``x y z``), scaled (``xs ys zs``), unwrapped (``xu yu zu``) or scaled and
unwrapped (``xsu ysu zsu``), orthorhombic or triclinic boxes moved to the origin,
``ts.data["step"]`` and ``time = step * dt``, velocities, forces and additional columns --
bit for bit, but:

* the atom block is parsed by one compiled pass over the frame's bytes
  (:mod:`lessdask.trajectory.dumpparse`) instead of a Python loop over lines;
* the frame offsets are found by one pass over the file (:mod:`lessdask.trajectory.dumpindex`)
  and pickled with the reader, so Dask workers never rescan the file;
* gzipped dumps are read through restart points kept with the offsets, so reading a frame
  costs the same at the end of the file as at its start;
* a cut-off last frame, a line with more or fewer values than the header names, duplicate
  atom ids and a changing atom count are :class:`~lessdask.errors.InputError` naming the file
  and frame, never silently wrong positions.
"""

from __future__ import annotations

import threading

import numba
import numpy as np
from MDAnalysis.coordinates import base
from MDAnalysis.coordinates.LAMMPS import DumpReader
from MDAnalysis.lib import distances, mdamath, util
from MDAnalysis.lib.util import store_init_arguments

from lessdask.errors import InputError
from lessdask.trajectory.dumpindex import DumpIndex, build_index, open_source
from lessdask.trajectory.dumpparse import BlockError, parse_block

#: The MDAnalysis format name of :class:`FastDumpReader`.
FORMAT = "LAMMPSDUMPFAST"


@numba.njit(cache=True, nogil=True)
def _order_of_ids(ids, order):  # pragma: no cover - compiled
    """``order = argsort(ids)`` for ids forming one contiguous range, in O(n).

    Returns 1 if the ids are already sorted, 0 if ``order`` was filled, -1 if the ids are not
    one contiguous range (sort them instead), or ``-2 - i`` if atom ``i`` repeats an earlier id.
    """
    n = ids.shape[0]
    lo = ids[0]
    hi = ids[0]
    for i in range(n):
        if ids[i] < lo:
            lo = ids[i]
        if ids[i] > hi:
            hi = ids[i]
    if hi - lo != n - 1:
        return -1
    seen = np.zeros(n, np.bool_)
    in_order = True
    for i in range(n):
        r = ids[i] - lo
        if seen[r]:
            return -2 - i
        seen[r] = True
        order[r] = i
        if r != i:
            in_order = False
    return 1 if in_order else 0


@numba.njit(cache=True, nogil=True)
def _place(values, order, lo, out):  # pragma: no cover - compiled
    """``out[r] = float32(values[order[r], :3]) - lo`` as numpy computes ``float32 -= float64`` (empty order: none)."""
    n = out.shape[0]
    sort = order.shape[0] == n
    for r in range(n):
        i = order[r] if sort else r
        for d in range(3):
            out[r, d] = np.float32(np.float64(np.float32(values[i, d])) - lo[d])


def _sort_order(ids: np.ndarray):
    """Permutation sorting atoms by id (None: already sorted); raises ValueError naming a repeated id."""
    if len(ids) == 0:
        return None
    order = np.empty(len(ids), np.int64)
    r = _order_of_ids(ids, order)
    if r == 1:
        return None
    if r == 0:
        return order
    if r <= -2:
        dup = ids[-2 - r]
        lines = ", ".join(str(k + 1) for k in np.flatnonzero(ids == dup)[:3])
        raise ValueError(f"atom id {dup} appears more than once (atom lines {lines}); every atom needs its own id")
    order = np.argsort(ids, kind="stable")
    s = ids[order]
    dup = np.flatnonzero(s[1:] == s[:-1])
    if len(dup):
        raise ValueError(f"atom id {s[dup[0]]} appears more than once; every atom needs its own id")
    return order


class FastDumpReader(base.ReaderBase):
    """LAMMPS text dump reader (format ``LAMMPSDUMPFAST``): MDAnalysis' ``LAMMPSDUMP``, compiled.

    Same results as :class:`MDAnalysis.coordinates.LAMMPS.DumpReader`, per atom many times
    faster; plain, gzip, bz2 or xz files (recognised by their first bytes).

    Parameters
    ----------
    filename : str
        The dump.
    lammps_coordinate_convention : {"auto", "unscaled", "scaled", "unwrapped", "scaled_unwrapped"}
        As for MDAnalysis' reader: ``"auto"`` takes the first of x/xs/xu/xsu columns present.
    unwrap_images : bool
        Add image flags (``ix iy iz``) times the box lengths to the coordinates.
    additional_columns : list of str or True, optional
        Further numeric columns to read into ``ts.data``.
    positions_only : bool
        Skip velocities, forces and additional columns (faster when only positions are needed).
    dump_index : DumpIndex, optional
        The file's frame index (built by one pass over the file when not given).
    **kwargs
        ``dt`` (ps per step), ``time_offset``, ... as for any MDAnalysis reader.

    Notes
    -----
    A frame the file ends in the middle of is not counted (``n_frames`` stops before it) and is
    reported by :attr:`truncated_at`. A dump that does not end with a newline ends in the middle
    of its last line: its last frame is such a frame.
    """

    format = FORMAT
    units = dict(DumpReader.units)
    _conventions = DumpReader._conventions
    _coordtype_column_names = DumpReader._coordtype_column_names
    _parsable_columns = DumpReader._parsable_columns

    @store_init_arguments
    def __init__(self, filename, lammps_coordinate_convention="auto", unwrap_images=False, additional_columns=None,
                 positions_only=False, dump_index: DumpIndex | None = None, **kwargs):
        super().__init__(filename, **kwargs)
        if lammps_coordinate_convention not in self._conventions:
            options = "'" + "', '".join(self._conventions) + "'"
            raise ValueError(f"lammps_coordinate_convention='{lammps_coordinate_convention}' is not a valid option. "
                             f"Please choose one of {options}")
        if not (util.iterable(additional_columns) or additional_columns is None or additional_columns is True):
            raise ValueError(f"additional_columns={additional_columns} is not a valid option. Please provide an "
                             "iterable containing the additional column headers.")
        self.lammps_coordinate_convention = lammps_coordinate_convention
        self._unwrap = bool(unwrap_images)
        self._additional_columns = additional_columns
        self._positions_only = bool(positions_only)
        self._index = dump_index if dump_index is not None else build_index(self.filename)
        self._source = None
        self._lock = threading.Lock()
        if self._index.n_frames == 0:
            raise InputError(f"{self.filename}: frame 0 is incomplete (the file ends in the middle of it: truncated); "
                             "no frame can be read")
        self.ts = self._Timestep(self.n_atoms, **self._ts_kwargs)
        self.ts.frame = -1
        self._read_next_timestep()

    # ------------------------------------------------------------------ what MDAnalysis asks
    @property
    def n_atoms(self) -> int:
        return self._index.n_atoms

    @property
    def n_frames(self) -> int:
        return self._index.n_frames

    @property
    def dump_index(self) -> DumpIndex:
        """The frame offsets (and gzip restart points) of the file; pass it on to skip the scan."""
        return self._index

    @property
    def truncated_at(self) -> int | None:
        """Index of a last frame the file ends in the middle of (not counted in ``n_frames``), or None."""
        return self._index.truncated_at

    def _reopen(self):
        self.ts.frame = -1

    def close(self):
        src = getattr(self, "_source", None)
        if src is not None:
            src.close()
            self._source = None

    def copy(self):
        """An independent reader at the same frame, sharing the frame index (no rescan)."""
        new = self.__class__(**{**self._kwargs, "dump_index": self._index})
        if self.transformations:
            new.add_transformations(*self.transformations)
        new[self.ts.frame]
        new.ts = self.ts.copy()
        for name, aux in self._auxs.items():
            new.add_auxiliary(name, aux.copy())
        return new

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_source"] = None
        state.pop("_lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _read_next_timestep(self, ts=None):
        frame = self.ts.frame + 1
        if frame >= self.n_frames:
            raise EOFError
        return self._read_frame(frame)

    def _read_frame(self, frame):
        data = self._frame_bytes(frame)
        try:
            self._fill(self.ts, data, frame)
        except (ValueError, BlockError) as exc:
            raise InputError(f"frame {frame} of {self.filename} cannot be read: {exc}") from None
        return self.ts

    # ------------------------------------------------------------------ reading
    def _frame_bytes(self, frame: int) -> np.ndarray:
        idx = self._index
        if frame in idx.damaged:
            raise InputError(f"frame {frame} of {self.filename} cannot be read: {idx.damaged[frame]}")
        if self._source is None:
            with self._lock:
                if self._source is None:
                    self._source = open_source(idx)
        start, stop = int(idx.starts[frame]), int(idx.stops[frame])
        data = self._source.read(start, stop - start)
        if len(data) != stop - start or not data.startswith(b"ITEM: TIMESTEP"):
            raise InputError(f"{self.filename} changed since it was indexed (frame {frame} is not where it was); "
                             "open it again")
        return np.frombuffer(data, np.uint8)

    def _fill(self, ts, buf: np.ndarray, frame: int) -> None:
        """Parse one frame's bytes into ``ts`` exactly as MDAnalysis' DumpReader does."""
        head_end = bytes(buf[:4096]).find(b"ITEM: ATOMS")
        if head_end < 0:
            head_end = bytes(buf).find(b"ITEM: ATOMS")
        if head_end < 0:
            raise ValueError("no 'ITEM: ATOMS' line")
        line_end = bytes(buf[head_end:head_end + 4096]).find(b"\n")
        atoms_at = head_end + line_end + 1 if line_end >= 0 else len(buf)
        header = bytes(buf[:atoms_at]).decode("ascii", "replace").splitlines()
        sections, k = {}, 0
        while k < len(header):
            line = header[k]
            if line.startswith("ITEM: BOX BOUNDS"):
                sections["box"] = (line, header[k + 1:k + 4])
                k += 4
            elif line.startswith("ITEM: ATOMS"):
                sections["atoms"] = line
                k += 1
            elif line.startswith("ITEM:"):
                sections[line[6:].strip()] = header[k + 1] if k + 1 < len(header) else ""
                k += 2
            else:
                k += 1
        step_num = int(sections["TIMESTEP"])
        n_atoms = int(sections["NUMBER OF ATOMS"])
        if n_atoms != self.n_atoms:
            raise ValueError(f"it has {n_atoms} atoms where frame 0 has {self.n_atoms}; every frame must hold the "
                             "same atoms")
        ts.frame = frame
        ts.data["step"] = step_num
        ts.data["time"] = step_num * ts.dt
        box_line, box = sections["box"]
        if "abc" in box_line.split():
            raise ValueError("general triclinic boxes ('ITEM: BOX BOUNDS abc origin') are not supported; write the "
                             "dump with LAMMPS' restricted triclinic box (the default)")
        if "xy" in box_line.split():
            xlo_bound, xhi_bound, xy = map(float, box[0].split())
            ylo_bound, yhi_bound, xz = map(float, box[1].split())
            zlo, zhi, yz = map(float, box[2].split())
            xlo = xlo_bound - min(0.0, xy, xz, xy + xz)
            xhi = xhi_bound - max(0.0, xy, xz, xy + xz)
            ylo = ylo_bound - min(0.0, yz)
            yhi = yhi_bound - max(0.0, yz)
            cell = m = np.zeros((3, 3), dtype=np.float64)
            m[0] = xhi - xlo, 0.0, 0.0
            m[1] = xy, yhi - ylo, 0.0
            m[2] = xz, yz, zhi - zlo
            ts.dimensions = mdamath.triclinic_box(*m)
        else:
            xlo, xhi = map(float, box[0].split()[:2])
            ylo, yhi = map(float, box[1].split()[:2])
            zlo, zhi = map(float, box[2].split()[:2])
            ts.dimensions = xhi - xlo, yhi - ylo, zhi - zlo, 90.0, 90.0, 90.0
            cell = None
        attrs = sections["atoms"].split()[2:]
        col = {name: i for i, name in enumerate(attrs)}
        present = {cv: names for cv, names in self._coordtype_column_names.items() if all(c in col for c in names)}
        if self.lammps_coordinate_convention == "auto":
            if not present:
                raise ValueError(f"no coordinate columns (x y z, xs ys zs, xu yu zu or xsu ysu zsu) in "
                                 f"'{sections['atoms']}'")
            self.lammps_coordinate_convention = next(iter(present))
        elif self.lammps_coordinate_convention not in present:
            raise ValueError(f"no coordinates following convention {self.lammps_coordinate_convention} found in "
                             f"'{sections['atoms']}'")
        wanted = list(self._coordtype_column_names[self.lammps_coordinate_convention])
        convention = self.lammps_coordinate_convention
        scaled, add_images = convention.startswith("scaled"), self._unwrap and not convention.endswith("unwrapped")
        if add_images:
            if not all(c in col for c in ("ix", "iy", "iz")):
                raise ValueError("Trajectory must have image flag in order to unwrap.")
            wanted += ["ix", "iy", "iz"]
        has_ids = "id" in col
        if has_ids:
            wanted.append("id")
        extra = {}
        if not self._positions_only:
            for kind in ("velocities", "forces"):
                names = ["vx", "vy", "vz"] if kind == "velocities" else ["fx", "fy", "fz"]
                if all(c in col for c in names):
                    extra[kind] = len(wanted)
                    wanted += names
            if self._additional_columns is True:
                keys = [a for a in attrs if a not in self._parsable_columns]
            elif self._additional_columns:
                keys = [a for a in self._additional_columns if a in col]
            else:
                keys = []
            for key in dict.fromkeys(keys):
                if key not in wanted:
                    wanted.append(key)
        values, stop = parse_block(buf, atoms_at, n_atoms, attrs, wanted)
        rest = bytes(buf[stop:stop + 64]).lstrip()
        if rest and not rest.startswith(b"ITEM:"):
            raise ValueError(f"it has more atom lines than the {n_atoms} its header announces (next line: "
                             f"{rest.splitlines()[0].decode('ascii', 'replace')!r})")
        order = None
        if has_ids:
            id_col = values[:, wanted.index("id")]
            ids = id_col.astype(np.int64)
            if not np.array_equal(ids, id_col):
                bad = int(np.flatnonzero(ids != id_col)[0])
                raise ValueError(f"atom line {bad + 1}: id {id_col[bad]!r} is not a whole number")
            order = _sort_order(ids)
        if not add_images:  # the usual case: one compiled pass (convert, sort by id, move to the origin)
            lo = np.zeros(3) if scaled else np.array([xlo, ylo, zlo])
            _place(values, np.empty(0, np.int64) if order is None else order, lo, ts.positions)
        else:
            if cell is not None and not scaled:  # triclinic: images times the cell vectors
                coords = (values[:, :3] + values[:, 3:6] @ cell).astype(np.float32)
            else:
                coords = values[:, :3].astype(np.float32)
                coords += values[:, 3:6].astype(np.float32) * (1 if scaled else ts.dimensions[:3])
            ts.positions = coords if order is None else coords[order]
            if not scaled:
                ts.positions -= np.array([xlo, ylo, zlo])[None, :]
        for kind, at in extra.items():
            v = values[:, at:at + 3].astype(np.float32)
            setattr(ts, f"has_{kind}", True)
            setattr(ts, kind, v if order is None else v[order])
        if not self._positions_only and self._additional_columns:
            for key in keys:
                v = values[:, wanted.index(key)]
                ts.data[key] = v.copy() if order is None else v[order]
        if scaled:  # fractions of the cell: already relative to its origin
            ts.positions = distances.transform_StoR(ts.positions, ts.dimensions)
