"""Bad input, the Dask entry points (twinscore.dask), run on the synchronous scheduler:
DaskTwinIndex, aggregate_events, score_leads, rfm, calibration_summary, DaskBetaGeo,
DaskGammaGamma, lifetime_value, segment_profiles, discriminating_criteria, apply_scorecard.

Each bad argument or partition must raise ValueError / TypeError / KeyError naming it (an
argument refused before any partition is computed); empty partitions, Arrow dtypes and any
partitioning give the local answer.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from badinput_support import assert_same, no_silent_nan

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
tsd = pytest.importorskip("twinscore.dask")

BIG = 2**40
_CACHE: dict = {}


@pytest.fixture(autouse=True)
def _synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _cached(name, make):
    if name not in _CACHE:
        _CACHE[name] = make()
    return _CACHE[name]


def _d():
    return _cached("d", lambda: ts.datasets.make_prm(2_000, 400, seed=5))


_COLS = ["age_band", "region", "income", "channel"]
RULES = {"fit": [{"name": "young", "column": "age_band", "in": ["25-34"], "points": 10}],
         "behaviour": [{"name": "clicks", "event": "email_click", "points": 5, "cap": 20}]}


def _P():
    return _d().prospects.iloc[:120]


def _dask(frame, n=3):
    return dd.from_pandas(frame, npartitions=n)


def _DP():
    return _dask(_P())


def _ix():
    return _cached("ix", lambda: tsd.DaskTwinIndex(columns=_COLS).fit(
        _d().clients, id="client_id", value=_d().clients["revenue"], population=_d().prospects))


def _TX():
    return _d().transactions


def _EV():
    return _d().events


def _S():
    d = _d()
    return _cached("S", lambda: ts.calibration_summary(d.transactions, customer="client_id", date="date",
                                                       amount="amount", calibration_end=d.now - pd.Timedelta(days=100),
                                                       observation_end=d.now))


def _bg():
    return _cached("bg", lambda: tsd.DaskBetaGeo().fit(_S()))


def _gg():
    return _cached("gg", lambda: tsd.DaskGammaGamma().fit(_S()))


def _card():
    return _cached("card", lambda: ts.discriminating_criteria(_d().prospects, "converted",
                                                              ["age_band", "region", "income"])
                   .scorecard(top=3, min_iv=0.0))


def _last(frame, col, value):
    """The frame with its last row's ``col`` set to ``value``, in 3 partitions (the bad row in the last)."""
    out = frame.copy()
    if out[col].dtype.kind in "iu":
        out[col] = out[col].astype(float)
    out.loc[out.index[-1], col] = value
    return _dask(out)


def _last_date(frame, col, when):
    out = frame.copy()
    out[col] = out[col].astype("datetime64[us]")
    out.loc[out.index[-1], col] = np.datetime64(when, "us")
    return _dask(out)


def _first_empty(frame):
    """Three partitions, the first empty."""
    first = frame.index[0]
    return _dask(frame).map_partitions(lambda p: p.iloc[:0] if len(p) and p.index[0] == first else p,
                                       meta=frame.iloc[:0])


def _segments_frame():
    p = _P()[["age_band", "income"]]
    return p.assign(seg=np.arange(len(p)) % 3)


CASES = [
    ("DaskTwinIndex.search-k-0", lambda: _ix().search(_DP(), k=0, id="contact_id"), "k"),
    ("DaskTwinIndex.search-k-2**40", lambda: _ix().search(_DP(), k=BIG, id="contact_id"), "k"),
    ("DaskTwinIndex.search-k-text", lambda: _ix().search(_DP(), k="3", id="contact_id"), "k"),
    ("DaskTwinIndex.search-shards-0", lambda: _ix().search(_DP(), k=3, id="contact_id", shards=0), "shards"),
    ("DaskTwinIndex.search-shards-text", lambda: _ix().search(_DP(), k=3, id="contact_id", shards="2"), "shards"),
    ("DaskTwinIndex.search-shards-unblocked", lambda: _ix().search(_DP(), k=3, id="contact_id", shards=2),
     "shards"),
    ("DaskTwinIndex.search-id-missing", lambda: _ix().search(_DP(), k=3, id="zz"), "zz"),
    ("DaskTwinIndex.search-column-missing", lambda: _ix().search(_dask(_P().drop(columns="region")), k=3,
                                                                 id="contact_id"), "region"),
    ("DaskTwinIndex.search-inf-in-last-partition", lambda: _ix().search(
        _last(_P(), "income", np.inf), k=3, id="contact_id").compute(), "income"),
    ("DaskTwinIndex.search-ids-repeat-across-partitions", lambda: _ix().search(
        _dask(pd.concat([_P(), _P()]), 2), k=3, id="contact_id").compute(), "contact_id"),
    ("DaskTwinIndex.search-id-null", lambda: _ix().search(_dask(_P().assign(
        contact_id=_P()["contact_id"].astype("Int64").mask(np.arange(len(_P())) == 5))), k=3,
        id="contact_id").compute(), "contact_id"),
    ("DaskTwinIndex.search-unfitted", lambda: tsd.DaskTwinIndex().search(_DP(), k=3, id="contact_id"), "fit"),
    ("DaskTwinIndex.scores-k-0", lambda: _ix().scores(_DP(), k=0, id="contact_id"), "k"),
    ("DaskTwinIndex.lookalike_score-by-bogus", lambda: _ix().lookalike_score(_DP(), k=3, id="contact_id", by="x"),
     "by"),
    ("DaskTwinIndex.recommend-top-0", lambda: _ix().recommend(_DP(), _TX(), top=0, id="contact_id"), "top"),
    ("DaskTwinIndex.recommend-client-missing", lambda: _ix().recommend(
        _DP(), _TX()[["client_id", "amount"]], client="zz", id="contact_id").compute(), "zz"),
    ("DaskTwinIndex.recommend-not-a-log", lambda: _ix().recommend(_DP(), 5, id="contact_id").compute(),
     "client_items"),
    ("DaskTwinIndex.reasons-top-0", lambda: _ix().reasons(_DP(), top=0, id="contact_id"), "top"),
    ("DaskTwinIndex.expand-fraction-2", lambda: _ix().expand(_DP(), fraction=2, id="contact_id"), "fraction"),
    ("DaskTwinIndex.expand-n--1", lambda: _ix().expand(_DP(), n=-1, id="contact_id"), "n"),
    ("DaskTwinIndex.expand-neither", lambda: _ix().expand(_DP(), id="contact_id"), "fraction"),
    ("DaskTwinIndex.expand-exclude_mask-list", lambda: _ix().expand(_DP(), n=5, id="contact_id",
                                                                    exclude_mask=[True]), "exclude_mask"),
    ("DaskTwinIndex.fit-empty", lambda: tsd.DaskTwinIndex(columns=_COLS).fit(
        _dask(_d().clients.iloc[:0], 1), id="client_id"), "empty"),
    ("aggregate_events-now-missing", lambda: tsd.aggregate_events(_dask(_EV())), "now"),
    ("aggregate_events-half_life-0", lambda: tsd.aggregate_events(_dask(_EV()), now=_d().now, half_life_days=0),
     "half_life"),
    ("aggregate_events-half_life-nan", lambda: tsd.aggregate_events(_dask(_EV()), now=_d().now,
                                                                    half_life_days=math.nan), "half_life"),
    ("aggregate_events-npartitions-0", lambda: tsd.aggregate_events(_dask(_EV()), now=_d().now, npartitions=0),
     "npartitions"),
    ("aggregate_events-npartitions-2**40", lambda: tsd.aggregate_events(_dask(_EV()), now=_d().now,
                                                                        npartitions=BIG), "npartitions"),
    ("aggregate_events-npartitions-text", lambda: tsd.aggregate_events(_dask(_EV()), now=_d().now,
                                                                       npartitions="3"), "npartitions"),
    ("aggregate_events-partitioned_by_contact-text", lambda: tsd.aggregate_events(
        _dask(_EV()), now=_d().now, partitioned_by_contact="yes"), "partitioned_by_contact"),
    ("aggregate_events-partitioned_by_contact-wrong", lambda: tsd.aggregate_events(
        _dask(_EV()), now=_d().now, partitioned_by_contact=True).compute(), "partitioned_by_contact"),
    ("aggregate_events-contact-missing", lambda: tsd.aggregate_events(_dask(_EV()), now=_d().now, contact="zz"),
     "zz"),
    ("aggregate_events-now-9999", lambda: tsd.aggregate_events(_dask(_EV()), now="9999-12-31"), "now"),
    ("aggregate_events-timestamp-9999", lambda: tsd.aggregate_events(
        _last_date(_EV(), "timestamp", "9999-12-31"), now=_d().now).compute(), "timestamp"),
    ("aggregate_events-timestamp-NaT", lambda: tsd.aggregate_events(
        _last(_EV(), "timestamp", pd.NaT), now=_d().now).compute(), "timestamp"),
    ("aggregate_events-contacts-repeat", lambda: tsd.aggregate_events(
        _dask(_EV()), _dask(pd.concat([_P(), _P()]), 2), now=_d().now).compute(), "contact_id"),
    ("aggregate_events-pandas", lambda: tsd.aggregate_events(_EV(), now=_d().now), "events"),
    ("aggregate_events-int", lambda: tsd.aggregate_events(5, now=_d().now), "events"),
    ("score_leads-unknown-key", lambda: tsd.score_leads(_DP(), _dask(_EV()), {"colour": 1}, now=_d().now),
     "colour"),
    ("score_leads-rule-column-missing", lambda: tsd.score_leads(
        _DP(), _dask(_EV()), {"fit": [{"name": "r", "column": "zz", "min": 1, "points": 1}]}, now=_d().now), "zz"),
    ("score_leads-now-missing", lambda: tsd.score_leads(_DP(), _dask(_EV()), RULES), "now"),
    ("score_leads-npartitions-0", lambda: tsd.score_leads(_DP(), _dask(_EV()), RULES, now=_d().now,
                                                          npartitions=0), "npartitions"),
    ("score_leads-contacts-repeat", lambda: tsd.score_leads(_dask(pd.concat([_P(), _P()]), 2), _dask(_EV()), RULES,
                                                            now=_d().now).compute(), "contact_id"),
    ("score_leads-contacts-pandas", lambda: tsd.score_leads(_P(), _dask(_EV()), RULES, now=_d().now), "contacts"),
    ("rfm-bins-1", lambda: tsd.rfm(_dask(_TX()), customer="client_id", date="date", amount="amount", now=_d().now,
                                   bins=1), "bins"),
    ("rfm-bins-2**40", lambda: tsd.rfm(_dask(_TX()), customer="client_id", date="date", amount="amount",
                                       now=_d().now, bins=BIG), "bins"),
    ("rfm-now-9999", lambda: tsd.rfm(_dask(_TX()), customer="client_id", date="date", amount="amount",
                                     now="9999-12-31"), "now"),
    ("rfm-now-before-purchases", lambda: tsd.rfm(_dask(_TX()), customer="client_id", date="date", amount="amount",
                                                 now=_d().now - pd.Timedelta(days=900)).compute(), "now"),
    ("rfm-customer-missing", lambda: tsd.rfm(_dask(_TX()), customer="zz", date="date", amount="amount",
                                             now=_d().now), "zz"),
    ("rfm-amount-inf", lambda: tsd.rfm(_last(_TX(), "amount", np.inf), customer="client_id", date="date",
                                       amount="amount", now=_d().now).compute(), "amount"),
    ("rfm-amount-text", lambda: tsd.rfm(_dask(_TX().assign(amount=_TX()["amount"].astype(str))),
                                        customer="client_id", date="date", amount="amount", now=_d().now), "amount"),
    ("rfm-date-9999", lambda: tsd.rfm(_last_date(_TX(), "date", "9999-12-31"), customer="client_id", date="date",
                                      amount="amount", now=_d().now).compute(), "date"),
    ("rfm-id-null", lambda: tsd.rfm(_dask(_TX().assign(client_id=_TX()["client_id"].astype("Int64").mask(
        np.arange(len(_TX())) == 3))), customer="client_id", date="date", amount="amount",
        now=_d().now).compute(), "client_id"),
    ("rfm-npartitions-0", lambda: tsd.rfm(_dask(_TX()), customer="client_id", date="date", amount="amount",
                                          now=_d().now, npartitions=0), "npartitions"),
    ("rfm-segments-list", lambda: tsd.rfm(_dask(_TX()), customer="client_id", date="date", amount="amount",
                                          now=_d().now, segments=[1]).compute(), "segments"),
    ("calibration_summary-period_days-0", lambda: tsd.calibration_summary(
        _dask(_TX()), customer="client_id", date="date", calibration_end=_d().now - pd.Timedelta(days=50),
        period_days=0), "period_days"),
    ("calibration_summary-calibration_end-9999", lambda: tsd.calibration_summary(
        _dask(_TX()), customer="client_id", date="date", calibration_end="9999-12-31"), "calibration_end"),
    ("calibration_summary-observation_end-before", lambda: tsd.calibration_summary(
        _dask(_TX()), customer="client_id", date="date", calibration_end=_d().now,
        observation_end=_d().now - pd.Timedelta(days=9)), "observation_end"),
    ("calibration_summary-npartitions-2**40", lambda: tsd.calibration_summary(
        _dask(_TX()), customer="client_id", date="date", calibration_end=_d().now - pd.Timedelta(days=50),
        npartitions=BIG), "npartitions"),
    ("DaskBetaGeo.fit-nan-in-last-partition", lambda: tsd.DaskBetaGeo().fit(_last(_S(), "frequency", np.nan)),
     "frequency"),
    ("DaskBetaGeo.predict-t-nan", lambda: _bg().predict(_dask(_S(), 2), math.nan), "t"),
    ("DaskBetaGeo.predict-nan-in-last-partition", lambda: _bg().predict(_last(_S(), "recency", np.nan), 4).compute(),
     "recency"),
    ("DaskBetaGeo.predict-interval-2", lambda: _bg().predict(_dask(_S(), 2), 4, interval=2), "interval"),
    ("DaskBetaGeo.unfitted", lambda: tsd.DaskBetaGeo().predict(_dask(_S(), 2), 4), "fit"),
    ("DaskGammaGamma.expected_spend-nan", lambda: _gg().expected_spend(_last(_S(), "monetary_value", np.nan))
     .compute(), "monetary_value"),
    ("DaskGammaGamma.unfitted", lambda: tsd.DaskGammaGamma().expected_spend(_dask(_S(), 2)), "fit"),
    ("lifetime_value-months-0", lambda: tsd.lifetime_value(_bg(), _gg(), _dask(_S(), 2), months=0).compute(),
     "months"),
    ("lifetime_value-monthly_discount-nan", lambda: tsd.lifetime_value(
        _bg(), _gg(), _dask(_S(), 2), monthly_discount=math.nan).compute(), "monthly_discount"),
    ("lifetime_value-models-swapped", lambda: tsd.lifetime_value(_gg(), _bg(), _dask(_S(), 2)).compute(),
     "purchases"),
    ("segment_profiles-labels-missing", lambda: tsd.segment_profiles(_dask(_segments_frame(), 2), "zz"), "zz"),
    ("segment_profiles-top--1", lambda: tsd.segment_profiles(_dask(_segments_frame(), 2), "seg", top=-1), "top"),
    ("segment_profiles-min_share-2", lambda: tsd.segment_profiles(_dask(_segments_frame(), 2), "seg", min_share=2),
     "min_share"),
    ("segment_profiles-numeric-missing", lambda: tsd.segment_profiles(_dask(_segments_frame(), 2), "seg",
                                                                      numeric=["zz"]), "zz"),
    ("segment_profiles-labels-nan", lambda: tsd.segment_profiles(_last(_segments_frame(), "seg", np.nan), "seg"),
     "labels"),
    ("segment_profiles-income-inf", lambda: tsd.segment_profiles(_last(_segments_frame(), "income", np.inf), "seg"),
     "income"),
    ("segment_profiles-labels-int", lambda: tsd.segment_profiles(_dask(_segments_frame(), 2), 5), "labels"),
    ("discriminating_criteria-target-missing", lambda: tsd.discriminating_criteria(_dask(_P(), 2), "zz"), "zz"),
    ("discriminating_criteria-n_bins-0", lambda: tsd.discriminating_criteria(_dask(_P(), 2), "converted",
                                                                             ["income"], n_bins=0), "n_bins"),
    ("discriminating_criteria-smoothing-nan", lambda: tsd.discriminating_criteria(
        _dask(_P(), 2), "converted", ["income"], smoothing=math.nan), "smoothing"),
    ("discriminating_criteria-target-three-values", lambda: tsd.discriminating_criteria(
        _dask(_P().assign(converted=np.arange(len(_P())) % 3), 2), "converted", ["income"]), "target"),
    ("discriminating_criteria-target-nan", lambda: tsd.discriminating_criteria(
        _last(_P(), "converted", np.nan), "converted", ["income"]), "target"),
    ("discriminating_criteria-income-inf", lambda: tsd.discriminating_criteria(
        _last(_P(), "income", np.inf), "converted", ["income"]), "income"),
    ("discriminating_criteria-columns-missing", lambda: tsd.discriminating_criteria(
        _dask(_P(), 2), "converted", ["zz"]), "zz"),
    ("discriminating_criteria-positive-absent", lambda: tsd.discriminating_criteria(
        _dask(_P(), 2), "converted", ["income"], positive=7), "positive"),
    ("discriminating_criteria-target-int", lambda: tsd.discriminating_criteria(_dask(_P(), 2), 5, ["income"]),
     "target"),
    ("apply_scorecard-int", lambda: tsd.apply_scorecard(5, _DP()), "scorecard"),
    ("apply_scorecard-column-missing", lambda: tsd.apply_scorecard(_card(), _dask(_P().drop(columns="region"))),
     "region"),
    ("apply_scorecard-inf", lambda: tsd.apply_scorecard(_card(), _last(_P(), "income", np.inf)).compute(),
     "income"),
]


@pytest.mark.parametrize("call,match", [pytest.param(c, m, id=i) for i, c, m in CASES])
def test_bad_argument(call, match):
    with pytest.raises((ValueError, TypeError, KeyError), match=match):
        out = call()
        if hasattr(out, "compute"):
            out.compute()


def _sorted(frame, by):
    return frame.sort_values(by).reset_index(drop=True)


# (id, dask call, local reference): the same answer whatever the partitions and dtypes.
SAME = [
    ("DaskTwinIndex.search-first-partition-empty", lambda: _sorted(_ix().search(
        _first_empty(_P()), k=3, id="contact_id").compute(), ["prospect_id", "rank"]),
     lambda: _sorted(_ix().search(_P().iloc[_P().index.get_indexer(_first_empty(_P()).compute().index)], k=3,
                                  id="contact_id").to_pandas(), ["prospect_id", "rank"])),
    ("DaskTwinIndex.search-arrow-dtypes", lambda: _sorted(_ix().search(_dask(_P().astype(
        {"income": "float64[pyarrow]", "region": "string[pyarrow]"})), k=3, id="contact_id").compute(),
        ["prospect_id", "rank"]),
     lambda: _sorted(_ix().search(_P(), k=3, id="contact_id").to_pandas(), ["prospect_id", "rank"])),
    ("DaskTwinIndex.recommend-dask-log", lambda: _sorted(_ix().recommend(
        _DP(), _dask(_TX().assign(item=_TX()["amount"] > 50)[["client_id", "item"]], 2), id="contact_id").compute(),
        ["prospect_id", "rank"]),
     lambda: _sorted(_ix().search(_P(), k=10, id="contact_id").recommend(
         _TX().assign(item=_TX()["amount"] > 50)[["client_id", "item"]]), ["prospect_id", "rank"])),
    ("aggregate_events-first-partition-empty", lambda: tsd.aggregate_events(
        _first_empty(_EV()), now=_d().now).compute().sort_index(),
     lambda: ts.events.aggregate(_first_empty(_EV()).compute(), now=_d().now).sort_index()),
    ("rfm-arrow-dtypes", lambda: tsd.rfm(_dask(_TX().astype({"amount": "float64[pyarrow]",
                                                             "client_id": "int64[pyarrow]"})),
                                         customer="client_id", date="date", amount="amount",
                                         now=_d().now).compute().sort_index(),
     lambda: ts.rfm(_TX(), customer="client_id", date="date", amount="amount", now=_d().now).sort_index()),
    ("rfm-first-partition-empty", lambda: tsd.rfm(_first_empty(_TX()), customer="client_id", date="date",
                                                  amount="amount", now=_d().now).compute().sort_index(),
     lambda: ts.rfm(_first_empty(_TX()).compute(), customer="client_id", date="date", amount="amount",
                    now=_d().now).sort_index()),
    ("lifetime_value-first-partition-empty", lambda: tsd.lifetime_value(_bg(), _gg(), _first_empty(_S())).compute(),
     lambda: ts.lifetime_value(_bg().to_local(), _gg().to_local(), _first_empty(_S()).compute())),
    ("apply_scorecard-arrow-dtypes", lambda: tsd.apply_scorecard(_card(), _dask(_P().astype(
        {"income": "float64[pyarrow]", "region": "string[pyarrow]"}))).compute().to_numpy(),
     lambda: _card().apply(_P())),
    ("discriminating_criteria-first-partition-empty", lambda: tsd.discriminating_criteria(
        _first_empty(_P()), "converted", ["income", "region"]).summary,
     lambda: ts.discriminating_criteria(_first_empty(_P()).compute(), "converted", ["income", "region"]).summary),
]


@pytest.mark.parametrize("call,reference", [pytest.param(c, r, id=i) for i, c, r in SAME])
def test_same_answer_as_local(call, reference):
    got = call()
    want = reference()
    if isinstance(want, pd.DataFrame) and isinstance(got, pd.DataFrame):
        got = got[list(want.columns)]
    assert_same(got, want)
    no_silent_nan(got, allowed_nan=("recency_days", "first_seen_days", "last_seen_days"))
