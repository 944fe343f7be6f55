"""Contact tables: typed, zero-copy column views and the schema that encodes them.

A :class:`ContactTable` holds the columns of a contact table by role —
numeric, categorical, category set, timestamp — plus an id column, in the
layout the C++ engines read: float arrays (NaN = missing), int32 category codes
(-1 = missing), bitsets of ``ceil((categories + 1) / 64)`` 64-bit words per
row, and int64 nanosecond timestamps. A :class:`Schema` records the roles,
dictionaries and numeric statistics learnt on one table and applies them to
new data; a category never seen at fit time maps to an explicit "other" code
(equal to the number of categories) and is counted in ``table.unseen``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from . import _arrow, _core, _frames
from ._model_file import ModelFileMixin, register
from ._config import resolve_threads

__all__ = ["ColumnSpec", "Schema", "ContactTable", "Encoded", "ROLES"]

ROLES = ("numeric", "categorical", "category_set", "timestamp")
OTHER_LABEL = "(other)"
MISSING_CODE = _core.MISSING_CODE


@register
@dataclass(frozen=True)
class ColumnSpec:
    """What a schema knows of one column.

    ``categories`` holds the dictionary of a categorical or category-set
    column (code i is ``categories[i]``); ``mean``/``std``/``min``/``max`` are
    the statistics of a numeric column's present values at fit time, used to
    standardise new data the same way.
    """

    name: str
    role: str
    categories: tuple[str, ...] | None = None
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"column '{self.name}': role must be one of {ROLES}, got {self.role!r}")


class Schema(ModelFileMixin):
    """Roles, dictionaries and statistics of a contact table, reusable on new data.

    Learn it with ``ContactTable.from_pandas(df).schema`` (or
    :meth:`Schema.learn`), apply it with :meth:`apply`, keep it with
    :meth:`save` / :meth:`load` (JSON).
    """

    def __init__(self, columns: Sequence[ColumnSpec], id: str | None = None):
        self.columns = tuple(columns)
        self.id = id
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"schema lists a column twice: {names}")
        if id is not None and id in names:
            raise ValueError(f"id column '{id}' cannot also be a feature column")
        self._by_name = {c.name: c for c in self.columns}
        self._dictionaries: dict[str, Any] = {}

    # -- model files: the JSON form, checked on load as a schema file is ---
    def _model_file_state(self) -> dict:
        return {"schema": self.to_dict()}

    def _model_file_restore(self):
        d = self.__dict__.pop("schema", None)
        if not isinstance(d, dict):
            raise ValueError("the schema's description is missing")
        self.__dict__.clear()
        self.__dict__.update(Schema.from_dict(d).__dict__)

    # -- lookup -----------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """The columns of the schema, in order (the id column excluded)."""
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> ColumnSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"column '{name}' is not in the schema (columns: {self.names})") from None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def names_of(self, role: str) -> list[str]:
        """The columns of one role ("numeric", "categorical", "category_set", "timestamp"), in order."""
        return [c.name for c in self.columns if c.role == role]

    def __eq__(self, other) -> bool:
        return isinstance(other, Schema) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        parts = ", ".join(f"{c.name}: {c.role}" for c in self.columns)
        return f"Schema(id={self.id!r}, {parts})"

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.schema(self)

    # -- learn / apply ----------------------------------------------------
    @classmethod
    def learn(cls, data, *, id: str | None = None, roles: Mapping[str, str | None] | None = None) -> "Schema":
        """The schema of ``data`` (DataFrame, Arrow table or mapping of arrays)."""
        return ContactTable._from_any(data, id=id, roles=roles, schema=None).schema

    def apply(self, data, *, id: str | None = "<schema>",
              vocabularies: Mapping[str, Sequence[str]] | None = None) -> "ContactTable":
        """Encode new data (DataFrame, Arrow table, mapping of arrays) with this schema.

        The data must hold every column of the schema (others are ignored).
        ``id`` names the new data's id column when it differs from the
        schema's (prospects keyed by ``contact_id``, clients by ``client_id``);
        ``id=None`` reads no id. ``vocabularies`` names the columns of a 0/1
        category-set matrix (by default the schema's categories, in order).
        """
        if id == "<schema>":
            id = self.id
        return ContactTable._from_any(data, id=id, roles=None, schema=self, vocabularies=vocabularies)

    def select(self, names: Sequence[str]) -> "Schema":
        """The schema of some of the columns, in the given order (same id)."""
        return Schema([self[n] for n in names], id=self.id)

    def dictionary(self, name: str):
        """The C++ dictionary of a categorical or category-set column (built once)."""
        spec = self[name]
        if spec.categories is None:
            raise TypeError(f"column '{name}' is {spec.role}, it has no categories")
        d = self._dictionaries.get(name)
        if d is None:
            off, data = _arrow.strings_from_list(list(spec.categories), name)
            d = _core.Dictionary.from_values(name, off, data, n_threads=resolve_threads())
            self._dictionaries[name] = d
        return d

    # -- persistence ------------------------------------------------------
    def to_dict(self) -> dict:
        """The schema as plain JSON-ready data (format ``twinscore.schema/1``): id, columns with their role,
        categories and statistics."""
        cols = []
        for c in self.columns:
            d = {k: v for k, v in asdict(c).items() if v is not None}
            if "categories" in d:
                d["categories"] = list(d["categories"])
            cols.append(d)
        return {"format": "twinscore.schema/1", "id": self.id, "columns": cols}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Schema":
        """The schema written by :meth:`to_dict`; ``ValueError`` for anything else."""
        if not isinstance(d, Mapping) or d.get("format") != "twinscore.schema/1":
            raise ValueError("not a twinscore schema: expected a mapping with format 'twinscore.schema/1'")
        columns = d.get("columns", [])
        if not isinstance(columns, list) or not all(isinstance(c, Mapping) for c in columns):
            raise ValueError("schema: 'columns' must be a list of column entries")
        if d.get("id") is not None and not isinstance(d.get("id"), str):
            raise ValueError(f"schema: 'id' must be a column name or null, got {d.get('id')!r}")
        cols = []
        for c in columns:
            c = dict(c)
            try:
                _check_spec_values(c)
                cols.append(ColumnSpec(**c))
            except TypeError as exc:
                raise ValueError(f"schema column {c.get('name')!r}: {exc}") from None
        return cls(cols, id=d.get("id"))

    def save(self, path: str | os.PathLike) -> None:
        """Write the schema as JSON (atomically: a failed write leaves no partial file)."""
        tmp = f"{os.fspath(path)}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Schema":
        """Read a schema written by :meth:`save` (JSON) or by ``twinscore.save`` (a model file);
        ``ValueError`` for a file that is neither."""
        from . import _model_file
        data = _model_file._read_file(path, None)
        if data.startswith(_model_file.MAGIC[:4]):
            return _model_file.from_bytes(data, expect=cls, source=os.fspath(path))
        try:
            d = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a JSON schema ({exc})") from None
        except RecursionError:  # nesting no schema has, deeper than Python's parser recurses
            raise ValueError(f"{path}: not a JSON schema (nested too deeply)") from None
        return cls.from_dict(d)


def _finite_float(v) -> bool:
    """A number that is a finite float (an integer of 400 digits is not: float() overflows)."""
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _shown(v) -> str:
    """A value as a message shows it (a 5,000-digit integer cut)."""
    text = repr(v)
    return text if len(text) <= 60 else text[:60] + "..."


def _check_spec_values(c: dict) -> None:
    """A schema entry read from a file: names, categories and statistics of the
    right types (a file is not trusted: "abc" is not three categories, a std of
    1e-320 would standardise to infinity)."""
    where = f"schema column {c.get('name')!r}"
    if not isinstance(c.get("name"), str) or not c["name"]:
        raise ValueError(f"{where}: 'name' must be a non-empty string")
    if "categories" in c:
        cats = c["categories"]
        if not isinstance(cats, list) or not all(isinstance(v, str) for v in cats):
            raise ValueError(f"{where}: 'categories' must be a list of strings, got {type(cats).__name__}")
        if len(set(cats)) != len(cats):
            raise ValueError(f"{where}: 'categories' lists a category twice")
        c["categories"] = tuple(cats)
    elif c.get("role") in ("categorical", "category_set"):
        raise ValueError(f"{where}: a {c['role']} column needs its 'categories'")
    for stat in ("mean", "std", "min", "max"):
        v = c.get(stat)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not _finite_float(v):
            raise ValueError(f"{where}: '{stat}' must be a finite number, got {_shown(v)}")
        c[stat] = float(v)
    std = c.get("std")
    if std is not None and (std < 0 or (std > 0 and not math.isfinite(1.0 / std))):
        raise ValueError(f"{where}: 'std' must be 0 or a positive number whose inverse is finite, got {std!r}")
    if c.get("min") is not None and c.get("max") is not None and c["min"] > c["max"]:
        raise ValueError(f"{where}: 'min' {c['min']} is above 'max' {c['max']}")


@register
@dataclass
class Encoded:
    """A dense design matrix and the name of each of its columns."""

    X: np.ndarray
    feature_names: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Column conversion: one function per role, vectorised.


def _series_kind(values) -> str | None:
    """The role implied by a column's type, or None when only Arrow can tell."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        t = values.type
        if pa.types.is_dictionary(t):
            return "categorical"
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
            return "numeric"
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            return "timestamp"
        if _arrow.is_string_type(t):
            return "categorical"
        if _arrow.is_list_type(t):
            return "category_set"
        return None
    if isinstance(values, np.ndarray) and values.ndim == 2:
        return "category_set"
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        return None
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if isinstance(dtype, pd.ArrowDtype):
        return _series_kind(pa.array([], type=dtype.pyarrow_dtype)) if dtype.pyarrow_dtype else None
    if isinstance(dtype, pd.StringDtype):
        return "categorical"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamp"
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_complex_dtype(dtype):
            return None
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    return None


def _infer_role(values, name: str) -> str:
    role = _series_kind(values)
    if role is not None:
        return role
    arr = _arrow.to_arrow(values, name)  # object columns: let Arrow look at the values
    if _arrow.is_string_type(arr.type) or pa.types.is_null(arr.type):
        return "categorical"
    if _arrow.is_list_type(arr.type):
        return "category_set"
    raise TypeError(
        f"column '{name}': cannot tell its role from its type ({getattr(values, 'dtype', arr.type)}); "
        "pass roles={name: 'numeric' | 'categorical' | 'category_set' | 'timestamp'}"
    )


def _numeric_array(values, name: str) -> np.ndarray:
    """float32/float64 1-D array; no copy when the input already is one."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = _arrow.to_arrow(values, name)
        if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_boolean(arr.type)):
            raise TypeError(f"column '{name}' must be numeric, got Arrow type {arr.type}")
        if pa.types.is_floating(arr.type) and arr.null_count == 0 and arr.type.bit_width in (32, 64):
            return arr.to_numpy(zero_copy_only=True)
        return _to_float64(arr)
    if isinstance(values, pd.Series):
        dtype = values.dtype
        if isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype)) or not (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
        ):
            raise TypeError(f"column '{name}' must be numeric, got dtype {dtype}")
        if pd.api.types.is_complex_dtype(dtype):
            raise TypeError(f"column '{name}' must be real numbers, got dtype {dtype}")
        if isinstance(dtype, np.dtype) and dtype in (np.float32, np.float64):
            return values.to_numpy(copy=False)
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    a = np.asarray(values)
    if a.ndim != 1:
        raise ValueError(f"column '{name}' must be 1-D, got shape {a.shape}")
    if a.dtype in (np.float32, np.float64):
        return a
    if a.dtype.kind in "iub":
        return a.astype(np.float64)
    if a.dtype.kind == "f":  # float16, longdouble
        return a.astype(np.float64)
    raise TypeError(f"column '{name}' must be numeric, got dtype {a.dtype}")


def _to_float64(arr: pa.Array) -> np.ndarray:
    return arr.cast(pa.float64()).to_numpy(zero_copy_only=False)


def _declared_categories(values) -> list[str] | None:
    """A pandas categorical's declared categories (kept in their order: bands)."""
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.CategoricalDtype):
        return [str(v) for v in dtype.categories]
    return None


def _dictionary_encoded(values, name: str):
    """(codes, categories as Arrow strings) of a column that is already
    dictionary-encoded (a pandas categorical, an Arrow dictionary array), else None."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        cats = _arrow.to_arrow(pd.Series(values.cat.categories), name)
        return values.cat.codes.to_numpy(), _arrow.as_strings(cats, name)
    if isinstance(values, (pa.Array, pa.ChunkedArray)) and pa.types.is_dictionary(values.type):
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if isinstance(arr, pa.ChunkedArray):  # combine_chunks of dictionaries may keep chunks
            return None
        # polars writes unsigned indices (uint32): widen before -1 marks the nulls
        codes = arr.indices.cast(pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)
        return codes, _arrow.as_strings(_arrow.to_arrow(arr.dictionary, name), name)
    return None


def _encode_categorical(values, name: str, spec: ColumnSpec | None, schema: Schema | None):
    """(codes int32, unseen count, categories) of one categorical column."""
    encoded = _dictionary_encoded(values, name)
    if encoded is not None:
        return _recode(encoded, name, spec, schema, declared=_declared_categories(values))
    arr = _arrow.as_strings(_arrow.to_arrow(values, name), name)
    off, data, valid = _arrow.string_buffers(arr, name)
    dictionary = (schema.dictionary(name) if spec is not None
                  else _core.Dictionary.learn(name, off, data, valid, n_threads=resolve_threads()))
    codes, unseen = dictionary.encode(name, off, data, valid, n_threads=resolve_threads())
    return codes, unseen, tuple(dictionary.values())


def _recode(encoded, name: str, spec, schema, declared):
    """Maps the codes of a dictionary-encoded column onto our dictionary through
    its (few) categories: one lookup per category, one gather per row."""
    codes, categories = encoded
    cat_buffers = _arrow.string_buffers(categories, name)
    if spec is not None:
        dictionary = schema.dictionary(name)
    elif declared is not None:  # keep a pandas categorical's declared order
        dictionary = _core.Dictionary.from_values(name, *_arrow.strings_from_list(declared, name),
                                                  n_threads=resolve_threads())
    else:
        dictionary = _core.Dictionary.learn(name, *cat_buffers, n_threads=resolve_threads())
    remap, _ = dictionary.encode(name, *cat_buffers, n_threads=resolve_threads())
    remap = np.append(remap, np.int32(MISSING_CODE))  # code -1 (missing) -> the last entry
    if len(codes) and (codes.max() >= len(remap) - 1 or codes.min() < -1):
        raise ValueError(f"column '{name}': dictionary codes out of range")
    out = remap[codes]
    unseen = int(np.count_nonzero(out == dictionary.size))
    return out, unseen, tuple(dictionary.values())


def _encode_set(values, name: str, spec: ColumnSpec | None, schema: Schema | None, vocabulary):
    """(bits uint64 (n, words), missing bool, unseen count, int32 distinct unseen categories per row,
    categories) of a category-set column."""
    if isinstance(values, np.ndarray) and values.ndim == 2:
        return _encode_set_matrix(values, name, spec, vocabulary)
    arr = _arrow.to_arrow(values, name)
    if not _arrow.is_list_type(arr.type) and not pa.types.is_null(arr.type):
        raise TypeError(f"column '{name}' must hold lists of category names, got Arrow type {arr.type}")
    if pa.types.is_null(arr.type):
        arr = pa.nulls(len(arr), pa.large_list(pa.large_string()))
    buffers = _arrow.list_buffers(arr, name)
    if spec is not None:
        dictionary = schema.dictionary(name)
    elif vocabulary is not None:
        o, d = _arrow.strings_from_list(vocabulary, name)
        dictionary = _core.Dictionary.from_values(name, o, d, n_threads=resolve_threads())
    else:
        dictionary = _core.Dictionary.learn_sets(name, *buffers, n_threads=resolve_threads())
    bits, missing, unseen, row_unseen = dictionary.encode_sets(name, *buffers, n_threads=resolve_threads())
    return bits, missing.view(bool), unseen, row_unseen, tuple(dictionary.values())


def _encode_set_matrix(matrix: np.ndarray, name: str, spec: ColumnSpec | None, vocabulary):
    """A 0/1 matrix whose columns are named by ``vocabulary`` -> bitsets."""
    if matrix.dtype.kind not in "biu":
        raise TypeError(f"column '{name}': a 0/1 category matrix must be bool or integer, got {matrix.dtype}")
    m = matrix.shape[1]
    if vocabulary is None:
        vocabulary = spec.categories if spec is not None and len(spec.categories) == m else range(m)
    names = [str(v) for v in vocabulary]
    if len(names) != m:
        raise ValueError(f"column '{name}': {len(names)} category names for a matrix of {m} columns")
    u8 = np.ascontiguousarray(matrix != 0, dtype=np.uint8)
    if spec is None or list(spec.categories) == names:
        if spec is None:  # validates the names: no duplicates
            categories = tuple(_core.Dictionary.from_values(name, *_arrow.strings_from_list(names, name),
                                                            n_threads=resolve_threads()).values())
        else:
            categories = spec.categories
        none = np.zeros(len(u8), dtype=np.int32)
        return _core.pack_bits(u8, n_threads=resolve_threads()), np.zeros(len(u8), dtype=bool), 0, none, categories
    # Reorder onto the schema's categories; names it never saw go to "other".
    index = {c: i for i, c in enumerate(spec.categories)}
    k = len(spec.categories)
    target = np.array([index.get(c, k) for c in names], dtype=np.int64)
    full = np.zeros((len(u8), k + 1), dtype=np.uint8)
    for dst in np.unique(target):  # a loop over category columns, not rows
        full[:, dst] = u8[:, target == dst].max(axis=1)
    row_unseen = u8[:, target == k].sum(axis=1, dtype=np.int32)  # distinct names: one per matrix column
    return (_pack_with_other(full, k), np.zeros(len(u8), dtype=bool), int(row_unseen.sum()), row_unseen,
            spec.categories)


def _pack_with_other(full: np.ndarray, k: int) -> np.ndarray:
    """Bitsets of k categories plus the "other" bit from an n x (k+1) 0/1 matrix."""
    bits = _core.pack_bits(np.ascontiguousarray(full), n_threads=resolve_threads())
    return np.ascontiguousarray(bits[:, : (k + 1 + 63) // 64])


def _float_or_none(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


@register
class ContactTable:
    """A contact table in the layout of the twinscore engines.

    Build one with :meth:`from_pandas`, :meth:`from_arrow`, :meth:`read_parquet`,
    :meth:`from_numpy` or :meth:`from_arrays`; reuse its :attr:`schema` on new
    data with ``schema.apply(df)``. Column roles are inferred from types unless
    given in ``roles``: numbers and booleans are numeric, strings and pandas
    categoricals categorical, lists of strings (or a 2-D 0/1 array) category
    sets, datetimes timestamps. ``roles={"col": None}`` leaves a column out.

    Missing values are kept as missing: NaN in numeric columns, code -1 in
    categorical ones, a flagged empty set, NaT. Infinite numbers are refused.
    """

    def __init__(self, *, n_rows, schema, ids, numeric, codes, sets, set_missing, timestamps, stats, unseen,
                 matrix=None, set_unseen=None):
        self._n = n_rows
        self.schema: Schema = schema
        self.ids = ids
        self._numeric = numeric
        self._codes = codes
        self._sets = sets
        self._set_missing = set_missing
        self._set_unseen = set_unseen or {}
        self._timestamps = timestamps
        self._stats = stats
        self.unseen: dict[str, int] = unseen
        self._matrix = matrix

    # -- constructors ------------------------------------------------------
    @classmethod
    def from_pandas(cls, df: pd.DataFrame, *, id: str | None = None, roles=None, schema: Schema | None = None):
        """From a DataFrame. ``id`` names the contact id column (integers or strings, unique)."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        return cls._from_any(df, id=id, roles=roles, schema=schema)

    @classmethod
    def from_arrow(cls, table: pa.Table, *, id: str | None = None, roles=None, schema: Schema | None = None):
        """From a pyarrow Table; numeric columns without nulls and strings are not copied."""
        if not isinstance(table, pa.Table):
            raise TypeError(f"table must be a pyarrow Table, got {type(table).__name__}")
        return cls._from_any(table, id=id, roles=roles, schema=schema)

    @classmethod
    def from_polars(cls, df, *, id: str | None = None, roles=None, schema: Schema | None = None):
        """From a polars DataFrame, read through Arrow (numeric columns without
        nulls and strings are not copied; polars categoricals are categorical)."""
        if not (_frames.is_frame(df) and type(df).__module__.startswith("polars")):
            raise TypeError(f"df must be a polars DataFrame, got {type(df).__name__}")
        return cls._from_any(df, id=id, roles=roles, schema=schema)

    @classmethod
    def read_parquet(cls, path, *, columns: Sequence[str] | None = None, id: str | None = None, roles=None,
                     schema: Schema | None = None):
        """From a Parquet file (read with pyarrow, memory-mapped)."""
        import pyarrow.parquet as pq

        if columns is None and schema is not None:
            columns = ([schema.id] if schema.id else []) + schema.names
        try:
            table = pq.read_table(path, columns=list(columns) if columns is not None else None, memory_map=True)
        except (pa.ArrowInvalid, KeyError) as exc:
            raise ValueError(f"{path}: cannot read as Parquet: {exc}") from None
        return cls._from_any(table, id=id if id is not None else (schema.id if schema else None), roles=roles,
                             schema=schema)

    @classmethod
    def from_numpy(cls, X, *, columns: Sequence[str] | None = None, ids=None, schema: Schema | None = None):
        """From a 2-D numeric matrix (all columns numeric).

        A C-contiguous float32 matrix is kept as it is: :meth:`numeric_matrix`
        returns the same buffer and engines read it without a copy. float64 is
        kept too; integers and booleans are converted once to float64.
        """
        # The one way in: frames, lists, read-only, strided, big-endian and
        # float16 arrays alike; NaN is a missing value, infinities the columns refuse.
        X = _frames.numeric_matrix(X, "X", dtype=(np.float64, np.float32), check_finite=False, min_rows=0)
        if columns is None:
            columns = schema.names if schema is not None else [f"x{j}" for j in range(X.shape[1])]
        columns = [str(c) for c in columns]
        if len(columns) != X.shape[1]:
            raise ValueError(f"columns: {len(columns)} names for a matrix of {X.shape[1]} columns")
        mapping = {c: X[:, j] for j, c in enumerate(columns)}
        if ids is not None:
            mapping = {"__id__": np.asarray(ids), **mapping}
        table = cls._from_any(mapping, id="__id__" if ids is not None else None,
                              roles=dict.fromkeys(columns, "numeric") if schema is None else None, schema=schema)
        if X.dtype == np.float32 and X.flags.c_contiguous and table.schema.names_of("numeric") == columns:
            table._matrix = X
        return table

    @classmethod
    def from_arrays(cls, columns: Mapping[str, Any], *, id: str | None = None, roles=None,
                    schema: Schema | None = None, vocabularies: Mapping[str, Sequence[str]] | None = None):
        """From a mapping of column name -> array (numpy, pandas, Arrow or list).

        A 2-D 0/1 array is a category-set column; name its columns with
        ``vocabularies={name: [...]}``.
        """
        if not isinstance(columns, Mapping):
            raise TypeError(f"columns must be a mapping of name -> array, got {type(columns).__name__}")
        return cls._from_any(dict(columns), id=id, roles=roles, schema=schema, vocabularies=vocabularies)

    # -- the one builder ---------------------------------------------------
    @classmethod
    def _from_any(cls, data, *, id, roles, schema, vocabularies=None) -> "ContactTable":
        source, n = _columns_of(data)
        if n == 0:
            raise ValueError("the contact table is empty (0 rows)")
        roles = dict(roles or {})
        for name in roles:
            if name not in source:
                raise KeyError(f"roles names column '{name}', which is not in the data (columns: {list(source)})")
            if roles[name] is not None and roles[name] not in ROLES:
                raise ValueError(f"roles['{name}'] must be one of {ROLES} or None, got {roles[name]!r}")
        vocabularies = dict(vocabularies or {})
        if id is not None and id not in source:
            raise KeyError(f"id column '{id}' is not in the data (columns: {list(source)})")
        ids = _frames.contact_ids(_as_1d(source[id], id), id) if id is not None else None

        if schema is not None:
            missing = [c for c in schema.names if c not in source]
            if missing:
                raise KeyError(f"columns {missing} of the schema are not in the data")
            plan = [(c.name, c.role, c) for c in schema.columns]
        else:
            plan = []
            for name, values in source.items():
                if name == id:
                    continue
                role = roles[name] if name in roles else _infer_role(values, name)
                if role is not None:
                    plan.append((name, role, None))
            if not plan:
                raise ValueError("the contact table has no feature column")

        parts = _Parts()
        for name, role, spec in plan:
            parts.add(name, role, source[name], spec, schema, vocabularies.get(name), n)
        if schema is None:
            learnt = Schema(parts.specs, id=id)
        elif id == schema.id:
            learnt = schema
        else:  # the same columns, keyed by this data's own id column
            learnt = Schema(schema.columns, id=id)
            learnt._dictionaries = schema._dictionaries
        return cls(n_rows=n, schema=learnt, ids=ids, numeric=parts.numeric, codes=parts.codes, sets=parts.sets,
                   set_missing=parts.set_missing, timestamps=parts.timestamps, stats=parts.stats,
                   unseen=parts.unseen, set_unseen=parts.set_unseen)

    # -- access ------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def n_rows(self) -> int:
        """Number of contacts (rows)."""
        return self._n

    @property
    def column_names(self) -> list[str]:
        """The feature columns, in schema order (the id column excluded)."""
        return self.schema.names

    @property
    def roles(self) -> dict[str, str]:
        """Column name -> role, in schema order."""
        return {c.name: c.role for c in self.schema.columns}

    def _role_check(self, name: str, role: str):
        spec = self.schema[name]
        if spec.role != role:
            raise TypeError(f"column '{name}' is {spec.role}, not {role}")

    def numeric(self, name: str) -> np.ndarray:
        """A numeric column (float32 or float64, NaN = missing), not copied."""
        self._role_check(name, "numeric")
        return self._numeric[name]

    def codes(self, name: str) -> np.ndarray:
        """int32 codes of a categorical column: -1 missing, len(categories) unseen."""
        self._role_check(name, "categorical")
        return self._codes[name]

    def bitsets(self, name: str) -> np.ndarray:
        """uint64 (n, words) bitsets of a category-set column; bit len(categories) = unseen."""
        self._role_check(name, "category_set")
        return self._sets[name]

    def set_missing(self, name: str) -> np.ndarray:
        """bool mask of rows whose category set is missing (not merely empty)."""
        self._role_check(name, "category_set")
        return self._set_missing[name]

    def set_unseen(self, name: str) -> np.ndarray:
        """int32 count of each row's distinct categories outside the schema: they share the "other" bit of
        ``bitsets``, and a set's size counts each one."""
        self._role_check(name, "category_set")
        store = self.__dict__.setdefault("_set_unseen", {})  # absent from tables pickled before it existed
        if name not in store:  # a 0/1 matrix named by the schema has no unseen category
            store[name] = np.zeros(self._n, dtype=np.int32)
        return store[name]

    def timestamps(self, name: str) -> np.ndarray:
        """int64 nanoseconds since the epoch (UTC); missing = int64 min."""
        self._role_check(name, "timestamp")
        return self._timestamps[name]

    def summary(self, name: str) -> dict:
        """count, missing, mean, std, min, max of a numeric or timestamp column."""
        if name not in self._stats:
            raise TypeError(f"column '{name}' is {self.schema[name].role}: no numeric summary")
        return dict(self._stats[name])

    def numeric_matrix(self, columns: Sequence[str] | None = None) -> np.ndarray:
        """The numeric columns as one C-contiguous float32 (n, p) matrix.

        Returns the caller's own matrix, uncopied, when the table was built
        from a C-contiguous float32 matrix and ``columns`` are its columns.
        """
        names = self.schema.names_of("numeric") if columns is None else list(columns)
        for c in names:
            self._role_check(c, "numeric")
        if self._matrix is not None and names == self.schema.names_of("numeric"):
            return self._matrix
        out = np.empty((self._n, len(names)), dtype=np.float32)
        for j, c in enumerate(names):  # a loop over columns, not rows
            out[:, j] = self._numeric[c]
        return out

    # -- reports -----------------------------------------------------------
    def fill_rates(self) -> pd.Series:
        """Share of rows where each column is present (a data-quality KPI)."""
        rates = {}
        for c in self.schema.columns:
            if c.role == "numeric":
                present = self._stats[c.name]["count"]
            elif c.role == "timestamp":
                present = self._stats[c.name]["count"]
            elif c.role == "categorical":
                present = int(np.count_nonzero(self._codes[c.name] != MISSING_CODE))
            else:
                present = self._n - int(np.count_nonzero(self._set_missing[c.name]))
            rates[c.name] = present / self._n
        return pd.Series(rates, name="fill_rate", dtype=float)

    def _check_encoded_range(self, name: str, center: float, scale: float, lo: float, hi: float) -> None:
        """A finite value whose standardised form overflows float32 is refused by its value
        (not passed on as an infinity that an engine then calls "infinite"); from the
        column's min and max, known since the table was built: no extra pass."""
        st = self._stats.get(name)
        if not st or not st.get("count"):
            return
        top = max(abs((min(st["max"], hi) - center) / scale), abs((max(st["min"], lo) - center) / scale))
        if top <= float(np.finfo(np.float32).max):
            return
        x = self._numeric[name]
        z = np.abs((np.clip(x.astype(np.float64), lo, hi) - center) / scale)
        i = int(np.nanargmax(z))
        raise ValueError(f"column '{name}' holds {float(x[i]):.6g} at row {i}: standardised it is {z[i]:.3g}, beyond "
                         "the float32 range (|x| <= 3.4e38) the engines compute in; rescale or clip the column")

    def encode(self, columns: Sequence[str] | None = None, *, standardize: bool = True,
               clip: Mapping[str, tuple[float, float]] | None = None) -> Encoded:
        """The dense float32 design matrix, in one fused C++ pass.

        Numeric columns are clipped (``clip={name: (lo, hi)}``), standardised
        with the schema's mean and standard deviation (learnt at fit time,
        so new data is scaled like the training data), and a missing value
        becomes 0 — the mean, i.e. mean imputation. Categorical columns and
        category sets become one 0/1 column per category; missing or unseen
        values give zeros. Timestamps are left out.

        The columns of ``X`` are every numeric column (in the order given),
        then each categorical column's categories (``"col=value"``), then each
        category set's categories (``"col:value"``); ``feature_names`` names
        them in that order.
        """
        names = [c.name for c in self.schema.columns if c.role != "timestamp"] if columns is None else list(columns)
        clip = dict(clip or {})
        for c in clip:
            self._role_check(c, "numeric")
        numeric, enc, categorical, sets = [], [], [], []
        numeric_names, categorical_names, set_names = [], [], []
        for name in names:
            spec = self.schema[name]
            if spec.role == "numeric":
                lo, hi = clip.get(name, (-np.inf, np.inf))
                center, scale = 0.0, 1.0
                if standardize and spec.mean is not None:
                    center = spec.mean
                    scale = spec.std if spec.std else 1.0
                self._check_encoded_range(name, center, scale, lo, hi)
                numeric.append((name, self._numeric[name]))
                enc.append((center, scale, lo, hi, 0.0))
                numeric_names.append(name)
            elif spec.role == "categorical":
                categorical.append((name, self._codes[name], len(spec.categories)))
                categorical_names.extend(f"{name}={v}" for v in spec.categories)
            elif spec.role == "category_set":
                sets.append((name, self._sets[name], len(spec.categories)))
                set_names.extend(f"{name}:{v}" for v in spec.categories)
            else:
                raise TypeError(f"column '{name}' is a timestamp: derive a numeric feature from it first")
        encodings = np.asarray(enc, dtype=np.float64).reshape(len(enc), 5)
        X = _core.encode_dense(numeric, encodings, categorical, sets, self._n, n_threads=resolve_threads())
        # The engine lays out every numeric column first, then the one-hot
        # categories, then the category sets: the names follow that layout,
        # not the order of the columns.
        return Encoded(X, numeric_names + categorical_names + set_names)

    def to_pandas(self) -> pd.DataFrame:
        """Back to a DataFrame: categoricals as pandas categoricals (unseen values
        as the category "(other)"), sets as Arrow list columns, timestamps as
        datetime64[ns]."""
        out: dict[str, Any] = {}
        if self.ids is not None:
            out[self.schema.id] = self.ids
        for c in self.schema.columns:
            if c.role == "numeric":
                out[c.name] = self._numeric[c.name]
            elif c.role == "timestamp":
                out[c.name] = self._timestamps[c.name].view("datetime64[ns]")
            elif c.role == "categorical":
                cats = list(c.categories)
                codes = self._codes[c.name]
                if self.unseen.get(c.name):
                    cats.append(OTHER_LABEL)
                else:
                    codes = np.where(codes >= len(cats), MISSING_CODE, codes)
                out[c.name] = pd.Categorical.from_codes(codes, categories=cats)
            else:
                out[c.name] = _sets_to_lists(self._sets[c.name], self._set_missing[c.name], c.categories)
        return pd.DataFrame(out)

    def __repr__(self) -> str:
        counts = {r: len(self.schema.names_of(r)) for r in ROLES}
        desc = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if v)
        ident = f", id '{self.schema.id}'" if self.schema.id else ""
        return f"ContactTable({self._n:,} rows: {desc}{ident})"

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.contact_table(self)


def _sets_to_lists(bits: np.ndarray, missing: np.ndarray, categories) -> pd.Series:
    """Bitsets -> an Arrow-backed column of lists of names, vectorised."""
    k = len(categories)
    flags = np.unpackbits(bits.view(np.uint8), axis=1, bitorder="little")[:, : k + 1]
    rows, cols = np.nonzero(flags)
    offsets = np.zeros(len(bits) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(bits)), out=offsets[1:])
    names = pa.array(list(categories) + [OTHER_LABEL], type=pa.large_string())
    values = names.take(pa.array(cols.astype(np.int64)))
    mask = pa.array(missing) if missing.any() else None
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), values, mask=mask)
    return pd.Series(pd.arrays.ArrowExtensionArray(lists))


class _Parts:
    """Accumulates converted columns and the specs learnt from them."""

    def __init__(self):
        self.numeric, self.codes, self.sets, self.set_missing, self.set_unseen = {}, {}, {}, {}, {}
        self.timestamps, self.stats, self.unseen = {}, {}, {}
        self.specs: list[ColumnSpec] = []

    def add(self, name, role, values, spec, schema, vocabulary, n):
        length = len(values)
        if length != n:
            raise ValueError(f"column '{name}' has {length} rows, the table has {n}")
        if role == "numeric":
            x = _numeric_array(values, name)
            st = _core.summarize_numeric(name, x, n_threads=resolve_threads())
            self.numeric[name], self.stats[name] = x, st
            self.specs.append(ColumnSpec(name, role, mean=_float_or_none(st["mean"]), std=_float_or_none(st["std"]),
                                         min=_float_or_none(st["min"]), max=_float_or_none(st["max"])))
        elif role == "categorical":
            codes, unseen, cats = _encode_categorical(values, name, spec, schema)
            self.codes[name], self.unseen[name] = codes, unseen
            self.specs.append(ColumnSpec(name, role, categories=cats))
        elif role == "category_set":
            bits, missing, unseen, row_unseen, cats = _encode_set(values, name, spec, schema, vocabulary)
            self.sets[name], self.set_missing[name], self.set_unseen[name] = bits, missing, row_unseen
            self.unseen[name] = unseen
            self.specs.append(ColumnSpec(name, role, categories=cats))
        else:
            ts = _frames.timestamps_ns(values, name, missing="keep")
            self.timestamps[name], self.stats[name] = ts, _core.summarize_timestamps(ts, n_threads=resolve_threads())
            self.specs.append(ColumnSpec(name, role))


def _as_1d(values, name):
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.to_pandas()
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise ValueError(f"column '{name}' must be 1-D, got shape {values.shape}")
    return values


class _FrameColumns(Mapping):
    """The columns of a pandas DataFrame by name (``str`` of its labels), each
    read when first asked for: a table built with a schema reads the schema's
    columns only, however many the frame holds (a request's row of a wide table)."""

    def __init__(self, df: pd.DataFrame):
        self._df = df
        self._labels = {str(c): c for c in df.columns.tolist()}
        self._read: dict[str, pd.Series] = {}

    def __getitem__(self, name: str) -> pd.Series:
        col = self._read.get(name)
        if col is None:
            col = self._read[name] = self._df[self._labels[name]]
        return col

    def __contains__(self, name) -> bool:
        return name in self._labels

    def __iter__(self):
        return iter(self._labels)

    def __len__(self) -> int:
        return len(self._labels)


def _columns_of(data) -> tuple[Mapping[str, Any], int]:
    """name -> column, and the common row count, of a DataFrame (pandas or
    polars), Arrow table or mapping."""
    data = _frames.as_table_source(data)
    if isinstance(data, pd.DataFrame):
        if not data.columns.is_unique:
            raise ValueError(f"the DataFrame has repeated column names: {data.columns[data.columns.duplicated()].tolist()}")
        return _FrameColumns(data), len(data)
    if isinstance(data, pa.Table):
        return {name: data.column(name) for name in data.column_names}, data.num_rows
    if isinstance(data, Mapping):
        source = {}
        for name, values in data.items():
            if not isinstance(values, (np.ndarray, pd.Series, pa.Array, pa.ChunkedArray, pd.Index)):
                if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                    raise TypeError(f"column '{name}' must be an array, got {type(values).__name__}")
                values = pd.Series(list(values)) if not _is_numeric_list(values) else np.asarray(values)
            source[str(name)] = values
        lengths = {name: len(v) for name, v in source.items()}
        if not lengths:
            raise ValueError("no columns given")
        if len(set(lengths.values())) != 1:
            raise ValueError(f"columns have different lengths (ragged input): {lengths}")
        return source, next(iter(lengths.values()))
    raise TypeError(f"expected a DataFrame (pandas or polars), a pyarrow Table or a mapping of arrays, "
                    f"got {type(data).__name__}")


def _is_numeric_list(values) -> bool:
    try:
        a = np.asarray(values)
    except ValueError:
        return False
    return a.dtype.kind in "fiub" and a.ndim == 1
