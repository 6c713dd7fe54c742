"""Finding things by their labels in a sheet laid out like a printed form (the national tables:
one project per sheet, a label cell with its value to the right, a header row above a block).

A grid is the 2-D object array of one sheet (``DataFrame.to_numpy``), 0-based, with merged
ranges filled by :func:`fill_merges`, so a label merged over three cells reads the same in each
of them and a value merged across a row is found wherever one looks. Labels are compared after
:func:`label`: white space, full-width forms and a trailing colon do not matter.
"""
from __future__ import annotations

import math
import unicodedata
from typing import Callable, Iterable

from .vocab import compact


def is_blank(value) -> bool:
    """An empty cell: None, NaN or white space only."""
    kind = type(value)
    if kind is str:  # the common cases first: this runs for every cell looked at
        return not value.strip()
    if kind is int or kind is bool:
        return False
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def fill_merges(values, merges: Iterable) -> None:
    """Carry each merged range's top-left value to every blank cell it covers, in place.
    ``merges`` holds ``((r0, c0), (r1, c1))`` pairs, inclusive, as calamine gives them."""
    nrows, ncols = values.shape
    for (r0, c0), (r1, c1) in merges:
        if r0 >= nrows or c0 >= ncols:
            continue
        value = values[r0, c0]
        for r in range(r0, min(r1, nrows - 1) + 1):
            for c in range(c0, min(c1, ncols - 1) + 1):
                if is_blank(values[r, c]):
                    values[r, c] = value


def label(value) -> str:
    """A cell as a label to compare: text only (numbers are never labels), NFKC (full-width
    forms as ASCII), white space removed, a trailing colon and leading ``*`` dropped."""
    if not isinstance(value, str):
        return ""
    return compact(unicodedata.normalize("NFKC", value)).lstrip("*").rstrip(":")


def _first(values, rows: range | None, test: Callable[[str], bool]) -> tuple[int, int] | None:
    """(row, col) of the first cell, row by row, whose :func:`label` is non-empty and passes ``test``."""
    for r in rows if rows is not None else range(values.shape[0]):
        if r >= values.shape[0]:
            break
        for c in range(values.shape[1]):
            text = label(values[r, c])
            if text and test(text):
                return r, c
    return None


def find_label(values, names: Iterable[str], *, rows: range | None = None,
               prefix: bool = False) -> tuple[int, int] | None:
    """(row, col) of the first cell, row by row, whose :func:`label` is one of ``names``
    (or, with ``prefix``, starts with one). ``rows`` limits the search."""
    wanted = tuple(label(n) for n in names)
    return _first(values, rows, (lambda t: t.startswith(wanted)) if prefix else (lambda t: t in wanted))


def right_of(values, r: int, c: int) -> tuple[object, int] | None:
    """The first non-blank cell right of the label at (r, c) that is not the label itself
    (a merged label repeats across its range), with its column; None when the row is empty."""
    own = label(values[r, c])
    for col in range(c + 1, values.shape[1]):
        value = values[r, col]
        if not is_blank(value) and (label(value) != own or not own):
            return value, col
    return None


def value_of(values, names: Iterable[str], *, rows: range | None = None) -> tuple[object, int, int] | None:
    """The value written right of the first label in ``names``: (value, row, col), or None
    when there is no such label or nothing beside it."""
    at = find_label(values, names, rows=rows)
    if at is None:
        return None
    found = right_of(values, *at)
    return None if found is None else (found[0], at[0], found[1])


def find_text(values, fragments: Iterable[str], *, rows: range | None = None) -> tuple[int, int] | None:
    """(row, col) of the first cell whose :func:`label` contains one of ``fragments``."""
    wanted = tuple(label(f) for f in fragments)
    return _first(values, rows, lambda t: any(f in t for f in wanted))


def header_row(values, names: dict[str, str], required: Iterable[str], *, start: int = 0,
               key: Callable[[object], str] = label) -> tuple[int, dict[str, int]] | None:
    """The first row from ``start`` holding every ``required`` field: (row, field -> column).
    ``names`` maps a header, as ``key`` turns a cell into one, to its field; the first column
    of each field wins (a header merged over two columns names the first)."""
    required = set(required)
    for r in range(start, values.shape[0]):
        cols: dict[str, int] = {}
        for c in range(values.shape[1]):
            field = names.get(key(values[r, c]))
            if field and field not in cols:
                cols[field] = c
        if required <= set(cols):
            return r, cols
    return None
