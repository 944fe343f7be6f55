"""RFM, the CLV summary and the BG/NBD / Gamma-Gamma predictions of Dask
transaction logs: equal row for row to the local functions, scores ranked
among all clients."""

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore import value as tsv

dd = pytest.importorskip("dask.dataframe")
tsd = pytest.importorskip("twinscore.dask")


@pytest.fixture(scope="module")
def log():
    d = ts.datasets.make_prm(n_prospects=500, n_clients=2_500, seed=8)
    tx = d.transactions.sample(frac=1.0, random_state=2).reset_index(drop=True)  # no order by client
    tx["invoice"] = np.arange(len(tx)) // 2  # two lines an order
    return d, tx


def same_rows(got, expect):
    assert len(got) == len(expect) and got.index.is_unique
    pd.testing.assert_frame_equal(got.loc[expect.index], expect, check_exact=True)


@pytest.mark.parametrize("kw", [dict(amount="amount"), dict(), dict(amount="amount", bins=4),
                                dict(amount="amount", invoice="invoice")])
def test_rfm_equals_local(log, kw):
    d, tx = log
    expect = tsv.rfm(tx, customer="client_id", date="date", **kw)
    got = tsd.rfm(dd.from_pandas(tx, npartitions=5), customer="client_id", date="date", **kw).compute()
    same_rows(got, expect)


def test_rfm_now_and_as_of(log):
    d, tx = log
    ddf = dd.from_pandas(tx, npartitions=4)
    for kw in (dict(now=d.now + pd.Timedelta(days=3)), dict(as_of=d.now - pd.Timedelta(days=200))):
        expect = tsv.rfm(tx, customer="client_id", date="date", amount="amount", **kw)
        got = tsd.rfm(ddf, customer="client_id", date="date", amount="amount", npartitions=3, **kw).compute()
        same_rows(got, expect)
    with pytest.raises(ValueError, match="after"):
        tsd.rfm(ddf, customer="client_id", date="date", now=d.now - pd.Timedelta(days=30)).compute()
    with pytest.raises(KeyError, match="spend"):
        tsd.rfm(ddf, customer="client_id", date="date", amount="spend")


def test_calibration_summary_and_models(log):
    d, tx = log
    ddf = dd.from_pandas(tx, npartitions=4)
    cal = d.now - pd.Timedelta(days=120)
    for kw in (dict(), dict(observation_end=d.now), dict(as_of=d.now - pd.Timedelta(days=30))):
        expect = tsv.calibration_summary(tx, customer="client_id", date="date", amount="amount",
                                         calibration_end=cal, **kw)
        got = tsd.calibration_summary(ddf, customer="client_id", date="date", amount="amount",
                                      calibration_end=cal, **kw).compute()
        same_rows(got, expect)
    summary = tsd.calibration_summary(ddf, customer="client_id", date="date", amount="amount", calibration_end=cal)
    local = summary.compute()
    bg = tsd.DaskBetaGeo().fit(summary)
    ref = tsv.BetaGeo().fit(local)
    np.testing.assert_array_equal(np.asarray(bg.params_), np.asarray(ref.params_))
    pd.testing.assert_series_equal(bg.predict(summary, 12).compute().loc[local.index], ref.predict(local, 12))
    pd.testing.assert_series_equal(bg.probability_alive(summary).compute().loc[local.index],
                                   ref.probability_alive(local))
    repeat = summary[summary["frequency"] > 0]
    gg = tsd.DaskGammaGamma().fit(repeat)
    gg_ref = tsv.GammaGamma().fit(local[local["frequency"] > 0])
    pd.testing.assert_series_equal(gg.expected_spend(summary).compute().loc[local.index], gg_ref.expected_spend(local))
    got = tsd.lifetime_value(bg, gg, summary, months=6).compute()
    pd.testing.assert_series_equal(got.loc[local.index], tsv.lifetime_value(ref, gg_ref, local, months=6))


def test_distributed_cluster(log):
    distributed = pytest.importorskip("distributed")
    d, tx = log
    expect = tsv.rfm(tx, customer="client_id", date="date", amount="amount")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as \
            cluster, distributed.Client(cluster):
        got = tsd.rfm(dd.from_pandas(tx, npartitions=4), customer="client_id", date="date", amount="amount").compute()
    same_rows(got, expect)
