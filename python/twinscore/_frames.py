"""The one way in: tables and matrices from the caller -> the arrays the engines read.

Every public function that takes a table, a matrix, dates or ids converts them
here, so the same input means the same thing everywhere:

* **Frames**: a pandas DataFrame, a pyarrow Table or RecordBatch, or a polars
  DataFrame. Columns are found by name (``KeyError`` naming the column and the
  table).
* **Dates** (:func:`timestamps_ns`, :func:`timestamp`): datetime64 of any unit
  (s, ms, us, ns) and Arrow timestamps and dates; a time-zone-aware date is
  converted to UTC; text is parsed as ISO 8601 (naive text is UTC). Numbers are
  not dates (no unit is guessed): ``TypeError``. The engines count int64
  nanoseconds since 1970-01-01 UTC, so a date outside 1677-09-22 to 2262-04-11
  (a ``9999-12-31`` "no end" sentinel) is refused with its row instead of
  wrapping. A missing date (NaT, null) is either refused with its row
  (``missing="raise"``) or kept as :data:`MISSING_TIMESTAMP` (int64 min) for
  an engine that handles it (``missing="keep"``).
* **Ids** (:func:`contact_ids`, :func:`client_codes`): integers or strings;
  floats whose values are all whole numbers (what ``read_csv`` gives an integer
  column with a gap) are read as int64; a missing id is refused with its row
  and the number of missing ids.
* **Numeric matrices** (:func:`numeric_matrix`): 2-D numbers or booleans,
  C-contiguous in the engine's dtype, uncopied when they already are; sparse,
  complex, text, ragged, empty, infinite (and NaN unless allowed) input
  refused with scikit-learn's messages.

Nothing here loops over rows.
"""

from __future__ import annotations

import numbers
import os
import stat
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from . import _core
from ._config import resolve_threads

__all__ = ["MISSING_TIMESTAMP", "NS_PER_DAY", "is_frame", "column_names", "as_pandas", "as_table_source", "column",
           "timestamps_ns", "timestamp", "timestamp_ns", "contact_ids", "ids", "same_id_kind", "client_codes", "int64_ids", "amounts",
           "numeric_matrix", "select_columns"]

MISSING_TIMESTAMP = int(_core.MISSING_TIMESTAMP)  # int64 min, numpy's NaT
NS_PER_DAY = 86_400 * 10**9
_NS_PER_UNIT = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
                "D": 86_400 * 10**9}
_INT64_MAX = np.iinfo(np.int64).max
_RANGE = "1677-09-22 to 2262-04-11"


# ---------------------------------------------------------------- frames

def _is_polars(x) -> bool:
    return type(x).__module__.split(".")[0] == "polars"


def is_frame(x) -> bool:
    """A pandas DataFrame, pyarrow Table / RecordBatch or polars DataFrame."""
    return isinstance(x, (pd.DataFrame, pa.Table, pa.RecordBatch)) or (
        _is_polars(x) and type(x).__name__ == "DataFrame")


def column_names(x) -> list[str] | None:
    """The column names of a frame (as strings), None for anything else."""
    if isinstance(x, pd.DataFrame):
        return [str(c) for c in x.columns]
    if isinstance(x, (pa.Table, pa.RecordBatch)):
        return list(x.schema.names)
    if is_frame(x):
        return [str(c) for c in x.columns]
    return None


def as_table_source(x):
    """A frame as pandas or Arrow (what :class:`~twinscore.ContactTable` reads):
    polars through Arrow (no copy of numeric columns), a RecordBatch as a Table."""
    if isinstance(x, pa.RecordBatch):
        return pa.Table.from_batches([x])
    if _is_polars(x) and type(x).__name__ == "DataFrame":
        return x.to_arrow()
    return x


def as_pandas(x, what: str = "the table") -> pd.DataFrame:
    """A frame as a pandas DataFrame (Arrow and polars converted; pandas as it is)."""
    if isinstance(x, pd.DataFrame):
        return x
    if isinstance(x, pa.RecordBatch):
        x = pa.Table.from_batches([x])
    if isinstance(x, pa.Table):
        return x.to_pandas()
    if is_frame(x):
        return x.to_pandas()
    raise TypeError(f"{what} must be a DataFrame (pandas or polars) or an Arrow table, got {type(x).__name__}")


def column(frame, name, what: str, table: str = "the table") -> pd.Series:
    """Column ``name`` of a frame as a pandas Series; ``what`` says what the
    column is for in the messages ("date", "customer", ...)."""
    if not is_frame(frame):
        raise TypeError(f"{table} must be a DataFrame (pandas or polars) or an Arrow table, "
                        f"got {type(frame).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a column name (str), got {type(name).__name__}")
    if isinstance(frame, pd.DataFrame) and name in frame.columns:  # a hash lookup, not the list of names
        return frame[name]
    names = column_names(frame)
    if name not in names:
        raise KeyError(f"{what} column {name!r} is not in {table} (columns: {names[:20]})")
    if isinstance(frame, pd.DataFrame):
        return frame[name]
    if isinstance(frame, (pa.Table, pa.RecordBatch)):
        return pd.Series(frame.column(name).to_pandas(), name=name)
    return frame[name].to_pandas()


def select_columns(frame, names: Sequence[str], what: str = "X"):
    """The frame's columns ``names``, in that order (matched by name, never by
    position); a missing column is a ``KeyError`` naming it."""
    have = column_names(frame)
    missing = [n for n in names if n not in have]
    if missing:
        raise KeyError(f"{what} lacks the columns {missing[:10]} it was fitted on (it has {have[:20]})")
    if list(names) == have:
        return frame
    if isinstance(frame, pd.DataFrame):
        lookup = {str(c): c for c in frame.columns}
        return frame[[lookup[n] for n in names]]
    if isinstance(frame, (pa.Table, pa.RecordBatch)):
        return frame.select(list(names))
    return frame.select(list(names))


# ---------------------------------------------------------------- dates

def _raw_dates(values, name: str) -> tuple[np.ndarray, str]:
    """(int64 counts since the epoch in UTC, with int64 min for missing; their unit)."""
    if _is_polars(values):
        values = values.to_arrow()
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return _raw_arrow(values, name)
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    dtype = s.dtype
    if isinstance(dtype, pd.ArrowDtype):
        return _raw_arrow(pa.array(s), name)
    if isinstance(dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert(None)  # UTC wall time, naive
    elif not pd.api.types.is_datetime64_any_dtype(dtype):
        s = _parse_dates(s, name)
    a = s.to_numpy()
    unit = np.datetime_data(a.dtype)[0]
    return a.view(np.int64), unit


def _raw_arrow(arr, name: str) -> tuple[np.ndarray, str]:
    t = arr.type
    if pa.types.is_timestamp(t):
        unit = t.unit  # Arrow timestamps count from the epoch in UTC whatever their zone
    elif pa.types.is_date32(t):
        unit = "D"
    elif pa.types.is_date64(t):
        unit = "ms"
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return _raw_dates(pd.Series(arr.to_pandas(), dtype=object), name)
    else:
        raise TypeError(f"date column {name!r} must hold dates, got Arrow type {t}")
    width = pa.int32() if pa.types.is_date32(t) else pa.int64()  # Arrow casts a date32 only to int32
    raw = arr.cast(width).cast(pa.int64()).fill_null(MISSING_TIMESTAMP)
    return raw.to_numpy(zero_copy_only=False), unit


def _parse_dates(s: pd.Series, name: str) -> pd.Series:
    """Text dates parsed as ISO 8601 (naive text read as UTC); numbers refused."""
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        raise TypeError(f"date column {name!r} must hold dates, got {s.dtype} (numbers are not dates: "
                        "convert them with pandas.to_datetime(..., unit=...))")
    try:
        parsed = pd.to_datetime(s, format="ISO8601", utc=True)
    except (ValueError, TypeError, OverflowError) as exc:
        bad = _first_unparsed(s)
        where = f" (row {bad[0]}: {bad[1]!r})" if bad else ""
        raise ValueError(f"date column {name!r} holds a value that is not an ISO 8601 date{where}: {exc}") from None
    return parsed.dt.tz_convert(None)


def _first_unparsed(s: pd.Series):
    ok = pd.to_datetime(s, format="ISO8601", utc=True, errors="coerce").notna().to_numpy() | s.isna().to_numpy()
    if ok.all():
        return None
    i = int(np.argmin(ok))
    return i, s.iloc[i]


def timestamps_ns(values, name: str, *, missing: str = "raise") -> np.ndarray:
    """int64 nanoseconds since 1970-01-01 UTC of a date column (see the module
    docstring for the rule); ``missing``: "raise" or "keep" (int64 min)."""
    if missing not in ("raise", "keep"):
        raise ValueError(f"missing must be 'raise' or 'keep', got {missing!r}")
    raw, unit = _raw_dates(values, name)
    nat = raw == MISSING_TIMESTAMP
    if missing == "raise" and nat.any():
        i = int(np.argmax(nat))
        raise ValueError(f"date column {name!r} holds a missing date (NaT) at row {i} "
                         f"({int(nat.sum()):,} missing in all)")
    factor = _NS_PER_UNIT.get(unit)
    if factor is None:
        raise TypeError(f"date column {name!r} has the unsupported unit {unit!r}")
    if factor == 1:
        return np.ascontiguousarray(raw, dtype=np.int64)
    limit = _INT64_MAX // factor
    bad = ~nat & ((raw > limit) | (raw < -limit))
    if bad.any():
        i = int(np.argmax(bad))
        when = np.datetime64(int(raw[i]), unit)
        raise ValueError(f"date column {name!r} holds {when} at row {i}, outside the dates twinscore counts in "
                         f"({_RANGE}; {int(bad.sum()):,} such dates)")
    out = np.where(nat, MISSING_TIMESTAMP, raw * factor)
    return np.ascontiguousarray(out, dtype=np.int64)


def timestamp(value, name: str = "date") -> pd.Timestamp:
    """One date as every twinscore function reads it (public as ``twinscore.to_timestamp``).

    Parameters
    ----------
    value : a Timestamp, datetime, date, numpy datetime64 or ISO 8601 text;
        a time-zone-aware value is converted to UTC.
    name : what the value is, for the messages ("now", "calibration_end").

    Returns
    -------
    A naive (UTC) Timestamp in nanoseconds. Numbers (no unit is guessed),
    NaT, None and dates outside 1677-09-22 to 2262-04-11 are refused
    (``TypeError`` / ``ValueError`` naming ``name``).
    """
    if value is None:
        raise ValueError(f"{name} is required: a date")
    if isinstance(value, (bool, numbers.Number, np.bool_)):
        raise TypeError(f"{name} must be a date, got the number {value!r}")
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be a date, got {value!r} ({exc})") from None
    if t is pd.NaT:
        raise ValueError(f"{name} must be a date, got NaT")
    if t.tz is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    try:
        return t.as_unit("ns")
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise ValueError(f"{name} = {t} is outside the dates twinscore counts in ({_RANGE})") from None


def timestamp_ns(value, name: str) -> int:
    """:func:`timestamp` as int64 nanoseconds since the epoch."""
    return int(timestamp(value, name).value)


# ---------------------------------------------------------------- ids

def _integral_floats(s: pd.Series, name: str) -> pd.Series:
    """Float ids whose values are whole numbers, as int64 (read_csv's integers with a gap)."""
    a = s.to_numpy(dtype=np.float64, na_value=np.nan)
    present = ~np.isnan(a)
    frac = present & (np.mod(a, 1.0) != 0)
    if frac.any() or (present & (np.abs(a) >= 2.0**63)).any():
        i = int(np.argmax(frac)) if frac.any() else int(np.argmax(np.abs(np.where(present, a, 0)) >= 2.0**63))
        raise TypeError(f"id column {name!r} must hold integers or strings, got the float {float(a[i])!r} at row {i}")
    if not present.all():
        _missing_ids(~present, name)
    return pd.Series(a.astype(np.int64), index=s.index, name=s.name)


def _missing_ids(missing: np.ndarray, name: str):
    i = int(np.argmax(missing))
    raise ValueError(f"id column {name!r} holds {int(missing.sum()):,} missing ids (the first at row {i}): "
                     "drop those rows first (frame.dropna(subset=[...]))")


def _id_series(values, name: str) -> pd.Series:
    """Ids as a Series of integers (int64/uint64) or strings/objects, none missing."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu":  # numpy integers: none can be missing
        return s
    if pd.api.types.is_bool_dtype(s.dtype):
        raise TypeError(f"id column {name!r} must hold integers or strings, got {s.dtype}")
    if pd.api.types.is_float_dtype(s.dtype):
        return _integral_floats(s, name)
    missing = s.isna().to_numpy()
    if missing.any():
        _missing_ids(missing, name)
    if pd.api.types.is_integer_dtype(s.dtype) and not isinstance(s.dtype, np.dtype):
        s = s.astype(s.dtype.numpy_dtype)  # nullable Int64 without a gap -> numpy int64
    return s


_SMALL_IDS = 64


def contact_ids(values, name: str) -> np.ndarray:
    """The id column of a contact table: integers or strings, unique, none missing."""
    s = _id_series(values, name)
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu" and len(s) <= _SMALL_IDS:
        # A few integer ids (a request's contacts): unique when sorted they
        # never repeat, without the hash table of an Index.
        a = s.to_numpy()
        ordered = np.sort(a)
        if not (ordered[1:] == ordered[:-1]).any():
            return a
    index = pd.Index(s)
    if not index.is_unique:
        dup = index[index.duplicated()][:3].tolist()
        raise ValueError(f"id column {name!r} repeats ids, e.g. {dup}")
    if not (pd.api.types.is_integer_dtype(index.dtype) or pd.api.types.is_string_dtype(index.dtype)
            or index.dtype == object):
        raise TypeError(f"id column {name!r} must hold integers or strings, got {index.dtype}")
    return index.to_numpy()


def ids(values, name: str) -> np.ndarray:
    """Ids that may repeat (the contact of each event, the client of each
    purchase): integers or strings, none missing — a null of any kind (NaN,
    None, pandas' NA, an Arrow null) is refused naming the column."""
    return _id_series(values, name).to_numpy()


def same_id_kind(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    """Two id columns that are joined: both integers or both text (an integer id never equals
    its text, so a join of the two would match nothing, silently)."""
    kinds = ["integer" if x.dtype.kind in "iu" else "text" for x in (a, b)]
    if kinds[0] != kinds[1] and len(a) and len(b):
        raise TypeError(f"id columns {a_name!r} ({kinds[0]}) and {b_name!r} ({kinds[1]}) are joined but hold ids "
                        f"of different kinds: convert one (e.g. .astype(str))")


def int64_ids(values, name: str) -> np.ndarray | None:
    """The ids as int64 when they are integers that fit (None otherwise: strings,
    uint64 beyond int64), for engines that group by integer keys directly."""
    return _int64_of(_id_series(values, name))


def _int64_of(s: pd.Series) -> np.ndarray | None:
    if not pd.api.types.is_integer_dtype(s.dtype):
        return None
    a = s.to_numpy()
    if a.dtype == np.uint64 and a.size and a.max() > _INT64_MAX:
        return None
    return np.ascontiguousarray(a, dtype=np.int64)


def client_codes(values, name: str) -> tuple[np.ndarray, pd.Index]:
    """Dense int32 codes of repeated ids, in order of first appearance, and the distinct ids."""
    s = _id_series(values, name)
    raw = _int64_of(s)
    if raw is not None:
        codes, uniques = _core.factorize_int64(raw, n_threads=resolve_threads())
        return codes, pd.Index(uniques.astype(s.dtype, copy=False), name=s.name)
    codes, uniques = pd.factorize(s)  # strings, categoricals, Arrow dictionaries: hashed once, vectorised
    return np.ascontiguousarray(codes, dtype=np.int32), pd.Index(uniques, name=s.name)


# ---------------------------------------------------------------- amounts

def amounts(values, name: str) -> np.ndarray:
    """float64 amounts (NaN where missing; the engines refuse NaN and negatives with their row)."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        raise TypeError(f"amount column {name!r} must be numeric, got {s.dtype}")
    return np.ascontiguousarray(s.to_numpy(dtype=np.float64, na_value=np.nan))


# ---------------------------------------------------------------- numeric matrices

def _frame_matrix(X, name: str, dtype) -> np.ndarray:
    df = as_pandas(X, name)
    bad = [str(c) for c in df.columns
           if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]
    if bad:
        raise TypeError(f"{name}: columns {bad[:10]} are not numeric")
    return df.to_numpy(dtype=dtype, na_value=np.nan)


def _as_array(X, name: str) -> np.ndarray:
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name} is sparse: sparse input is not supported, pass a dense array")
    if isinstance(X, (str, bytes)) or X is None or isinstance(X, (pd.Series, pa.Array, pa.ChunkedArray)):
        raise TypeError(f"{name} must be a 2-D array or a DataFrame, got {type(X).__name__}")
    try:
        a = np.asarray(X)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a 2-D array: {exc}") from None
    if a.dtype.kind == "c":
        raise ValueError(f"{name}: Complex data not supported")
    if a.dtype == object:
        # Text is not a number, even text that parses as one ("1.5"): what a
        # column of strings holds is for the caller to convert, not to guess.
        kind = pd.api.types.infer_dtype(a.ravel(), skipna=True)
        if kind not in ("floating", "integer", "mixed-integer-float", "decimal", "boolean", "empty"):
            raise TypeError(f"{name} holds {kind} values (dtype object): the argument must be a real number, not "
                            "a string or a number written as text")
        try:
            a = a.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: argument must be a string or a real number, got non-numeric values") from None
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    return a


def _check_shape(a: np.ndarray, name: str, min_rows: int):
    if a.ndim == 1:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}: Reshape your data with X.reshape(-1, 1) for "
                         "one feature or X.reshape(1, -1) for one row")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    if a.shape[1] == 0:
        raise ValueError(f"{name} has 0 feature(s) (shape={a.shape}) while a minimum of 1 is required.")
    if a.shape[0] < min_rows:
        raise ValueError(f"{name} has 0 sample(s) (shape={a.shape}) while a minimum of 1 is required.")


def _check_finite(a: np.ndarray, name: str, allow_nan: bool):
    if a.dtype.kind != "f":
        return
    finite = np.isfinite(a)
    if finite.all():
        return
    bad = np.isinf(a) if allow_nan else ~finite
    if bad.any():
        i, j = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(a[i, j]) else "an infinite value"
        raise ValueError(f"{name} holds {kind} at row {i}, column {j}")


def _check_narrowing(source: np.ndarray, out: np.ndarray, name: str):
    """A finite value too large for float32 is refused by its value, not taken
    for an infinity (one pass over the float32 copy; the rest only on failure)."""
    if np.isfinite(out).all():
        return
    over = np.isinf(out) & np.isfinite(source)
    if over.any():
        i, j = np.argwhere(over)[0]
        raise ValueError(f"{name} holds {source[i, j]:.6g} at row {i}, column {j}: beyond the float32 range "
                         f"(|x| <= 3.4e38) the engine computes in; rescale the column")


def numeric_matrix(X, name: str = "X", *, dtype: Any = np.float32, allow_nan: bool = False,
                   check_finite: bool = True, n_features: int | None = None, model: str = "the model",
                   min_rows: int = 1) -> np.ndarray:
    """A C-contiguous 2-D matrix of numbers, uncopied when it already is one.

    ``dtype``: the engine's dtype, or a tuple of accepted float dtypes (kept as
    they are; anything else is converted to the first). Frames (pandas, Arrow,
    polars) are read column by column in their order. ``check_finite=False``
    leaves NaN/inf to an engine that checks them in a pass it makes anyway.
    ``n_features``: the column count a fitted model expects (``model`` names it
    in the message). ``min_rows=0`` accepts a matrix without rows (scoring an
    empty partition).
    """
    accepted = tuple(np.dtype(d) for d in (dtype if isinstance(dtype, tuple) else (dtype,)))
    if is_frame(X):
        a = _frame_matrix(X, name, accepted[0])
    else:
        a = _as_array(X, name)
    _check_shape(a, name, min_rows)
    if n_features is not None and a.shape[1] != n_features:
        raise ValueError(f"{name} has {a.shape[1]} features, but {model} is expecting {n_features} features "
                         "as input")
    target = a.dtype if a.dtype in accepted else accepted[0]
    source = a
    with np.errstate(over="ignore"):
        a = np.ascontiguousarray(a, dtype=target)
    if a is not source and a.dtype == np.float32 and source.dtype.kind == "f" and source.itemsize > 4:
        _check_narrowing(source, a, name)
    if check_finite:
        _check_finite(a, name, allow_nan)
    return a


def shown_path(path: str) -> str:
    """A path as error messages show it (long ones cut)."""
    return path if len(path) <= 200 else path[:200] + "..."


def read_text_file(path, what: str, max_bytes: int) -> bytes:
    """The bytes of a small document (lead rules, a job): a regular file of at most
    ``max_bytes`` — a FIFO would block forever and /dev/zero never end."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file not found: {shown_path(path)}") from None
    except OSError as exc:
        raise ValueError(f"{what} file {shown_path(path)}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{what} {shown_path(path)} is not a regular file")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{what} {shown_path(path)} holds more than {max_bytes:,} bytes")
    return data


def read_model_bytes(source, what: str, max_bytes: int) -> bytes | None:
    """Bytes of a model given as a path or bytes; None when it is something else.

    A path must name a regular file (not a FIFO, a device or a directory: a read
    that may never end) of at most ``max_bytes``, checked before it is read.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if not isinstance(source, (str, os.PathLike)):
        return None
    path = os.fspath(source)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} model file not found: {shown_path(path)}") from None
    except OSError as exc:  # a name too long, a path through a file, no permission
        raise ValueError(f"{what} model file {shown_path(path)}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{what} model {shown_path(path)} is not a regular file")
    if st.st_size > max_bytes:
        raise ValueError(f"{what} model {shown_path(path)} holds {st.st_size:,} bytes, more than max_bytes = "
                         f"{max_bytes:,}; pass a larger max_bytes if the model is that large")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)  # the file may have grown since stat
    if len(data) > max_bytes:
        raise ValueError(f"{what} model {shown_path(path)} holds more than max_bytes = {max_bytes:,} bytes")
    return data
