"""Categorical tree models against xgboost and lightgbm, bit for bit.

The usual CRM model: a few numeric columns and categorical ones of 2 to 120
categories (sets spanning up to two 64-bit words), XGBoost with
enable_categorical (partition and one-hot splits, shallow and deep trees) and
LightGBM with categorical_feature. Rows carry missing, unseen (past the
model's categories), negative and fractional category values; both input
precisions, 1 and 2 threads, every SIMD level this CPU runs (the vector walks
read the categories as codes, the baseline walks the nodes).
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import twinscore as ts
from twinscore import _core

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

N_NUM = 4
CAT_K = (2, 7, 70, 120)
COLS = [f"x{i}" for i in range(N_NUM)] + [f"c{j}" for j in range(len(CAT_K))]


def make_data(n=4000, seed=0):
    """Numeric columns with 5 % NaN and integer category codes with 5 % NaN,
    a target that depends on every category through random effects."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, len(COLS)))
    X[:, :N_NUM] = rng.normal(size=(n, N_NUM))
    logit = X[:, 0] - 0.5 * X[:, 1] * X[:, 2]
    for j, k in enumerate(CAT_K):
        codes = rng.integers(0, k, n)
        logit = logit + rng.normal(scale=1.5, size=k)[codes]
        X[:, N_NUM + j] = codes
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (logit + rng.logistic(size=n) > 0).astype(int)
    return X, y


def frame(X):
    """The rows as a DataFrame: the categorical columns as pandas categoricals of 0 .. k-1."""
    df = pd.DataFrame(X[:, :N_NUM], columns=COLS[:N_NUM])
    for j, k in enumerate(CAT_K):
        col = X[:, N_NUM + j]
        codes = np.where(np.isnan(col), -1, col).astype(int)
        df[COLS[N_NUM + j]] = pd.Categorical.from_codes(codes, categories=list(range(k)))
    return df


def odd_rows(n, seed):
    """Rows whose categories are also missing, unseen, negative, fractional or huge."""
    rng = np.random.default_rng(seed)
    X, _ = make_data(n, seed)
    for j, k in enumerate(CAT_K):
        odd = np.array([np.nan, -1.0, -0.5, -3.0, 0.5, k - 0.5, k, k + 50, 1000.0, 1e7, 2.0**31, -0.0])
        pick = rng.random(n) < 0.35
        X[pick, N_NUM + j] = rng.choice(odd, pick.sum())
    return X


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    X, y = make_data()
    df = frame(X)
    tmp = tmp_path_factory.mktemp("cat")
    out = {}
    for name, params, rounds in (
        ("xgb_partition", {"max_depth": 6, "max_cat_to_onehot": 1}, 40),
        ("xgb_onehot", {"max_depth": 4, "max_cat_to_onehot": 256}, 20),
        ("xgb_deep", {"max_depth": 12, "max_cat_to_onehot": 1, "min_child_weight": 0}, 6),
    ):
        p = dict(params, objective="binary:logistic", eta=0.3, tree_method="hist", nthread=2, seed=0)
        booster = xgb.train(p, xgb.DMatrix(df, label=y, enable_categorical=True), num_boost_round=rounds)
        path = str(tmp / f"{name}.json")
        booster.save_model(path)
        out[name] = (booster, ts.TreeScorer.from_xgboost(path))
    for name, params in (
        ("lgb", {}),
        ("lgb_smallsets", {"max_cat_to_onehot": 8, "max_cat_threshold": 4}),
    ):
        p = dict(params, objective="binary", num_leaves=63, learning_rate=0.1, min_data_in_leaf=5,
                 min_data_per_group=5, cat_smooth=1, cat_l2=1, num_threads=2, verbose=-1, seed=0)
        ds = lgb.Dataset(X, label=y, categorical_feature=list(range(N_NUM, len(COLS))), feature_name=COLS)
        booster = lgb.train(p, ds, num_boost_round=40)
        path = str(tmp / f"{name}.txt")
        booster.save_model(path)
        out[name] = (booster, ts.TreeScorer.from_lightgbm(path))
    return out


def levels():
    return [int(v[1]) for v in ts.show_config(print_out=False)["simd_levels_supported"]]


def at_levels(fn):
    """fn() at every SIMD level, the chosen one restored after."""
    try:
        return [(lv, (_core._override_simd_level_for_testing(lv), fn())[1]) for lv in levels()]
    finally:
        _core._override_simd_level_for_testing(0)


def xgb_ref(booster, X):
    """XGBoost's own prediction: float32 codes through inplace_predict."""
    return booster.inplace_predict(X.astype(np.float32), validate_features=False)


def test_models_have_categorical_splits_over_several_words(models):
    """The models really test what this file is about."""
    dump = models["xgb_partition"][0].get_dump(dump_format="json")
    assert any(', 64, ' in t or ', 70, ' in t for t in dump)  # sets of categories past 63: two words
    text = models["lgb"][0].model_to_string()
    assert "cat_threshold=" in text
    # A set reaching past category 64: two 32-bit words or more in LightGBM's cat_boundaries.
    bounds = [list(map(int, line.split("=")[1].split())) for line in text.splitlines()
              if line.startswith("cat_boundaries=")]
    assert max(np.diff(b).max() for b in bounds) >= 3


@pytest.mark.parametrize("name", ["xgb_partition", "xgb_onehot", "xgb_deep"])
def test_xgboost_bit_identical_on_odd_categories(models, name):
    booster, scorer = models[name]
    X = odd_rows(3000, seed=1)
    ref = xgb_ref(booster, X)
    ref_margin = booster.inplace_predict(X.astype(np.float32), predict_type="margin", validate_features=False)
    for level, p in at_levels(lambda: scorer.predict(X.astype(np.float32))):
        np.testing.assert_array_equal(p, ref, err_msg=f"level v{level}")
    for threads in (1, 2):
        np.testing.assert_array_equal(scorer.predict_margin(X, n_threads=threads), ref_margin)  # float64 input
        np.testing.assert_array_equal(scorer.predict(X[:3]), ref[:3])  # the few-rows walk


@pytest.mark.parametrize("name", ["lgb", "lgb_smallsets"])
def test_lightgbm_bit_identical_on_odd_categories(models, name):
    booster, scorer = models[name]
    X = odd_rows(3000, seed=2)
    X32 = X.astype(np.float32)
    ref = booster.predict(X)
    ref32 = booster.predict(X32)
    for level, (p, p32) in at_levels(lambda: (scorer.predict(X), scorer.predict(X32))):
        np.testing.assert_array_equal(p, ref, err_msg=f"float64, level v{level}")
        np.testing.assert_array_equal(p32, ref32, err_msg=f"float32, level v{level}")
    for threads in (1, 2):
        np.testing.assert_array_equal(scorer.predict(X32, n_threads=threads), ref32)
        np.testing.assert_array_equal(scorer.predict(X[:3], n_threads=threads), ref[:3])


def test_frames_and_arrow_dictionaries_reach_the_same_codes(models):
    """Pandas categoricals (any category order when the model names its
    categories), Arrow dictionary arrays and plain integer codes give the same scores."""
    X, _ = make_data(2000, seed=5)
    df = frame(X)
    shuffled = df.copy()
    for c in COLS[N_NUM:]:
        shuffled[c] = shuffled[c].cat.reorder_categories(shuffled[c].cat.categories[::-1])
    table = pa.Table.from_pandas(df, preserve_index=False)
    assert pa.types.is_dictionary(table.schema.field("c3").type)
    for name in ("xgb_partition", "lgb"):
        booster, scorer = models[name]
        ref = scorer.predict(X)
        np.testing.assert_array_equal(scorer.predict(df), ref)
        if scorer.categories_:  # XGBoost keeps the names; LightGBM trained on codes reads codes, as lightgbm does
            np.testing.assert_array_equal(scorer.predict(shuffled), ref)
        np.testing.assert_array_equal(scorer.predict(table), ref)
        expect = xgb_ref(booster, X) if name.startswith("xgb") else booster.predict(X)
        np.testing.assert_array_equal(ref, expect)


@pytest.mark.parametrize("name", ["xgb_partition", "lgb"])
def test_contributions_of_categorical_models(models, name):
    booster, scorer = models[name]
    X = odd_rows(400, seed=3)
    if name.startswith("xgb"):
        ref = booster.predict(xgb.DMatrix(X.astype(np.float32), feature_names=COLS,
                                          feature_types=["q"] * N_NUM + ["c"] * len(CAT_K),
                                          enable_categorical=True), pred_contribs=True)
    else:
        ref = booster.predict(X, pred_contrib=True)
    for level, phi in at_levels(lambda: scorer.contributions(X)):
        np.testing.assert_allclose(phi, ref, rtol=1e-5, atol=1e-5, err_msg=f"level v{level}")
