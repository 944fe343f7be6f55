"""Relationship KPIs as tidy tables, by period and, when asked, by segment.

Periods are pandas period aliases (``freq="M"`` month, ``"Q"``, ``"Y"``); a
``by`` argument is a Series mapping each contact id to its segment (e.g.
``rfm(...)["segment"]``), adding a segment column. Contacts absent from ``by``
fall in segment NaN and are dropped.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from ._validation import check_float, check_int
from . import _frames

__all__ = ["fill_rates", "funnel", "activation_rate", "email", "client_value", "campaign_results", "lift_interval"]

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
    seg = by.reindex(ids)
    missing = seg.isna().to_numpy()
    if missing.any():  # their rows would fall out of every segment, and out of the totals, silently
        raise ValueError(f"by gives no segment to {len(pd.unique(ids[missing])):,} contacts of the log (e.g. "
                         f"{ids[missing][0]!r}): give every contact a segment (by.reindex(ids).fillna('other'))")
    return seg.to_numpy()


def fill_rates(table) -> pd.DataFrame:
    """Filled count and rate of every field of a contact table (ContactTable or DataFrame)."""
    from .table import ContactTable

    if isinstance(table, ContactTable):
        rates = table.fill_rates()
        n = len(table)
        return pd.DataFrame({"field": rates.index, "filled": np.rint(rates.to_numpy() * n).astype(np.int64),
                             "rate": rates.to_numpy()})
    if _frames.is_frame(table):
        table = _frames.as_pandas(table, "table")
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
    ``by`` names a column of ``contacts`` to split the funnel by. Rates are
    NaN where the stage they divide by has no contact (0 / 0).
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
    base = pd.Index(pd.unique(_frames.ids(_frames.column(prospects, contact, "contact", "prospects"), contact)))
    if len(base) == 0:
        raise ValueError("prospects is empty")
    ids = _frames.ids(_frames.column(events, contact, "contact", "events"), contact)
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
          by: pd.Series | None = None, names: dict | None = None, campaign: str | None = None) -> pd.DataFrame:
    """E-mail KPIs per period: deliverability, open, click, reactivity (clicks / opens), unsubscribe.

    Counts are of events (sends, bounces, unsubscribes) and of distinct
    contacts (openers, clickers). Rates: deliverability = (sent - bounced) /
    sent; open_rate = openers / delivered; click_rate = clickers / delivered;
    reactivity = clickers / openers; unsubscribe_rate = unsubscribes /
    delivered. ``names`` maps send, bounce, open, click, unsubscribe to the
    log's event types (defaults: email_send, email_bounce, email_open,
    email_click, unsubscribe; a type absent from the log counts 0).
    ``campaign`` names the log's campaign column: one row per period and
    campaign (and segment); events without a campaign are left out.
    """
    kinds = {"send": "email_send", "bounce": "email_bounce", "open": "email_open", "click": "email_click",
             "unsubscribe": "unsubscribe", **(names or {})}
    ids = _frames.ids(_frames.column(events, contact, "contact", "events"), contact)
    time = _frames.timestamps_ns(_frames.column(events, timestamp, "timestamp", "events"), timestamp)
    kind_s = _frames.column(events, type, "type", "events")
    keep = kind_s.isin(list(kinds.values())).to_numpy()
    label = {v: k for k, v in kinds.items()}
    # Periods as int64 ordinals while grouping (Period objects group slowly).
    frame = pd.DataFrame({"contact": ids[keep], "period": _periods(time[keep], freq).asi8,
                          "kind": np.asarray(kind_s[keep].map(label), dtype=object)})
    keys = ["period"]
    if campaign is not None:
        frame["campaign"] = _frames.column(events, campaign, "campaign", "events").to_numpy()[keep]
        keys.append("campaign")
    if by is not None:
        frame["segment"] = _segments(frame["contact"].to_numpy(), by)
        keys.append("segment")
    events_n = frame.groupby([*keys, "kind"], observed=True).size().unstack("kind")
    people_n = frame.drop_duplicates().groupby([*keys, "kind"], observed=True).size().unstack("kind")

    def col(table, k):
        return table[k] if k in table.columns else pd.Series(0, index=table.index)

    sent = col(events_n, "send").fillna(0)
    if not (sent > 0).any():
        raise ValueError(f"no send event ({kinds['send']!r}) in the type column {type!r}: e-mail rates need sends")
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
    ids = _frames.ids(_frames.column(transactions, customer, "customer", "transactions"), customer)
    time = _frames.timestamps_ns(_frames.column(transactions, date, "date", "transactions"), date)
    amt = _frames.amounts(_frames.column(transactions, amount, "amount", "transactions"), amount)
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


# ---------------------------------------------------------------- campaigns

def lift_interval(x_t, n_t, x_c, n_c, confidence: float = 0.95):
    """Newcombe's hybrid score interval of the difference of two proportions, x_t/n_t - x_c/n_c.

    Each proportion's Wilson score interval, combined (Newcombe 1998, method
    10): accurate for small counts and rates near 0 or 1, where the Wald
    interval is not. Vectorised over arrays; a group of size 0 gives NaN.
    """
    confidence = check_float(confidence, "confidence", min_value=0.0, strict_min=True, max_value=1.0 - 1e-12)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    x_t, n_t, x_c, n_c = (np.asarray(v, dtype=np.float64) for v in (x_t, n_t, x_c, n_c))
    for name, x, n in (("x_t", x_t, n_t), ("x_c", x_c, n_c)):  # a count above its group's size is no proportion
        if not np.all((x >= 0) & (x <= n)):
            raise ValueError(f"{name} must be counts between 0 and the group size n_{name[-1]}, got {x} of {n}")

    def wilson(x, n):
        with np.errstate(divide="ignore", invalid="ignore"):
            p = x / n
            center = (p + z * z / (2 * n)) / (1 + z * z / n)
            half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return p, center - half, center + half

    p1, l1, u1 = wilson(x_t, n_t)
    p2, l2, u2 = wilson(x_c, n_c)
    d = p1 - p2
    return d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def _treated(values: pd.Series, group: str) -> np.ndarray:
    """The group column as booleans: True/False, 1/0, or "treated"/"control"."""
    if pd.api.types.is_bool_dtype(values.dtype) and not values.isna().any():
        return values.to_numpy(dtype=bool)
    text = values.astype("string").str.strip().str.lower()
    known = text.isin(["treated", "control", "true", "false", "1", "0"])
    if not known.all():
        bad = values[~known.to_numpy()].iloc[0]
        raise ValueError(f"group column {group!r}: {bad!r} is neither treated nor control (use True/False, 1/0 "
                         "or 'treated'/'control')")
    return text.isin(["treated", "true", "1"]).to_numpy()


def _costs(targets: pd.DataFrame, cost, treated: np.ndarray, channel: str | None) -> np.ndarray:
    """Each target row's cost: a column, a cost per channel, or one per contact; 0 for the control group."""
    if isinstance(cost, str):
        c = _frames.column(targets, cost, "cost", "targets").to_numpy(dtype=np.float64, na_value=np.nan)
    elif isinstance(cost, dict):
        if channel is None:
            raise ValueError("cost per channel needs channel= (the channel column)")
        ch = targets[channel].astype("string")
        unknown = sorted(set(ch[treated].dropna()) - set(map(str, cost)))
        if unknown:
            raise KeyError(f"cost has no entry for the channels {unknown}")
        c = ch.map({str(k): float(v) for k, v in cost.items()}).to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        c = np.full(len(targets), float(cost))
    c = np.where(treated, c, 0.0)
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError("cost must be finite and >= 0 for every treated contact")
    return c


def campaign_results(targets: pd.DataFrame, transactions: pd.DataFrame, *, contact: str = "contact_id",
                     campaign: str = "campaign", group: str = "group", sent: str = "sent_at",
                     customer: str | None = None, date: str = "date", amount: str | None = "amount",
                     window="30D", channel: str | None = None, cost=None, confidence: float = 0.95) -> pd.DataFrame:
    """What each campaign earned: conversions and revenue of the treated against the control group.

    Each row of ``targets`` is one contact chosen for one campaign, either
    contacted (treated) or held out (control), with the date it was sent (or
    would have been). A contact converts when it buys in the window
    (sent, sent + ``window``]; its revenue is what it spent there. The
    control group tells what the treated would have done anyway, so the lift
    (the difference of the conversion rates, with Newcombe's interval) and
    the incremental revenue are what the campaign caused.

    Parameters
    ----------
    targets : DataFrame
        One row per (contact, campaign): ``contact``, ``campaign``,
        ``group`` (True/False, 1/0 or "treated"/"control"), ``sent`` (a
        date), and optionally ``channel`` and a cost column.
    transactions : DataFrame
        Purchases: ``customer`` (default: the ``contact`` name), ``date``,
        ``amount`` (None: conversions only).
    window : str or Timedelta
        How long after the send a purchase counts ("30D"), > 0.
    channel : str, optional
        Results per campaign and channel; control rows then carry the channel
        they were held out from.
    cost : str, dict, float, optional
        The cost of contacting: a column of ``targets``, a cost per contact
        by channel ({"email": 0.01, "phone": 4.0}), or one cost per contact.
        The control group costs nothing.
    confidence : float
        Of the lift's interval (0.5..0.999).

    Returns
    -------
    DataFrame
        One row per campaign (and channel): treated, control (contacts),
        treated_conversions, control_conversions, treated_rate, control_rate,
        lift (treated_rate - control_rate), lift_low, lift_high,
        relative_lift (lift / control_rate), incremental_conversions (lift x
        treated); with ``amount``: treated_revenue, control_revenue,
        revenue_per_treated, revenue_per_control, incremental_revenue; with
        ``cost``: cost, roi ((incremental_revenue - cost) / cost, NaN when
        the cost is 0). A campaign without a control group has NaN lift
        columns: nothing measures what it caused; relative_lift is NaN where
        the control group converted none (0 / 0 or x / 0).

    Raises
    ------
    KeyError
        A column missing from either table.
    ValueError
        A (contact, campaign) pair twice, a group value that is neither
        treated nor control, a missing send date, a window <= 0, a cost < 0,
        a negative or missing amount.
    """
    if not 0.5 <= float(confidence) <= 0.999:
        raise ValueError(f"confidence must be in [0.5, 0.999], got {confidence}")
    try:
        window = pd.Timedelta(window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be a duration such as '30D', got {window!r}") from None
    if not window > pd.Timedelta(0):
        raise ValueError(f"window must be > 0, got {window}")
    ids = _frames.ids(_frames.column(targets, contact, "contact", "targets"), contact)
    camp = _frames.column(targets, campaign, "campaign", "targets")
    treated = _treated(_frames.column(targets, group, "group", "targets"), group)
    sent_ns = _frames.timestamps_ns(_frames.column(targets, sent, "sent", "targets"), sent)
    keys = pd.DataFrame({"contact": ids, "campaign": camp.to_numpy()})
    if keys.duplicated().any():
        first = keys[keys.duplicated()].iloc[0]
        raise ValueError(f"targets: contact {first['contact']!r} appears twice in campaign {first['campaign']!r}")
    by = ["campaign"]
    rows = pd.DataFrame({"campaign": camp.to_numpy(), "treated": treated})
    if channel is not None:
        ch = _frames.column(targets, channel, "channel", "targets")
        if ch.isna().any():
            raise ValueError(f"channel column {channel!r} is missing for some targets: give the control "
                             "contacts the channel they were held out from")
        rows["channel"] = ch.to_numpy()
        by.append("channel")
    customer = contact if customer is None else customer
    buyer = _frames.ids(_frames.column(transactions, customer, "customer", "transactions"), customer)
    _frames.same_id_kind(ids, contact, buyer, customer)
    bought = _frames.timestamps_ns(_frames.column(transactions, date, "date", "transactions"), date)
    spent = _frames.amounts(_frames.column(transactions, amount, "amount", "transactions"), amount) \
        if amount is not None else np.zeros(len(buyer))
    if (~np.isfinite(spent) | (spent < 0)).any():
        raise ValueError(f"amount column {amount!r} holds a missing or negative value")
    # Each target's purchases in its window: one join on the contact, vectorised.
    pairs = pd.DataFrame({"row": np.arange(len(ids)), "contact": ids, "sent": sent_ns}).merge(
        pd.DataFrame({"contact": buyer, "bought": bought, "spent": spent}), on="contact", how="inner")
    inside = pairs[(pairs["bought"] > pairs["sent"]) & (pairs["bought"] <= pairs["sent"] + window.value)]
    per_row = inside.groupby("row")["spent"].agg(["size", "sum"])
    rows["converted"] = np.zeros(len(ids), dtype=np.int64)
    rows["revenue"] = np.zeros(len(ids))
    rows.loc[per_row.index, "converted"] = 1
    rows.loc[per_row.index, "revenue"] = per_row["sum"].to_numpy()
    if cost is not None:
        rows["cost"] = _costs(targets, cost, treated, channel)
    return _campaign_table(rows, by, amount is not None, cost is not None, confidence)


def _campaign_table(rows: pd.DataFrame, by: list[str], revenue: bool, costed: bool, confidence: float):
    agg = {"contacts": ("converted", "size"), "conversions": ("converted", "sum"), "revenue": ("revenue", "sum")}
    if costed:
        agg["cost"] = ("cost", "sum")
    g = rows.groupby([*by, "treated"], sort=True, observed=True).agg(**agg).unstack("treated", fill_value=0)

    def side(name, is_treated):
        return g[(name, is_treated)] if (name, is_treated) in g.columns else pd.Series(0, index=g.index)

    n_t, n_c = side("contacts", True).astype(np.int64), side("contacts", False).astype(np.int64)
    x_t, x_c = side("conversions", True).astype(np.int64), side("conversions", False).astype(np.int64)
    out = pd.DataFrame({"treated": n_t, "control": n_c, "treated_conversions": x_t, "control_conversions": x_c})
    with np.errstate(divide="ignore", invalid="ignore"):
        out["treated_rate"] = x_t / n_t
        out["control_rate"] = x_c / n_c
        out["lift"] = out["treated_rate"] - out["control_rate"]
        out["lift_low"], out["lift_high"] = lift_interval(x_t, n_t, x_c, n_c, confidence)
        out["relative_lift"] = out["lift"] / out["control_rate"]
        out["incremental_conversions"] = out["lift"] * n_t
        if revenue:
            out["treated_revenue"] = side("revenue", True)
            out["control_revenue"] = side("revenue", False)
            out["revenue_per_treated"] = out["treated_revenue"] / n_t
            out["revenue_per_control"] = out["control_revenue"] / n_c
            out["incremental_revenue"] = (out["revenue_per_treated"] - out["revenue_per_control"]) * n_t
        if costed:
            out["cost"] = side("cost", True)
            if revenue:
                out["roi"] = (out["incremental_revenue"] - out["cost"]) / out["cost"]
    out = out.replace([np.inf, -np.inf], np.nan)
    return out.reset_index()
