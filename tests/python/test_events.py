import numpy as np
import pandas as pd
import pytest

import twinscore as ts

DAY = pd.Timedelta(days=1)


def reference(events, contacts, now, half_life, types, cats):
    """The same aggregation with a pandas groupby."""
    age = (now - events["timestamp"]) / DAY
    w = 0.5 ** (age / half_life)
    e = events.assign(w=w, day=events["timestamp"].dt.floor("D"))
    g = e.groupby("contact_id")
    out = pd.DataFrame(index=pd.Index(contacts, name="contact_id"))
    out["first_seen"] = g["timestamp"].min()
    out["last_seen"] = g["timestamp"].max()
    out["recency_days"] = (now - out["last_seen"]) / DAY
    out["n_events"] = g.size().reindex(out.index, fill_value=0)
    out["active_days"] = g["day"].nunique().reindex(out.index, fill_value=0)
    counts = e.pivot_table(index="contact_id", columns="type", values="w", aggfunc="size", observed=False)
    decay = e.pivot_table(index="contact_id", columns="type", values="w", aggfunc="sum", observed=False)
    app = e.pivot_table(index="contact_id", columns="category", values="w", aggfunc="sum", observed=False)
    for t in types:
        out[f"n_{t}"] = counts.get(t, pd.Series(dtype=float)).reindex(out.index).fillna(0)
    for t in types:
        out[f"decayed_{t}"] = decay.get(t, pd.Series(dtype=float)).reindex(out.index).fillna(0)
    for c in cats:
        out[f"appetence_{c}"] = app.get(c, pd.Series(dtype=float)).reindex(out.index).fillna(0)
    return out


def check_against_reference(got, ref):
    assert list(got.columns) == list(ref.columns)
    assert (got.index == ref.index).all()
    for c in ref.columns:
        if c in ("first_seen", "last_seen"):
            pd.testing.assert_series_equal(got[c], ref[c].astype("datetime64[ns]"), check_names=False)
        else:
            np.testing.assert_allclose(got[c].to_numpy(float), ref[c].to_numpy(float), rtol=1e-12, atol=1e-12,
                                       err_msg=c)


def test_matches_pandas_on_generated_data(prm):
    p = prm.prospects
    extra = np.array([10**9, 10**9 + 1])  # contacts without events keep their row
    contacts = np.concatenate([p["contact_id"].to_numpy(), extra])
    got = ts.events.aggregate(prm.events, contacts, now=prm.now, half_life_days=30)
    assert len(got) == len(contacts)
    ref = reference(prm.events, contacts, prm.now, 30, ts.datasets.EVENT_TYPES, ts.datasets.CATEGORIES)
    check_against_reference(got, ref)
    assert np.isnan(got.loc[10**9, "recency_days"]) and got.loc[10**9, "n_events"] == 0


def test_matches_pandas_on_random_shuffled_string_ids(rng):
    n, m = 300, 4000
    now = pd.Timestamp("2026-01-01")
    ids = np.array([f"c{i:04d}" for i in range(n)])
    events = pd.DataFrame({
        "contact_id": ids[rng.integers(0, n, m)],
        "timestamp": now - pd.to_timedelta(rng.integers(0, 90 * 86400, m), unit="s"),
        "type": rng.choice(["open", "click", "visit"], m),
        "category": pd.Categorical(rng.choice(["a", "b", None], m)),
    })
    got = ts.events.aggregate(events, ids, now=now, half_life_days=7.5)
    ref = reference(events, ids, now, 7.5, ["click", "open", "visit"], ["a", "b"])
    check_against_reference(got, ref)


def test_identical_for_one_and_two_threads(prm, restore_threads):
    shuffled = prm.events.sample(frac=1.0, random_state=1)
    with ts.threads(1):
        a = ts.events.aggregate(shuffled, prm.prospects, now=prm.now)
    with ts.threads(2):
        b = ts.events.aggregate(shuffled, prm.prospects, now=prm.now)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_default_contacts_are_the_event_ids(prm):
    got = ts.events.aggregate(prm.events, now=prm.now)
    assert (got.index == np.sort(prm.events["contact_id"].unique())).all()
    assert (got["n_events"] > 0).all()


def test_bad_input(prm):
    ev = prm.events
    with pytest.raises(KeyError, match="not among the contacts"):
        ts.events.aggregate(ev, prm.prospects["contact_id"][:10], now=prm.now)
    got = ts.events.aggregate(ev, prm.prospects["contact_id"][:10], now=prm.now, unknown="ignore")
    assert got.attrs["unknown_events"] == int((ev["contact_id"] > 10).sum())
    with pytest.raises(ValueError, match="after now"):
        ts.events.aggregate(ev, now=prm.now - pd.Timedelta(days=3))
    with pytest.raises(ValueError, match="half_life_days"):
        ts.events.aggregate(ev, now=prm.now, half_life_days=-1)
    with pytest.raises(ValueError, match="now is required"):
        ts.events.aggregate(ev, now=None)
    with pytest.raises(KeyError, match="'when'"):
        ts.events.aggregate(ev, now=prm.now, timestamp="when")
    bad = ev.head(5).copy()
    bad.loc[bad.index[2], "timestamp"] = pd.NaT
    with pytest.raises(ValueError, match="no timestamp"):
        ts.events.aggregate(bad, now=prm.now)
    with pytest.raises(ValueError, match="repeats|more than once"):
        ts.events.aggregate(ev.head(5), np.array([1, 1, 2]), now=prm.now, unknown="ignore")
    with pytest.raises(TypeError, match="DataFrame"):
        ts.events.aggregate(ev.to_dict(), now=prm.now)


def test_sparse_ids_and_a_type_named_like_a_summary_column():
    # Sparse ids take the hash look-up, dense ones the direct table: same
    # table. A type "events" names its count "n_events", which replaces the
    # total in place (as the output always did).
    now = pd.Timestamp("2026-01-31")
    ev = pd.DataFrame({"contact_id": [10, 10**12, 10, 7],
                       "timestamp": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]),
                       "type": ["events", "open", "open", "events"], "category": ["a", None, "b", "a"]})
    got = ts.events.aggregate(ev, [7, 10, 10**12, 5], now=now)
    assert list(got.columns[:5]) == ["first_seen", "last_seen", "recency_days", "n_events", "active_days"]
    assert list(got.columns).count("n_events") == 1
    assert got["n_events"].tolist() == [1, 1, 0, 0]  # the count of type "events"
    assert got["n_open"].tolist() == [0, 1, 1, 0]
    dense = ts.events.aggregate(ev.assign(contact_id=ev["contact_id"].where(ev["contact_id"] < 100, 11)),
                                [7, 10, 11, 5], now=now)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), dense.reset_index(drop=True))
