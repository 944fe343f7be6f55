"""What the bad-input suite shares: a small clean data set, the corruptions
(each a class of bad input), and the checks of the promised outcome.

The promise (README, "Bad input gets a clear exception naming the column"):
every public entry point, given any input, returns a correct result or raises
a ValueError / TypeError / KeyError whose message names the argument or the
column — never another exception, a crash, a hang, a silent NaN or a wrong
answer. "Correct" is checked two ways here:

* a representation of the same data (polars, Arrow, nullable dtypes, a
  pickled copy, read-only / Fortran-order / strided / big-endian arrays) must
  give exactly the result of the plain pandas / numpy input — equal bits;
* data that is new (one row, extreme finite values) is checked against a
  reference computed with numpy / pandas where the entry point has one.
"""

from __future__ import annotations

import io
import pickle
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import twinscore as ts

ERRORS = (ValueError, TypeError, KeyError)
NOW = pd.Timestamp("2026-11-01")


@dataclass(frozen=True)
class Raises:
    """The promised error: one of ``types`` with a message matching ``match``."""
    types: tuple
    match: str

    def check(self, call: Callable[[], Any]):
        with pytest.raises(self.types, match=self.match):
            call()


def raises(match: str, *types) -> Raises:
    return Raises(types or ERRORS, match)


# ---------------------------------------------------------------- comparing results

def _as_frame(x) -> Any:
    if isinstance(x, tuple):
        return tuple(_as_frame(v) for v in x)
    if hasattr(x, "to_pandas") and not isinstance(x, (pd.DataFrame, pd.Series)):
        return x.to_pandas()
    return x


def assert_same(got, want, label=""):
    """Exactly the same result (frames, series, arrays, scalars, tuples of them)."""
    got, want = _as_frame(got), _as_frame(want)
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), label
        for g, w in zip(got, want):
            assert_same(g, w, label)
    elif isinstance(want, pd.DataFrame):
        pd.testing.assert_frame_equal(got, want, check_dtype=False, check_index_type=False,
                                      check_column_type=False, check_categorical=False, obj=label or "DataFrame")
    elif isinstance(want, pd.Series):
        pd.testing.assert_series_equal(got, want, check_dtype=False, check_index_type=False,
                                       check_categorical=False, check_names=False, obj=label or "Series")
    elif isinstance(want, dict):
        assert set(got) == set(want), label
        for k in want:
            assert_same(got[k], want[k], f"{label}[{k}]")
    else:
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=label)


def no_silent_nan(result, allowed_nan=()):
    """No NaN anywhere in the output but in the columns documented to hold it."""
    r = _as_frame(result)
    if isinstance(r, tuple):
        for v in r:
            no_silent_nan(v, allowed_nan)
        return
    if isinstance(r, pd.DataFrame):
        for c in r.columns:
            if c in allowed_nan or not pd.api.types.is_float_dtype(r[c].dtype):
                continue
            assert not r[c].isna().any(), f"column {c!r} holds NaN"
    elif isinstance(r, pd.Series):
        if pd.api.types.is_float_dtype(r.dtype):
            assert not r.isna().any(), "the result holds NaN"
    elif isinstance(r, np.ndarray) and r.dtype.kind == "f":
        assert not np.isnan(r).any(), "the result holds NaN"
    elif isinstance(r, float):
        assert not np.isnan(r), "the result is NaN"


# ---------------------------------------------------------------- representations of one frame

def to_polars(df: pd.DataFrame):
    pl = pytest.importorskip("polars")
    return pl.from_pandas(df)


def to_arrow(df: pd.DataFrame):
    return pa.Table.from_pandas(df, preserve_index=False)


def to_arrow_dictionary(df: pd.DataFrame):
    """Text and categorical columns as Arrow dictionaries."""
    t = to_arrow(df)
    cols = []
    for f, col in zip(t.schema, t.columns):
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            col = col.dictionary_encode()
        cols.append(col)
    return pa.Table.from_arrays(cols, names=t.schema.names)


def to_nullable(df: pd.DataFrame) -> pd.DataFrame:
    """pandas' nullable dtypes (Int64, Float64, boolean, string) — same values."""
    out = df.copy()
    for c in out.columns:
        dt = out[c].dtype
        if isinstance(dt, pd.CategoricalDtype) or isinstance(dt, pd.ArrowDtype):
            continue
        if dt.kind == "f":
            out[c] = out[c].astype("Float64")
        elif dt.kind in "iu":
            out[c] = out[c].astype("Int64")
        elif dt.kind == "b":
            out[c] = out[c].astype("boolean")
    return out


def to_arrow_backed(df: pd.DataFrame) -> pd.DataFrame:
    """pandas columns backed by Arrow (``ArrowDtype``): numbers, dates, text."""
    out = df.copy()
    for c in out.columns:
        dt = out[c].dtype
        if isinstance(dt, pd.ArrowDtype):
            continue
        if dt.kind in "fiub" or dt.kind == "M":
            out[c] = out[c].astype(pd.ArrowDtype(pa.from_numpy_dtype(dt)))
    return out


def pickled(x):
    buf = io.BytesIO()
    pd.to_pickle(x, buf, compression=None)
    buf.seek(0)
    return pd.read_pickle(buf, compression=None)


# ---------------------------------------------------------------- representations of one matrix

def read_only(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.flags.writeable = False
    return a


def fortran(a: np.ndarray) -> np.ndarray:
    return np.asfortranarray(a)


def strided(a: np.ndarray) -> np.ndarray:
    """The same values as a non-contiguous view (every other row and column of a larger array)."""
    a = np.asarray(a)
    big = np.zeros((a.shape[0] * 2, a.shape[1] * 2) if a.ndim == 2 else (a.shape[0] * 2,), dtype=a.dtype)
    if a.ndim == 2:
        big[::2, ::2] = a
        return big[::2, ::2]
    big[::2] = a
    return big[::2]


def big_endian(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return a.astype(a.dtype.newbyteorder(">"))


def names_of(pattern: str) -> str:
    return re.escape(pattern)
