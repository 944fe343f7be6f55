"""Bad input, the purchase models beyond the BG/NBD and their diagnostics: ParetoNBD,
BetaGeoBetaBinom (with discrete_summary) and twinscore.value_diagnostics, each argument
probed as a hostile user would (wrong types, NaN/inf, negative, zero, huge ints, empty or
one-row summaries, missing and duplicate columns, Arrow and polars frames, unfitted models).

Each case must raise ValueError / TypeError / KeyError naming the argument or column,
before the work; a representation of the same summary (Arrow dtypes, polars) must give
the same result as the plain one; and what is accepted holds no silent NaN.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
import twinscore.value_diagnostics as vd
from badinput_support import assert_same, no_silent_nan
from twinscore.bgbb import discrete_summary

BIG = 2**40
_CACHE: dict = {}


def _cached(name, make):
    if name not in _CACHE:
        _CACHE[name] = make()
    return _CACHE[name]


def _data():
    return _cached("data", lambda: ts.datasets.make_prm(2_000, 400, seed=5))


def _cal_end():
    return _data().now - pd.Timedelta(days=100)


def _S():
    return _cached("S", lambda: ts.calibration_summary(_data().transactions, customer="client_id", date="date",
                                                       amount="amount", calibration_end=_cal_end(),
                                                       observation_end=_data().now))


def _DS():
    return _cached("DS", lambda: discrete_summary(_data().transactions, customer="client_id", date="date",
                                                  freq="W", calibration_end=_cal_end(), observation_end=_data().now))


def _pn():
    return _cached("pn", lambda: ts.ParetoNBD().fit(_S()))


def _bb():
    return _cached("bb", lambda: ts.BetaGeoBetaBinom().fit(_DS()))


def _bg():
    return _cached("bg", lambda: ts.BetaGeo().fit(_S()))


def _gg():
    return _cached("gg", lambda: ts.GammaGamma().fit(_S()))


def _row0(df, col, value):
    out = df.copy()
    out[col] = out[col].astype(float)
    out.iloc[0, out.columns.get_loc(col)] = value
    return out


def _tx():
    return _data().transactions


# (id, call, match) for one model: the summary, its third column, a fitted model, a horizon.
def _model_cases(name, make, summary, age, fitted):
    S = summary
    return [
        (f"{name}-penalizer-nan", lambda: make(penalizer=math.nan).fit(S()), "penalizer"),
        (f"{name}-penalizer--1", lambda: make(penalizer=-1).fit(S()), "penalizer"),
        (f"{name}-penalizer-text", lambda: make(penalizer="1").fit(S()), "penalizer"),
        (f"{name}-max_iter-0", lambda: make(max_iter=0).fit(S()), "max_iter"),
        (f"{name}-max_iter-2**40", lambda: make(max_iter=BIG).fit(S()), "max_iter"),
        (f"{name}-max_iter-1.5", lambda: make(max_iter=1.5).fit(S()), "max_iter"),
        (f"{name}-tol-nan", lambda: make(tol=math.nan).fit(S()), "tol"),
        (f"{name}-tol--1", lambda: make(tol=-1.0).fit(S()), "tol"),
        (f"{name}-compress-text", lambda: make(compress="no").fit(S()), "compress"),
        (f"{name}-fit-ndarray", lambda: make().fit(S().to_numpy()), "summary"),
        (f"{name}-fit-dict", lambda: make().fit(dict(S())), "summary"),
        (f"{name}-fit-empty", lambda: make().fit(S().iloc[:0]), "summary"),
        (f"{name}-fit-missing-column", lambda: make().fit(S().drop(columns=age)), age),
        (f"{name}-fit-duplicate-column", lambda: make().fit(pd.concat([S(), S()[["frequency"]]], axis=1)),
         "frequency"),
        (f"{name}-fit-nan", lambda: make().fit(_row0(S(), "frequency", math.nan)), "frequency"),
        (f"{name}-fit-inf", lambda: make().fit(_row0(S(), age, math.inf)), age),
        (f"{name}-fit-negative", lambda: make().fit(_row0(S(), "frequency", -1)), "frequency"),
        (f"{name}-fit-recency-past-age", lambda: make().fit(_row0(S(), "recency", 1e6)), "recency"),
        (f"{name}-fit-strings", lambda: make().fit(S().assign(frequency=S()["frequency"].astype(str))),
         "frequency"),
        (f"{name}-fit-bool", lambda: make().fit(S().assign(frequency=S()["frequency"] > 0)), "frequency"),
        (f"{name}-fit-Int64-NA", lambda: make().fit(S().assign(frequency=S()["frequency"].astype("Int64").mask(
            np.arange(len(S())) == 0))), "frequency"),
        (f"{name}-fit-weights-nan", lambda: make().fit(S(), weights=np.full(len(S()), math.nan)), "weights"),
        (f"{name}-fit-weights-negative", lambda: make().fit(S(), weights=-np.ones(len(S()))), "weights"),
        (f"{name}-fit-weights-length", lambda: make().fit(S(), weights=np.ones(3)), "weights"),
        (f"{name}-fit-weights-zero", lambda: make().fit(S(), weights=np.zeros(len(S()))), "weights"),
        (f"{name}-fit-weights-unknown-column", lambda: make().fit(S(), weights="nope"), "nope|weights"),
        (f"{name}-fit-weights-objects", lambda: make().fit(S(), weights=[object()] * len(S())), "weights"),
        (f"{name}-unfitted-predict", lambda: make().predict(S(), 4), "fit"),
        (f"{name}-unfitted-probability_alive", lambda: make().probability_alive(S()), "fit"),
        (f"{name}-unfitted-expected_purchases_new", lambda: make().expected_purchases_new(4), "fit"),
        (f"{name}-unfitted-log_likelihood", lambda: make().log_likelihood(S()), "fit"),
        (f"{name}-unfitted-summary", lambda: make().summary(), "fit"),
        (f"{name}-unfitted-sample_params", lambda: make().sample_params(10), "fit"),
        (f"{name}-predict-t-nan", lambda: fitted().predict(S(), math.nan), "t"),
        (f"{name}-predict-t--1", lambda: fitted().predict(S(), -1), "t"),
        (f"{name}-predict-t-inf", lambda: fitted().predict(S(), math.inf), "t"),
        (f"{name}-predict-t-text", lambda: fitted().predict(S(), "5"), "t"),
        (f"{name}-predict-interval-0", lambda: fitted().predict(S(), 4, interval=0), "interval"),
        (f"{name}-predict-interval-1", lambda: fitted().predict(S(), 4, interval=1), "interval"),
        (f"{name}-predict-interval-nan", lambda: fitted().predict(S(), 4, interval=math.nan), "interval"),
        (f"{name}-predict-interval-text", lambda: fitted().predict(S(), 4, interval="0.9"), "interval"),
        (f"{name}-predict-draws-0", lambda: fitted().predict(S(), 4, interval=0.9, draws=0), "draws"),
        (f"{name}-predict-draws-2**40", lambda: fitted().predict(S(), 4, interval=0.9, draws=BIG), "draws"),
        (f"{name}-predict-seed-text", lambda: fitted().predict(S(), 4, interval=0.9, seed="x"), "seed"),
        (f"{name}-predict-seed--1", lambda: fitted().predict(S(), 4, interval=0.9, seed=-1), "seed"),
        (f"{name}-predict-empty", lambda: fitted().predict(S().iloc[:0], 4), "summary"),
        (f"{name}-predict-missing-column", lambda: fitted().predict(S().drop(columns="recency"), 4), "recency"),
        (f"{name}-predict-nan", lambda: fitted().predict(_row0(S(), "recency", math.nan), 4), "recency"),
        (f"{name}-predict-inf", lambda: fitted().predict(_row0(S(), age, math.inf), 4), age),
        (f"{name}-predict-ndarray", lambda: fitted().predict(S().to_numpy(), 4), "summary"),
        (f"{name}-probability_alive-interval-2", lambda: fitted().probability_alive(S(), interval=2), "interval"),
        (f"{name}-probability_alive-nan", lambda: fitted().probability_alive(_row0(S(), "frequency", math.nan)),
         "frequency"),
        (f"{name}-expected_purchases_new-nan", lambda: fitted().expected_purchases_new(math.nan), "t"),
        (f"{name}-expected_purchases_new--1", lambda: fitted().expected_purchases_new(-1), "t"),
        (f"{name}-expected_purchases_new-text", lambda: fitted().expected_purchases_new("3"), "t"),
        (f"{name}-log_likelihood-nan", lambda: fitted().log_likelihood(_row0(S(), "frequency", math.nan)),
         "frequency"),
        (f"{name}-log_likelihood-weights-negative", lambda: fitted().log_likelihood(S(), weights=-np.ones(len(S()))),
         "weights"),
        (f"{name}-sample_params-0", lambda: fitted().sample_params(0), "draws"),
        (f"{name}-sample_params-2**40", lambda: fitted().sample_params(BIG), "draws"),
        (f"{name}-sample_params-text", lambda: fitted().sample_params("3"), "draws"),
        (f"{name}-summary-level-1.5", lambda: fitted().summary(level=1.5), "level"),
    ]


CASES = _model_cases("ParetoNBD", ts.ParetoNBD, _S, "T", _pn) + _model_cases(
    "BetaGeoBetaBinom", ts.BetaGeoBetaBinom, _DS, "n_periods", _bb) + [
    ("ParetoNBD-lifetime_value-months-0", lambda: ts.lifetime_value(_pn(), _gg(), _S(), months=0), "months"),
    ("ParetoNBD-lifetime_value-as-spend", lambda: ts.lifetime_value(_gg(), _pn(), _S()), "purchases|spend"),
    ("BetaGeoBetaBinom-lifetime_value", lambda: ts.lifetime_value(_bb(), _gg(), _S()), "purchases"),
    ("BetaGeoBetaBinom-predict-t-1.5", lambda: _bb().predict(_DS(), 1.5), "t"),
    ("BetaGeoBetaBinom-predict-t-1e9", lambda: _bb().predict(_DS(), 10**9), "t"),
    ("BetaGeoBetaBinom-predict-t-2**40", lambda: _bb().predict(_DS(), BIG), "t"),
    ("BetaGeoBetaBinom-expected_purchases_new-1e300", lambda: _bb().expected_purchases_new(1e300), "t"),
    ("BetaGeoBetaBinom-fit-fractional", lambda: ts.BetaGeoBetaBinom().fit(_row0(_DS(), "frequency", 0.5)),
     "frequency"),
    ("BetaGeoBetaBinom-fit-frequency-past-recency", lambda: ts.BetaGeoBetaBinom().fit(
        _row0(_DS(), "frequency", 1e4)), "frequency"),
    ("BetaGeoBetaBinom-fit-huge", lambda: ts.BetaGeoBetaBinom().fit(_DS() * 1e12), "recency|frequency|n_periods"),
    ("BetaGeoBetaBinom-dert-discount-0", lambda: _bb().expected_residual_transactions(_DS(), discount=0),
     "discount"),
    ("BetaGeoBetaBinom-dert-discount-nan", lambda: _bb().expected_residual_transactions(_DS(), discount=math.nan),
     "discount"),
    ("BetaGeoBetaBinom-dert-discount-tiny", lambda: _bb().expected_residual_transactions(
        _DS(), discount=1e-300), "discount"),
    ("BetaGeoBetaBinom-dert-discount-text", lambda: _bb().expected_residual_transactions(_DS(), discount="0.1"),
     "discount"),
    ("BetaGeoBetaBinom-count_probabilities-ages-text", lambda: _bb().purchase_count_probabilities(["a"], 3),
     "ages"),
    ("BetaGeoBetaBinom-count_probabilities-ages-nan", lambda: _bb().purchase_count_probabilities([math.nan], 3),
     "ages"),
    ("BetaGeoBetaBinom-count_probabilities-ages-negative", lambda: _bb().purchase_count_probabilities([-1], 3),
     "ages"),
    ("BetaGeoBetaBinom-count_probabilities-ages-fractional", lambda: _bb().purchase_count_probabilities([1.5], 3),
     "ages"),
    ("BetaGeoBetaBinom-count_probabilities-ages-inf", lambda: _bb().purchase_count_probabilities([math.inf], 3),
     "ages"),
    ("BetaGeoBetaBinom-count_probabilities-ages-1e15", lambda: _bb().purchase_count_probabilities([1e15], 3),
     "ages"),
    ("BetaGeoBetaBinom-count_probabilities-max_count--1", lambda: _bb().purchase_count_probabilities([3], -1),
     "max_count"),
    ("BetaGeoBetaBinom-count_probabilities-table-too-large", lambda: _bb().purchase_count_probabilities(
        np.arange(10**6), 10**6), "max_count|ages"),
    ("discrete_summary-freq-bogus", lambda: discrete_summary(_tx(), customer="client_id", date="date", freq="bogus",
                                                             calibration_end=_cal_end()), "freq"),
    ("discrete_summary-freq-int", lambda: discrete_summary(_tx(), customer="client_id", date="date", freq=7,
                                                           calibration_end=_cal_end()), "freq"),
    ("discrete_summary-calibration_end-9999", lambda: discrete_summary(
        _tx(), customer="client_id", date="date", freq="W", calibration_end="9999-12-31"), "calibration_end"),
    ("discrete_summary-calibration_end-garbage", lambda: discrete_summary(
        _tx(), customer="client_id", date="date", freq="W", calibration_end="soon"), "calibration_end"),
    ("discrete_summary-observation_end-before", lambda: discrete_summary(
        _tx(), customer="client_id", date="date", freq="W", calibration_end=_cal_end(),
        observation_end=_cal_end() - pd.Timedelta(days=300)), "observation_end"),
    ("discrete_summary-customer-missing", lambda: discrete_summary(
        _tx(), customer="zz", date="date", freq="W", calibration_end=_cal_end()), "zz"),
    ("discrete_summary-empty", lambda: discrete_summary(
        _tx().iloc[:0], customer="client_id", date="date", freq="W", calibration_end=_cal_end()), "transactions"),
    ("discrete_summary-date-NaT", lambda: discrete_summary(
        _tx().assign(date=_tx()["date"].mask(np.arange(len(_tx())) == 0)), customer="client_id", date="date",
        freq="W", calibration_end=_cal_end()), "date"),
    ("discrete_summary-id-null", lambda: discrete_summary(
        _tx().assign(client_id=_tx()["client_id"].astype("Int64").mask(np.arange(len(_tx())) == 0)),
        customer="client_id", date="date", freq="W", calibration_end=_cal_end()), "client_id"),
    # value_diagnostics
    ("calibration_holdout-unfitted", lambda: vd.calibration_holdout(ts.BetaGeo(), _S(), t=10), "model"),
    ("calibration_holdout-not-a-model", lambda: vd.calibration_holdout(object(), _S(), t=10), "model"),
    ("calibration_holdout-no-holdout", lambda: vd.calibration_holdout(_bg(), _S().drop(columns="holdout_frequency"),
                                                                      t=10), "holdout_frequency"),
    ("calibration_holdout-t-missing", lambda: vd.calibration_holdout(_bg(), _S()), "t"),
    ("calibration_holdout-t-nan", lambda: vd.calibration_holdout(_bg(), _S(), t=math.nan), "t"),
    ("calibration_holdout-t--1", lambda: vd.calibration_holdout(_bg(), _S(), t=-1.0), "t"),
    ("calibration_holdout-max_frequency-0", lambda: vd.calibration_holdout(_bg(), _S(), t=10, max_frequency=0),
     "max_frequency"),
    ("calibration_holdout-max_frequency-2**40", lambda: vd.calibration_holdout(_bg(), _S(), t=10,
                                                                               max_frequency=BIG), "max_frequency"),
    ("calibration_holdout-empty", lambda: vd.calibration_holdout(_bg(), _S().iloc[:0], t=10), "summary"),
    ("calibration_holdout-holdout-nan", lambda: vd.calibration_holdout(
        _bg(), _row0(_S(), "holdout_frequency", math.nan), t=10), "holdout_frequency"),
    ("calibration_holdout-holdout-text", lambda: vd.calibration_holdout(
        _bg(), _S().assign(holdout_frequency="x"), t=10), "holdout_frequency"),
    ("calibration_holdout-frequency-negative", lambda: vd.calibration_holdout(
        _bg(), _row0(_S(), "frequency", -1.0), t=10), "frequency"),
    ("calibration_holdout-duplicate-column", lambda: vd.calibration_holdout(
        _bg(), pd.concat([_S(), _S()[["holdout_frequency"]]], axis=1), t=10), "holdout_frequency"),
    ("bgnbd_count_probabilities-params-missing", lambda: vd.bgnbd_count_probabilities({"r": 1}, [1], 3), "params"),
    ("bgnbd_count_probabilities-params-nan", lambda: vd.bgnbd_count_probabilities(
        {**_bg().params_, "r": math.nan}, [1], 3), "r"),
    ("bgnbd_count_probabilities-params-negative", lambda: vd.bgnbd_count_probabilities(
        {**_bg().params_, "alpha": -1}, [1], 3), "alpha"),
    ("bgnbd_count_probabilities-params-text", lambda: vd.bgnbd_count_probabilities(
        {**_bg().params_, "a": "x"}, [1], 3), "a"),
    ("bgnbd_count_probabilities-params-list", lambda: vd.bgnbd_count_probabilities([1, 2], [1], 3), "params"),
    ("bgnbd_count_probabilities-ages-text", lambda: vd.bgnbd_count_probabilities(_bg().params_, ["x"], 3), "ages"),
    ("bgnbd_count_probabilities-ages-negative", lambda: vd.bgnbd_count_probabilities(_bg().params_, [-1], 3),
     "ages"),
    ("bgnbd_count_probabilities-max_count-2**40", lambda: vd.bgnbd_count_probabilities(_bg().params_, [1], BIG),
     "max_count"),
    ("bgnbd_count_probabilities-table-too-large", lambda: vd.bgnbd_count_probabilities(
        _bg().params_, np.ones(10**5), 10**4), "max_count|ages"),
    ("period_transactions-max_frequency-0", lambda: vd.period_transactions(_bg(), _S(), max_frequency=0),
     "max_frequency"),
    ("period_transactions-max_frequency-2**40", lambda: vd.period_transactions(_bg(), _S(), max_frequency=BIG),
     "max_frequency"),
    ("period_transactions-unfitted", lambda: vd.period_transactions(ts.BetaGeo(), _S()), "model"),
    ("period_transactions-spend-model", lambda: vd.period_transactions(_gg(), _S()), "model"),
    ("period_transactions-empty", lambda: vd.period_transactions(_bg(), _S().iloc[:0]), "summary"),
    ("period_transactions-pareto-has-no-count-law", lambda: vd.period_transactions(_pn(), _S()), "ParetoNBD"),
    ("period_transactions-frequency-negative", lambda: vd.period_transactions(_bg(), _row0(_S(), "frequency", -2.0)),
     "frequency"),
    ("cumulative_transactions-freq-bogus", lambda: vd.cumulative_transactions(
        _bg(), _tx(), customer="client_id", date="date", calibration_end=_cal_end(), freq="bogus"), "freq"),
    ("cumulative_transactions-freq-too-fine", lambda: vd.cumulative_transactions(
        _bb(), _tx(), customer="client_id", date="date", calibration_end=_cal_end(), freq="s"), "freq"),
    ("cumulative_transactions-period_days-0", lambda: vd.cumulative_transactions(
        _bg(), _tx(), customer="client_id", date="date", calibration_end=_cal_end(), period_days=0), "period_days"),
    ("cumulative_transactions-period_days-1.5", lambda: vd.cumulative_transactions(
        _bg(), _tx(), customer="client_id", date="date", calibration_end=_cal_end(), period_days=1.5),
     "period_days"),
    ("cumulative_transactions-period_days-1e300", lambda: vd.cumulative_transactions(
        _bg(), _tx(), customer="client_id", date="date", calibration_end=_cal_end(), period_days=1e300),
     "period_days"),
    ("cumulative_transactions-calibration_end-9999", lambda: vd.cumulative_transactions(
        _bg(), _tx(), customer="client_id", date="date", calibration_end="9999-12-31"), "calibration_end"),
    ("cumulative_transactions-calibration_end-1500", lambda: vd.cumulative_transactions(
        _bg(), _tx(), customer="client_id", date="date", calibration_end="1500-01-01"), "calibration_end"),
    ("cumulative_transactions-customer-missing", lambda: vd.cumulative_transactions(
        _bg(), _tx(), customer="zz", date="date", calibration_end=_cal_end()), "zz"),
    ("cumulative_transactions-empty", lambda: vd.cumulative_transactions(
        _bg(), _tx().iloc[:0], customer="client_id", date="date", calibration_end=_cal_end()), "transactions"),
    ("cumulative_transactions-unfitted", lambda: vd.cumulative_transactions(
        ts.BetaGeo(), _tx(), customer="client_id", date="date", calibration_end=_cal_end()), "model"),
    ("cumulative_transactions-observation_end-before", lambda: vd.cumulative_transactions(
        _bg(), _tx(), customer="client_id", date="date", calibration_end=_cal_end(),
        observation_end=_cal_end() - pd.Timedelta(days=50)), "observation_end"),
    ("split_clients-test_size-0", lambda: vd.split_clients(_S(), test_size=0), "test_size"),
    ("split_clients-test_size-1", lambda: vd.split_clients(_S(), test_size=1), "test_size"),
    ("split_clients-test_size-nan", lambda: vd.split_clients(_S(), test_size=math.nan), "test_size"),
    ("split_clients-test_size-text", lambda: vd.split_clients(_S(), test_size="0.3"), "test_size"),
    ("split_clients-stratify-missing", lambda: vd.split_clients(_S(), stratify="zz"), "zz"),
    ("split_clients-stratify-text", lambda: vd.split_clients(_S().assign(g="x"), stratify="g"), "'g'"),
    ("split_clients-stratify-nan", lambda: vd.split_clients(_row0(_S(), "frequency", math.nan)), "frequency"),
    ("split_clients-max_groups-0", lambda: vd.split_clients(_S(), max_groups=0), "max_groups"),
    ("split_clients-seed-text", lambda: vd.split_clients(_S(), seed="x"), "seed"),
    ("split_clients-seed--1", lambda: vd.split_clients(_S(), seed=-1), "seed"),
    ("split_clients-one-row", lambda: vd.split_clients(_S().iloc[:1]), "summary"),
    ("split_clients-ndarray", lambda: vd.split_clients(_S().to_numpy()), "summary"),
    ("compare_models-empty", lambda: vd.compare_models({}, _S(), t=10), "models"),
    ("compare_models-not-a-model", lambda: vd.compare_models({"x": object()}, _S(), t=10), "model"),
    ("compare_models-unfitted", lambda: vd.compare_models({"x": ts.BetaGeo()}, _S(), t=10), "model"),
    ("compare_models-text", lambda: vd.compare_models("bg", _S(), t=10), "models"),
    ("compare_models-t-nan", lambda: vd.compare_models([_bg(), _pn()], _S(), t=math.nan), "t"),
    ("compare_models-same-class-twice", lambda: vd.compare_models([_bg(), ts.BetaGeo(penalizer=0.1).fit(_S())],
                                                                  _S(), t=10), "BetaGeo|dict"),
    ("compare_models-summary-dict-missing", lambda: vd.compare_models({"bg": _bg(), "bb": _bb()}, {"bg": _S()}, t=10),
     "bb"),
]


@pytest.mark.parametrize("call,match", [pytest.param(c, m, id=i) for i, c, m in CASES])
def test_bad_argument(call, match):
    start = time.perf_counter()
    with pytest.raises((ValueError, TypeError, KeyError), match=match):
        call()
    assert time.perf_counter() - start < 30, "a refused argument must be refused before the work"


# (id, call, reference): accepted input with a result that must equal the reference's, without silent NaN.
SAME = [
    ("ParetoNBD-fit-arrow-dtypes", lambda: ts.ParetoNBD().fit(_S().astype("float64[pyarrow]")).params_,
     lambda: _pn().params_),
    ("ParetoNBD-fit-polars", lambda: ts.ParetoNBD().fit(pytest.importorskip("polars").from_pandas(_S())).params_,
     lambda: _pn().params_),
    ("ParetoNBD-fit-nullable", lambda: ts.ParetoNBD().fit(_S().astype("Float64")).params_, lambda: _pn().params_),
    ("ParetoNBD-fit-weights-series", lambda: ts.ParetoNBD().fit(_S(), weights=pd.Series(np.ones(len(_S())))).params_,
     lambda: ts.ParetoNBD().fit(_S(), weights=np.ones(len(_S()))).params_),
    ("ParetoNBD-predict-arrow-dtypes", lambda: _pn().predict(_S().astype("float64[pyarrow]"), 10),
     lambda: _pn().predict(_S(), 10)),
    ("BetaGeoBetaBinom-fit-arrow-dtypes", lambda: ts.BetaGeoBetaBinom().fit(
        _DS().astype("float64[pyarrow]")).params_, lambda: _bb().params_),
    ("BetaGeoBetaBinom-fit-int-columns", lambda: ts.BetaGeoBetaBinom().fit(
        _DS()[["frequency", "recency", "n_periods"]].astype("int64")).params_, lambda: _bb().params_),
    ("BetaGeoBetaBinom-predict-t-whole-float", lambda: _bb().predict(_DS(), 4.0), lambda: _bb().predict(_DS(), 4)),
    ("BetaGeoBetaBinom-count_probabilities-empty", lambda: _bb().purchase_count_probabilities([], 3),
     lambda: np.zeros((0, 4))),
    ("BetaGeoBetaBinom-count_probabilities-2d-ages", lambda: _bb().purchase_count_probabilities([[1, 2]], 3),
     lambda: _bb().purchase_count_probabilities([1, 2], 3)),
    ("discrete_summary-arrow-dtypes", lambda: discrete_summary(
        _tx().astype({"client_id": "int64[pyarrow]", "amount": "float64[pyarrow]"}), customer="client_id",
        date="date", freq="W", calibration_end=_cal_end(), observation_end=_data().now), _DS),
    ("split_clients-max_groups-2**40", lambda: vd.split_clients(_S(), max_groups=BIG),
     lambda: vd.split_clients(_S(), max_groups=len(_S()))),
    ("compare_models-two-models", lambda: vd.compare_models({"bg": _bg(), "pn": _pn()}, _S(), t=10).index.tolist(),
     lambda: ["bg", "pn"]),
]


@pytest.mark.parametrize("call,reference", [pytest.param(c, r, id=i) for i, c, r in SAME])
def test_same_answer(call, reference):
    got = call()
    if isinstance(got, dict):
        assert set(got) == set(reference())
        for k, v in reference().items():
            assert got[k] == pytest.approx(v, rel=1e-6), k
        return
    assert_same(got, reference())
    no_silent_nan(got)


def test_sub_second_periods_do_not_overflow_the_client_period_pairs():
    """discrete_summary once packed (client, period) into client * span + period: with second periods
    over two years of 400 clients that overflows int64 ("'list' argument must have no negative elements");
    the pairs are now sorted on both keys, the same answer as a coarse period gives where they agree."""
    tx = _tx().assign(date=_tx()["date"].dt.floor("D"))
    fine = discrete_summary(tx, customer="client_id", date="date", freq="s", calibration_end=_cal_end())
    assert fine["frequency"].ge(0).all() and fine["n_periods"].ge(fine["recency"]).all()
    # Each (client, day) is one purchase opportunity in both; a day's later seconds never hold one.
    daily = discrete_summary(tx, customer="client_id", date="date", freq="D", calibration_end=_cal_end())
    np.testing.assert_array_equal(fine.loc[daily.index, "frequency"].to_numpy(), daily["frequency"].to_numpy())


def test_accepted_edges_hold_no_silent_nan():
    """Huge horizons, huge frequencies and a huge discount: finite answers (the limits), never NaN."""
    for got in (_pn().predict(_S(), 1e15), _pn().expected_purchases_new(1e300),
                _pn().predict(pd.DataFrame({"frequency": [1e6], "recency": [1e6], "T": [1e6]}), 4),
                _bb().predict(pd.DataFrame({"frequency": [1e6], "recency": [1e6], "n_periods": [1e6]}), 4),
                _bb().expected_residual_transactions(_DS(), discount=1e300),
                vd.bgnbd_count_probabilities(_bg().params_, [1e300], 3)):
        no_silent_nan(got)
        assert np.isfinite(np.asarray(got, dtype=float)).all()
