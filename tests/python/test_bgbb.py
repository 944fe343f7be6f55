"""BG/BB (Fader, Hardie & Shang 2010): the published donation fit, an independent scipy implementation,
standard errors against a numpy Hessian, simulated recovery, long histories, the summary helper, model files."""

import io
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln, gammaln, hyp2f1

import twinscore as ts

# The 1995 donor cohort: (x, t_x) over n = 6 annual opportunities and the number of donors of each pattern
# (11,104 in all), as lifetimes ships it in datasets/donations.csv.
DONATION_PATTERNS = [(0, 0, 3464), (1, 1, 1091), (1, 2, 277), (1, 3, 129), (1, 4, 78), (1, 5, 119), (1, 6, 129),
                     (2, 2, 613), (2, 3, 255), (2, 4, 155), (2, 5, 173), (2, 6, 234), (3, 3, 322), (3, 4, 181),
                     (3, 5, 225), (3, 6, 357), (4, 4, 240), (4, 5, 284), (4, 6, 512), (5, 5, 335), (5, 6, 728),
                     (6, 6, 1203)]
PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
NAMES = ["alpha", "beta", "gamma", "delta"]


def _table():
    x, t, w = (np.array(c, dtype=float) for c in zip(*DONATION_PATTERNS))
    return pd.DataFrame({"frequency": x, "recency": t, "n_periods": 6.0, "weights": w})


@pytest.fixture(scope="session")
def lifetimes_donations(tmp_path_factory):
    """datasets/donations.csv read from the lifetimes 0.11.3 wheel, downloaded into a throw-away folder."""
    folder = tmp_path_factory.mktemp("lifetimes")
    try:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "lifetimes==0.11.3", "--no-deps", "-q",
                            "-d", str(folder)], capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip("pip download of lifetimes timed out (offline?)")
    wheels = list(folder.glob("*.whl"))
    if r.returncode != 0 or not wheels:
        pytest.skip(f"lifetimes could not be downloaded (offline?): {r.stderr.strip()[-200:]}")
    with zipfile.ZipFile(wheels[0]) as z:
        return pd.read_csv(io.BytesIO(z.read("lifetimes/datasets/donations.csv")))


# ---------------------------------------------------------------- the scipy reference (the paper's formulas)

def _ll_terms(p, x, t, n):
    """Per-pattern log-likelihood, eq. (5), term by term with betaln."""
    a, b, g, d = p
    first = betaln(a + x, b + n - x) - betaln(a, b) + betaln(g, d + n) - betaln(g, d)
    total = np.exp(first)
    for i in range(int(np.max(n - t))):
        live = i <= n - t - 1
        term = np.exp(betaln(a + x, b + t - x + i) - betaln(a, b) + betaln(g + 1, d + t + i) - betaln(g, d))
        total = total + np.where(live, term, 0.0)
    return np.log(total)


def _ll(p, x, t, n, w):
    return float(np.sum(w * _ll_terms(p, x, t, n)))


def _p_alive(p, x, t, n):
    a, b, g, d = p
    return np.exp(betaln(a + x, b + n - x) - betaln(a, b) + betaln(g, d + n + 1) - betaln(g, d) - _ll_terms(p, x, t, n))


def _expected(p, x, t, n, s):
    """E[X(n, n + s) | x, t_x, n], eq. (13): the closed form with Gamma ratios."""
    a, b, g, d = p
    lead = np.exp(betaln(a + x + 1, b + n - x) - betaln(a, b) - _ll_terms(p, x, t, n))
    ratio = lambda k: np.exp(gammaln(1 + d + k) - gammaln(g + d + k))  # noqa: E731
    return lead * d / (g - 1) * np.exp(gammaln(g + d) - gammaln(1 + d)) * (ratio(n) - ratio(n + s))


def _dert(p, x, t, n, disc):
    """DERT, eq. (15), with scipy's 2F1."""
    a, b, g, d = p
    lead = np.exp(betaln(a + x + 1, b + n - x) - betaln(a, b) + betaln(g, d + n + 1) - betaln(g, d)
                  - _ll_terms(p, x, t, n))
    return lead / (1 + disc) * hyp2f1(1, d + n + 1, g + d + n + 1, 1 / (1 + disc))


def _counts(p, n, x):
    """P(X(n) = x), eq. (8)."""
    a, b, g, d = p
    from scipy.special import comb
    out = comb(n, x) * np.exp(betaln(a + x, b + n - x) - betaln(a, b) + betaln(g, d + n) - betaln(g, d))
    for i in range(x, n):
        out += comb(i, x) * np.exp(betaln(a + x, b + i - x) - betaln(a, b) + betaln(g + 1, d + i) - betaln(g, d))
    return out


def _hessian_covariance(f, p, rel=1e-4):
    """Inverse of minus the numpy central-difference Hessian of f at p."""
    p = np.asarray(p, dtype=float)
    h = rel * p
    k = len(p)
    H = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            H[i, j] = (f(p + e_i + e_j) - f(p + e_i - e_j) - f(p - e_i + e_j) + f(p - e_i - e_j)) / (4 * h[i] * h[j])
    return np.linalg.inv(-H)


# ---------------------------------------------------------------- the published fit

def test_the_lifetimes_csv_is_the_pattern_table(lifetimes_donations):
    d = lifetimes_donations
    assert list(d.columns) == ["frequency", "recency", "periods", "weights"]
    assert d["weights"].sum() == 11104
    want = _table()
    np.testing.assert_array_equal(d[["frequency", "recency", "periods", "weights"]].to_numpy(dtype=float),
                                  want[["frequency", "recency", "n_periods", "weights"]].to_numpy())
    m = ts.BetaGeoBetaBinom().fit(d.rename(columns={"periods": "n_periods"}), weights=d["weights"])
    for k, v in PUBLISHED.items():
        assert m.params_[k] == pytest.approx(v, abs=5e-4), k


def test_reproduces_the_published_donation_fit():
    d = _table()
    m = ts.BetaGeoBetaBinom().fit(d, weights="weights")
    for k, v in PUBLISHED.items():
        assert m.params_[k] == pytest.approx(v, abs=5e-4), k
    # Fader, Hardie & Shang (2010): LL = -33,225.6.
    assert m.log_likelihood_ == pytest.approx(-33225.6, abs=0.05)
    assert m.n_clients_ == 11104
    # The same fit on one row per donor (11,104 rows), compressed or not.
    donors = d.loc[d.index.repeat(d["weights"].astype(int))].reset_index(drop=True)
    for compress in (True, False):
        full = ts.BetaGeoBetaBinom(compress=compress).fit(donors)
        for k in NAMES:
            assert full.params_[k] == pytest.approx(m.params_[k], rel=1e-6)
        assert full.log_likelihood_ == pytest.approx(m.log_likelihood_, rel=1e-10)


def test_likelihood_and_predictions_equal_the_scipy_reference():
    d = _table()
    x, t, n, w = (d[c].to_numpy() for c in ("frequency", "recency", "n_periods", "weights"))
    p = [1.3, 0.7, 0.6, 2.9]
    ll, grad = ts._core.bgbb_loglik(p, x, t, n, w)
    assert ll == pytest.approx(_ll(p, x, t, n, w), rel=1e-12)
    num = [(_ll(p + np.eye(4)[k] * 1e-6, x, t, n, w) - _ll(p - np.eye(4)[k] * 1e-6, x, t, n, w)) / 2e-6
           for k in range(4)]
    np.testing.assert_allclose(grad, num, rtol=1e-6)

    m = ts.BetaGeoBetaBinom().fit(d, weights="weights")
    q = [m.params_[k] for k in NAMES]
    np.testing.assert_allclose(m.probability_alive(d), _p_alive(q, x, t, n), rtol=1e-11)
    for s in (1, 5, 10):
        np.testing.assert_allclose(m.predict(d, s), _expected(q, x, t, n, s), rtol=1e-10)
    np.testing.assert_allclose(m.expected_residual_transactions(d, discount=0.1), _dert(q, x, t, n, 0.1), rtol=1e-10)
    # A new client: E[X(n)] = alpha / (alpha + beta) * delta / (gamma - 1) * [1 - Gamma ratio] (eq. 9).
    a, b, g, dl = q
    for s in (1, 6, 11):
        want = a / (a + b) * dl / (g - 1) * (1 - np.exp(gammaln(g + dl) + gammaln(1 + dl + s) - gammaln(g + dl + s)
                                                        - gammaln(1 + dl)))
        assert m.expected_purchases_new(s) == pytest.approx(want, rel=1e-12)
    counts = m.purchase_count_probabilities([6, 11], 11)
    for row, age in enumerate((6, 11)):
        np.testing.assert_allclose(counts[row, :age + 1], [_counts(q, age, k) for k in range(age + 1)], rtol=1e-11)
        assert counts[row].sum() == pytest.approx(1.0, abs=1e-12)
    # Expected transactions and P(alive) are monotone in the right directions.
    assert (m.predict(d, 5) <= m.predict(d, 10)).all()


def test_predictions_at_gamma_one_have_no_singularity():
    d = _table()
    m = ts.BetaGeoBetaBinom().fit(d, weights="weights")
    m.params_ = {**m.params_, "gamma": 1.0}
    near = {**m.params_, "gamma": 1.0 + 1e-7}
    x, t, n = (d[c].to_numpy() for c in ("frequency", "recency", "n_periods"))
    got = m.predict(d, 5).to_numpy()
    want = _expected([near[k] for k in NAMES], x, t, n, 5)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_standard_errors_equal_a_numpy_hessian():
    d = _table()
    x, t, n, w = (d[c].to_numpy() for c in ("frequency", "recency", "n_periods", "weights"))
    m = ts.BetaGeoBetaBinom().fit(d, weights="weights")
    q = [m.params_[k] for k in NAMES]
    ref = _hessian_covariance(lambda v: _ll(v, x, t, n, w), q)
    se = np.sqrt(np.diag(ref))
    np.testing.assert_allclose(m.std_errors_[NAMES], se, rtol=1e-3)
    np.testing.assert_allclose(m.covariance_.loc[NAMES, NAMES] / np.outer(se, se), ref / np.outer(se, se), atol=1e-3)
    table = m.summary()
    assert list(table.index) == NAMES and not table["fixed"].any()
    z = 1.959963984540054
    np.testing.assert_allclose(table["upper"], table["coef"] * np.exp(z * table["se"] / table["coef"]), rtol=1e-12)


def _simulate(n_clients, n, params, seed):
    """The BG/BB process, opportunity by opportunity (vectorised over clients)."""
    rng = np.random.default_rng(seed)
    a, b, g, d = params
    p = rng.beta(a, b, n_clients)
    theta = rng.beta(g, d, n_clients)
    alive = np.ones(n_clients, dtype=bool)
    buys = np.zeros((n_clients, n), dtype=bool)
    for k in range(n):  # opportunities: a drop-out chance, then a purchase chance if still alive
        alive &= rng.random(n_clients) >= theta
        buys[:, k] = alive & (rng.random(n_clients) < p)
    x = buys.sum(axis=1).astype(float)
    last = np.where(x > 0, n - np.argmax(buys[:, ::-1], axis=1), 0).astype(float)
    return pd.DataFrame({"frequency": x, "recency": last, "n_periods": float(n)})


def test_recovers_simulated_parameters_and_is_thread_independent(restore_threads):
    truth = [0.9, 1.6, 0.5, 3.0]
    s = _simulate(40_000, 12, truth, 3)
    with ts.threads(1):
        one = ts.BetaGeoBetaBinom().fit(s)
        p_one = one.predict(s, 8, interval=0.9, draws=50)
    with ts.threads(2):
        two = ts.BetaGeoBetaBinom().fit(s)
        p_two = two.predict(s, 8, interval=0.9, draws=50)
    assert one.params_ == two.params_
    pd.testing.assert_frame_equal(p_one, p_two)
    table = one.summary(level=0.999)
    for k, v in zip(NAMES, truth):
        assert table.loc[k, "lower"] < v < table.loc[k, "upper"], (k, table)


def test_long_histories_stay_finite():
    # A weekly newsletter over 60 years: n = 3,120 opportunities.
    s = _simulate(3000, 3120, [2.0, 8.0, 0.2, 40.0], 5)
    m = ts.BetaGeoBetaBinom().fit(s)
    assert all(np.isfinite(v) for v in m.params_.values())
    for out in (m.predict(s, 520), m.probability_alive(s), m.expected_residual_transactions(s, discount=0.002)):
        assert np.isfinite(out.to_numpy()).all() and (out >= 0).all()
    extreme = pd.DataFrame({"frequency": [0.0, 1, 5000, 10000], "recency": [0.0, 10000, 9000, 10000],
                            "n_periods": 10000.0})
    assert np.isfinite(m.predict(extreme, 1000)).all() and np.isfinite(m.probability_alive(extreme)).all()
    ll, grad = ts._core.bgbb_loglik([1e6, 1e6, 1e-5, 1e7], *(extreme[c].to_numpy() for c in
                                                              ("frequency", "recency", "n_periods")), None)
    assert np.isfinite(ll) and np.isfinite(grad).all()


def test_intervals_equal_numpy_quantiles_over_the_draws():
    d = _table()
    m = ts.BetaGeoBetaBinom().fit(d, weights="weights")
    draws = m.sample_params(40, seed=3)
    per_draw = []
    for _, row in draws.iterrows():  # 40 draws: the reference evaluates the model under each
        other = ts.BetaGeoBetaBinom()
        other.params_ = row.to_dict()
        per_draw.append(other.predict(d, 5).to_numpy())
    per_draw = np.array(per_draw)
    got = m.predict(d, 5, interval=0.8, draws=40, seed=3)
    np.testing.assert_allclose(got["lower"], np.quantile(per_draw, 0.1, axis=0), rtol=1e-12)
    np.testing.assert_allclose(got["upper"], np.quantile(per_draw, 0.9, axis=0), rtol=1e-12)
    alive = m.probability_alive(d, interval=0.95, draws=40, seed=3)
    assert ((alive["lower"] <= alive["p_alive"] + 1e-12) & (alive["p_alive"] <= alive["upper"] + 1e-12)).all()


# ---------------------------------------------------------------- the summary from a transaction log

def test_discrete_summary_equals_pandas():
    rng = np.random.default_rng(0)
    n = 5000
    tx = pd.DataFrame({"who": rng.integers(0, 800, n),
                       "when": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 6 * 365, n), unit="D")})
    s = ts.discrete_summary(tx, customer="who", date="when", freq="Y", calibration_end="2023-12-31",
                            observation_end="2025-12-31")
    # Independently: years with a purchase per client.
    years = tx.assign(y=tx["when"].dt.year).drop_duplicates(["who", "y"])
    first = years.groupby("who")["y"].min()
    cohort = first[first <= 2023]
    cal = years[years["who"].isin(cohort.index) & (years["y"] <= 2023)]
    rep = cal[cal["y"] > cal["who"].map(first)]
    want = pd.DataFrame({"frequency": rep.groupby("who").size(),
                         "recency": rep.groupby("who")["y"].max() - first}).reindex(cohort.index).fillna(0.0)
    want["n_periods"] = 2023 - cohort
    want["holdout_frequency"] = years[years["who"].isin(cohort.index) & (years["y"] > 2023)].groupby("who").size()
    want = want.fillna(0.0)
    got = s.loc[want.index]
    for c in ("frequency", "recency", "n_periods", "holdout_frequency"):
        np.testing.assert_array_equal(got[c].to_numpy(), want[c].to_numpy(dtype=float), err_msg=c)
    assert len(s) == len(cohort) and s.attrs["n_holdout_periods"] == 2
    m = ts.BetaGeoBetaBinom().fit(s)
    assert np.isfinite(m.predict(s, 2)).all()


def test_discrete_summary_bad_input():
    tx = pd.DataFrame({"who": [1, 1, 2], "when": pd.to_datetime(["2020-01-05", "2021-02-01", "2022-03-01"])})
    with pytest.raises(ValueError, match="period alias"):
        ts.discrete_summary(tx, customer="who", date="when", freq="fortnightly", calibration_end="2021-12-31")
    with pytest.raises(ValueError, match="before the first purchase"):
        ts.discrete_summary(tx, customer="who", date="when", freq="Y", calibration_end="2019-12-31")
    with pytest.raises(ValueError, match="after the observation end"):
        ts.discrete_summary(tx, customer="who", date="when", freq="Y", calibration_end="2020-12-31",
                            observation_end="2021-06-30")
    with pytest.raises(KeyError, match="customer"):
        ts.discrete_summary(tx, customer="nobody", date="when", freq="Y", calibration_end="2021-12-31")


# ---------------------------------------------------------------- estimator surface

def test_bad_input_is_an_error():
    d = _table()
    m = ts.BetaGeoBetaBinom()
    with pytest.raises(ValueError, match="not fitted"):
        m.predict(d, 1)
    with pytest.raises(KeyError, match="n_periods"):
        m.fit(d.drop(columns="n_periods"))
    with pytest.raises(ValueError, match="impossible"):
        m.fit(d.assign(recency=0.0))
    with pytest.raises(ValueError, match="recency .* must be <= n_periods"):
        m.fit(d.assign(n_periods=3.0))
    with pytest.raises(ValueError, match="whole number"):
        m.fit(d.assign(n_periods=6.5))
    with pytest.raises(ValueError, match="non-finite"):
        m.fit(d.assign(frequency=np.nan))
    m.fit(d, weights="weights")
    with pytest.raises(TypeError, match="t must be an integer"):
        m.predict(d, 2.5)
    with pytest.raises(ValueError, match="discount"):
        m.expected_residual_transactions(d, discount=0.0)
    with pytest.raises(ValueError, match="weights"):
        ts.BetaGeoBetaBinom().fit(d, weights=np.ones(3))


def test_model_file_pickle_and_reprs(tmp_path):
    d = _table()
    m = ts.BetaGeoBetaBinom().fit(d, weights="weights")
    assert repr(m).startswith("BetaGeoBetaBinom(alpha=1.2") and "11,104 clients" in repr(m)
    assert repr(ts.BetaGeoBetaBinom()) == "BetaGeoBetaBinom()"
    assert "alpha" in m._repr_html_()
    m.save(tmp_path / "bgbb.tsm")
    for other in (ts.load(tmp_path / "bgbb.tsm"), ts.BetaGeoBetaBinom.load(tmp_path / "bgbb.tsm"),
                  pickle.loads(pickle.dumps(m))):
        assert type(other) is ts.BetaGeoBetaBinom and other.params_ == m.params_
        pd.testing.assert_frame_equal(other.covariance_, m.covariance_)
        pd.testing.assert_series_equal(other.predict(d, 5), m.predict(d, 5))
    with pytest.raises(ValueError, match="not a BetaGeo"):
        ts.BetaGeo.load(tmp_path / "bgbb.tsm")


def test_one_dropout_probability_for_all_holds_gamma_plus_delta():
    # Every client leaves with the same probability 0.06 before each opportunity: the likelihood's supremum is
    # at gamma + delta -> infinity. The fit stops on the way; the covariance holds gamma + delta and equals the
    # numpy Hessian of the limit model (p ~ Beta(alpha, beta), theta = m for all) in (alpha, beta, m).
    s = _simulate(30_000, 18, [3.0, 4.5, 6e7, 9.4e8], 6)
    m = ts.BetaGeoBetaBinom().fit(s)
    assert m.boundary_ == "gamma_plus_delta_held"
    p = m.params_
    s2 = p["gamma"] + p["delta"]
    assert s2 > 1e6 and p["gamma"] / s2 == pytest.approx(0.06, abs=0.01)
    x, t, n = (s[c].to_numpy() for c in ("frequency", "recency", "n_periods"))
    pat, w = np.unique(np.c_[x, t, n], axis=0, return_counts=True)
    x, t, n = pat.T

    def limit_ll(v):
        a, b, mean = v
        total = np.exp(betaln(a + x, b + n - x) - betaln(a, b) + n * np.log1p(-mean))
        for i in range(int(np.max(n - t))):
            term = np.exp(betaln(a + x, b + t - x + i) - betaln(a, b) + np.log(mean) + (t + i) * np.log1p(-mean))
            total = total + np.where(i <= n - t - 1, term, 0.0)
        return float(np.sum(w * np.log(total)))

    mean = p["gamma"] / s2
    ref3 = _hessian_covariance(limit_ll, [p["alpha"], p["beta"], mean])
    J = np.zeros((4, 3))
    J[0, 0] = J[1, 1] = 1.0
    J[2, 2], J[3, 2] = s2, -s2
    ref = J @ ref3 @ J.T
    se = np.sqrt(np.diag(ref))
    np.testing.assert_allclose(m.std_errors_[NAMES], se, rtol=1e-3)
    corr = m.covariance_.loc["gamma", "delta"] / (m.std_errors_["gamma"] * m.std_errors_["delta"])
    assert corr == pytest.approx(-1.0, abs=1e-9)
    assert np.isfinite(m.summary()[["lower", "upper"]].to_numpy()).all()
    band = m.probability_alive(s, interval=0.9, draws=50)
    assert np.isfinite(band.to_numpy()).all()
