"""The contact plan: e-mail, SMS, postal mailing, phone — or nothing — for each
contact, by its potential, under the channels' capacities and budgets.

Contacting a contact through a channel converts it with probability
``min(1, p * uplift)`` and earns ``value``, at the channel's ``cost``. The C++
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
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import _core
from ._config import resolve_threads
from ._validation import as_vector, check_float

__all__ = ["Channel", "ContactPlan", "contact_plan"]


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
    """The plan: per contact ``channel`` (name or "none"), conversion
    probability and expected profit (``contacts``); per channel contacts,
    cost, expected conversions, revenue, profit and ROI (``summary``)."""

    contacts: pd.DataFrame
    summary: pd.DataFrame
    budget: float

    def __repr__(self) -> str:
        tot = self.summary.loc["total"]
        return (f"ContactPlan({int(tot['contacts']):,} contacted, cost {tot['cost']:,.2f}, "
                f"{tot['conversions']:,.1f} expected conversions, profit {tot['profit']:,.2f}, ROI {tot['roi']:.2f})")

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.contact_plan(self)


def contact_plan(p, value, channels, *, budget: float | None = None, allowed=None, index=None,
                 n_threads: int | None = None) -> ContactPlan:
    """Assign each contact the channel (or none) that maximises expected profit.

    Parameters
    ----------
    p : conversion probability of each contact without contact pressure
        scaled by the channel (in [0, 1]).
    value : expected value of a conversion (basket or lifetime value, >= 0).
    channels : list of :class:`Channel` (or dicts with its fields, or a
        DataFrame with those columns).
    budget : overall spend at most (None: unlimited). A budget below every
        cost gives an empty plan, not an error.
    allowed : optional eligibility — a dict {channel: boolean per contact}
        (e.g. e-mail only to the opted-in) or an (n, channels) boolean array.
    index : labels of the contacts (default: p's index, or 0..n-1).
    n_threads : threads of the engine call (None: the ``threads(n)`` block
        around the call, else the process default).
    """
    chans = _channels(channels)
    if index is None and isinstance(p, pd.Series):
        index = p.index
    p = as_vector(p, "p")
    n = len(p)
    if n == 0:
        raise ValueError("p is empty")
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"p must be in [0, 1], got a value at position {int(np.argmax((p < 0) | (p > 1)))}")
    value = as_vector(value, "value", n)
    if (value < 0).any():
        raise ValueError(f"value must be >= 0, got a negative value at position {int(np.argmax(value < 0))}")
    total = math.inf if budget is None else check_float(budget, "budget", min_value=0.0)
    mask = _allowed(allowed, chans, n)
    names = [c.name for c in chans]
    ch, profit = _core.contact_plan(
        p, value, mask, names, [float(c.cost) for c in chans], [float(c.uplift) for c in chans],
        [-1 if c.capacity is None else int(c.capacity) for c in chans],
        [math.inf if c.budget is None else float(c.budget) for c in chans], total,
        n_threads=resolve_threads(n_threads))
    return _report(p, value, ch, profit, chans, total, index)


def _report(p, value, ch, profit, chans, total, index) -> ContactPlan:
    k = len(chans)
    cost = np.array([c.cost for c in chans] + [0.0])
    uplift = np.array([c.uplift for c in chans] + [0.0])
    slot = np.where(ch < 0, k, ch)  # "none" last
    conv = np.minimum(1.0, p * uplift[slot])
    contacts = pd.DataFrame({
        "channel": pd.Categorical.from_codes(slot, [c.name for c in chans] + ["none"]),
        "p_convert": conv, "value": value, "cost": cost[slot], "profit": profit,
    }, index=index)
    n_by = np.bincount(slot, minlength=k + 1)[:k]
    spent = n_by * cost[:k]
    conversions = np.bincount(slot, weights=conv, minlength=k + 1)[:k]
    revenue = np.bincount(slot, weights=conv * value, minlength=k + 1)[:k]
    summary = pd.DataFrame({"contacts": n_by, "cost": spent, "conversions": conversions, "revenue": revenue},
                           index=pd.Index([c.name for c in chans], name="channel"))
    summary.loc["total"] = summary.sum()
    summary["contacts"] = summary["contacts"].astype(np.int64)
    summary["profit"] = summary["revenue"] - summary["cost"]
    summary["roi"] = np.where(summary["cost"] > 0, summary["profit"] / summary["cost"].where(summary["cost"] > 0, 1),
                              np.nan)
    return ContactPlan(contacts=contacts, summary=summary, budget=total)
