"""Event logs -> per-contact behaviour features (the appetence vector).

:func:`aggregate` turns an event log (one row per page view, e-mail open,
click, form, sign-up, unsubscribe...) into one row per contact: first and last
seen, recency, frequency per event type, active days, and time-decayed counts
per event type and per product category — an event ``half_life_days`` old
counts 1/2, one twice as old 1/4. The work runs in one C++ pass (events
grouped by contact, contacts in parallel); the result does not depend on the
thread count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from . import _core
from ._config import resolve_threads
from ._progress import EngineBar, shown
from ._validation import check_float
from . import _frames
from .table import ContactTable

__all__ = ["aggregate", "EventLog", "event_log", "behaviour_features", "snapshots", "machine_activity"]

_NS_PER_DAY = 86_400 * 10**9
MISSING_TIMESTAMP = _core.MISSING_TIMESTAMP


@dataclass
class EventLog:
    """An event log in the engines' layout, aligned with a list of contacts."""

    contact_ids: np.ndarray   # the contacts, one per output row
    rows: np.ndarray          # int64 per event: row of its contact, -1 when unknown (ignored)
    timestamps: np.ndarray    # int64 ns UTC
    types: np.ndarray         # int32 codes into type_names
    categories: np.ndarray    # int32 codes into category_names, -1 = none
    type_names: list[str]
    category_names: list[str]
    unknown: int              # events whose contact is not among contact_ids
    now_ns: int
    later: int = 0            # events after as_of (ignored, as their rows are -1)

    def core_args(self) -> dict:
        """The keyword arguments of the aggregation engine (``_core.aggregate_events``)."""
        return dict(rows=self.rows, timestamps=self.timestamps, types=self.types, categories=self.categories,
                    n_types=len(self.type_names), n_categories=len(self.category_names))


def _codes(values: pd.Series, name: str, vocabulary: Sequence[str] | None, allow_missing: bool):
    """int32 codes and names of a type or category column (vectorised)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.array  # the Categorical: its codes and categories without a Series each
        names = [str(v) for v in cat.categories]
        codes = cat.codes.astype(np.int32)
    else:
        codes, uniques = pd.factorize(values.astype("string") if values.dtype == object else values, sort=True)
        codes = codes.astype(np.int32)
        names = [str(v) for v in uniques]
    if vocabulary is not None:  # recode onto the caller's fixed list
        vocabulary = [str(v) for v in vocabulary]
        remap = pd.Index(vocabulary).get_indexer(names).astype(np.int32)
        absent = [n for n, r in zip(names, remap) if r < 0]
        if absent:
            raise ValueError(f"column '{name}' holds values not in the given list: {absent[:5]}")
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], codes).astype(np.int32)
        names = vocabulary
    if not allow_missing and (codes < 0).any():
        raise ValueError(f"column '{name}' has a missing value at event {int(np.argmax(codes < 0))}")
    return codes, names


def _contact_ids(contacts, event_ids: np.ndarray, contact: str) -> np.ndarray:
    if contacts is None:
        return np.sort(pd.unique(event_ids))
    if isinstance(contacts, ContactTable):
        if contacts.ids is None:
            raise ValueError("contacts: the ContactTable has no id column (build it with id=...)")
        return np.asarray(contacts.ids)
    if _frames.is_frame(contacts):
        return _frames.contact_ids(_frames.column(contacts, contact, "contact id", "contacts"), contact)
    ids = contacts if isinstance(contacts, (pd.Series, pd.Index)) else np.asarray(contacts)
    if ids.ndim != 1:
        raise ValueError(f"contacts must be 1-D ids, got shape {ids.shape}")
    return _frames.contact_ids(pd.Series(ids), "contacts")


def _map_rows(contact_ids: np.ndarray, event_ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Row of each event's contact (-1 when unknown) and the number unknown."""
    if contact_ids.dtype.kind in "iu" and event_ids.dtype.kind in "iu":
        return _core.map_contact_ids(contact_ids.astype(np.int64, copy=False), event_ids.astype(np.int64, copy=False),
                                     n_threads=resolve_threads())
    index = pd.Index(contact_ids)
    if not index.is_unique:
        raise ValueError(f"contacts repeat ids, e.g. {index[index.duplicated()][:3].tolist()}")
    rows = index.get_indexer(pd.Index(event_ids)).astype(np.int64)
    return rows, int(np.count_nonzero(rows < 0))


def reference_date(now, as_of) -> tuple[int, bool]:
    """(the reference date in ns, whether later events are ignored) from exactly one of now / as_of."""
    if (now is None) == (as_of is None):
        raise ValueError("give exactly one of now= (later events are an error) and as_of= (later events are "
                         f"ignored), got now={now!r}, as_of={as_of!r}")
    if as_of is not None:
        return _frames.timestamp_ns(as_of, "as_of"), True
    return _frames.timestamp_ns(now, "now"), False


def event_log(events: pd.DataFrame, contacts=None, *, now=None, as_of=None, contact: str = "contact_id",
              timestamp: str = "timestamp", type: str = "type", category: str | None = "category",
              types: Sequence[str] | None = None, categories: Sequence[str] | None = None,
              unknown: str = "raise") -> EventLog:
    """Checks and converts an event log (see :func:`aggregate` for the arguments)."""
    events = _frames.as_pandas(events, "events")
    if unknown not in ("raise", "ignore"):
        raise ValueError(f"unknown must be 'raise' or 'ignore', got {unknown!r}")
    for role, col in (("contact", contact), ("timestamp", timestamp), ("type", type)):
        if col not in events:
            raise KeyError(f"events has no column '{col}' ({role}); columns: {list(events.columns)}")
    if category is not None and category not in events:
        raise KeyError(f"events has no column '{category}' (category); pass category=None if there is none")
    now_ns, ignore_later = reference_date(now, as_of)
    event_ids = _frames.ids(events[contact], contact)  # a missing contact is refused, not "unknown"
    ids = _contact_ids(contacts, event_ids, contact)
    rows, n_unknown = _map_rows(ids, event_ids)
    if n_unknown and unknown == "raise":
        example = event_ids[int(np.argmax(rows < 0))]
        raise KeyError(f"events: {n_unknown:,} events have a contact id not among the contacts, e.g. {example!r} "
                       "(pass unknown='ignore' to drop them; the count is reported)")
    ts = _frames.timestamps_ns(events[timestamp], timestamp, missing="keep")  # the engine names a NaT's row
    later = 0
    if ignore_later:  # what was not known yet at as_of: ignored as unknown contacts are, and counted
        after = (ts > now_ns) & (rows >= 0)
        later = int(np.count_nonzero(after))
        if later:
            rows = np.where(after, -1, rows)
    type_codes, type_names = _codes(events[type], type, types, allow_missing=False)
    if category is not None:
        cat_codes, cat_names = _codes(events[category], category, categories, allow_missing=True)
    else:
        cat_codes, cat_names = np.empty(0, dtype=np.int32), []
    return EventLog(ids, np.ascontiguousarray(rows, dtype=np.int64), ts, type_codes, cat_codes, type_names,
                    cat_names, int(n_unknown), now_ns, later)


def aggregate(events: pd.DataFrame, contacts=None, *, now=None, as_of=None, half_life_days: float = 30.0,
              contact: str = "contact_id", timestamp: str = "timestamp", type: str = "type",
              category: str | None = "category", types: Sequence[str] | None = None,
              categories: Sequence[str] | None = None, unknown: str = "raise",
              progress: bool | None = False) -> pd.DataFrame:
    """Per-contact behaviour features of an event log.

    Parameters
    ----------
    events : DataFrame with a contact id, a timestamp, an event type and
        (optionally) a product category column, in any order.
    contacts : the contacts to align the result with — a ContactTable (its
        ids), a DataFrame (its ``contact`` column) or an array of ids; by
        default the distinct ids of the events, sorted. Contacts without events
        get zero counts, NaN recency and NaT first/last seen (never a dropped row).
    now : the reference date; an event after it is an error.
    as_of : instead of ``now``, the date of a snapshot: features as they
        were known then — recency and decay count from ``as_of``, and events
        after it are ignored (their number is in
        ``result.attrs["later_events"]``). Give exactly one of the two.
    half_life_days : decay of the time-weighted counts (> 0).
    types, categories : fixed vocabularies (default: the column's categories,
        or its sorted distinct values).
    unknown : events whose contact is not in ``contacts``: ``"raise"``
        (KeyError) or ``"ignore"`` (dropped; their number is in
        ``result.attrs["unknown_events"]``).
    progress : bars over the events, as they are grouped by contact then
        aggregated (True; None: when stderr is a terminal; False, the
        default: none). Ctrl-C stops the aggregation in any case
        (KeyboardInterrupt).

    Returns
    -------
    DataFrame indexed by contact id: ``first_seen``, ``last_seen``,
    ``recency_days``, ``n_events``, ``active_days``, ``n_<type>`` and
    ``decayed_<type>`` per event type, ``appetence_<category>`` per category.
    """
    half_life_days = check_float(half_life_days, "half_life_days", min_value=0.0, strict_min=True)
    log = event_log(events, contacts, now=now, as_of=as_of, contact=contact, timestamp=timestamp, type=type,
                    category=category, types=types, categories=categories, unknown=unknown)
    with engine_bar(progress) as bar:
        out = _core.aggregate_events(**log.core_args(), n_rows=len(log.contact_ids), now_ns=log.now_ns,
                                     half_life_days=half_life_days, n_threads=resolve_threads(),
                                     progress=bar.report if bar.enabled else None)
    return _frame(log, out, contact)


def engine_bar(progress: bool | None) -> EngineBar:
    """The bars of an engine call over an event log, one per stage, in events
    (off when ``progress`` says so: its engine callback is then None)."""
    return EngineBar(unit="event", enabled=shown(progress))


def _frame(log: EventLog, out: dict, contact: str) -> pd.DataFrame:
    first, last = out["first_seen"], out["last_seen"]
    seen = last != MISSING_TIMESTAMP
    recency = np.full(len(last), np.nan)
    recency[seen] = (log.now_ns - last[seen]) / _NS_PER_DAY
    counts = out["counts"]
    index = pd.Index(log.contact_ids, name=contact)
    head = pd.DataFrame({
        "first_seen": first.view("datetime64[ns]"),
        "last_seen": last.view("datetime64[ns]"),
        "recency_days": recency,
        "n_events": counts.sum(axis=1),
        "active_days": out["active_days"],
    }, index=index)
    # The engine's n x k outputs become one block each, without a copy: a
    # frame built column by column from them would gather strided columns.
    blocks = [(counts, "n_", log.type_names), (out["decayed_types"], "decayed_", log.type_names),
              (out["decayed_categories"], "appetence_", log.category_names)]
    parts = [pd.DataFrame(a, index=index, columns=[f"{p}{t}" for t in names], copy=False)
             for a, p, names in blocks if len(names)]
    names = list(head.columns) + [c for part in parts for c in part.columns]
    if len(set(names)) == len(names):
        df = pd.concat([head] + parts, axis=1)
    else:  # a type named "events" gives "n_events" twice: the later one wins, in place, as in a dict
        cols = dict(head.items())
        for part in parts:
            cols.update(part.items())
        df = pd.DataFrame(cols, index=index)
    df.attrs["unknown_events"] = log.unknown
    df.attrs["later_events"] = log.later
    return df


def behaviour_features(agg: pd.DataFrame) -> pd.DataFrame:
    """Model-ready behaviour columns from the output of :func:`aggregate`.

    The decayed counts and appetences are heavy-tailed, so they enter as
    ``log1p``; ``recency_days`` stays as it is (NaN for a contact never seen,
    which :class:`twinscore.LogisticScorer` imputes by the mean) and
    ``active_days`` as ``log1p``.

    Parameters
    ----------
    agg : DataFrame returned by :func:`aggregate`.

    Returns
    -------
    DataFrame with the same index: one float column per decayed count and
    appetence, ``recency_days`` and ``active_days``.
    """
    decayed = [c for c in agg.columns if c.startswith(("decayed_", "appetence_"))]
    out = np.log1p(agg[decayed])
    out["recency_days"] = agg["recency_days"]  # NaN (never seen) -> mean imputation in the scorer
    out["active_days"] = np.log1p(agg["active_days"].astype(np.float64))
    return out


def _vocabulary(values: pd.Series, given: Sequence[str] | None) -> list[str] | None:
    """A column's vocabulary, fixed once so every snapshot has the same columns."""
    if given is not None:
        return [str(v) for v in given]
    return _codes(values, str(values.name), None, allow_missing=True)[1]


def snapshots(events: pd.DataFrame, contacts=None, *, cutoffs, horizon, target, half_life_days: float = 30.0,
              contact: str = "contact_id", timestamp: str = "timestamp", type: str = "type",
              category: str | None = "category", types: Sequence[str] | None = None,
              categories: Sequence[str] | None = None, exclude_converted: bool = True,
              observed_until=None, unknown: str = "raise") -> pd.DataFrame:
    """A training table without leakage: features as of each cutoff, the label from the window after it.

    For each cutoff, the contacts' features are :func:`aggregate`'s as of the
    cutoff (later events ignored), and the label says whether the contact had
    a ``target`` event in (cutoff, cutoff + horizon]. Contacts who already
    had a target event at or before the cutoff are left out
    (``exclude_converted``): a conversion model learns from prospects. Each
    cutoff's window must be observed to its end (``observed_until``, by
    default the latest event), else labels would be missing conversions.

    Parameters
    ----------
    events : DataFrame
        The event log, as :func:`aggregate` reads it.
    contacts : optional
        The contacts (as :func:`aggregate`; default: the ids in the events).
    cutoffs : sequence of dates
        The snapshot dates (any order; each gives one block of rows).
    horizon : str or Timedelta
        The label window after each cutoff ("30D", ``pd.Timedelta(weeks=4)``), > 0.
    target : str or sequence of str
        The event type(s) that count as a conversion ("purchase").
    exclude_converted : bool
        Leave out contacts with a target event at or before the cutoff.
    observed_until : date, optional
        The end of the observed log (default: its latest event).
    half_life_days, contact, timestamp, type, category, types, categories, unknown
        As :func:`aggregate` (the vocabularies are fixed once, so every
        cutoff has the same columns).

    Returns
    -------
    DataFrame
        One row per contact and cutoff: ``cutoff``, the contact id, the
        features, ``label`` (0/1 int8).

    Raises
    ------
    ValueError
        No cutoff, a horizon <= 0, a window that ends after
        ``observed_until``, a target type absent from the vocabulary.
    KeyError
        A column missing from ``events``.
    """
    events = _frames.as_pandas(events, "events")
    for role, col in (("contact", contact), ("timestamp", timestamp), ("type", type)):
        if col not in events:
            raise KeyError(f"events has no column '{col}' ({role}); columns: {list(events.columns)}")
    cutoffs = [_frames.timestamp(c, "cutoffs") for c in (cutoffs if not isinstance(cutoffs, (str, pd.Timestamp))
                                                         else [cutoffs])]
    if not cutoffs:
        raise ValueError("cutoffs is empty")
    try:
        horizon = pd.Timedelta(horizon)
    except (TypeError, ValueError):
        raise ValueError(f"horizon must be a duration such as '30D', got {horizon!r}") from None
    if not horizon > pd.Timedelta(0):
        raise ValueError(f"horizon must be > 0, got {horizon}")
    targets = [target] if isinstance(target, str) else [str(t) for t in target]
    type_names = _vocabulary(events[type], types)
    missing_targets = [t for t in targets if t not in type_names]
    if missing_targets:
        raise ValueError(f"target types {missing_targets} are not event types (types: {type_names})")
    cat_names = _vocabulary(events[category], categories) if category is not None and category in events else None
    ts = _frames.timestamps_ns(events[timestamp], timestamp, missing="keep")
    end = _frames.timestamp(observed_until, "observed_until").value if observed_until is not None else int(ts.max())
    late = [c for c in cutoffs if c.value + horizon.value > end]
    if late:
        raise ValueError(f"the label window of cutoff {late[0]} ends at {late[0] + horizon}, after the end of the "
                         f"observed log ({pd.Timestamp(end)}): its labels would miss conversions")
    is_target = events[type].astype(str).isin(targets).to_numpy() if not isinstance(
        events[type].dtype, pd.CategoricalDtype) else events[type].isin(targets).to_numpy()
    target_ids, target_ts = events[contact].to_numpy()[is_target], ts[is_target]
    blocks = []
    for cut in cutoffs:  # a loop over the few snapshot dates, each one vectorised
        feats = aggregate(events, contacts, as_of=cut, half_life_days=half_life_days, contact=contact,
                          timestamp=timestamp, type=type, category=category, types=type_names,
                          categories=cat_names, unknown=unknown)
        ids = feats.index
        in_window = (target_ts > cut.value) & (target_ts <= cut.value + horizon.value)
        label = ids.isin(pd.unique(target_ids[in_window])).astype(np.int8)
        block = feats.reset_index()
        block.insert(0, "cutoff", cut)
        block["label"] = label
        if exclude_converted:
            before = ids.isin(pd.unique(target_ids[target_ts <= cut.value]))
            block = block[~before]
        blocks.append(block)
    out = pd.concat(blocks, ignore_index=True)
    out.attrs["horizon"] = str(horizon)
    return out


# Why an open or a click is taken for a machine's (the reason column's categories).
MACHINE_REASONS = ["flagged by the sender", "open right after the send", "click right after the send", "click burst"]


def _within(value, name: str):
    if value is None:
        return None
    try:
        t = pd.Timedelta(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a duration such as '10s' or None, got {value!r}") from None
    if not t > pd.Timedelta(0):
        raise ValueError(f"{name} must be > 0 (None turns the rule off), got {t}")
    return t.value


def machine_activity(events: pd.DataFrame, *, contact: str = "contact_id", timestamp: str = "timestamp",
                     type: str = "type", campaign: str | None = None, flagged: str | None = None,
                     names: dict | None = None, open_within="10s", click_within="10s",
                     burst_clicks: int | None = 3, burst_within="5s") -> pd.DataFrame:
    """Opens and clicks made by machines, not people, to leave out before they feed scores and KPIs.

    Privacy proxies fetch every message (and its tracking pixel) as it is
    delivered, and mail security gateways follow every link within seconds:
    both look like engagement and are not. An open or a click is flagged when

    - the sender already flagged it (``flagged``: a boolean column, e.g. the
      e-mail platform's "machine open" or proxy mark);
    - an open comes within ``open_within`` of the latest send to the same
      contact (of the same campaign with ``campaign``);
    - a click comes within ``click_within`` of that send;
    - ``burst_clicks`` clicks or more of one contact fall within
      ``burst_within`` (every link clicked at once): all of them.

    Each rule is off with None. Events are read in any order.

    Parameters
    ----------
    events : DataFrame
        The event log (contact, timestamp, type; optionally campaign and a flag).
    names : dict, optional
        The log's types for send, open and click (default email_send,
        email_open, email_click).

    Returns
    -------
    DataFrame
        Aligned with ``events`` (same index): ``machine`` (bool) and
        ``reason`` (categorical, the first rule that applies, in the order
        above; missing when not flagged). ``attrs["flagged"]`` counts the
        flagged opens and clicks by reason, ``attrs["opens"]`` and
        ``attrs["clicks"]`` the totals. Keep the people's activity with
        ``events[~result["machine"]]``.

    Raises
    ------
    KeyError
        A named column missing.
    ValueError
        A duration <= 0 or not a duration, ``burst_clicks`` < 2, a missing
        timestamp, a flag column that is not boolean.
    """
    kinds = {"send": "email_send", "open": "email_open", "click": "email_click", **(names or {})}
    events = _frames.as_pandas(events, "events")
    open_ns, click_ns = _within(open_within, "open_within"), _within(click_within, "click_within")
    burst_ns = _within(burst_within, "burst_within") if burst_clicks is not None else None
    if burst_clicks is not None:
        burst_clicks = int(burst_clicks)
        if burst_clicks < 2:
            raise ValueError(f"burst_clicks must be >= 2 (None turns the rule off), got {burst_clicks}")
    who = _frames.ids(_frames.column(events, contact, "contact", "events"), contact)
    time = _frames.timestamps_ns(_frames.column(events, timestamp, "timestamp", "events"), timestamp)
    kind = _frames.column(events, type, "type", "events").astype("string").to_numpy(dtype=object, na_value="")
    group = pd.factorize(who)[0] if campaign is None else pd.factorize(
        pd.MultiIndex.from_arrays([who, _frames.column(events, campaign, "campaign", "events")]))[0]
    contact_code = pd.factorize(who)[0]
    is_send, is_open, is_click = (kind == kinds["send"]), (kind == kinds["open"]), (kind == kinds["click"])
    n = len(time)
    reason = np.full(n, -1, dtype=np.int8)

    def mark(mask, code):
        reason[(reason < 0) & mask] = code

    if flagged is not None:
        flag = _frames.column(events, flagged, "flagged", "events")
        if not pd.api.types.is_bool_dtype(flag.dtype):
            raise ValueError(f"flagged column {flagged!r} must be boolean, got {flag.dtype}")
        mark(flag.fillna(False).to_numpy(dtype=bool) & (is_open | is_click), 0)
    if open_ns is not None or click_ns is not None:
        # Time since the latest send to the same contact (and campaign): sends
        # carried forward over each group's events in time order.
        order = np.lexsort((~is_send, time, group))  # at equal times a send comes first
        last = pd.Series(np.where(is_send[order], time[order], np.nan)).groupby(group[order]).ffill().to_numpy()
        since = np.full(n, np.inf)
        since[order] = time[order] - last
        if open_ns is not None:
            mark(is_open & (since <= open_ns), 1)
        if click_ns is not None:
            mark(is_click & (since <= click_ns), 2)
    if burst_ns is not None:
        clicks = np.flatnonzero(is_click)
        order = clicks[np.lexsort((time[clicks], contact_code[clicks]))]
        k = burst_clicks - 1
        if len(order) > k:
            head, tail = order[:-k], order[k:]
            start = np.flatnonzero((contact_code[head] == contact_code[tail]) & (time[tail] - time[head] <= burst_ns))
            cover = np.zeros(len(order) + 1, dtype=np.int64)
            np.add.at(cover, start, 1)
            np.add.at(cover, start + burst_clicks, -1)
            mark(np.isin(np.arange(n), order[np.cumsum(cover)[:-1] > 0]), 3)
    out = pd.DataFrame({"machine": reason >= 0,
                        "reason": pd.Categorical.from_codes(reason, categories=MACHINE_REASONS)}, index=events.index)
    counts = np.bincount(reason[reason >= 0], minlength=len(MACHINE_REASONS))
    out.attrs["flagged"] = dict(zip(MACHINE_REASONS, counts.tolist()))
    out.attrs["opens"], out.attrs["clicks"] = int(is_open.sum()), int(is_click.sum())
    return out
