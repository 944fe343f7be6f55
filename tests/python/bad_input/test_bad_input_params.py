"""Bad input, parameters and files: every public entry point × out-of-range,
wrong-type and hostile arguments (negative k, n_threads 0 or 2**40, bins 1,
NaN rates, dates out of range, unknown options, SQL names, model files that are
not model files). Each must raise ValueError / TypeError / KeyError whose
message names the argument — checked before any work, so each case is quick —
or, where the argument is only large (top=10**6), give the capped result fast.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from badinput_support import NOW

_RNG = np.random.default_rng(3)
_X = pd.DataFrame(_RNG.normal(size=(120, 4)), columns=["a", "b", "c", "d"])
_Y = (_X["a"] + 0.3 * _RNG.normal(size=120) > 0).astype(int)
_TX = pd.DataFrame({"client_id": _RNG.integers(0, 30, 300),
                    "date": NOW - pd.to_timedelta(_RNG.integers(1, 500, 300), "D"),
                    "amount": np.round(_RNG.gamma(2.0, 30.0, 300), 2)})
_EV = pd.DataFrame({"contact_id": _RNG.integers(0, 40, 200),
                    "timestamp": NOW - pd.to_timedelta(_RNG.integers(1, 100, 200), "D"),
                    "type": _RNG.choice(["email_send", "email_open", "email_click", "form_fill"], 200),
                    "category": _RNG.choice(["a", "b"], 200)})
_CONTACTS = pd.DataFrame({"contact_id": np.arange(40), "age": _RNG.integers(18, 80, 40)})
_CACHE: dict = {}


def _cached(name, make):
    if name not in _CACHE:
        _CACHE[name] = make()
    return _CACHE[name]


def _logistic():
    return _cached("logistic", lambda: ts.LogisticScorer().fit(_X, _Y))


def _kmeans():
    return _cached("kmeans", lambda: ts.KMeans(3, random_state=0, n_init=1).fit(_X))


def _trees():
    def make():
        xgb = pytest.importorskip("xgboost")
        b = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1}, xgb.DMatrix(_X, label=_Y), 4)
        return ts.TreeScorer.from_xgboost(b)
    return _cached("trees", make)


def _twins():
    return _cached("twins", lambda: ts.TwinIndex().fit(
        _X.iloc[:30].assign(id=np.arange(30)), id="id", population=_X.assign(id=np.arange(120))))


def _summary():
    return _cached("summary", lambda: ts.calibration_summary(
        _TX, customer="client_id", date="date", amount="amount", calibration_end=NOW - pd.Timedelta(days=100),
        observation_end=NOW))


def _bg():
    return _cached("bg", lambda: ts.BetaGeo().fit(_summary()))


def _gg():
    return _cached("gg", lambda: ts.GammaGamma().fit(_summary()))


def _criteria():
    return _cached("crit", lambda: ts.discriminating_criteria(_X.assign(y=_Y), "y", ["a", "b"]))


def _rfm(**kw):
    return ts.rfm(_TX, customer="client_id", date="date", amount="amount", **{"now": NOW, **kw})


def _plan(**kw):
    args = {"p": np.full(10, 0.1), "value": np.full(10, 50.0), "channels": [ts.Channel("email", 0.1)]}
    args.update(kw)
    return ts.contact_plan(args.pop("p"), args.pop("value"), args.pop("channels"), **args)


BIG = 2**40

# (id, call, match): the call must raise ValueError/TypeError/KeyError matching `match`.
CASES = [
    # threads, everywhere
    ("set_num_threads-2**40", lambda: ts.set_num_threads(BIG), "n_threads"),
    ("set_num_threads-text", lambda: ts.set_num_threads("2"), "n_threads"),
    ("set_num_threads-bool", lambda: ts.set_num_threads(True), "n_threads"),
    ("threads-0", lambda: ts.threads(0).__enter__(), "n_threads"),
    ("KMeans-n_threads-0", lambda: ts.KMeans(2, n_threads=0).fit(_X), "n_threads"),
    ("KMeans-n_threads-2**40", lambda: ts.KMeans(2, n_threads=BIG).fit(_X), "n_threads"),
    ("TreeScorer.predict-n_threads-2**40", lambda: _trees().predict(_X, n_threads=BIG), "n_threads"),
    ("TreeScorer.predict-n_threads--1", lambda: _trees().predict(_X, n_threads=-1), "n_threads"),
    ("TwinIndex-n_threads-2**40", lambda: ts.TwinIndex(n_threads=BIG).fit(_X), "n_threads"),
    ("discriminating_criteria-n_threads-0", lambda: ts.discriminating_criteria(_X.assign(y=_Y), "y", n_threads=0),
     "n_threads"),
    ("psi-n_threads-2**40", lambda: ts.drift.psi(_X["a"], _X["b"], n_threads=BIG), "n_threads"),
    ("contact_plan-n_threads-0", lambda: _plan(n_threads=0), "n_threads"),
    # k-means
    ("KMeans-n_clusters-0", lambda: ts.KMeans(0).fit(_X), "n_clusters"),
    ("KMeans-n_clusters--1", lambda: ts.KMeans(-1).fit(_X), "n_clusters"),
    ("KMeans-n_clusters-2**40", lambda: ts.KMeans(BIG).fit(_X), "n_clusters"),
    ("KMeans-n_clusters-1.5", lambda: ts.KMeans(1.5).fit(_X), "n_clusters"),
    ("KMeans-n_clusters-text", lambda: ts.KMeans("3").fit(_X), "n_clusters"),
    ("KMeans-max_iter-0", lambda: ts.KMeans(2, max_iter=0).fit(_X), "max_iter"),
    ("KMeans-tol-nan", lambda: ts.KMeans(2, tol=float("nan")).fit(_X), "tol"),
    ("KMeans-n_init-0", lambda: ts.KMeans(2, n_init=0).fit(_X), "n_init"),
    ("KMeans-init-bogus", lambda: ts.KMeans(2, init="bogus").fit(_X), "init"),
    ("KMeans-init-wrong-shape", lambda: ts.KMeans(2, init=np.zeros((3, 4))).fit(_X), "init"),
    ("KMeans-sample_weight-negative", lambda: ts.KMeans(2).fit(_X, sample_weight=-np.ones(120)), "sample_weight"),
    ("KMeans-sample_weight-length", lambda: ts.KMeans(2).fit(_X, sample_weight=np.ones(7)), "sample_weight"),
    ("KMeans.predict-wrong-columns", lambda: _kmeans().predict(_X[["a", "b"]]), "X|features|columns"),
    ("MiniBatchKMeans-batch_size-0", lambda: ts.MiniBatchKMeans(2, batch_size=0).fit(_X), "batch_size"),
    # logistic
    ("LogisticScorer-C-0", lambda: ts.LogisticScorer(C=0).fit(_X, _Y), "C"),
    ("LogisticScorer-C-nan", lambda: ts.LogisticScorer(C=float("nan")).fit(_X, _Y), "C"),
    ("LogisticScorer-C-inf", lambda: ts.LogisticScorer(C=float("inf")).fit(_X, _Y), "C"),
    ("LogisticScorer-max_iter--1", lambda: ts.LogisticScorer(max_iter=-1).fit(_X, _Y), "max_iter"),
    ("LogisticScorer-tol--1", lambda: ts.LogisticScorer(tol=-1.0).fit(_X, _Y), "tol"),
    ("LogisticScorer-class_weight-bogus", lambda: ts.LogisticScorer(class_weight="bogus").fit(_X, _Y),
     "class_weight"),
    ("LogisticScorer-y-three-classes", lambda: ts.LogisticScorer().fit(_X, np.arange(120) % 3), "class"),
    ("LogisticScorer-y-length", lambda: ts.LogisticScorer().fit(_X, _Y[:50]), "y"),
    ("LogisticScorer.explain-top-0", lambda: _logistic().explain(_X, top=0), "top"),
    ("LogisticScorer.explain-top-text", lambda: _logistic().explain(_X, top="3"), "top"),
    ("LogisticScorer.predict-missing-column", lambda: _logistic().predict_proba(_X.drop(columns="c")), "c"),
    # trees
    ("TreeScorer.top_reasons-top-0", lambda: _trees().top_reasons(_X, top=0), "top"),
    ("TreeScorer.top_reasons-groups-list", lambda: _trees().top_reasons(_X, groups=["a", "b"]), "groups"),
    ("TreeScorer.top_reasons-groups-unknown", lambda: _trees().top_reasons(_X, groups={"g": ["zz"]}), "zz|groups"),
    ("TreeScorer.top_reasons-direction", lambda: _trees().top_reasons(_X, direction="sideways"), "direction"),
    ("TreeScorer.top_reasons-output", lambda: _trees().top_reasons(_X, output=5), "output"),
    ("TreeScorer.predict-iteration_range-reversed", lambda: _trees().predict(_X, iteration_range=(3, 1)),
     "iteration_range"),
    ("TreeScorer.predict-iteration_range-huge", lambda: _trees().predict(_X, iteration_range=(0, BIG)),
     "iteration_range"),
    ("TreeScorer.from_xgboost-not-a-model", lambda: ts.TreeScorer.from_xgboost(b"{\"learner\": 5}"), "."),
    ("TreeScorer.from_xgboost-number", lambda: ts.TreeScorer.from_xgboost(5), "model|XGBoost|xgboost"),
    ("TreeScorer.from_lightgbm-max_bytes-0", lambda: ts.TreeScorer.from_lightgbm("tree\n", max_bytes=0),
     "max_bytes|model"),
    ("TreeScorer.predict-missing-column", lambda: _trees().predict(_X.drop(columns="b")), "b"),
    # twins
    ("TwinIndex-metric-bogus", lambda: ts.TwinIndex("bogus").fit(_X), "metric"),
    ("TwinIndex.search-k-0", lambda: _twins().search(_X.assign(id=np.arange(120)), k=0, id="id"), "k"),
    ("TwinIndex.search-k--1", lambda: _twins().search(_X.assign(id=np.arange(120)), k=-1, id="id"), "k"),
    ("TwinIndex.search-k-2**40", lambda: _twins().search(_X.assign(id=np.arange(120)), k=BIG, id="id"), "k"),
    ("TwinIndex.search-k-text", lambda: _twins().search(_X.assign(id=np.arange(120)), k="3", id="id"), "k"),
    ("TwinIndex.search-id-missing", lambda: _twins().search(_X, k=3, id="nope"), "nope"),
    ("TwinIndex.expand-fraction-1.5", lambda: _twins().expand(_X.assign(id=np.arange(120)), fraction=1.5, id="id"),
     "fraction"),
    ("TwinIndex.expand-fraction-nan", lambda: _twins().expand(_X.assign(id=np.arange(120)), fraction=math.nan,
                                                             id="id"), "fraction"),
    ("TwinIndex.expand-n--1", lambda: _twins().expand(_X.assign(id=np.arange(120)), n=-1, id="id"), "n"),
    ("TwinIndex.expand-both", lambda: _twins().expand(_X.assign(id=np.arange(120)), n=3, fraction=0.1, id="id"),
     "fraction|n"),
    ("TwinIndex.expand-by-bogus", lambda: _twins().expand(_X.assign(id=np.arange(120)), n=3, by="bogus", id="id"),
     "by"),
    ("TwinIndex.reasons-top-0", lambda: _twins().reasons(_X.assign(id=np.arange(120)), top=0, id="id"), "top"),
    ("TwinIndex-prospect_tile-0", lambda: ts.TwinIndex("sqeuclidean", prospect_tile=0).fit(_X), "prospect_tile"),
    ("TwinIndex-block_on-missing", lambda: ts.TwinIndex(block_on=["zz"]).fit(_X), "zz"),
    # value
    ("rfm-bins-1", lambda: _rfm(bins=1), "bins"),
    ("rfm-bins-2**40", lambda: _rfm(bins=BIG), "bins"),
    ("rfm-bins-text", lambda: _rfm(bins="5"), "bins"),
    ("rfm-now-9999", lambda: _rfm(now="9999-12-31"), "now"),
    ("rfm-now-number", lambda: _rfm(now=5), "now"),
    ("rfm-now-and-as_of", lambda: _rfm(as_of=NOW), "now|as_of"),
    ("rfm-now-before-purchases", lambda: _rfm(now=NOW - pd.Timedelta(days=300)), "now"),
    ("rfm-segments-not-frame", lambda: _rfm(segments=[1, 2]), "segments"),
    ("calibration_summary-period_days-0", lambda: ts.calibration_summary(
        _TX, customer="client_id", date="date", calibration_end=NOW - pd.Timedelta(days=10), period_days=0),
     "period_days"),
    ("calibration_summary-period_days-nan", lambda: ts.calibration_summary(
        _TX, customer="client_id", date="date", calibration_end=NOW - pd.Timedelta(days=10), period_days=math.nan),
     "period_days"),
    ("calibration_summary-end-after-observation", lambda: ts.calibration_summary(
        _TX, customer="client_id", date="date", calibration_end=NOW, observation_end=NOW - pd.Timedelta(days=5)),
     "calibration_end|observation_end"),
    ("calibration_summary-end-1500", lambda: ts.calibration_summary(
        _TX, customer="client_id", date="date", calibration_end="1500-01-01"), "calibration_end"),
    ("BetaGeo-penalizer--1", lambda: ts.BetaGeo(penalizer=-1.0).fit(_summary()), "penalizer"),
    ("BetaGeo-max_iter-0", lambda: ts.BetaGeo(max_iter=0).fit(_summary()), "max_iter"),
    ("BetaGeo.predict-t-nan", lambda: _bg().predict(_summary(), t=math.nan), "t"),
    ("BetaGeo.predict-t--1", lambda: _bg().predict(_summary(), t=-1.0), "t"),
    ("BetaGeo.predict-interval-1.5", lambda: _bg().predict(_summary(), t=4, interval=1.5), "interval"),
    ("BetaGeo.predict-draws-0", lambda: _bg().predict(_summary(), t=4, interval=0.9, draws=0), "draws"),
    ("BetaGeo.predict-draws-2**40", lambda: _bg().predict(_summary(), t=4, interval=0.9, draws=BIG), "draws"),
    ("BetaGeo.sample_params-seed-text", lambda: _bg().sample_params(10, seed="x"), "seed"),
    ("BetaGeo.fit-weights-negative", lambda: ts.BetaGeo().fit(_summary(), weights=-np.ones(len(_summary()))),
     "weights"),
    ("lifetime_value-months-0", lambda: ts.lifetime_value(_bg(), _gg(), _summary(), months=0), "months"),
    ("lifetime_value-months-2**40", lambda: ts.lifetime_value(_bg(), _gg(), _summary(), months=BIG), "months"),
    ("lifetime_value-discount-nan", lambda: ts.lifetime_value(_bg(), _gg(), _summary(), monthly_discount=math.nan),
     "monthly_discount"),
    ("lifetime_value-discount--1", lambda: ts.lifetime_value(_bg(), _gg(), _summary(), monthly_discount=-1.0),
     "monthly_discount"),
    ("lifetime_value-models-swapped", lambda: ts.lifetime_value(_gg(), _bg(), _summary()), "purchases|spend"),
    # events and leads
    ("aggregate-half_life-0", lambda: ts.events.aggregate(_EV, now=NOW, half_life_days=0), "half_life"),
    ("aggregate-half_life-nan", lambda: ts.events.aggregate(_EV, now=NOW, half_life_days=math.nan), "half_life"),
    ("aggregate-half_life-inf", lambda: ts.events.aggregate(_EV, now=NOW, half_life_days=math.inf), "half_life"),
    ("aggregate-now-missing", lambda: ts.events.aggregate(_EV), "now"),
    ("aggregate-now-garbage", lambda: ts.events.aggregate(_EV, now="yesterday-ish"), "now"),
    ("aggregate-now-9999", lambda: ts.events.aggregate(_EV, now="9999-12-31"), "now"),
    ("aggregate-now-before-events", lambda: ts.events.aggregate(_EV, now=NOW - pd.Timedelta(days=50)), "now"),
    ("aggregate-unknown-bogus", lambda: ts.events.aggregate(_EV, now=NOW, unknown="maybe"), "unknown"),
    ("aggregate-column-missing", lambda: ts.events.aggregate(_EV, now=NOW, contact="who"), "who"),
    ("aggregate-types-not-in-log", lambda: ts.events.aggregate(_EV, now=NOW, types=["x"]), "type"),
    ("snapshots-horizon-negative", lambda: ts.events.snapshots(_EV, cutoffs=[NOW - pd.Timedelta(days=50)],
                                                               horizon="-5D", target="form_fill"), "horizon"),
    ("snapshots-cutoffs-empty", lambda: ts.events.snapshots(_EV, cutoffs=[], horizon="5D", target="form_fill"),
     "cutoffs"),
    ("machine_activity-burst-1", lambda: ts.events.machine_activity(_EV, burst_clicks=1), "burst_clicks"),
    ("machine_activity-window-garbage", lambda: ts.events.machine_activity(_EV, open_within="soon"),
     "open_within"),
    ("score_leads-rule-named-score", lambda: ts.score_leads(
        _CONTACTS, _EV, {"fit": [{"name": "score", "column": "age", "min": 30, "points": 1}]}, now=NOW), "score"),
    ("score_leads-rule-unknown-column", lambda: ts.score_leads(
        _CONTACTS, _EV, {"fit": [{"name": "r", "column": "zz", "min": 30, "points": 1}]}, now=NOW), "zz"),
    ("score_leads-points-nan", lambda: ts.score_leads(
        _CONTACTS, _EV, {"fit": [{"name": "r", "column": "age", "min": 30, "points": math.nan}]}, now=NOW),
     "points"),
    ("score_leads-cap-negative", lambda: ts.score_leads(
        _CONTACTS, _EV, {"behaviour": [{"name": "r", "event": "email_open", "points": 1, "cap": -1}]}, now=NOW),
     "cap"),
    ("score_leads-unknown-key", lambda: ts.score_leads(_CONTACTS, _EV, {"colour": 1}, now=NOW), "colour"),
    ("LeadRules.to_sql-dialect", lambda: ts.LeadRules.from_dict({}).to_sql("c", "e", now=NOW, dialect="oracle"),
     "dialect"),
    ("LeadRules.from_toml-not-a-mapping", lambda: ts.LeadRules.from_toml("x = [1, 2]\nfit = 5\n"), "fit"),
    # criteria, drift, metrics
    ("discriminating_criteria-n_bins-0", lambda: ts.discriminating_criteria(_X.assign(y=_Y), "y", n_bins=0),
     "n_bins"),
    ("discriminating_criteria-n_bins-2**40", lambda: ts.discriminating_criteria(_X.assign(y=_Y), "y",
                                                                               n_bins=BIG), "n_bins"),
    ("discriminating_criteria-smoothing-0", lambda: ts.discriminating_criteria(_X.assign(y=_Y), "y", smoothing=0),
     "smoothing"),
    ("discriminating_criteria-target-missing", lambda: ts.discriminating_criteria(_X, "zz"), "zz"),
    ("discriminating_criteria-target-3-values", lambda: ts.discriminating_criteria(_X, np.arange(120) % 3),
     "target|values"),
    ("discriminating_criteria-positive-absent", lambda: ts.discriminating_criteria(_X.assign(y=_Y), "y",
                                                                                   positive=7), "positive"),
    ("Criteria.scorecard-top-0", lambda: _criteria().scorecard(top=0), "top"),
    ("Criteria.scorecard-pdo-0", lambda: _criteria().scorecard(pdo=0), "pdo"),
    ("psi-bins-1", lambda: ts.drift.psi(_X["a"], _X["b"], bins=1), "bins"),
    ("psi-bins-2**40", lambda: ts.drift.psi(_X["a"], _X["b"], bins=BIG), "bins"),
    ("psi-smoothing-nan", lambda: ts.drift.psi(_X["a"], _X["b"], smoothing=math.nan), "smoothing"),
    ("psi-empty", lambda: ts.drift.psi(_X["a"], _X["b"].iloc[:0]), "actual|empty"),
    ("stability-columns-missing", lambda: ts.drift.stability(_X, _X, columns=["zz"]), "zz"),
    ("calibration_check-bins-2", lambda: ts.drift.calibration_check(np.full(120, 0.3), _Y, bins=2), "bins"),
    ("calibration_check-score-1.5", lambda: ts.drift.calibration_check(np.full(120, 1.5), _Y), "scores"),
    ("lift_table-n_bins-0", lambda: ts.metrics.lift_table(_Y, _X["a"], n_bins=0), "n_bins"),
    ("lift_table-n_bins-2**40", lambda: ts.metrics.lift_table(_Y, _X["a"], n_bins=BIG), "n_bins"),
    ("roc_curve-n_points-0", lambda: ts.metrics.roc_curve(_Y, _X["a"], n_points=0), "n_points"),
    ("calibration_table-strategy", lambda: ts.metrics.calibration_table(_Y, np.full(120, 0.2), strategy="x"),
     "strategy"),
    ("roc_auc-y_true-not-binary", lambda: ts.metrics.roc_auc(np.arange(120), _X["a"]), "y_true"),
    ("roc_auc-one-class", lambda: ts.metrics.roc_auc(np.ones(120), _X["a"]), "y_true|class"),
    ("band_table-bands-unsorted", lambda: ts.metrics.band_table(_Y, _X["a"], [1.0, 0.0]), "bands"),
    ("lift_at-fraction-0", lambda: ts.lift_at(_X["a"], _Y, 0.0), "fraction"),
    ("segment_profiles-labels-length", lambda: ts.segment_profiles(_X, np.zeros(5)), "labels"),
    ("segment_profiles-top--1", lambda: ts.segment_profiles(_X, np.zeros(120), top=-1), "top"),
    # kpi, triggers, plan
    ("client_value-freq", lambda: ts.kpi.client_value(_TX, customer="client_id", date="date", amount="amount",
                                                      freq="X"), "freq"),
    ("client_value-inactive_days-0", lambda: ts.kpi.client_value(_TX, customer="client_id", date="date",
                                                                 amount="amount", inactive_days=0), "inactive_days"),
    ("client_value-by-partial", lambda: ts.kpi.client_value(_TX, customer="client_id", date="date", amount="amount",
                                                           by=pd.Series(["a", "b", "a"])), "by"),
    ("client_value-by-all-missing", lambda: ts.kpi.client_value(
        _TX, customer="client_id", date="date", amount="amount", by=pd.Series([None] * 30, dtype=object)), "by"),
    ("email-by-partial", lambda: ts.kpi.email(_EV, contact="contact_id", timestamp="timestamp", type="type",
                                              by=pd.Series(["a"] * 5)), "by"),
    ("client_value-by-duplicated", lambda: ts.kpi.client_value(
        _TX, customer="client_id", date="date", amount="amount", by=pd.Series(["a"] * 30, index=[0] * 30)), "by"),
    ("lift_interval-confidence-1.5", lambda: ts.kpi.lift_interval(5, 10, 3, 10, confidence=1.5), "confidence"),
    ("lift_interval-x-above-n", lambda: ts.kpi.lift_interval(50, 10, 3, 10), "x_t|n_t"),
    ("campaign_results-window-garbage", lambda: ts.kpi.campaign_results(
        pd.DataFrame({"contact_id": [1], "campaign": ["c"], "group": ["treated"], "sent_at": [NOW]}),
        _TX.rename(columns={"client_id": "contact_id"}), window="soon"), "window"),
    ("funnel-one-stage", lambda: ts.kpi.funnel(_TX, stages={"a": "date"}, start=NOW - pd.Timedelta(days=9),
                                               end=NOW), "stages"),
    ("funnel-end-before-start", lambda: ts.kpi.funnel(_TX, stages={"a": "date", "b": "date"}, start=NOW,
                                                      end=NOW - pd.Timedelta(days=9)), "end"),
    ("inactivity-days-0", lambda: ts.triggers.inactivity(_TX, customer="client_id", date="date", days=0,
                                                         since=NOW - pd.Timedelta(days=9), until=NOW), "days"),
    ("inactivity-until-before-since", lambda: ts.triggers.inactivity(
        _TX, customer="client_id", date="date", days=5, since=NOW, until=NOW - pd.Timedelta(days=9)), "until"),
    ("score_crossed-direction", lambda: ts.triggers.score_crossed(_X["a"], _X["b"], threshold=0.0, date=NOW,
                                                                  direction="sideways"), "direction"),
    ("score_crossed-threshold-nan", lambda: ts.triggers.score_crossed(_X["a"], _X["b"], threshold=math.nan,
                                                                      date=NOW), "threshold"),
    ("contact_plan-budget--1", lambda: _plan(budget=-1.0), "budget"),
    ("contact_plan-budget-nan", lambda: _plan(budget=math.nan), "budget"),
    ("contact_plan-control-1.5", lambda: _plan(control=1.5), "control"),
    ("contact_plan-p-1.5", lambda: _plan(p=np.full(10, 1.5)), "p"),
    ("contact_plan-value-length", lambda: _plan(value=np.ones(3)), "value"),
    ("contact_plan-no-channel", lambda: _plan(channels=[]), "channel"),
    ("contact_plan-duplicate-channel", lambda: _plan(channels=[ts.Channel("e", 1.0), ts.Channel("e", 2.0)]),
     "e"),
    ("Channel-cost-nan", lambda: _plan(channels=[ts.Channel("e", math.nan)]), "cost"),
    ("Channel-capacity--1", lambda: _plan(channels=[ts.Channel("e", 1.0, capacity=-1)]), "capacity"),
    ("PressureRule-max-0", lambda: _plan(pressure=[ts.PressureRule(0, "7D")], history=pd.DataFrame(
        {"contact_id": [1], "channel": ["email"], "date": [NOW]}), now=NOW), "max_messages"),
    ("contact_plan-allowed-unknown-channel", lambda: _plan(allowed={"fax": np.ones(10, bool)}), "fax"),
    ("to_timestamp-number", lambda: ts.to_timestamp(5), "date"),
    ("to_timestamp-9999", lambda: ts.to_timestamp("9999-12-31", "valid_to"), "valid_to"),
    # model files
    ("from_bytes-garbage", lambda: ts.from_bytes(b"not a model"), "model"),
    ("from_bytes-empty", lambda: ts.from_bytes(b""), "model"),
    ("from_bytes-number", lambda: ts.from_bytes(5), "data|bytes"),
    ("from_bytes-truncated", lambda: ts.from_bytes(ts.to_bytes(_kmeans())[:-10]), "model|truncated"),
    ("from_bytes-wrong-class", lambda: ts.from_bytes(ts.to_bytes(_kmeans()), expect=ts.LogisticScorer),
     "LogisticScorer|KMeans"),
    ("to_bytes-not-a-model", lambda: ts.to_bytes(object()), "object"),
    ("load-directory", lambda: ts.load("/tmp"), "/tmp"),
    ("load-max_bytes-0", lambda: ts.load(__file__, max_bytes=0), "max_bytes"),
    ("load-fifo-like-device", lambda: ts.load("/dev/zero"), "regular file|/dev/zero"),
    ("Schema.load-not-json", lambda: ts.Schema.load(__file__), "JSON|schema"),
]


@pytest.mark.parametrize("call,match", [pytest.param(c, m, id=i) for i, c, m in CASES])
def test_bad_argument(call, match):
    start = time.perf_counter()
    with pytest.raises((ValueError, TypeError, KeyError), match=match):
        call()
    assert time.perf_counter() - start < 20, "a refused argument must be refused before the work"


def test_large_top_is_capped_at_the_features_and_fast():
    """explain / top_reasons with top=10**6: every feature once, not a million columns, in well under a second
    of work."""
    start = time.perf_counter()
    r = _logistic().explain(_X, top=10**6)
    assert r.shape[1] == 2 * _X.shape[1]
    t = _trees().top_reasons(_X, top=10**6)
    assert t.shape[1] <= 2 * _X.shape[1] + 2
    assert time.perf_counter() - start < 20


def test_sql_names_are_quoted_not_refused():
    """A table or id name with quotes or semicolons is an identifier, quoted (double quotes doubled)."""
    sql = _logistic().to_sql('t"; DROP TABLE x; --', id='a"b')
    assert '"t""; DROP TABLE x; --"' in sql and '"a""b"' in sql


def test_set_num_threads_zero_or_negative_restores_the_default(restore_threads):
    ts.set_num_threads(1)
    ts.set_num_threads(0)
    default = ts.get_num_threads()
    ts.set_num_threads(-5)
    assert ts.get_num_threads() == default >= 1


def test_lead_rule_names_never_duplicate_output_columns():
    rules = {"fit": [{"name": "fit_score", "column": "age", "min": 30, "points": 1}]}
    with pytest.raises(ValueError, match="fit_score"):
        ts.score_leads(_CONTACTS, _EV, rules, now=NOW)


def test_pickled_and_copied_models_predict_the_same():
    import copy
    import pickle
    for model, X in ((_logistic(), _X), (_kmeans(), _X), (_trees(), _X)):
        want = model.predict(X)
        for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model), ts.from_bytes(ts.to_bytes(model))):
            np.testing.assert_array_equal(clone.predict(X), want)


def test_dask_scorers_match_the_local_ones_and_refuse_bad_partitions():
    dd = pytest.importorskip("dask.dataframe")
    ddf = dd.from_pandas(_X, npartitions=3)
    local = _logistic()
    import twinscore.dask as tsd
    dask_model = tsd.DaskLogisticScorer().fit(ddf, dd.from_pandas(_Y, npartitions=3))
    got = dask_model.predict_proba(ddf).compute()  # proba_<class> columns, the partitions' index
    np.testing.assert_allclose(got.to_numpy()[:, 1], local.predict_proba(_X)[:, 1], rtol=1e-6)
    empty = dask_model.predict_proba(dd.from_pandas(_X.iloc[:0], npartitions=1)).compute()
    assert empty.shape == (0, 2)
    bad = _X.copy()
    bad.loc[5, "a"] = np.inf
    with pytest.raises(ValueError, match="'a'|column|X"):
        dask_model.predict_proba(dd.from_pandas(bad, npartitions=3)).compute()


def test_a_parquet_date_out_of_range_stops_a_job_and_a_table(tmp_path, capsys):
    """A 9999-12-31 "no end" in a Parquet timestamp[us] column: refused naming the column (exit 3 for a job,
    nothing written), never wrapped to 1816."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    from twinscore.cli.main import main as run_cli

    t = pa.table({"client_id": pa.array([1, 1, 2], pa.int64()),
                  "date": pa.array([dt.datetime(2026, 1, 1), dt.datetime(9999, 12, 31), dt.datetime(2026, 2, 1)],
                                   pa.timestamp("us")),
                  "amount": [1.0, 2.0, 3.0]})
    pq.write_table(t, tmp_path / "tx.parquet")
    (tmp_path / "job.toml").write_text('[job]\nkind = "rfm"\n[input]\npath = "tx.parquet"\n[rfm]\n'
                                       'customer = "client_id"\ndate = "date"\namount = "amount"\n'
                                       'now = "2026-11-01"\n[output]\npath = "rfm.csv"\n')
    assert run_cli(["run", str(tmp_path / "job.toml")]) == 3
    err = capsys.readouterr().err
    assert "'date'" in err and "9999-12-31" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "rfm.csv").exists()
    with pytest.raises(ValueError, match="'date'.*9999-12-31"):
        ts.ContactTable.read_parquet(tmp_path / "tx.parquet", columns=["date", "amount"])


_NEVER_ENDING_CALLS = ["ts.LeadRules.from_toml(PATH)", "ts.Schema.load(PATH)", "ts.load(PATH)",
                       "ts.TreeScorer.from_xgboost(PATH)", "ts.TreeScorer.from_lightgbm(PATH)"]
_NEVER_ENDING_KINDS = ["fifo", "/dev/zero", "directory"]


@pytest.fixture(scope="module")
def never_ending_outcomes(tmp_path_factory):
    """Every reader on a FIFO, /dev/zero and a directory, in one subprocess (a regression fails on its
    timeout instead of hanging the suite): {(call, kind): 'refused: <message>' or what happened}."""
    import json
    import os
    import subprocess
    import sys

    d = tmp_path_factory.mktemp("files")
    os.mkfifo(d / "pipe")
    paths = {"fifo": str(d / "pipe"), "/dev/zero": "/dev/zero", "directory": str(d)}
    code = ("import json, twinscore as ts\nout = {}\n"
            f"for call in {_NEVER_ENDING_CALLS!r}:\n"
            f"    for kind, PATH in {paths!r}.items():\n"
            "        try:\n            eval(call)\n            out[call + '|' + kind] = 'accepted'\n"
            "        except (ValueError, TypeError, KeyError) as e:\n"
            "            out[call + '|' + kind] = 'refused: ' + str(e)\n"
            "print(json.dumps(out))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("call", _NEVER_ENDING_CALLS)
@pytest.mark.parametrize("kind", _NEVER_ENDING_KINDS)
def test_files_that_never_end_are_refused_not_read(never_ending_outcomes, call, kind):
    """A FIFO blocks a read forever and /dev/zero never ends: refused as not a regular file."""
    outcome = never_ending_outcomes[f"{call}|{kind}"]
    assert outcome.startswith("refused:") and "regular file" in outcome, outcome
