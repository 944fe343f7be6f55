"""The contact plan: e-mail, SMS, postal mailing, phone — or nothing — for each
contact, by its potential, under the channels' capacities and budgets, the
brand's pressure rules, with a control group to measure what it earns.

Contacting a contact through a channel converts it with probability
``min(1, p * uplift)`` and earns ``value``, at the channel's ``cost``; ``p``
and ``value`` are one per contact, or one per contact and channel (each
channel's own response model and basket). Pressure rules turn a contact
history into eligibility: at most N messages per contact in a window (over
all channels or one), a minimum gap since the last message. The C++
engine assigns channels greedily by marginal return (extra expected profit
per extra cost, switching a contact to a better channel when that pays) while
the limits allow. How far from the optimum: with only an overall budget, the
plan's profit is at least the optimum minus the largest single expected
profit of one contact (the greedy takes the LP relaxation's solution but for
one contact); with per-channel capacities or budgets there is no such bound,
and the tests compare it with an exact integer program on small cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import _core
from ._config import resolve_threads
from ._validation import as_vector, check_float

__all__ = ["Channel", "ContactPlan", "PressureRule", "contact_plan"]


@dataclass(frozen=True)
class Channel:
    """A contact channel: cost per contact, uplift factor on the conversion
    probability, and optional capacity (contacts) and budget (spend)."""

    name: str
    cost: float
    uplift: float = 1.0
    capacity: int | None = None
    budget: float | None = None


def _channels(channels) -> list[Channel]:
    if isinstance(channels, pd.DataFrame):
        channels = channels.to_dict("records")
    if not isinstance(channels, (list, tuple)) or not channels:
        raise ValueError("channels must be a non-empty list of Channel or dicts")
    out = []
    for ch in channels:
        if isinstance(ch, dict):
            try:
                ch = Channel(**{k: v for k, v in ch.items() if not (isinstance(v, float) and math.isnan(v))})
            except TypeError as exc:
                raise TypeError(f"channel {ch!r}: {exc}") from None
        if not isinstance(ch, Channel):
            raise TypeError(f"channels must be Channel or dicts, got {type(ch).__name__}")
        if not isinstance(ch.name, str) or not ch.name:
            raise ValueError(f"channel names must be non-empty strings, got {ch.name!r}")
        check_float(ch.cost, f"channel '{ch.name}': cost", min_value=0.0)
        check_float(ch.uplift, f"channel '{ch.name}': uplift", min_value=0.0)
        if ch.capacity is not None and (isinstance(ch.capacity, bool) or int(ch.capacity) != ch.capacity
                                        or ch.capacity < 0):
            raise ValueError(f"channel '{ch.name}': capacity must be an integer >= 0, got {ch.capacity}")
        if ch.budget is not None:
            check_float(ch.budget, f"channel '{ch.name}': budget", min_value=0.0)
        out.append(ch)
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ValueError(f"channel names must be unique, got {names}")
    return out


@dataclass(frozen=True)
class PressureRule:
    """At most ``max_messages`` messages per contact in the ``window`` before
    the plan's date, over all channels (``channel=None``) or on one; the
    planned message counts as one."""

    max_messages: int
    window: str | pd.Timedelta
    channel: str | None = None


def _span(t: pd.Timedelta) -> str:
    """A window as it reads: "14 days", "12:00:00"."""
    days = t / pd.Timedelta(days=1)
    return f"{days:g} day{'s' if days != 1 else ''}" if days == int(days) else str(t)


def _duration(value, what: str) -> pd.Timedelta:
    """A window or gap (> 0) such as "7D", with the argument named when it is not one."""
    try:
        t = pd.Timedelta(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a duration such as '7D', got {value!r}") from None
    if not t > pd.Timedelta(0):
        raise ValueError(f"{what} must be > 0, got {t}")
    return t


def _pressure_mask(history, rules, min_gap, now, ids, names: list[str],
                   columns: tuple[str, str, str]) -> tuple[np.ndarray, dict]:
    """(n, channels) eligibility left by the pressure rules, and how many contacts each rule held back."""
    from . import _frames  # history columns read as every other table's

    contact, channel, date = columns
    n, k = len(ids), len(names)
    ok = np.ones((n, k), dtype=bool)
    held = {}
    when = _frames.timestamps_ns(_frames.column(history, date, "date", "history"), date)
    now_ns = _frames.timestamp(now, "now").value
    if (when > now_ns).any():
        raise ValueError(f"history holds a message after now ({pd.Timestamp(now_ns)})")
    who = pd.Index(ids).get_indexer(_frames.ids(_frames.column(history, contact, "contact", "history"), contact))
    via = _frames.column(history, channel, "channel", "history").astype("string").to_numpy(dtype=object,
                                                                                            na_value="")
    for r in rules:
        if not isinstance(r, PressureRule):
            raise TypeError(f"pressure rules must be PressureRule, got {type(r).__name__}")
        if isinstance(r.max_messages, bool) or int(r.max_messages) != r.max_messages or r.max_messages < 1:
            raise ValueError(f"pressure rule {r}: max_messages must be an integer >= 1")
        window = _duration(r.window, f"pressure rule {r}: window")
        if r.channel is not None and r.channel not in names:
            raise KeyError(f"pressure rule names an unknown channel {r.channel!r} (channels: {names})")
        recent = (who >= 0) & (when > now_ns - window.value)
        if r.channel is not None:
            recent &= via == r.channel
        full = np.bincount(who[recent], minlength=n) + 1 > r.max_messages
        cols = slice(None) if r.channel is None else names.index(r.channel)
        ok[full, cols] = False
        held[f"{r.max_messages} per {_span(window)}" + (f" on {r.channel}" if r.channel else "")] = int(full.sum())
    if min_gap is not None:
        gap = _duration(min_gap, "min_gap")
        near = np.bincount(who[(who >= 0) & (when > now_ns - gap.value)], minlength=n) > 0
        ok[near, :] = False
        held[f"gap of {_span(gap)}"] = int(near.sum())
    return ok, held


def _matrix(x, name: str, names: list[str], n: int | None):
    """A per-contact vector, or a per-contact-and-channel matrix (array or DataFrame by channel name)."""
    if isinstance(x, pd.DataFrame):
        missing = [c for c in names if c not in x.columns]
        if missing:
            raise KeyError(f"{name} lacks columns for the channels {missing} (it has {list(x.columns)})")
        x = x[names].to_numpy(dtype=np.float64, na_value=np.nan)
    if np.ndim(x) <= 1 or isinstance(x, (pd.Series, pd.Index)):
        return as_vector(x, name, n), False
    m = np.asarray(x)
    if m.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {m.dtype}")
    if m.ndim != 2 or m.shape[1] != len(names) or (n is not None and m.shape[0] != n):
        raise ValueError(f"{name} must be one value per contact or (contacts, {len(names)} channels), "
                         f"got shape {m.shape}")
    m = np.ascontiguousarray(m, dtype=np.float64)
    bad = ~np.isfinite(m)
    if bad.any():
        raise ValueError(f"{name} holds a non-finite value at position {int(np.argmax(bad.ravel()))}")
    return m, True


def _where(bad: np.ndarray, names: list[str]) -> str:
    """Where the first bad value is: "position i", or "row i, channel name" in a per-channel matrix."""
    first = int(np.argmax(bad.ravel()))
    if bad.ndim == 1:
        return f"position {first}"
    return f"row {first // bad.shape[1]}, channel {names[first % bad.shape[1]]!r}"


def _allowed(allowed, channels: list[Channel], n: int) -> np.ndarray:
    if allowed is None:
        return np.zeros(0, dtype=np.uint8)
    names = [c.name for c in channels]
    if isinstance(allowed, dict):
        unknown = [k for k in allowed if k not in names]
        if unknown:
            raise KeyError(f"allowed names unknown channels {unknown} (channels: {names})")
        m = np.ones((n, len(names)), dtype=np.uint8)
        for k, v in allowed.items():
            m[:, names.index(k)] = as_vector(v, f"allowed['{k}']", n, dtype=np.float64) != 0
        return np.ascontiguousarray(m)
    m = np.asarray(allowed)
    if m.shape != (n, len(names)):
        raise ValueError(f"allowed must have shape ({n}, {len(names)}), got {m.shape}")
    return np.ascontiguousarray(m != 0, dtype=np.uint8)


@dataclass
class ContactPlan:
    """The plan: per contact ``channel`` (name or "none"), ``group``
    ("treated", "control" — chosen, then held out to measure — or "none"),
    conversion probability and expected profit (``contacts``); per channel
    contacts, control contacts, cost, expected conversions, revenue, profit
    and ROI of the treated (``summary``); ``held_back``: how many contacts
    each pressure rule kept from a channel."""

    contacts: pd.DataFrame
    summary: pd.DataFrame
    budget: float
    held_back: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        tot = self.summary.loc["total"]
        control = f", {int(tot['control']):,} held out" if tot["control"] else ""
        return (f"ContactPlan({int(tot['contacts']):,} contacted{control}, cost {tot['cost']:,.2f}, "
                f"{tot['conversions']:,.1f} expected conversions, profit {tot['profit']:,.2f}, ROI {tot['roi']:.2f})")

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.contact_plan(self)


def contact_plan(p, value, channels, *, budget: float | None = None, allowed=None, index=None,
                 history: pd.DataFrame | None = None, now=None, pressure=(), min_gap=None,
                 history_columns: tuple[str, str, str] = ("contact_id", "channel", "date"),
                 control: float = 0.0, seed: int = 0, n_threads: int | None = None) -> ContactPlan:
    """Assign each contact the channel (or none) that maximises expected profit.

    Parameters
    ----------
    p : conversion probability of each contact (in [0, 1]) — one per contact,
        scaled by each channel's ``uplift``, or one per contact and channel:
        an (n, channels) array, or a DataFrame with a column per channel name.
    value : expected value of a conversion (basket or lifetime value, >= 0),
        one per contact or one per contact and channel, as ``p``.
    channels : list of :class:`Channel` (or dicts with its fields, or a
        DataFrame with those columns).
    budget : overall spend at most (None: unlimited). A budget below every
        cost gives an empty plan, not an error.
    allowed : optional eligibility — a dict {channel: boolean per contact}
        (e.g. e-mail only to the opted-in) or an (n, channels) boolean array.
    index : labels of the contacts, their ids (default: p's index, or 0..n-1).
    history : past messages, one row per message (``history_columns``:
        contact id, channel, date), for the pressure rules.
    now : the plan's date (required with ``history``).
    pressure : :class:`PressureRule` list: at most N messages per contact in
        a window, over all channels or on one.
    min_gap : no message to a contact contacted less than this before ``now``
        ("2D").
    control : share of the chosen contacts held out as a control group (0 to
        0.5), drawn within each channel and decile of conversion probability
        so that it looks like the treated; they are not contacted and cost
        nothing, and their channel says what they would have received.
    seed : the control group's draw (the same seed, the same group).
    n_threads : threads of the engine call (None: the ``threads(n)`` block
        around the call, else the process default).
    """
    chans = _channels(channels)
    names = [c.name for c in chans]
    if index is None and isinstance(p, (pd.Series, pd.DataFrame)):
        index = p.index
    p, p_wide = _matrix(p, "p", names, None)
    n = len(p)
    if n == 0:
        raise ValueError("p is empty")
    bad = ~((p >= 0) & (p <= 1))
    if bad.any():
        raise ValueError(f"p must be in [0, 1], got {p[bad].flat[0]} at {_where(bad, names)}")
    value, v_wide = _matrix(value, "value", names, n)
    bad = ~(np.isfinite(value) & (value >= 0))
    if bad.any():
        raise ValueError(f"value must be >= 0, got {value[bad].flat[0]} at {_where(bad, names)}")
    total = math.inf if budget is None else check_float(budget, "budget", min_value=0.0)
    control = check_float(control, "control", min_value=0.0, max_value=0.5)
    mask = _allowed(allowed, chans, n)
    held = {}
    if history is not None or pressure or min_gap is not None:
        if history is None or now is None:
            raise ValueError("pressure rules and min_gap need history= (past messages) and now=")
        ids = np.asarray(index) if index is not None else np.arange(n)
        ok, held = _pressure_mask(history, list(pressure), min_gap, now, ids, names, history_columns)
        mask = np.ascontiguousarray((mask.reshape(n, len(names)) != 0 if mask.size else True) & ok, dtype=np.uint8)
    ch, profit = _core.contact_plan(
        p.ravel(), value.ravel(), mask.ravel(), names, [float(c.cost) for c in chans],
        [float(c.uplift) for c in chans], [-1 if c.capacity is None else int(c.capacity) for c in chans],
        [math.inf if c.budget is None else float(c.budget) for c in chans], total, p_per_channel=p_wide,
        value_per_channel=v_wide, n_threads=resolve_threads(n_threads))
    plan = _report(p, value, ch, profit, chans, total, index, _control_group(p, ch, control, seed))
    plan.held_back = held
    return plan


def _control_group(p: np.ndarray, ch: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Held-out flags: ``share`` of each (channel, decile of p) stratum of the chosen contacts, drawn by seed."""
    held = np.zeros(len(ch), dtype=bool)
    chosen = np.flatnonzero(ch >= 0)
    if share == 0 or len(chosen) == 0:
        return held
    prob = p[chosen, ch[chosen]] if p.ndim == 2 else p[chosen]
    frame = pd.DataFrame({"ch": ch[chosen], "p": prob})
    frame["decile"] = frame.groupby("ch")["p"].rank(method="first", pct=True).mul(10).apply(np.ceil)
    frame["draw"] = np.random.default_rng(seed).random(len(chosen))
    group = frame.groupby(["ch", "decile"])
    rank = group["draw"].rank(method="first")
    quota = np.round(group["draw"].transform("size") * share)
    held[chosen[(rank <= quota).to_numpy()]] = True
    return held


def _report(p, value, ch, profit, chans, total, index, held) -> ContactPlan:
    k = len(chans)
    n = len(ch)
    cost = np.array([c.cost for c in chans] + [0.0])
    uplift = np.array([c.uplift for c in chans] + [0.0])
    slot = np.where(ch < 0, k, ch)  # "none" last
    rows = np.arange(n)
    base_p = np.column_stack([p, np.zeros(n)])[rows, slot] if p.ndim == 2 else p
    base_v = np.column_stack([value, np.zeros(n)])[rows, slot] if value.ndim == 2 else value
    conv = np.minimum(1.0, base_p * uplift[slot])
    group = np.where(ch < 0, 2, np.where(held, 1, 0))
    contacts = pd.DataFrame({
        "channel": pd.Categorical.from_codes(slot, [c.name for c in chans] + ["none"]),
        "group": pd.Categorical.from_codes(group, ["treated", "control", "none"]),
        "p_convert": conv, "value": base_v, "cost": np.where(held, 0.0, cost[slot]),
        "profit": np.where(held, 0.0, profit),
    }, index=index)
    treated = slot.copy()
    treated[held] = k  # the control group is not contacted
    n_by = np.bincount(treated, minlength=k + 1)[:k]
    spent = n_by * cost[:k]
    conversions = np.bincount(treated, weights=conv, minlength=k + 1)[:k]
    revenue = np.bincount(treated, weights=conv * base_v, minlength=k + 1)[:k]
    summary = pd.DataFrame({"contacts": n_by, "control": np.bincount(slot[held], minlength=k + 1)[:k],
                            "cost": spent, "conversions": conversions, "revenue": revenue},
                           index=pd.Index([c.name for c in chans], name="channel"))
    summary.loc["total"] = summary.sum()
    summary["contacts"] = summary["contacts"].astype(np.int64)
    summary["control"] = summary["control"].astype(np.int64)
    summary["profit"] = summary["revenue"] - summary["cost"]
    summary["roi"] = np.where(summary["cost"] > 0, summary["profit"] / summary["cost"].where(summary["cost"] > 0, 1),
                              np.nan)
    return ContactPlan(contacts=contacts, summary=summary, budget=total)
