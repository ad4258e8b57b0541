"""Where each frame of a LAMMPS text dump starts, found by one pass, and random access to its bytes.

:func:`build_index` reads the file once (decompressing it once if it is compressed) and
records the byte offset of every ``ITEM: TIMESTEP`` line, the frame's step and atom count,
and whether the frame is complete. The result, a :class:`DumpIndex`, is small and picklable:
the client builds it once and every Dask worker receives it with the reader, so no worker
rescans the file. :func:`open_source` gives thread-safe ``read(offset, size)`` access to the
uncompressed bytes:

* plain files: ``os.pread``;
* gzip: ``indexed_gzip`` (zran) restart points. The pass records the decompressor's state
  every ``spacing`` bytes (a 32 KiB window and a bit offset per point); only the point just
  before each frame start is kept (plus the first and last), so reading any frame inflates at
  most ``spacing`` extra bytes, whatever the frame's position in the file. The points travel
  with the index (zlib-compressed), so workers never decompress what they do not read;
* bz2 and xz: read by decompressing forward; a backward jump starts again from the file's
  start (a warning says so at indexing time: recompress with gzip for random access).
"""

from __future__ import annotations

import bz2
import io
import logging
import lzma
import os
import struct
import threading
import zlib
from dataclasses import dataclass, field

import numpy as np

from lessdask.errors import InputError

logger = logging.getLogger("lessdask")

_KEY = b"ITEM: TIMESTEP"
_CHUNK = 1 << 24
_HEADER_BYTES = 256
#: Bounds of the distance between gzip restart points (uncompressed bytes).
MIN_SPACING, MAX_SPACING = 1 << 20, 1 << 25
_MAGIC = {b"\x1f\x8b": "gz", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}


def compression_of(path: str | os.PathLike) -> str:
    """``"gz"``, ``"bz2"``, ``"xz"`` or ``""`` (plain), from the file's first bytes (not its name)."""
    with open(path, "rb") as f:
        head = f.read(6)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return ""


@dataclass
class DumpIndex:
    """Frame offsets of one LAMMPS dump, built once by :func:`build_index`; picklable.

    Attributes
    ----------
    path : str
        The dump file.
    compression : str
        ``""``, ``"gz"``, ``"bz2"`` or ``"xz"``.
    file_size : int
        Size of the file on disk when it was indexed (a changed file is refused).
    starts, stops : ndarray of int64
        Uncompressed byte range of each complete frame (``ITEM: TIMESTEP`` up to the next one).
    steps : ndarray of int64
        The ``TIMESTEP`` of each frame.
    n_atoms : int
        Atoms of the first frame.
    damaged : dict of int to str
        Frames that cannot be read (wrong atom count, too few lines), with the reason.
    truncated_at : int or None
        Index of a last frame the file ends in the middle of; it is not counted in ``starts``.
    gz_points : bytes or None
        zlib-compressed ``indexed_gzip`` index holding the restart points (gzip only).
    """

    path: str
    compression: str
    file_size: int
    starts: np.ndarray
    stops: np.ndarray
    steps: np.ndarray
    n_atoms: int
    damaged: dict = field(default_factory=dict)
    truncated_at: int | None = None
    gz_points: bytes | None = None

    @property
    def n_frames(self) -> int:
        return len(self.starts)


class _Scanner:
    """Frame starts, newline counts and header bytes from consecutive chunks of a dump."""

    def __init__(self):
        self.starts: list[int] = []
        self.newlines: list[int] = []
        self.headers: list[bytes] = []
        self._tail = b""
        self._before = 10  # the byte before the tail ("\n": the file's start is a line start)
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        keep, tail = len(_KEY) - 1, self._tail
        if self.headers and len(self.headers[-1]) < _HEADER_BYTES:  # finish the last frame's header
            self.headers[-1] += chunk[:_HEADER_BYTES - len(self.headers[-1])]
        hits = []  # frame starts, relative to the chunk (negative: the key began in the tail)
        if tail:  # keys crossing into this chunk; the chunk itself is searched without copying it
            joint = tail + chunk[:keep]
            j = joint.find(_KEY)
            while 0 <= j < len(tail):
                if (joint[j - 1] if j > 0 else self._before) == 10:
                    hits.append(j - len(tail))
                j = joint.find(_KEY, j + 1)
        i = chunk.find(_KEY)
        while i >= 0:
            if (chunk[i - 1] if i > 0 else (tail[-1] if tail else self._before)) == 10:
                hits.append(i)
            i = chunk.find(_KEY, i + 1)
        counted = 0  # newlines of the chunk are counted up to here
        for h in hits:
            if self.starts and self.size + h <= self.starts[-1]:
                continue  # already found through an earlier (very short) chunk
            c = max(h, 0)
            if self.newlines:
                self.newlines[-1] += chunk.count(b"\n", counted, c)
            counted = c
            self.starts.append(self.size + h)
            self.newlines.append(0)
            self.headers.append(tail[h:] + chunk[:_HEADER_BYTES + h] if h < 0 else chunk[h:h + _HEADER_BYTES])
        if self.newlines:
            self.newlines[-1] += chunk.count(b"\n", counted)
        joint = tail + chunk[-keep - 1:]
        if len(joint) > keep:
            self._before = joint[-keep - 1]
        self._tail = joint[-keep:]
        self.size += len(chunk)


def _frame_header(header: bytes) -> tuple[int, int]:
    """(step, atoms) from the first four lines of a frame."""
    lines = header.split(b"\n")
    if len(lines) < 5 or not lines[2].startswith(b"ITEM: NUMBER OF ATOMS"):
        raise ValueError("no 'ITEM: NUMBER OF ATOMS' line after 'ITEM: TIMESTEP'")
    return int(lines[1]), int(lines[3])


def _classify_frames(path, scan: _Scanner):
    """Complete frames, their steps, damaged frames and a truncated last frame."""
    n = len(scan.starts)
    if n == 0:
        raise InputError(f"{path}: no 'ITEM: TIMESTEP' line: not a LAMMPS text dump (or the file is empty)")
    stops = [*scan.starts[1:], scan.size]
    steps = np.zeros(n, np.int64)
    damaged: dict[int, str] = {}
    truncated_at = None
    n_atoms = None
    for k in range(n):
        try:
            steps[k], atoms = _frame_header(scan.headers[k])
        except ValueError as exc:
            if k == n - 1:
                truncated_at = k
                break
            damaged[k] = f"its header cannot be read ({exc})"
            continue
        if n_atoms is None:
            n_atoms = atoms
        lines = scan.newlines[k]
        if lines < 9 + atoms:
            if k == n - 1:
                truncated_at = k
            else:
                damaged[k] = (f"it has {lines} lines where its header announces {atoms} atoms ({9 + atoms} lines): "
                              "lines are missing")
        elif atoms != n_atoms:
            damaged[k] = (f"it has {atoms} atoms where frame 0 has {n_atoms}; every frame must hold the same atoms "
                          "(split the file where the atom count changes)")
    if n_atoms is None:
        raise InputError(f"{path}: the first frame is incomplete (the file ends in its header)")
    keep = n - (truncated_at is not None)
    return (np.asarray(scan.starts[:keep], np.int64), np.asarray(stops[:keep], np.int64), steps[:keep],
            int(n_atoms), damaged, truncated_at)


def _spacing(path, compressed_size: int) -> int:
    """Distance between gzip restart points: 1/32 of a frame, within bounds, and at most ~4096 points in the pass."""
    import gzip

    with gzip.open(path, "rb") as f:
        head = f.read(1 << 16)
    lines = head.split(b"\n")
    try:
        atoms = int(lines[3])
        atom_lines = lines[9:-1] or [b"x" * 40]
        frame = len(b"\n".join(lines[:9])) + atoms * (sum(map(len, atom_lines)) / len(atom_lines) + 1)
    except (ValueError, IndexError):
        frame = MIN_SPACING
    return int(max(MIN_SPACING, min(MAX_SPACING, frame // 32), 5 * compressed_size // 4096))


def _gunzip(path, size: int = 1 << 20):
    """The uncompressed bytes of a gzip file (all members), in chunks; EOFError if it ends early."""
    with open(path, "rb") as f:
        d, started = zlib.decompressobj(31), False
        while inp := f.read(size):
            while inp:
                started = True
                out = d.decompress(inp)
                if out:
                    yield out
                if d.eof:
                    inp = d.unused_data
                    d, started = zlib.decompressobj(31), False
                    if not inp.strip(b"\0"):  # trailing padding after the last member
                        inp = b""
                else:
                    inp = b""
        if started and not d.eof:
            raise EOFError("the compressed file ends before the end-of-stream marker")


def _scan_gzip(path, scan: _Scanner):
    """One pass over a gzip file for the frames while a thread builds the zran index (two decompressions, in
    parallel: zran's read path does not leave restart points behind, its seek does, without the GIL)."""
    import indexed_gzip

    size = os.path.getsize(path)
    spacing = _spacing(path, size)
    try:
        f = indexed_gzip.IndexedGzipFile(str(path), spacing=spacing, readbuf_size=1 << 20)
    except (indexed_gzip.ZranError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable gzip file ({exc})") from None
    failed = []

    def build():
        try:
            f.seek(1 << 62)  # past the end: inflates the whole file once, leaving a point every `spacing` bytes
        except Exception as exc:  # noqa: BLE001 - reported with the scan's own error
            failed.append(exc)

    builder = threading.Thread(target=build, name="lessdask-gzip-index", daemon=True)
    builder.start()
    try:
        for chunk in _gunzip(path):
            scan.feed(chunk)
    except (EOFError, zlib.error) as exc:
        logger.warning("%s: the compressed data end early or are damaged after %d bytes (%s); the frames before "
                       "are read", path, scan.size, exc)
    finally:
        builder.join()
    with f:
        raw = io.BytesIO()
        f.export_index(fileobj=raw)
    return raw.getvalue()


def _keep_points(exported: bytes, starts: np.ndarray) -> bytes:
    """The zran index reduced to the restart points just before each frame start (plus first and last).

    The export format (``zran_export_index``, version 1): ``GZIDX``, version, flags, compressed
    and uncompressed size (u64), spacing, window size, point count (u32); per point its
    compressed and uncompressed offset (u64), bit offset and data flag (u8); then one window
    per point with data. An unknown format is kept whole.
    """
    head = struct.Struct("<5sBBQQIII")
    point = struct.Struct("<QQBB")
    magic, version, _flags, _c, _u, _spacing, window, npoints = head.unpack_from(exported)
    if magic != b"GZIDX" or version != 1:
        return exported
    pts = [point.unpack_from(exported, head.size + k * point.size) for k in range(npoints)]
    uncmp = np.array([p[1] for p in pts], np.int64)
    keep = set(np.searchsorted(uncmp, starts, side="right") - 1) | {0, npoints - 1}
    keep = sorted(k for k in keep if 0 <= k < npoints)
    window_at, w = {}, head.size + npoints * point.size
    for k, p in enumerate(pts):
        if p[3]:
            window_at[k] = w
            w += window
    out = [head.pack(magic, version, _flags, _c, _u, _spacing, window, len(keep))]
    out += [point.pack(*pts[k]) for k in keep]
    out += [exported[window_at[k]:window_at[k] + window] for k in keep if pts[k][3]]
    return b"".join(out)


def build_index(path: str | os.PathLike) -> DumpIndex:
    """Index a LAMMPS text dump (plain, gzip, bz2 or xz) by one pass over its bytes.

    Parameters
    ----------
    path : str or os.PathLike
        The dump.

    Returns
    -------
    DumpIndex

    Raises
    ------
    InputError
        The file holds no frame, or its first frame is cut off.
    """
    path = str(path)
    kind = compression_of(path)
    size = os.path.getsize(path)
    scan = _Scanner()
    gz_points = None
    if kind == "gz":
        exported = _scan_gzip(path, scan)
    else:
        if kind in ("bz2", "xz"):
            logger.warning("%s is %s-compressed: frames are read by decompressing forward, and every backward jump "
                           "decompresses again from the file's start (slow for long trajectories); for random access "
                           "recompress it with gzip (e.g. %s -dc FILE | gzip > FILE.gz) or decompress it",
                           path, kind, "bzip2" if kind == "bz2" else "xz")
        opener = {"": open, "bz2": bz2.open, "xz": lzma.open}[kind]
        with opener(path, "rb") as f:
            try:
                while chunk := f.read(_CHUNK):
                    scan.feed(chunk)
            except (EOFError, OSError, lzma.LZMAError) as exc:
                logger.warning("%s: the compressed data end early or are damaged after %d bytes (%s); frames before "
                               "are read", path, scan.size, exc)
    starts, stops, steps, n_atoms, damaged, truncated_at = _classify_frames(path, scan)
    if kind == "gz":
        gz_points = zlib.compress(_keep_points(exported, starts), 1)
    return DumpIndex(path=path, compression=kind, file_size=size, starts=starts, stops=stops, steps=steps,
                     n_atoms=n_atoms, damaged=damaged, truncated_at=truncated_at, gz_points=gz_points)


class _Source:
    """Thread-safe ``read(offset, size)`` of a dump's uncompressed bytes (one per process)."""

    def __init__(self, index: DumpIndex):
        self.index = index
        self._lock = threading.Lock()
        self._fd = None
        self._f = self._raw = None
        path = index.path
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise InputError(f"{path}: cannot be opened ({exc.strerror})") from None
        if size != index.file_size:
            raise InputError(f"{path} changed since it was indexed ({index.file_size} bytes then, {size} now); "
                             "open it again")
        if index.compression == "":
            self._fd = os.open(path, os.O_RDONLY)
        elif index.compression == "gz":
            import indexed_gzip

            spacing = struct.unpack_from("<I", zlib.decompress(index.gz_points), 23)[0]
            self._f = indexed_gzip.IndexedGzipFile(path, spacing=spacing, readbuf_size=1 << 20)
            self._f.import_index(fileobj=io.BytesIO(zlib.decompress(index.gz_points)))
            # one zran read per frame: the buffered wrapper would read in pieces, each inflating again
            # from the restart point before it
            self._raw = self._f.raw
        else:
            self._f = (bz2.open if index.compression == "bz2" else lzma.open)(path, "rb")

    def read(self, offset: int, size: int) -> bytes:
        if self._fd is not None:
            parts, got = [], 0
            while got < size:
                part = os.pread(self._fd, min(size - got, 1 << 30), offset + got)
                if not part:
                    break
                parts.append(part)
                got += len(part)
            return parts[0] if len(parts) == 1 else b"".join(parts)
        with self._lock:
            f = self._raw if self._raw is not None else self._f
            f.seek(offset)
            return f.read(size)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._f is not None:
            self._f.close()
            self._f = self._raw = None


def open_source(index: DumpIndex) -> _Source:
    """Thread-safe random access to the uncompressed bytes of an indexed dump.

    Parameters
    ----------
    index : DumpIndex

    Returns
    -------
    object
        With ``read(offset, size) -> bytes`` and ``close()``.
    """
    return _Source(index)
