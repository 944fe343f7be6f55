"""twinscore.dask: the same results as the local estimators, partition by
partition, index kept, empty partitions handled, on local and distributed
schedulers."""

import pickle

import numpy as np
import pandas as pd
import pytest

import twinscore as ts

dd = pytest.importorskip("dask.dataframe")
tsd = pytest.importorskip("twinscore.dask")
xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(3)
    n = 2_000
    df = pd.DataFrame({"income": rng.normal(50, 10, n), "visits": rng.poisson(3, n).astype(np.float64),
                       "region": pd.Categorical(rng.choice(["north", "south", "west"], n))},
                      index=pd.Index(np.arange(10_000, 10_000 + n), name="contact_id"))
    df.loc[df.index[::11], "income"] = np.nan
    y = ((df["visits"] > 3) ^ (df["region"] == "west")).astype(int).to_numpy()
    return df, y


def partitions(df):
    """Four partitions of 500 rows, the second emptied (as an upstream filter leaves it)."""
    lo, hi = df.index[500], df.index[1000]
    ddf = dd.from_pandas(df, npartitions=4)
    return ddf.map_partitions(lambda p: p[(p.index < lo) | (p.index >= hi)], meta=ddf._meta)


def test_tree_scorer_matches_local(table):
    df, y = table
    model = xgb.XGBClassifier(n_estimators=15, max_depth=3, enable_categorical=True, n_jobs=1).fit(df, y)
    scorer = tsd.DaskTreeScorer.from_xgboost(model)
    ddf = partitions(df)
    got = scorer.predict(ddf).compute()
    local = scorer.to_local()
    part = df[(df.index < df.index[500]) | (df.index >= df.index[1000])]
    np.testing.assert_array_equal(got.to_numpy(), local.predict(part))
    pd.testing.assert_index_equal(got.index, part.index)
    reasons = scorer.top_reasons(ddf, top=2).compute()
    pd.testing.assert_frame_equal(reasons, local.top_reasons(part, top=2))
    assert scorer.predict(df).shape == (len(df),)  # pandas in, the local behaviour


def test_lightgbm_multiclass_columns(table):
    df, _ = table
    y3 = np.random.default_rng(0).integers(0, 3, len(df))
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 5, "verbose": -1},
                        lgb.Dataset(df, y3), 4)
    scorer = tsd.DaskTreeScorer.from_lightgbm(booster)
    got = scorer.predict(dd.from_pandas(df, npartitions=3)).compute()
    assert list(got.columns) == ["score_0", "score_1", "score_2"]
    np.testing.assert_allclose(got.to_numpy(), booster.predict(df), atol=1e-12)


def test_logistic_scorer_matches_local(table):
    df, y = table
    model = tsd.DaskLogisticScorer(C=0.5).fit(dd.from_pandas(df, npartitions=2), dd.from_pandas(pd.Series(y, index=df.index), npartitions=2))
    local = ts.LogisticScorer(C=0.5).fit(df, y)
    np.testing.assert_allclose(model.coef_, local.coef_, rtol=1e-12)
    ddf = partitions(df)
    part = df[(df.index < df.index[500]) | (df.index >= df.index[1000])]
    proba = model.predict_proba(ddf).compute()
    assert list(proba.columns) == ["proba_0", "proba_1"]
    np.testing.assert_allclose(proba.to_numpy(), local.predict_proba(part))
    np.testing.assert_array_equal(model.predict(ddf).compute().to_numpy(), local.predict(part))
    np.testing.assert_allclose(model.decision_function(ddf).compute().to_numpy(), local.decision_function(part))
    pd.testing.assert_frame_equal(model.explain(ddf, top=2).compute(), local.explain(part, top=2),
                                  check_dtype=False)
    assert isinstance(model.to_local(), ts.LogisticScorer)


def test_kmeans_matches_local(table):
    df, _ = table
    X = df[["income", "visits"]].fillna(50.0)
    km = tsd.DaskKMeans(n_clusters=4, random_state=0).fit(dd.from_pandas(X, npartitions=2))
    local = ts.KMeans(n_clusters=4, random_state=0).fit(X)
    np.testing.assert_array_equal(km.cluster_centers_, local.cluster_centers_)
    ddf = dd.from_pandas(X, npartitions=5)
    np.testing.assert_array_equal(km.predict(ddf).compute().to_numpy(), local.predict(X))
    np.testing.assert_allclose(km.transform(ddf).compute().to_numpy(), local.transform(X))


def test_tree_scorer_pickles_as_its_model(table):
    df, y = table
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, enable_categorical=True, n_jobs=1).fit(df, y)
    scorer = ts.TreeScorer.from_xgboost(model)
    again = pickle.loads(pickle.dumps(scorer))
    np.testing.assert_array_equal(again.predict(df), scorer.predict(df))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(ts.TreeScorer(scorer._engine))


def test_bad_input_is_named(table):
    df, y = table
    scorer = tsd.DaskTreeScorer.from_xgboost(
        xgb.XGBClassifier(n_estimators=2, max_depth=2, enable_categorical=True, n_jobs=1).fit(df, y))
    with pytest.raises(TypeError, match="Dask DataFrame"):
        scorer.predict(dd.from_pandas(df["income"], npartitions=2))
    with pytest.raises(KeyError, match="visits"):
        scorer.predict(dd.from_pandas(df.drop(columns="visits"), npartitions=2))  # before any compute


def test_distributed_cluster(table):
    distributed = pytest.importorskip("distributed")
    df, y = table
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, enable_categorical=True, n_jobs=1).fit(df, y)
    scorer = tsd.DaskTreeScorer.from_xgboost(model)
    logit = tsd.DaskLogisticScorer(C=1.0).fit(df, y)
    km = tsd.DaskKMeans(n_clusters=3, random_state=0).fit(df[["income", "visits"]].fillna(50.0))
    ddf = dd.from_pandas(df, npartitions=3)
    # Worker processes: the models and the partitions' arrays travel by pickle.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        got = scorer.predict(ddf).compute()
        p = logit.predict_proba(ddf).compute()
        labels = km.predict(ddf[["income", "visits"]].fillna(50.0)).compute()
    np.testing.assert_array_equal(got.to_numpy(), scorer.predict(df))
    np.testing.assert_allclose(np.asarray(p), logit.to_local().predict_proba(df), rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(labels), km.to_local().predict(df[["income", "visits"]].fillna(50.0)))
