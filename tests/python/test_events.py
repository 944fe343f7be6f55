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
    with pytest.raises(ValueError, match="exactly one of now="):
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


# -- as of a past date, and snapshots without leakage ---------------------------

def test_as_of_is_the_log_cut_by_hand(prm):
    ev, p = prm.events, prm.prospects
    cut = prm.now - 45 * DAY
    got = ts.events.aggregate(ev, p, as_of=cut)
    kept = ev[ev["timestamp"] <= cut]
    ref = reference(kept, p["contact_id"].to_numpy(), cut, 30.0, list(ev["type"].cat.categories),
                    list(ev["category"].cat.categories))
    check_against_reference(got, ref)
    assert got.attrs["later_events"] == int((ev["timestamp"] > cut).sum()) > 0
    pd.testing.assert_frame_equal(got, ts.events.aggregate(kept, p, now=cut))
    # the lead scores too
    rules = ts.datasets.PRM_LEAD_RULES
    a = ts.score_leads(p, ev, rules, as_of=cut)
    b = ts.score_leads(p, kept, rules, now=cut)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["later_events"] == got.attrs["later_events"]


def test_now_and_as_of_are_exclusive(prm):
    with pytest.raises(ValueError, match="exactly one of now= .* and as_of="):
        ts.events.aggregate(prm.events, prm.prospects)
    with pytest.raises(ValueError, match="exactly one of now= .* and as_of="):
        ts.events.aggregate(prm.events, prm.prospects, now=prm.now, as_of=prm.now)
    with pytest.raises(ValueError, match="is after now"):  # now= keeps refusing later events
        ts.events.aggregate(prm.events, prm.prospects, now=prm.now - 30 * DAY)


def _snap(prm, events, **kw):
    cuts = [prm.now - d * DAY for d in (100, 70, 40)]
    return ts.events.snapshots(events, prm.prospects, cutoffs=cuts, horizon="30D", target="form_fill", **kw)


def test_snapshots_do_not_leak_the_future(prm):
    ev = prm.events
    base = _snap(prm, ev)
    rng = np.random.default_rng(0)
    features = [c for c in base.columns if c not in ("label",)]
    for cut in base["cutoff"].unique():
        # Move, retype and drop events after this cutoff (they stay after it):
        # no feature of this cutoff may change.
        after = (ev["timestamp"] > cut).to_numpy()
        moved = ev.copy()
        idx = np.flatnonzero(after)
        shift = pd.to_timedelta(rng.integers(0, 10**6, len(idx)), unit="s")
        moved.loc[moved.index[idx], "timestamp"] = moved["timestamp"].iloc[idx] + shift
        moved.loc[moved.index[idx[::3]], "type"] = "page_view"
        moved = moved.drop(moved.index[idx[1::7]])
        other = _snap(prm, moved, observed_until=ev["timestamp"].max())
        a = base[base["cutoff"] == cut][features].reset_index(drop=True)
        b = other[other["cutoff"] == cut][features].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)


def test_snapshot_labels_and_exclusions_match_pandas(prm):
    ev = prm.events
    snap = _snap(prm, ev)
    tgt = ev[ev["type"] == "form_fill"]
    for cut, block in snap.groupby("cutoff"):
        window = tgt[(tgt["timestamp"] > cut) & (tgt["timestamp"] <= cut + 30 * DAY)]["contact_id"].unique()
        before = set(tgt[tgt["timestamp"] <= cut]["contact_id"])
        expect_ids = [c for c in prm.prospects["contact_id"] if c not in before]
        assert block["contact_id"].tolist() == expect_ids
        assert (block["label"].to_numpy() == np.isin(block["contact_id"], window)).all()
        assert block["label"].sum() > 0
    assert len(snap.columns) == len(set(snap.columns))
    kept_all = _snap(prm, ev, exclude_converted=False)
    assert len(kept_all) == 3 * len(prm.prospects)


def test_snapshots_refuse_bad_input(prm):
    ev, p = prm.events, prm.prospects
    with pytest.raises(ValueError, match="after the end of the observed log"):
        ts.events.snapshots(ev, p, cutoffs=[prm.now - 10 * DAY], horizon="30D", target="form_fill")
    with pytest.raises(ValueError, match="horizon must be > 0"):
        ts.events.snapshots(ev, p, cutoffs=[prm.now - 60 * DAY], horizon="0D", target="form_fill")
    with pytest.raises(ValueError, match="horizon must be a duration"):
        ts.events.snapshots(ev, p, cutoffs=[prm.now - 60 * DAY], horizon="soon", target="form_fill")
    with pytest.raises(ValueError, match="not event types"):
        ts.events.snapshots(ev, p, cutoffs=[prm.now - 60 * DAY], horizon="30D", target="purchase")
    with pytest.raises(ValueError, match="cutoffs is empty"):
        ts.events.snapshots(ev, p, cutoffs=[], horizon="30D", target="form_fill")
    with pytest.raises(KeyError, match="ts"):
        ts.events.snapshots(ev, p, cutoffs=[prm.now - 60 * DAY], horizon="30D", target="form_fill", timestamp="ts")


# -- machine opens and clicks -------------------------------------------------------

def _log(rows):
    return pd.DataFrame(rows, columns=["contact_id", "timestamp", "type", "campaign"]).assign(
        timestamp=lambda d: pd.to_datetime(d["timestamp"]))


T0 = pd.Timestamp("2026-03-01 09:00:00")


def test_machine_activity_hand_made_log():
    s = pd.Timedelta(seconds=1)
    ev = _log([
        (1, T0, "email_send", "a"), (1, T0 + 3 * s, "email_open", "a"), (1, T0 + 3600 * s, "email_open", "a"),
        (1, T0 + 5 * s, "email_click", "a"),
        (2, T0 + 3600 * s, "email_click", "a"), (2, T0 + 3601 * s, "email_click", "a"),
        (2, T0 + 3602 * s, "email_click", "a"), (2, T0 + 3 * 3600 * s, "email_click", "a"),
        (3, T0 + 2 * s, "email_open", "a"),                      # another contact's send: a person
        (4, T0, "email_send", "a"), (4, T0 + 3600 * s, "email_send", "b"), (4, T0 + 3603 * s, "email_open", "a"),
    ])
    shuffled = ev.sample(frac=1.0, random_state=3)
    got = ts.events.machine_activity(shuffled).loc[ev.index]
    assert got["machine"].tolist() == [False, True, False, True, True, True, True, False, False, False, False, True]
    assert got["reason"].iloc[1] == "open right after the send"
    assert got["reason"].iloc[3] == "click right after the send"
    assert got["reason"].iloc[4] == "click burst"
    assert got.attrs["flagged"] == {"flagged by the sender": 0, "open right after the send": 2,
                                    "click right after the send": 1, "click burst": 3}
    # by campaign, contact 4's open of campaign a comes an hour after a's send
    by_campaign = ts.events.machine_activity(ev, campaign="campaign")
    assert not by_campaign["machine"].iloc[11]
    # every rule can be turned off; a sender's flag is taken as it is
    off = ts.events.machine_activity(ev, open_within=None, click_within=None, burst_clicks=None)
    assert not off["machine"].any()
    flagged = ts.events.machine_activity(ev.assign(proxy=ev.index == 2), flagged="proxy")
    assert flagged["reason"].iloc[2] == "flagged by the sender"


def _brute_force(ev, open_s=10, click_s=10, k=3, burst_s=5):
    """The rules written as loops over the events (small logs only)."""
    out = []
    t = ev["timestamp"]
    for i, r in ev.iterrows():
        sends = ev[(ev["contact_id"] == r.contact_id) & (ev["type"] == "email_send") & (t <= r.timestamp)]
        since = (r.timestamp - sends["timestamp"].max()).total_seconds() if len(sends) else np.inf
        if r.type == "email_open" and since <= open_s:
            out.append(True)
            continue
        if r.type == "email_click" and since <= click_s:
            out.append(True)
            continue
        if r.type == "email_click":
            c = ev[(ev["contact_id"] == r.contact_id) & (ev["type"] == "email_click")]["timestamp"].sort_values()
            times = c.to_numpy()
            hit = False
            for j in range(len(times) - k + 1):
                if (times[j + k - 1] - times[j]) / np.timedelta64(1, "s") <= burst_s and \
                        times[j] <= r.timestamp.to_datetime64() <= times[j + k - 1]:
                    hit = True
            out.append(hit)
            continue
        out.append(False)
    return np.array(out)


def test_machine_activity_matches_the_rules_written_as_loops():
    rng = np.random.default_rng(4)
    n = 600
    ev = pd.DataFrame({
        "contact_id": rng.integers(0, 25, n),
        "timestamp": T0 + pd.to_timedelta(rng.integers(0, 1500, n), unit="s"),
        "type": rng.choice(["email_send", "email_open", "email_click", "page_view"], n, p=[0.2, 0.3, 0.4, 0.1]),
    })
    got = ts.events.machine_activity(ev, click_within="20s", open_within="15s", burst_clicks=3, burst_within="30s")
    ref = _brute_force(ev, open_s=15, click_s=20, k=3, burst_s=30)
    assert ref.sum() > 20
    np.testing.assert_array_equal(got["machine"].to_numpy(), ref)


def test_machine_activity_refuses_bad_options():
    ev = _log([(1, T0, "email_send", "a")])
    with pytest.raises(ValueError, match="open_within must be > 0"):
        ts.events.machine_activity(ev, open_within="0s")
    with pytest.raises(ValueError, match="click_within must be a duration"):
        ts.events.machine_activity(ev, click_within="fast")
    with pytest.raises(ValueError, match="burst_clicks must be >= 2"):
        ts.events.machine_activity(ev, burst_clicks=1)
    with pytest.raises(ValueError, match="must be boolean"):
        ts.events.machine_activity(ev.assign(proxy="yes"), flagged="proxy")
    with pytest.raises(KeyError, match="when"):
        ts.events.machine_activity(ev, timestamp="when")
