import itertools

import numpy as np
import pandas as pd
import pytest

import twinscore as ts

CHANNELS = [ts.Channel("email", 0.2, 1.0), ts.Channel("mail", 1.5, 1.4), ts.Channel("phone", 6.0, 2.2)]


def profits(p, v, chans):
    return np.stack([np.minimum(1, p * c.uplift) * v - c.cost for c in chans], axis=1)


def exact(p, v, chans, budget):
    """The optimum by an integer program (scipy.optimize.milp)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n, k = len(p), len(chans)
    P = profits(p, v, chans)
    cost = np.array([c.cost for c in chans])
    rows, lo, hi = [], [], []
    one = np.zeros((n, n * k))
    for i in range(n):
        one[i, i * k:(i + 1) * k] = 1
    rows.append(one), lo.append(np.zeros(n)), hi.append(np.ones(n))
    rows.append(np.tile(cost, n)[None]), lo.append([0]), hi.append([budget])
    for j, c in enumerate(chans):
        m = np.zeros((1, n * k))
        m[0, j::k] = 1
        if c.capacity is not None:
            rows.append(m), lo.append([0]), hi.append([c.capacity])
        if c.budget is not None:
            rows.append(m * c.cost), lo.append([0]), hi.append([c.budget])
    cons = LinearConstraint(np.vstack(rows), np.concatenate(lo), np.concatenate(hi))
    res = milp(-P.ravel(), constraints=cons, integrality=np.ones(n * k), bounds=Bounds(0, 1))
    return -res.fun


@pytest.mark.parametrize("seed", range(8))
def test_greedy_against_exact_program(seed):
    pytest.importorskip("scipy")
    rng = np.random.default_rng(seed)
    n = 40
    p, v = 0.25 * rng.random(n), 20 + 200 * rng.random(n)
    budget = float(rng.uniform(5, 80))
    plan = ts.contact_plan(p, v, CHANNELS, budget=budget)
    got = plan.summary.loc["total", "profit"]
    opt = exact(p, v, CHANNELS, budget)
    assert got <= opt + 1e-6
    # The stated bound with an overall budget only.
    assert got >= opt - profits(p, v, CHANNELS).max() - 1e-6
    assert plan.summary.loc["total", "cost"] <= budget + 1e-9
    # With per-channel limits: feasible, and reported against the optimum.
    chans = [CHANNELS[0], ts.Channel("mail", 1.5, 1.4, budget=6.0), ts.Channel("phone", 6.0, 2.2, capacity=2)]
    plan = ts.contact_plan(p, v, chans, budget=budget)
    s = plan.summary
    assert s.loc["phone", "contacts"] <= 2 and s.loc["mail", "cost"] <= 6.0 + 1e-9
    assert s.loc["total", "profit"] <= exact(p, v, chans, budget) + 1e-6


def test_brute_force_small():
    rng = np.random.default_rng(11)
    for _ in range(20):
        n = 5
        p, v = 0.3 * rng.random(n), 10 + 100 * rng.random(n)
        budget = float(rng.uniform(1, 15))
        P = profits(p, v, CHANNELS)
        cost = np.array([c.cost for c in CHANNELS] + [0])
        best = 0.0
        for a in itertools.product(range(4), repeat=n):
            a = np.array(a)
            if cost[a].sum() <= budget:
                best = max(best, sum(P[i, a[i]] for i in range(n) if a[i] < 3))
        got = ts.contact_plan(p, v, CHANNELS, budget=budget).summary.loc["total", "profit"]
        assert best - P.max() - 1e-9 <= got <= best + 1e-9


def test_report_and_eligibility():
    p = np.array([0.5, 0.05, 0.2, 0.0, 0.3])
    v = np.array([100, 100, 10, 50, 80.0])
    plan = ts.contact_plan(pd.Series(p, index=list("abcde")), v, CHANNELS,
                           allowed={"phone": [True, False, True, True, True]})
    c = plan.contacts
    assert list(c.index) == list("abcde")
    assert c.loc["a", "channel"] == "phone"
    assert c.loc["b", "channel"] != "phone"
    assert c.loc["d", "channel"] == "none"
    s = plan.summary
    assert s.loc["total", "contacts"] == (c["channel"] != "none").sum()
    assert s.loc["total", "profit"] == pytest.approx(c["profit"].sum())
    assert s.loc["phone", "conversions"] == pytest.approx(c.loc[c["channel"] == "phone", "p_convert"].sum())
    assert s.loc["phone", "roi"] == pytest.approx(s.loc["phone", "profit"] / s.loc["phone", "cost"])


def test_budget_too_small_is_an_empty_plan():
    plan = ts.contact_plan([0.5, 0.4], [100, 100], CHANNELS, budget=0.1)
    assert (plan.contacts["channel"] == "none").all()
    assert plan.summary.loc["total", "contacts"] == 0


def test_threads_identical(restore_threads):
    rng = np.random.default_rng(5)
    n = 60_000
    p, v = 0.1 * rng.random(n), 50 * rng.random(n)
    chans = [ts.Channel("email", 0.05), ts.Channel("mail", 0.9, 1.5, capacity=3000), ts.Channel("phone", 4, 2.5,
                                                                                               budget=2000.0)]
    out = []
    for t in (1, 2):
        with ts.threads(t):
            out.append(ts.contact_plan(p, v, chans, budget=5000.0).contacts)
    pd.testing.assert_frame_equal(out[0], out[1])


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(channels=[ts.Channel("email", -1.0)]), ValueError, "email.*cost"),
    (dict(channels=[ts.Channel("email", 1.0, uplift=-2)]), ValueError, "uplift"),
    (dict(channels=[ts.Channel("email", 1.0, capacity=-3)]), ValueError, "capacity"),
    (dict(channels=[]), ValueError, "channels"),
    (dict(channels=[ts.Channel("a", 1.0), ts.Channel("a", 2.0)]), ValueError, "unique"),
    (dict(budget=-1.0), ValueError, "budget"),
    (dict(p=[0.5, 1.5]), ValueError, "p must be in"),
    (dict(p=[0.5, np.nan]), ValueError, "p holds"),
    (dict(value=[1.0]), ValueError, "value has 1"),
    (dict(value=[1.0, -1.0]), ValueError, "value must be"),
    (dict(allowed={"fax": [1, 1]}), KeyError, "fax"),
])
def test_bad_input(kwargs, exc, match):
    args = dict(p=[0.5, 0.2], value=[10.0, 20.0], channels=CHANNELS)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        ts.contact_plan(args.pop("p"), args.pop("value"), args.pop("channels"), **args)
