"""DaskTwinIndex: the local index's answers from Dask DataFrames of prospects,
broadcast or sharded by block, with empty partitions, on local and
distributed schedulers."""

import numpy as np
import pandas as pd
import pytest

import twinscore as ts

dd = pytest.importorskip("dask.dataframe")
tsd = pytest.importorskip("twinscore.dask")

COLS = ["sex", "age_band", "region", "income", "channel", "categories", "household_size"]


@pytest.fixture(scope="module")
def market():
    d = ts.datasets.make_prm(n_prospects=2_400, n_clients=300, seed=11)
    clients = d.clients[["client_id", *COLS, "margin"]].copy()
    prospects = d.prospects[["contact_id", *COLS]].copy()
    prospects.loc[prospects.index[::17], "income"] = np.nan
    prospects.loc[prospects.index[::29], "region"] = None
    prospects["opted_out"] = (prospects["contact_id"] % 7) == 0
    return clients, prospects, d.prospects[["contact_id", *COLS]].sample(1_000, random_state=0)


def as_dask(df, npartitions=5, drop=(400, 800)):
    """Partitions of the frame, the second emptied (as an upstream filter leaves it)."""
    lo, hi = drop
    ddf = dd.from_pandas(df, npartitions=npartitions, sort=False)
    ids = df["contact_id"].to_numpy()
    gone = set(ids[lo:hi].tolist())
    return ddf.map_partitions(lambda p: p[~p["contact_id"].isin(gone)], meta=ddf._meta), \
        df[~df["contact_id"].isin(gone)].reset_index(drop=True)


def fitted(market, **kw):
    clients, _, population = market
    return tsd.DaskTwinIndex(**kw).fit(clients, id="client_id", value="margin", population=population)


def by_prospect(frame, *keys):
    return frame.sort_values(["prospect_id", *keys]).reset_index(drop=True)


@pytest.mark.parametrize("shards", [None, 3])
def test_search_and_scores_equal_local(market, shards):
    idx = fitted(market, block_on=["sex", "age_band"])
    ddf, part = as_dask(market[1])
    local = idx.to_local().search(part, k=5, id="contact_id")
    got = idx.search(ddf, k=5, id="contact_id", shards=shards).compute()
    pd.testing.assert_frame_equal(by_prospect(got, "rank"), by_prospect(local.to_pandas(), "rank"))
    scores = idx.scores(ddf, k=5, id="contact_id", shards=shards).compute()
    pd.testing.assert_frame_equal(by_prospect(scores), by_prospect(local.scores()))
    assert {"reference_score", "value_reference_score"} <= set(scores.columns)
    lookalike = idx.lookalike_score(ddf, k=5, id="contact_id", shards=shards).compute().sort_index()
    expect = idx.to_local().lookalike_score(part, k=5, id="contact_id").sort_index()
    pd.testing.assert_series_equal(lookalike, expect)


def test_ids_from_the_partitions_index(market):
    idx = fitted(market, block_on=["sex"])
    df = market[1].set_index("contact_id")
    ddf = dd.from_pandas(df, npartitions=4)
    expect = idx.to_local().search(df, k=3).scores()
    for shards in (None, 2):
        got = idx.scores(ddf, k=3, shards=shards).compute()
        pd.testing.assert_frame_equal(by_prospect(got), by_prospect(expect))


@pytest.mark.parametrize("shards", [None, 4])
@pytest.mark.parametrize("with_reference", [True, False])
def test_expand_equals_local(market, shards, with_reference):
    clients, prospects, population = market
    idx = tsd.DaskTwinIndex(block_on=["sex"], random_state=3, reference_size=250)
    if with_reference:
        idx.fit(clients, id="client_id", value="margin", population=population)
    else:
        idx.fit(clients, id="client_id", value="margin", schema=ts.Schema.learn(population))
        assert idx.reference_index_ is None  # expand samples its reference from the prospects
    ddf, part = as_dask(prospects)
    local = idx.to_local().expand(part, fraction=0.1, exclude_mask=part["opted_out"].to_numpy(), k=7,
                                  id="contact_id")
    got = idx.expand(ddf, fraction=0.1, exclude_mask="opted_out", k=7, id="contact_id", shards=shards)
    pd.testing.assert_frame_equal(got, local)
    got_n = idx.expand(ddf, n=50, k=7, id="contact_id", by="score")
    pd.testing.assert_frame_equal(got_n, idx.to_local().expand(part, n=50, k=7, id="contact_id", by="score"))


def test_recommend_and_reasons_equal_local(market):
    clients, prospects, _ = market
    idx = fitted(market, block_on=["sex"])
    ddf, part = as_dask(prospects)
    items = clients.set_index("client_id")["categories"]
    local = idx.to_local().search(part, k=5, id="contact_id").recommend(items, top=3)
    for shards in (None, 2):
        got = idx.recommend(ddf, items, top=3, k=5, id="contact_id", shards=shards).compute()
        pd.testing.assert_frame_equal(by_prospect(got, "rank"), by_prospect(local, "rank"))
    few = dd.from_pandas(part.head(60), npartitions=3)
    got = idx.reasons(few, top=2, k=5, id="contact_id").compute()
    pd.testing.assert_frame_equal(by_prospect(got), by_prospect(idx.to_local().reasons(part.head(60), top=2, k=5,
                                                                                      id="contact_id")))


def test_matrix_index(market):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 6)).astype(np.float32)
    P = pd.DataFrame(rng.normal(size=(900, 6)).astype(np.float32), columns=[f"x{j}" for j in range(6)])
    idx = tsd.DaskTwinIndex("cosine").fit(X)
    got = idx.scores(dd.from_pandas(P, npartitions=3), k=4).compute()
    expect = idx.to_local().search(P.to_numpy(), k=4).scores()
    pd.testing.assert_frame_equal(by_prospect(got), by_prospect(expect))


def test_bad_input_is_named(market):
    idx = fitted(market, block_on=["sex"])
    ddf, _ = as_dask(market[1])
    with pytest.raises(KeyError, match="income"):
        idx.scores(ddf.drop(columns=["income"]), id="contact_id")
    with pytest.raises(KeyError, match="nope"):
        idx.scores(ddf, id="nope")
    with pytest.raises(ValueError, match="block_on"):
        fitted(market).scores(ddf, id="contact_id", shards=2)
    with pytest.raises(ValueError, match="shards"):
        idx.scores(ddf, id="contact_id", shards=0)
    with pytest.raises(KeyError, match="exclude_mask"):
        idx.expand(ddf, n=5, exclude_mask="missing", id="contact_id")
    with pytest.raises(ValueError, match="k = 100000"):
        idx.search(ddf, k=100_000, id="contact_id")
    with pytest.raises(ValueError, match="exactly one"):
        idx.expand(ddf, id="contact_id")


def test_index_sent_once_per_graph(market):
    idx = fitted(market, block_on=["sex"])
    ddf, _ = as_dask(market[1])
    graph = dict(idx.scores(ddf, k=3, id="contact_id").__dask_graph__())
    held = [key for key, value in graph.items() if isinstance(getattr(value, "value", value), ts.TwinIndex)]
    assert len(held) == 1, held


def test_distributed_cluster(market):
    distributed = pytest.importorskip("distributed")
    idx = fitted(market, block_on=["sex", "age_band"])
    ddf, part = as_dask(market[1])
    local = idx.to_local().search(part, k=4, id="contact_id").scores()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as \
            cluster, distributed.Client(cluster):
        for shards in (None, 3):
            got = idx.scores(ddf, k=4, id="contact_id", shards=shards).compute()
            pd.testing.assert_frame_equal(by_prospect(got), by_prospect(local))
        audience = idx.expand(ddf, fraction=0.05, exclude_mask="opted_out", id="contact_id", shards=2)
    pd.testing.assert_frame_equal(audience, idx.to_local().expand(
        part, fraction=0.05, exclude_mask=part["opted_out"].to_numpy(), id="contact_id"))


def shard_objects(graph) -> list:
    """The graph's values that are built shards (what the client would send)."""
    from twinscore.dask.twins import _TwinShard

    return [key for key, value in dict(graph).items() if isinstance(getattr(value, "value", value), _TwinShard)]


@pytest.mark.parametrize("clients_as", ["pandas", "dask"])
def test_shards_built_on_the_workers(market, clients_as):
    """The workers encode and index their own shards from the clients, shuffled by block key:
    the graph holds no shard built on the client, and the answer is the local one."""
    distributed = pytest.importorskip("distributed")
    clients, prospects, population = market
    source = clients
    if clients_as == "dask":  # unknown divisions, shuffled rows, an empty partition
        clients = clients.sample(frac=1.0, random_state=3)
        pieces = [clients.iloc[:120], clients.iloc[:0], clients.iloc[120:]]
        source = dd.from_map(lambda i: pieces[i], [0, 1, 2], meta=clients.iloc[:0])
        assert not source.known_divisions
    idx = tsd.DaskTwinIndex(block_on=["sex", "age_band"]).fit(source, id="client_id", value="margin",
                                                              population=population)
    local_index = ts.TwinIndex(block_on=["sex", "age_band"]).fit(clients, id="client_id", value="margin",
                                                                 population=population)
    ddf, part = as_dask(prospects)
    assert shard_objects(idx.scores(ddf, k=5, id="contact_id", shards=3).__dask_graph__()) == []
    local = local_index.search(part, k=5, id="contact_id")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as \
            cluster, distributed.Client(cluster):
        for shards in (1, 3, 7):  # 7 shards for 12 blocks: some shards get no client
            got = idx.search(ddf, k=5, id="contact_id", shards=shards).compute()
            pd.testing.assert_frame_equal(by_prospect(got, "rank"), by_prospect(local.to_pandas(), "rank"))
            scores = idx.scores(ddf, k=5, id="contact_id", shards=shards).compute()
            pd.testing.assert_frame_equal(by_prospect(scores), by_prospect(local.scores()))


def test_shards_of_a_contact_table_are_cut_on_the_client(market):
    """Clients given as a ContactTable (no DataFrame to shuffle) are cut into shards here: the
    same answer."""
    clients, prospects, population = market
    table = ts.ContactTable.from_pandas(clients, id="client_id")
    idx = tsd.DaskTwinIndex(block_on=["sex", "age_band"]).fit(table, value="margin", population=population)
    ddf, part = as_dask(prospects)
    graph = idx.scores(ddf, k=4, id="contact_id", shards=3).__dask_graph__()
    assert len(shard_objects(graph)) == 3
    got = idx.scores(ddf, k=4, id="contact_id", shards=3).compute()
    pd.testing.assert_frame_equal(by_prospect(got), by_prospect(idx.to_local().search(part, k=4, id="contact_id")
                                                                .scores()))


def test_many_prospect_partitions_per_shard(market):
    """Each shard's prospects stay in partitions of the input's size (not one partition per shard)."""
    idx = fitted(market, block_on=["sex", "age_band"])
    ddf, part = as_dask(market[1], npartitions=12, drop=(400, 800))
    got = idx.scores(ddf, k=3, id="contact_id", shards=3)
    assert got.npartitions == 12
    pd.testing.assert_frame_equal(by_prospect(got.compute()),
                                  by_prospect(idx.to_local().search(part, k=3, id="contact_id").scores()))
