import numpy as np
import pandas as pd
import pytest

import twinscore as ts

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.cluster import KMeans as SKKMeans  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def blobs(n=6000, d=8, k=5, seed=0):
    X, _ = make_blobs(n_samples=n, n_features=d, centers=k, cluster_std=2.5, random_state=seed)
    return X.astype(np.float32)


def _inertia64(X, centers, labels, w=None):
    diff = X.astype(np.float64) - centers.astype(np.float64)[labels]
    d = (diff * diff).sum(axis=1)
    return float(d.sum() if w is None else (w * d).sum())


@pytest.mark.parametrize("k,seed", [(3, 0), (5, 1), (16, 2), (20, 3)])
def test_same_inertia_as_sklearn_from_same_centres(k, seed):
    X = blobs(k=k, seed=seed)
    init = X[np.random.default_rng(seed).choice(len(X), k, replace=False)]
    ours = ts.KMeans(n_clusters=k, init=init, n_init=1, max_iter=300, tol=1e-4).fit(X)
    ref = SKKMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd", max_iter=300, tol=1e-4).fit(X)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-5)
    assert ours.inertia_ == pytest.approx(_inertia64(X, ref.cluster_centers_, ref.labels_), rel=1e-5)
    assert ours.inertia_ == pytest.approx(_inertia64(X, ours.cluster_centers_, ours.labels_), rel=1e-9)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, atol=1e-3)
    assert (ours.labels_ == ref.labels_).mean() > 0.999


def test_same_iterations_as_sklearn_on_overlapping_clusters():
    # 16 centres on 8 overlapping blobs: after many iterations a near tie can
    # resolve differently in float32 (scikit-learn sums the centres in float32,
    # twinscore in float64) and the paths part; the first ones are the same.
    X = blobs(k=8, seed=2)
    init = X[np.random.default_rng(2).choice(len(X), 16, replace=False)]
    for it in (1, 5, 10):
        ours = ts.KMeans(n_clusters=16, init=init, max_iter=it, tol=0.0).fit(X)
        ref = SKKMeans(n_clusters=16, init=init, n_init=1, algorithm="lloyd", max_iter=it, tol=0.0).fit(X)
        np.testing.assert_array_equal(ours.labels_, ref.labels_)
        assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-5)


def test_fixed_iterations_match_sklearn_on_generated_contacts(prm):
    X = ts.ContactTable.from_pandas(prm.prospects[["income", "sex", "age_band", "region", "categories"]]).encode().X
    init = X[:12].copy() + 0.01
    ours = ts.KMeans(n_clusters=12, init=init, max_iter=20, tol=0.0).fit(X)
    ref = SKKMeans(n_clusters=12, init=init, n_init=1, algorithm="lloyd", max_iter=20, tol=0.0).fit(X)
    assert ours.inertia_ == pytest.approx(_inertia64(X, ref.cluster_centers_, ref.labels_), rel=1e-5)
    assert ours.n_iter_ == ref.n_iter_


def test_sample_weight_matches_sklearn(rng):
    X = blobs(n=3000, seed=4)
    w = rng.uniform(0.1, 3.0, len(X))
    init = X[:4].copy()
    ours = ts.KMeans(n_clusters=4, init=init).fit(X, sample_weight=w)
    ref = SKKMeans(n_clusters=4, init=init, n_init=1, algorithm="lloyd").fit(X, sample_weight=w)
    assert ours.inertia_ == pytest.approx(_inertia64(X, ref.cluster_centers_, ref.labels_, w), rel=1e-5)


def test_threads_do_not_change_the_result(restore_threads):
    X = blobs(n=40_000, d=6, k=7, seed=5)
    out = []
    for t in (1, 2):
        with ts.threads(t):
            km = ts.KMeans(n_clusters=7, random_state=3, n_init=2).fit(X)
            mb = ts.MiniBatchKMeans(n_clusters=7, random_state=3, batch_size=1000, max_iter=3).fit(X)
        out.append((km.cluster_centers_, km.labels_, km.inertia_, mb.cluster_centers_))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_kmeanspp_beats_random_and_is_reproducible():
    X = blobs(n=5000, k=8, seed=6)
    a = ts.KMeans(n_clusters=8, random_state=0).fit(X)
    b = ts.KMeans(n_clusters=8, random_state=0).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    r = ts.KMeans(n_clusters=8, init="random", n_init=1, random_state=0, max_iter=1).fit(X)
    assert a.inertia_ < r.inertia_


def test_predict_transform_score():
    X = blobs(n=2000, seed=7)
    km = ts.KMeans(n_clusters=5, random_state=1).fit(X)
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    D = km.transform(X)
    ref = np.sqrt(((X[:, None, :].astype(np.float64) - km.cluster_centers_[None]) ** 2).sum(-1))
    np.testing.assert_allclose(D, ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(D.argmin(1), km.labels_)
    assert km.score(X) == pytest.approx(-km.inertia_)
    np.testing.assert_array_equal(km.fit_predict(X), km.labels_)


def test_estimator_contract():
    km = ts.KMeans(n_clusters=3, random_state=0)
    assert clone(km).get_params() == km.get_params()
    km.set_params(n_clusters=4)
    assert km.n_clusters == 4
    X = blobs(n=500)
    pipe = make_pipeline(StandardScaler(), ts.KMeans(n_clusters=3, random_state=0)).fit(X)
    assert pipe.predict(X).shape == (500,)
    with pytest.raises(NotFittedError):
        ts.KMeans().predict(X)


@pytest.mark.parametrize("est", [ts.KMeans(n_clusters=3, random_state=0),
                                 ts.MiniBatchKMeans(n_clusters=3, random_state=0, batch_size=64)],
                         ids=["KMeans", "MiniBatchKMeans"])
def test_sklearn_estimator_checks(est):
    from sklearn.utils.estimator_checks import check_estimator

    expected = {"check_sample_weight_equivalence_on_dense_data":
                "k-means++ draws differently from weights than from repeated rows (as scikit-learn's KMeans)"}
    check_estimator(est, expected_failed_checks=expected)


def test_minibatch_partial_fit_equals_one_pass_and_approaches_lloyd():
    X = blobs(n=20_000, d=5, k=6, seed=8)
    init = X[:6].copy()
    full = ts.MiniBatchKMeans(n_clusters=6, init=init, batch_size=500, max_iter=1, tol=0.0).fit(X)
    chunked = ts.MiniBatchKMeans(n_clusters=6, init=init, batch_size=500)
    for start in range(0, len(X), 2000):  # chunks are whole batches
        chunked.partial_fit(X[start:start + 2000])
    np.testing.assert_array_equal(full.cluster_centers_, chunked.cluster_centers_)
    assert chunked.counts_.sum() == len(X)
    lloyd = ts.KMeans(n_clusters=6, random_state=0).fit(X)
    mb = ts.MiniBatchKMeans(n_clusters=6, random_state=0, batch_size=1000, max_iter=5).fit(X)
    assert mb.inertia_ <= 1.05 * lloyd.inertia_


@pytest.mark.parametrize("make,exc,match", [
    (lambda X: ts.KMeans(n_clusters=11).fit(X[:10]), ValueError, "larger than the number of rows"),
    (lambda X: ts.KMeans(n_clusters=0).fit(X), ValueError, "n_clusters"),
    (lambda X: ts.KMeans(n_clusters=-2).fit(X), ValueError, "n_clusters"),
    (lambda X: ts.KMeans(n_clusters=2.5).fit(X), TypeError, "n_clusters"),
    (lambda X: ts.KMeans(n_clusters=2, init="nope").fit(X), ValueError, "init"),
    (lambda X: ts.KMeans(n_clusters=2, init=X[:3]).fit(X), ValueError, "init"),
    (lambda X: ts.KMeans(n_clusters=2, tol=-1).fit(X), ValueError, "tol"),
    (lambda X: ts.KMeans(n_clusters=2).fit(X, sample_weight=-np.ones(len(X))), ValueError, "sample_weight"),
    (lambda X: ts.KMeans(n_clusters=2).fit(X).predict(X[:, :2]), ValueError, "features"),
    (lambda X: ts.MiniBatchKMeans(n_clusters=2, batch_size=0).fit(X), ValueError, "batch_size"),
])
def test_bad_input(make, exc, match):
    X = blobs(n=100, d=4)
    with pytest.raises(exc, match=match):
        make(X)


def test_nan_in_features_is_refused():
    X = blobs(n=100, d=4)
    X[7, 2] = np.nan
    with pytest.raises(ValueError, match="row 7, column 2"):
        ts.KMeans(n_clusters=2).fit(X)
    with pytest.raises(ValueError, match="NaN"):
        ts.MiniBatchKMeans(n_clusters=2).partial_fit(X)
    X[7, 2] = np.inf  # the float32 fast path: the engine's own check
    with pytest.raises(ValueError, match="infinite value at row 7, column 2"):
        ts.KMeans(n_clusters=2).fit(X)
    with pytest.raises(ValueError, match="NaN at row 1, column 0"):
        ts.KMeans(n_clusters=2).fit(np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]]))


def test_frames_are_matched_by_column_name():
    """A model fitted on a frame reads later frames by name (pandas, Arrow, polars), never by position."""
    import polars as pl
    import pyarrow as pa

    X = blobs(n=600, d=3, k=3, seed=3)
    df = pd.DataFrame(X, columns=["spend", "visits", "age"])
    km = ts.KMeans(n_clusters=3, random_state=0).fit(df)
    assert list(km.feature_names_in_) == ["spend", "visits", "age"]
    ref = km.predict(X)
    shuffled = df[["age", "spend", "visits"]]
    for frame in (shuffled, pa.Table.from_pandas(shuffled, preserve_index=False), pl.from_pandas(shuffled)):
        np.testing.assert_array_equal(km.predict(frame), ref)
        np.testing.assert_allclose(km.transform(frame), km.transform(X), rtol=1e-6)
    with pytest.raises(KeyError, match=r"lacks the columns \['visits'\]"):
        km.predict(df[["age", "spend"]].assign(other=1.0))
    assert not hasattr(ts.KMeans(n_clusters=3, random_state=0).fit(X), "feature_names_in_")
