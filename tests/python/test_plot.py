"""twinscore.plot under matplotlib's Agg backend: every plot draws the numbers of
the library table it comes from (read back from the Axes' artists) and labels
its axes; bad input is refused by name."""

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.patches import Rectangle, StepPatch  # noqa: E402

import twinscore as ts  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- helpers

def _bars(ax):
    """The bar rectangles of an Axes, in drawing order."""
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def _heights(ax):
    return np.array([b.get_height() for b in _bars(ax)])


def _widths(ax):
    return np.array([b.get_width() for b in _bars(ax)])


def _twin(ax):
    """The other Axes sharing ax's x axis (a right-hand scale)."""
    others = [a for a in ax.figure.axes if a is not ax and a.bbox.bounds == ax.bbox.bounds]
    assert len(others) == 1
    return others[0]


def _labelled(ax):
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


# ---------------------------------------------------------------- data

@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(3)
    n = 4000
    s = rng.random(n)
    y = (rng.random(n) < 0.02 + 0.2 * s ** 2).astype(int)
    return y, s


@pytest.fixture(scope="module")
def market():
    return ts.datasets.make_prm(n_prospects=4000, n_clients=600, seed=11)


@pytest.fixture(scope="module")
def value_models(market):
    tx = market.transactions
    cal_end = market.now - pd.Timedelta(days=120)
    summary = ts.calibration_summary(tx, customer="client_id", date="date", amount="amount",
                                     calibration_end=cal_end, observation_end=market.now)
    bg = ts.BetaGeo(penalizer=1e-3).fit(summary)
    seg = ts.rfm(tx, customer="client_id", date="date", amount="amount", now=market.now)
    return seg, summary, bg


@pytest.fixture(scope="module")
def criteria(market):
    p = market.prospects
    return ts.discriminating_criteria(p, "converted", ["sex", "age_band", "region", "income", "categories"])


# ---------------------------------------------------------------- scores

def test_lift_draws_the_lift_table(scored):
    y, s = scored
    ax = ts.plot.lift(y, s, n_bins=10)
    t = ts.metrics.lift_table(y, s, n_bins=10)
    np.testing.assert_allclose(_heights(ax), t["lift"])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), t["cumulative_lift"])
    assert "decile" in ax.get_xlabel()
    _labelled(ax)


def test_gains_draws_the_cumulative_gains_and_the_reference_lines(scored):
    y, s = scored
    ax = ts.plot.gains(y, s, n_bins=20)
    t = ts.metrics.lift_table(y, s, n_bins=20)
    curve, random, perfect = ax.lines[:3]
    np.testing.assert_allclose(curve.get_xdata(), np.r_[0, t["cumulative_contacts_share"]])
    np.testing.assert_allclose(curve.get_ydata(), np.r_[0, t["cumulative_gain"]])
    np.testing.assert_allclose(random.get_ydata(), [0, 1])
    np.testing.assert_allclose(perfect.get_xdata(), [0, y.mean(), 1])
    _labelled(ax)


def test_roc_curve_table_matches_sklearn_and_passes_through_ks(scored):
    from sklearn.metrics import roc_curve

    y, s = scored
    curve = ts.metrics.roc_curve(y, s, n_points=50)
    assert curve["threshold"].is_monotonic_decreasing
    assert (curve.iloc[0][["fpr", "tpr"]] == 0).all() and (curve.iloc[-1][["fpr", "tpr"]] == 1).all()
    # At each threshold, the rates of the contacts scored at or above it.
    for row in curve.iloc[1::10].itertuples():  # a few thresholds
        assert row.tpr == pytest.approx((s[y == 1] >= row.threshold).mean())
        assert row.fpr == pytest.approx((s[y == 0] >= row.threshold).mean())
    fpr, tpr, _ = roc_curve(y, s)
    summary = ts.metrics.roc_summary(y, s)
    at_ks = curve[curve["threshold"] == summary["ks_threshold"]].iloc[0]
    assert at_ks["tpr"] - at_ks["fpr"] == pytest.approx(summary["ks"]) == pytest.approx(np.max(tpr - fpr))


def test_roc_plot_draws_the_curve_and_the_ks_segment(scored):
    y, s = scored
    ax = ts.plot.roc(y, s, n_points=50)
    curve = ts.metrics.roc_curve(y, s, n_points=50)
    summary = ts.metrics.roc_summary(y, s)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), curve["fpr"])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), curve["tpr"])
    (segment,) = [c for c in ax.collections if isinstance(c, LineCollection)][0].get_segments()
    assert segment[1, 1] - segment[0, 1] == pytest.approx(summary["ks"])
    assert f"{summary['auc']:.3f}" in ax.lines[0].get_label()
    _labelled(ax)


def test_calibration_draws_the_table_and_its_counts(scored):
    y, s = scored
    ax = ts.plot.calibration(y, s, n_bins=8)
    t = ts.metrics.calibration_table(y, s, n_bins=8, strategy="quantile")
    line = ax.lines[1]
    np.testing.assert_allclose(line.get_xdata(), t["mean_predicted"])
    np.testing.assert_allclose(line.get_ydata(), t["observed"])
    counts = _twin(ax)
    np.testing.assert_array_equal(_heights(counts), t["contacts"])
    assert counts.get_ylabel()
    _labelled(ax)


def test_score_distribution_draws_the_band_table(scored):
    y, s = scored
    ax = ts.plot.score_distribution(y, s, n_bins=12)
    edges = np.linspace(s.min(), s.max(), 13)
    t = ts.metrics.band_table(y, s, edges)
    rest, conv = [p for p in ax.patches if isinstance(p, StepPatch)]
    np.testing.assert_allclose(conv.get_data().values, t["converted"] / t["converted"].sum())
    rest_counts = t["contacts"] - t["converted"]
    np.testing.assert_allclose(rest.get_data().values, rest_counts / rest_counts.sum())
    np.testing.assert_allclose(conv.get_data().edges, edges)
    _labelled(ax)


def test_score_display_from_estimator_scores_with_predict_proba(market):
    p = market.prospects
    X = p[["income", "sex", "age_band", "region"]]
    model = ts.LogisticScorer().fit(X, p["converted"])
    d = ts.plot.ScoreDisplay.from_estimator(model, X, p["converted"])
    np.testing.assert_allclose(d.y_score, model.predict_proba(X)[:, 1])
    assert d.name == "LogisticScorer"
    fig = d.dashboard()
    assert len(fig.axes) >= 4 and all(a.get_title() for a in fig.axes[:4])


def test_a_given_axes_is_drawn_on_and_returned(scored):
    y, s = scored
    fig, ax = plt.subplots()
    assert ts.plot.lift(y, s, ax=ax) is ax
    with pytest.raises(TypeError, match="ax"):
        ts.plot.lift(y, s, ax="left")


def test_score_plots_refuse_bad_input(scored):
    y, s = scored
    with pytest.raises(ValueError, match="y_true"):
        ts.plot.lift(y * 2, s)
    with pytest.raises(ValueError):
        ts.plot.roc(np.zeros_like(y), s)  # a single class has no ROC curve
    with pytest.raises(TypeError, match="estimator"):
        ts.plot.ScoreDisplay.from_estimator(object(), s[:, None], y)


# ---------------------------------------------------------------- client value

def test_rfm_grid_draws_the_crosstab_of_the_rfm_table(value_models):
    seg, _, _ = value_models
    ax = ts.plot.rfm_grid(seg)
    ref = pd.crosstab(seg["R"], seg["F"]).sort_index(ascending=False)
    image = [i for i in ax.images if isinstance(i, AxesImage)][0]
    np.testing.assert_array_equal(image.get_array(), ref.to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(r) for r in ref.index]
    revenue = ts.plot.rfm_grid(seg, value="monetary")
    ref = seg.groupby(["R", "F"])["monetary"].sum().unstack(fill_value=0).sort_index(ascending=False)
    np.testing.assert_allclose(revenue.images[0].get_array(), ref.to_numpy())
    _labelled(ax)


def test_segment_value_draws_client_and_revenue_shares(value_models):
    seg, _, _ = value_models
    ax = ts.plot.segment_value(seg)
    g = seg.groupby("segment", observed=True)
    ref = pd.DataFrame({"n": g.size(), "v": g["monetary"].sum()}).sort_values("v")
    w = _widths(ax)
    k = len(ref)
    np.testing.assert_allclose(w[:k], ref["n"] / ref["n"].sum())
    np.testing.assert_allclose(w[k:], ref["v"] / ref["v"].sum())
    _labelled(ax)


def test_frequency_recency_and_alive_matrices_are_the_models_predictions(value_models):
    _, summary, bg = value_models
    ax = ts.plot.frequency_recency_matrix(bg, summary, t=4, max_frequency=6)
    image = ax.images[0].get_array()
    T = summary["T"].max()
    assert image.shape[1] == 7
    recency = np.linspace(0, T, image.shape[0])
    for i, j in [(0, 0), (image.shape[0] - 1, 6), (image.shape[0] // 2, 3)]:
        cell = pd.DataFrame({"frequency": [float(j)], "recency": [recency[i]], "T": [T]})
        assert image[i, j] == pytest.approx(bg.predict(cell, 4).iloc[0])
    assert np.ma.getmaskarray(image)[1:, 0].all()  # no client has frequency 0 and a recency > 0
    alive = ts.plot.probability_alive_matrix(bg, summary, max_frequency=6).images[0].get_array()
    cell = pd.DataFrame({"frequency": [6.0], "recency": [recency[-1]], "T": [T]})
    assert alive[-1, 6] == pytest.approx(bg.probability_alive(cell).iloc[0])
    _labelled(ax)


def test_calibration_purchases_draws_holdout_means_by_calibration_frequency(value_models):
    _, summary, bg = value_models
    t = 120 / 7
    ax = ts.plot.calibration_purchases(bg, summary, t=t, max_frequency=4)
    freq = summary["frequency"].clip(upper=4)
    actual = summary["holdout_frequency"].groupby(freq).mean()
    model = bg.predict(summary, t).groupby(freq).mean()
    np.testing.assert_allclose(ax.lines[0].get_ydata(), actual)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), model)
    assert ax.get_xticklabels()[-1].get_text() == "4+"
    _labelled(ax)


def test_period_transactions_model_is_the_bgnbd_count_distribution(value_models):
    from twinscore.plot.value import _frequency_probabilities

    _, summary, bg = value_models
    # The distribution of X(t) sums to 1 and its mean is the model's expected
    # purchases of a new client (an independent prediction of the model).
    for t in (5.0, 30.0):
        prob = _frequency_probabilities(bg.params_, np.array([t]), 400)[:, 0]
        assert prob.sum() == pytest.approx(1.0, abs=1e-9)
        assert (np.arange(400) * prob).sum() == pytest.approx(bg.expected_purchases_new(t), rel=1e-8)
    ax = ts.plot.period_transactions(bg, summary, max_frequency=5)
    h = _heights(ax)
    np.testing.assert_array_equal(h[:6], np.bincount(summary["frequency"].clip(upper=5).astype(int), minlength=6))
    assert h[6:].sum() == pytest.approx(len(summary))
    _labelled(ax)


def test_value_plots_refuse_bad_input(value_models):
    seg, summary, bg = value_models
    with pytest.raises(KeyError, match="monetary_x"):
        ts.plot.rfm_grid(seg, value="monetary_x")
    with pytest.raises(TypeError, match="rfm"):
        ts.plot.rfm_grid(seg.to_numpy())
    with pytest.raises(TypeError, match="BetaGeo"):
        ts.plot.period_transactions(ts.BetaGeo(), summary)
    with pytest.raises(KeyError, match="holdout_frequency"):
        ts.plot.calibration_purchases(bg, summary.drop(columns="holdout_frequency"), t=10)
    with pytest.raises(ValueError, match="t must be"):
        ts.plot.frequency_recency_matrix(bg, summary, t=0)


# ---------------------------------------------------------------- criteria and segments

def test_information_value_draws_the_summary(criteria):
    ax = ts.plot.information_value(criteria, top=6)
    top = criteria.summary.head(6)
    np.testing.assert_allclose(_widths(ax)[::-1], top["iv"])
    assert [t.get_text() for t in ax.get_yticklabels()][::-1] == list(top["criterion"])
    _labelled(ax)


def test_criterion_bins_draws_woe_and_rate(criteria):
    ax = ts.plot.criterion_bins(criteria, "age_band")
    b = criteria.bins[criteria.bins["criterion"] == "age_band"]
    np.testing.assert_allclose(_heights(ax), b["woe"])
    np.testing.assert_allclose(_twin(ax).lines[0].get_ydata(), b["rate"])
    with pytest.raises(KeyError, match="nope"):
        ts.plot.criterion_bins(criteria, "nope")
    _labelled(ax)


def test_scorecard_points_draws_every_bin(criteria):
    card = criteria.scorecard(top=3, min_iv=0.0)
    ax = ts.plot.scorecard_points(card)
    np.testing.assert_allclose(_widths(ax)[::-1], card.points["points"])
    with pytest.raises(TypeError, match="Scorecard"):
        ts.plot.scorecard_points(criteria)
    _labelled(ax)


def test_profile_heatmap_draws_the_index_columns(market):
    p = market.prospects
    labels = p["channel"].astype(str).to_numpy()
    prof = ts.segment_profiles(p[["income", "sex", "age_band"]], labels, conversion=p["converted"])
    ax = ts.plot.profile_heatmap(prof)
    np.testing.assert_allclose(ax.images[0].get_array(), prof[["income index", "conversion index"]].to_numpy())
    with pytest.raises(KeyError, match="index"):
        ts.plot.profile_heatmap(prof[["size", "share"]])
    _labelled(ax)


# ---------------------------------------------------------------- twins

@pytest.fixture(scope="module")
def twins(market):
    cols = ["sex", "age_band", "region", "categories"]
    idx = ts.TwinIndex("mixed", block_on=["sex"]).fit(market.clients[["client_id", *cols]], id="client_id")
    prospects = market.prospects[["contact_id", *cols]]
    res = idx.search(prospects, k=5, id="contact_id")
    return idx, prospects, res


def test_twin_explanation_draws_the_explain_table(twins):
    idx, prospects, res = twins
    pid, cid = res.prospect_ids[0], res.client_ids[0, 0]
    ex = idx.explain(prospects, pid, cid, id="contact_id")
    ax = ts.plot.twin_explanation(ex)
    np.testing.assert_allclose(_widths(ax)[::-1], ex["contribution"])
    assert [t.get_text() for t in ax.get_yticklabels()][::-1] == list(ex["explanation"])
    assert f"{ex.attrs['similarity']:.3f}" in ax.get_title()
    _labelled(ax)


def test_lookalike_conversion_and_audience(twins, market):
    _, _, res = twins
    y = market.prospects["converted"].to_numpy()
    t = ts.metrics.lift_table(y, res.score, n_bins=10)
    ax = ts.plot.lookalike_conversion(y, res.score)
    np.testing.assert_allclose(_heights(ax), t["conversion_rate"])
    _labelled(ax)
    ax = ts.plot.audience_conversions(y, res.score, n_bins=10)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.r_[0, np.cumsum(t["contacts"])])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.r_[0, np.cumsum(t["converted"])])
    assert ax.lines[1].get_ydata()[-1] == pytest.approx(y.sum())
    _labelled(ax)


# ---------------------------------------------------------------- reasons

def test_logistic_reasons_importance_and_waterfall(rng):
    X = rng.normal(size=(3000, 4)) * [1.0, 2.0, 0.5, 3.0]
    y = (rng.random(3000) < 1 / (1 + np.exp(-(X @ [1.0, -0.5, 0.2, 0.1])))).astype(int)
    model = ts.LogisticScorer(standardize=False).fit(X, y)
    ax = ts.plot.reason_importance(model, X)
    ref = pd.Series(np.abs(X * model.coef_[0]).mean(axis=0), index=model.feature_names_).sort_values()
    np.testing.assert_allclose(_widths(ax), ref.to_numpy(), rtol=1e-6)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(ref.index)
    _labelled(ax)
    ax = ts.plot.reason_waterfall(model, X, row=7, max_display=2)
    bars = _bars(ax)
    assert bars[0].get_x() == pytest.approx(model.intercept_[0])
    end = bars[-1].get_x() + bars[-1].get_width()
    assert end == pytest.approx(model.decision_function(X[7:8])[0])
    assert ax.get_yticklabels()[-1].get_text() == "2 other features"  # 4 features, 2 shown
    _labelled(ax)


def test_tree_reasons_importance_and_waterfall(rng):
    xgb = pytest.importorskip("xgboost")
    X = pd.DataFrame(rng.normal(size=(2000, 3)), columns=["a", "b", "c"])
    y = (X["a"] + 0.5 * X["b"] + rng.normal(size=2000) > 0).astype(int)
    booster = xgb.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1).fit(X, y).get_booster()
    scorer = ts.TreeScorer.from_xgboost(booster)
    ax = ts.plot.reason_importance(scorer, X)
    phi = scorer.contributions(X)
    ref = pd.Series(np.abs(phi[:, :-1]).mean(axis=0), index=["a", "b", "c"]).sort_values()
    np.testing.assert_allclose(_widths(ax), ref.to_numpy(), rtol=1e-5)
    ax = ts.plot.reason_waterfall(scorer, X, row=3)
    bars = _bars(ax)
    assert bars[0].get_x() == pytest.approx(phi[3, -1], abs=1e-5)
    assert bars[-1].get_x() + bars[-1].get_width() == pytest.approx(scorer.predict_margin(X.iloc[[3]])[0], abs=1e-4)
    _labelled(ax)
    with pytest.raises(TypeError, match="TreeScorer or LogisticScorer"):
        ts.plot.reason_importance(object(), X)
    with pytest.raises(TypeError, match="X must be"):
        ts.plot.reason_waterfall(scorer, X.to_dict())
    with pytest.raises(ValueError, match="row"):
        ts.plot.reason_waterfall(scorer, X, row=len(X))


# ---------------------------------------------------------------- plan and tables

@pytest.fixture(scope="module")
def plan_inputs():
    rng = np.random.default_rng(5)
    p = rng.beta(1, 30, 3000)
    value = rng.gamma(2.0, 40.0, 3000)
    channels = [ts.Channel("email", 0.02), ts.Channel("mail", 0.9, uplift=1.8), ts.Channel("phone", 4.0, 3.0)]
    return p, value, channels


def test_plan_channels_draws_cost_and_profit(plan_inputs):
    p, value, channels = plan_inputs
    plan = ts.contact_plan(p, value, channels, budget=800)
    ax = ts.plot.plan_channels(plan)
    s = plan.summary.drop(index="total")
    np.testing.assert_allclose(_heights(ax), np.r_[s["cost"], s["profit"]])
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{c}\n{n:,} contacts" for c, n in
                                                           zip(s.index, s["contacts"])]
    _labelled(ax)


def test_profit_vs_budget_draws_each_plans_total(plan_inputs):
    p, value, channels = plan_inputs
    budgets = [1500, 100, 400, 800]
    plans = [ts.contact_plan(p, value, channels, budget=b) for b in budgets]
    ax = ts.plot.profit_vs_budget(plans)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), sorted(budgets))
    ref = [plans[budgets.index(b)].summary.loc["total", "profit"] for b in sorted(budgets)]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), ref)
    with pytest.raises(ValueError, match="budget"):
        ts.plot.profit_vs_budget([ts.contact_plan(p, value, channels)])
    _labelled(ax)


def test_fill_rates_draws_the_tables_fill_rates(market):
    table = ts.ContactTable.from_pandas(market.prospects[["sex", "age_band", "income", "categories"]])
    ax = ts.plot.fill_rates(table)
    np.testing.assert_allclose(_widths(ax)[::-1], table.fill_rates())
    _labelled(ax)


def test_matplotlib_is_imported_by_the_first_plot_only():
    import subprocess
    import sys

    code = "import sys, twinscore; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
