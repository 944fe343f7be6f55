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
    return exact_profits(profits(p, v, chans), chans, budget)


def exact_profits(P, chans, budget):
    """The optimum of the profit matrix P (contacts x channels) under the limits, by scipy.optimize.milp."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n, k = P.shape
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
    (dict(p=[0.5, 1.5]), ValueError, r"p must be in \[0, 1\], got 1.5 at position 1"),
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


# -- per-channel responses, pressure rules, control groups --------------------------

def test_per_channel_probabilities_and_values_against_exact_program():
    rng = np.random.default_rng(21)
    names = [c.name for c in CHANNELS]
    for trial in range(6):
        n = 30
        p = pd.DataFrame(0.3 * rng.random((n, 3)), columns=names)[["phone", "email", "mail"]]  # any order
        v = 20 + 200 * rng.random((n, 3))
        chans = [ts.Channel(c.name, c.cost) for c in CHANNELS]
        if trial % 2:
            chans[2] = ts.Channel("phone", 6.0, capacity=3)
        budget = float(rng.uniform(10, 60))
        plan = ts.contact_plan(p, v, chans, budget=budget)
        P = p[names].to_numpy() * v - np.array([c.cost for c in chans])
        got = plan.summary.loc["total", "profit"]
        assert got <= exact_profits(P, chans, budget) + 1e-6
        if trial % 2 == 0:  # an overall budget only: the greedy's bound
            assert got >= exact_profits(P, chans, budget) - P.max() - 1e-6
        # the report reads each contact's own channel's probability and value
        rows = plan.contacts
        chosen = rows["channel"] != "none"
        k = rows["channel"].cat.codes.to_numpy()[chosen.to_numpy()]
        np.testing.assert_allclose(rows.loc[chosen, "p_convert"], p[names].to_numpy()[chosen.to_numpy(), k])
        np.testing.assert_allclose(rows.loc[chosen, "value"], v[chosen.to_numpy(), k])
    # without limits each contact takes its best channel
    p = 0.3 * rng.random((50, 3))
    v = 20 + 200 * rng.random((50, 3))
    chans = [ts.Channel(c.name, c.cost) for c in CHANNELS]
    P = p * v - np.array([c.cost for c in chans])
    best = np.where(P.max(axis=1) > 0, P.argmax(axis=1), 3)
    plan = ts.contact_plan(p, v, chans)
    assert (plan.contacts["channel"].cat.codes.to_numpy() == best).all()


def _history(rng, ids, now, n=400):
    return pd.DataFrame({"contact_id": rng.choice(ids, n), "channel": rng.choice(["email", "mail", "phone"], n),
                         "date": now - pd.to_timedelta(rng.uniform(0.1, 30, n), unit="D")})


@pytest.mark.parametrize("seed", range(5))
def test_pressure_rules_are_never_broken(seed):
    rng = np.random.default_rng(seed)
    n = 300
    ids = np.arange(n) * 7 + 3
    now = pd.Timestamp("2026-12-01")
    hist = _history(rng, ids, now)
    p = pd.Series(0.3 * rng.random(n), index=ids)
    v = 50 + 100 * rng.random(n)
    rules = [ts.PressureRule(2, "14D"), ts.PressureRule(1, "7D", channel="phone")]
    plan = ts.contact_plan(p, v, CHANNELS, history=hist, now=now, pressure=rules, min_gap="2D")
    got = plan.contacts
    recent = lambda days: hist[hist["date"] > now - pd.Timedelta(days=days)]  # noqa: E731
    all14 = recent(14).groupby("contact_id").size().reindex(ids, fill_value=0)
    phone7 = recent(7)[recent(7)["channel"] == "phone"].groupby("contact_id").size().reindex(ids, fill_value=0)
    gap = recent(2).groupby("contact_id").size().reindex(ids, fill_value=0)
    contacted = (got["channel"] != "none").to_numpy()
    assert (all14.to_numpy()[contacted] + 1 <= 2).all()
    assert (phone7.to_numpy()[(got["channel"] == "phone").to_numpy()] + 1 <= 1).all()
    assert (gap.to_numpy()[contacted] == 0).all()
    # the rules did bind, and the plan says how many they held back
    free = ts.contact_plan(p, v, CHANNELS)
    assert (free.contacts["channel"] != "none").sum() > contacted.sum()
    assert plan.held_back["2 per 14 days"] == int((all14 + 1 > 2).sum())
    assert plan.held_back["gap of 2 days"] == int((gap > 0).sum())
    assert set(plan.held_back) == {"2 per 14 days", "1 per 7 days on phone", "gap of 2 days"}


def test_control_group_is_reproducible_balanced_and_free():
    rng = np.random.default_rng(3)
    n = 20_000
    p, v = 0.3 * rng.random(n), 50 + 100 * rng.random(n)
    a = ts.contact_plan(p, v, CHANNELS, control=0.1, seed=7)
    b = ts.contact_plan(p, v, CHANNELS, control=0.1, seed=7)
    c = ts.contact_plan(p, v, CHANNELS, control=0.1, seed=8)
    pd.testing.assert_frame_equal(a.contacts, b.contacts)
    assert not a.contacts["group"].equals(c.contacts["group"])
    rows = a.contacts
    chosen = rows[rows["channel"] != "none"]
    # 10 % of every channel and decile of probability held out (to rounding)
    decile = chosen.groupby("channel", observed=True)["p_convert"].rank(method="first", pct=True).mul(10).apply(
        np.ceil)
    share = (chosen["group"] == "control").groupby([chosen["channel"], decile], observed=True).mean()
    sizes = chosen.groupby([chosen["channel"], decile], observed=True).size()
    assert (abs(share - 0.1) <= 0.5 / sizes + 1e-12).all()
    # treated and control alike: their mean probabilities within 1 % of each other, per channel
    means = chosen.groupby(["channel", "group"], observed=True)["p_convert"].mean().unstack()
    assert ((means["control"] / means["treated"] - 1).abs() < 0.01).all()
    # the control group is not contacted: no cost, no expected profit, counted apart
    ctrl = rows[rows["group"] == "control"]
    assert (ctrl["cost"] == 0).all() and (ctrl["profit"] == 0).all()
    free = ts.contact_plan(p, v, CHANNELS)
    s, f = a.summary, free.summary
    assert (s["contacts"] + s["control"]).equals(f["contacts"])
    assert s.loc["total", "cost"] == pytest.approx(f.loc["total", "cost"] - (ctrl["channel"].map(
        {c.name: c.cost for c in CHANNELS}).astype(float)).sum())


def test_pressure_and_control_bad_input():
    now = pd.Timestamp("2026-12-01")
    hist = pd.DataFrame({"contact_id": [0], "channel": ["email"], "date": [now - pd.Timedelta("1D")]})
    args = ([0.5, 0.2], [10.0, 20.0], CHANNELS)
    with pytest.raises(ValueError, match="need history"):
        ts.contact_plan(*args, pressure=[ts.PressureRule(1, "7D")])
    with pytest.raises(KeyError, match="unknown channel 'fax'"):
        ts.contact_plan(*args, history=hist, now=now, pressure=[ts.PressureRule(1, "7D", channel="fax")])
    with pytest.raises(ValueError, match="max_messages"):
        ts.contact_plan(*args, history=hist, now=now, pressure=[ts.PressureRule(0, "7D")])
    with pytest.raises(ValueError, match="after now"):
        ts.contact_plan(*args, history=hist, now=now - pd.Timedelta("3D"), min_gap="1D")
    with pytest.raises(ValueError, match="control"):
        ts.contact_plan(*args, control=0.7)
    with pytest.raises(ValueError, match="window must be a duration"):
        ts.contact_plan(*args, history=hist, now=now, pressure=[ts.PressureRule(1, "weekly")])
    with pytest.raises(ValueError, match="min_gap must be > 0"):
        ts.contact_plan(*args, history=hist, now=now, min_gap="0D")
    with pytest.raises(ValueError, match=r"\(contacts, 3 channels\)"):
        ts.contact_plan(np.full((2, 2), 0.1), [1.0, 2.0], CHANNELS)
    with pytest.raises(KeyError, match="phone"):
        ts.contact_plan(pd.DataFrame({"email": [0.1], "mail": [0.2]}), [1.0], CHANNELS)
