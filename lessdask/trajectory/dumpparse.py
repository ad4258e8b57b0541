"""Parsing one LAMMPS text-dump frame from its bytes: the header in Python, the atom block compiled.

The atom block is parsed by one numba kernel over the raw bytes, column by column as the
``ITEM: ATOMS`` header names them; columns nobody asked for are skipped, not converted.
Numbers are converted exactly: a decimal with at most 18 significant digits and a power of
ten within 1e±22 is ``mantissa * 10**e`` (or ``/ 10**-e``) in float64, which is the correctly
rounded double (Clinger's fast path: both factors are exact doubles, one IEEE operation);
any other token (more digits, larger exponents, ``nan``, ``inf``, garbage) is handed back and
converted by Python's ``float``, which is correctly rounded as well. So every value equals
``float(token)``, the conversion MDAnalysis' own reader makes, bit for bit.
"""

from __future__ import annotations

import numba
import numpy as np

#: Tokens the kernel hands back for Python's ``float`` before the block is re-parsed by numpy.
MAX_SLOW_TOKENS = 1 << 16

_POW10 = np.array([10.0 ** k for k in range(23)])

# status codes of the kernel
OK, TOO_FEW, TOO_MANY, END_OF_DATA, SLOW_OVERFLOW = 0, 1, 2, 3, 4


@numba.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def scan_number(buf, pos, end):  # pragma: no cover - compiled
    """The number starting at ``buf[pos]``, up to the next blank or line end.

    Returns ``(stop, value, exact)``: ``stop`` is just past the token; ``exact`` is False when
    the token is not a decimal the fast path converts exactly (then convert
    ``buf[pos:stop]`` with Python's ``float``; ``value`` is meaningless).
    """
    neg = False
    c = buf[pos]
    if c == 45:
        neg = True
        pos += 1
    elif c == 43:
        pos += 1
    mant = 0
    n_sig = 0
    n_dig = 0
    e10 = 0
    exact = True
    while pos < end and buf[pos] >= 48 and buf[pos] <= 57:
        n_dig += 1
        if n_sig < 18:
            mant = mant * 10 + (buf[pos] - 48)
            if mant != 0:
                n_sig += 1
        else:
            exact = False
        pos += 1
    if pos < end and buf[pos] == 46:
        pos += 1
        while pos < end and buf[pos] >= 48 and buf[pos] <= 57:
            n_dig += 1
            if n_sig < 18:
                mant = mant * 10 + (buf[pos] - 48)
                e10 -= 1
                if mant != 0:
                    n_sig += 1
            else:
                exact = False
            pos += 1
    if n_dig == 0:
        exact = False
    if pos < end and (buf[pos] == 101 or buf[pos] == 69):
        pos += 1
        e_neg = False
        if pos < end and buf[pos] == 45:
            e_neg = True
            pos += 1
        elif pos < end and buf[pos] == 43:
            pos += 1
        ev = 0
        n_e = 0
        while pos < end and buf[pos] >= 48 and buf[pos] <= 57:
            if ev < 100000:
                ev = ev * 10 + (buf[pos] - 48)
            n_e += 1
            pos += 1
        if n_e == 0:
            exact = False
        e10 += -ev if e_neg else ev
    if pos < end and buf[pos] != 32 and buf[pos] != 9 and buf[pos] != 10 and buf[pos] != 13:
        exact = False
        while pos < end and buf[pos] != 32 and buf[pos] != 9 and buf[pos] != 10 and buf[pos] != 13:
            pos += 1
    if exact and mant == 0:
        return pos, -0.0 if neg else 0.0, True
    if exact and mant < 9007199254740992 and -22 <= e10 <= 22:
        v = float(mant)
        if e10 >= 0:
            v = v * _POW10[e10]
        else:
            v = v / _POW10[-e10]
        return pos, -v if neg else v, True
    return pos, 0.0, False


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _parse_block(buf, pos, n_lines, n_tokens, target, out, slow):  # pragma: no cover - compiled
    """Parse ``n_lines`` lines of ``n_tokens`` blank-separated tokens from ``buf[pos:]``.

    ``target[j]`` is the column of ``out`` that token ``j`` goes to, or -1 to skip it.
    Returns ``(status, line, pos, n_slow)``: ``pos`` is just past the last line read;
    ``slow[k] = (line, column, start, stop)`` are tokens to convert with Python's float.
    """
    end = buf.shape[0]
    n_slow = 0
    max_slow = slow.shape[0]
    for i in range(n_lines):
        for j in range(n_tokens):
            while pos < end and (buf[pos] == 32 or buf[pos] == 9 or buf[pos] == 13):
                pos += 1
            if pos >= end:
                return END_OF_DATA, i, pos, n_slow
            if buf[pos] == 10:
                return TOO_FEW, i, pos, n_slow
            t = target[j]
            start = pos
            if t < 0:
                while pos < end and buf[pos] != 32 and buf[pos] != 9 and buf[pos] != 10 and buf[pos] != 13:
                    pos += 1
                continue
            pos, v, exact = scan_number(buf, pos, end)
            if exact:
                out[i, t] = v
            else:
                if n_slow >= max_slow:
                    return SLOW_OVERFLOW, i, pos, n_slow
                slow[n_slow, 0] = i
                slow[n_slow, 1] = t
                slow[n_slow, 2] = start
                slow[n_slow, 3] = pos
                n_slow += 1
        while pos < end and (buf[pos] == 32 or buf[pos] == 9 or buf[pos] == 13):
            pos += 1
        if pos < end:
            if buf[pos] != 10:
                return TOO_MANY, i, pos, n_slow
            pos += 1
        elif i < n_lines - 1:
            return END_OF_DATA, i + 1, pos, n_slow
    return OK, n_lines, pos, n_slow


class BlockError(Exception):
    """An atom line that does not fit the ``ITEM: ATOMS`` header (0-based ``line`` of the block)."""

    def __init__(self, line: int, problem: str, text: str):
        super().__init__(line, problem, text)
        self.line, self.problem, self.text = int(line), problem, text

    def __str__(self):
        where = f"atom line {self.line + 1}: {self.problem}"
        return f"{where}: {self.text!r}" if self.text else where


def _line_at(buf: np.ndarray, pos: int) -> str:
    start = pos
    while start > 0 and buf[start - 1] != 10:
        start -= 1
    stop = pos
    while stop < len(buf) and buf[stop] != 10 and stop - start < 200:
        stop += 1
    return bytes(buf[start:stop]).decode("ascii", "replace").strip()


def parse_block(buf: np.ndarray, start: int, n_lines: int, columns: list[str], wanted: list[str]):
    """Values of the ``wanted`` columns of ``n_lines`` atom lines starting at byte ``start``.

    Parameters
    ----------
    buf : ndarray of uint8
        The frame's bytes.
    start : int
        Offset of the first atom line in ``buf``.
    n_lines : int
        Atom lines to read (the frame's NUMBER OF ATOMS).
    columns : list of str
        The column names of the ``ITEM: ATOMS`` line, in order.
    wanted : list of str
        Columns to convert, in the order of the returned columns.

    Returns
    -------
    values : ndarray, float64, shape (n_lines, len(wanted))
    stop : int
        Offset just past the last atom line.

    Raises
    ------
    BlockError
        A line has fewer or more values than ``columns`` names, a value is not a number, or
        the data end before ``n_lines`` lines.
    """
    target = np.full(len(columns), -1, np.int64)
    for k, name in enumerate(wanted):
        target[columns.index(name)] = k
    out = np.empty((n_lines, len(wanted)), np.float64)
    slow = np.empty((MAX_SLOW_TOKENS, 4), np.int64)
    status, line, pos, n_slow = _parse_block(buf, start, n_lines, len(columns), target, out, slow)
    if status == SLOW_OVERFLOW:
        return _parse_block_with_numpy(buf, start, n_lines, columns, wanted)
    if status == TOO_FEW:
        raise BlockError(line, f"fewer than the {len(columns)} values the header names ({' '.join(columns)})",
                         _line_at(buf, pos))
    if status == TOO_MANY:
        raise BlockError(line, f"more than the {len(columns)} values the header names ({' '.join(columns)})",
                         _line_at(buf, pos))
    if status == END_OF_DATA:
        raise BlockError(line, f"the data end after {line} of {n_lines} atom lines", "")
    for i, t, a, b in slow[:n_slow]:
        token = bytes(buf[a:b])
        try:
            out[i, t] = float(token)
        except ValueError:
            raise BlockError(int(i), f"{token.decode('ascii', 'replace')!r} in column {wanted[t]!r} is not a number",
                             _line_at(buf, int(a))) from None
    return out, int(pos)


def _parse_block_with_numpy(buf, start, n_lines, columns, wanted):
    """Slow but exact path for blocks full of long or unusual numbers (Python's float via numpy)."""
    lines = bytes(buf[start:]).split(b"\n", n_lines)
    rest = len(lines[n_lines]) if len(lines) > n_lines else 0
    stop = len(buf) - rest
    if len(lines) > n_lines:
        lines = lines[:n_lines]
    elif len(lines) < n_lines or (lines and not lines[-1].strip()):
        raise BlockError(len(lines), f"the data end before {n_lines} atom lines", "")
    out = np.empty((n_lines, len(wanted)), np.float64)
    idx = [columns.index(w) for w in wanted]
    for i, line in enumerate(lines):
        tokens = line.split()
        if len(tokens) != len(columns):
            few = len(tokens) < len(columns)
            raise BlockError(i, f"{'fewer' if few else 'more'} than the {len(columns)} values the header names "
                                f"({' '.join(columns)})", line.decode("ascii", "replace").strip())
        try:
            out[i] = [float(tokens[k]) for k in idx]
        except ValueError:
            raise BlockError(i, "a value is not a number", line.decode("ascii", "replace").strip()) from None
    return out, stop
