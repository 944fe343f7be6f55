"""What every Dask form shares: recognising Dask collections, checking a
frame's columns from its metadata, mapping a local function over the
partitions (empty ones included) and sending a fitted model to the workers
once."""

from __future__ import annotations

import uuid
from typing import Any, Callable

import numpy as np
import pandas as pd


def partition_count(npartitions, default: int) -> int:
    """The partitions of a shuffle: ``default`` when None, else a whole number >= 1 (0 is not "the default",
    and a shuffle into more partitions than this is a typo that would exhaust memory)."""
    if npartitions is None:
        return default
    from .._validation import check_int

    return check_int(npartitions, "npartitions", min_value=1, max_value=1_000_000)


def _is_dask(X) -> bool:
    try:
        import dask.dataframe as dd
    except ImportError:
        return False
    return isinstance(X, (dd.DataFrame, dd.Series))


def _require_frame(X, what: str, names=None):
    """X as a Dask DataFrame holding the model's columns ``names`` (checked now,
    from the metadata, rather than later on a worker)."""
    import dask.dataframe as dd

    if not isinstance(X, dd.DataFrame):
        raise TypeError(f"{what} expects a Dask DataFrame (columns matched by name), got {type(X).__name__}")
    if names is not None:
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise KeyError(f"{what}: the Dask DataFrame lacks the model's column(s) {missing[:10]}")
    return X


def _map_partitions(X, fn: Callable[[pd.DataFrame], Any], columns: list[str] | None, dtypes: dict | np.dtype,
                    name: str | None = None):
    """``fn`` (pandas -> ndarray or DataFrame) over every partition of ``X``;
    a Series named ``name`` when ``columns`` is None, else a DataFrame. Empty
    partitions give empty results of the same shape and dtypes."""

    def part(df: pd.DataFrame):
        if len(df) == 0:
            if columns is None:
                return pd.Series([], dtype=dtypes, index=df.index, name=name)
            return pd.DataFrame({c: pd.Series([], dtype=dtypes[c]) for c in columns}).set_axis(df.index)
        out = fn(df)
        if isinstance(out, pd.DataFrame):
            return out.set_axis(df.index)
        if columns is None:
            return pd.Series(np.asarray(out), index=df.index, name=name)
        return pd.DataFrame(np.asarray(out), index=df.index, columns=columns)

    if columns is None:
        meta = pd.Series([], dtype=dtypes, name=name)
    else:
        meta = pd.DataFrame({c: pd.Series([], dtype=dtypes[c]) for c in columns})
    meta.index = X._meta.index
    return X.map_partitions(part, meta=meta)


def broadcast(model, what: str):
    """``model`` as one Dask key every partition task depends on: the graph
    holds it once, so a distributed scheduler sends it to each worker once
    (not once per task), and a worker unpickles it once."""
    import dask

    return dask.delayed(model, name=f"twinscore-{what}-{uuid.uuid4().hex}", pure=True)


def shuffle_method(frame) -> str | None:
    """Dask's default shuffle, except for frames with Arrow list or struct columns (categories
    visited, items bought): distributed's P2P shuffle cannot carry them, a task shuffle can."""
    for dtype in frame._meta.dtypes:
        arrow = getattr(dtype, "pyarrow_dtype", None)
        if arrow is not None and getattr(arrow, "num_fields", 0) > 0:
            return "tasks"
    return None
