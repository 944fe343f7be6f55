"""ParetoNBD: the engine's likelihood and its 2F1 terms against mpmath at 50 digits, the published CDNOW fit,
standard errors against a finite-difference Hessian of an independent scipy likelihood, predictions, intervals,
model files and bad input."""

import pickle

import mpmath as mp
import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln, hyp2f1

import twinscore as ts
from twinscore import _core

CDNOW_FIT = {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}  # Fader, Hardie & Lee (2005)


def _cdnow_summary():
    try:
        tx = ts.datasets.load_cdnow("sample")
    except FileNotFoundError:
        pytest.skip("CDNOW_sample.txt not present")
    return ts.calibration_summary(tx, customer="customer_id", date="date", amount="amount",
                                  calibration_end="1997-09-30", observation_end="1998-06-30")


@pytest.fixture(scope="module")
def cdnow():
    return _cdnow_summary()


@pytest.fixture(scope="module")
def cdnow_fit(cdnow):
    return ts.ParetoNBD().fit(cdnow)


# ---------------------------------------------------------------- independent references


def _mp_parts(r, alpha, s, beta, x, t_x, T):
    """log A0 (the integral over (t_x, T], = the note's 2F1 difference / (r + s + x)) and the log-likelihood, in
    mpmath at 50 digits from the hypergeometric form of Fader, Hardie & Lee (2005, "A note...", eq. 22)."""
    with mp.workdps(50):
        r, alpha, s, beta, x, t_x, T = (mp.mpf(v) for v in (r, alpha, s, beta, x, t_x, T))
        a = r + s + x
        if alpha >= beta:
            def f(t):
                return mp.hyp2f1(a, s + 1, a + 1, (alpha - beta) / (alpha + t)) / (alpha + t) ** a
        else:
            def f(t):
                return mp.hyp2f1(a, r + x, a + 1, (beta - alpha) / (beta + t)) / (beta + t) ** a
        a0 = (f(t_x) - f(T)) / a
        ll = (mp.loggamma(r + x) - mp.loggamma(r) + r * mp.log(alpha) + s * mp.log(beta)
              + mp.log((alpha + T) ** (-(r + x)) * (beta + T) ** (-s) + s * a0))
        return (mp.log(a0) if a0 > 0 else -mp.inf), ll


def _scipy_ll(params, x, t_x, T, w):
    """Pareto/NBD log-likelihood in float64 with scipy's hyp2f1 (lifetimes' form, in log space)."""
    r, alpha, s, beta = params
    a = r + s + x
    if alpha >= beta:
        m, b = alpha, s + 1
    else:
        m, b = beta, r + x
    log1 = np.log(hyp2f1(a, b, a + 1, abs(alpha - beta) / (m + t_x))) - a * np.log(m + t_x)
    log2 = np.log(hyp2f1(a, b, a + 1, abs(alpha - beta) / (m + T))) - a * np.log(m + T)
    with np.errstate(divide="ignore"):
        log_a0 = log1 + np.log1p(-np.exp(log2 - log1))  # -inf when t_x = T
    first = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    ll = (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
          + np.logaddexp(first, np.log(s / a) + log_a0))
    return float(np.sum(w * ll)), np.exp(first - np.logaddexp(first, np.log(s / a) + log_a0))


def _patterns(summary):
    g = summary.groupby(["frequency", "recency", "T"]).size().reset_index(name="w")
    return (g["frequency"].to_numpy(float), g["recency"].to_numpy(float), g["T"].to_numpy(float),
            g["w"].to_numpy(float))


GRID_PARAMS = [
    (0.55, 10.58, 0.61, 11.67),      # CDNOW: alpha < beta
    (0.8, 5.0, 1.3, 5.0 + 1e-9),     # alpha ~ beta (z ~ 0)
    (1.7, 5.0 + 1e-9, 0.4, 5.0),
    (2.0, 1000.0, 0.5, 0.01),        # alpha >> beta: z near 1, the series converges slowly
    (0.3, 0.05, 1.5, 80.0),          # alpha << beta
    (5.0, 2.0, 1.0, 3.0),            # s = 1
]
GRID_SUMMARIES = [(0, 0, 40), (1, 10, 40), (7, 39.99, 40), (7, 40, 40), (30, 5, 5000), (1000, 38, 40),
                  (1000, 2000, 5000)]


@pytest.mark.parametrize("params", GRID_PARAMS)
def test_log_integral_and_likelihood_match_mpmath(params):
    for x, t_x, T in GRID_SUMMARIES:
        ref_a0, ref_ll = _mp_parts(*params, x, t_x, T)
        for method in (0, 1, 2):
            try:
                log_a0, _, _ = _core.paretonbd_log_integral(list(params), x, t_x, T, method)
            except ValueError as e:  # the plain series may give up (100,000 terms): only where z is near 1
                assert method == 1 and "did not converge" in str(e)
                continue
            if ref_a0 == -mp.inf:
                assert log_a0 == -np.inf
            else:
                assert log_a0 == pytest.approx(float(ref_a0), rel=1e-12, abs=1e-11), (params, x, t_x, T, method)
        ll, _ = _core.paretonbd_loglik(list(params), np.array([x], float), np.array([t_x], float),
                                       np.array([T], float), None)
        assert np.isfinite(ll)
        assert ll == pytest.approx(float(ref_ll), rel=1e-12, abs=1e-10), (params, x, t_x, T)


@pytest.mark.parametrize("params", GRID_PARAMS[:4])
def test_log_integral_slopes_match_mpmath(params):
    """d log A0 / d(r, alpha, s, beta), by both methods, against a central difference of mpmath's at 50 digits."""
    for x, t_x, T in [(0, 0, 40), (3, 10, 40), (1000, 38, 40)]:
        for k in range(4):
            def f(v):
                q = list(params)
                q[k] = v
                return _mp_parts(*q, x, t_x, T)[0]
            with mp.workdps(50):  # central difference: truncation ~h^2 = 1e-30, rounding ~1e-35
                v, h = mp.mpf(params[k]), mp.mpf(params[k]) * mp.mpf("1e-15")
                ref = float((f(v + h) - f(v - h)) / (2 * h))
            for method in (1, 2):
                try:
                    _, slopes, _ = _core.paretonbd_log_integral(list(params), x, t_x, T, method)
                except ValueError:
                    continue
                assert slopes[k] == pytest.approx(ref, rel=1e-9, abs=1e-10), (params, x, t_x, T, k, method)


def test_gradient_matches_finite_differences_of_the_engine(cdnow):
    x, t_x, T, w = _patterns(cdnow)
    p = np.array([0.6, 9.0, 0.7, 12.0])
    _, g = _core.paretonbd_loglik(list(p), x, t_x, T, w)
    for k in range(4):
        h = 1e-6 * p[k]
        up, down = p.copy(), p.copy()
        up[k] += h
        down[k] -= h
        fd = (_core.paretonbd_loglik(list(up), x, t_x, T, w)[0] - _core.paretonbd_loglik(list(down), x, t_x, T, w)[0])
        assert g[k] == pytest.approx(fd / (2 * h), rel=1e-6)


# ---------------------------------------------------------------- CDNOW


def test_reproduces_published_cdnow_fit(cdnow, cdnow_fit):
    p = cdnow_fit.params_
    for k, v in CDNOW_FIT.items():
        assert p[k] == pytest.approx(v, abs=0.005 * max(1.0, v))
    assert cdnow_fit.log_likelihood_ == pytest.approx(-9595.0, abs=0.05)
    full = ts.ParetoNBD(compress=False).fit(cdnow)
    for k in CDNOW_FIT:
        assert full.params_[k] == pytest.approx(p[k], rel=1e-6)
    x, t_x, T, w = _patterns(cdnow)
    ref, _ = _scipy_ll([p[k] for k in CDNOW_FIT], x, t_x, T, w)
    assert cdnow_fit.log_likelihood_ == pytest.approx(ref, rel=1e-12)
    assert cdnow_fit.log_likelihood(cdnow) == pytest.approx(ref, rel=1e-12)


def test_standard_errors_match_a_scipy_finite_difference_hessian(cdnow, cdnow_fit):
    x, t_x, T, w = _patterns(cdnow)
    theta = np.array([cdnow_fit.params_[k] for k in CDNOW_FIT])
    h = 1e-4 * theta
    hess = np.empty((4, 4))

    def f(v):
        return _scipy_ll(v, x, t_x, T, w)[0]

    for i in range(4):
        for j in range(i, 4):
            def at(a, b):
                v = theta.copy()
                v[i] += a * h[i]
                v[j] += b * h[j]
                return f(v)
            hess[i, j] = hess[j, i] = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * h[i] * h[j])
    cov = np.linalg.inv(-hess)
    se = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(cdnow_fit.std_errors_.to_numpy(), se, rtol=1e-3)
    np.testing.assert_allclose(cdnow_fit.covariance_.to_numpy(), cov, rtol=2e-3, atol=1e-3 * np.outer(se, se).max())
    table = cdnow_fit.summary(0.9)
    assert list(table.index) == list(CDNOW_FIT) and (table["lower"] < table["coef"]).all()
    assert (table["coef"] < table["upper"]).all() and not table["fixed"].any()


def test_predictions_match_the_independent_formulas(cdnow, cdnow_fit):
    p = cdnow_fit.params_
    r, alpha, s, beta = (p[k] for k in CDNOW_FIT)
    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    _, alive = _scipy_ll([r, alpha, s, beta], x, t_x, T, np.ones_like(x))
    got = cdnow_fit.probability_alive(cdnow)
    np.testing.assert_allclose(got.to_numpy(), alive, rtol=1e-10)
    t = 39.0
    expect = alive * (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * (1 - ((beta + T) / (beta + T + t)) ** (s - 1))
    np.testing.assert_allclose(cdnow_fit.predict(cdnow, t).to_numpy(), expect, rtol=1e-10)
    new = r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
    assert cdnow_fit.expected_purchases_new(t) == pytest.approx(new, rel=1e-12)
    # A handful of clients against mpmath's P(alive) at 50 digits.
    for i in [0, 5, int(np.argmax(x)), int(np.argmax(x == 0))]:
        log_a0, ll = _mp_parts(r, alpha, s, beta, x[i], t_x[i], T[i])
        with mp.workdps(50):
            first = (mp.loggamma(r + x[i]) - mp.loggamma(r) + r * mp.log(alpha) + s * mp.log(beta)
                     - (r + x[i]) * mp.log(alpha + T[i]) - s * mp.log(beta + T[i]))
            assert got.iloc[i] == pytest.approx(float(mp.exp(first - ll)), rel=1e-12)
    # The holdout forecast in aggregate: Fader, Hardie & Lee (2005) find the Pareto/NBD and BG/NBD forecasts of the
    # 39 holdout weeks nearly equal on CDNOW (here 1,666 and 1,653 repeat days; 1,882 happened).
    ours, bg = cdnow_fit.predict(cdnow, 39.0).sum(), ts.BetaGeo().fit(cdnow).predict(cdnow, 39.0).sum()
    assert ours == pytest.approx(bg, rel=0.02)


def test_lifetime_value_with_pareto_nbd(cdnow, cdnow_fit):
    gg = ts.GammaGamma().fit(cdnow)
    clv = ts.lifetime_value(cdnow_fit, gg, cdnow, months=6, monthly_discount=0.01, margin=0.3)
    spend = gg.expected_spend(cdnow).to_numpy()
    month = 365.25 / 12 / 7
    cum = np.stack([cdnow_fit.predict(cdnow, m * month).to_numpy() for m in range(7)])
    expect = 0.3 * spend * sum((cum[m] - cum[m - 1]) / 1.01 ** m for m in range(1, 7))
    np.testing.assert_allclose(clv.to_numpy(), expect, rtol=1e-10)
    ci = ts.lifetime_value(cdnow_fit, gg, cdnow, months=6, margin=0.3, interval=0.9, draws=100, seed=3)
    assert (ci["lower"] <= ci["upper"]).all() and np.isfinite(ci.to_numpy()).all()
    inside = ((ci["lower"] <= ci["clv"] * (1 + 1e-9)) & (ci["clv"] <= ci["upper"] * (1 + 1e-9))).mean()
    assert inside > 0.95


def test_intervals_bracket_the_point_and_are_thread_independent(cdnow, cdnow_fit, restore_threads):
    with ts.threads(1):
        one = cdnow_fit.predict(cdnow, 52.0, interval=0.95, draws=200, seed=1)
        alive1 = cdnow_fit.probability_alive(cdnow, interval=0.8, draws=50)
    with ts.threads(2):
        two = cdnow_fit.predict(cdnow, 52.0, interval=0.95, draws=200, seed=1)
        alive2 = cdnow_fit.probability_alive(cdnow, interval=0.8, draws=50)
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    pd.testing.assert_frame_equal(alive1, alive2, check_exact=True)
    assert ((one["lower"] <= one.iloc[:, 0]) & (one.iloc[:, 0] <= one["upper"])).mean() > 0.95
    # The interval is the quantiles of the predictions under the documented parameter draws.
    draws = cdnow_fit.sample_params(200, seed=1)
    row = cdnow.iloc[[7]]
    values = [ts.ParetoNBD().set_params_from(d) if False else None for d in []]
    values = []
    for d in draws.itertuples(index=False):
        m = ts.ParetoNBD()
        m.params_ = d._asdict()
        values.append(m.predict(row, 52.0).iloc[0])
    lo, hi = np.quantile(values, [0.025, 0.975])
    assert one["lower"].iloc[7] == pytest.approx(lo, rel=1e-12)
    assert one["upper"].iloc[7] == pytest.approx(hi, rel=1e-12)


# ---------------------------------------------------------------- simulated data


def _simulate(n, r, alpha, s, beta, seed):
    """Pareto/NBD clients observed for T in [20, 60): Poisson purchases at rate lambda until an exponential death."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    mu = rng.gamma(s, 1 / beta, n)
    T = rng.uniform(20, 60, n)
    death = rng.exponential(1 / mu)
    end = np.minimum(death, T)
    x = rng.poisson(lam * end)
    # Given x purchases in (0, end], the last is the maximum of x uniforms.
    t_x = np.where(x > 0, end * rng.random(n) ** (1 / np.maximum(x, 1)), 0.0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": t_x, "T": T})


def test_recovers_simulated_parameters_and_threads(restore_threads):
    s = _simulate(20_000, 0.8, 6.0, 0.9, 9.0, 5)
    with ts.threads(1):
        one = ts.ParetoNBD().fit(s)
    with ts.threads(2):
        two = ts.ParetoNBD().fit(s)
    assert one.params_ == two.params_
    pd.testing.assert_frame_equal(one.covariance_, two.covariance_, check_exact=True)
    truth = {"r": 0.8, "alpha": 6.0, "s": 0.9, "beta": 9.0}
    for k, v in truth.items():  # within 3.5 standard errors of the truth
        assert abs(one.params_[k] - v) < 3.5 * one.std_errors_[k], (k, one.params_[k], one.std_errors_[k])
    x, t_x, T, w = _patterns(s)
    ref, _ = _scipy_ll([one.params_[k] for k in truth], x, t_x, T, w)
    assert one.log_likelihood_ == pytest.approx(ref, rel=1e-11)


def test_no_nan_for_large_frequencies_and_long_horizons():
    m = ts.ParetoNBD()
    m.params_ = dict(CDNOW_FIT)
    m.covariance_ = pd.DataFrame(np.diag([0.05, 0.8, 0.09, 2.5]) ** 2, index=list(CDNOW_FIT), columns=list(CDNOW_FIT))
    m.std_errors_ = pd.Series(np.sqrt(np.diag(m.covariance_)), index=list(CDNOW_FIT))
    m.fixed_ = pd.Series(False, index=list(CDNOW_FIT))
    m.boundary_, m._uncertainty_error = "interior", None
    s = pd.DataFrame({"frequency": [0.0, 1000, 5000, 100_000, 3, 3000],
                      "recency": [0.0, 999, 4000, 1e5, 1e6 - 1, 3000],
                      "T": [1e6, 1000, 1e5, 1e5, 1e6, 3000]})
    for t in (0.0, 1.0, 1e4, 1e7):
        e = m.predict(s, t)
        assert np.isfinite(e).all() and (e >= 0).all()
    alive = m.probability_alive(s, interval=0.9, draws=20)
    assert np.isfinite(alive.to_numpy()).all() and ((alive >= 0) & (alive <= 1)).all().all()
    assert np.isfinite(m.log_likelihood(s))
    assert np.isfinite(m.predict(s, 1e5, interval=0.9, draws=20).to_numpy()).all()


def test_model_file_pickle_repr_and_html(cdnow_fit, tmp_path):
    path = tmp_path / "pnbd.tsm"
    cdnow_fit.save(path)
    back = ts.load(path)
    assert isinstance(back, ts.ParetoNBD) and back.params_ == cdnow_fit.params_
    pd.testing.assert_frame_equal(back.covariance_, cdnow_fit.covariance_, check_exact=True)
    again = pickle.loads(pickle.dumps(cdnow_fit))
    assert again.params_ == cdnow_fit.params_
    assert repr(cdnow_fit).startswith("ParetoNBD(r=0.55") and "LL=-9595.0" in repr(cdnow_fit)
    assert repr(ts.ParetoNBD()) == "ParetoNBD()"
    html = cdnow_fit._repr_html_()
    assert "ParetoNBD" in html and "beta" in html
    with pytest.raises(ValueError, match="ParetoNBD"):
        ts.BetaGeo.load(path)


def test_bad_input(cdnow):
    bad = cdnow.head(50).copy()
    bad.iloc[0, bad.columns.get_loc("recency")] = 100.0
    with pytest.raises(ValueError, match="recency"):
        ts.ParetoNBD().fit(bad)
    with pytest.raises(ValueError, match="non-finite"):
        ts.ParetoNBD().fit(cdnow.assign(T=np.nan))
    with pytest.raises(KeyError, match="frequency"):
        ts.ParetoNBD().fit(cdnow.drop(columns="frequency"))
    with pytest.raises(ValueError, match="frequency"):
        ts.ParetoNBD().fit(cdnow.assign(frequency=0.5))
    with pytest.raises(TypeError, match="summary"):
        ts.ParetoNBD().fit(cdnow.to_numpy())
    with pytest.raises(ValueError, match="did not converge"):
        ts.ParetoNBD(max_iter=2).fit(cdnow)
    with pytest.raises(ValueError, match="penalizer"):
        ts.ParetoNBD(penalizer=-1).fit(cdnow)
    with pytest.raises(ValueError, match="weights"):
        ts.ParetoNBD().fit(cdnow, weights=np.ones(3))
    with pytest.raises(ValueError, match="not fitted"):
        ts.ParetoNBD().predict(cdnow, 10)
    fitted = ts.ParetoNBD().fit(cdnow)
    with pytest.raises(ValueError, match="t"):
        fitted.predict(cdnow, -1.0)
    with pytest.raises(ValueError, match="interval"):
        fitted.predict(cdnow, 1.0, interval=1.5)
    with pytest.raises(TypeError, match="BetaGeo or ParetoNBD"):
        ts.lifetime_value(ts.GammaGamma().fit(cdnow), ts.GammaGamma().fit(cdnow), cdnow)
    with pytest.raises(ValueError, match="Pareto/NBD parameters"):
        _core.paretonbd_loglik([1.0, -1.0, 1.0, 1.0], np.ones(1), np.ones(1), np.ones(1), None)
