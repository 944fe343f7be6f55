"""TwinIndex against brute-force numpy references (and FAISS), for every metric,
with blocking, exclusions, missing values, thread counts 1 and 2, k = 1, 10, 100."""

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore.twins import TwinIndex


def brute_topk(S, k, larger=True, allowed=None):
    """Rows of the k best scores per prospect, ties by lower row; -1 past what is allowed."""
    n, m = S.shape
    key = -S if larger else S
    if allowed is not None:
        key = np.where(allowed, key, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(m), (n, m)), key), axis=1)[:, :k]
    rows = order.astype(np.int64)
    if allowed is not None:
        ok = np.take_along_axis(allowed, order, axis=1)
        rows[~ok] = -1
    return rows


def check_against(res, S, k, larger=True, allowed=None, tol=1e-4):
    """Same similarities as the reference's top k, each twin's similarity right, ties by lower row."""
    ref = brute_topk(S, k, larger, allowed)
    counts = (ref >= 0).sum(axis=1)
    np.testing.assert_array_equal(res.counts, counts)
    found = res.rows >= 0
    np.testing.assert_array_equal(found, ref >= 0)
    ref_s = np.where(ref >= 0, np.take_along_axis(S, np.maximum(ref, 0), axis=1), 0)
    got = np.where(found, res.similarities, 0)
    np.testing.assert_allclose(got, ref_s, atol=tol)
    own = np.where(found, np.take_along_axis(S, np.maximum(res.rows, 0), axis=1), 0)
    np.testing.assert_allclose(got, own, atol=tol)
    return ref


def dense_scores(Q, C, metric):
    Q = Q.astype(np.float64)
    C = C.astype(np.float64)
    if metric == "inner_product":
        return Q @ C.T
    if metric == "sqeuclidean":
        return ((Q[:, None, :] - C[None, :, :]) ** 2).sum(-1)
    qn = np.linalg.norm(Q, axis=1)[:, None]
    cn = np.linalg.norm(C, axis=1)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((qn > 0) & (cn > 0), (Q @ C.T) / (qn * cn), 0.0)


@pytest.mark.parametrize("metric", ["cosine", "inner_product", "sqeuclidean"])
@pytest.mark.parametrize("k", [1, 10, 100])
def test_dense_matches_numpy_and_threads_agree(rng, metric, k, restore_threads):
    C = rng.normal(size=(700, 24)).astype(np.float32)
    Q = rng.normal(size=(300, 24)).astype(np.float32)
    Q[5] = 0  # a zero vector: cosine 0, not NaN
    idx = TwinIndex(metric, prospect_tile=32, client_tile=256).fit(C)
    with ts.threads(1):
        one = idx.search(Q, k=k)
    with ts.threads(2):
        two = idx.search(Q, k=k)
    np.testing.assert_array_equal(one.rows, two.rows)
    np.testing.assert_array_equal(one.similarities, two.similarities)
    S = dense_scores(Q, C, metric)
    ref = check_against(one, S, k, larger=metric != "sqeuclidean", tol=2e-4 * (1 if metric == "cosine" else 50))
    same = (one.rows == ref).mean()
    assert same > 0.99  # the rest are float near-ties
    assert np.isfinite(one.similarities).all() and np.isfinite(one.score).all()
    if metric == "cosine":
        assert (one.similarities[5] == 0).all() and (one.rows[5] == np.arange(k)).all()


@pytest.mark.parametrize("metric,faiss_index", [("sqeuclidean", "IndexFlatL2"), ("inner_product", "IndexFlatIP")])
def test_dense_matches_faiss(rng, metric, faiss_index):
    faiss = pytest.importorskip("faiss")
    C = rng.normal(size=(2000, 32)).astype(np.float32)
    Q = rng.normal(size=(500, 32)).astype(np.float32)
    index = getattr(faiss, faiss_index)(32)
    index.add(C)
    D, I = index.search(Q, 10)
    res = TwinIndex(metric).fit(C).search(Q, k=10)
    assert (res.rows == I).mean() > 0.999
    np.testing.assert_allclose(res.similarities, D, rtol=1e-4, atol=1e-3)


def jaccard_scores(A, B, w=None):
    A = A.astype(np.float64)
    B = B.astype(np.float64)
    if w is None:
        w = np.ones(A.shape[1])
    inter = (A * w) @ B.T
    union = (A * w).sum(1)[:, None] + (B * w).sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0).astype(np.float32)


@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("m", [20, 64, 130])
def test_jaccard_is_exact(rng, k, m, restore_threads):
    C = rng.random((600, m)) < 0.08
    Q = rng.random((200, m)) < 0.08
    Q[0] = False  # empty set: similarity 0 with everything
    idx = TwinIndex("jaccard", client_tile=64).fit(C)
    with ts.threads(1):
        one = idx.search(Q, k=k)
    with ts.threads(2):
        two = idx.search(Q, k=k)
    np.testing.assert_array_equal(one.rows, two.rows)
    S = jaccard_scores(Q, C)
    ref = check_against(one, S, k, tol=0)
    np.testing.assert_array_equal(one.rows, ref)  # exact, ties included


def test_weighted_jaccard(rng):
    C = rng.random((400, 30)) < 0.15
    Q = rng.random((100, 30)) < 0.15
    w = rng.uniform(0, 3, size=30)
    res = TwinIndex("weighted_jaccard", weights=w).fit(C).search(Q, k=10)
    check_against(res, jaccard_scores(Q, C, w), 10, tol=1e-5)
    # Default weights: inverse document frequency among the clients.
    idx = TwinIndex("weighted_jaccard").fit(C)
    idf = np.log((1 + len(C)) / (1 + C.sum(0))) + 1
    np.testing.assert_allclose(list(idx.weights_.values()), idf)


# -- mixed metric on contact tables ------------------------------------------

FEATURES = ["sex", "age_band", "region", "income", "channel", "categories"]


def mid_ranks(values, population):
    """Each value's mid-rank among the population's present values, by comparing every pair:
    (#{p < v} + #{p <= v}) / 2n; NaN stays NaN."""
    v = np.asarray(values, dtype=float)[:, None]
    p = np.asarray(population, dtype=float)
    p = p[~np.isnan(p)][None, :]
    r = ((p < v).sum(axis=1) + (p <= v).sum(axis=1)) / (2.0 * p.shape[1])
    return np.where(np.isnan(v[:, 0]), np.nan, r)


def gower_reference(idx: TwinIndex, clients: pd.DataFrame, prospects: pd.DataFrame, income_range=None,
                    scale_on: pd.DataFrame | None = None):
    """Full prospects x clients matrix of the mixed similarity, in float64, plus the block mask.
    Numbers are compared on their mid-ranks among ``scale_on`` (default: the clients) when the
    index ranks them, else on their range (the clients', or ``income_range`` for income)."""
    num = np.zeros((len(prospects), len(clients)))
    den = np.zeros_like(num)
    for c in idx.columns_used_:
        w = idx.weights_[c]
        a, b = prospects[c], clients[c]
        numeric = idx.schema_[c].role == "numeric"
        if numeric and idx.numeric_scale == "rank":
            on = (clients if scale_on is None else scale_on)[c].to_numpy(float)
            av, bv = mid_ranks(a, on)[:, None], mid_ranks(b, on)[None, :]
            s = 1 - np.abs(av - bv)
            present = ~np.isnan(av) & ~np.isnan(bv)
        elif numeric:
            av, bv = a.to_numpy(float)[:, None], b.to_numpy(float)[None, :]
            rng_ = np.nanmax(bv) - np.nanmin(bv) if income_range is None or c != "income" else income_range
            s = np.clip(1 - np.abs(av - bv) / rng_, 0, None)
            present = ~np.isnan(av) & ~np.isnan(bv)
        elif c == "categories":
            cats = ts.datasets.CATEGORIES
            def flags(col):
                return np.array([[v is not None and v is not pd.NA and x in set(v) for x in cats]
                                 for v in col.astype(object)], dtype=float)

            s = jaccard_scores(flags(a), flags(b)).astype(np.float64)
            present = np.outer(a.notna().to_numpy(), b.notna().to_numpy())
        else:
            av = a.astype(object).to_numpy()[:, None]
            bv = b.astype(object).to_numpy()[None, :]
            present = pd.notna(av) & pd.notna(bv)
            s = (av == bv).astype(float)
        num += np.where(present, w * np.nan_to_num(s), 0)
        den += np.where(present, w, 0)
    S = np.where(den > 0, num / np.where(den > 0, den, 1), 0)
    allowed = None
    if idx.block_on_:
        allowed = np.ones_like(S, dtype=bool)
        for c in idx.block_on_:
            a = prospects[c].astype(object).to_numpy()[:, None]
            b = clients[c].astype(object).to_numpy()[None, :]
            allowed &= (a == b) & pd.notna(a) & pd.notna(b)
    return S, allowed


@pytest.fixture(scope="module")
def market():
    d = ts.datasets.make_prm(n_prospects=400, n_clients=250, seed=3)
    clients = d.clients[["client_id", *FEATURES, "margin"]].copy()
    prospects = d.prospects[["contact_id", *FEATURES]].copy()
    # Missing values on both sides, in every kind of column.
    clients.loc[clients.index[::7], "region"] = None
    prospects.loc[prospects.index[::5], "channel"] = None
    prospects.loc[prospects.index[::11], "categories"] = None
    return clients, prospects


@pytest.mark.parametrize("numeric_scale", ["rank", "range"])
@pytest.mark.parametrize("block_on", [None, ["sex"], ["sex", "age_band"]])
@pytest.mark.parametrize("k", [1, 10, 100])
def test_mixed_matches_gower_reference(market, block_on, k, numeric_scale, restore_threads):
    clients, prospects = market
    idx = TwinIndex("mixed", block_on=block_on, exclude=["channel"], weights={"income": 2.0, "categories": 1.5},
                    numeric_scale=numeric_scale, prospect_tile=16, client_tile=64)
    idx.fit(clients, id="client_id", value="margin")
    assert "channel" not in idx.columns_used_ and "margin" not in idx.columns_used_
    with ts.threads(1):
        one = idx.search(prospects, k=k, id="contact_id")
    with ts.threads(2):
        two = idx.search(prospects, k=k, id="contact_id")
    np.testing.assert_array_equal(one.rows, two.rows)
    np.testing.assert_array_equal(one.similarities, two.similarities)
    S, allowed = gower_reference(idx, clients, prospects)
    check_against(one, S, k, allowed=allowed, tol=1e-5)
    # Ties (many, with categorical parts) rank the lower client row first.
    sims = one.similarities
    same = (sims[:, 1:] == sims[:, :-1]) & (one.rows[:, 1:] >= 0)
    assert (one.rows[:, 1:][same] > one.rows[:, :-1][same]).all()
    assert np.isfinite(one.score).all() and not np.isnan(sims[one.rows >= 0]).any()
    # Ids: the tidy table is keyed by both sides' ids.
    tidy = one.to_pandas()
    assert set(tidy["prospect_id"]) <= set(prospects["contact_id"])
    assert set(tidy["client_id"]) <= set(clients["client_id"])
    assert len(tidy) == one.counts.sum()


def test_blocking_reports_short_blocks_without_padding(market):
    clients, prospects = market
    idx = TwinIndex("mixed", block_on=["sex", "age_band", "region"]).fit(clients.drop(columns="margin"),
                                                                          id="client_id")
    res = idx.search(prospects, k=20, id="contact_id")
    assert (res.counts < 20).any()
    for i in np.flatnonzero(res.counts < 20)[:20]:
        assert (res.rows[i, res.counts[i]:] == -1).all()
        assert np.isneginf(res.similarities[i, res.counts[i]:]).all()
    # A prospect with a missing key (region is missing for some clients only, so
    # put one on the prospects' side) finds nothing.
    p = prospects.copy()
    p.loc[p.index[0], "region"] = None
    res = idx.search(p, k=5, id="contact_id")
    assert res.counts[0] == 0 and res.score[0] == 0


def test_blocking_equals_per_block_searches(market):
    clients, prospects = market
    # Income off: its range is learnt on all the clients vs on one block's.
    w = {"income": 0.0}
    clients = clients.drop(columns="margin")
    blocked = TwinIndex("mixed", block_on=["sex"], weights=w).fit(clients, id="client_id").search(
        prospects, k=5, id="contact_id")
    for sex in ("F", "M"):
        c = clients[clients["sex"] == sex].drop(columns="sex")
        p = prospects[prospects["sex"] == sex].drop(columns="sex")
        alone = TwinIndex("mixed", weights=w).fit(c, id="client_id").search(p, k=5, id="contact_id")
        mask = (prospects["sex"] == sex).to_numpy()
        np.testing.assert_array_equal(blocked.client_ids[mask], alone.client_ids)
        np.testing.assert_allclose(blocked.similarities[mask], alone.similarities, atol=1e-6)


def test_dense_on_tables_and_protected_columns(market):
    clients, prospects = market
    idx = TwinIndex("cosine", exclude=["sex"], block_on=["age_band"]).fit(clients.drop(columns="margin"),
                                                                           id="client_id", population=prospects)
    assert not any(f.startswith("sex") for f in idx.feature_names_)
    assert "sex" not in idx.columns_used_ and idx.excluded_ == ["sex"]
    res = idx.search(prospects.drop(columns="sex"), k=5, id="contact_id")  # the protected column is not needed
    ex = idx.explain(prospects, res.prospect_ids[0], res.client_ids[0, 0], id="contact_id")
    assert not ex["column"].astype(str).str.startswith("sex").any()
    assert ex["contribution"].sum() == pytest.approx(res.similarities[0, 0], abs=1e-4)


def test_lookalike_score_value_and_expand(market):
    clients, prospects = market
    idx = TwinIndex("mixed", block_on=["sex"]).fit(clients, id="client_id", value="margin")
    res = idx.search(prospects, k=10, id="contact_id")
    sims = np.where(res.rows >= 0, res.similarities, 0)
    np.testing.assert_allclose(res.score, sims.sum(1) / 10, rtol=1e-6)
    margin = clients["margin"].to_numpy()
    np.testing.assert_allclose(res.value_score, (sims * np.where(res.rows >= 0, margin[res.rows], 0)).sum(1) / 10,
                               rtol=1e-6)
    aud = idx.expand(prospects, fraction=0.05, id="contact_id", by="value")
    assert len(aud) == 20 and list(aud["rank"]) == list(range(1, 21))
    assert aud["value_score"].is_monotonic_decreasing
    # By default, against the prospects as the reference (the index has none): see test_lookalike.
    assert idx.expand(prospects, fraction=0.05, id="contact_id")["value_reference_score"].is_monotonic_decreasing
    mask = prospects["contact_id"].isin(aud["prospect_id"].head(5)).to_numpy()
    aud2 = idx.expand(prospects, n=20, exclude_mask=mask, id="contact_id", by="score")
    assert not set(aud2["prospect_id"]) & set(aud["prospect_id"].head(5))
    assert aud2["score"].is_monotonic_decreasing
    # From a single seed client upward.
    seed = TwinIndex("mixed").fit(clients.head(1), id="client_id", value="margin")
    one = seed.expand(prospects, n=10, id="contact_id")
    assert len(one) == 10 and (one["twins"] == 1).all()


def test_explain_mixed_pair(market):
    clients, prospects = market
    idx = TwinIndex("mixed", block_on=["sex"], exclude=["channel"]).fit(clients, id="client_id", value="margin")
    res = idx.search(prospects, k=3, id="contact_id")
    pid, cid = res.prospect_ids[1], res.client_ids[1, 0]
    ex = idx.explain(prospects, pid, cid, id="contact_id")
    assert ex.attrs["similarity"] == pytest.approx(res.similarities[1, 0], abs=1e-6)
    assert ex["contribution"].sum() == pytest.approx(res.similarities[1, 0], abs=1e-5)
    assert set(ex["column"]) == {"age_band", "region", "income", "categories", "sex"}
    assert "channel" not in set(ex["column"])
    text = " ".join(ex["explanation"])
    assert "blocking key: same sex" in text and "categories shared" in text
    with pytest.raises(KeyError, match="client"):
        idx.explain(prospects, pid, -5, id="contact_id")


def test_progress_gives_the_same_result(rng, capsys):
    C = rng.normal(size=(300, 8)).astype(np.float32)
    Q = rng.normal(size=(25_000, 8)).astype(np.float32)
    idx = TwinIndex("sqeuclidean").fit(C)
    a = idx.search(Q, k=3)
    b = idx.search(Q, k=3, progress=True)
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.similarities, b.similarities)


def test_numpy_in_numpy_out(rng):
    C = rng.normal(size=(50, 4)).astype(np.float32)
    res = TwinIndex("cosine").fit(C).search(C[:10], k=3)
    assert isinstance(res.rows, np.ndarray) and res.rows.dtype == np.int64
    np.testing.assert_array_equal(res.rows[:, 0], np.arange(10))  # each row is its own best twin
    np.testing.assert_array_equal(res.client_ids, res.rows)


# -- blocking keys of any number and cardinality (issue 24) ---------------------


def key_frame(codes: np.ndarray, prefix: str = "v") -> pd.DataFrame:
    """Key columns k0, k1, ... holding the strings f"{prefix}{code}" (missing for code -1)."""
    out = {}
    for j in range(codes.shape[1]):
        col = np.array([f"{prefix}{c}" for c in codes[:, j]], dtype=object)
        col[codes[:, j] < 0] = None
        out[f"k{j}"] = col
    return pd.DataFrame(out)


def check_blocks(res, client_keys: pd.DataFrame, prospect_keys: pd.DataFrame):
    """Oracle: group the clients by their key tuple; a prospect's twins are
    exactly its group (capped at k), and no twin ever has another key."""
    groups = {}
    for j, t in enumerate(client_keys.itertuples(index=False, name=None)):
        if not any(pd.isna(v) for v in t):
            groups.setdefault(t, []).append(j)
    for i, t in enumerate(prospect_keys.itertuples(index=False, name=None)):
        group = [] if any(pd.isna(v) for v in t) else groups.get(t, [])
        assert res.counts[i] == min(len(group), res.k), f"prospect {i}"
        found = res.rows[i, : res.counts[i]]
        assert set(found) <= set(group), f"prospect {i} has a twin with another key"


@pytest.mark.parametrize("n_keys,categories", [(5, 7000), (33, 3)])
def test_block_keys_of_any_number_and_cardinality(rng, n_keys, categories, restore_threads):
    # Each key column holds `categories` distinct values among the clients
    # (a mixed-radix int64 key of their codes overflows in both cases).
    n = max(categories, 600)
    codes = np.stack([rng.permutation(n) % categories for _ in range(n_keys)], axis=1)
    clients = key_frame(codes).assign(x=rng.normal(size=n), c=rng.choice(["a", "b", "c"], size=n))
    clients.loc[clients.index[::97], "k1"] = None  # a missing key: never found
    # Prospects: exact copies of the clients, then copies with the first key
    # changed to another of its values (a tuple no client has, or another block).
    moved = codes.copy()
    moved[:, 0] = (moved[:, 0] + 1) % categories
    prospects = pd.concat([clients, key_frame(moved).assign(x=clients["x"], c=clients["c"])], ignore_index=True)
    keys = [f"k{j}" for j in range(n_keys)]
    idx = TwinIndex("mixed", block_on=keys).fit(clients)
    with ts.threads(1):
        one = idx.search(prospects, k=3)
    with ts.threads(2):
        two = idx.search(prospects, k=3)
    np.testing.assert_array_equal(one.rows, two.rows)
    np.testing.assert_array_equal(one.similarities, two.similarities)
    check_blocks(one, clients[keys], prospects[keys])
    # A copy of a client finds it, with similarity 1 (unless its key is missing).
    present = clients["k1"].notna().to_numpy()
    copies = np.flatnonzero(present)
    hit = (one.rows[copies] == copies[:, None]).any(axis=1) | (one.similarities[copies, -1] == 1)
    assert hit.all(), f"{(~hit).sum()} of {len(copies)} copies of a client miss it"
    assert (one.similarities[copies, 0] == 1).all()
    assert (one.counts[np.flatnonzero(~present)] == 0).all()


def test_block_keys_unseen_values_match_nothing(market):
    clients, prospects = market
    p = prospects.copy()
    p["region"] = p["region"].astype(object)
    p.loc[p.index[:6], "region"] = ["Atlantis", "Atlantis", "Mu", "Mu", None, "Lemuria"]
    idx = TwinIndex("mixed", block_on=["sex", "region"]).fit(clients, id="client_id", value="margin")
    res = idx.search(p, k=4, id="contact_id")
    assert (res.counts[:6] == 0).all()  # values no client has (and a missing one) match no one
    check_blocks(res, clients[["sex", "region"]], p[["sex", "region"]])


def test_weighted_jaccard_idf_on_a_table(market):
    clients, prospects = market
    idx = TwinIndex("weighted_jaccard", block_on=["sex"]).fit(clients, id="client_id", value="margin")
    cats = list(idx.schema_["categories"].categories)
    held = np.array([[v is not None and c in set(v) for c in cats] for v in clients["categories"].astype(object)])
    df = np.append(held.sum(axis=0), 0)  # "(other)": no client holds an unseen category
    idf = np.log((1 + len(clients)) / (1 + df)) + 1
    assert list(idx.weights_) == cats + ["(other)"]
    np.testing.assert_allclose(list(idx.weights_.values()), idf, rtol=1e-7)
    res = idx.search(prospects, k=3, id="contact_id")
    found = np.flatnonzero(res.counts > 0)[0]
    ex = idx.explain(prospects, res.prospect_ids[found], res.client_ids[found, 0], id="contact_id")
    cat_rows = ex[ex["column"] != "sex"]
    np.testing.assert_array_equal(cat_rows["weight"], [idx.weights_[c] for c in cat_rows["column"]])
    assert cat_rows["contribution"].sum() == pytest.approx(res.similarities[found, 0], abs=1e-6)


# -- the encoding learnt on the population (issue 18, item 4) --------------------


def population_market(rng, n=4000):
    """Contacts whose conversion rises with x1 (z0-z2 are noise), split in half:
    the first half's converted are the clients, the second half the prospects."""
    contacts = pd.DataFrame({"x1": rng.normal(50, 10, size=n), **{f"z{j}": rng.normal(size=n) for j in range(3)}})
    bought = rng.random(n) < 1 / (1 + np.exp(-(contacts["x1"].to_numpy() - 60) / 5))
    half = n // 2
    train, prospects = contacts.iloc[:half], contacts.iloc[half:]
    return train, train[bought[:half]], prospects, bought[half:]


def cosine_top_k(C, P, k):
    """numpy brute force: each prospect's k best cosine similarities (best first)."""
    Cn = C / np.linalg.norm(C, axis=1, keepdims=True)
    Pn = P / np.linalg.norm(P, axis=1, keepdims=True)
    return -np.sort(-(Pn @ Cn.T), axis=1)[:, :k]


def standardised(frame, on):
    """The columns standardised with the mean and std (ddof 0) of `on`."""
    return ((frame - on.mean()) / on.std(ddof=0)).to_numpy()


def test_population_standardised_lookalikes_find_buyers(rng):
    from sklearn.metrics import roc_auc_score
    train, clients, prospects, bought = population_market(rng)
    k = 10
    pop = TwinIndex("cosine").fit(clients, population=train)
    seed = TwinIndex("cosine").fit(clients, population=clients)  # standardised on the seed, knowingly
    assert pop.schema_learnt_on_ == "population" and seed.schema_learnt_on_ == "population"
    res_pop, res_seed = pop.search(prospects, k=k), seed.search(prospects, k=k)
    # Each against numpy on the vectors standardised its way.
    for res, on in ((res_pop, train), (res_seed, clients)):
        ref = cosine_top_k(standardised(clients, on), standardised(prospects, on), k)
        np.testing.assert_allclose(res.similarities, ref, atol=2e-5)
    auc_pop, auc_seed = roc_auc_score(bought, res_pop.score), roc_auc_score(bought, res_seed.score)
    # Centred on the clients, the buyers' direction is lost: no better than random.
    assert auc_pop > 0.8 and auc_seed < 0.6, (auc_pop, auc_seed)
    # A schema learnt on the population gives the same index as the population itself.
    given = TwinIndex("cosine").fit(clients, schema=ts.ContactTable.from_pandas(train).schema)
    assert given.schema_learnt_on_ == "given"
    np.testing.assert_array_equal(given.search(prospects, k=k).similarities, res_pop.similarities)


def test_dense_metrics_refuse_a_table_standardised_on_the_clients(rng):
    train, clients, prospects, _ = population_market(rng, n=600)
    for clients_in in (clients, ts.ContactTable.from_pandas(clients)):
        with pytest.raises(ValueError, match=r"population=.*schema=.*population=clients"):
            TwinIndex("cosine").fit(clients_in)
    # A ContactTable read with a population schema is encoded as it is.
    schema = ts.ContactTable.from_pandas(train).schema
    idx = TwinIndex("cosine").fit(schema.apply(clients, id=None))
    assert idx.schema_learnt_on_ == "given"
    np.testing.assert_array_equal(idx.search(prospects, k=3).similarities,
                                  TwinIndex("cosine").fit(clients, population=train).search(prospects, k=3).similarities)
    # Categories only: no statistics, nothing to refuse; matrices are used as given.
    assert TwinIndex("cosine").fit(clients.assign(region="N")[["region"]]).schema_learnt_on_ == "clients"
    assert TwinIndex("cosine").fit(clients[["x1", "z0"]].to_numpy()).schema_learnt_on_ is None
    # The mixed metric takes the clients' ranges without a population (Gower's convention).
    assert TwinIndex("mixed").fit(clients).schema_learnt_on_ == "clients"


def test_mixed_metric_ranges_from_the_population(market):
    clients, prospects = market
    population = prospects  # the prospects alone: their income range is not the clients'
    idx = TwinIndex("mixed", block_on=["sex"], exclude=["channel"], numeric_scale="range").fit(
        clients, id="client_id", value="margin", population=population)
    income = population["income"].to_numpy(float)
    assert idx.index_.numeric_ranges == pytest.approx([np.nanmax(income) - np.nanmin(income)])
    res = idx.search(prospects, k=10, id="contact_id")
    S, allowed = gower_reference(idx, clients, prospects, income_range=np.nanmax(income) - np.nanmin(income))
    check_against(res, S, 10, allowed=allowed, tol=1e-5)
    seed_income = clients["income"].to_numpy(float)
    assert idx.index_.numeric_ranges[0] != np.nanmax(seed_income) - np.nanmin(seed_income)  # the check can tell


def test_mixed_metric_ranks_on_the_population(market):
    clients, prospects = market
    idx = TwinIndex("mixed", block_on=["sex"], exclude=["channel"]).fit(clients, id="client_id", value="margin",
                                                                        population=prospects)
    assert idx.numeric_scale_learnt_on_ == "population" and idx.index_.numeric_ranges == [1.0]
    res = idx.search(prospects, k=10, id="contact_id")
    S, allowed = gower_reference(idx, clients, prospects, scale_on=prospects)
    check_against(res, S, 10, allowed=allowed, tol=1e-5)
    S_seed, _ = gower_reference(idx, clients, prospects)  # ranked among the clients instead: the check can tell
    assert np.abs(S_seed - S).max() > 0.01


def test_value_column_is_read_not_compared(market):
    clients, prospects = market
    idx = TwinIndex("mixed").fit(clients, id="client_id", value="margin")
    assert idx.value_column_ == "margin" and "margin" not in idx.columns_used_
    np.testing.assert_array_equal(idx.value_, clients["margin"].to_numpy(float))
    # Named in columns=, it is compared too (so the prospects need it).
    cols = ["age_band", "margin"]
    kept = TwinIndex("mixed", columns=cols).fit(clients, id="client_id", value="margin")
    assert kept.columns_used_ == cols
    with pytest.raises(KeyError, match="margin"):
        kept.search(prospects, id="contact_id")


def test_population_bad_input(rng, market):
    clients, prospects = market
    with pytest.raises(ValueError, match="population or schema, not both"):
        TwinIndex().fit(clients, id="client_id", population=prospects, schema=ts.Schema.learn(prospects))
    with pytest.raises(TypeError, match="schema must be a twinscore Schema"):
        TwinIndex().fit(clients, id="client_id", schema={"income": 1})
    with pytest.raises(KeyError, match=r"population has no column \['margin'\]"):
        TwinIndex().fit(clients, id="client_id", population=prospects)  # margin compared, prospects lack it
    with pytest.raises(KeyError, match=r"schema has no column \['income'\]"):
        TwinIndex().fit(clients, id="client_id", value="margin", schema=ts.Schema.learn(prospects.drop(columns="income")))
    with pytest.raises(ValueError, match="population: the contact table is empty"):
        TwinIndex().fit(clients, id="client_id", value="margin", population=prospects.iloc[:0])
    with pytest.raises(TypeError, match="population must be a DataFrame"):
        TwinIndex().fit(clients, id="client_id", value="margin", population=[1, 2, 3])
    with pytest.raises(ValueError, match="a matrix is used as given"):
        TwinIndex("cosine").fit(rng.normal(size=(5, 2)), population=prospects)


def shoppers_path():
    import os
    from pathlib import Path
    here = Path(__file__).resolve()
    for d in ([Path(os.environ["TWINSCORE_DATA"])] if "TWINSCORE_DATA" in os.environ else []) + \
             [p / "shared" / "data" for p in here.parents]:
        if (d / "online_shoppers_intention.csv").exists():
            return d / "online_shoppers_intention.csv"
    pytest.skip("online_shoppers_intention.csv not present")


def test_online_shoppers_cosine_twins_reach_the_reference_auc():
    """The data folder's README: stratified 70/30 split (seed 0), the converted
    training sessions as clients, cosine twins k = 10: AUC 0.751 (FAISS-style,
    standardised on the training sessions); standardised on the clients it was 0.44-0.58."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    df = pd.read_csv(shoppers_path(), sep=";")
    y = df.pop("Revenue").to_numpy()
    train, test = train_test_split(df, test_size=0.3, stratify=y, random_state=0)
    y_test = y[test.index]
    clients = train[y[train.index]]
    res = TwinIndex("cosine").fit(clients, population=train).search(test, k=10)
    auc = roc_auc_score(y_test, res.score)
    assert auc == pytest.approx(0.751, abs=0.01)
    seed = TwinIndex("cosine").fit(clients, population=clients).search(test, k=10)
    assert roc_auc_score(y_test, seed.score) < 0.6


# -- bad input ------------------------------------------------------------------


def test_bad_input(rng, market):
    clients, prospects = market
    C = rng.normal(size=(20, 4)).astype(np.float32)
    idx = TwinIndex("sqeuclidean").fit(C)
    with pytest.raises(ValueError, match="k must be >= 1"):
        idx.search(C, k=0)
    with pytest.raises(ValueError, match="larger than the 20 clients"):
        idx.search(C, k=21)
    with pytest.raises(TypeError, match="k must be an integer"):
        idx.search(C, k=2.5)
    with pytest.raises(ValueError, match="5 features, the clients had 4"):
        idx.search(rng.normal(size=(3, 5)), k=1)
    bad = C.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN at row 3"):
        idx.search(bad, k=1)
    with pytest.raises(ValueError, match="NaN"):
        TwinIndex("cosine").fit(bad)
    with pytest.raises(ValueError, match="0 sample"):
        TwinIndex("cosine").fit(np.zeros((0, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="metric must be one of"):
        TwinIndex("hamming").fit(C)
    with pytest.raises(ValueError, match="not fitted"):
        TwinIndex().search(C)
    with pytest.raises(ValueError, match="table"):
        TwinIndex("cosine", block_on=["sex"]).fit(C)
    with pytest.raises(ValueError, match="one weight per feature"):
        TwinIndex("cosine", weights=[1, 2]).fit(C)
    # Tables.
    with pytest.raises(KeyError, match="block_on names column 'segment'"):
        TwinIndex(block_on=["segment"]).fit(clients, id="client_id")
    with pytest.raises(KeyError, match="exclude names column 'religion'"):
        TwinIndex(exclude=["religion"]).fit(clients, id="client_id")
    with pytest.raises(ValueError, match="protected column cannot be used for blocking"):
        TwinIndex(block_on=["sex"], exclude=["sex"]).fit(clients, id="client_id")
    idx = TwinIndex(block_on=["sex"]).fit(clients, id="client_id", value="margin")
    with pytest.raises(KeyError, match="sex"):
        idx.search(prospects.drop(columns="sex"), id="contact_id")  # block key absent from the prospects
    with pytest.raises(KeyError, match="income"):
        idx.search(prospects.drop(columns="income"), id="contact_id")  # schema mismatch
    with pytest.raises(TypeError):
        idx.search(prospects.assign(income="high"), id="contact_id")
    with pytest.raises(ValueError, match="one weight per column"):
        TwinIndex(weights=[1, 2]).fit(clients, id="client_id")
    with pytest.raises(ValueError, match=">= 0"):
        TwinIndex(weights={"income": -1}).fit(clients, id="client_id")
    with pytest.raises(KeyError, match="weights name columns"):
        TwinIndex(weights={"shoe_size": 1}).fit(clients, id="client_id")
    with pytest.raises(ValueError, match="at least one weight"):
        TwinIndex(weights=dict.fromkeys(["age_band", "region", "income", "channel", "categories", "sex"], 0.0)).fit(
            clients.drop(columns="margin"), id="client_id")
    with pytest.raises(TypeError, match="0/1"):
        TwinIndex("jaccard").fit(C)
    with pytest.raises(ValueError, match="exactly one of fraction and n"):
        idx.expand(prospects, id="contact_id")
    with pytest.raises(ValueError, match="exclude_mask"):
        idx.expand(prospects, n=3, exclude_mask=np.zeros(3, dtype=bool), id="contact_id")


# -- numerics at the edges (issue 24) ---------------------------------------------


@pytest.mark.parametrize("metric", ["sqeuclidean", "inner_product"])
def test_rows_too_large_for_float32_distances_are_refused(rng, metric):
    """Rows near 3e38 made |y|^2 overflow and the search return NaN; now a ValueError names the row."""
    C = rng.normal(size=(50, 4)).astype(np.float32)
    huge = C.copy()
    huge[7] = [3e38, -3e38, 1, 2]
    with pytest.raises(ValueError, match=r"clients features at row 7 are too large for float32 distances.*column 0"):
        TwinIndex(metric).fit(huge)
    idx = TwinIndex(metric).fit(C)
    Q = C[:3].copy()
    Q[2, 3] = -2.9e38
    with pytest.raises(ValueError, match=r"prospects features at row 2 are too large.*column 3"):
        idx.search(Q, k=5)
    # Just below the bound (|x| < 6.5e18): finite and right.
    big = np.float32(6.4e18 / 2)
    C2 = np.array([[big, -big, big, -big], [-big, big, -big, big], [0, 0, 0, 0], [big, big, big, big]], np.float32)
    Q2 = np.array([[big, -big, big, -big / 2], [0, 0, 0, 1e18]], np.float32)
    res = TwinIndex(metric).fit(C2).search(Q2, k=4)
    assert np.isfinite(res.similarities).all() and np.isfinite(res.score).all()
    S = dense_scores(Q2.astype(np.float64), C2.astype(np.float64), metric)
    got = np.take_along_axis(S, res.rows, axis=1)
    np.testing.assert_allclose(res.similarities, got, rtol=1e-5, atol=1e-6 * float(big) ** 2)


def test_cosine_of_huge_and_subnormal_rows_matches_numpy(rng, restore_threads):
    """Rows whose float32 norm^2 overflows (|x| ~ 1e19 and up) or underflows (subnormal values) were
    taken for zero vectors (cosine 0); the engine's norms are now in double, like numpy float64's."""
    scales = [3e38, 1e30, 1e19, 1.0, 1e-30, 1e-39, 1e-44]
    C = np.concatenate([rng.uniform(-1, 1, size=(4, 5)) * s for s in scales]).astype(np.float32)
    Q = np.concatenate([rng.uniform(-1, 1, size=(3, 5)) * s for s in scales]).astype(np.float32)
    Q[-1] = 0
    Q[-1, 2] = np.finfo(np.float32).smallest_subnormal
    assert np.isfinite(C).all() and np.isfinite(Q).all()
    idx = TwinIndex("cosine").fit(C)
    with ts.threads(1):
        one = idx.search(Q, k=len(C))
    with ts.threads(2):
        two = idx.search(Q, k=len(C))
    np.testing.assert_array_equal(one.rows, two.rows)
    np.testing.assert_array_equal(one.similarities, two.similarities)
    C64, Q64 = C.astype(np.float64), Q.astype(np.float64)
    S = (Q64 / np.linalg.norm(Q64, axis=1, keepdims=True)) @ (C64 / np.linalg.norm(C64, axis=1, keepdims=True)).T
    np.testing.assert_allclose(one.similarities, np.take_along_axis(S, one.rows, axis=1), atol=1e-6)
    check_against(one, S, len(C), tol=1e-6)


def set_jaccard(a, b, vocabulary):
    """Jaccard of two lists of names as sets, an unseen name (outside the vocabulary) distinct from every
    other name: it counts in the union, never in the intersection. Two empty sets: 0."""
    a = {v if v in vocabulary else ("unseen", "a", v) for v in a}
    b = {v if v in vocabulary else ("unseen", "b", v) for v in b}
    union = len(a | b)
    return len(a & b) / union if union else 0.0


@pytest.mark.parametrize("metric", ["jaccard", "mixed"])
def test_unseen_categories_never_match(metric):
    """Every unseen category used to fold into one shared "(other)" bit, so two prospects' different
    unseen categories matched each other (and the clients' unseen ones); now an unseen category counts
    in its set's size and matches nothing."""
    population = pd.DataFrame({"cats": [["a"], ["b"], ["c"], ["a", "b"]]})
    schema = ts.ContactTable.from_pandas(population).schema
    vocabulary = set(schema["cats"].categories)
    clients = pd.DataFrame({"cats": [["a", "b"], ["x"], ["a", "y"], [], ["c"], ["z", "b"]]})
    prospects = pd.DataFrame({"cats": [["x"], ["q"], ["b", "w"], ["a"], ["c", "y"], []]})
    idx = TwinIndex(metric).fit(clients, schema=schema)
    res = idx.search(prospects, k=len(clients))
    S = np.array([[set_jaccard(p, c, vocabulary) for c in clients["cats"]] for p in prospects["cats"]])
    check_against(res, S, len(clients), tol=1e-6)
    # Unseen alone: no twin scores above 0.
    assert (res.similarities[:2] == 0).all()
    # The explanation shares no unseen category, and its contributions add up to the similarity.
    ex = idx.explain(prospects, 4, 2)
    assert ex["contribution"].sum() == pytest.approx(S[4, 2], abs=1e-6)
    if metric == "jaccard":
        other = ex[ex["column"] == "(other)"]
        assert len(other) == 1 and other["contribution"].iloc[0] == 0 and other["similarity"].iloc[0] == 0
    else:
        assert "(other)" not in ex["explanation"].iloc[0].split("shared")[1]


@pytest.mark.parametrize("metric", ["jaccard", "mixed"])
def test_each_unseen_category_counts_in_the_set_size(metric, restore_threads):
    """Several unseen categories in one set used to count as one (they share the "(other)" bit): {a, x, y}
    had size 2. Each now counts (the encoder carries every row's count of distinct unseen categories to the
    engine), as numpy/pandas Jaccard on the sets of names says, for 1 and 2 threads alike; the explanation's
    and the reasons' shares still add up to the similarity."""
    rng = np.random.default_rng(7)
    vocabulary = ["a", "b", "c", "d"]
    schema = ts.ContactTable.from_pandas(pd.DataFrame({"cats": [vocabulary]})).schema
    names = vocabulary + ["u1", "u2", "u3", "u4", "u5"]  # u*: outside the schema

    def draw(n):  # sets of 0-5 names, repeats allowed (a set holds a repeated name once)
        return pd.Series([list(rng.choice(names, size=rng.integers(0, 6))) for _ in range(n)])

    clients = pd.DataFrame({"cats": draw(300)})
    prospects = pd.DataFrame({"cats": draw(200)})
    prospects.loc[0, "cats"] = ["a", "u1", "u2", "u3"]  # size 4, not 2
    clients.loc[0, "cats"] = ["a"]
    S = np.array([[set_jaccard(p, c, set(vocabulary)) for c in clients["cats"]] for p in prospects["cats"]])
    assert S[0, 0] == pytest.approx(1 / 4)
    results = []
    for threads in (1, 2):
        ts.set_num_threads(threads)
        idx = TwinIndex(metric).fit(clients, schema=schema)
        res = idx.search(prospects, k=10)
        check_against(res, S, 10, tol=1e-6)
        results.append(res)
        ex = idx.explain(prospects, 0, 0)
        assert ex.attrs["similarity"] == pytest.approx(0.25, abs=1e-6)
        assert ex["contribution"].sum() == pytest.approx(0.25, abs=1e-6)
    np.testing.assert_array_equal(results[0].rows, results[1].rows)
    np.testing.assert_array_equal(results[0].similarities, results[1].similarities)
    # The row counts the engine reads: distinct unseen names per row (None-safe, repeats once).
    table = ts.ContactTable.from_pandas(prospects, schema=schema)
    want = prospects["cats"].map(lambda v: len({x for x in v if x not in vocabulary})).to_numpy()
    np.testing.assert_array_equal(table.set_unseen("cats"), want)
