"""Generated PRM data: determinism, shapes, planted structure; the CDNOW logs."""

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore import datasets


def test_deterministic_for_a_seed():
    a = datasets.make_prm(2_000, 300, seed=3)
    b = datasets.make_prm(2_000, 300, seed=3)
    c = datasets.make_prm(2_000, 300, seed=4)
    for name in ("prospects", "clients", "events", "transactions"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not a.prospects["converted"].equals(c.prospects["converted"]) or not a.events.equals(c.events)


def test_shapes_types_and_logs(prm):
    p, c, e, t = prm.prospects, prm.clients, prm.events, prm.transactions
    assert len(p) == 5_000 and len(c) == 800
    assert p["contact_id"].is_unique and c["client_id"].is_unique
    assert set(e["contact_id"].unique()) <= set(p["contact_id"])
    assert set(t["client_id"].unique()) == set(c["client_id"])
    assert list(e["type"].cat.categories) == datasets.EVENT_TYPES
    assert set(e["type"].unique()) == set(datasets.EVENT_TYPES)
    assert (e["timestamp"] <= prm.now).all() and (t["date"] <= prm.now).all()
    views = e["type"] == "page_view"
    assert e.loc[views, "category"].notna().all() and e.loc[~views, "category"].isna().all()
    assert (t["amount"] > 0).all()
    np.testing.assert_allclose(c["revenue"], t.groupby("client_id")["amount"].sum().reindex(c["client_id"]),
                               atol=0.01)
    assert (c["n_orders"].to_numpy() == t.groupby("client_id").size().reindex(c["client_id"]).to_numpy()).all()
    assert 0.05 < p["income"].isna().mean() < 0.2


def test_visited_categories_match_the_event_log(prm):
    e = prm.events[prm.events["type"] == "page_view"]
    ref = e.groupby("contact_id")["category"].agg(lambda s: sorted(set(s.astype(str))))
    lists = prm.prospects.set_index("contact_id")["categories"]
    for cid in ref.index[:300]:
        assert sorted(lists[cid]) == ref[cid]


def test_conversion_is_rare_and_follows_the_planted_structure():
    d = datasets.make_prm(60_000, 6_000, seed=11)
    p = d.prospects
    assert 0.02 < p["converted"].mean() < 0.04
    # Behaviour: prospects who filled a form convert more.
    formed = d.events.loc[d.events["type"] == "form_fill", "contact_id"].unique()
    has_form = p["contact_id"].isin(formed)
    assert p.loc[has_form, "converted"].mean() > 1.5 * p.loc[~has_form, "converted"].mean()
    # Resemblance: personas over-represented among clients convert more.
    persona = d.truth["persona"]
    rate = p.groupby(persona)["converted"].mean()
    assert rate.iloc[0] > 2 * rate.iloc[-1]
    # Category popularity is skewed.
    share = d.events["category"].value_counts(normalize=True)
    assert share.iloc[0] > 4 * share.iloc[-1]
    # Baskets are log-normal: log amounts look symmetric.
    logs = np.log(d.transactions["amount"])
    assert abs(logs.mean() - logs.median()) < 0.05 * logs.std()


def test_noise_columns_are_skewed_missing_and_do_not_drive_conversion():
    d = datasets.make_prm(60_000, 6_000, seed=11)
    p, c = d.prospects, d.clients
    for frame in (p, c):
        assert list(frame.columns[frame.columns.get_loc("channel") + 1:][:4]) == datasets.NOISE_COLUMNS
        for col, (lo, hi) in {"device": (0.02, 0.06), "city_size": (0.06, 0.12), "household_size": (0.2, 0.3),
                              "campaign": (0.12, 0.18)}.items():
            assert lo < frame[col].isna().mean() < hi, col
    # Skewed: a dominant device, a long tail of campaigns.
    assert p["device"].value_counts(normalize=True).iloc[0] > 0.6
    share = p["campaign"].value_counts(normalize=True)
    assert share.iloc[0] > 20 * share.iloc[-1]
    # No signal: conversion is the same across their values (a binomial band
    # around the overall rate) and their information value is useless (< 0.02),
    # while a planted column's is not.
    rate = p["converted"].mean()
    for col in ("device", "city_size", "household_size"):
        g = p.groupby(p[col].astype(object).fillna("missing"))["converted"].agg(["mean", "size"])
        g = g[g["size"] >= 100]  # a household of 9 is one contact
        band = 4 * np.sqrt(rate * (1 - rate) / g["size"])
        assert len(g) >= 3 and (np.abs(g["mean"] - rate) < band).all(), col
    crit = ts.discriminating_criteria(p, "converted", datasets.NOISE_COLUMNS + ["age_band"]).summary
    crit = crit.set_index("criterion")
    assert (crit.loc[datasets.NOISE_COLUMNS, "iv"] < 0.02).all() and crit.loc["age_band", "iv"] > 0.02


def test_noise_columns_leave_the_other_columns_as_they_were():
    # Figures of make_prm(2_000, 300, seed=3) before the noise columns were added.
    d = datasets.make_prm(2_000, 300, seed=3)
    p, c = d.prospects, d.clients
    assert float(np.nansum(p["income"])) == 53138800.0
    assert int(p["region"].cat.codes.sum()) == 7694 and int(p["categories"].map(len).sum()) == 7176
    assert int(p["converted"].sum()) == 56 and len(d.events) == 22293
    assert round(float(c["margin"].sum()), 2) == 58409.46 and int(c["categories"].map(len).sum()) == 791


def test_generated_tables_load_into_contact_tables(prm):
    t = ts.ContactTable.from_pandas(prm.prospects, id="contact_id")
    assert t.roles["categories"] == "category_set"
    assert t.roles["age_band"] == "categorical"
    assert t.schema["age_band"].categories == tuple(datasets.AGE_BANDS)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_prospects"):
        datasets.make_prm(0, 10)
    with pytest.raises(TypeError, match="n_clients"):
        datasets.make_prm(10, 2.5)
    with pytest.raises(ValueError, match="conversion_rate"):
        datasets.make_prm(10, 10, conversion_rate=1.5)
    with pytest.raises(ValueError, match="which"):
        datasets.load_cdnow("other")


def test_cdnow_logs():
    try:
        master = datasets.load_cdnow("master")
        sample = datasets.load_cdnow("sample")
    except FileNotFoundError:
        pytest.skip("CDNOW data not present")
    assert master["customer_id"].nunique() == 23_570
    assert sample["customer_id"].nunique() == 2_357
    assert master["date"].min() == pd.Timestamp("1997-01-01")
    assert master["date"].max() == pd.Timestamp("1998-06-30")
    assert (master["amount"] >= 0).all()
    # The folder holding the files works as well as the file itself.
    folder = datasets._data_dir()
    pd.testing.assert_frame_equal(datasets.load_cdnow("sample", path=folder), sample)
    pd.testing.assert_frame_equal(datasets.load_cdnow("sample", path=folder / "CDNOW_sample.txt"), sample)


def test_cdnow_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="CDNOW_master.txt is not a file"):
        datasets.load_cdnow("master", path=tmp_path)
