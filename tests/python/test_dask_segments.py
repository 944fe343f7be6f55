"""Segment profiles and scorecard points of Dask tables against the local
functions."""

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore.criteria import discriminating_criteria
from twinscore.segments import segment_profiles

dd = pytest.importorskip("dask.dataframe")
tsd = pytest.importorskip("twinscore.dask")


@pytest.fixture(scope="module")
def contacts():
    d = ts.datasets.make_prm(n_prospects=4_000, n_clients=100, seed=13)
    df = d.prospects[["contact_id", "sex", "age_band", "region", "income", "household_size", "email_optin",
                      "converted"]].copy()
    df.loc[df.index[::23], "income"] = np.nan
    df["segment"] = (df["contact_id"] * 7919) % 5
    df["value"] = np.random.default_rng(0).gamma(2.0, 30.0, len(df))
    return df


def test_profiles_equal_local(contacts):
    ddf = dd.from_pandas(contacts, npartitions=6)
    cols = dict(numeric=["income", "household_size"], categorical=["sex", "age_band", "region", "email_optin"])
    expect = segment_profiles(contacts, contacts["segment"], conversion="converted", value="value", **cols)
    got = tsd.segment_profiles(ddf, "segment", conversion="converted", value="value", **cols)
    pd.testing.assert_frame_equal(got.sort_index(), expect.sort_index(), rtol=1e-12)
    assert list(got["size"]) == sorted(got["size"], reverse=True)
    as_series = tsd.segment_profiles(ddf.drop(columns=["segment"]), ddf["segment"], **cols)
    pd.testing.assert_frame_equal(as_series.sort_index(),
                                  segment_profiles(contacts, contacts["segment"], **cols).sort_index(), rtol=1e-12)


def test_profiles_bad_input(contacts):
    ddf = dd.from_pandas(contacts, npartitions=3)
    with pytest.raises(KeyError, match="labels 'nope'"):
        tsd.segment_profiles(ddf, "nope")
    with pytest.raises(KeyError, match="spend"):
        tsd.segment_profiles(ddf, "segment", value="spend")
    with pytest.raises(ValueError, match="0/1"):
        tsd.segment_profiles(ddf, "segment", conversion="value", numeric=[], categorical=[])
    with pytest.raises(TypeError, match="labels"):
        tsd.segment_profiles(ddf, [1, 2, 3])


def test_scorecard_points(contacts):
    crit = discriminating_criteria(contacts.drop(columns=["contact_id", "segment", "value"]), "converted")
    card = crit.scorecard(top=4)
    ddf = dd.from_pandas(contacts, npartitions=4)
    got = tsd.apply_scorecard(card, ddf).compute()
    np.testing.assert_array_equal(got.to_numpy(), card.apply(contacts))
    pd.testing.assert_index_equal(got.index, contacts.index)
    with pytest.raises(KeyError, match="not in data"):
        tsd.apply_scorecard(card, ddf[["contact_id"]])


@pytest.mark.parametrize("n_bins", [4, 10])
def test_criteria_equal_local(contacts, n_bins):
    d = ts.datasets.make_prm(n_prospects=3_000, n_clients=50, seed=3)
    df = d.prospects[["sex", "age_band", "region", "income", "household_size", "email_optin", "categories",
                      "channel", "converted"]].copy()
    df["code"] = np.where(np.arange(len(df)) % 3 == 0, 999, np.arange(len(df)) % 40)  # a dominant value
    df["score32"] = np.random.default_rng(1).normal(size=len(df)).astype(np.float32)
    df.loc[df.index[::31], "income"] = np.nan
    df["region"] = df["region"].astype(object)  # strings, not a categorical
    expect = discriminating_criteria(df, "converted", n_bins=n_bins)
    got = tsd.discriminating_criteria(dd.from_pandas(df, npartitions=5), "converted", n_bins=n_bins)
    pd.testing.assert_frame_equal(got.bins, expect.bins, check_exact=True)
    pd.testing.assert_frame_equal(got.summary.drop(columns=["values", "edges"]),
                                  expect.summary.drop(columns=["values", "edges"]), check_exact=True)
    for a, b in zip(got.summary["edges"], expect.summary["edges"]):
        np.testing.assert_array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    assert got.positive == expect.positive and got.n == expect.n
    card, local_card = got.scorecard(top=4), expect.scorecard(top=4)
    np.testing.assert_array_equal(card.apply(df), local_card.apply(df))


def test_criteria_bad_input(contacts):
    ddf = dd.from_pandas(contacts, npartitions=3)
    with pytest.raises(KeyError, match="target column 'nope'"):
        tsd.discriminating_criteria(ddf, "nope")
    with pytest.raises(ValueError, match="two values"):
        tsd.discriminating_criteria(ddf, "segment", columns=["income"])
    with pytest.raises(KeyError, match="missing"):
        tsd.discriminating_criteria(ddf, "converted", columns=["missing"])


def test_distributed_cluster(contacts):
    distributed = pytest.importorskip("distributed")
    df = contacts.drop(columns=["contact_id"])
    expect = discriminating_criteria(df.drop(columns=["segment"]), "converted")
    profiles = segment_profiles(df, df["segment"], conversion="converted", value="value")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as \
            cluster, distributed.Client(cluster):
        ddf = dd.from_pandas(df, npartitions=4)
        got = tsd.discriminating_criteria(ddf.drop(columns=["segment"]), "converted")
        got_profiles = tsd.segment_profiles(ddf, "segment", conversion="converted", value="value")
        points = tsd.apply_scorecard(got.scorecard(top=3), ddf).compute()
    pd.testing.assert_frame_equal(got.bins, expect.bins, check_exact=True)
    pd.testing.assert_frame_equal(got_profiles.sort_index(), profiles.sort_index(), rtol=1e-12)
    np.testing.assert_array_equal(points.to_numpy(), expect.scorecard(top=3).apply(df))
