"""The lookalike score against a reference population (issue 19): the reference
score against numpy brute force (mixed, dense and Jaccard metrics, blocked,
weighted), the learnt weights against an independent information value, the
items the twins bought against a pandas join, the reasons, bad input, and the
figures reached on the UCI Online Shoppers sessions."""

import time

import numpy as np
import pandas as pd
import pytest
from test_twins import FEATURES, check_against, dense_scores, gower_reference, jaccard_scores, shoppers_path

import twinscore as ts
from twinscore.twins import TwinIndex


@pytest.fixture(scope="module")
def market():
    d = ts.datasets.make_prm(n_prospects=900, n_clients=220, seed=5)
    cols = [*FEATURES, "device", "household_size"]
    clients = d.clients[["client_id", *cols, "margin"]].copy()
    contacts = d.prospects[["contact_id", *cols]].copy()
    clients.loc[clients.index[::9], "region"] = None
    contacts.loc[contacts.index[::13], "categories"] = None
    # The prospects scored are the first 300 contacts; the reference all of them.
    return clients, contacts.iloc[:300].reset_index(drop=True), contacts


def top_mean(S, k, allowed=None):
    """Mean of each row's k largest entries among the allowed ones (an absent one counts 0)."""
    S = np.where(allowed, S, -np.inf) if allowed is not None else S
    best = -np.sort(-S, axis=1)[:, :k]
    return np.where(np.isfinite(best), best, 0.0).sum(axis=1) / k


# -- the reference score against brute force ------------------------------------------


@pytest.mark.parametrize("block_on", [None, ["sex"], ["sex", "age_band"]])
@pytest.mark.parametrize("k", [1, 10])
def test_mixed_reference_score_is_exact(market, block_on, k, restore_threads):
    clients, prospects, contacts = market
    idx = TwinIndex(block_on=block_on, exclude=["channel"], prospect_tile=16, client_tile=64)
    idx.fit(clients, id="client_id", value="margin", population=contacts)
    assert idx.n_reference_ == len(clients) and idx.numeric_scale_learnt_on_ == "population"
    with ts.threads(1):
        one = idx.search(prospects, k=k, id="contact_id")
    with ts.threads(2):
        two = idx.search(prospects, k=k, id="contact_id")
    for name in ("rows", "similarities", "reference_rows", "reference_similarities", "reference_score"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))
    # Clients and the reference sample against the Gower reference with the learnt weights and the
    # population's ranks; the reference's k' = k (a sample as large as the clients).
    S, allowed = gower_reference(idx, clients, prospects, scale_on=contacts)
    check_against(one, S, k, allowed=allowed, tol=1e-5)
    sample = contacts.iloc[idx.reference_sample_].reset_index(drop=True)
    R, r_allowed = gower_reference(idx, sample, prospects, scale_on=contacts)
    assert one.k_reference == k
    np.testing.assert_allclose(one.reference_similarity, top_mean(R, k, r_allowed), atol=1e-5)
    np.testing.assert_allclose(one.reference_score, top_mean(S, k, allowed) - top_mean(R, k, r_allowed), atol=1e-5)
    found = one.reference_rows >= 0
    got = np.take_along_axis(R, np.searchsorted(idx.reference_sample_, np.maximum(one.reference_rows, 0)), axis=1)
    np.testing.assert_allclose(np.where(found, one.reference_similarities, 0), np.where(found, got, 0), atol=1e-5)
    # Value: the twins' value-weighted similarity, minus the mean value times the reference similarity.
    np.testing.assert_allclose(one.value_reference_score,
                               one.value_score - clients["margin"].mean() * one.reference_similarity, rtol=1e-9)


@pytest.mark.parametrize("metric", ["cosine", "inner_product", "sqeuclidean"])
def test_dense_reference_score_is_exact_with_learnt_weights(rng, metric, restore_threads):
    R = rng.normal(size=(900, 6)).astype(np.float32)
    R[:, 5] = rng.random(900) < 0.3  # a 0/1 feature
    C = (rng.normal(size=(150, 6)) + [1.0, 0.5, 0, 0, 0, 0.4]).astype(np.float32)
    C[:, 5] = rng.random(150) < 0.7
    Q = rng.normal(size=(200, 6)).astype(np.float32)
    idx = TwinIndex(metric, weights="auto", reference_size="all").fit(C, reference=R)
    w = np.array(list(idx.weights_.values()))
    assert w[0] > w[1] > max(w[2:5]) and w[5] > max(w[2:5])  # the shifted features count more
    with ts.threads(1):
        one = idx.search(Q, k=10)
    with ts.threads(2):
        two = idx.search(Q, k=10)
    np.testing.assert_array_equal(one.reference_score, two.reference_score)
    scale = np.sqrt(w.astype(np.float32))
    to_sim = (lambda d: 1 / (1 + d)) if metric == "sqeuclidean" else (lambda s: s)
    S = to_sim(dense_scores(Q * scale, C * scale, metric))
    T = to_sim(dense_scores(Q * scale, R * scale, metric))
    kr = round(10 * 900 / 150)
    assert one.k_reference == kr
    np.testing.assert_allclose(one.reference_score, top_mean(S, 10) - top_mean(T, kr), atol=2e-4)


def test_weighted_jaccard_reference_score_and_category_weights(rng):
    R = rng.random((800, 30)) < 0.15
    C = rng.random((120, 30)) < 0.15
    C[:, :3] |= rng.random((120, 3)) < 0.5  # categories 0-2 set the clients apart
    Q = rng.random((150, 30)) < 0.2
    idx = TwinIndex("weighted_jaccard").fit(C, reference=R)  # weights learnt by default with a reference
    w = np.array(list(idx.weights_.values()))
    assert w[:3].min() > 3 * np.median(w[3:])
    res = idx.search(Q, k=5)
    kr = res.k_reference
    assert kr == idx._k_reference(5) and idx.n_reference_ == 120
    sample = R[idx.reference_sample_]
    expected = top_mean(jaccard_scores(Q, C, w), 5) - top_mean(jaccard_scores(Q, sample, w), kr)
    np.testing.assert_allclose(res.reference_score, expected, atol=1e-5)


def test_reference_sample_size_and_k_reference(market):
    clients, prospects, contacts = market
    clients = clients.drop(columns="margin")
    n = len(contacts)
    for size, expect in ((None, len(clients)), (50, 50), ("all", n), (10 * n, n)):
        idx = TwinIndex(reference_size=size, random_state=3).fit(clients, id="client_id", population=contacts)
        assert idx.n_reference_ == expect
        rows = idx.reference_sample_
        assert len(np.unique(rows)) == expect and (np.diff(rows) > 0).all() and rows.max() < n
        assert idx._k_reference(10) == max(1, int(np.floor(10 * expect / len(clients) + 0.5)))
    a = TwinIndex(random_state=1).fit(clients, id="client_id", population=contacts)
    b = TwinIndex(random_state=1).fit(clients, id="client_id", population=contacts)
    c = TwinIndex(random_state=2).fit(clients, id="client_id", population=contacts)
    np.testing.assert_array_equal(a.reference_sample_, b.reference_sample_)
    assert not np.array_equal(a.reference_sample_, c.reference_sample_)


# -- learnt weights against an independent information value ----------------------------


def information_value(client_bins: pd.Series, reference_bins: pd.Series) -> tuple[float, int]:
    """IV (smoothing 0.5 per non-empty bin) and non-empty bins, from value counts."""
    pc, pr = client_bins.value_counts(dropna=False), reference_bins.value_counts(dropna=False)
    bins = pc.index.union(pr.index)
    pc, pr = pc.reindex(bins, fill_value=0), pr.reindex(bins, fill_value=0)
    B = len(bins)
    dp = (pc + 0.5) / (pc.sum() + 0.5 * B)
    dn = (pr + 0.5) / (pr.sum() + 0.5 * B)
    return float(((dp - dn) * np.log(dp / dn)).sum()), B


def saturated(iv, B, P, N):
    v = max(iv - (B - 1) * (1 / P + 1 / N), 0.0)
    return v / (v + 0.1)


def test_learnt_weights_are_the_saturated_debiased_information_value(market):
    clients, _, contacts = market
    idx = TwinIndex().fit(clients, id="client_id", value="margin", population=contacts)
    P, N = len(clients), len(contacts)
    for col in ("sex", "age_band", "region", "channel", "device"):  # categories (missing is a bin)
        iv, B = information_value(clients[col].astype(object).fillna("?"), contacts[col].astype(object).fillna("?"))
        assert idx.weights_[col] == pytest.approx(saturated(iv, B, P, N), abs=1e-9), col
    for col in ("income", "household_size"):  # pandas.qcut deciles of the reference, or one bin per value
        ref = contacts[col].to_numpy(float)
        present = np.unique(ref[~np.isnan(ref)])
        if len(present) <= 10:
            edges = np.r_[-np.inf, (present[:-1] + present[1:]) / 2, np.inf]
        else:
            edges = np.unique(np.quantile(ref[~np.isnan(ref)], np.linspace(0, 1, 11)))
            edges[0], edges[-1] = -np.inf, np.inf
        cut = lambda x: pd.Series(pd.cut(x, edges, right=True, labels=False)).fillna(-1)  # noqa: E731
        iv, B = information_value(cut(clients[col].to_numpy(float)), cut(ref))
        assert idx.weights_[col] == pytest.approx(saturated(iv, B, P, N), abs=1e-9), col
    # A category set: each member has it / has not, debiased, added up, then saturated.
    cats = list(idx.schema_["categories"].categories)
    held = lambda s: np.array([[isinstance(v, (list, np.ndarray)) and c in set(v) for c in cats]  # noqa: E731
                               for v in s.astype(object)])
    hc, hr = held(clients["categories"]), held(contacts["categories"])
    total = 0.0
    for j in range(len(cats)):
        iv, B = information_value(pd.Series(hc[:, j]), pd.Series(hr[:, j]))
        total += max(iv - (B - 1) * (1 / P + 1 / N), 0.0)
    assert idx.weights_["categories"] == pytest.approx(total / (total + 0.1), abs=1e-9)
    assert idx.column_contrast_["categories"].labels[:len(cats)] == cats


def test_learnt_weights_ignore_the_noise_columns_of_the_generated_market():
    d = ts.datasets.make_prm(40_000, 1_000, seed=4)
    p = d.prospects
    cols = ["sex", "age_band", "region", "income", "channel", *ts.datasets.NOISE_COLUMNS, "categories"]
    converted = p[p["converted"] == 1][cols]
    idx = TwinIndex().fit(converted, population=p[cols])
    for col in ts.datasets.NOISE_COLUMNS + ["channel"]:
        assert idx.weights_[col] < 0.1, (col, idx.weights_[col])
    assert idx.weights_["categories"] > 0.5 and idx.weights_["age_band"] > 0.2


def test_learnt_weights_fit_fast_on_a_large_reference(rng):
    n = 100_000
    cols = {f"x{j}": rng.lognormal(size=n) for j in range(10)}
    cols |= {f"c{j}": rng.choice(list("abcdefgh"), size=n) for j in range(10)}
    reference = pd.DataFrame(cols)
    clients = reference.sample(2_000, random_state=0)
    schema = ts.ContactTable.from_pandas(reference).schema
    c_tab, r_tab = schema.apply(clients, id=None), schema.apply(reference, id=None)
    from twinscore import _lookalike
    _lookalike.contrast(c_tab, r_tab, list(cols), 2)  # warm-up
    t0 = time.perf_counter()
    found = _lookalike.contrast(c_tab, r_tab, list(cols), 2)
    secs = time.perf_counter() - t0
    assert len(found) == 20 and secs < 1.0, secs  # 0.1-0.2 s here; the issue asks < 1 s


def test_weights_auto_of_an_index_without_reference_is_refused(market):
    clients, _, contacts = market
    with pytest.raises(ValueError, match=r"weights='auto'.*reference=contacts"):
        TwinIndex(weights="auto").fit(clients, id="client_id")
    with pytest.raises(ValueError, match="weights must be 'auto'"):
        TwinIndex(weights="learnt").fit(clients, id="client_id", population=contacts)
    with pytest.raises(ValueError, match="'jaccard' takes no weights"):
        TwinIndex("jaccard", weights="auto").fit(clients, id="client_id", population=contacts)
    # Without a reference the default weights are 1 each; given ones are kept with one.
    assert set(TwinIndex().fit(clients, id="client_id").weights_.values()) == {1.0}
    given = TwinIndex(weights={"income": 3.0}).fit(clients, id="client_id", value="margin", population=contacts)
    assert given.weights_["income"] == 3.0 and given.weights_["sex"] == 1.0


# -- scores, audience and reasons --------------------------------------------------------


def test_expand_ranks_by_the_reference_score(market):
    clients, prospects, contacts = market
    idx = TwinIndex(block_on=["sex"]).fit(clients, id="client_id", value="margin", population=contacts)
    res = idx.search(prospects, k=10, id="contact_id")
    aud = idx.expand(prospects, n=30, id="contact_id")
    order = np.lexsort((np.arange(len(res)), -res.value_reference_score))[:30]
    np.testing.assert_array_equal(aud["prospect_id"], res.prospect_ids[order])
    aud = idx.expand(prospects, n=30, id="contact_id", by="reference")
    assert aud["reference_score"].is_monotonic_decreasing
    lk = idx.lookalike_score(prospects, id="contact_id")
    assert lk.name == "value_reference_score"
    np.testing.assert_allclose(lk.to_numpy(), res.value_reference_score)
    assert list(res.scores().columns) == ["prospect_id", "twins", "score", "value_score", "reference_score",
                                          "value_reference_score"]
    plain = TwinIndex().fit(clients, id="client_id", value="margin")
    with pytest.raises(ValueError, match="by='reference' needs a reference"):
        plain.expand(prospects, n=3, id="contact_id", by="reference")
    assert plain.search(prospects, id="contact_id").reference_score is None


def test_expand_without_a_reference_takes_the_prospects_as_reference(market):
    clients, prospects, _ = market
    idx = TwinIndex(block_on=["sex"], random_state=4).fit(clients, id="client_id", value="margin")
    assert idx.reference_index_ is None
    aud = idx.expand(prospects, fraction=1.0, id="contact_id", k=5)
    assert idx.reference_index_ is None  # the index itself is unchanged
    sample = np.sort(np.random.default_rng(4).choice(len(prospects), len(clients), replace=False))
    S, allowed = gower_reference(idx, clients, prospects)
    R, r_allowed = gower_reference(idx, prospects.iloc[sample].reset_index(drop=True), prospects,
                                   scale_on=clients)
    expected = pd.Series(top_mean(S, 5, allowed) - top_mean(R, 5, r_allowed), index=prospects["contact_id"])
    got = aud.set_index("prospect_id")["reference_score"]
    np.testing.assert_allclose(got.to_numpy(), expected.loc[got.index].to_numpy(), atol=1e-5)
    assert aud["value_reference_score"].is_monotonic_decreasing


@pytest.mark.parametrize("metric", ["mixed", "cosine", "inner_product", "weighted_jaccard"])
def test_reasons_split_the_reference_score(market, metric):
    clients, prospects, contacts = market
    cols = ["client_id", "categories", "margin"] if metric == "weighted_jaccard" else list(clients.columns)
    idx = TwinIndex(metric, block_on=None if metric == "weighted_jaccard" else ["sex"])
    idx.fit(clients[cols], id="client_id", value="margin", population=contacts)
    side, ids, table = idx._prospect_side(prospects, "contact_id")
    res = idx._search_side(side, ids, 10)
    names, shares = idx._reason_shares(side, res)
    # Pairs scored again, column by column, add up to the searches' scores.
    np.testing.assert_allclose(shares.sum(axis=1), res.reference_score, atol=2e-5)
    why = idx.reasons(prospects, top=3, id="contact_id")
    np.testing.assert_allclose(why["reference_score"], res.reference_score)
    contrib = why[["contribution_1", "contribution_2", "contribution_3"]].to_numpy()
    assert (np.nan_to_num(contrib) >= 0).all()
    assert (np.diff(np.nan_to_num(contrib, nan=-1), axis=1) <= 0).all()
    for i in np.flatnonzero(why["reason_1"].notna())[:20]:  # each reason's share is the prospect's
        j = names.index(why["reason_1"].iloc[i])
        assert why["contribution_1"].iloc[i] == pytest.approx(shares[i, j])
        assert why["why"].iloc[i].startswith("resembles clients more than the population on: ")
        assert "as common among clients" in why["why"].iloc[i]
    assert why["reason_1"].notna().any()


def test_reasons_name_over_represented_values(market):
    clients, prospects, contacts = market
    idx = TwinIndex(block_on=["sex"]).fit(clients, id="client_id", value="margin", population=contacts)
    why = idx.reasons(prospects, top=2, id="contact_id")
    for i in np.flatnonzero(why["reason_1"] == "age_band")[:10]:
        band = str(prospects["age_band"].iloc[i])
        lift = (clients["age_band"] == band).mean() / (contacts["age_band"] == band).mean()
        assert lift > 1.05 and f"age band {band} (" in why["why"].iloc[i]  # >= 1.1 once smoothed
    with pytest.raises(ValueError, match="reference"):
        TwinIndex().fit(clients, id="client_id").reasons(prospects, id="contact_id")
    with pytest.raises(ValueError, match="sqeuclidean"):
        TwinIndex("sqeuclidean").fit(clients.drop(columns="margin"), id="client_id",
                                     population=contacts).reasons(prospects, id="contact_id")


# -- what the twins bought ------------------------------------------------------------------


def recommend_by_join(res, purchases: pd.DataFrame, top: int, values=None, weight=None) -> pd.DataFrame:
    """The recommendation oracle: every (prospect, twin) joined to the twin's purchases in pandas."""
    pairs = res.to_pandas()
    pairs["t"] = np.clip(pairs["similarity"].astype(float), 0, None)
    if values is not None:
        pairs["t"] *= pairs["client_id"].map(values)
    total = pairs.groupby("prospect_id")["t"].sum()
    q = purchases.groupby(["client_id", "item"])[weight].sum() if weight else \
        purchases.drop_duplicates(["client_id", "item"]).set_index(["client_id", "item"]).assign(one=1.0)["one"]
    q = q.rename("q").reset_index()
    joined = pairs.merge(q, on="client_id")
    joined["tq"] = joined["t"] * joined["q"]
    joined = joined[joined["t"] > 0]
    agg = joined.groupby(["prospect_id", "item"]).agg(score=("tq", "sum"), twins=("client_id", "size")).reset_index()
    agg["score"] /= agg["prospect_id"].map(total)
    agg = agg.sort_values(["prospect_id", "score", "item"], ascending=[True, False, True], kind="stable")
    agg["rank"] = agg.groupby("prospect_id").cumcount() + 1
    return agg[agg["rank"] <= top].reset_index(drop=True)


def test_recommend_matches_a_pandas_join(market, rng):
    clients, prospects, contacts = market
    idx = TwinIndex(block_on=["sex"]).fit(clients, id="client_id", value="margin", population=contacts)
    res = idx.search(prospects, k=10, id="contact_id")
    ids = clients["client_id"].to_numpy()
    items = [f"p{j}" for j in range(40)]
    purchases = pd.DataFrame({"client_id": rng.choice(ids, 3000), "item": rng.choice(items, 3000),
                              "amount": rng.gamma(2.0, 30.0, 3000)})
    unknown = pd.DataFrame({"client_id": [-7], "item": ["p0"], "amount": [5.0]})  # a client not in the index
    purchases = pd.concat([purchases, unknown])
    margin = clients.set_index("client_id")["margin"]
    for by, weight, values in (("similarity", None, None), ("value", None, margin), ("auto", "amount", margin)):
        got = res.recommend(purchases, top=4, item="item", weight=weight, by=by)
        ref = recommend_by_join(res, purchases, 4, values, weight)
        assert list(got["prospect_id"]) == list(ref["prospect_id"]) and list(got["item"]) == list(ref["item"])
        np.testing.assert_allclose(got["score"], ref["score"], rtol=1e-9)
        np.testing.assert_array_equal(got["twins"], ref["twins"])
        np.testing.assert_array_equal(got["rank"], ref["rank"])
    # Lists of items per client (what the generated clients bought) give the share of twins who bought each.
    lists = clients.set_index("client_id")["categories"]
    got = res.recommend(lists, top=3, by="similarity")
    long = lists.map(lambda v: list(v) if v is not None else []).explode().dropna().rename("item").reset_index()
    ref = recommend_by_join(res, long, 3)
    assert list(got["item"]) == list(ref["item"])
    np.testing.assert_allclose(got["score"], ref["score"], rtol=1e-9)
    assert got["score"].between(0, 1).all()


def test_recommend_bad_input(market):
    clients, prospects, contacts = market
    res = TwinIndex().fit(clients.drop(columns="margin"), id="client_id", population=contacts).search(
        prospects, id="contact_id")
    log = pd.DataFrame({"client_id": clients["client_id"], "item": "x", "amount": 1.0})
    with pytest.raises(ValueError, match="item="):
        res.recommend(log)
    with pytest.raises(KeyError, match="customer"):
        res.recommend(log, client="customer", item="item")
    with pytest.raises(ValueError, match="finite values >= 0"):
        res.recommend(log.assign(amount=-1.0), item="item", weight="amount")
    with pytest.raises(ValueError, match="by='value' needs"):
        res.recommend(log, item="item", by="value")
    with pytest.raises(ValueError, match="none of its client ids"):
        res.recommend(log.assign(client_id=-1), item="item")
    with pytest.raises(TypeError, match="client_items must be"):
        res.recommend([1, 2, 3])
    with pytest.raises(ValueError, match="top must be >= 1"):
        res.recommend(log, top=0, item="item")


# -- bad input --------------------------------------------------------------------------


def test_reference_bad_input(market, rng):
    clients, prospects, contacts = market
    with pytest.raises(ValueError, match="reference: the contact table is empty"):
        TwinIndex().fit(clients, id="client_id", value="margin", reference=contacts.iloc[:0])
    with pytest.raises(ValueError, match="reference: the contact table is empty"):
        TwinIndex().fit(clients, id="client_id", value="margin", schema=ts.Schema.learn(contacts),
                        reference=contacts.iloc[:0])
    with pytest.raises(KeyError, match=r"reference has no column \['income'\]"):
        TwinIndex().fit(clients, id="client_id", value="margin", reference=contacts.drop(columns="income"))
    with pytest.raises(KeyError, match=r"reference has no column \['income'\]"):
        TwinIndex().fit(clients, id="client_id", value="margin", schema=ts.Schema.learn(contacts),
                        reference=contacts.drop(columns="income"))
    with pytest.raises(TypeError, match="reference must be a table"):
        TwinIndex().fit(clients, id="client_id", value="margin", reference=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="the reference has 3 features, the clients have 4"):
        TwinIndex("cosine").fit(rng.normal(size=(20, 4)), reference=rng.normal(size=(30, 3)))
    with pytest.raises(TypeError, match="give the reference as a matrix"):
        TwinIndex("cosine").fit(rng.normal(size=(20, 4)), reference=contacts)
    with pytest.raises(ValueError, match="numeric_scale must be"):
        TwinIndex(numeric_scale="log").fit(clients, id="client_id")
    with pytest.raises(ValueError, match="reference_size must be >= 1"):
        TwinIndex(reference_size=0).fit(clients, id="client_id", population=contacts)
    with pytest.raises(TypeError, match="reference_size must be an integer"):
        TwinIndex(reference_size="half").fit(clients, id="client_id", population=contacts)
    # A reference alone also learns the encoding.
    idx = TwinIndex().fit(clients, id="client_id", value="margin", reference=contacts)
    assert idx.schema_learnt_on_ == "reference" and idx.numeric_scale_learnt_on_ == "reference"


# -- the figures on real data --------------------------------------------------------------


def shoppers_split():
    from sklearn.model_selection import train_test_split
    df = pd.read_csv(shoppers_path(), sep=";")
    y = df.pop("Revenue").to_numpy()
    train, test = train_test_split(df, test_size=0.3, stratify=y, random_state=0)
    return train, test, y[train.index], y[test.index]


def test_online_shoppers_reference_score_reaches_the_targets():
    """Issue 19's targets: AUC >= 0.85 and top-decile lift >= 4.0 for the default index
    (logistic regression: 0.902 / 4.77; FAISS-style cosine twins: 0.751 / 2.88)."""
    train, test, y_train, y_test = shoppers_split()
    res = TwinIndex().fit(train[y_train], population=train).search(test, k=10)
    auc, lift = ts.metrics.roc_auc(y_test, res.reference_score), ts.lift_at(res.reference_score, y_test, 0.1)
    assert auc >= 0.90 and lift >= 4.0, (auc, lift)  # 0.915 / 4.22 when written
    assert ts.metrics.roc_auc(y_test, res.score) > 0.75  # the plain score with the default index: never below random
    # The learnt weights do the work on the Gower metric of old (range-scaled numbers): 0.62 plain, 0.86 with them.
    old = TwinIndex(numeric_scale="range", weights=None).fit(train[y_train], population=train).search(test, k=10)
    assert ts.metrics.roc_auc(y_test, old.reference_score) > 0.84


def market_split(n: int, seed: int):
    """The generated market as issue 19 measures it: the prospects' profile (noise columns
    included) and behaviour, a stratified 70/30 split, the converted training contacts as clients."""
    from sklearn.model_selection import train_test_split
    d = ts.datasets.make_prm(n, 100, seed=seed)
    p = d.prospects
    behaviour = ts.events.behaviour_features(ts.events.aggregate(d.events, p, now=d.now, half_life_days=30))
    cols = ["sex", "age_band", "region", "income", "channel", *ts.datasets.NOISE_COLUMNS, "categories"]
    X = pd.concat([p[cols].reset_index(drop=True),
                   behaviour[[c for c in behaviour.columns if c.startswith("decayed_")] + ["recency_days"]]
                   .reset_index(drop=True)], axis=1)
    y = p["converted"].to_numpy()
    train, test = train_test_split(X, test_size=0.3, stratify=y, random_state=0)
    return train, test, y[train.index], y[test.index]


def test_generated_market_reference_score_approaches_the_logistic_scorer():
    train, test, y_train, y_test = market_split(30_000, 0)
    schema = ts.ContactTable.from_pandas(train).schema
    model = ts.LogisticScorer().fit(schema.apply(train, id=None).encode().X, y_train)
    logistic = ts.metrics.roc_auc(y_test, model.predict_proba(schema.apply(test, id=None).encode().X)[:, 1])
    res = TwinIndex().fit(train[y_train == 1], population=train).search(test, k=10)
    ours, plain = ts.metrics.roc_auc(y_test, res.reference_score), ts.metrics.roc_auc(y_test, res.score)
    assert ours >= logistic - 0.03 and ours > plain > 0.5, (ours, plain, logistic)
