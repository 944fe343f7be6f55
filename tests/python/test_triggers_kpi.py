import numpy as np
import pandas as pd
import pytest

import twinscore as ts

D = pd.Timestamp


def _tx():
    return pd.DataFrame({
        "client": [1, 1, 2, 3, 3, 4],
        "date": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-02-28", "2024-01-10", "2024-06-01",
                                "2024-05-31"]),
        "amount": [10.0, 20.0, 5.0, 7.0, 3.0, 100.0],
    })


def test_inactivity_fires_once_when_crossing():
    tx = _tx()
    # 90 days after 2024-03-01 is 2024-05-30; after 2024-02-28 is 2024-05-28.
    fired = ts.triggers.inactivity(tx, customer="client", date="date", days=90, since="2024-05-29",
                                   until="2024-05-30")
    assert fired.columns.tolist() == ["contact", "trigger", "date"]
    assert fired["contact"].tolist() == [1]
    assert fired["date"].iloc[0] == D("2024-05-30")
    week = ts.triggers.inactivity(tx, customer="client", date="date", days=90, since="2024-05-20",
                                  until="2024-05-31")
    assert sorted(week["contact"]) == [1, 2]  # client 3 crossed on 2024-04-09, outside the window
    with pytest.raises(ValueError, match="before since"):
        ts.triggers.inactivity(tx, customer="client", date="date", days=90, since="2024-06-01", until="2024-05-01")
    with pytest.raises(ValueError, match="days"):
        ts.triggers.inactivity(tx, customer="client", date="date", days=0, since="2024-05-01", until="2024-06-01")


def test_form_filled_and_score_crossed():
    ev = pd.DataFrame({"c": [1, 2, 2, 3], "t": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 09:00",
                                                               "2024-01-02 08:00", "2024-01-02 12:00"]),
                       "k": ["form_fill", "form_fill", "form_fill", "page_view"]})
    fired = ts.triggers.form_filled(ev, contact="c", timestamp="t", type="k", since="2024-01-02",
                                    until="2024-01-03")
    assert fired["contact"].tolist() == [2]
    assert fired["date"].iloc[0] == D("2024-01-02 08:00")
    before = pd.Series([0.2, 0.6, 0.4, 0.1], index=["a", "b", "c", "d"])
    after = pd.Series([0.7, 0.4, 0.5, np.nan], index=["a", "b", "c", "d"])
    up = ts.triggers.score_crossed(before, after, threshold=0.5, date="2024-01-03")
    assert up["contact"].tolist() == ["a", "c"]
    down = ts.triggers.score_crossed(before, after, threshold=0.5, date="2024-01-03", direction="down")
    assert down["contact"].tolist() == ["b"]
    with pytest.raises(KeyError, match="nope"):
        ts.triggers.form_filled(ev, contact="nope", timestamp="t", type="k", since="2024-01-01", until="2024-01-02")
    with pytest.raises(TypeError, match="before"):
        ts.triggers.score_crossed([0.1], after, threshold=0.5, date="2024-01-01")


def test_fill_rates():
    df = pd.DataFrame({"email": ["a@x", None, "", "b@y"], "age": [30, np.nan, 40, 50]})
    out = ts.kpi.fill_rates(df)
    assert out.set_index("field")["filled"].to_dict() == {"email": 2, "age": 3}
    assert out.set_index("field")["rate"].to_dict() == {"email": 0.5, "age": 0.75}
    with pytest.raises(ValueError, match="empty"):
        ts.kpi.fill_rates(df.iloc[:0])


def test_funnel_hand_computed():
    c = pd.DataFrame({
        "suspect": pd.to_datetime(["2024-01-05", "2024-01-10", "2024-01-20", "2024-02-15", "2024-01-02"]),
        "prospect": pd.to_datetime(["2024-01-06", "2024-01-12", None, "2024-02-16", "2024-03-01"]),
        "client": pd.to_datetime(["2024-01-20", None, None, None, None]),
        "channel": ["web", "web", "shop", "web", "shop"],
    })
    out = ts.kpi.funnel(c, stages={"suspect": "suspect", "prospect": "prospect", "client": "client"},
                        start="2024-01-01", end="2024-02-01")
    assert out["contacts"].tolist() == [4, 2, 1]  # the 5th became a prospect after the end
    assert out["rate_from_previous"].tolist() == [1.0, 0.5, 0.5]
    by = ts.kpi.funnel(c, stages={"suspect": "suspect", "prospect": "prospect", "client": "client"},
                       start="2024-01-01", end="2024-02-01", by="channel")
    assert by.query("segment == 'shop'")["contacts"].tolist() == [2, 0, 0]


def test_activation_and_email_hand_computed():
    prospects = pd.DataFrame({"id": [1, 2, 3, 4]})
    ev = pd.DataFrame({
        "id": [1, 1, 2, 3, 3, 3, 4, 4, 1],
        "t": pd.to_datetime(["2024-01-03"] * 8 + ["2024-02-03"]),
        "k": ["email_send", "email_open", "email_send", "email_send", "email_open", "email_click",
              "email_send", "email_bounce", "newsletter_signup"],
    })
    act = ts.kpi.activation_rate(prospects, ev, contact="id", timestamp="t", type="k", start="2024-01-01",
                                 end="2024-03-01")
    assert act["activated"].tolist() == [1] and act["activation_rate"].tolist() == [0.25]
    em = ts.kpi.email(ev, contact="id", timestamp="t", type="k", freq="M")
    jan = em.iloc[0]
    assert (jan["sent"], jan["delivered"], jan["openers"], jan["clickers"]) == (4, 3, 2, 1)
    assert jan["open_rate"] == pytest.approx(2 / 3) and jan["reactivity"] == pytest.approx(0.5)
    seg = pd.Series(["A", "A", "B", "B"], index=[1, 2, 3, 4])
    by = ts.kpi.email(ev, contact="id", timestamp="t", type="k", freq="M", by=seg)
    assert by.set_index("segment").loc["B", "clickers"] == 1
    with pytest.raises(ValueError, match="freq"):
        ts.kpi.email(ev, contact="id", timestamp="t", type="k", freq="fortnight")


def test_client_value_hand_computed():
    out = ts.kpi.client_value(_tx(), customer="client", date="date", amount="amount", freq="Q", inactive_days=90)
    q1, q2 = out.iloc[0], out.iloc[1]
    assert (q1["orders"], q1["revenue"], q1["active_clients"], q1["known_clients"]) == (4, 42.0, 3, 3)
    assert q1["average_basket"] == pytest.approx(10.5)
    assert q1["arpu"] == pytest.approx(14.0)
    assert q2["retention_rate"] == pytest.approx(1 / 3)  # of 1, 2, 3 only 3 bought again
    # At 2024-06-30: clients 1 (last 03-01) and 2 (02-28) are > 90 days inactive, of 4 known.
    assert q2["inactive_rate"] == pytest.approx(0.5)
    seg = pd.Series(["gold", "base", "base", "gold"], index=[1, 2, 3, 4])
    by = ts.kpi.client_value(_tx(), customer="client", date="date", amount="amount", freq="Q", by=seg)
    assert set(by["segment"]) == {"gold", "base"}
    # A segment whose clients stopped buying keeps the later periods (it lost
    # its Q2 row, and so its inactive rate, when periods followed its own purchases).
    lapsed = pd.Series(["lapsed", "lapsed", "active", "active"], index=[1, 2, 3, 4])
    by = ts.kpi.client_value(_tx(), customer="client", date="date", amount="amount", freq="Q", inactive_days=90,
                             by=lapsed).set_index(["segment", "period"])
    q2 = by.loc[("lapsed", pd.Period("2024Q2"))]
    assert (q2["orders"], q2["active_clients"], q2["known_clients"]) == (0, 0, 2)
    assert q2["inactive_rate"] == pytest.approx(1.0) and q2["retention_rate"] == pytest.approx(0.0)
    assert len(by.loc["active"]) == len(by.loc["lapsed"]) == 2
    # Each segment's rows equal the whole-log table of that segment's clients over the same periods.
    alone = ts.kpi.client_value(_tx()[_tx()["client"].isin([3, 4])], customer="client", date="date",
                                amount="amount", freq="Q", inactive_days=90).set_index("period")
    pd.testing.assert_frame_equal(by.loc["active"], alone, check_names=False)
    with pytest.raises(ValueError, match="non-finite"):
        ts.kpi.client_value(_tx().assign(amount=np.nan), customer="client", date="date", amount="amount")


# -- campaigns ------------------------------------------------------------------

@pytest.mark.parametrize("counts,published", [
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10.
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
])
def test_lift_interval_reproduces_newcombe(counts, published):
    lo, hi = ts.kpi.lift_interval(*counts)
    assert (round(float(lo), 4), round(float(hi), 4)) == published


def _campaign(seed=0, n=40_000):
    rng = np.random.default_rng(seed)
    contacts = np.arange(n) + 500
    camp = np.where(rng.random(n) < 0.5, "spring", "autumn")
    channel = np.where(rng.random(n) < 0.7, "email", "phone")
    treated = rng.random(n) < 0.8
    sent = pd.to_datetime(np.where(camp == "spring", "2026-03-01", "2026-09-01"))
    targets = pd.DataFrame({"contact_id": contacts, "campaign": camp, "channel": channel,
                            "group": np.where(treated, "treated", "control"), "sent_at": sent})
    # Base rate 4 %, +3 points by e-mail, +8 by phone; purchases inside and outside the window.
    p = 0.04 + treated * np.where(channel == "email", 0.03, 0.08)
    buys = rng.random(n) < p
    days = rng.uniform(0.5, 29.5, n)
    tx = pd.DataFrame({"contact_id": contacts[buys], "date": sent[buys] + pd.to_timedelta(days[buys], unit="D"),
                       "amount": rng.gamma(2.0, 40.0, buys.sum())})
    noise = pd.DataFrame({"contact_id": rng.choice(contacts, 5000),
                          "date": pd.Timestamp("2026-01-15") + pd.to_timedelta(rng.uniform(0, 20, 5000), unit="D"),
                          "amount": 10.0})  # before every send: not counted
    second = tx.sample(frac=0.3, random_state=1).assign(amount=5.0)  # a second purchase in the window
    return targets, pd.concat([tx, noise, second], ignore_index=True)


def test_campaign_results_match_a_pandas_reference():
    targets, tx = _campaign()
    out = ts.kpi.campaign_results(targets, tx, channel="channel", cost={"email": 0.02, "phone": 3.5})
    # the reference: a plain merge and groupby
    m = targets.merge(tx, on="contact_id", how="left")
    inside = (m["date"] > m["sent_at"]) & (m["date"] <= m["sent_at"] + pd.Timedelta("30D"))
    m["rev"] = np.where(inside, m["amount"], 0.0)
    m["hit"] = inside
    per = m.groupby(["contact_id", "campaign", "channel", "group"], as_index=False).agg(rev=("rev", "sum"),
                                                                                        hit=("hit", "any"))
    ref = per.groupby(["campaign", "channel", "group"]).agg(n=("hit", "size"), x=("hit", "sum"), rev=("rev", "sum"))
    for r in out.itertuples():
        t, c = ref.loc[(r.campaign, r.channel, "treated")], ref.loc[(r.campaign, r.channel, "control")]
        assert (r.treated, r.control, r.treated_conversions, r.control_conversions) == (t.n, c.n, t.x, c.x)
        assert r.lift == pytest.approx(t.x / t.n - c.x / c.n)
        assert r.lift_low < r.lift < r.lift_high
        assert r.treated_revenue == pytest.approx(t.rev) and r.control_revenue == pytest.approx(c.rev)
        assert r.incremental_revenue == pytest.approx((t.rev / t.n - c.rev / c.n) * t.n)
        unit = 0.02 if r.channel == "email" else 3.5
        assert r.cost == pytest.approx(unit * t.n)
        assert r.roi == pytest.approx((r.incremental_revenue - r.cost) / r.cost)


@pytest.mark.parametrize("n_t,n_c,p_t,p_c", [(2000, 500, 0.07, 0.04), (300, 100, 0.02, 0.01), (50, 50, 0.5, 0.3)])
def test_lift_interval_covers_the_true_lift(n_t, n_c, p_t, p_c):
    rng = np.random.default_rng(11)
    reps = 20_000
    lo, hi = ts.kpi.lift_interval(rng.binomial(n_t, p_t, reps), n_t, rng.binomial(n_c, p_c, reps), n_c)
    coverage = np.mean((lo <= p_t - p_c) & (p_t - p_c <= hi))
    assert 0.93 <= coverage <= 0.975, coverage  # Newcombe's interval is close to nominal, slightly conservative


def test_campaign_results_inputs_and_errors():
    targets, tx = _campaign(n=4000)
    alt = targets.assign(group=targets["group"] == "treated")[list(reversed(targets.columns))]
    a = ts.kpi.campaign_results(targets, tx)
    b = ts.kpi.campaign_results(alt, tx)
    pd.testing.assert_frame_equal(a, b)
    assert list(a["campaign"]) == ["autumn", "spring"] and "cost" not in a
    no_control = targets[targets["group"] == "treated"]
    assert ts.kpi.campaign_results(no_control, tx)["lift"].isna().all()
    with pytest.raises(ValueError, match="appears twice"):
        ts.kpi.campaign_results(pd.concat([targets, targets.head(1)]), tx)
    with pytest.raises(ValueError, match="neither treated nor control"):
        ts.kpi.campaign_results(targets.assign(group="maybe"), tx)
    with pytest.raises(ValueError, match="window must be > 0"):
        ts.kpi.campaign_results(targets, tx, window="0D")
    with pytest.raises(KeyError, match="sent"):
        ts.kpi.campaign_results(targets.drop(columns="sent_at"), tx)
    with pytest.raises(ValueError, match="negative"):
        ts.kpi.campaign_results(targets, tx.assign(amount=-1.0))
    with pytest.raises(KeyError, match="no entry for the channels"):
        ts.kpi.campaign_results(targets, tx, channel="channel", cost={"email": 0.02})
    with pytest.raises(ValueError, match="cost per channel needs channel"):
        ts.kpi.campaign_results(targets, tx, cost={"email": 0.02})


def test_email_kpis_by_campaign():
    ev = pd.DataFrame({
        "contact_id": [1, 1, 2, 2, 3, 3, 1, 2],
        "timestamp": pd.to_datetime(["2026-01-02"] * 6 + ["2026-01-20"] * 2),
        "type": ["email_send", "email_open", "email_send", "email_click", "email_send", "email_open",
                 "email_send", "email_open"],
        "campaign": ["a", "a", "a", "a", "b", "b", "b", None],
    })
    out = ts.kpi.email(ev, contact="contact_id", timestamp="timestamp", type="type", campaign="campaign")
    got = out.set_index("campaign")
    assert got.loc["a", "sent"] == 2 and got.loc["a", "openers"] == 1 and got.loc["a", "clickers"] == 1
    assert got.loc["b", "sent"] == 2 and got.loc["b", "openers"] == 1
    assert got.loc["b", "open_rate"] == pytest.approx(0.5)
