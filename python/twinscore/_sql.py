"""SQL text of fitted scores, to run inside the warehouse where the contacts live.

The statements use only what DuckDB, SQLite, PostgreSQL and most warehouses
share: double-quoted identifiers, single-quoted strings, CASE, COALESCE and
comparisons. Missing values are SQL NULLs (pandas' NaN becomes NULL when a
frame is loaded into DuckDB or SQLite); a NaN stored as such is not missing to
SQL.

Numeric bins learnt on float32 data round each value to float32 before it is
binned; SQL has no such rounding, so the thresholds here are the double-precision
bounds of the float32 roundings (round-half-to-even), and a float64 column in
the database falls in the same bin as in Python.
"""

from __future__ import annotations

import math
import re

import numpy as np

_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def ident(name: str) -> str:
    """A quoted identifier (double quotes doubled inside)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"an SQL name must be a non-empty string, got {name!r}")
    if "\x00" in name:
        raise ValueError(f"an SQL name cannot hold a NUL character: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def table_ref(name: str) -> str:
    """A table name: plain identifiers and dotted schema.table names are quoted part by part."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"table must be a non-empty string, got {name!r}")
    return ".".join(ident(p) for p in name.split(".")) if all(_SAFE.match(p) for p in name.split(".")) \
        else ident(name)


def as_number(column_sql: str) -> str:
    """A column read as a double (booleans and integers too: 1.0 / 0.0)."""
    return f"CAST({column_sql} AS DOUBLE PRECISION)"


def as_text(column_sql: str) -> str:
    """A column read as text, for comparing categories."""
    return f"CAST({column_sql} AS VARCHAR)"


def text(value: str) -> str:
    """A string literal (single quotes doubled)."""
    if "\x00" in value:
        raise ValueError(f"an SQL string cannot hold a NUL character: {value!r}")
    return "'" + value.replace("'", "''") + "'"


def number(x: float) -> str:
    """A finite number literal that reads back as the same double."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"an SQL number must be finite, got {x}")
    if x == int(x) and abs(x) < 2**53:
        return str(int(x))
    return repr(x)


def _even(f: np.float32) -> bool:
    return int(np.array(f, dtype=np.float32).view(np.uint32)) % 2 == 0


def _mid(a: np.float32, b: np.float32) -> float:
    return (float(a) + float(b)) / 2.0  # exact: a float32 midpoint is a double


def above(x_sql: str, edge: float, float32: bool) -> str:
    """The condition "x > edge" as the engine tests it (after the float32 rounding when learnt on float32)."""
    if not float32:
        return f"{x_sql} > {number(edge)}"
    below = np.float32(edge)
    if float(below) > edge:
        below = np.nextafter(below, np.float32(-np.inf))
    nxt = np.nextafter(below, np.float32(np.inf))
    if not np.isfinite(nxt):  # nothing rounds above the largest float
        return "1 = 0"
    m = _mid(below, nxt)
    # x rounds to nxt or above exactly when x > m, or x == m and nxt is even.
    return f"{x_sql} {'>=' if _even(nxt) else '>'} {number(m)}"


def equals(x_sql: str, value: float, float32: bool) -> str:
    """The condition "x == value" as the engine tests it (after the float32 rounding when learnt on float32)."""
    if not float32:
        return f"{x_sql} = {number(value)}"
    v = np.float32(value)
    lo_n, hi_n = np.nextafter(v, np.float32(-np.inf)), np.nextafter(v, np.float32(np.inf))
    op = "=" if _even(v) else ""  # a tie rounds to the even neighbour
    parts = []
    if np.isfinite(lo_n):
        parts.append(f"{x_sql} >{op} {number(_mid(lo_n, v))}")
    else:
        parts.append(f"{x_sql} >= {number(float(v))}")
    if np.isfinite(hi_n):
        parts.append(f"{x_sql} <{op} {number(_mid(v, hi_n))}")
    else:
        parts.append(f"{x_sql} <= {number(float(v))}")
    return " AND ".join(parts)


def case(branches: list[tuple[str, str]], default: str) -> str:
    """CASE WHEN c1 THEN v1 ... ELSE default END (just the default when there is no branch)."""
    if not branches:
        return default
    body = " ".join(f"WHEN {c} THEN {v}" for c, v in branches)
    return f"CASE {body} ELSE {default} END"
