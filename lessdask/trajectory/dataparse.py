"""A fast LAMMPS data file parser that is an MDAnalysis parser and reader: format ``DATAFAST``.

Importing this module registers :class:`FastDATAParser` (topology) and :class:`FastDATAReader`
(coordinates) with MDAnalysis, so ``mda.Universe("system.data", topology_format="DATAFAST",
format="DATAFAST")`` uses them, and :func:`lessdask.trajectory.open_universe` uses them for every
LAMMPS data file. They give what MDAnalysis' ``DATA`` parser and reader give -- the same
Topology (ids, types, molecule ids, charges, masses, residues, bonds ...) and the same positions,
velocities and box, bit for bit -- but:

* the file is read once as bytes and split into sections by one compiled pass that only looks
  at lines starting with a letter, instead of stripping and splitting every line in Python;
* the ``Atoms`` and ``Velocities`` sections are parsed by one compiled pass over their bytes
  (numbers converted exactly as Python's ``float``, see :mod:`lessdask.trajectory.dumpparse`);
  the small sections (``Masses``, ``Bonds``, ...) and the header go through MDAnalysis' own code.

Anything the compiled pass does not handle -- type labels instead of numeric types, ids with
underscores, unusual whitespace or characters, lone carriage returns -- sends the whole file
through MDAnalysis' own parser, so the result is MDAnalysis' either way. A damaged ``Atoms``
section (a missing column, a word where a number belongs) that MDAnalysis cannot read either is
an :class:`~lessdask.errors.InputError` naming the file and line, and so is an ``Atoms`` section
with more or fewer lines than the header's atom count (which MDAnalysis reads without a word).
"""

from __future__ import annotations

import numba
import numpy as np
from MDAnalysis.coordinates.LAMMPS import DATAReader
from MDAnalysis.core.topology import Topology
from MDAnalysis.core.topologyattrs import (
    Angles,
    Atomids,
    Atomtypes,
    Bonds,
    Charges,
    Dihedrals,
    Impropers,
    Masses,
    Resids,
    Resnums,
    Segids,
)
from MDAnalysis.lib.util import anyopen
from MDAnalysis.topology.base import squash_by
from MDAnalysis.topology.LAMMPSParser import HEADERS, SECTIONS, DATAParser

from lessdask.errors import InputError
from lessdask.trajectory.dumpparse import MAX_SLOW_TOKENS, scan_number
from lessdask.trajectory.lammpsdump import _order_of_ids

#: The MDAnalysis format name of :class:`FastDATAParser` and :class:`FastDATAReader`.
FORMAT = "DATAFAST"

# what the kernel does with a token
SKIP, INT, TYPE, FLOAT = 0, 1, 2, 3
# status codes of the kernel
OK, TOO_FEW, BAD_INT, BAD_TYPE, ODD_BYTE, SLOW_OVERFLOW, TOO_MANY_LINES = 0, 1, 2, 3, 4, 5, 6
_INT32 = np.iinfo(np.int32)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _next_candidate(buf, pos):  # pragma: no cover - compiled
    """Offset of the next line from ``pos`` (a line start) whose first non-blank byte is a letter or not ASCII.

    Section titles are such lines. Returns -1 if there is none.
    """
    end = buf.shape[0]
    while pos < end:
        s = pos
        while pos < end:
            c = buf[pos]
            if c == 32 or c == 9 or c == 11 or c == 12 or c == 13 or (c >= 28 and c <= 31):
                pos += 1
            else:
                break
        if pos < end:
            c = buf[pos]
            if (c >= 65 and c <= 90) or (c >= 97 and c <= 122) or c >= 128:
                return s
        while pos < end and buf[pos] != 10:
            pos += 1
        pos += 1
    return -1


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _first_seen(values, top):  # pragma: no cover - compiled
    """Codes of non-negative integers ``<= top`` in order of first appearance, and the distinct values in that order."""
    code = np.full(top + 1, -1, np.int64)
    seen = np.empty(top + 1, np.int64)
    codes = np.empty(values.shape[0], np.int64)
    k = 0
    for i in range(values.shape[0]):
        v = values[i]
        c = code[v]
        if c < 0:
            c = k
            code[v] = k
            seen[k] = v
            k += 1
        codes[i] = c
    return codes, seen[:k]


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _scan_lines(buf, pos, end, kinds, target, ints, floats, slow):  # pragma: no cover - compiled
    """Parse the data lines of ``buf[pos:end]`` as MDAnalysis' ``line.partition("#")[0].split()`` sees them.

    Blank and comment-only lines are skipped; text after ``#`` is ignored. Token ``j`` of a line
    is skipped (``kinds[j] == SKIP``, any printable token), an integer (``INT``: optional sign
    and digits), a type (``TYPE``: digits without sign or leading zero, so ``str(int(token))``
    gives the token back) or a number (``FLOAT``), stored in column ``target[j]`` of ``ints``
    or ``floats``; tokens after the last kind are not looked at. Returns ``(status, n_lines,
    pos, n_slow)``; on error ``pos`` is in the offending line and ``n_lines`` its data-line index.
    ``slow[k] = (line, column, start, stop)`` are numbers to convert with Python's float.
    The section ends at ``end`` or at a line whose first non-blank byte is a letter or not
    ASCII (the next section's title): then ``pos`` is that line's start.
    """
    n_tok = kinds.shape[0]
    max_lines = ints.shape[0]
    max_slow = slow.shape[0]
    n = 0
    n_slow = 0
    while pos < end:
        line_start = pos
        while pos < end and (buf[pos] == 32 or buf[pos] == 9 or buf[pos] == 13):
            pos += 1
        if pos >= end:
            break
        c = buf[pos]
        if c == 10:
            pos += 1
            continue
        if (c >= 65 and c <= 90) or (c >= 97 and c <= 122) or c >= 128:
            return OK, n, line_start, n_slow
        if c == 35:
            while pos < end and buf[pos] != 10:
                pos += 1
            continue
        if n >= max_lines:
            return TOO_MANY_LINES, n, pos, n_slow
        for j in range(n_tok):
            while pos < end and (buf[pos] == 32 or buf[pos] == 9 or buf[pos] == 13):
                pos += 1
            if pos >= end or buf[pos] == 10 or buf[pos] == 35:
                return TOO_FEW, n, pos, n_slow
            start = pos
            k = kinds[j]
            if k == FLOAT:
                pos, v, exact = scan_number(buf, pos, end)
                if exact:
                    floats[n, target[j]] = v
                else:
                    if n_slow >= max_slow:
                        return SLOW_OVERFLOW, n, pos, n_slow
                    slow[n_slow, 0] = n
                    slow[n_slow, 1] = target[j]
                    slow[n_slow, 2] = start
                    slow[n_slow, 3] = pos
                    n_slow += 1
                continue
            neg = False
            if k == INT and (buf[pos] == 45 or buf[pos] == 43):
                neg = buf[pos] == 45
                pos += 1
            value = 0
            digits = 0
            ok = True
            while pos < end:
                c = buf[pos]
                if c == 32 or c == 9 or c == 10 or c == 13 or c == 35:
                    break
                if c < 33 or c > 126:
                    return ODD_BYTE, n, pos, n_slow
                if c >= 48 and c <= 57 and digits < 18:
                    value = value * 10 + (c - 48)
                    digits += 1
                else:
                    ok = False
                pos += 1
            if k == SKIP:
                continue
            if digits == 0 or (k == TYPE and digits > 1 and buf[start] == 48):
                ok = False
            if not ok:
                return BAD_INT if k == INT else BAD_TYPE, n, start, n_slow
            ints[n, target[j]] = -value if neg else value
        while pos < end and buf[pos] != 10:
            pos += 1
        pos += 1
        n += 1
    return OK, n, pos, n_slow


class _Unsupported(Exception):
    """The fast path cannot read this file; ``where`` says why (with the line) if it is damage."""

    def __init__(self, where: str | None = None):
        super().__init__(where)
        self.where = where


def _clean_lines(text: str) -> list[str]:
    """The lines MDAnalysis' ``DATAParser.iterdata`` yields for this text."""
    lines = []
    for line in text.split("\n"):
        line = line.partition("#")[0].strip()
        if line:
            lines.append(line)
    return lines


class _DataFile:
    """A data file's bytes cut into the header and sections as MDAnalysis' ``grab_datafile`` does."""

    def __init__(self, filename, big=None):
        """Read ``filename``; ``big[name](self, start)`` parses section ``name`` from byte ``start``.

        It returns ``(result, stop)``, ``stop`` being where the section's data lines end (the
        start of the next letter-initial line); the result is kept in ``self.results[name]``.
        The title scan resumes there, so big sections are read once, by their parser.
        """
        self.filename = str(filename)
        with anyopen(self.filename, "rb") as f:
            self.data = f.read()
        data = self.data
        # text mode ends lines at a lone \r too: such files go through MDAnalysis
        if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
            raise _Unsupported()
        self.buf = np.frombuffer(data, np.uint8)
        big = big or {}
        self.results = {}
        self.header_lines = None
        titles = []  # (title, offset of the title line, offset after it)
        pos, expect = 0, None
        while True:
            s = int(_next_candidate(self.buf, pos))
            if s < 0:
                break
            text, is_title, stop = self._title_at(s)
            if expect is not None and s == expect and not is_title:
                raise _Unsupported()  # a word line inside a big section: MDAnalysis decides
            expect = None
            pos = stop
            if not is_title:
                continue
            if self.header_lines is None:
                self.header_lines = _clean_lines(self._decode(0, s))
            if text in self.results:
                raise _Unsupported()  # a big section twice: MDAnalysis keeps the last
            titles.append((text, s, stop))
            if text in big:
                self.results[text], pos = big[text](self, stop)
                expect = pos
        if not titles:
            raise _Unsupported()
        self.sections = {}
        for i, (title, _, body) in enumerate(titles):
            stop = titles[i + 1][1] if i + 1 < len(titles) else len(data)
            self.sections[title] = (body, stop)

    def _title_at(self, s: int):
        """``(text, is_title, stop)`` of the line starting at byte ``s`` (``stop``: after it)."""
        stop = self.data.find(b"\n", s)
        stop = len(self.data) if stop < 0 else stop + 1
        text = self._decode(s, stop).partition("#")[0].strip()
        return text, bool(text) and text.split()[0] in SECTIONS, stop

    def _decode(self, start: int, stop: int) -> str:
        try:
            return self.data[start:stop].decode("utf-8")
        except UnicodeDecodeError:
            raise _Unsupported() from None

    def header(self) -> dict:
        """MDAnalysis' header dict (``grab_datafile``'s first value)."""
        header = {}
        for line in self.header_lines:
            for token in HEADERS:
                if line.endswith(token):
                    header[token] = line.split(token)[0]
        return header

    def lines(self, name: str) -> list[str]:
        """A section as MDAnalysis' list of stripped, comment-free lines."""
        return _clean_lines(self._decode(*self.sections[name]))

    def n_atoms(self) -> int | None:
        """The header's atom count, None if it has none."""
        try:
            return int(self.header()["atoms"])
        except (KeyError, ValueError):
            return None

    def first_line(self, pos: int) -> list[str]:
        """The tokens of the first data line from byte ``pos`` on."""
        stop = len(self.data)
        while pos < stop:
            nl = self.data.find(b"\n", pos, stop)
            nl = stop if nl < 0 else nl
            text = self._decode(pos, nl).partition("#")[0].strip()
            if text:
                return text.split()
            pos = nl + 1
        raise _Unsupported()

    def where(self, pos: int) -> str:
        """``line N ('text')`` of byte offset ``pos``."""
        start = self.data.rfind(b"\n", 0, pos) + 1
        stop = self.data.find(b"\n", pos)
        stop = len(self.data) if stop < 0 else stop
        text = self.data[start:min(stop, start + 200)].decode("ascii", "replace").strip()
        number = self.data.count(b"\n", 0, start) + 1
        return f"line {number} ({text!r})"

    def parse(self, name: str, start: int, kinds: list[int], style: str, n_lines: int | None = None):
        """Integer and float columns of section ``name`` from byte ``start``: ``((ints, floats), stop)``.

        One row per data line; ``stop`` is where the section's data lines end.

        ``kinds[j]`` says what to do with token ``j`` (see :func:`_scan_lines`); ``style``
        describes the columns for messages. With
        ``n_lines`` (the header's atom count) more or fewer lines are an :class:`InputError`.
        """
        stop = len(self.data)
        kinds = np.asarray(kinds, np.int64)
        target = np.zeros(len(kinds), np.int64)
        n_int = n_float = 0
        for j, k in enumerate(kinds):
            if k == FLOAT:
                target[j], n_float = n_float, n_float + 1
            elif k != SKIP:
                target[j], n_int = n_int, n_int + 1
        cap = n_lines if n_lines is not None else self.data.count(b"\n", start, stop) + 1
        ints = np.empty((cap, n_int), np.int64)
        floats = np.empty((cap, n_float), np.float64)
        n_slow_max = min(MAX_SLOW_TOKENS, cap * n_float)
        while True:
            slow = np.empty((n_slow_max, 4), np.int64)
            status, n, pos, n_slow = _scan_lines(self.buf, start, stop, kinds, target, ints, floats, slow)
            if status != SLOW_OVERFLOW:
                break
            n_slow_max = cap * n_float
        what = f"{self.filename}: {name} section"
        if status == TOO_MANY_LINES:
            raise InputError(f"{what} has more lines than the {n_lines} atoms the header declares, "
                             f"from {self.where(pos)}")
        if status == TOO_FEW:
            raise _Unsupported(f"{what}, {self.where(pos)}: fewer than the {len(kinds)} values "
                               f"the atom style needs ({style})")
        if status == BAD_INT:
            token = self._token(pos)
            raise _Unsupported(f"{what}, {self.where(pos)}: {token!r} in column "
                               f"{self._column(pos, start)} is not an integer ({style})")
        if status == BAD_TYPE:
            raise _Unsupported()  # type labels and the like: MDAnalysis reads them
        if status == ODD_BYTE:
            raise _Unsupported(f"{what}, {self.where(pos)}: unexpected character {self.data[pos:pos + 1]!r}")
        if pos < len(self.data) and not self._title_at(pos)[1]:
            word = (self.data[pos:pos + 200].split() or [b""])[0].decode("ascii", "replace")
            raise _Unsupported(f"{what}, {self.where(pos)}: {word!r} is not a number ({style})")
        if n_lines is not None and n != n_lines:
            raise InputError(f"{what} has {n} atom lines but the header declares {n_lines} atoms: "
                             "the file is cut short or damaged")
        if n == 0:
            raise _Unsupported()
        for i, t, a, b in slow[:n_slow].tolist():
            token = self.data[a:b]
            try:
                if b"#" in token or not _printable(token):
                    raise ValueError(token)
                floats[i, t] = float(token)
            except ValueError:
                raise _Unsupported(f"{what}, {self.where(a)}: {token.decode('ascii', 'replace')!r} in column "
                                   f"{self._column(a, start)} is not a number ({style})") from None
        return (ints[:n], floats[:n]), pos

    def _token(self, pos: int) -> str:
        stop = pos
        while stop < len(self.data) and self.data[stop] not in b" \t\r\n#":
            stop += 1
        return self.data[pos:stop].decode("ascii", "replace")

    def _column(self, pos: int, start: int) -> int:
        line_start = max(self.data.rfind(b"\n", 0, pos) + 1, start)
        return len(self.data[line_start:pos].split()) + 1


def _printable(token: bytes) -> bool:
    return all(33 <= c <= 126 for c in token)


def _check_int32(values: np.ndarray, what: str) -> np.ndarray:
    if len(values) and (values.min() < _INT32.min or values.max() > _INT32.max):
        raise _Unsupported(f"{what} beyond the 32-bit range")
    return values.astype(np.int32)


def _id_order(ids: np.ndarray):
    """``np.argsort(ids)`` of int32 ids as MDAnalysis computes it (None: the identity), O(n) for a permutation."""
    order = np.empty(len(ids), np.int64)
    r = _order_of_ids(ids, order)
    if r == 1:
        return None
    if r == 0:
        return order
    return np.argsort(ids)  # repeated or scattered ids: MDAnalysis' own (dtype-dependent) order


def _squash_resids(resids: np.ndarray):
    """``squash_by(resids)[:2]``, in O(n) when the molecule ids never decrease."""
    if len(resids) and resids[0] <= resids[-1]:
        step = resids[1:] != resids[:-1]
        if not np.any(resids[1:] < resids[:-1]):
            first = np.empty(len(resids), bool)
            first[0] = True
            first[1:] = step
            residx = np.cumsum(first, dtype=np.intp) - 1
            return residx, resids[first]
    return squash_by(resids)[:2]


def _atom_types(types: np.ndarray):
    """``Atomtypes`` of non-negative integer types, interned as MDAnalysis interns them, and the distinct types."""
    top = int(types.max())
    if top >= 10_000_000:
        raise _Unsupported()
    codes, distinct = _first_seen(types, top)
    lookup = np.array([str(t) for t in distinct.tolist()], dtype=object)
    if hasattr(Atomtypes, "_from_lookup"):  # MDAnalysis >= 2.11: no per-atom Python loop
        return Atomtypes._from_lookup(codes, lookup), codes, lookup
    return Atomtypes(lookup[codes]), codes, lookup


class FastDATAParser(DATAParser):
    """LAMMPS data file topology parser (format ``DATAFAST``): MDAnalysis' ``DATA``, compiled.

    Same Topology as :class:`MDAnalysis.topology.LAMMPSParser.DATAParser`, with or without an
    ``atom_style`` keyword, many times faster on large files; files the compiled path does not
    handle go through MDAnalysis' code.

    Raises
    ------
    InputError
        A damaged ``Atoms`` section MDAnalysis cannot read either (naming the file and line),
        or an ``Atoms`` section whose line count differs from the header's atom count.
    """

    format = FORMAT

    def parse(self, **kwargs):
        """Parse the data file into an MDAnalysis Topology.

        Parameters
        ----------
        **kwargs
            ``atom_style``, as for MDAnalysis' ``DATAParser``.

        Returns
        -------
        MDAnalysis.core.topology.Topology
        """
        try:
            return self._fast_parse(kwargs)
        except _Unsupported as why:
            top = _with_diagnosis(why, lambda: super(FastDATAParser, self).parse(**kwargs))
        _check_count(self.filename, top.n_atoms)
        return top

    def _fast_parse(self, kwargs):
        atom_style = kwargs.get("atom_style")
        given = self._interpret_atom_style(atom_style) if atom_style is not None else None

        def atoms(f, start):
            sd = given
            if sd is None:
                sd = {"id": 0, "resid": 1, "type": 2}
                if len(f.first_line(start)) in (7, 10):
                    sd["charge"] = 3
                style = f"read as '{_describe(sd)}'; give atom_style if that is wrong"
            else:
                style = f"atom style '{atom_style}'"
            fields = [k for k in ("id", "resid", "type", "charge") if k in sd]
            kinds = [SKIP] * (max(sd[k] for k in fields) + 1)
            for k in ("id", "resid", "type"):
                if k in sd:
                    kinds[sd[k]] = TYPE if k == "type" else INT
            if "charge" in sd:
                if kinds[sd["charge"]] != SKIP:
                    raise _Unsupported()
                kinds[sd["charge"]] = FLOAT
            (ints, floats), stop = f.parse("Atoms", start, kinds, style, f.n_atoms())
            # the kernel stores int columns in token order
            names = sorted((k for k in ("id", "resid", "type") if k in sd), key=lambda k: sd[k])
            return (sd, {k: ints[:, i] for i, k in enumerate(names)}, floats), stop

        f = _DataFile(self.filename, {"Atoms": atoms})
        if "Atoms" not in f.results:
            raise _Unsupported()
        sd, col, floats = f.results["Atoms"]
        n_atoms = len(col["id"])
        atom_ids = _check_int32(col["id"], f"{self.filename}: atom ids")
        order = _id_order(atom_ids)
        sort = (lambda a: a) if order is None else (lambda a: a[order])
        atom_ids = sort(atom_ids)
        types, codes, lookup = _atom_types(sort(col["type"]))
        if "resid" in sd:
            resids = sort(_check_int32(col["resid"], f"{self.filename}: molecule ids"))
        else:
            resids = np.ones(n_atoms, np.int32)

        attrs = [types]
        if "charge" in sd:
            attrs.append(Charges(sort(floats[:, 0].astype(np.float32))))
        if "Masses" in f.sections:
            massdict = self._parse_masses(f.lines("Masses"))
            try:
                table = np.array([massdict[t] for t in lookup.tolist()], np.float64)
            except KeyError as err:
                raise _Unsupported(f"{self.filename}: atom type {err.args[0]} has no mass in the Masses section") \
                    from None
            attrs.append(Masses(table[codes]))
        residx, resids = _squash_resids(resids)
        attrs.append(Atomids(atom_ids))
        attrs.append(Resids(resids))
        attrs.append(Resnums(resids.copy()))
        attrs.append(Segids(np.array(["SYSTEM"], dtype=object)))
        top = Topology(n_atoms, len(resids), 1, attrs=attrs, atom_resindex=residx)

        connections = [(Bonds, "Bonds", 2), (Angles, "Angles", 3), (Dihedrals, "Dihedrals", 4),
                       (Impropers, "Impropers", 4)]
        mapping = None
        for attr, name, nentries in connections:
            if name in f.sections:
                if mapping is None:
                    mapping = {atom_id: i for i, atom_id in enumerate(top.ids.values.tolist())}
                try:
                    kind, sect = self._parse_bond_section(f.lines(name), nentries, mapping)
                except (KeyError, IndexError, ValueError):
                    raise _Unsupported() from None
            else:
                kind, sect = [], []
            top.add_TopologyAttr(attr(sect, kind))
        return top

    def read_DATA_timestep(self, n_atoms, TS_class, TS_kwargs, atom_style=None):
        """Positions, velocities (if the file has them) and box of the data file, as a Timestep.

        Parameters
        ----------
        n_atoms : int
            Atoms in the Universe.
        TS_class : type
            The Timestep class to fill.
        TS_kwargs : dict
            Keywords for ``TS_class.from_coordinates``.
        atom_style : str, optional
            As for MDAnalysis' ``DATAParser``.

        Returns
        -------
        Timestep
        """
        try:
            ts = self._fast_timestep(TS_class, TS_kwargs, atom_style)
        except _Unsupported as why:
            ts = _with_diagnosis(why, lambda: super(FastDATAParser, self).read_DATA_timestep(
                n_atoms, TS_class, TS_kwargs, atom_style))
            _check_count(self.filename, ts.n_atoms)
        return ts

    def _fast_timestep(self, TS_class, TS_kwargs, atom_style):
        given = self._interpret_atom_style(atom_style) if atom_style is not None else None

        def atoms(f, start):
            if given is None:
                x = 4 if len(f.first_line(start)) in (7, 10) else 3
                sd = {"id": 0, "x": x, "y": x + 1, "z": x + 2}
                style = f"read as '{_describe(sd)}'; give atom_style if that is wrong"
            else:
                sd, style = given, f"atom style '{atom_style}'"
            kinds = [SKIP] * (max(sd[k] for k in ("id", "x", "y", "z")) + 1)
            kinds[sd["id"]] = INT
            for k in "xyz":
                if kinds[sd[k]] != SKIP:
                    raise _Unsupported()
                kinds[sd[k]] = FLOAT
            if [sd[k] for k in "xyz"] != sorted(sd[k] for k in "xyz"):
                raise _Unsupported()
            return f.parse("Atoms", start, kinds, style, f.n_atoms())

        def velocities(f, start):
            return f.parse("Velocities", start, [SKIP, FLOAT, FLOAT, FLOAT], "id vx vy vz")

        f = _DataFile(self.filename, {"Atoms": atoms, "Velocities": velocities})
        unitcell = self._parse_box(f.header())
        if "Atoms" not in f.results:
            raise _Unsupported()
        ids, xyz = f.results["Atoms"]
        ids = _check_int32(ids[:, 0], f"{self.filename}: atom ids")
        order = _id_order(ids)
        if order is None:
            order = slice(None)
        positions = xyz.astype(np.float32)[order]
        velocities = None
        if "Velocities" in f.results:
            _, vel = f.results["Velocities"]
            if len(vel) != len(positions):
                raise _Unsupported()
            velocities = vel.astype(np.float32)[order]
        ts = TS_class.from_coordinates(positions, velocities=velocities, **TS_kwargs)
        ts.dimensions = unitcell
        return ts


def _describe(sd: dict) -> str:
    names = {v: k for k, v in sd.items()}
    return " ".join(names.get(i, "?") for i in range(max(sd.values()) + 1))


def _with_diagnosis(why: _Unsupported, mdanalysis):
    """MDAnalysis' result; if MDAnalysis fails too, an InputError with the fast path's diagnosis."""
    try:
        return mdanalysis()
    except (ValueError, KeyError, IndexError, TypeError, OverflowError) as err:
        if why.where is None:
            raise
        raise InputError(why.where) from err


def _check_count(filename, n_atoms: int) -> None:
    try:
        declared = _DataFile(filename).n_atoms()
    except _Unsupported:
        return
    if declared is not None and declared != n_atoms:
        raise InputError(f"{filename}: Atoms section has {n_atoms} atom lines but the header declares {declared} "
                         "atoms: the file is cut short or damaged")


class FastDATAReader(DATAReader):
    """LAMMPS data file coordinate reader (format ``DATAFAST``): MDAnalysis' ``DATA``, compiled.

    Same positions, velocities and box as :class:`MDAnalysis.coordinates.LAMMPS.DATAReader`.
    """

    format = FORMAT

    def _read_first_frame(self):
        with FastDATAParser(self.filename) as p:
            self.ts = p.read_DATA_timestep(self.n_atoms, self._Timestep, self._ts_kwargs, self.atom_style)
        self.ts.frame = 0
        if self.convert_units:
            self.convert_pos_from_native(self.ts._pos)  # in-place
            try:
                self.convert_velocities_from_native(self.ts._velocities)  # in-place
            except AttributeError:
                pass
