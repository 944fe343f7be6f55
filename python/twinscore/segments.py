"""Segment profiles: the table a marketer reads of each segment.

:func:`segment_profiles` describes each segment by its size and share, the
mean of each numeric column as an index against the whole population (100 =
average, 150 = half as much again), the categories it over-represents (index
of the category's share in the segment against its share overall), and, when
given, its conversion rate and mean value with their indices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import as_vector, check_float, check_int

__all__ = ["segment_profiles", "ProfileSums"]


def _numeric_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns
            if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]


def _categorical_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns
            if isinstance(df[c].dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(df[c])
            or pd.api.types.is_string_dtype(df[c]) or df[c].dtype == object]


def segment_profiles(data: pd.DataFrame, labels, *, numeric=None, categorical=None, conversion=None,
                     value=None, min_index: float = 120.0, min_share: float = 0.05, top: int = 3) -> pd.DataFrame:
    """One row per segment, largest first.

    Parameters
    ----------
    data : the contacts' attributes (one row per contact).
    labels : the segment of each row (e.g. ``KMeans.labels_``).
    numeric, categorical : columns to profile (default: numeric and
        categorical/boolean/string columns of ``data``). A numeric column
        whose overall mean is 0 has no index (NaN).
    conversion : optional 0/1 outcome per row (or a column name): the
        segment's conversion rate and its index.
    value : optional value per row (or a column name): the segment's mean
        value, its index, and its share of the total value.
    min_index, min_share, top : a category is over-represented in a segment
        when its index is at least ``min_index`` and it covers at least
        ``min_share`` of the segment; the ``top`` highest are listed.

    Columns: ``size``, ``share``, ``<col> index`` per numeric column,
    ``conversion`` and ``conversion index``, ``value``, ``value index`` and
    ``value share``, and ``over-represented`` ("column=category (index)").

    Every figure is made of counts and sums per segment, so a table too long
    to hold gives the same profiles from its chunks: see :class:`ProfileSums`.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    n = len(data)
    if n == 0:
        raise ValueError("data is empty")
    lab = np.asarray(labels)
    if lab.ndim != 1 or len(lab) != n:
        raise ValueError(f"labels must be 1-D with {n} values, got shape {lab.shape}")
    if pd.isna(lab).any():
        raise ValueError("labels hold missing values")
    min_index = check_float(min_index, "min_index", min_value=0.0)
    min_share = check_float(min_share, "min_share", min_value=0.0, max_value=1.0)
    top = check_int(top, "top", min_value=0)
    numeric = _numeric_columns(data) if numeric is None else list(numeric)
    categorical = _categorical_columns(data) if categorical is None else list(categorical)
    missing = [c for c in numeric + categorical if c not in data.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in data")
    seg = pd.Series(lab, index=data.index, name="segment")
    size = seg.value_counts(sort=False)
    out = pd.DataFrame({"size": size, "share": size / n})
    if numeric:
        nums = data[numeric].apply(pd.to_numeric, errors="raise").astype(np.float64)
        bad = [c for c in numeric if np.isinf(nums[c]).any()]
        if bad:
            raise ValueError(f"columns {bad} hold infinite values")
        overall = nums.mean()
        means = nums.groupby(seg).mean()
        for c in numeric:
            out[f"{c} index"] = 100.0 * means[c] / overall[c] if overall[c] != 0 else np.nan
    for name, arg in (("conversion", conversion), ("value", value)):
        if arg is None:
            continue
        if isinstance(arg, str):
            if arg not in data.columns:
                raise KeyError(f"{name} column '{arg}' is not in data")
            arg = data[arg]
        v = pd.Series(as_vector(arg, name, n), index=data.index)
        if name == "conversion" and not np.isin(v.to_numpy(), (0.0, 1.0)).all():
            raise ValueError("conversion must hold only 0/1 (or booleans)")
        by = v.groupby(seg).mean()
        out[name] = by
        out[f"{name} index"] = 100.0 * by / v.mean() if v.mean() != 0 else np.nan
        if name == "value":
            tot = v.sum()
            out["value share"] = v.groupby(seg).sum() / tot if tot != 0 else np.nan
    out["over-represented"] = _over_represented(data, seg, categorical, min_index, min_share, top)
    out.index.name = "segment"
    return out.sort_values("size", ascending=False, kind="stable")


class ProfileSums:
    """The counts and sums :func:`segment_profiles` is made of, added a chunk at a time.

    A batch job profiles a table it reads in chunks: ``add`` each chunk with
    its labels (memory: the per-segment sums, not the rows), then
    ``profiles()``. Sizes, shares and the over-represented categories come
    from counts, so they equal the whole table's exactly; the numeric,
    conversion and value indices from sums, equal to the rounding of a sum
    taken in another order (about 1e-15 relative). Segments are listed as
    :func:`segment_profiles` lists them: by size, ties in order of first
    appearance.
    """

    def __init__(self, *, numeric=(), categorical=(), conversion: bool = False, value: bool = False):
        self.numeric, self.categorical = list(numeric), list(categorical)
        self.outcomes = [name for name, on in (("conversion", conversion), ("value", value)) if on]
        self.size = pd.Series(dtype=np.int64)         # rows per segment, in order of first appearance
        self.sums = self.counts = None                # segment x numeric column (+ the outcomes)
        self.categories: dict[str, pd.DataFrame] = {}  # column -> segment x category rows

    def add(self, data: pd.DataFrame, labels, *, conversion=None, value=None) -> "ProfileSums":
        """Adds the rows of one chunk (``conversion`` / ``value``: per row, or a column of ``data``)."""
        n = len(data)
        lab = np.asarray(labels)
        if lab.ndim != 1 or len(lab) != n:
            raise ValueError(f"labels must be 1-D with {n} values, got shape {lab.shape}")
        if pd.isna(lab).any():
            raise ValueError("labels hold missing values")
        missing = [c for c in self.numeric + self.categorical if c not in data.columns]
        if missing:
            raise KeyError(f"columns {missing} are not in data")
        seg = pd.Series(lab, index=data.index, name="segment")
        size = seg.value_counts(sort=False)
        order = self.size.index.append(size.index.difference(self.size.index, sort=False))
        self.size = self.size.reindex(order, fill_value=0).add(size.reindex(order, fill_value=0)).astype(np.int64)
        columns = {c: self._numbers(data, c) for c in self.numeric}
        for name, arg in (("conversion", conversion), ("value", value)):
            if name in self.outcomes:
                columns[f"__{name}__"] = self._outcome(data, name, arg, n)
        if columns:
            frame = pd.DataFrame(columns, index=data.index).groupby(seg)
            sums, counts = frame.sum(), frame.count()
            self.sums = sums if self.sums is None else self.sums.add(sums, fill_value=0.0)
            self.counts = counts if self.counts is None else self.counts.add(counts, fill_value=0)
        for c in self.categorical:
            table = pd.crosstab(seg, data[c].astype("string").fillna("(missing)"))
            kept = self.categories.get(c)
            self.categories[c] = table if kept is None else kept.add(table, fill_value=0)
        return self

    @staticmethod
    def _numbers(data: pd.DataFrame, c: str) -> pd.Series:
        x = pd.to_numeric(data[c], errors="raise").astype(np.float64)
        if np.isinf(x).any():
            raise ValueError(f"columns {[c]} hold infinite values")
        return x

    @staticmethod
    def _outcome(data: pd.DataFrame, name: str, arg, n: int) -> np.ndarray:
        if arg is None:
            raise ValueError(f"{name} was announced (ProfileSums({name}=True)) but not given")
        if isinstance(arg, str):
            if arg not in data.columns:
                raise KeyError(f"{name} column '{arg}' is not in data")
            arg = data[arg]
        v = as_vector(arg, name, n)
        if name == "conversion" and not np.isin(v, (0.0, 1.0)).all():
            raise ValueError("conversion must hold only 0/1 (or booleans)")
        return v

    def profiles(self, *, min_index: float = 120.0, min_share: float = 0.05, top: int = 3) -> pd.DataFrame:
        """The profiles of every row added so far (see :func:`segment_profiles`)."""
        min_index = check_float(min_index, "min_index", min_value=0.0)
        min_share = check_float(min_share, "min_share", min_value=0.0, max_value=1.0)
        top = check_int(top, "top", min_value=0)
        n = int(self.size.sum())
        if n == 0:
            raise ValueError("data is empty")
        size = self.size
        out = pd.DataFrame({"size": size, "share": size / n})
        if self.sums is not None:
            sums, counts = self.sums.reindex(size.index), self.counts.reindex(size.index)
        for c in self.numeric:
            overall = sums[c].sum() / counts[c].sum()
            out[f"{c} index"] = 100.0 * (sums[c] / counts[c]) / overall if overall != 0 else np.nan
        for name in self.outcomes:
            tot = sums[f"__{name}__"]
            mean = tot.sum() / n
            out[name] = tot / size
            out[f"{name} index"] = 100.0 * out[name] / mean if mean != 0 else np.nan
            if name == "value":
                out["value share"] = tot / tot.sum() if tot.sum() != 0 else np.nan
        tables = {c: t.reindex(size.index, fill_value=0) for c, t in self.categories.items()}
        out["over-represented"] = over_represented(tables, size.index, min_index, min_share, top)
        out.index.name = "segment"
        return out.sort_values("size", ascending=False, kind="stable")


def _over_represented(data, seg, categorical, min_index, min_share, top) -> pd.Series:
    counts = {c: pd.crosstab(seg, data[c].astype("string").fillna("(missing)")) for c in categorical}
    return over_represented(counts, seg.unique(), min_index, min_share, top)


def over_represented(counts: dict, segments, min_index, min_share, top) -> pd.Series:
    """Each segment's over-represented categories, from the rows of each category per segment
    (``counts``: column -> segments x categories, categories sorted) — shared with the
    profiles added up over Dask partitions."""
    found = []
    for c, table in counts.items():
        within = table.div(table.sum(axis=1), axis=0)  # share of each category in each segment
        overall = table.sum(axis=0) / table.to_numpy().sum()
        index = 100.0 * within / overall
        long = pd.DataFrame({"segment": np.repeat(within.index.to_numpy(), within.shape[1]),
                             "label": np.tile([f"{c}={v}" for v in within.columns], within.shape[0]),
                             "share": within.to_numpy().ravel(), "index": index.to_numpy().ravel()})
        found.append(long[(long["index"] >= min_index) & (long["share"] >= min_share)])
    if not found or top == 0:
        return pd.Series("", index=segments)
    long = pd.concat(found).sort_values(["segment", "index", "label"], ascending=[True, False, True])
    long = long.groupby("segment").head(top)
    text = long.assign(t=long["label"] + " (" + long["index"].round().astype(int).astype(str) + ")")
    joined = text.groupby("segment")["t"].agg(", ".join)
    return joined.reindex(segments).fillna("")
