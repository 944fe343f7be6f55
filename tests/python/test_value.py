import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from scipy.special import gammaln

SAMPLE = "sample"


def _cdnow(which):
    try:
        return ts.datasets.load_cdnow(which)
    except FileNotFoundError:
        pytest.skip(f"CDNOW_{which}.txt not present")


def _reference_scores(values: pd.Series, bins: int) -> np.ndarray:
    """The documented tie rule, in pandas: 1 + floor(bins * (rank_min - 1) / n)."""
    rank = values.rank(method="min").to_numpy()
    return (1 + np.floor(bins * (rank - 1) / len(values))).astype(np.int8)


def _reference_rfm(tx, customer, date, amount, now, bins=5):
    g = tx.groupby(customer, sort=False)
    ref = pd.DataFrame({"last": g[date].max(), "frequency": g[date].size(), "monetary": g[amount].sum()})
    ref["recency_days"] = (now - ref["last"]) / pd.Timedelta(days=1)
    ref["R"] = _reference_scores(-ref["recency_days"], bins)
    ref["F"] = _reference_scores(ref["frequency"].astype(float), bins)
    ref["M"] = _reference_scores(ref["monetary"], bins)
    return ref


def _check_against_reference(out, ref):
    ref = ref.loc[out.index]
    np.testing.assert_array_equal(out["frequency"].to_numpy(), ref["frequency"].to_numpy())
    np.testing.assert_allclose(out["monetary"].to_numpy(), ref["monetary"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(out["recency_days"].to_numpy(), ref["recency_days"].to_numpy())
    for s in "RFM":
        np.testing.assert_array_equal(out[s].to_numpy(), ref[s].to_numpy(), err_msg=s)


def test_rfm_matches_pandas_on_generated_data(prm):
    tx = prm.transactions.sample(frac=1.0, random_state=1)  # any order
    out = ts.rfm(tx, customer="client_id", date="date", amount="amount", now=prm.now)
    assert len(out) == prm.transactions["client_id"].nunique()
    _check_against_reference(out, _reference_rfm(tx, "client_id", "date", "amount", prm.now))
    np.testing.assert_allclose(out["average_basket"], out["monetary"] / out["frequency"])
    assert out["segment"].notna().all()
    assert set(out["segment"].cat.categories) >= {"Champions", "Lost", "Hibernating"}


def test_rfm_matches_pandas_on_cdnow_master():
    tx = _cdnow("master")
    now = pd.Timestamp("1998-07-01")
    out = ts.rfm(tx, customer="customer_id", date="date", amount="amount", now=now)
    assert len(out) == 23570
    _check_against_reference(out, _reference_rfm(tx, "customer_id", "date", "amount", now))


def test_rfm_string_ids_ties_and_segments():
    tx = pd.DataFrame({
        "who": ["a", "b", "a", "c", "d", "e", "e", "e"],
        "when": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-02-01", "2024-03-01", "2024-01-15",
                                "2024-03-02", "2024-02-20", "2024-01-05"]),
        "eur": [10.0, 5.0, 20.0, 5.0, 100.0, 1.0, 1.0, 1.0],
    })
    out = ts.rfm(tx, customer="who", date="when", amount="eur", now="2024-03-02")
    assert list(out.index) == ["a", "b", "c", "d", "e"]
    # F: a=2, b=c=d=1, e=3 -> L = 3, 0, 0, 0, 4 -> score 1 + 5L/5
    assert out["F"].tolist() == [4, 1, 1, 1, 5]
    # R: b and c share their last date, hence their score.
    assert out.loc["b", "R"] == out.loc["c", "R"]
    assert out.loc["e", "RFM"] == f"{out.loc['e', 'R']}5{out.loc['e', 'M']}"
    custom = pd.DataFrame([("VIP", 4, 5, 4, 5), ("Rest", 1, 5, 1, 5)],
                          columns=["segment", "r_min", "r_max", "f_min", "f_max"])
    seg = ts.rfm(tx, customer="who", date="when", amount="eur", segments=custom)["segment"]
    assert seg.loc["e"] == "VIP" and seg.loc["b"] == "Rest"


def test_default_segment_map_covers_every_cell():
    for r in range(1, 6):
        for f in range(1, 6):
            hit = ts.DEFAULT_SEGMENTS.query("r_min <= @r <= r_max and f_min <= @f <= f_max")
            assert len(hit) >= 1, (r, f)


def test_rfm_many_equal_values_do_not_fail(rng):
    n = 10_000
    tx = pd.DataFrame({"id": np.arange(n), "d": pd.Timestamp("2024-01-01"), "x": 10.0})
    out = ts.rfm(tx, customer="id", date="d", amount="x")
    assert set(out["F"]) == {1} and set(out["M"]) == {1} and set(out["R"]) == {1}


def test_rfm_thread_independent(prm, restore_threads):
    with ts.threads(1):
        one = ts.rfm(prm.transactions, customer="client_id", date="date", amount="amount")
    with ts.threads(2):
        two = ts.rfm(prm.transactions, customer="client_id", date="date", amount="amount")
    pd.testing.assert_frame_equal(one, two)


def test_quantile_scores_columns_equal_one_at_a_time(rng, restore_threads):
    from twinscore import _core
    cols = [rng.integers(0, 50, 5001).astype(np.float64), rng.random(5001), np.ones(5001)]
    want = [_core.quantile_scores(c, 5) for c in cols]
    for n in (1, 2):
        with ts.threads(n):
            got = _core.quantile_scores_columns(cols, 5)
        assert all(np.array_equal(g, w) for g, w in zip(got, want))
    with pytest.raises(TypeError, match="float64"):
        _core.quantile_scores_columns([cols[0].astype(np.float32)], 5)
    with pytest.raises(ValueError, match="NaN"):
        _core.quantile_scores_columns([cols[0], np.array([1.0, np.nan])], 5)


@pytest.mark.parametrize("bins", [2, 5, 9, 10, 12])
@pytest.mark.parametrize("with_amount", [True, False])
def test_rfm_codes_and_segments_equal_per_client_formatting(rng, bins, with_amount):
    # The "RFM" strings (laid out from byte buffers for one-digit scores, by
    # combination code above) and the segments (one flat lookup) against a
    # per-client reference; odd size, string ids.
    n = 3001
    tx = pd.DataFrame({"id": rng.integers(0, 997, n).astype(str), "x": rng.integers(0, 40, n) / 4.0,
                       "d": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), unit="D")})
    segments = pd.DataFrame([("Top", bins, bins, 1, bins), ("Loyal", 1, bins - 1, bins // 2 + 1, bins)],
                            columns=["segment", "r_min", "r_max", "f_min", "f_max"])
    out = ts.rfm(tx, customer="id", date="d", amount="x" if with_amount else None, bins=bins, segments=segments)
    letters = "RFM" if with_amount else "RF"
    want = ["".join(str(int(out[c].iloc[i])) for c in letters) for i in range(len(out))]
    assert out["RFM"].tolist() == want
    assert out["RFM"].dtype == pd.Series(want, dtype=out["RFM"].dtype).dtype
    top = out["R"] == bins
    loyal = ~top & (out["F"] >= bins // 2 + 1)
    expected = np.where(top, "Top", np.where(loyal, "Loyal", "Other"))
    assert out["segment"].astype(str).tolist() == expected.tolist()
    assert list(out["segment"].cat.categories) == ["Top", "Loyal", "Other"]


@pytest.mark.parametrize("ids", [[5, 6, 5, 7], ["a", "b", "a", "c"]])
def test_rfm_missing_date_reported_with_its_row(ids):
    # NaT is rejected by the engine (integer ids: the grouping pass; string ids:
    # the row check), with or without `now`.
    tx = pd.DataFrame({"id": ids, "d": pd.to_datetime(["2024-01-01", "2024-02-01", None, "2024-01-03"]),
                       "x": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="date column 'd', amount column 'x'\\): missing date at row 2"):
        ts.rfm(tx, customer="id", date="d", amount="x")
    with pytest.raises(ValueError, match="date column 'd'\\): missing date at row 2"):
        ts.rfm(tx, customer="id", date="d", now="2024-03-01")
    with pytest.raises(ValueError, match="missing date at row 0"):
        ts.rfm(tx.assign(d=pd.NaT), customer="id", date="d")


def test_rfm_bad_input():
    tx = pd.DataFrame({"id": [1, 2], "d": pd.to_datetime(["2024-01-01", "2024-02-01"]), "x": [1.0, 2.0]})
    with pytest.raises(KeyError, match="nope"):
        ts.rfm(tx, customer="nope", date="d")
    with pytest.raises(ValueError, match="amount at row 1"):
        ts.rfm(tx.assign(x=[1.0, -2.0]), customer="id", date="d", amount="x")
    with pytest.raises(ValueError, match="amount at row 0"):
        ts.rfm(tx.assign(x=[np.nan, 2.0]), customer="id", date="d", amount="x")
    with pytest.raises(ValueError, match="date column 'd'.*after now"):
        ts.rfm(tx, customer="id", date="d", now="2024-01-15")
    with pytest.raises(ValueError, match="empty"):
        ts.rfm(tx.iloc[:0], customer="id", date="d")
    with pytest.raises(TypeError, match="dates"):
        ts.rfm(tx.assign(d=[1.5, 2.5]), customer="id", date="d")
    with pytest.raises(ValueError, match="missing"):
        ts.rfm(tx.assign(id=pd.array([1, None], dtype="Int64")), customer="id", date="d")
    with pytest.raises(ValueError, match="bins"):
        ts.rfm(tx, customer="id", date="d", bins=1)
    with pytest.raises(TypeError, match="float 1.5 at row 0"):
        ts.rfm(tx.assign(id=[1.5, 2.0]), customer="id", date="d")
    # Whole-number float ids (read_csv's integers with a gap) are the integers.
    pd.testing.assert_frame_equal(ts.rfm(tx.assign(id=tx["id"].astype(float)), customer="id", date="d"),
                                  ts.rfm(tx.assign(id=tx["id"].astype(np.int64)), customer="id", date="d"),
                                  check_index_type=False)


# ---------------------------------------------------------------- CDNOW: BG/NBD and Gamma-Gamma

@pytest.fixture(scope="module")
def cdnow_summary():
    tx = _cdnow(SAMPLE)
    return ts.calibration_summary(tx, customer="customer_id", date="date", amount="amount",
                                  calibration_end="1997-09-30", observation_end="1998-06-30")


def test_cdnow_summary_shape(cdnow_summary):
    s = cdnow_summary
    assert len(s) == 2357
    assert (s["frequency"] > 0).sum() == 946  # the repeat buyers of the calibration period
    assert s["T"].max() == pytest.approx(38.857142857, abs=1e-6)  # first bought 1997-01-01, 272 days


def test_bgnbd_reproduces_published_cdnow_fit(cdnow_summary):
    bg = ts.BetaGeo().fit(cdnow_summary)
    p = bg.params_
    # Fader, Hardie & Lee (2005), "Counting your customers the easy way".
    assert p["r"] == pytest.approx(0.243, abs=5e-4)
    assert p["alpha"] == pytest.approx(4.414, abs=5e-3)
    assert p["a"] == pytest.approx(0.793, abs=5e-4)
    assert p["b"] == pytest.approx(2.426, abs=5e-3)
    assert bg.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    # Uncompressed fit: same optimum.
    full = ts.BetaGeo(compress=False).fit(cdnow_summary)
    for k in p:
        assert full.params_[k] == pytest.approx(p[k], rel=1e-5)


def test_bgnbd_likelihood_and_gradient_match_scipy(cdnow_summary):
    from scipy.optimize import approx_fprime
    from scipy.special import gammaln

    s = cdnow_summary
    x, t, T = (s[c].to_numpy() for c in ("frequency", "recency", "T"))

    def ll(p):
        r, alpha, a, b = p
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        a3 = -(r + x) * np.log(alpha + T)
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t), -np.inf)
        return float(np.sum(a1 + a2 + np.logaddexp(a3, a4)))

    p = [0.3, 5.0, 0.9, 2.0]
    got, grad = ts._core.bgnbd_loglik(p, x, t, T, None)
    assert got == pytest.approx(ll(p), rel=1e-12)
    np.testing.assert_allclose(grad, approx_fprime(p, ll, 1e-7), rtol=1e-4)


def test_bgnbd_predictions(cdnow_summary):
    bg = ts.BetaGeo().fit(cdnow_summary)
    s = cdnow_summary
    alive = bg.probability_alive(s)
    assert (alive[s["frequency"] == 0] == 1.0).all()
    assert ((alive > 0) & (alive <= 1)).all()
    # The conditional expectation against its closed form with scipy's 2F1.
    from scipy.special import hyp2f1

    r, al, a, b = (bg.params_[k] for k in ("r", "alpha", "a", "b"))
    x, tx, T = (s[c].to_numpy() for c in ("frequency", "recency", "T"))
    t = 39.0
    lead = (a + b + x - 1) / (a - 1) * (1 - ((al + T) / (al + t + T)) ** (r + x)
                                        * hyp2f1(r + x, b + x, a + b + x - 1, t / (al + t + T)))
    ref = lead / (1 + (x > 0) * a / (b + x - 1) * ((al + T) / (al + tx)) ** (r + x))
    pred = bg.predict(s, t)
    np.testing.assert_allclose(pred.to_numpy(), ref, rtol=1e-10, atol=1e-12)
    # Holdout (39 weeks): the predicted total is within 15% of the repeat purchase days that happened.
    assert pred.sum() == pytest.approx(s["holdout_frequency"].sum(), rel=0.15)
    # E[X(t)] for a new client equals the conditional expectation at x = 0, T = 0.
    assert bg.expected_purchases_new(52.0) > bg.expected_purchases_new(26.0) > 0


def test_gammagamma_reproduces_published_cdnow_fit(cdnow_summary):
    gg = ts.GammaGamma().fit(cdnow_summary)
    p = gg.params_
    # Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", on the 946 repeat buyers.
    assert gg.n_clients_ == 946
    assert p["p"] == pytest.approx(6.25, abs=0.01)
    assert p["q"] == pytest.approx(3.74, abs=0.01)
    assert p["v"] == pytest.approx(15.44, abs=0.02)
    spend = gg.expected_spend(cdnow_summary)
    assert spend[cdnow_summary["frequency"] == 0].nunique() == 1  # the population mean
    assert spend.iloc[0] > 0


def test_lifetime_value(cdnow_summary):
    bg = ts.BetaGeo().fit(cdnow_summary)
    gg = ts.GammaGamma().fit(cdnow_summary)
    clv = ts.lifetime_value(bg, gg, cdnow_summary, months=12, monthly_discount=0.0)
    # Without discount CLV = spend * expected purchases over 12 months.
    expect = gg.expected_spend(cdnow_summary) * bg.predict(cdnow_summary, 12 * 365.25 / 12 / 7)
    np.testing.assert_allclose(clv.to_numpy(), expect.to_numpy(), rtol=1e-10)
    discounted = ts.lifetime_value(bg, gg, cdnow_summary, months=12, monthly_discount=0.02)
    assert (discounted <= clv + 1e-12).all()


def _draw_bgnbd(n, r, alpha, a, b, seed):
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = np.round(rng.uniform(20, 40, n) * 7) / 7
    x = np.zeros(n)
    tx = np.zeros(n)
    t = np.zeros(n)
    alive = np.ones(n, bool)
    for _ in range(200):  # vectorised over clients, one purchase per round
        t = t + rng.exponential(1 / lam)
        buy = alive & (t <= T)
        x[buy] += 1
        tx[buy] = t[buy]
        alive = buy & (rng.random(n) >= p)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T})


def test_bgnbd_recovers_simulated_parameters_and_threads(restore_threads):
    s = _draw_bgnbd(30_000, 0.6, 4.0, 0.9, 3.0, 5)
    with ts.threads(1):
        one = ts.BetaGeo(compress=False).fit(s)
    with ts.threads(2):
        two = ts.BetaGeo(compress=False).fit(s)
    assert one.params_ == two.params_
    assert one.params_["r"] == pytest.approx(0.6, rel=0.15)
    assert one.params_["alpha"] == pytest.approx(4.0, rel=0.2)


def test_value_bad_input(cdnow_summary):
    tx = pd.DataFrame({"id": [1, 1], "d": pd.to_datetime(["2024-01-01", "2024-02-01"]), "x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="before the first purchase"):
        ts.calibration_summary(tx, customer="id", date="d", calibration_end="2023-12-01")
    with pytest.raises(ValueError, match="empty"):
        ts.calibration_summary(tx.iloc[:0], customer="id", date="d", calibration_end="2024-01-01")
    with pytest.raises(ValueError, match="observation end|after"):
        ts.calibration_summary(tx, customer="id", date="d", calibration_end="2024-01-10",
                               observation_end="2024-01-20")
    bad = cdnow_summary.head(50).copy()
    bad.iloc[0, bad.columns.get_loc("recency")] = 100.0
    with pytest.raises(ValueError, match="recency"):
        ts.BetaGeo().fit(bad)
    with pytest.raises(ValueError, match="non-finite"):
        ts.BetaGeo().fit(cdnow_summary.assign(T=np.nan))
    with pytest.raises(KeyError, match="frequency"):
        ts.BetaGeo().fit(cdnow_summary.drop(columns="frequency"))
    with pytest.raises(ValueError, match="did not converge"):
        ts.BetaGeo(max_iter=2).fit(cdnow_summary)
    with pytest.raises(ValueError, match="not fitted"):
        ts.BetaGeo().predict(cdnow_summary, 10)
    with pytest.raises(ValueError, match="repeat"):
        ts.GammaGamma().fit(cdnow_summary[cdnow_summary["frequency"] == 0])
    with pytest.raises(ValueError, match="monetary"):
        ts.GammaGamma().fit(cdnow_summary.assign(monetary_value=0.0))


def test_rfm_totals_equal_pandas_sums_bitwise(rng):
    # Compensated summation in log order: the same totals as pandas' groupby sum, so equal
    # totals tie in both and the M scores agree exactly.
    n = 200_000
    tx = pd.DataFrame({"id": rng.integers(0, 20_000, n), "d": pd.Timestamp("2024-01-01"),
                       "x": np.round(rng.lognormal(3, 1, n), 2)})
    out = ts.rfm(tx, customer="id", date="d", amount="x")
    ref = tx.groupby("id", sort=False)["x"].sum().loc[out.index]
    np.testing.assert_array_equal(out["monetary"].to_numpy(), ref.to_numpy())
    np.testing.assert_array_equal(out["M"].to_numpy(), _reference_scores(ref, 5))
    # String ids go through factorisation: the same table.
    by_str = ts.rfm(tx.assign(id=tx["id"].astype(str)), customer="id", date="d", amount="x")
    np.testing.assert_array_equal(by_str["monetary"].to_numpy(), out["monetary"].to_numpy())


def test_rfm_on_invoice_lines_counts_orders(rng):
    """A retailer's log holds one row per invoice line: with invoice=, F counts orders."""
    n = 5_000
    invoice = rng.integers(0, 800, n)
    client = (invoice * 7919) % 150 + 0.0  # every line of an order has the order's client; float ids (read_csv)
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(invoice % 300, unit="D")
    lines = pd.DataFrame({"InvoiceNo": invoice.astype(str), "CustomerID": client, "InvoiceDate": day,
                          "Amount": rng.gamma(2.0, 5.0, n)}).sample(frac=1.0, random_state=0)
    got = ts.rfm(lines, customer="CustomerID", date="InvoiceDate", amount="Amount", invoice="InvoiceNo",
                 now="2024-12-31")
    ref = lines.groupby("CustomerID").agg(orders=("InvoiceNo", "nunique"), monetary=("Amount", "sum"),
                                          last=("InvoiceDate", "max"))
    ref.index = ref.index.astype(np.int64)
    ref = ref.loc[got.index]
    np.testing.assert_array_equal(got["frequency"].to_numpy(), ref["orders"].to_numpy())
    np.testing.assert_allclose(got["monetary"].to_numpy(), ref["monetary"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(got["average_basket"].to_numpy(), (ref["monetary"] / ref["orders"]).to_numpy())
    assert (got["last_purchase"].to_numpy() == ref["last"].to_numpy()).all()
    lines_only = ts.rfm(lines, customer="CustomerID", date="InvoiceDate", amount="Amount", now="2024-12-31")
    assert (lines_only.loc[got.index, "frequency"] >= got["frequency"]).all()
    assert (lines_only["frequency"].sum(), got["frequency"].sum()) == (n, lines.groupby(["CustomerID", "InvoiceNo"]).ngroups)
    with pytest.raises(KeyError, match="invoice column 'Invoice'"):
        ts.rfm(lines, customer="CustomerID", date="InvoiceDate", invoice="Invoice")
    with pytest.raises(ValueError, match="1 missing order ids"):
        ts.rfm(lines.assign(InvoiceNo=lines["InvoiceNo"].where(np.arange(n) != 3)), customer="CustomerID",
               date="InvoiceDate", invoice="InvoiceNo")


# ---------------------------------------------------------------- issue 18 item 7: boundary fits, zero spend

def _bgnbd_ll(p, x, t, T, w):
    """Reference BG/NBD log-likelihood, Fader, Hardie & Lee (2005) eq. (6), in numpy; a = 0 (no dropout) included."""
    r, alpha, a, b = p
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t), -np.inf)
    return float(np.sum(w * (a1 + a2 + np.logaddexp(a3, a4))))


def _patterns(s):
    """Distinct (x, t_x, T) rows with their counts: the same likelihood, fewer terms for scipy."""
    rows, w = np.unique(s[["frequency", "recency", "T"]].to_numpy(float), axis=0, return_counts=True)
    return rows[:, 0], rows[:, 1], rows[:, 2], w.astype(float)


_STARTS = ((1.0, 1.0, 1.0, 1.0), (0.5, 5.0, 0.1, 3.0), (2.0, 20.0, 2.0, 0.5), (0.3, 3.0, 0.01, 10.0))


def _reference_bgnbd_fit(s):
    """scipy L-BFGS-B on the reference likelihood over r, alpha, b > 0 and a >= 0, best of several starts."""
    from scipy.optimize import minimize

    x, t, T, w = _patterns(s)
    n = w.sum()
    best = min((minimize(lambda p: -_bgnbd_ll(p, x, t, T, w) / n, p0, method="L-BFGS-B",
                         bounds=[(1e-6, 1e4), (1e-6, 1e4), (0.0, 1e4), (1e-6, 1e4)],
                         options=dict(ftol=1e-15, gtol=1e-10, maxiter=10_000)) for p0 in _STARTS),
               key=lambda res: res.fun)
    return best.x, -best.fun * n


def _reference_nbd_fit(s):
    """scipy on the NBD likelihood (the BG/NBD at a = 0): r, alpha."""
    from scipy.optimize import minimize

    x, _, T, w = _patterns(s)

    def nll(q):
        r, alpha = q
        return -np.sum(w * (gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T))) / w.sum()

    best = min((minimize(nll, p0, method="L-BFGS-B", bounds=[(1e-6, 1e4)] * 2,
                         options=dict(ftol=1e-15, gtol=1e-12)) for p0 in ((1.0, 1.0), (0.3, 10.0), (3.0, 30.0))),
               key=lambda res: res.fun)
    return best.x, -best.fun * w.sum()


def _purchase_log(n, r, alpha_days, seed, *, dropout=None, zero_value=0.0):
    """A simulated transaction log: first purchases over 90 days from 2024-01-01, then repeat purchases at
    Gamma(r, alpha_days)-distributed daily rates until 2024-12-31; no dropout, or a BG/NBD drop-out
    probability Beta(a, b) after each repeat purchase with ``dropout=(a, b)``. Amounts are Gamma(6, 1/3)
    per order; a share ``zero_value`` of the clients has every repeat order at 0."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 90, n)
    lam = rng.gamma(r, 1.0 / alpha_days, n)
    p = np.zeros(n) if dropout is None else rng.beta(*dropout, n)
    ids, days = [np.arange(n)], [first.astype(float)]
    t, alive = first.astype(float), np.ones(n, bool)
    while alive.any():  # one repeat purchase per client and round, vectorised over clients
        t = t + rng.exponential(1.0 / lam)
        alive &= t < 366
        ids.append(np.flatnonzero(alive))
        days.append(t[alive])
        alive &= rng.random(n) >= p
    ids, days = np.concatenate(ids), np.floor(np.concatenate(days))
    amount = rng.gamma(6.0, 1.0 / 3.0, len(ids)).round(2)
    repeat = np.concatenate([np.zeros(n, bool), np.ones(len(ids) - n, bool)])
    amount[repeat & (ids < int(zero_value * n))] = 0.0
    return pd.DataFrame({"client": ids, "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D"),
                         "amount": amount})


def _summary(log, calibration_end="2024-09-30"):
    return ts.calibration_summary(log, customer="client", date="date", amount="amount",
                                  calibration_end=calibration_end)


@pytest.fixture(scope="module")
def no_dropout_summary():
    # NBD purchases, nobody drops out; on this draw the likelihood is largest on the face a = 0
    # (checked below against scipy, which reaches a = 0 too).
    return _summary(_purchase_log(4000, 0.8, 40.0, seed=3))


def test_bgnbd_fits_the_no_dropout_limit_like_scipy(no_dropout_summary, restore_threads):
    s = no_dropout_summary
    with ts.threads(1):
        bg = ts.BetaGeo().fit(s)
    with ts.threads(2):
        two = ts.BetaGeo().fit(s)
    assert bg.params_ == two.params_ and bg.log_likelihood_ == two.log_likelihood_
    # The documented convention on the no-dropout face.
    assert bg.params_["a"] == 0.0 and bg.params_["b"] == np.inf
    assert "a=0, b=inf" in repr(bg)
    # scipy on the BG/NBD likelihood with a >= 0 reaches the same face and no higher likelihood ...
    ref, ref_ll = _reference_bgnbd_fit(s)
    assert ref[2] < 1e-4
    assert bg.log_likelihood_ >= ref_ll - 1e-6
    # ... and r, alpha are the NBD's maximum-likelihood values.
    nbd, nbd_ll = _reference_nbd_fit(s)
    assert bg.params_["r"] == pytest.approx(nbd[0], rel=1e-5)
    assert bg.params_["alpha"] == pytest.approx(nbd[1], rel=1e-5)
    assert bg.log_likelihood_ == pytest.approx(nbd_ll, abs=1e-6)
    assert bg.log_likelihood(s) == pytest.approx(bg.log_likelihood_, abs=1e-9)
    # Uncompressed: the same optimum.
    full = ts.BetaGeo(compress=False).fit(s)
    assert full.params_["a"] == 0.0 and full.params_["r"] == pytest.approx(bg.params_["r"], rel=1e-6)


def test_bgnbd_no_dropout_predictions_are_the_nbd(no_dropout_summary):
    s = no_dropout_summary
    bg = ts.BetaGeo().fit(s)
    r, alpha = bg.params_["r"], bg.params_["alpha"]
    x, T = s["frequency"].to_numpy(), s["T"].to_numpy()
    np.testing.assert_allclose(bg.predict(s, 13.0), (r + x) * 13.0 / (alpha + T), rtol=1e-12)
    assert (bg.probability_alive(s) == 1.0).all()
    assert bg.expected_purchases_new(26.0) == pytest.approx(r * 26.0 / alpha, rel=1e-12)


def test_bgnbd_penalized_fit_predicts_with_a_plus_b_below_one(no_dropout_summary):
    # Issue 18: with a penalizer the fit has a + b < 1 and predict used to raise "c = -0.98...".
    s = no_dropout_summary
    bg = ts.BetaGeo(penalizer=1e-3).fit(s)
    pred = bg.predict(s, 13.0)
    assert np.isfinite(pred).all() and (pred > 0).all()
    alive = bg.probability_alive(s)
    assert ((alive > 0) & (alive <= 1)).all()


def _reference_expectation(p, x, tx, T, t):
    """FHL 2005 eq. (10) with mpmath's 2F1 (any c; the removable singularities a = 1, c = 0 by a -+ 1e-30)."""
    import mpmath as mp

    mp.mp.dps = 80
    r, alpha, a, b = (mp.mpf(v) for v in p)
    x, tx, T, t = (mp.mpf(float(v)) for v in (x, tx, T, t))

    def at(a):
        c = a + b + x - 1
        z = t / (alpha + T + t)
        lead = c / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * mp.hyp2f1(r + x, b + x, c, z))
        alive = 1 + (a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x) if x > 0 else 0)
        return lead / alive

    eps = mp.mpf("1e-30")
    singular = abs(a - 1) < eps or abs(a + b + x - 1) < eps
    return float((at(a + eps) + at(a - eps)) / 2 if singular else at(a))


@pytest.mark.parametrize("params", [
    (0.243, 4.414, 0.793, 2.426),   # CDNOW
    (0.8, 4.0, 0.005, 0.00697),     # a + b < 1: c = -0.98803 at x = 0 (issue 18)
    (0.8, 4.0, 0.3, 0.7),           # c = 0 at x = 0
    (1.5, 4.0, 1.0, 2.0),           # a = 1
    (0.5, 0.05, 0.7, 1.3),          # t / (alpha + T) up to 1e3: z near 1
    (2.0, 10.0, 40.0, 160.0),
])
def test_bgnbd_predict_matches_the_closed_form(params):
    from scipy.special import hyp2f1

    bg = ts.BetaGeo()
    bg.params_ = dict(zip(("r", "alpha", "a", "b"), params))
    s = pd.DataFrame({"frequency": [0.0, 0.0, 1.0, 2.0, 7.0], "recency": [0.0, 0.0, 3.0, 20.0, 30.0],
                      "T": [0.0, 12.0, 25.0, 38.0, 38.0]})
    for t in (1.0, 39.0, 52.0):
        got = bg.predict(s, t).to_numpy()
        want = [_reference_expectation(params, *row, t) for row in s.itertuples(index=False)]
        np.testing.assert_allclose(got, want, rtol=1e-11)
    # scipy's 2F1 agrees where the closed form has no removable singularity (a != 1, c != 0).
    r, alpha, a, b = params
    x, tx, T = (s[c].to_numpy() for c in ("frequency", "recency", "T"))
    c = a + b + x - 1
    if abs(a - 1) > 1e-3 and np.all(np.abs(c) > 1e-3):
        t = 39.0
        lead = c / (a - 1) * (1 - ((alpha + T) / (alpha + t + T)) ** (r + x)
                              * hyp2f1(r + x, b + x, c, t / (alpha + t + T)))
        ref = lead / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x))
        np.testing.assert_allclose(bg.predict(s, t).to_numpy(), ref, rtol=1e-8)


def _hessian_se(f, p, h=1e-4):
    """Standard errors from the inverse of a central-difference Hessian of the log-likelihood f at p."""
    p = np.asarray(p, float)
    k = len(p)
    H = np.zeros((k, k))
    step = h * np.maximum(np.abs(p), 1e-3)
    for i in range(k):
        for j in range(k):
            def shifted(si, sj):
                q = p.copy()
                q[i] += si * step[i]
                q[j] += sj * step[j]
                return f(q)
            H[i, j] = (shifted(1, 1) - shifted(1, -1) - shifted(-1, 1) + shifted(-1, -1)) / (4 * step[i] * step[j])
    return np.sqrt(np.diag(np.linalg.inv(-H)))


def test_bgnbd_simulated_log_recovers_parameters_like_scipy():
    truth = (0.8, 40.0, 0.7, 2.5)  # alpha in days; in weeks alpha / 7
    s = _summary(_purchase_log(6000, truth[0], truth[1], seed=8, dropout=truth[2:]))
    bg = ts.BetaGeo().fit(s)
    got = np.array([bg.params_[k] for k in ("r", "alpha", "a", "b")])
    ref, ref_ll = _reference_bgnbd_fit(s)
    np.testing.assert_allclose(got, ref, rtol=2e-4)
    assert bg.log_likelihood_ == pytest.approx(ref_ll, abs=1e-6)
    assert bg.log_likelihood_ >= ref_ll - 1e-7
    # Recovered within sampling error (3 standard errors from the observed information); the log's
    # one-purchase-per-day merging is a small bias next to them.
    x, t, T, w = _patterns(s)
    se = _hessian_se(lambda p: _bgnbd_ll(p, x, t, T, w), got)
    want = np.array([truth[0], truth[1] / 7, truth[2], truth[3]])
    assert np.all(np.abs(got - want) < 3 * se), (got, want, se)


@pytest.fixture(scope="module")
def zero_spend_summary():
    # Clients 0..119 (3 % of 4,000) have only zero-value repeat orders: their mean repeat spend is 0.
    return _summary(_purchase_log(4000, 0.8, 40.0, seed=5, dropout=(0.7, 2.5), zero_value=0.03))


def test_gammagamma_leaves_zero_spend_out_and_values_it(zero_spend_summary):
    s = zero_spend_summary
    zero = (s["frequency"] >= 1) & (s["monetary_value"] == 0)
    assert zero.sum() >= 20
    gg = ts.GammaGamma().fit(s)
    # Left out of the fit as documented: the same fit as on the other clients.
    kept = ts.GammaGamma().fit(s[~zero])
    assert gg.params_ == kept.params_ and gg.n_clients_ == int(((s["frequency"] >= 1) & ~zero).sum())
    # Their expected spend is the posterior mean at m = 0: p v / (p x + q - 1), below the population mean.
    p, q, v = (gg.params_[k] for k in ("p", "q", "v"))
    spend = gg.expected_spend(s)
    np.testing.assert_allclose(spend[zero], p * v / (p * s.loc[zero, "frequency"] + q - 1), rtol=1e-12)
    assert (spend[zero] < p * v / (q - 1)).all()
    assert np.isfinite(spend).all() and (spend > 0).all()
    clv = ts.lifetime_value(ts.BetaGeo().fit(s), gg, s)
    assert len(clv) == len(s) and np.isfinite(clv).all() and (clv > 0).all()
    assert repr(gg).startswith(f"GammaGamma(p={p:.3g}, q={q:.3g}, v={v:.3g}, n={gg.n_clients_:,} clients, LL=")


def test_gammagamma_bad_spend(zero_spend_summary):
    s = zero_spend_summary
    only_zero = s[(s["frequency"] == 0) | (s["monetary_value"] == 0)]
    with pytest.raises(ValueError, match="no repeat buyer with a positive mean spend"):
        ts.GammaGamma().fit(only_zero)
    negative = s.copy()
    negative.iloc[3, negative.columns.get_loc("monetary_value")] = -5.0
    with pytest.raises(ValueError, match="'monetary_value' must be >= 0.*row 3"):
        ts.GammaGamma().fit(negative)
    gg = ts.GammaGamma().fit(s)
    with pytest.raises(ValueError, match="'monetary_value' must be >= 0"):
        gg.expected_spend(negative)
    heavy = ts.GammaGamma()
    heavy.params_ = {"p": 2.0, "q": 0.9, "v": 10.0}
    with pytest.raises(ValueError, match="q = 0.9 <= 1"):
        heavy.expected_spend(s)


def test_lifetime_value_checks_its_inputs(zero_spend_summary):
    s = zero_spend_summary
    bg, gg = ts.BetaGeo().fit(s), ts.GammaGamma().fit(s)
    with pytest.raises(KeyError, match=r"\['recency', 'monetary_value'\]"):
        ts.lifetime_value(bg, gg, s.drop(columns=["recency", "monetary_value"]))
    with pytest.raises(ValueError, match="'T' holds a non-finite value at row 2"):
        ts.lifetime_value(bg, gg, s.assign(T=np.where(np.arange(len(s)) == 2, np.nan, s["T"])))
    with pytest.raises(ValueError, match="frequency at position 0 must be"):
        ts.lifetime_value(bg, gg, s.assign(frequency=-1.0))
    with pytest.raises(TypeError, match="purchases must be a fitted BetaGeo"):
        ts.lifetime_value(gg, gg, s)
    with pytest.raises(TypeError, match="spend must be a fitted GammaGamma"):
        ts.lifetime_value(bg, bg, s)
    with pytest.raises(ValueError, match="not fitted"):
        ts.lifetime_value(ts.BetaGeo(), gg, s)
    with pytest.raises(ValueError, match="summary is empty"):
        ts.lifetime_value(bg, gg, s.iloc[:0])


def test_reprs(cdnow_summary):
    assert repr(ts.BetaGeo()) == "BetaGeo()"
    assert repr(ts.GammaGamma(penalizer=0.01)) == "GammaGamma(penalizer=0.01)"
    bg = ts.BetaGeo().fit(cdnow_summary)
    assert repr(bg) == "BetaGeo(r=0.243, alpha=4.41, a=0.793, b=2.43, n=2,357 clients, LL=-9582.4)"
    gg = ts.GammaGamma().fit(cdnow_summary)
    assert repr(gg).startswith("GammaGamma(p=6.25, q=3.74, v=15.4, n=946 clients, LL=")


def test_cdnow_master_clv_with_default_settings(restore_threads):
    tx = _cdnow("master")
    s = ts.calibration_summary(tx, customer="customer_id", date="date", amount="amount",
                               calibration_end="1997-09-30", observation_end="1998-06-30")
    assert ((s["frequency"] >= 1) & (s["monetary_value"] == 0)).sum() >= 1  # a repeat buyer with zero spend
    with ts.threads(1):
        bg, gg = ts.BetaGeo().fit(s), ts.GammaGamma().fit(s)
        one = ts.lifetime_value(bg, gg, s)
    with ts.threads(2):
        two = ts.lifetime_value(ts.BetaGeo().fit(s), ts.GammaGamma().fit(s), s)
    pd.testing.assert_series_equal(one, two)
    assert len(one) == 23570 and np.isfinite(one).all() and (one > 0).all()
    # The fit equals scipy's on the same likelihood; the 39-week holdout is predicted within 15 %.
    ref, ref_ll = _reference_bgnbd_fit(s)
    np.testing.assert_allclose([bg.params_[k] for k in ("r", "alpha", "a", "b")], ref, rtol=2e-4)
    assert bg.log_likelihood_ >= ref_ll - 1e-6
    assert bg.predict(s, 39.0).sum() == pytest.approx(s["holdout_frequency"].sum(), rel=0.15)


def test_bgnbd_one_dropout_probability_for_all_fits_at_the_bound():
    # Every client drops out with probability 0.1 after each repeat purchase: the likelihood is largest
    # at a + b -> infinity with a / (a + b) = 0.1; the fit stops on the way (at e^30 at the latest).
    s = _summary(_purchase_log(4000, 0.8, 40.0, seed=9, dropout=(1e8, 9e8)))
    bg = ts.BetaGeo().fit(s)
    a, b = bg.params_["a"], bg.params_["b"]
    assert 1e9 < a + b <= np.exp(30) * (1 + 1e-12)
    assert a / (a + b) == pytest.approx(0.1, abs=0.03)
    _, ref_ll = _reference_bgnbd_fit(s)  # scipy, bounded at a, b <= 1e4
    assert bg.log_likelihood_ >= ref_ll - 1e-6
    pred = bg.predict(s, 26.0)
    assert np.isfinite(pred).all() and (pred > 0).all()


def test_rfm_as_of_is_the_log_cut_by_hand(prm):
    tx = prm.transactions
    cut = tx["date"].min() + (tx["date"].max() - tx["date"].min()) / 2
    kw = dict(customer="client_id", date="date", amount="amount")
    got = ts.rfm(tx, as_of=cut, **kw)
    kept = tx[tx["date"] <= cut]
    pd.testing.assert_frame_equal(got, ts.rfm(kept, now=cut, **kw))
    assert got.attrs["later_transactions"] == int((tx["date"] > cut).sum()) > 0
    assert len(got) < tx["client_id"].nunique()  # clients who first bought later are not clients yet
    with pytest.raises(ValueError, match="at most one of now="):
        ts.rfm(tx, now=cut, as_of=cut, **kw)
    with pytest.raises(ValueError, match="every transaction is after as_of"):
        ts.rfm(tx, as_of=tx["date"].min() - pd.Timedelta(days=1), **kw)

# ---------------------------------------------------------------- issue 26 item 1: standard errors and intervals

def _reference_covariance(f, p, h=1e-4):
    """Inverse of minus the central-difference Hessian of the log-likelihood f at p (numpy only)."""
    p = np.asarray(p, float)
    k = len(p)
    H = np.zeros((k, k))
    step = h * np.maximum(np.abs(p), 1e-3)
    for i in range(k):
        for j in range(k):
            def shifted(si, sj):
                q = p.copy()
                q[i] += si * step[i]
                q[j] += sj * step[j]
                return f(q)
            H[i, j] = (shifted(1, 1) - shifted(1, -1) - shifted(-1, 1) + shifted(-1, -1)) / (4 * step[i] * step[j])
    return np.linalg.inv(-H)


def _gg_ll(p, x, m, w):
    """Reference Gamma-Gamma log-likelihood (Fader & Hardie 2013), numpy."""
    pp, q, v = p
    px = pp * x
    return float(np.sum(w * (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
                             + px * np.log(x) - (px + q) * np.log(x * m + v))))


def _check_covariance(got, ref):
    """Standard errors within 1e-3 relative; covariances within 1e-3 of sqrt(var_i var_j)."""
    got = np.asarray(got)
    se_got, se_ref = np.sqrt(np.diag(got)), np.sqrt(np.diag(ref))
    np.testing.assert_allclose(se_got, se_ref, rtol=1e-3)
    np.testing.assert_allclose(got / np.outer(se_ref, se_ref), ref / np.outer(se_ref, se_ref), atol=1e-3)


def test_bgnbd_standard_errors_equal_a_numpy_hessian_on_cdnow(cdnow_summary):
    bg = ts.BetaGeo().fit(cdnow_summary)
    names = ["r", "alpha", "a", "b"]
    p = [bg.params_[k] for k in names]
    x, t, T, w = _patterns(cdnow_summary)
    ref = _reference_covariance(lambda q: _bgnbd_ll(q, x, t, T, w), p)
    assert list(bg.covariance_.index) == names and bg.boundary_ == "interior"
    _check_covariance(bg.covariance_.loc[names, names], ref)
    np.testing.assert_allclose(bg.std_errors_[names], np.sqrt(np.diag(ref)), rtol=1e-3)
    table = bg.summary()
    assert list(table.columns) == ["coef", "se", "lower", "upper", "fixed"]
    assert not table["fixed"].any() and np.isfinite(table[["coef", "se", "lower", "upper"]].to_numpy()).all()
    # The normal approximation on the log scale, by hand.
    z = 1.959963984540054
    np.testing.assert_allclose(table["lower"], table["coef"] * np.exp(-z * table["se"] / table["coef"]), rtol=1e-12)
    np.testing.assert_allclose(table["upper"], table["coef"] * np.exp(z * table["se"] / table["coef"]), rtol=1e-12)
    assert (table["lower"] < table["coef"]).all() and (table["coef"] < table["upper"]).all()
    narrow = bg.summary(level=0.5)
    assert (narrow["upper"] < table["upper"]).all()


def test_gammagamma_standard_errors_equal_a_numpy_hessian_on_cdnow(cdnow_summary):
    gg = ts.GammaGamma().fit(cdnow_summary)
    s = cdnow_summary[(cdnow_summary["frequency"] > 0) & (cdnow_summary["monetary_value"] > 0)]
    x, m = s["frequency"].to_numpy(), s["monetary_value"].to_numpy()
    p = [gg.params_[k] for k in ("p", "q", "v")]
    ref = _reference_covariance(lambda q: _gg_ll(q, x, m, np.ones(len(x))), p)
    _check_covariance(gg.covariance_.to_numpy(), ref)
    assert list(gg.summary().index) == ["p", "q", "v"]


def test_bgnbd_standard_errors_on_simulated_data_and_with_weights():
    s = _draw_bgnbd(5000, 0.6, 4.0, 0.9, 3.0, 11)
    bg = ts.BetaGeo().fit(s)
    p = [bg.params_[k] for k in ("r", "alpha", "a", "b")]
    x, t, T, w = _patterns(s)
    _check_covariance(bg.covariance_.to_numpy(), _reference_covariance(lambda q: _bgnbd_ll(q, x, t, T, w), p))
    # The same fit on all clients, and on the distinct patterns passed with their counts as weights.
    full = ts.BetaGeo(compress=False).fit(s)
    weighted = ts.BetaGeo(compress=False).fit(pd.DataFrame({"frequency": x, "recency": t, "T": T}), weights=w)
    for other in (full, weighted):
        np.testing.assert_allclose(other.covariance_.to_numpy(), bg.covariance_.to_numpy(), rtol=1e-5, atol=0)


def test_bgnbd_interval_coverage_by_simulation():
    # 200 data sets of 2,000 clients from known parameters: each parameter's 95 % interval covers the truth
    # about 95 % of the time (190 of 200, binomial sd 3.1; the tolerance is 4 sd).
    truth = {"r": 0.5, "alpha": 4.0, "a": 0.8, "b": 2.5}
    covered = {k: 0 for k in truth}
    for seed in range(200):
        table = ts.BetaGeo().fit(_draw_bgnbd(2000, *truth.values(), 1000 + seed)).summary()
        for k, v in truth.items():
            covered[k] += table.loc[k, "lower"] <= v <= table.loc[k, "upper"]
    assert all(178 <= c <= 200 for c in covered.values()), covered


def test_bgnbd_no_dropout_face_standard_errors(no_dropout_summary):
    bg = ts.BetaGeo().fit(no_dropout_summary)
    assert bg.boundary_ == "no_dropout"
    assert bg.fixed_.to_dict() == {"r": False, "alpha": False, "a": True, "b": True}
    table = bg.summary()
    assert not table.isna().any().any()
    assert table.loc["a", ["coef", "se", "lower", "upper"]].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert table.loc["b", "coef"] == np.inf and table.loc["b", "se"] == 0 and table.loc["b", "upper"] == np.inf
    # r and alpha: the NBD's observed information (the likelihood on the face a = 0).
    x, _, T, w = _patterns(no_dropout_summary)

    def nbd(q):
        r, alpha = q
        return float(np.sum(w * (gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T))))

    ref = _reference_covariance(nbd, [bg.params_["r"], bg.params_["alpha"]])
    _check_covariance(bg.covariance_.to_numpy()[:2, :2], ref)
    assert (bg.covariance_.to_numpy()[2:, :] == 0).all() and (bg.covariance_.to_numpy()[:, 2:] == 0).all()
    # Intervals hold a = 0: P(alive) is 1 in every draw.
    alive = bg.probability_alive(no_dropout_summary, interval=0.9, draws=50)
    assert (alive[["p_alive", "lower", "upper"]] == 1.0).all().all()


def test_bgnbd_flat_in_a_plus_b_holds_it():
    s = _summary(_purchase_log(4000, 0.8, 40.0, seed=9, dropout=(1e8, 9e8)))
    bg = ts.BetaGeo().fit(s)
    assert bg.boundary_ == "a_plus_b_held"
    table = bg.summary()
    assert np.isfinite(table[["coef", "se", "lower", "upper"]].to_numpy()).all()
    # a + b is held: a and b move only through a / (a + b), in opposite directions (correlation -1).
    c = bg.covariance_.to_numpy()
    assert c[2, 3] / np.sqrt(c[2, 2] * c[3, 3]) == pytest.approx(-1.0, abs=1e-6)
    assert not bg.fixed_.any()
    out = bg.predict(s, 26.0, interval=0.95, draws=50)
    assert np.isfinite(out.to_numpy()).all() and (out["lower"] <= out["upper"]).all()


def test_bgnbd_sample_params_moments_and_seed(cdnow_summary):
    bg = ts.BetaGeo().fit(cdnow_summary)
    d = bg.sample_params(draws=20_000, seed=3)
    assert d.equals(bg.sample_params(draws=20_000, seed=3)) and not d.equals(bg.sample_params(draws=20_000, seed=4))
    logs = np.log(d.to_numpy())
    p = np.array(list(bg.params_.values()))
    want = bg.covariance_.to_numpy() / np.outer(p, p)
    assert (np.abs(logs.mean(axis=0) - np.log(p)) < 4 * np.sqrt(np.diag(want) / 20_000)).all()
    np.testing.assert_allclose(np.cov(logs.T), want, rtol=0.05, atol=0.05 * np.sqrt(np.outer(np.diag(want),
                                                                                           np.diag(want))).max())


def test_bgnbd_prediction_intervals_equal_numpy_quantiles_over_the_draws(cdnow_summary, restore_threads):
    s = cdnow_summary
    bg = ts.BetaGeo().fit(s)
    with ts.threads(1):
        one = bg.predict(s, 39.0, interval=0.9, draws=100, seed=5)
        alive1 = bg.probability_alive(s, interval=0.9, draws=100, seed=5)
    with ts.threads(2):
        two = bg.predict(s, 39.0, interval=0.9, draws=100, seed=5)
        alive2 = bg.probability_alive(s, interval=0.9, draws=100, seed=5)
    pd.testing.assert_frame_equal(one, two)
    pd.testing.assert_frame_equal(alive1, alive2)
    np.testing.assert_array_equal(one.iloc[:, 0], bg.predict(s, 39.0))
    # Reference: the point prediction under each draw, then numpy's quantiles.
    draws = bg.sample_params(draws=100, seed=5)
    e, a = [], []
    for row in draws.itertuples(index=False):
        m = ts.BetaGeo()
        m.params_ = row._asdict()
        e.append(m.predict(s, 39.0).to_numpy())
        a.append(m.probability_alive(s).to_numpy())
    e, a = np.array(e), np.array(a)
    np.testing.assert_allclose(one["lower"], np.quantile(e, 0.05, axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(one["upper"], np.quantile(e, 0.95, axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(alive1["lower"], np.quantile(a, 0.05, axis=0), rtol=1e-12)
    np.testing.assert_allclose(alive1["upper"], np.quantile(a, 0.95, axis=0), rtol=1e-12)
    assert (one["lower"] <= one.iloc[:, 0]).mean() > 0.9 and (one.iloc[:, 0] <= one["upper"]).mean() > 0.9
    assert ((alive1["lower"] > 0) & (alive1["upper"] <= 1)).all()


def test_lifetime_value_intervals_equal_numpy_quantiles(cdnow_summary):
    s = cdnow_summary
    bg, gg = ts.BetaGeo().fit(s), ts.GammaGamma().fit(s)
    out = ts.lifetime_value(bg, gg, s, months=6, monthly_discount=0.01, margin=0.3, interval=0.8, draws=60, seed=2)
    pd.testing.assert_series_equal(out["clv"], ts.lifetime_value(bg, gg, s, months=6, margin=0.3))
    bd, gd = bg.sample_params(60, seed=2), gg.sample_params(60, seed=3)

    def reference_clv(b, g):
        """The documented sum over months, from the point predictions (one call per month)."""
        total, previous = 0.0, 0.0
        for month in range(1, 7):
            cumulative = b.predict(s, month * 365.25 / 12 / 7).to_numpy()
            total = total + (cumulative - previous) / 1.01 ** month
            previous = cumulative
        return 0.3 * g.expected_spend(s).to_numpy() * total

    np.testing.assert_allclose(out["clv"], reference_clv(bg, gg), rtol=1e-10)
    values = []
    for b_row, g_row in zip(bd.itertuples(index=False), gd.itertuples(index=False)):
        b, g = ts.BetaGeo(), ts.GammaGamma()
        b.params_, g.params_ = b_row._asdict(), g_row._asdict()
        values.append(reference_clv(b, g))
    values = np.array(values)
    np.testing.assert_allclose(out["lower"], np.quantile(values, 0.1, axis=0), rtol=1e-9)
    np.testing.assert_allclose(out["upper"], np.quantile(values, 0.9, axis=0), rtol=1e-9)
    assert (out["lower"] < out["upper"]).all()


def test_uncertainty_bad_input(cdnow_summary):
    bg = ts.BetaGeo().fit(cdnow_summary)
    with pytest.raises(ValueError, match="interval must be in"):
        bg.predict(cdnow_summary, 10.0, interval=1.0)
    with pytest.raises(ValueError, match="draws"):
        bg.predict(cdnow_summary, 10.0, interval=0.9, draws=1)
    with pytest.raises(ValueError, match="seed"):
        bg.probability_alive(cdnow_summary, interval=0.9, seed=-1)
    with pytest.raises(ValueError, match="level"):
        bg.summary(level=0.0)
    with pytest.raises(ValueError, match="not fitted"):
        ts.BetaGeo().summary()
    with pytest.raises(ValueError, match="not fitted"):
        ts.GammaGamma().sample_params()


def test_calibration_summary_as_of_is_the_log_cut_by_hand(prm):
    tx = prm.transactions
    span = tx["date"].max() - tx["date"].min()
    cal, cut = tx["date"].min() + span / 2, tx["date"].min() + span * 3 / 4
    kw = dict(customer="client_id", date="date", amount="amount", calibration_end=cal)
    got = ts.calibration_summary(tx, as_of=cut, **kw)
    ref = ts.calibration_summary(tx[tx["date"] <= cut], observation_end=cut, **kw)
    pd.testing.assert_frame_equal(got, ref, check_like=False)
    assert "holdout_frequency" in got and got.attrs["later_transactions"] == int((tx["date"] > cut).sum()) > 0
    with pytest.raises(ValueError, match="every transaction is after as_of"):
        ts.calibration_summary(tx, as_of=tx["date"].min() - pd.Timedelta(days=1), **kw)
