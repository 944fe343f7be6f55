"""The contact plan and the contact table, drawn: cost and expected profit per
channel (with the contacts), profit against the budget, fill rates.

The numbers are :attr:`twinscore.ContactPlan.summary` rows (one plan, or one
plan per budget) and :meth:`twinscore.ContactTable.fill_rates`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import COLORS, axes, frame, percent_axis

__all__ = ["plan_channels", "profit_vs_budget", "fill_rates"]


def _summary(plan) -> pd.DataFrame:
    if not hasattr(plan, "summary"):
        raise TypeError(f"plan must be a twinscore ContactPlan, got {type(plan).__name__}")
    return frame(plan.summary, "plan.summary", ["contacts", "cost", "profit"])


def plan_channels(plan, *, ax=None):
    """Per channel: cost and expected profit, with the contacts under each pair.

    The rows of ``plan.summary`` (the total row left out).

    Parameters
    ----------
    plan : ContactPlan
        The result of :func:`twinscore.contact_plan`.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    s = _summary(plan).drop(index="total", errors="ignore")
    x = np.arange(len(s))
    ax = axes(ax)
    cost = ax.bar(x - 0.2, s["cost"].to_numpy(), width=0.4, color=COLORS["ref"], label="cost")
    profit = ax.bar(x + 0.2, s["profit"].to_numpy(), width=0.4, color=COLORS["good"], label="expected profit")
    ax.bar_label(cost, labels=[f"{v:,.0f}" for v in s["cost"]], fontsize=7, padding=2)
    ax.bar_label(profit, labels=[f"{v:,.0f}" for v in s["profit"]], fontsize=7, padding=2)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x, labels=[f"{ch}\n{int(n):,} contacts" for ch, n in zip(s.index, s["contacts"])])
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.set_xlabel("channel")
    ax.set_ylabel("amount (currency)")
    ax.set_title("Contact plan by channel")
    ax.legend(frameon=False)
    return ax


def profit_vs_budget(plans, *, ax=None):
    """Expected profit and cost of the plans made under several budgets.

    Each point is one plan's ``summary`` total: where the next euro stops
    paying.

    Parameters
    ----------
    plans : list of ContactPlan
        One plan per budget, e.g.
        ``[ts.contact_plan(p, value, channels, budget=b) for b in budgets]``
        (each with a finite budget).
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    if not isinstance(plans, (list, tuple)) or not plans:
        raise ValueError("plans must be a non-empty list of ContactPlan, one per budget")
    totals = pd.DataFrame([_summary(p).loc["total"] for p in plans])
    budget = np.array([p.budget for p in plans], dtype=np.float64)
    if not np.isfinite(budget).all():
        raise ValueError("every plan needs a finite budget (contact_plan(..., budget=...))")
    order = np.argsort(budget, kind="stable")
    budget, totals = budget[order], totals.iloc[order]
    ax = axes(ax)
    ax.plot(budget, totals["profit"].to_numpy(), marker="o", color=COLORS["good"], label="expected profit")
    ax.plot(budget, totals["cost"].to_numpy(), marker=".", linestyle="--", color=COLORS["ref"], label="cost spent")
    best = int(np.argmax(totals["profit"].to_numpy()))
    ax.annotate(f"best: {totals['profit'].iloc[best]:,.0f}", (budget[best], totals["profit"].iloc[best]),
                textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    ax.set_xlabel("budget")
    ax.set_ylabel("amount (currency)")
    ax.set_title("Expected profit vs budget")
    ax.legend(frameon=False)
    return ax


def fill_rates(table, *, ax=None):
    """Share of rows where each field is filled, from :meth:`ContactTable.fill_rates`.

    Parameters
    ----------
    table : ContactTable
        The contacts.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.
    """
    if not hasattr(table, "fill_rates"):
        raise TypeError(f"table must be a twinscore ContactTable, got {type(table).__name__}")
    rates = table.fill_rates().iloc[::-1]
    ax = axes(ax, figsize=(6.4, 0.32 * len(rates) + 1.4))
    bars = ax.barh(np.arange(len(rates)), rates.to_numpy(),
                   color=np.where(rates.to_numpy() >= 0.8, COLORS["main"], COLORS["second"]))
    ax.bar_label(bars, labels=[f"{v:.0%}" for v in rates], fontsize=8, padding=2)
    ax.set_yticks(np.arange(len(rates)), labels=list(rates.index))
    ax.set_xlim(0, 1.1)
    percent_axis(ax.xaxis)
    ax.set_xlabel("rows where the field is filled")
    ax.set_ylabel("field")
    ax.set_title(f"Fill rates ({len(table):,} rows)")
    return ax
