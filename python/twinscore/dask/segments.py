"""Segment profiles of Dask contact tables.

A profile is made of sums and counts: each partition adds up its own per
segment (sizes, sums and present counts of each numeric column, conversion
and value, category counts), the partials are added, and the profile is
built from the totals as the local function builds it from the whole table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import segments as _segments
from .._validation import as_vector, check_float, check_int
from ._partitions import _is_dask

__all__ = ["segment_profiles"]

_MISSING = "(missing)"


def segment_profiles(data, labels, *, numeric=None, categorical=None, conversion=None, value=None,
                     min_index: float = 120.0, min_share: float = 0.05, top: int = 3) -> pd.DataFrame:
    """:func:`twinscore.segments.segment_profiles` of a Dask DataFrame, computed: one row per
    segment, largest first, from sums and counts added over the partitions (equal to the local
    profile up to the rounding of the sums' order). ``labels``, ``conversion`` and ``value``
    name columns of ``data`` (or are Dask Series with its partitions); local input gives the
    local profile."""
    if not _is_dask(data):
        return _segments.segment_profiles(data, labels, numeric=numeric, categorical=categorical,
                                          conversion=conversion, value=value, min_index=min_index,
                                          min_share=min_share, top=top)
    min_index = check_float(min_index, "min_index", min_value=0.0)
    min_share = check_float(min_share, "min_share", min_value=0.0, max_value=1.0)
    top = check_int(top, "top", min_value=0)
    data, names = _with_columns(data, labels=labels, conversion=conversion, value=value)
    # The columns profiled by default are the local function's: those of data as given.
    meta = data._meta.drop(columns=[c for c in names.values() if c is not None and c.startswith("__twinscore_")])
    numeric = _segments._numeric_columns(meta) if numeric is None else list(numeric)
    categorical = _segments._categorical_columns(meta) if categorical is None else list(categorical)
    missing = [c for c in numeric + categorical if c not in data.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in data")
    import dask

    parts = [dask.delayed(_partial)(p, names, numeric, categorical) for p in data.to_delayed()]
    totals = dask.delayed(_add)(parts).compute()
    return _profile(totals, names, numeric, categorical, min_index, min_share, top)


def _with_columns(data, **given):
    """``data`` with each given Dask Series as a column; the column names of each."""
    names = {}
    for role, arg in given.items():
        if arg is None:
            names[role] = None
        elif isinstance(arg, str):
            if arg not in data.columns:
                what = "labels" if role == "labels" else f"{role} column"
                raise KeyError(f"{what} '{arg}' is not in data")
            names[role] = arg
        elif _is_dask(arg):
            name = f"__twinscore_{role}__"
            data = data.assign(**{name: arg})
            names[role] = name
        else:
            raise TypeError(f"{role} must name a column of data or be a Dask Series, got {type(arg).__name__}")
    return data, names


def _partial(df: pd.DataFrame, names: dict, numeric: list, categorical: list) -> dict:
    """One partition's sums and counts per segment."""
    seg = df[names["labels"]]
    if seg.isna().any():
        raise ValueError("labels hold missing values")
    out = {"size": seg.value_counts(sort=False)}
    if numeric:
        nums = df[numeric].apply(pd.to_numeric, errors="raise").astype(np.float64)
        bad = [c for c in numeric if np.isinf(nums[c]).any()]
        if bad:
            raise ValueError(f"columns {bad} hold infinite values")
        out["sum"] = nums.groupby(seg).sum()
        out["count"] = nums.notna().groupby(seg).sum()
    for role in ("conversion", "value"):
        if names[role] is not None:
            v = pd.Series(as_vector(df[names[role]], role, len(df)), index=df.index)
            if role == "conversion" and not np.isin(v.to_numpy(), (0.0, 1.0)).all():
                raise ValueError("conversion must hold only 0/1 (or booleans)")
            out[role] = v.groupby(seg).sum()
    for c in categorical:
        col = df[c].astype("string").fillna(_MISSING)
        out[f"cat:{c}"] = pd.crosstab(seg, col)
    return out


def _add(parts: list) -> dict:
    total = {}
    for part in parts:
        for key, frame in part.items():
            total[key] = frame if key not in total else total[key].add(frame, fill_value=0)
    return total


def _profile(t: dict, names, numeric, categorical, min_index, min_share, top) -> pd.DataFrame:
    if "size" not in t or t["size"].sum() == 0:
        raise ValueError("data is empty")
    size = t["size"].astype(np.int64)
    n = int(size.sum())
    out = pd.DataFrame({"size": size, "share": size / n})
    if numeric:
        overall = t["sum"].sum() / t["count"].sum()
        means = t["sum"] / t["count"]
        for c in numeric:
            out[f"{c} index"] = 100.0 * means[c] / overall[c] if overall[c] != 0 else np.nan
    for role in ("conversion", "value"):
        if names[role] is None:
            continue
        sums = t[role].reindex(size.index, fill_value=0.0)
        by = sums / size
        mean = sums.sum() / n
        out[role] = by
        out[f"{role} index"] = 100.0 * by / mean if mean != 0 else np.nan
        if role == "value":
            out["value share"] = sums / sums.sum() if sums.sum() != 0 else np.nan
    out["over-represented"] = _over_represented(t, size, categorical, min_index, min_share, top)
    out.index.name = "segment"
    return out.sort_values("size", ascending=False, kind="stable")


def _over_represented(t, size, categorical, min_index, min_share, top) -> pd.Series:
    counts = {}
    for c in categorical:
        table = t[f"cat:{c}"].reindex(size.index, fill_value=0)
        counts[c] = table[sorted(table.columns)]  # as crosstab orders them
    return _segments.over_represented(counts, size.index, min_index, min_share, top)
