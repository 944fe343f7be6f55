"""Event features and lead scores of Dask logs: shuffled by contact, equal row
for row to the local engines, whatever the log's partitioning."""

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore import events as tse
from twinscore.leads import score_leads

dd = pytest.importorskip("dask.dataframe")
tsd = pytest.importorskip("twinscore.dask")


@pytest.fixture(scope="module")
def prm():
    d = ts.datasets.make_prm(n_prospects=3_000, n_clients=100, seed=21)
    events = d.events.sample(frac=1.0, random_state=1).reset_index(drop=True)  # no order by contact
    return d, events


def assert_same(got, expect, **kw):
    """Equal to the bit: each contact's sums add up in the local order."""
    pd.testing.assert_frame_equal(got, expect, check_exact=True, **kw)


def local_rows(frame):
    return frame.sort_index()


@pytest.mark.parametrize("npartitions", [None, 3])
def test_aggregate_equals_local(prm, npartitions):
    d, events = prm
    ddf = dd.from_pandas(events, npartitions=6)
    got = tsd.aggregate_events(ddf, now=d.now, npartitions=npartitions).compute()
    expect = tse.aggregate(events, now=d.now)
    assert_same(local_rows(got), expect)


def test_aggregate_with_contacts_and_as_of(prm):
    d, events = prm
    contacts = d.prospects[["contact_id", "sex"]]
    ddf = dd.from_pandas(events, npartitions=5)
    as_of = d.now - pd.Timedelta(days=40)
    expect = tse.aggregate(events, contacts, as_of=as_of, half_life_days=10)
    for given in (contacts, dd.from_pandas(contacts, npartitions=4), contacts["contact_id"].to_numpy()):
        got = tsd.aggregate_events(ddf, given, as_of=as_of, half_life_days=10).compute()
        assert len(got) == len(contacts)  # contacts without events keep their row
        assert_same(got.loc[expect.index], expect)


def test_fixed_vocabularies_and_categoricals(prm):
    d, events = prm
    types = sorted(events["type"].unique()) + ["call"]
    cats = events.assign(type=events["type"].astype("category"), category=events["category"].astype("category"))
    for frame, kw in ((events, dict(types=types)), (cats, {})):
        got = tsd.aggregate_events(dd.from_pandas(frame, npartitions=4), now=d.now, **kw).compute()
        assert_same(local_rows(got), tse.aggregate(frame, now=d.now, **kw))


def test_partitioned_by_contact(prm):
    d, events = prm
    by_contact = events.sort_values("contact_id").reset_index(drop=True)
    ddf = dd.from_pandas(by_contact.set_index("contact_id", drop=False).rename_axis(None), npartitions=4,
                         sort=True)
    got = tsd.aggregate_events(ddf, now=d.now, partitioned_by_contact=True).compute()
    assert_same(local_rows(got), tse.aggregate(by_contact, now=d.now))
    with pytest.raises(ValueError, match="two partitions"):
        tsd.aggregate_events(dd.from_pandas(events, npartitions=4), now=d.now, partitioned_by_contact=True)


def test_score_leads_equals_local(prm):
    d, events = prm
    contacts = d.prospects
    expect = score_leads(contacts, events, ts.datasets.PRM_LEAD_RULES, now=d.now)
    got = tsd.score_leads(dd.from_pandas(contacts, npartitions=4), dd.from_pandas(events, npartitions=7),
                          ts.datasets.PRM_LEAD_RULES, now=d.now).compute()
    assert len(got) == len(contacts)
    assert_same(got.loc[expect.index], expect.assign(grade=expect["grade"]), check_like=False)


def test_string_ids(prm):
    d, events = prm
    ev = events.assign(contact_id="c" + events["contact_id"].astype(str))
    got = tsd.aggregate_events(dd.from_pandas(ev, npartitions=3), now=d.now).compute()
    assert_same(local_rows(got), tse.aggregate(ev, now=d.now))


def test_bad_input_is_named(prm):
    d, events = prm
    ddf = dd.from_pandas(events, npartitions=3)
    with pytest.raises(KeyError, match="stamp"):
        tsd.aggregate_events(ddf, now=d.now, timestamp="stamp")
    with pytest.raises(ValueError, match="exactly one"):
        tsd.aggregate_events(ddf)
    with pytest.raises(TypeError, match="Dask DataFrame"):
        tsd.aggregate_events(events, now=d.now)
    few = d.prospects[["contact_id"]].iloc[:10]
    with pytest.raises(KeyError, match="not among the contacts"):
        tsd.aggregate_events(ddf, few, now=d.now).compute()
    with pytest.raises(ValueError, match="after"):
        tsd.aggregate_events(ddf, now=d.now - pd.Timedelta(days=30)).compute()


def test_distributed_cluster(prm):
    distributed = pytest.importorskip("distributed")
    d, events = prm
    expect = tse.aggregate(events, now=d.now)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as \
            cluster, distributed.Client(cluster):
        got = tsd.aggregate_events(dd.from_pandas(events, npartitions=4), now=d.now).compute()
        leads = tsd.score_leads(dd.from_pandas(d.prospects, npartitions=3), dd.from_pandas(events, npartitions=4),
                                ts.datasets.PRM_LEAD_RULES, now=d.now).compute()
    assert_same(local_rows(got), expect)
    local = score_leads(d.prospects, events, ts.datasets.PRM_LEAD_RULES, now=d.now)
    assert_same(leads.loc[local.index], local)


def by_parity(frame, n=4, column="contact_id"):
    """Partition i holds the contacts whose id is i mod n: no contact in two partitions, but the
    partitions' id ranges overlap (the exact check decides), with partition n-1 emptied and
    divisions unknown."""
    parts = [frame[(frame[column] % n) == i] for i in range(n - 1)] + [frame.iloc[:0]]
    return dd.from_map(lambda i: parts[i], list(range(n)), meta=frame.iloc[:0], divisions=None)


def by_range(frame, bounds, column="contact_id"):
    """Partition i holds the contacts with bounds[i] <= id < bounds[i + 1] (ranges apart)."""
    parts = [frame[(frame[column] >= a) & (frame[column] < b)] for a, b in zip(bounds[:-1], bounds[1:])]
    return dd.from_map(lambda i: parts[i], list(range(len(parts))), meta=frame.iloc[:0])


def test_partitioned_by_contact_ranges_and_exact_check(prm):
    d, events = prm
    cut = [0, 700, 700, 1500, 3001]  # one empty partition
    expect = tse.aggregate(events, now=d.now)
    for ddf, kept in ((by_range(events, cut), expect.index), (by_parity(events), expect.index[expect.index % 4 != 3])):
        assert not ddf.known_divisions
        got = tsd.aggregate_events(ddf, now=d.now, partitioned_by_contact=True).compute()
        assert_same(local_rows(got), expect.loc[kept])
    # Ranges that overlap and share one contact: the exact check names it.
    parts = [events[events["contact_id"] < 1500],
             pd.concat([events[events["contact_id"] >= 1500], events[events["contact_id"] == 1200]])]
    with pytest.raises(ValueError, match="1200.*two partitions"):
        tsd.aggregate_events(dd.from_map(lambda i: parts[i], [0, 1], meta=events.iloc[:0]), now=d.now,
                             partitioned_by_contact=True)


def test_score_leads_partitioned_by_contact(prm):
    d, events = prm
    contacts = d.prospects
    expect = score_leads(contacts, events, ts.datasets.PRM_LEAD_RULES, now=d.now)
    cut = [0, 900, 900, 2000, 3001]
    for ev, co in ((by_range(events, cut), by_range(contacts, cut)), (by_parity(events), by_parity(contacts))):
        got = tsd.score_leads(co, ev, ts.datasets.PRM_LEAD_RULES, now=d.now, partitioned_by_contact=True).compute()
        assert_same(local_rows(got), expect.loc[[i for i in expect.index if i in set(got.index)]].sort_index())
    # by_parity drops the last residue class: those contacts have neither rows nor events there.
    full = tsd.score_leads(by_range(contacts, cut), by_range(events, cut), ts.datasets.PRM_LEAD_RULES, now=d.now,
                           partitioned_by_contact=True).compute()
    assert_same(local_rows(full), expect.sort_index())
    with pytest.raises(ValueError, match="4 and 3 partitions"):
        tsd.score_leads(by_range(contacts, cut), by_range(events, [0, 900, 2000, 3001]), ts.datasets.PRM_LEAD_RULES,
                        now=d.now, partitioned_by_contact=True)
    # A contact's row in partition 0 but its events in partition 1.
    moved = [contacts[contacts["contact_id"] < 1000], contacts[contacts["contact_id"] >= 1000]]
    ev = [events[events["contact_id"] < 990], events[events["contact_id"] >= 990]]
    with pytest.raises(ValueError, match="two partitions"):
        tsd.score_leads(dd.from_map(lambda i: moved[i], [0, 1], meta=contacts.iloc[:0]),
                        dd.from_map(lambda i: ev[i], [0, 1], meta=events.iloc[:0]), ts.datasets.PRM_LEAD_RULES,
                        now=d.now, partitioned_by_contact=True)


def test_partitioned_by_contact_on_a_distributed_cluster(prm):
    distributed = pytest.importorskip("distributed")
    d, events = prm
    cut = [0, 900, 900, 2000, 3001]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as \
            cluster, distributed.Client(cluster):
        feats = tsd.aggregate_events(by_parity(events), now=d.now, partitioned_by_contact=True).compute()
        leads = tsd.score_leads(by_range(d.prospects, cut), by_range(events, cut), ts.datasets.PRM_LEAD_RULES,
                                now=d.now, partitioned_by_contact=True).compute()
    expect = tse.aggregate(events, now=d.now)
    assert_same(local_rows(feats), expect.loc[feats.sort_index().index])
    assert_same(local_rows(leads), score_leads(d.prospects, events, ts.datasets.PRM_LEAD_RULES,
                                               now=d.now).sort_index())
