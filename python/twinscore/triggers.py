"""Marketing-automation triggers as a tidy table: contact, trigger, date.

Each trigger fires for the contacts whose condition became true in the window
(since, until] — run it once per batch with the previous run's date as
``since`` and each contact fires once, on the day it crossed the line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import check_float, check_int
from . import _frames
from ._frames import NS_PER_DAY as _NS_PER_DAY

__all__ = ["inactivity", "form_filled", "score_crossed", "COLUMNS"]

COLUMNS = ["contact", "trigger", "date"]


def _window(since, until) -> tuple[pd.Timestamp, pd.Timestamp]:
    since, until = _frames.timestamp(since, "since"), _frames.timestamp(until, "until")
    if until < since:
        raise ValueError(f"until ({until}) is before since ({since})")
    return since, until


def _tidy(contact, name: str, date) -> pd.DataFrame:
    out = pd.DataFrame({"contact": np.asarray(contact), "trigger": name,
                        "date": np.asarray(date, dtype="datetime64[ns]")})
    return out.sort_values(["date", "contact"], kind="stable").reset_index(drop=True)


def inactivity(transactions: pd.DataFrame, *, customer: str, date: str, days: int, since, until,
               name: str | None = None) -> pd.DataFrame:
    """Clients whose last purchase became ``days`` old within (since, until].

    The last purchase is taken as of ``until`` (purchases after it are
    ignored); the trigger date is last purchase + ``days``.
    """
    days = check_int(days, "days", min_value=1)
    since, until = _window(since, until)
    ids = _frames.ids(_frames.column(transactions, customer, "customer", "transactions"), customer)
    time = _frames.timestamps_ns(_frames.column(transactions, date, "date", "transactions"), date)
    keep = time <= until.value
    last = pd.Series(time[keep]).groupby(ids[keep], sort=False).max()
    crossing = last.to_numpy() + days * _NS_PER_DAY
    fired = (crossing > since.value) & (crossing <= until.value)
    return _tidy(last.index[fired], name or f"no_purchase_{days}d", crossing[fired])


def form_filled(events: pd.DataFrame, *, contact: str, timestamp: str, type: str, since, until,
                types=("form_fill",), name: str = "form_filled") -> pd.DataFrame:
    """Contacts with an event of one of ``types`` in (since, until]; dated by the first such event."""
    since, until = _window(since, until)
    if isinstance(types, str):
        types = (types,)
    ids = _frames.ids(_frames.column(events, contact, "contact", "events"), contact)
    time = _frames.timestamps_ns(_frames.column(events, timestamp, "timestamp", "events"), timestamp)
    kind = _frames.column(events, type, "type", "events")
    hit = kind.isin(list(types)).to_numpy() & (time > since.value) & (time <= until.value)
    first = pd.Series(time[hit]).groupby(ids[hit], sort=False).min()
    return _tidy(first.index, name, first.to_numpy())


def score_crossed(before: pd.Series, after: pd.Series, *, threshold: float, date, direction: str = "up",
                  name: str | None = None) -> pd.DataFrame:
    """Contacts whose score crossed ``threshold`` between two scorings (indexed by contact).

    ``direction="up"``: below before, at or above after; ``"down"``: the
    reverse. Contacts missing from either scoring are left out.
    """
    threshold = check_float(threshold, "threshold")
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    for label, s in (("before", before), ("after", after)):
        if not isinstance(s, pd.Series):
            raise TypeError(f"{label} must be a pandas Series indexed by contact, got {type(s).__name__}")
        if not pd.api.types.is_numeric_dtype(s.dtype):
            raise TypeError(f"{label} must hold numeric scores, got {s.dtype}")
        if not s.index.is_unique:
            raise ValueError(f"{label} has duplicate contacts in its index")
    when = _frames.timestamp(date, "date")
    b, a = before.align(after, join="inner")
    ok = b.notna().to_numpy() & a.notna().to_numpy()
    bv, av = b.to_numpy(dtype=float), a.to_numpy(dtype=float)
    crossed = (bv < threshold) & (av >= threshold) if direction == "up" else (bv >= threshold) & (av < threshold)
    crossed &= ok
    return _tidy(b.index[crossed], name or f"score_{direction}_{threshold:g}", np.full(crossed.sum(), when))
