"""Discriminating criteria and scorecard points of Dask contact tables.

The criteria are counts, made exact in two passes over the partitions:

1. what the bins depend on — each categorical column's distinct values and
   each category set's members (the categories, sorted as the local schema
   sorts them), each numeric column's distinct values with their counts (the
   quantile edges and the values with a bin of their own depend on nothing
   else), and the target's two values;
2. the rows of the target group and of the rest in every bin, counted by the
   local engine in each partition and added.

The local binning engine then runs on each numeric column rebuilt from its
distinct values and counts, so the edges are the local ones to the bit. The
driver holds one numeric column's values at a time while binning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import _core
from .. import criteria as _criteria
from .._config import resolve_threads
from .._validation import check_float, check_int
from ..criteria import Scorecard
from ..table import Schema
from ._partitions import _is_dask, _map_partitions

__all__ = ["discriminating_criteria", "apply_scorecard"]


def discriminating_criteria(data, target: str, columns=None, *, positive=None, n_bins: int = 10,
                            smoothing: float = 0.5):
    """:func:`twinscore.criteria.discriminating_criteria` of a Dask DataFrame (``target``: the
    name of its target column), equal to the local criteria: the same bins, edges, counts, WoE
    and IV. Local input gives the local criteria."""
    if not _is_dask(data):
        return _criteria.discriminating_criteria(data, target, columns, positive=positive, n_bins=n_bins,
                                                 smoothing=smoothing)
    import dask

    n_bins = check_int(n_bins, "n_bins", min_value=1, max_value=1000)
    smoothing = check_float(smoothing, "smoothing", min_value=0.0, strict_min=True)
    if not isinstance(target, str):
        raise TypeError(f"target must name a column of the Dask DataFrame, got {type(target).__name__}")
    if target not in data.columns:
        raise KeyError(f"target column '{target}' is not in data")
    columns = [c for c in data.columns if c != target] if columns is None else list(columns)
    if not columns:
        raise ValueError("columns is empty")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in data")
    roles = _criteria._table(data._meta_nonempty, columns).roles
    numeric = [c for c in columns if roles.get(c) == "numeric"]
    categorical = [c for c in columns if roles.get(c) == "categorical"]
    sets = [c for c in columns if roles.get(c) == "category_set"]
    skipped = [c for c in columns if c not in numeric + categorical + sets]
    frame = data[[*numeric, *categorical, *sets, target]]

    # Pass 1: the target's values, the categories, each numeric column's distinct values.
    parts = [dask.delayed(_distinct)(p, target, numeric, categorical, sets) for p in frame.to_delayed()]
    found = dask.delayed(_merge_distinct)(parts).compute()
    if found["n"] == 0:
        raise ValueError("data is empty")
    _, positive = _criteria._target_vector(found["target"], None, len(found["target"]), positive)
    schema = _schema(found, numeric, categorical, sets, frame._meta_nonempty)
    n_threads = resolve_threads()
    binnings = []
    for c in numeric:  # one column rebuilt at a time: its values in sorted order
        values, counts = found["numeric"][c]
        col = np.repeat(values, counts)
        binnings.append(_core.numeric_bins([c], [col], n_bins, n_threads=n_threads)[0])

    # Pass 2: the rows of each group in every bin.
    counted = [dask.delayed(_count)(p, schema, target, positive, numeric, categorical, sets, binnings)
               for p in frame.to_delayed()]
    rows, n, P = dask.delayed(_add_counts)(counted).compute()
    crit = _criteria._assemble(rows, n, P, n - P, smoothing, schema, skipped)
    crit.positive = positive
    return crit


def apply_scorecard(scorecard: Scorecard, data):
    """:meth:`Scorecard.apply` of a Dask DataFrame: a Dask Series of points (``points``, the
    partitions' index); local input gives the local array."""
    if not isinstance(scorecard, Scorecard):
        raise TypeError(f"scorecard must be a twinscore Scorecard, got {type(scorecard).__name__}")
    if not _is_dask(data):
        return scorecard.apply(data)
    needed = sorted(set(scorecard.criteria["column"]))
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in data")
    return _map_partitions(data, scorecard.apply, None, np.float64, name="points")


# ---------------------------------------------------------------- pass 1
def _distinct(df: pd.DataFrame, target, numeric, categorical, sets) -> dict:
    """One partition's distinct values: of the target, of each categorical column, of each set's
    members, and each numeric column's values with their counts (as the engine reads them)."""
    out = {"n": len(df), "target": df[target].drop_duplicates()}
    if len(df) == 0:
        out.update(numeric={}, categorical={c: [] for c in categorical}, sets={c: [] for c in sets})
        return out
    table = _criteria._table(df, numeric) if numeric else None
    out["numeric"] = {c: np.unique(table.numeric(c), return_counts=True, equal_nan=True) for c in numeric}
    out["categorical"] = {c: df[c].dropna().drop_duplicates().tolist() for c in categorical}
    out["sets"] = {c: df[c].explode().dropna().drop_duplicates().tolist() for c in sets}
    return out


def _merge_distinct(parts: list) -> dict:
    out = {"n": sum(p["n"] for p in parts),
           "target": pd.concat([p["target"] for p in parts]).drop_duplicates().reset_index(drop=True)}
    numeric = {}
    for c in {c for p in parts for c in p["numeric"]}:
        values = np.concatenate([p["numeric"][c][0] for p in parts if c in p["numeric"]])
        counts = np.concatenate([p["numeric"][c][1] for p in parts if c in p["numeric"]])
        u, inverse = np.unique(values, return_inverse=True, equal_nan=True)
        numeric[c] = (u, np.bincount(inverse.ravel(), weights=counts, minlength=len(u)).astype(np.int64))
    out["numeric"] = numeric
    for kind in ("categorical", "sets"):
        out[kind] = {c: list({v: None for p in parts for v in p[kind][c]}) for c in parts[0][kind]}
    return out


def _schema(found, numeric, categorical, sets, sample: pd.DataFrame) -> Schema:
    """The schema the local function would learn on the whole table: categories from the
    distinct values (sorted by the schema as it sorts them), numeric statistics from each
    column rebuilt from its values and counts."""
    specs = {}
    for c in numeric:
        values, counts = found["numeric"][c]
        column = pd.Series(np.repeat(values, counts), dtype=values.dtype)
        if sample[c].dtype == bool or str(sample[c].dtype) == "boolean":
            column = column.astype("boolean") if column.isna().any() else column.astype(bool)
        specs[c] = Schema.learn(pd.DataFrame({c: column}))[c]
    for c in categorical:
        values = pd.Series(found["categorical"][c], dtype=sample[c].dtype if isinstance(
            sample[c].dtype, pd.CategoricalDtype) else object)
        specs[c] = Schema.learn(pd.DataFrame({c: values if len(values) else sample[c].iloc[:0]}))[c]
    for c in sets:
        members = found["sets"][c]
        specs[c] = Schema.learn(pd.DataFrame({c: pd.Series([members], dtype=object)}))[c]
    return Schema([specs[c] for c in [*numeric, *categorical, *sets]])


# ---------------------------------------------------------------- pass 2
def _count(df: pd.DataFrame, schema: Schema, target, positive, numeric, categorical, sets, binnings):
    """One partition's rows of each group in every bin, with its row and target counts."""
    if len(df) == 0:
        return None
    t = _flags(df[target], positive)
    table = schema.apply(df, id=None)
    cols = [table.numeric(c) for c in numeric]
    rows = _criteria.criteria_rows(table, numeric, cols, categorical, sets, binnings, t, resolve_threads())
    return rows, len(df), int(t.sum())


def _flags(values: pd.Series, positive) -> np.ndarray:
    """1 where the target holds ``positive`` (the global check found its two values)."""
    codes, classes = _criteria._classes(values)
    hit = np.array([_criteria._equals(c, positive) for c in classes] + [False])
    return hit[np.where(codes >= 0, codes, len(classes))].astype(np.uint8)


def _add_counts(counted: list):
    counted = [c for c in counted if c is not None]
    rows = [list(r) for r in counted[0][0]]
    for other, _, _ in counted[1:]:
        for mine, theirs in zip(rows, other):
            mine[8] = np.asarray(mine[8], dtype=np.int64) + np.asarray(theirs[8], dtype=np.int64)
            mine[9] = np.asarray(mine[9], dtype=np.int64) + np.asarray(theirs[9], dtype=np.int64)
    return [tuple(r) for r in rows], sum(c[1] for c in counted), sum(c[2] for c in counted)
