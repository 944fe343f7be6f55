"""Diagnostics as tables (twinscore.value_diagnostics), each against pandas/numpy computed here, on the
CDNOW sample (skipped when absent) and on generated logs; for the BG/NBD and the BG/BB through one interface."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln, gammaln

import twinscore as ts
from twinscore import value_diagnostics as vd

CAL, OBS = "1997-09-30", "1998-06-30"


@pytest.fixture(scope="module")
def cdnow():
    try:
        tx = ts.datasets.load_cdnow("sample")
    except FileNotFoundError:
        pytest.skip("CDNOW_sample.txt not present")
    s = ts.calibration_summary(tx, customer="customer_id", date="date", calibration_end=CAL, observation_end=OBS)
    return tx, s, ts.BetaGeo().fit(s)


def _holdout_weeks():
    return (pd.Timestamp(OBS) - pd.Timestamp(CAL)).days / 7


def test_calibration_holdout_equals_pandas_groupby(cdnow):
    tx, s, bg = cdnow
    t = _holdout_weeks()
    got = vd.calibration_holdout(bg, s, t=t, max_frequency=7)
    ref = pd.DataFrame({"f": s["frequency"].clip(upper=7).astype(int), "actual": s["holdout_frequency"],
                        "model": bg.predict(s, t)}).groupby("f").agg(clients=("actual", "size"),
                                                                     actual=("actual", "mean"),
                                                                     model=("model", "mean"))
    assert list(got.index) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    np.testing.assert_array_equal(got["clients"], ref["clients"])
    np.testing.assert_allclose(got["actual"], ref["actual"], rtol=1e-12)
    np.testing.assert_allclose(got["model"], ref["model"], rtol=1e-12)
    assert got["clients"].sum() == 2357
    # The holdout repeat transactions of the 2,357 clients in weeks 40-78: 1,882 client-days in this file
    # (one transaction per client and day); the BG/NBD's conditional forecast is 12 % below (1,653.4).
    assert got["actual_total"].sum() == 1882
    assert got["model_total"].sum() == pytest.approx(1653.4, abs=0.05)


def _bgnbd_pmf_reference(params, T, x):
    """P(X(T) = x) of the BG/NBD, eq. (8), with scipy, written out directly."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    nb = lambda j: np.exp(gammaln(r + j) - gammaln(r) - gammaln(j + 1) + r * np.log(alpha / (alpha + T))  # noqa
                          + j * np.log(T / (alpha + T)))
    first = np.exp(betaln(a, b + x) - betaln(a, b)) * nb(x)
    if x == 0:
        return first
    return first + np.exp(betaln(a + 1, b + x - 1) - betaln(a, b)) * (1 - sum(nb(j) for j in range(x)))


def test_period_transactions_equal_pandas_counts_and_the_bgnbd_distribution(cdnow):
    tx, s, bg = cdnow
    got = vd.period_transactions(bg, s, max_frequency=7)
    actual = s["frequency"].clip(upper=7).astype(int).value_counts().sort_index()
    np.testing.assert_array_equal(got["actual"], actual.to_numpy())
    T = s["T"].to_numpy()
    want = [np.sum(_bgnbd_pmf_reference(bg.params_, T, x)) for x in range(7)]
    np.testing.assert_allclose(got["model"].to_numpy()[:7], want, rtol=1e-10)
    assert got["model"].sum() == pytest.approx(2357, rel=1e-12) and got["actual"].sum() == 2357
    np.testing.assert_allclose(got["model_share"], got["model"] / 2357)
    # Fader, Hardie & Lee (2005), figure 2: 1,411 of the 2,357 made no repeat purchase in calibration;
    # the model expects about as many.
    assert got.loc["0", "actual"] == 1411
    assert got.loc["0", "model"] == pytest.approx(1411, rel=0.02)


def test_bgnbd_count_probabilities_are_stable_for_long_horizons():
    params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    P = vd.bgnbd_count_probabilities(params, [0.0, 1.0, 39.0, 1e4, 1e6], 400)
    assert np.isfinite(P).all() and (P >= 0).all()
    assert (P.sum(axis=1) <= 1 + 1e-12).all()
    np.testing.assert_array_equal(P[0], np.r_[1.0, np.zeros(400)])  # age 0: no purchase yet
    np.testing.assert_allclose(P[2, :10], [_bgnbd_pmf_reference(params, 39.0, x) for x in range(10)], rtol=1e-10)
    # No dropout (a = 0, b = inf): the NBD.
    nbd = vd.bgnbd_count_probabilities({"r": 0.5, "alpha": 2.0, "a": 0.0, "b": math.inf}, [3.0], 5)[0]
    p = 2.0 / 5.0
    want = [math.exp(math.lgamma(0.5 + k) - math.lgamma(0.5) - math.lgamma(k + 1)) * p ** 0.5 * (1 - p) ** k
            for k in range(6)]
    np.testing.assert_allclose(nbd, want, rtol=1e-12)


def test_cumulative_transactions_equal_pandas_and_a_sum_over_clients(cdnow):
    tx, s, bg = cdnow
    got = vd.cumulative_transactions(bg, tx, customer="customer_id", date="date", calibration_end=CAL,
                                     observation_end=OBS, period_days=7)
    # Actual: repeat client-days per week from 1997-01-01, counted in pandas.
    days = tx.assign(day=tx["date"].dt.normalize()).drop_duplicates(["customer_id", "day"])
    first = days.groupby("customer_id")["day"].transform("min")
    rep = days[days["day"] > first]
    week = (rep["day"] - pd.Timestamp("1997-01-01")).dt.days // 7
    weekly = week.value_counts().reindex(range(len(got)), fill_value=0).to_numpy()
    np.testing.assert_array_equal(got["actual_incremental"], weekly)
    assert len(got) == 78 and got["start"].iloc[0] == pd.Timestamp("1997-01-01")
    assert got["actual"].iloc[-1] == len(rep) == 4339
    assert got.loc[~got["holdout"], "actual"].iloc[-1] == 2457  # calibration repeat transactions, weeks 1-39
    # Model: sum over clients of E[X(age at the end of week k)], one client at a time.
    birth = days.groupby("customer_id")["day"].min()
    age_days = (pd.Timestamp("1997-01-01") + pd.to_timedelta(7 * np.arange(1, 79) - 1, unit="D")).to_numpy()[:, None] \
        - birth.to_numpy()[None, :]
    age = age_days / np.timedelta64(1, "D")
    curve = {u: bg.expected_purchases_new(u / 7) for u in np.unique(age[age >= 0])}
    want = np.where(age >= 0, np.vectorize(lambda u: curve.get(u, 0.0))(age), 0.0).sum(axis=1)
    np.testing.assert_allclose(got["model"], want, rtol=1e-10)
    # The model tracks the cohort: within 5 % of the actual total after 78 weeks.
    assert got["model"].iloc[-1] == pytest.approx(4339, rel=0.05)


def test_split_clients_keeps_each_stratum_share(cdnow):
    _, s, _ = cdnow
    train, test = vd.split_clients(s, test_size=0.3, stratify="frequency", max_groups=5, seed=1)
    assert len(train) + len(test) == len(s) and not set(train.index) & set(test.index)
    strata = s["frequency"].rank(method="dense").astype(int).clip(upper=5) - 1
    share = strata[test.index].value_counts() / strata.value_counts()
    assert (np.abs(share - 0.3) <= 0.5 / strata.value_counts()).all()  # rounding of each stratum only
    again = vd.split_clients(s, test_size=0.3, stratify="frequency", max_groups=5, seed=1)
    assert again[1].index.equals(test.index)
    plain = vd.split_clients(s, test_size=0.25, stratify=None, seed=2)[1]
    assert len(plain) == round(0.25 * len(s))
    # Fit on one part, check on the other: the holdout forecast of unseen clients.
    model = ts.BetaGeo().fit(train)
    table = vd.calibration_holdout(model, test, t=_holdout_weeks())
    assert table["clients"].sum() == len(test)
    with pytest.raises(ValueError, match="test_size"):
        vd.split_clients(s, test_size=1.0)


def test_compare_models_equals_numpy(cdnow):
    _, s, bg = cdnow
    t = _holdout_weeks()
    penalized = ts.BetaGeo(penalizer=0.1).fit(s)
    table = vd.compare_models({"bgnbd": bg, "penalized": penalized}, s, t=t)
    for name, m in (("bgnbd", bg), ("penalized", penalized)):
        err = m.predict(s, t).to_numpy() - s["holdout_frequency"].to_numpy()
        row = table.loc[name]
        assert row["n_params"] == 4 and row["log_likelihood"] == m.log_likelihood_
        assert row["aic"] == pytest.approx(8 - 2 * m.log_likelihood_)
        assert row["bic"] == pytest.approx(4 * np.log(2357) - 2 * m.log_likelihood_)
        assert row["mae"] == pytest.approx(np.abs(err).mean(), rel=1e-12)
        assert row["rmse"] == pytest.approx(np.sqrt((err ** 2).mean()), rel=1e-12)
        assert row["actual_total"] == 1882
    assert table.loc["bgnbd", "log_likelihood"] == pytest.approx(-9582.4, abs=0.05)
    assert table.loc["bgnbd", "log_likelihood"] > table.loc["penalized", "log_likelihood"]


# ---------------------------------------------------------------- the BG/BB through the same interface

def _donation_log(seed=0, n_clients=4000):
    """Yearly donations 2010-2020 of a cohort born in 2010, from the BG/BB process."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 0.75, n_clients)
    theta = rng.beta(0.66, 2.8, n_clients)
    alive = np.ones(n_clients, dtype=bool)
    rows = [np.arange(n_clients)]
    years = [np.full(n_clients, 2010)]
    for year in range(2011, 2021):
        alive &= rng.random(n_clients) >= theta
        give = alive & (rng.random(n_clients) < p)
        rows.append(np.flatnonzero(give))
        years.append(np.full(int(give.sum()), year))
    who, year = np.concatenate(rows), np.concatenate(years)
    day = rng.integers(0, 365, len(who))
    return pd.DataFrame({"donor": who, "date": pd.to_datetime(year.astype(str)) + pd.to_timedelta(day, unit="D")})


def test_the_bgbb_plugs_into_every_diagnostic():
    log = _donation_log()
    s = ts.discrete_summary(log, customer="donor", date="date", freq="Y", calibration_end="2016-12-31",
                            observation_end="2020-12-31")
    m = ts.BetaGeoBetaBinom().fit(s)
    hold = vd.calibration_holdout(m, s)  # the holdout length (4 years) comes from the summary
    ref = s.assign(model=m.predict(s, 4)).groupby(s["frequency"].clip(upper=6).astype(int))
    np.testing.assert_allclose(hold["model"], ref["model"].mean(), rtol=1e-12)
    np.testing.assert_allclose(hold["actual"], ref["holdout_frequency"].mean(), rtol=1e-12)
    assert list(hold.index) == ["0", "1", "2", "3", "4", "5", "6"]  # nobody has 7 of 6 opportunities
    period = vd.period_transactions(m, s, max_frequency=6)
    np.testing.assert_array_equal(period["actual"], s["frequency"].value_counts().sort_index())
    x = np.arange(6)
    a, b, g, d = (m.params_[k] for k in ("alpha", "beta", "gamma", "delta"))
    pmf = np.exp(gammaln(7) - gammaln(x + 1) - gammaln(7 - x) + betaln(a + x, b + 6 - x) - betaln(a, b)
                 + betaln(g, d + 6) - betaln(g, d))
    for i in range(6):  # last alive at opportunity i, gone at i + 1
        live = x <= i
        pmf += np.where(live, np.exp(gammaln(i + 1) - gammaln(np.where(live, x, 0) + 1)
                                     - gammaln(np.where(live, i - x, 0) + 1) + betaln(a + x, b + i - x)
                                     - betaln(a, b) + betaln(g + 1, d + i) - betaln(g, d)), 0.0)
    np.testing.assert_allclose(period["model"].to_numpy()[:6], len(s) * pmf, rtol=1e-10)
    cum = vd.cumulative_transactions(m, log, customer="donor", date="date", calibration_end="2016-12-31",
                                     observation_end="2020-12-31", freq="Y")
    yearly = log.assign(y=log["date"].dt.year).drop_duplicates(["donor", "y"])
    assert list(cum["start"].dt.year) == list(range(2010, 2021))
    np.testing.assert_array_equal(cum["actual_incremental"],
                                  yearly[yearly["y"] > 2010].groupby("y").size().reindex(range(2010, 2021),
                                                                                         fill_value=0))
    # All born in 2010: the model's cumulative count at the end of year k is n E[X(k - 2010)].
    np.testing.assert_allclose(cum["model"], [len(s) * m.expected_purchases_new(k) for k in range(11)], rtol=1e-12)
    assert cum["holdout"].tolist() == [False] * 7 + [True] * 4
    table = vd.compare_models({"bgbb": m}, {"bgbb": s})
    assert table.loc["bgbb", "actual_total"] == s["holdout_frequency"].sum()
    assert table.loc["bgbb", "total_error"] == pytest.approx(0.0, abs=0.05)


def test_diagnostics_bad_input(cdnow):
    tx, s, bg = cdnow
    with pytest.raises(TypeError, match="fitted"):
        vd.calibration_holdout(ts.BetaGeo(), s, t=39)
    with pytest.raises(KeyError, match="holdout_frequency"):
        vd.calibration_holdout(bg, s.drop(columns="holdout_frequency"), t=39)
    with pytest.raises(ValueError, match="t .*required"):
        vd.calibration_holdout(bg, s)
    with pytest.raises(ValueError, match="max_frequency"):
        vd.period_transactions(bg, s, max_frequency=0)
    with pytest.raises(ValueError, match="whole number of days"):
        vd.cumulative_transactions(bg, tx, customer="customer_id", date="date", calibration_end=CAL,
                                   period_days=3.5)
    with pytest.raises(KeyError, match="summary has no entry"):
        vd.compare_models({"a": bg}, {"b": s}, t=39)


def test_transactions_over_time_plot_draws_the_table(cdnow):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tx, _, bg = cdnow
    table = vd.cumulative_transactions(bg, tx, customer="customer_id", date="date", calibration_end=CAL,
                                       observation_end=OBS)
    for cumulative, suffix in ((True, ""), (False, "_incremental")):
        ax = ts.plot.transactions_over_time(table, cumulative=cumulative)
        np.testing.assert_allclose(ax.lines[0].get_ydata(), table[f"actual{suffix}"])
        np.testing.assert_allclose(ax.lines[1].get_ydata(), table[f"model{suffix}"])
        assert ax.lines[2].get_xdata()[0] == pytest.approx(39.5)  # the holdout begins after week 39
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        plt.close(ax.figure)
    with pytest.raises(KeyError, match="model"):
        ts.plot.transactions_over_time(table.drop(columns="model"))
