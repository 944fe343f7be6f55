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
