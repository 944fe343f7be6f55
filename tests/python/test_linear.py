import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import twinscore as ts
from twinscore import linear


def make_xy(rng, n=4000, d=6):
    X = rng.normal(size=(n, d)).astype(np.float32)
    z = X @ np.linspace(-1, 1, d) - 2.0
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return X, y


def sk_reference(X, y, C, sample_weight=None, class_weight=None, fit_intercept=True, solver="lbfgs"):
    return LogisticRegression(C=C, solver=solver, tol=1e-12, max_iter=10_000, class_weight=class_weight,
                              fit_intercept=fit_intercept).fit(X.astype(np.float64), y, sample_weight=sample_weight)


@pytest.mark.parametrize("C", [0.01, 1.0, 100.0])
def test_coefficients_match_sklearn(rng, C):
    X, y = make_xy(rng)
    ours = ts.LogisticScorer(C=C, standardize=False).fit(X, y)
    ref = sk_reference(X, y, C)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X.astype(np.float64)), atol=1e-6)
    assert (ours.predict(X) == ref.predict(X.astype(np.float64))).mean() > 0.999


def test_weights_and_no_intercept_match_sklearn(rng):
    X, y = make_xy(rng, 3000, 4)
    w = rng.uniform(0.1, 3.0, len(y))
    ours = ts.LogisticScorer(C=0.5, class_weight="balanced", standardize=False).fit(X, y, sample_weight=w)
    # lbfgs stops early on this weighted problem (its objective is scaled by
    # the weight sum): the exact Newton solver is the reference here.
    ref = sk_reference(X, y, 0.5, sample_weight=w, class_weight="balanced", solver="newton-cholesky")
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    ours = ts.LogisticScorer(C=2.0, fit_intercept=False, class_weight={1: 5.0}, standardize=False).fit(X, y)
    ref = sk_reference(X, y, 2.0, class_weight={1: 5.0}, fit_intercept=False, solver="newton-cholesky")
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    assert ours.intercept_[0] == 0.0


def test_contact_table_with_categories_matches_sklearn_on_the_encoded_matrix(prm):
    cols = ["sex", "age_band", "region", "income", "channel", "categories"]
    X = prm.prospects[cols]
    y = prm.prospects["converted"]
    model = ts.LogisticScorer(C=0.3).fit(X, y)
    enc = ts.ContactTable.from_pandas(X).encode()
    assert model.feature_names_ == enc.feature_names
    ref = sk_reference(enc.X, y, 0.3)
    np.testing.assert_allclose(model.coef_, ref.coef_, atol=1e-5)
    # fused scoring == scoring the encoded matrix
    np.testing.assert_allclose(model.decision_function(X),
                               enc.X.astype(np.float64) @ model.coef_[0] + model.intercept_[0], atol=1e-9)
    assert list(model.feature_names_in_) == cols and model.n_features_in_ == len(cols)
    # new data: the fit-time schema, unseen category -> zeros, missing income -> the mean
    new = X.head(3).copy()
    new["region"] = new["region"].astype(str)
    new.loc[new.index[0], "region"] = "Atlantis"
    new.loc[new.index[1], "income"] = np.nan
    z = model.decision_function(new)
    assert np.isfinite(z).all()


def test_explain_gives_the_largest_contributions(prm):
    X = prm.prospects[["sex", "age_band", "income"]]
    model = ts.LogisticScorer().fit(X, prm.prospects["converted"])
    ex = model.explain(X.head(50), top=2)
    assert list(ex.columns) == ["reason_1", "contribution_1", "reason_2", "contribution_2"]
    enc = ts.ContactTable.from_pandas(X).schema.apply(X.head(50), id=None).encode().X
    contrib = enc * model.coef_[0]
    contrib[enc == 0] = -np.inf
    best = np.argmax(contrib, axis=1)
    assert (ex["reason_1"].to_numpy() == np.asarray(model.feature_names_, dtype=object)[best]).all()
    np.testing.assert_allclose(ex["contribution_1"], contrib[np.arange(50), best], rtol=1e-6)
    assert (ex["contribution_1"] >= ex["contribution_2"]).all()


def test_identical_for_one_and_two_threads(rng, restore_threads):
    X, y = make_xy(rng, 20000, 8)
    with ts.threads(1):
        a = ts.LogisticScorer().fit(X, y)
    with ts.threads(2):
        b = ts.LogisticScorer().fit(X, y)
    assert (a.coef_ == b.coef_).all() and a.intercept_[0] == b.intercept_[0]


def test_estimator_contract(rng):
    X, y = make_xy(rng, 500, 3)
    est = ts.LogisticScorer(C=0.5, class_weight="balanced")
    assert clone(est).get_params() == est.get_params()
    est.set_params(C=2.0)
    assert est.C == 2.0
    pipe = make_pipeline(FunctionTransformer(lambda a: a * 2.0), ts.LogisticScorer()).fit(X, y)
    assert pipe.predict_proba(X).shape == (500, 2)
    assert est.fit(X, y) is est
    assert est.n_features_in_ == 3 and not hasattr(est, "feature_names_in_")
    labels = np.where(y == 1, "yes", "no")
    assert set(ts.LogisticScorer().fit(X, labels).predict(X)) <= {"yes", "no"}
    assert 0.0 <= est.score(X, y) <= 1.0


def test_sklearn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(ts.LogisticScorer(), expected_failed_checks={
        "check_sample_weight_equivalence_on_dense_data":
            "the design matrix is float32: weighted and repeated rows differ by ~1e-8",
    })


def test_bad_input(rng):
    X, y = make_xy(rng, 200, 3)
    with pytest.raises(ValueError, match="2 classes|binary"):
        ts.LogisticScorer().fit(X, np.ones(200))
    with pytest.raises(ValueError, match="C must be"):
        ts.LogisticScorer(C=-1).fit(X, y)
    with pytest.raises(ValueError, match="y has 199"):
        ts.LogisticScorer().fit(X, y[:-1])
    with pytest.raises(ValueError, match="infinite"):
        ts.LogisticScorer().fit(np.where(X > 2, np.inf, X), y)
    with pytest.raises(ValueError, match="sample_weight"):
        ts.LogisticScorer().fit(X, y, sample_weight=-np.ones(200))
    with pytest.raises(ValueError, match="class_weight"):
        ts.LogisticScorer(class_weight="heavy").fit(X, y)
    est = ts.LogisticScorer().fit(X, y)
    with pytest.raises(ValueError, match="3 features"):
        est.predict(X[:, :2])
    with pytest.raises(ValueError, match="top"):
        est.explain(X, top=0)
    with pytest.raises(ValueError, match="y holds a missing"):
        ts.LogisticScorer().fit(X, np.where(y == 1, np.nan, 0.0))


def test_plain_matrix_path_equals_the_table_path(rng):
    # A finite float matrix without standardisation is read as it is; the
    # DataFrame (general) path encodes the same float32 values: same fit.
    X, y = make_xy(rng, 3001, 5)
    direct = ts.LogisticScorer(C=0.7, standardize=False).fit(X, y)
    table = ts.LogisticScorer(C=0.7, standardize=False).fit(pd.DataFrame(X, columns=[f"x{j}" for j in range(5)]), y)
    assert (direct.coef_ == table.coef_).all() and direct.intercept_[0] == table.intercept_[0]
    assert direct.feature_names_ == table.feature_names_
    as64 = ts.LogisticScorer(C=0.7, standardize=False).fit(X.astype(np.float64), y)
    assert (as64.coef_ == direct.coef_).all()
    np.testing.assert_allclose(direct.decision_function(X), X.astype(np.float64) @ direct.coef_[0]
                               + direct.intercept_[0], atol=1e-9)
    # NaN takes the general path (imputed by 0, the encoder's fill), as before
    Xn = X.copy()
    Xn[3, 1] = np.nan
    got = ts.LogisticScorer(C=0.7, standardize=False).fit(Xn, y)
    ref = ts.LogisticScorer(C=0.7, standardize=False).fit(np.nan_to_num(Xn, nan=0.0), y)
    np.testing.assert_allclose(got.coef_, ref.coef_, atol=1e-12)
    with pytest.raises(ValueError, match="infinite"):
        ts.LogisticScorer(standardize=False).fit(np.where(X > 2, np.inf, X), y)


@pytest.mark.parametrize("labels", [(0, 1), (False, True), (3, 4), (-1, 0), (0, 2), (1, 3)])
@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint8, bool])
def test_class_labels_as_numpy_unique(rng, labels, dtype):
    # Two integer labels one apart skip the sort; others go through np.unique.
    if dtype is bool and labels != (False, True):
        return
    if dtype is np.uint8 and min(labels) < 0:
        return
    y = np.where(rng.random(500) < 0.3, labels[1], labels[0]).astype(dtype)
    classes, y01 = linear._classes(y)
    ref_classes, ref_y01 = np.unique(y, return_inverse=True)
    assert classes.dtype == ref_classes.dtype and (classes == ref_classes).all()
    assert (y01 == ref_y01).all()


def test_plain_matrix_with_inf_or_nan_late_in_the_rows(rng):
    # The engine finds them in its first pass; NaN falls back to imputation.
    X, y = make_xy(rng, 5000, 4)
    Xn = X.copy()
    Xn[4999, 3] = np.nan
    got = ts.LogisticScorer(standardize=False).fit(Xn, y)
    ref = ts.LogisticScorer(standardize=False).fit(np.nan_to_num(Xn, nan=0.0), y)
    np.testing.assert_allclose(got.coef_, ref.coef_, atol=1e-12)
    Xi = X.copy()
    Xi[4321, 0] = -np.inf
    with pytest.raises(ValueError, match="infinite"):
        ts.LogisticScorer(standardize=False).fit(Xi, y)


def test_coefficients_and_reasons_carry_the_right_names(rng):
    """Names checked against a refit by name: scikit-learn on a design built
    independently with pandas (numeric after categorical columns, shuffled)."""
    n = 3000
    df = pd.DataFrame({"visits": rng.poisson(3, n).astype(float), "region": rng.choice(["n", "s", "w"], n),
                       "age": rng.normal(40, 10, n), "channel": rng.choice(["web", "shop"], n)})
    z = 0.8 * (df["region"] == "s") - 1.2 * (df["channel"] == "shop") + 0.05 * (df["age"] - 40) + 0.3 * df["visits"]
    y = (rng.random(n) < 1 / (1 + np.exp(-(z - 1.5)))).astype(int)
    model = ts.LogisticScorer(C=10.0).fit(df, y)
    num = df[["visits", "age"]]
    design = pd.concat([(num - num.mean()) / num.std(ddof=0),
                        pd.get_dummies(df[["region", "channel"]], prefix_sep="=").astype(float)], axis=1)
    ref = LogisticRegression(C=10.0, tol=1e-12, max_iter=10_000).fit(design.to_numpy(), y)
    ref_by_name = dict(zip(design.columns, ref.coef_[0]))
    ours_by_name = dict(zip(model.feature_names_, model.coef_[0]))
    assert set(ours_by_name) == set(ref_by_name)
    for name, coef in ref_by_name.items():
        assert ours_by_name[name] == pytest.approx(coef, abs=2e-4), name
    why = model.explain(df.iloc[:200], top=1)
    # The top reason of each contact is its largest non-zero coef x encoded
    # value (the strongest push towards conversion), computed by name.
    contrib = design.iloc[:200].mul(pd.Series(ref_by_name))
    expected = contrib.where(design.iloc[:200] != 0).idxmax(axis=1)
    assert (why["reason_1"].to_numpy() == expected.to_numpy()).mean() > 0.98


def test_pickled_arrays_and_parallel_cross_validation(rng):
    """Arrays that went through pickle (process workers, read_pickle) are read as any other."""
    import pickle

    from sklearn.model_selection import GridSearchCV, cross_val_score

    X, y = make_xy(rng, n=600, d=4)
    df = pd.DataFrame(X.astype(np.float64), columns=list("abcd"))
    df_back = pickle.loads(pickle.dumps(df))
    a = ts.LogisticScorer().fit(df, y)
    b = ts.LogisticScorer().fit(df_back, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    scores = cross_val_score(ts.LogisticScorer(), df, y, cv=3, n_jobs=2)
    serial = cross_val_score(ts.LogisticScorer(), df, y, cv=3, n_jobs=1)
    np.testing.assert_allclose(scores, serial)
    grid = GridSearchCV(ts.LogisticScorer(), {"C": [0.1, 1.0]}, cv=3, n_jobs=2).fit(X.astype(np.float64), y)
    assert grid.best_params_["C"] in (0.1, 1.0)


def test_polars_and_arrow_frames_are_read_by_name(rng):
    import polars as pl
    import pyarrow as pa

    n = 500
    df = pd.DataFrame({"x": rng.normal(size=n), "band": rng.choice(["a", "b", "c"], n), "z": rng.normal(size=n)})
    y = (df["x"] + (df["band"] == "b") + rng.normal(size=n) > 0.5).astype(int)
    ref = ts.LogisticScorer().fit(df, y)
    p = ref.predict_proba(df)
    shuffled = df[["z", "band", "x"]]
    for frame in (pl.from_pandas(shuffled), pa.Table.from_pandas(shuffled, preserve_index=False)):
        np.testing.assert_allclose(ref.predict_proba(frame), p, rtol=1e-6)
    fitted_on_polars = ts.LogisticScorer().fit(pl.from_pandas(df), y)
    assert list(fitted_on_polars.feature_names_in_) == ["x", "band", "z"]
    np.testing.assert_allclose(fitted_on_polars.coef_, ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(fitted_on_polars.predict_proba(pl.from_pandas(shuffled)), p, rtol=1e-6)
    with pytest.raises(KeyError, match="band"):
        ref.predict(pl.from_pandas(df[["x", "z"]]))


def test_explain_caps_top_at_the_number_of_features(rng):
    X, y = make_xy(rng, n=300, d=3)
    why = ts.LogisticScorer().fit(X, y).explain(X[:5], top=10**6)
    assert list(why.columns) == [f"{k}_{t}" for t in (1, 2, 3) for k in ("reason", "contribution")]
