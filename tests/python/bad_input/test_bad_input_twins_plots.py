"""Bad input, what the earlier tables did not reach: TwinResult.recommend, TwinIndex.explain
and TwinIndex.reasons, the plotting functions (twinscore.plot) and ScoreDisplay, and the
arguments of twinscore.datasets.make_prm — each argument probed as a hostile user would.

Each case must raise ValueError / TypeError / KeyError naming the argument or column before
the work; Arrow, polars and nullable forms of a log give the answer of the plain one.
"""

from __future__ import annotations

import math
import time

import matplotlib
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import twinscore as ts
from badinput_support import assert_same, no_silent_nan

matplotlib.use("Agg")
tp = pytest.importorskip("twinscore.plot")

BIG = 2**40
_CACHE: dict = {}


def _cached(name, make):
    if name not in _CACHE:
        _CACHE[name] = make()
    return _CACHE[name]


def _d():
    return _cached("d", lambda: ts.datasets.make_prm(600, 150, seed=3))


_COLS = ["age_band", "region", "income", "channel"]


def _ix():
    return _cached("ix", lambda: ts.TwinIndex(columns=_COLS).fit(
        _d().clients, id="client_id", value=_d().clients["revenue"], population=_d().prospects))


def _pros():
    return _d().prospects.iloc[:80]


def _res():
    return _cached("res", lambda: _ix().search(_pros(), k=5, id="contact_id"))


def _items():
    t = _d().transactions
    return t.assign(item=np.where(t["amount"] > 50, "big", "small"))[["client_id", "item", "amount"]]


def _p0():
    return int(_pros()["contact_id"].iloc[0])


def _c0():
    return int(_d().clients["client_id"].iloc[0])


def _S():
    d = _d()
    return _cached("S", lambda: ts.calibration_summary(d.transactions, customer="client_id", date="date",
                                                       amount="amount", calibration_end=d.now - pd.Timedelta(days=100),
                                                       observation_end=d.now))


def _bg():
    return _cached("bg", lambda: ts.BetaGeo().fit(_S()))


def _rfm():
    d = _d()
    return _cached("rfm", lambda: ts.rfm(d.transactions, customer="client_id", date="date", amount="amount",
                                         now=d.now))


def _y():
    return _pros()["converted"].to_numpy()


def _score():
    return np.linspace(0.0, 1.0, len(_y()))


def _X():
    return _d().prospects[["income"]].assign(age=np.arange(len(_d().prospects)) % 50)


def _lr():
    return _cached("lr", lambda: ts.LogisticScorer().fit(_X(), _d().prospects["converted"]))


def _crit():
    return _cached("crit", lambda: ts.discriminating_criteria(_d().prospects, "converted",
                                                              ["age_band", "region", "income"]))


def _display():
    return tp.ScoreDisplay.from_predictions(_y(), _score())


def _explain():
    return _ix().explain(_pros(), _p0(), _c0(), id="contact_id")


def _recommend(items=None, **kw):
    return _res().recommend(_items() if items is None else items, **{"item": "item", **kw})


def _with_first(frame, col, value, dtype=None):
    out = frame.copy()
    s = out[col].astype(dtype) if dtype else out[col].copy()
    s.iloc[0] = value
    out[col] = s
    return out


CASES = [
    # TwinResult.recommend
    ("recommend-top-0", lambda: _recommend(top=0), "top"),
    ("recommend-top-text", lambda: _recommend(top="3"), "top"),
    ("recommend-top-nan", lambda: _recommend(top=math.nan), "top"),
    ("recommend-by-bogus", lambda: _recommend(by="x"), "by"),
    ("recommend-client-missing", lambda: _recommend(client="zz"), "zz"),
    ("recommend-item-missing", lambda: _recommend(item="zz"), "zz"),
    ("recommend-item-ambiguous", lambda: _res().recommend(_items()), "item"),
    ("recommend-weight-missing", lambda: _recommend(weight="zz"), "zz"),
    ("recommend-weight-text", lambda: _recommend(_items().assign(amount="x"), weight="amount"), "amount"),
    ("recommend-weight-bool", lambda: _recommend(_items().assign(amount=True), weight="amount"), "amount"),
    ("recommend-weight-nan", lambda: _recommend(_with_first(_items(), "amount", np.nan), weight="amount"),
     "amount"),
    ("recommend-weight-inf", lambda: _recommend(_with_first(_items(), "amount", np.inf), weight="amount"),
     "amount"),
    ("recommend-weight-negative", lambda: _recommend(_items().assign(amount=-1.0), weight="amount"), "amount"),
    ("recommend-weight-sum-overflows", lambda: _recommend(_items().assign(amount=1e308), weight="amount"),
     "weight"),
    ("recommend-client-null", lambda: _recommend(_with_first(_items(), "client_id", pd.NA, "Int64")),
     "client_id"),
    ("recommend-client-null-arrow", lambda: _recommend(_with_first(_items(), "client_id", None, "int64[pyarrow]")),
     "client_id"),
    ("recommend-duplicate-item-column", lambda: _recommend(pd.concat([_items(), _items()[["item"]]], axis=1)),
     "item"),
    ("recommend-duplicate-client-column", lambda: _recommend(pd.concat([_items(), _items()[["client_id"]]], axis=1)),
     "client_id"),
    ("recommend-ndarray", lambda: _recommend(_items().to_numpy()), "client_items"),
    ("recommend-ids-not-the-clients", lambda: _recommend(_items().assign(client_id=_items()["client_id"] + 10**9)),
     "client"),
    ("recommend-empty-log", lambda: _recommend(_items().iloc[:0]), "client_items"),
    # TwinIndex.explain
    ("explain-prospect-absent", lambda: _ix().explain(_pros(), 10**9, _c0(), id="contact_id"), "prospect"),
    ("explain-client-absent", lambda: _ix().explain(_pros(), _p0(), 10**9, id="contact_id"), "client"),
    ("explain-prospect-nan", lambda: _ix().explain(_pros(), math.nan, _c0(), id="contact_id"), "prospect"),
    ("explain-prospect-none", lambda: _ix().explain(_pros(), None, _c0(), id="contact_id"), "prospect"),
    ("explain-prospect-list", lambda: _ix().explain(_pros(), [_p0()], _c0(), id="contact_id"), "prospect"),
    ("explain-prospect-bool", lambda: _ix().explain(_pros(), True, _c0(), id="contact_id"), "prospect"),
    ("explain-client-array", lambda: _ix().explain(_pros(), _p0(), np.array([_c0()]), id="contact_id"), "client"),
    ("explain-prospect-text", lambda: _ix().explain(_pros(), str(_p0()), _c0(), id="contact_id"), "prospect"),
    ("explain-id-missing", lambda: _ix().explain(_pros(), _p0(), _c0(), id="zz"), "zz"),
    ("explain-prospects-empty", lambda: _ix().explain(_pros().iloc[:0], _p0(), _c0(), id="contact_id"), "empty"),
    ("explain-prospects-duplicate-ids", lambda: _ix().explain(pd.concat([_pros().iloc[:1]] * 2), _p0(), _c0(),
                                                              id="contact_id"), "contact_id"),
    ("explain-column-missing", lambda: _ix().explain(_pros().drop(columns="region"), _p0(), _c0(), id="contact_id"),
     "region"),
    ("explain-income-inf", lambda: _ix().explain(_pros().assign(income=np.inf), _p0(), _c0(), id="contact_id"),
     "income"),
    ("explain-unfitted", lambda: ts.TwinIndex().explain(_pros(), _p0(), _c0(), id="contact_id"), "fit"),
    # TwinIndex.reasons
    ("reasons-top-0", lambda: _ix().reasons(_pros(), top=0, id="contact_id"), "top"),
    ("reasons-top-text", lambda: _ix().reasons(_pros(), top="2", id="contact_id"), "top"),
    ("reasons-k-0", lambda: _ix().reasons(_pros(), k=0, id="contact_id"), "k"),
    ("reasons-k-nan", lambda: _ix().reasons(_pros(), k=math.nan, id="contact_id"), "k"),
    ("reasons-id-missing", lambda: _ix().reasons(_pros(), id="zz"), "zz"),
    ("reasons-empty", lambda: _ix().reasons(_pros().iloc[:0], id="contact_id"), "empty"),
    ("reasons-unfitted", lambda: ts.TwinIndex().reasons(_pros(), id="contact_id"), "fit"),
    ("reasons-no-reference", lambda: ts.TwinIndex(columns=_COLS).fit(_d().clients, id="client_id").reasons(
        _pros(), id="contact_id"), "reference|population"),
    ("reasons-duplicate-column", lambda: _ix().reasons(pd.concat([_pros(), _pros()[["income"]]], axis=1),
                                                       id="contact_id"), "income"),
    ("reasons-income-text", lambda: _ix().reasons(_pros().assign(income="x"), id="contact_id"), "income"),
    # datasets.make_prm
    ("make_prm-n_prospects-0", lambda: ts.datasets.make_prm(0, 10), "n_prospects"),
    ("make_prm-n_prospects-2**40", lambda: ts.datasets.make_prm(BIG, 10), "n_prospects"),
    ("make_prm-n_clients-1.5", lambda: ts.datasets.make_prm(10, 1.5), "n_clients"),
    ("make_prm-n_clients-bool", lambda: ts.datasets.make_prm(10, True), "n_clients"),
    ("make_prm-seed-text", lambda: ts.datasets.make_prm(10, 10, seed="x"), "seed"),
    ("make_prm-seed--1", lambda: ts.datasets.make_prm(10, 10, seed=-1), "seed"),
    ("make_prm-seed-1.5", lambda: ts.datasets.make_prm(10, 10, seed=1.5), "seed"),
    ("make_prm-conversion_rate-0", lambda: ts.datasets.make_prm(10, 10, conversion_rate=0), "conversion_rate"),
    ("make_prm-conversion_rate-1", lambda: ts.datasets.make_prm(10, 10, conversion_rate=1), "conversion_rate"),
    ("make_prm-conversion_rate-nan", lambda: ts.datasets.make_prm(10, 10, conversion_rate=math.nan),
     "conversion_rate"),
    ("make_prm-conversion_rate-text", lambda: ts.datasets.make_prm(10, 10, conversion_rate="0.1"),
     "conversion_rate"),
    ("make_prm-mean_events-text", lambda: ts.datasets.make_prm(10, 10, mean_events="8"), "mean_events"),
    ("make_prm-mean_events-inf", lambda: ts.datasets.make_prm(10, 10, mean_events=math.inf), "mean_events"),
    ("make_prm-mean_events--1", lambda: ts.datasets.make_prm(10, 10, mean_events=-1), "mean_events"),
    ("make_prm-mean_events-1e12", lambda: ts.datasets.make_prm(10, 10, mean_events=1e12), "mean_events"),
    ("make_prm-events-too-many", lambda: ts.datasets.make_prm(10**7, 10, mean_events=1000), "mean_events"),
    ("make_prm-days-0", lambda: ts.datasets.make_prm(10, 10, days=0), "days"),
    ("make_prm-days-2**40", lambda: ts.datasets.make_prm(10, 10, days=BIG), "days"),
    ("make_prm-now-garbage", lambda: ts.datasets.make_prm(10, 10, now="soon"), "now"),
    ("make_prm-now-9999", lambda: ts.datasets.make_prm(10, 10, now="9999-12-31"), "now"),
    ("make_prm-now-1678", lambda: ts.datasets.make_prm(10, 10, now="1678-06-01"), "now"),
    ("make_prm-now-number", lambda: ts.datasets.make_prm(10, 10, now=5), "now"),
    ("make_prm-now-NaT", lambda: ts.datasets.make_prm(10, 10, now=pd.NaT), "now"),
    ("make_prm-now-None", lambda: ts.datasets.make_prm(10, 10, now=None), "now"),
    # plots of twins
    ("plot.twin_explanation-top-0", lambda: tp.twin_explanation(_explain(), top=0), "top"),
    ("plot.twin_explanation-list", lambda: tp.twin_explanation([1, 2]), "explanation"),
    ("plot.twin_explanation-columns-missing", lambda: tp.twin_explanation(pd.DataFrame({"column": ["a"]})),
     "contribution"),
    ("plot.twin_explanation-empty", lambda: tp.twin_explanation(_explain().iloc[:0]), "explanation"),
    ("plot.lookalike_conversion-n_bins-0", lambda: tp.lookalike_conversion(_y(), _score(), n_bins=0), "n_bins"),
    ("plot.lookalike_conversion-lengths", lambda: tp.lookalike_conversion(_y(), _score()[:5]), "y_true"),
    ("plot.lookalike_conversion-score-nan", lambda: tp.lookalike_conversion(_y(), _score() * np.nan),
     "lookalike_score"),
    ("plot.lookalike_conversion-score-text", lambda: tp.lookalike_conversion(_y(), _score().astype(str)),
     "lookalike_score"),
    ("plot.lookalike_conversion-empty", lambda: tp.lookalike_conversion(_y()[:0], _score()[:0]), "lookalike_score"),
    ("plot.lookalike_conversion-y-text", lambda: tp.lookalike_conversion(_y().astype(str), _score()), "y_true"),
    ("plot.audience_conversions-n_bins-2**40", lambda: tp.audience_conversions(_y(), _score(), n_bins=BIG),
     "n_bins"),
    ("plot.audience_conversions-y-three-values", lambda: tp.audience_conversions(np.arange(len(_y())) % 3,
                                                                                 _score()), "y_true"),
    ("plot.audience_conversions-score-inf", lambda: tp.audience_conversions(_y(), _score() * np.inf),
     "lookalike_score"),
    # plots of scores, ScoreDisplay
    ("plot.lift-n_bins-0", lambda: tp.lift(_y(), _score(), n_bins=0), "n_bins"),
    ("plot.lift-score-inf", lambda: tp.lift(_y(), np.where(np.arange(len(_y())) == 0, np.inf, _score())), "y_score"),
    ("plot.lift-sample_weight-negative", lambda: tp.lift(_y(), _score(), sample_weight=-np.ones(len(_y()))),
     "sample_weight"),
    ("plot.lift-sample_weight-length", lambda: tp.lift(_y(), _score(), sample_weight=np.ones(3)), "sample_weight"),
    ("plot.lift-name-int", lambda: tp.lift(_y(), _score(), name=5), "name"),
    ("plot.lift-ax-text", lambda: tp.lift(_y(), _score(), ax="x"), "ax"),
    ("plot.gains-n_bins-2**40", lambda: tp.gains(_y(), _score(), n_bins=BIG), "n_bins"),
    ("plot.roc-n_points-0", lambda: tp.roc(_y(), _score(), n_points=0), "n_points"),
    ("plot.roc-n_points-2**40", lambda: tp.roc(_y(), _score(), n_points=BIG), "n_points"),
    ("plot.roc-one-class", lambda: tp.roc(np.ones(len(_y())), _score()), "y_true"),
    ("plot.calibration-strategy", lambda: tp.calibration(_y(), _score(), strategy="x"), "strategy"),
    ("plot.calibration-not-probabilities", lambda: tp.calibration(_y(), _score() + 1), "y_prob"),
    ("plot.calibration-n_bins-0", lambda: tp.calibration(_y(), _score(), n_bins=0), "n_bins"),
    ("plot.score_distribution-n_bins-0", lambda: tp.score_distribution(_y(), _score(), n_bins=0), "n_bins"),
    ("plot.score_distribution-n_bins-2**40", lambda: tp.score_distribution(_y(), _score(), n_bins=BIG), "n_bins"),
    ("ScoreDisplay.from_predictions-lengths", lambda: tp.ScoreDisplay.from_predictions(_y(), _score()[:3]),
     "y_true"),
    ("ScoreDisplay.from_predictions-nan", lambda: tp.ScoreDisplay.from_predictions(_y(), _score() * np.nan),
     "y_score"),
    ("ScoreDisplay.from_predictions-text", lambda: tp.ScoreDisplay.from_predictions(_y(), _score().astype(str)),
     "y_score"),
    ("ScoreDisplay.from_predictions-2d", lambda: tp.ScoreDisplay.from_predictions(_y(), np.c_[_score(), _score()]),
     "y_score"),
    ("ScoreDisplay.from_predictions-empty", lambda: tp.ScoreDisplay.from_predictions(_y()[:0], _score()[:0]),
     "y_score"),
    ("ScoreDisplay.from_predictions-weight-nan", lambda: tp.ScoreDisplay.from_predictions(
        _y(), _score(), sample_weight=np.full(len(_y()), np.nan)), "sample_weight"),
    ("ScoreDisplay.from_estimator-unfitted", lambda: tp.ScoreDisplay.from_estimator(
        ts.LogisticScorer(), _X(), _d().prospects["converted"]), "fit"),
    ("ScoreDisplay.from_estimator-not-a-model", lambda: tp.ScoreDisplay.from_estimator(
        object(), _X(), _d().prospects["converted"]), "estimator"),
    ("ScoreDisplay.from_estimator-column-missing", lambda: tp.ScoreDisplay.from_estimator(
        _lr(), _X().drop(columns="age"), _d().prospects["converted"]), "age"),
    ("ScoreDisplay.from_estimator-y-length", lambda: tp.ScoreDisplay.from_estimator(
        _lr(), _X(), _d().prospects["converted"][:5]), "y"),
    ("ScoreDisplay.lift-n_bins-0", lambda: _display().lift(n_bins=0), "n_bins"),
    ("ScoreDisplay.gains-n_bins-2**40", lambda: _display().gains(n_bins=BIG), "n_bins"),
    ("ScoreDisplay.roc-n_points-text", lambda: _display().roc(n_points="5"), "n_points"),
    ("ScoreDisplay.calibration-strategy-int", lambda: _display().calibration(strategy=3), "strategy"),
    ("ScoreDisplay.calibration-not-probabilities", lambda: tp.ScoreDisplay.from_predictions(
        _y(), _score() * 10).calibration(), "y_prob"),
    ("ScoreDisplay.distribution-n_bins-2**40", lambda: _display().distribution(n_bins=BIG), "n_bins"),
    ("ScoreDisplay.dashboard-figsize-negative", lambda: _display().dashboard(figsize=(-1, 2)), "figsize"),
    ("ScoreDisplay.dashboard-figsize-nan", lambda: _display().dashboard(figsize=(math.nan, 3)), "figsize"),
    ("ScoreDisplay.dashboard-figsize-text", lambda: _display().dashboard(figsize="big"), "figsize"),
    ("ScoreDisplay.dashboard-figsize-three", lambda: _display().dashboard(figsize=(1, 2, 3)), "figsize"),
    # plots of criteria, reasons
    ("plot.information_value-top-0", lambda: tp.information_value(_crit(), top=0), "top"),
    ("plot.information_value-not-criteria", lambda: tp.information_value(5), "criteria"),
    ("plot.criterion_bins-unknown", lambda: tp.criterion_bins(_crit(), "zz"), "zz"),
    ("plot.criterion_bins-int", lambda: tp.criterion_bins(_crit(), 5), "criterion"),
    ("plot.scorecard_points-text", lambda: tp.scorecard_points("x"), "scorecard"),
    ("plot.profile_heatmap-int", lambda: tp.profile_heatmap(5), "profiles"),
    ("plot.profile_heatmap-empty", lambda: tp.profile_heatmap(ts.segment_profiles(
        _d().prospects[["age_band", "income"]], np.arange(len(_d().prospects)) % 3).iloc[:0]), "profiles"),
    ("plot.reason_importance-top-0", lambda: tp.reason_importance(_lr(), _X(), top=0), "top"),
    ("plot.reason_importance-unfitted", lambda: tp.reason_importance(ts.LogisticScorer(), _X()), "model"),
    ("plot.reason_importance-not-a-model", lambda: tp.reason_importance(object(), _X()), "model"),
    ("plot.reason_importance-groups-for-logistic", lambda: tp.reason_importance(_lr(), _X(), groups={"g": ["age"]}),
     "groups"),
    ("plot.reason_importance-empty", lambda: tp.reason_importance(_lr(), _X().iloc[:0]), "empty"),
    ("plot.reason_waterfall-row-past-end", lambda: tp.reason_waterfall(_lr(), _X(), row=10**9), "row"),
    ("plot.reason_waterfall-row--1", lambda: tp.reason_waterfall(_lr(), _X(), row=-1), "row"),
    ("plot.reason_waterfall-row-text", lambda: tp.reason_waterfall(_lr(), _X(), row="0"), "row"),
    ("plot.reason_waterfall-max_display-0", lambda: tp.reason_waterfall(_lr(), _X(), max_display=0), "max_display"),
    # plots of value
    ("plot.rfm_grid-value-missing", lambda: tp.rfm_grid(_rfm(), value="zz"), "zz"),
    ("plot.rfm_grid-int", lambda: tp.rfm_grid(5), "rfm"),
    ("plot.rfm_grid-R-missing", lambda: tp.rfm_grid(_rfm().drop(columns="R")), "R"),
    ("plot.rfm_grid-empty", lambda: tp.rfm_grid(_rfm().iloc[:0]), "rfm"),
    ("plot.segment_value-value-missing", lambda: tp.segment_value(_rfm(), value="zz"), "zz"),
    ("plot.segment_value-value-text", lambda: tp.segment_value(_rfm().assign(monetary="x")), "monetary"),
    ("plot.frequency_recency_matrix-t-nan", lambda: tp.frequency_recency_matrix(_bg(), _S(), t=math.nan), "t"),
    ("plot.frequency_recency_matrix-max_frequency-2**40", lambda: tp.frequency_recency_matrix(
        _bg(), _S(), max_frequency=BIG), "max_frequency"),
    ("plot.frequency_recency_matrix-huge-frequency", lambda: tp.frequency_recency_matrix(
        _bg(), _S().assign(frequency=1e12, recency=_S()["T"])), "max_frequency"),
    ("plot.frequency_recency_matrix-unfitted", lambda: tp.frequency_recency_matrix(ts.BetaGeo(), _S()), "model"),
    ("plot.frequency_recency_matrix-not-a-model", lambda: tp.frequency_recency_matrix(object(), _S()), "model"),
    ("plot.probability_alive_matrix-max_frequency-0", lambda: tp.probability_alive_matrix(
        _bg(), _S(), max_frequency=0), "max_frequency"),
    ("plot.probability_alive_matrix-max_recency-nan", lambda: tp.probability_alive_matrix(
        _bg(), _S(), max_recency=math.nan), "max_recency"),
    ("plot.calibration_purchases-t--1", lambda: tp.calibration_purchases(_bg(), _S(), t=-1), "t"),
    ("plot.calibration_purchases-max_frequency-0", lambda: tp.calibration_purchases(_bg(), _S(), t=10,
                                                                                    max_frequency=0), "max_frequency"),
    ("plot.period_transactions-max_frequency-2**40", lambda: tp.period_transactions(_bg(), _S(), max_frequency=BIG),
     "max_frequency"),
    ("plot.period_transactions-max_frequency-0", lambda: tp.period_transactions(_bg(), _S(), max_frequency=0),
     "max_frequency"),
    ("plot.transactions_over_time-int", lambda: tp.transactions_over_time(5), "table"),
    ("plot.transactions_over_time-columns-missing", lambda: tp.transactions_over_time(
        pd.DataFrame({"start": [_d().now], "actual": [1.0], "model": [1.0]})), "holdout"),
    # plots of plans and tables
    ("plot.plan_channels-int", lambda: tp.plan_channels(5), "plan"),
    ("plot.profit_vs_budget-empty", lambda: tp.profit_vs_budget([]), "plans"),
    ("plot.profit_vs_budget-ints", lambda: tp.profit_vs_budget([1, 2]), "plan"),
    ("plot.fill_rates-int", lambda: tp.fill_rates(5), "table"),
    ("plot.fill_rates-frame", lambda: tp.fill_rates(pd.DataFrame()), "table"),
]


@pytest.mark.parametrize("call,match", [pytest.param(c, m, id=i) for i, c, m in CASES])
def test_bad_argument(call, match):
    import matplotlib.pyplot as plt

    start = time.perf_counter()
    try:
        with pytest.raises((ValueError, TypeError, KeyError), match=match):
            call()
    finally:
        plt.close("all")
    assert time.perf_counter() - start < 30, "a refused argument must be refused before the work"


def _recommend_log(frame):
    return _res().recommend(frame, item="item", weight="amount")


# (id, call, reference): another form of the same input gives the same answer, without silent NaN.
SAME = [
    ("recommend-polars", lambda: _recommend_log(pytest.importorskip("polars").from_pandas(_items())),
     lambda: _recommend_log(_items())),
    ("recommend-arrow-table", lambda: _recommend_log(pa.Table.from_pandas(_items(), preserve_index=False)),
     lambda: _recommend_log(_items())),
    ("recommend-arrow-dtypes", lambda: _recommend_log(_items().astype(
        {"client_id": "int64[pyarrow]", "item": "string[pyarrow]", "amount": "float64[pyarrow]"})),
     lambda: _recommend_log(_items())),
    ("recommend-nullable", lambda: _recommend_log(_items().astype({"client_id": "Int64", "amount": "Float64",
                                                                   "item": "string"})),
     lambda: _recommend_log(_items())),
    ("recommend-categorical-item", lambda: _recommend_log(_items().astype({"item": "category"})),
     lambda: _recommend_log(_items())),
    ("recommend-float-whole-ids", lambda: _recommend_log(_items().astype({"client_id": "float64"})),
     lambda: _recommend_log(_items())),
    ("recommend-top-2**40", lambda: _res().recommend(_items(), top=BIG, item="item"),
     lambda: _res().recommend(_items(), top=2, item="item")),
    ("explain-numpy-ids", lambda: _ix().explain(_pros(), np.int64(_p0()), np.int32(_c0()), id="contact_id"),
     _explain),
    ("explain-polars", lambda: _ix().explain(pytest.importorskip("polars").from_pandas(_pros()), _p0(), _c0(),
                                             id="contact_id"), _explain),
    ("reasons-arrow-dtypes", lambda: _ix().reasons(_pros().astype({"income": "float64[pyarrow]",
                                                                   "region": "string[pyarrow]"}), id="contact_id"),
     lambda: _ix().reasons(_pros(), id="contact_id")),
    ("reasons-k-2**40-is-every-client", lambda: _ix().reasons(_pros(), k=BIG, id="contact_id"),
     lambda: _ix().reasons(_pros(), k=len(_d().clients), id="contact_id")),
    ("reasons-top-2**40", lambda: _ix().reasons(_pros(), top=BIG, id="contact_id"),
     lambda: _ix().reasons(_pros(), top=len(_COLS) + 1, id="contact_id")),
    ("make_prm-tz-aware-now", lambda: ts.datasets.make_prm(20, 10, now=pd.Timestamp("2026-11-01 01:00",
                                                                                     tz="Europe/Paris")).transactions,
     lambda: ts.datasets.make_prm(20, 10, now="2026-11-01").transactions),
    ("make_prm-numpy-sizes", lambda: ts.datasets.make_prm(np.int64(20), np.int32(10), seed=np.int64(1)).transactions,
     lambda: ts.datasets.make_prm(20, 10, seed=1).transactions),
]


@pytest.mark.parametrize("call,reference", [pytest.param(c, r, id=i) for i, c, r in SAME])
def test_same_answer(call, reference):
    got = call()
    assert_same(got, reference())
    no_silent_nan(got, allowed_nan=("similarity", "income", "contribution_1", "contribution_2", "contribution_3",
                                    "contribution_4", "contribution_5"))


def test_the_explanation_of_a_missing_part_is_nan_as_documented():
    """A prospect without income: the income part drops out (similarity NaN, contribution 0), the rest adds up."""
    ex = _ix().explain(_pros().assign(income=np.nan), _p0(), _c0(), id="contact_id")
    row = ex[ex["column"] == "income"].iloc[0]
    assert np.isnan(row["similarity"]) and row["contribution"] == 0
    assert ex["contribution"].sum() == pytest.approx(ex.attrs["similarity"], abs=1e-6)
