"""Relationship KPIs as tidy tables, by period and, when asked, by segment.

Periods are pandas period aliases (``freq="M"`` month, ``"Q"``, ``"Y"``); a
``by`` argument is a Series mapping each contact id to its segment (e.g.
``rfm(...)["segment"]``), adding a segment column. Contacts absent from ``by``
fall in segment NaN and are dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import check_int
from . import _frames

__all__ = ["fill_rates", "funnel", "activation_rate", "email", "client_value"]

_FREQS = {"M": "M", "Q": "Q", "Y": "Y", "W": "W", "D": "D"}


def _freq(freq: str) -> str:
    if freq not in _FREQS:
        raise ValueError(f"freq must be one of {sorted(_FREQS)}, got {freq!r}")
    return _FREQS[freq]


def _periods(time_ns: np.ndarray, freq: str) -> pd.PeriodIndex:
    return pd.PeriodIndex(pd.DatetimeIndex(time_ns.view("datetime64[ns]")), freq=_freq(freq))


def _segments(ids: np.ndarray, by: pd.Series | None):
    if by is None:
        return None
    if not isinstance(by, pd.Series):
        raise TypeError(f"by must be a Series mapping contact id to segment, got {type(by).__name__}")
    if not by.index.is_unique:
        raise ValueError("by has duplicate contacts in its index")
    return by.reindex(ids).to_numpy()


def fill_rates(table) -> pd.DataFrame:
    """Filled count and rate of every field of a contact table (ContactTable or DataFrame)."""
    from .table import ContactTable

    if isinstance(table, ContactTable):
        rates = table.fill_rates()
        n = len(table)
        return pd.DataFrame({"field": rates.index, "filled": np.rint(rates.to_numpy() * n).astype(np.int64),
                             "rate": rates.to_numpy()})
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a ContactTable or a DataFrame, got {type(table).__name__}")
    if len(table) == 0:
        raise ValueError("table is empty")
    filled = table.notna().sum()
    # An empty string or an empty category list is no more filled than a null.
    for c in table.columns:
        s = table[c]
        if pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
            filled[c] -= int((s.astype("string").str.len() == 0).sum())
    return pd.DataFrame({"field": filled.index, "filled": filled.to_numpy(dtype=np.int64),
                         "rate": filled.to_numpy(dtype=np.float64) / len(table)})


def funnel(contacts: pd.DataFrame, *, stages: dict[str, str], start, end, by: str | None = None) -> pd.DataFrame:
    """Stage-to-stage conversion of the contacts who entered the first stage in [start, end).

    ``stages`` maps each stage name (in funnel order, e.g. suspect, prospect,
    client) to the column holding the date the contact reached it (NaT =
    never). A contact counts at a stage when it reached it before ``end``.
    ``by`` names a column of ``contacts`` to split the funnel by.
    """
    if not isinstance(stages, dict) or len(stages) < 2:
        raise ValueError("stages must map at least two stage names to date columns")
    start, end = _frames.timestamp(start, "start"), _frames.timestamp(end, "end")
    if end <= start:
        raise ValueError("end must be after start")
    reached, first = {}, None
    for stage, col in stages.items():  # a missing date: the stage was never reached
        t = _frames.timestamps_ns(_frames.column(contacts, col, f"stage {stage!r}", "contacts"), col, missing="keep")
        reached[stage] = (t != _frames.MISSING_TIMESTAMP) & (t < end.value)
        first = t if first is None else first
    cohort = (first != _frames.MISSING_TIMESTAMP) & (first >= start.value) & (first < end.value)
    frame = pd.DataFrame({s: r & cohort for s, r in reached.items()})
    # A later stage implies the earlier ones (a client was a prospect).
    names = list(stages)
    for i in range(len(names) - 2, -1, -1):
        frame[names[i]] |= frame[names[i + 1]] & cohort
    keys = [_frames.column(contacts, by, "by", "contacts").to_numpy()] if by is not None else []
    counts = frame.groupby(keys, observed=True).sum() if keys else frame.sum().to_frame().T
    rows = []
    for key, row in counts.iterrows():  # segments x stages: a handful of rows
        for i, s in enumerate(names):
            prev = row[names[i - 1]] if i else row[s]
            rows.append({**({"segment": key} if by is not None else {}), "stage": s, "contacts": int(row[s]),
                         "rate_from_previous": row[s] / prev if prev else np.nan,
                         "rate_from_first": row[s] / row[names[0]] if row[names[0]] else np.nan})
    return pd.DataFrame(rows)


def activation_rate(prospects: pd.DataFrame, events: pd.DataFrame, *, contact: str, timestamp: str, type: str,
                    start, end, significant=("newsletter_signup", "form_fill"), by: pd.Series | None = None,
                    freq: str | None = None) -> pd.DataFrame:
    """Share of prospects who took a significant step (an event of ``significant``) in [start, end).

    ``prospects`` is the prospect table (its ``contact`` column is the
    denominator); with ``freq``, one row per period.
    """
    start, end = _frames.timestamp(start, "start"), _frames.timestamp(end, "end")
    if end <= start:
        raise ValueError("end must be after start")
    if isinstance(significant, str):
        significant = (significant,)
    base = pd.Index(_frames.column(prospects, contact, "contact", "prospects").unique())
    if len(base) == 0:
        raise ValueError("prospects is empty")
    ids = _frames.column(events, contact, "contact", "events").to_numpy()
    time = _frames.timestamps_ns(_frames.column(events, timestamp, "timestamp", "events"), timestamp)
    hit = (_frames.column(events, type, "type", "events").isin(list(significant)).to_numpy() & (time >= start.value)
           & (time < end.value) & (base.get_indexer(ids) >= 0))
    act = pd.DataFrame({"contact": ids[hit]})
    act["period"] = _periods(time[hit], freq) if freq else f"{start.date()}..{end.date()}"
    base_seg = _segments(base.to_numpy(), by)
    keys = ["period"]
    if by is not None:
        act["segment"] = _segments(act["contact"].to_numpy(), by)
        keys.append("segment")
    active = act.drop_duplicates(["contact", *keys]).groupby(keys, observed=True).size().rename("activated")
    out = active.reset_index()
    if by is not None:
        sizes = pd.Series(base_seg).value_counts()
        out["prospects"] = out["segment"].map(sizes).to_numpy()
    else:
        out["prospects"] = len(base)
    out["activation_rate"] = out["activated"] / out["prospects"]
    return out


def email(events: pd.DataFrame, *, contact: str, timestamp: str, type: str, freq: str = "M",
          by: pd.Series | None = None, names: dict | None = None) -> pd.DataFrame:
    """E-mail KPIs per period: deliverability, open, click, reactivity (clicks / opens), unsubscribe.

    Counts are of events (sends, bounces, unsubscribes) and of distinct
    contacts (openers, clickers). Rates: deliverability = (sent - bounced) /
    sent; open_rate = openers / delivered; click_rate = clickers / delivered;
    reactivity = clickers / openers; unsubscribe_rate = unsubscribes /
    delivered. ``names`` maps send, bounce, open, click, unsubscribe to the
    log's event types (defaults: email_send, email_bounce, email_open,
    email_click, unsubscribe; a type absent from the log counts 0).
    """
    kinds = {"send": "email_send", "bounce": "email_bounce", "open": "email_open", "click": "email_click",
             "unsubscribe": "unsubscribe", **(names or {})}
    ids = _frames.column(events, contact, "contact", "events").to_numpy()
    time = _frames.timestamps_ns(_frames.column(events, timestamp, "timestamp", "events"), timestamp)
    kind_s = _frames.column(events, type, "type", "events")
    keep = kind_s.isin(list(kinds.values())).to_numpy()
    label = {v: k for k, v in kinds.items()}
    # Periods as int64 ordinals while grouping (Period objects group slowly).
    frame = pd.DataFrame({"contact": ids[keep], "period": _periods(time[keep], freq).asi8,
                          "kind": np.asarray(kind_s[keep].map(label), dtype=object)})
    keys = ["period"]
    if by is not None:
        frame["segment"] = _segments(frame["contact"].to_numpy(), by)
        keys.append("segment")
    events_n = frame.groupby([*keys, "kind"], observed=True).size().unstack("kind")
    people_n = frame.drop_duplicates().groupby([*keys, "kind"], observed=True).size().unstack("kind")

    def col(table, k):
        return table[k] if k in table.columns else pd.Series(0, index=table.index)

    sent = col(events_n, "send").fillna(0)
    if not (sent > 0).any():
        raise ValueError(f"no send event ({kinds['send']!r}) in the log: e-mail rates need sends")
    delivered = sent - col(events_n, "bounce").fillna(0)
    out = pd.DataFrame({
        "sent": sent, "delivered": delivered,
        "openers": col(people_n, "open").fillna(0), "clickers": col(people_n, "click").fillna(0),
        "unsubscribes": col(events_n, "unsubscribe").fillna(0),
    })
    with np.errstate(divide="ignore", invalid="ignore"):
        out["deliverability"] = out["delivered"] / out["sent"]
        out["open_rate"] = out["openers"] / out["delivered"]
        out["click_rate"] = out["clickers"] / out["delivered"]
        out["reactivity"] = out["clickers"] / out["openers"]
        out["unsubscribe_rate"] = out["unsubscribes"] / out["delivered"]
    out = out.replace([np.inf, -np.inf], np.nan).reset_index()
    out["period"] = pd.PeriodIndex.from_ordinals(out["period"].to_numpy(), freq=_freq(freq))
    return out.astype({c: "int64" for c in ("sent", "delivered", "openers", "clickers",
                                                          "unsubscribes")})


def client_value(transactions: pd.DataFrame, *, customer: str, date: str, amount: str, freq: str = "M",
                 inactive_days: int = 365, by: pd.Series | None = None) -> pd.DataFrame:
    """Per period: active clients, orders, revenue, average basket, ARPU, retention and inactive rates.

    - active_clients: clients with a purchase in the period; known_clients:
      clients whose first purchase is on or before the period's end.
    - average_basket = revenue / orders; arpu = revenue / known_clients
      (revenue per client of the base, not per buyer).
    - retention_rate: share of the previous period's active clients active
      again in this one (NaN for the first period).
    - inactive_rate: share of known clients whose last purchase up to the
      period's end is more than ``inactive_days`` before it.

    With ``by``, every segment has a row for every period of the whole log,
    from its first to its last period: a segment whose clients stopped buying
    keeps its later periods (0 orders, its inactive rate rising); periods
    before a segment's first client have no known client (rates NaN).
    """
    inactive_days = check_int(inactive_days, "inactive_days", min_value=1)
    ids = _frames.column(transactions, customer, "customer", "transactions").to_numpy()
    time = _frames.timestamps_ns(_frames.column(transactions, date, "date", "transactions"), date)
    amt = _frames.column(transactions, amount, "amount", "transactions").to_numpy(dtype=np.float64, na_value=np.nan)
    if len(ids) == 0:
        raise ValueError("transactions is empty")
    if not np.isfinite(amt).all():
        raise ValueError(f"amount column {amount!r} holds a non-finite value at row {int(np.argmax(~np.isfinite(amt)))}")
    period = _periods(time, freq)
    frame = pd.DataFrame({"client": ids, "period": period, "amount": amt, "time": time})
    seg = _segments(ids, by)
    groups = [("all", frame)] if by is None else [(s, frame[seg == s]) for s in pd.unique(seg[pd.notna(seg)])]
    # Every segment over the whole log's periods: a segment whose clients
    # stopped buying keeps its later rows (no orders, a rising inactive rate).
    periods = pd.period_range(period.min(), period.max(), freq=period.freq)
    tables = [_value_table(g, inactive_days, periods).assign(segment=s) for s, g in groups if len(g)]
    out = pd.concat(tables, ignore_index=True)
    if by is None:
        out = out.drop(columns="segment")
    return out


def _value_table(frame: pd.DataFrame, inactive_days: int, all_periods: pd.PeriodIndex) -> pd.DataFrame:
    per = frame.groupby("period").agg(orders=("amount", "size"), revenue=("amount", "sum"),
                                      active_clients=("client", "nunique"))
    per = per.reindex(all_periods, fill_value=0)
    ends = all_periods.end_time.as_unit("ns").asi8
    # Known and inactive clients at each period end, from each client's purchase times.
    first = frame.groupby("client")["time"].min().to_numpy()
    known = np.searchsorted(np.sort(first), ends, side="right")
    # Last purchase as of each end: a client is inactive at `end` when its last purchase <= end - window,
    # i.e. it has no purchase in (end - window, end] and a first purchase <= end - window.
    window = inactive_days * 86_400 * 10**9
    active_window = np.array([frame.loc[(frame["time"] > e - window) & (frame["time"] <= e), "client"].nunique()
                              for e in ends])  # one pass per period, not per client
    per["known_clients"] = known
    per["average_basket"] = per["revenue"] / per["orders"].where(per["orders"] > 0)
    per["arpu"] = per["revenue"] / per["known_clients"].where(per["known_clients"] > 0)
    sets = frame.groupby("period")["client"].unique()
    retained = [np.nan]
    for prev, cur in zip(all_periods[:-1], all_periods[1:]):
        p = sets.get(prev, np.array([]))
        c = sets.get(cur, np.array([]))
        retained.append(np.isin(p, c).mean() if len(p) else np.nan)
    per["retention_rate"] = retained
    per["inactive_rate"] = (known - active_window) / np.where(known > 0, known, np.nan)
    return per.rename_axis("period").reset_index()
