"""An event log too long to read whole, split by contact into parts that are.

The events of a contact must be aggregated together, and a log is usually in
time order, not contact order. So an ``events`` job whose log holds more than
``chunk_rows`` rows reads it three times, a chunk at a time:

1. the contact column (and type / category): a sample of ids per chunk, from
   which the boundaries of contact ranges of about ``chunk_rows`` events each
   are drawn, and the type and category vocabularies of the whole log;
2. every chunk's rows written to the part of their contact's range
   (temporary Parquet files in a directory beside the output, removed on
   every exit path the process sees; a killed job's directory is removed by
   the next job writing the same output);
3. each part read whole and aggregated by the engine, with the log's
   vocabularies, in range order: contacts come out sorted, as the in-memory
   call gives them.

Memory is bounded by a chunk, the id sample (at most ``_SAMPLE`` ids per
chunk) and one part — about ``chunk_rows`` events, more only where one
contact range is denser than the sample showed (a single contact's events
are never split).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from .tables import PARTS_SUFFIX, _chunks, _read_table, _TableWriter

__all__ = ["LogPlan", "plan_log", "partitioned", "PARTS_SUFFIX"]

_SAMPLE = 20_000   # contact ids sampled per chunk to place the range boundaries


class LogPlan:
    """What the first read of a log found: its rows, the ranges' boundaries and its vocabularies."""

    def __init__(self, rows: int, bounds: np.ndarray, types: list[str], categories: list[str] | None):
        self.rows, self.bounds, self.types, self.categories = rows, bounds, types, categories

    @property
    def parts(self) -> int:
        return len(self.bounds) + 1


def _distinct(kept: pd.Series | None, values: pd.Series) -> pd.Series:
    """The distinct values seen so far, dtype kept (a categorical keeps its categories)."""
    values = values.drop_duplicates()
    return values if kept is None else pd.concat([kept, values], ignore_index=True).drop_duplicates()


def _bounds(sample: list[np.ndarray], weights: list[np.ndarray], parts: int) -> np.ndarray:
    """The parts - 1 contact ids that cut the weighted sample into ranges of equal weight (distinct, sorted)."""
    ids, w = np.concatenate(sample), np.concatenate(weights)
    order = np.argsort(ids, kind="stable")
    ids, cum = ids[order], np.cumsum(w[order])
    at = np.searchsorted(cum, cum[-1] * np.arange(1, parts) / parts, side="left")
    return pd.unique(ids[np.minimum(at, len(ids) - 1)])


def plan_log(path: Path, what: str, rows: int, names: dict, types, categories, seed: int = 0) -> LogPlan:
    """Read 1: the log's row count, a weighted sample of its contact ids cut into ranges of about ``rows``
    events each, and its vocabularies (as the engine would find them in the whole log) unless given."""
    from twinscore.events import _vocabulary

    rng = np.random.default_rng(seed)
    contact, typ, cat = names["contact"], names["type"], names["category"]
    columns = [contact] + ([typ] if types is None else []) + ([cat] if categories is None else [])
    sample, weights, seen_types, seen_cats, n = [], [], None, None, 0
    for chunk in _chunks(path, what, rows, list(dict.fromkeys(columns))):
        ids = chunk[contact].to_numpy()
        if pd.isna(ids).any():  # no range holds it (the whole log's aggregate refuses it too)
            raise ValueError(f"{what} contact column '{contact}' has a missing id at row "
                             f"{n + int(np.argmax(pd.isna(ids))):,}")
        take = np.sort(rng.choice(len(ids), size=min(len(ids), _SAMPLE), replace=False))
        sample.append(ids[take])
        weights.append(np.full(len(take), len(ids) / max(len(take), 1)))
        if types is None:
            seen_types = _distinct(seen_types, chunk[typ])
        if categories is None:
            seen_cats = _distinct(seen_cats, chunk[cat])
        n += len(chunk)
    parts = max(1, -(-n // rows))
    bounds = _bounds(sample, weights, parts) if parts > 1 else np.empty(0)
    vocab_types = _vocabulary(seen_types.rename(typ), types) if types is None else [str(t) for t in types]
    vocab_cats = (_vocabulary(seen_cats.rename(cat), None) if categories is None else
                  [str(c) for c in categories])
    return LogPlan(n, bounds, vocab_types, vocab_cats)


@contextlib.contextmanager
def partitioned(path: Path, what: str, rows: int, columns: list[str], contact: str, plan: LogPlan,
                beside: Path) -> Iterator[Iterator[pd.DataFrame]]:
    """Read 2, then the parts one by one (read 3): yields an iterator of the parts as DataFrames, in
    contact-range order. The parts live in a directory beside ``beside`` (the output), removed when
    the block exits however it exits."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{beside.name}.{os.getpid()}.", suffix=PARTS_SUFFIX, dir=beside.parent))
    try:
        writers = [_TableWriter(tmp / f"part-{i:05d}.parquet", ".parquet") for i in range(plan.parts)]
        try:
            for chunk in _chunks(path, what, rows, columns):
                part = np.searchsorted(plan.bounds, chunk[contact].to_numpy(), side="right")
                order = np.argsort(part, kind="stable")  # each part's rows in log order
                cuts = np.searchsorted(part[order], np.arange(plan.parts + 1))
                for i in np.flatnonzero(np.diff(cuts)):
                    writers[i].write(chunk.iloc[order[cuts[i]:cuts[i + 1]]])
        finally:
            for w in writers:
                w.close()
        yield (_read_table(w.path, f"{what} part {i}") for i, w in enumerate(writers) if w.rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
