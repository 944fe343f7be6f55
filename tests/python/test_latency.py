"""The small-input paths of the scoring entry points give exactly what the
batch paths give: one row, two rows, rows on either side of each threshold
(the tree engine's few-row walk, the frame block read of TreeScorer, the
matrix views of LogisticScorer), 1 and 2 threads."""

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore import linear, trees

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

# The tree engine walks up to this many rows alone (kFewRows, cpp/src/trees.cpp).
FEW_ROWS = 3
ROW_COUNTS = [1, 2, FEW_ROWS - 1, FEW_ROWS, FEW_ROWS + 1, 9, 64]


def _rows(n=600, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[rng.random(X.shape) < 0.08] = np.nan
    X[rng.random(X.shape) < 0.05] = 0.0
    X[::37, 1] = np.inf
    X[::41, 2] = -np.inf
    return X


def _same_by_slices(scorer, X, method="predict", starts=(0, 5, 131)):
    """scorer.method on slices of X equals the same rows of the whole batch, bit for bit."""
    for threads in (1, 2):
        full = getattr(scorer, method)(X, n_threads=threads)
        for n in ROW_COUNTS:
            for a in starts:
                part = getattr(scorer, method)(np.ascontiguousarray(X[a:a + n]), n_threads=threads)
                np.testing.assert_array_equal(part, full[a:a + n], err_msg=f"{method}, {n} rows from {a}")


def _train_xgb(params, rounds=12, d=6, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(800, d)).astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    y = np.nan_to_num(X[:, 0]) - 0.5 * np.nan_to_num(X[:, 1]) + rng.logistic(size=len(X))
    if params["objective"].startswith("binary"):
        y = (y > 0).astype(int)
    elif params["objective"].startswith("multi"):
        y = np.digitize(y, [-1, 1])
    dm = xgb.DMatrix(X, label=y, feature_names=[f"f{j}" for j in range(d)])
    return xgb.train(dict(params, nthread=1, seed=0), dm, rounds)


@pytest.mark.parametrize("params", [
    {"objective": "binary:logistic", "max_depth": 6},                    # complete trees: the vector walk
    {"objective": "reg:squarederror", "max_depth": 12, "max_leaves": 40, "grow_policy": "lossguide",
     "tree_method": "hist"},                                             # deep, incomplete trees
    {"objective": "multi:softprob", "num_class": 3, "max_depth": 4},     # several output groups
    {"objective": "multi:softmax", "num_class": 3, "max_depth": 3},
])
def test_xgboost_few_rows_equal_the_batch(params):
    scorer = ts.TreeScorer.from_xgboost(_train_xgb(params))
    X = _rows()
    for dtype in (np.float32, np.float64):
        _same_by_slices(scorer, X.astype(dtype))
        _same_by_slices(scorer, X.astype(dtype), "predict_margin")


def test_xgboost_categorical_few_rows_equal_the_batch():
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.normal(size=(600, 3)), columns=["a", "b", "c"])
    df["region"] = pd.Categorical.from_codes(rng.integers(0, 5, len(df)), list("vwxyz"))
    y = (df["a"] + (df["region"] == "x") + rng.logistic(size=len(df)) > 0).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4, "nthread": 1, "max_cat_to_onehot": 1},
                        xgb.DMatrix(df, label=y, enable_categorical=True), 10)
    scorer = ts.TreeScorer.from_xgboost(booster)
    full = scorer.predict(df)
    np.testing.assert_allclose(full, booster.predict(xgb.DMatrix(df, enable_categorical=True)), atol=1e-6)
    for n in ROW_COUNTS:
        np.testing.assert_array_equal(scorer.predict(df.iloc[7:7 + n]), full[7:7 + n])


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_lightgbm_few_rows_equal_the_batch(zero_as_missing):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1500, 6))
    X[:, 0] = np.exp(3 * X[:, 0])  # long chains of splits: deep leaf-wise trees
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.nan_to_num(X[:, 0]) ** 0.3 + np.sin(3 * np.nan_to_num(X[:, 1])) + rng.normal(scale=0.1, size=len(X))
    shallow = lgb.train({"objective": "binary", "num_leaves": 8, "max_depth": 3, "verbose": -1, "num_threads": 1,
                         "zero_as_missing": zero_as_missing}, lgb.Dataset(X, label=y > np.median(y)), 10)
    deep = lgb.train({"objective": "regression", "num_leaves": 63, "min_data_in_leaf": 2, "verbose": -1,
                      "num_threads": 1, "zero_as_missing": zero_as_missing}, lgb.Dataset(X, label=y), 10)
    Xt = _rows(d=6, seed=4)
    for booster in (shallow, deep):
        scorer = ts.TreeScorer.from_lightgbm(booster)
        np.testing.assert_allclose(scorer.predict(Xt), booster.predict(Xt), rtol=0, atol=1e-9)
        for dtype in (np.float32, np.float64):
            _same_by_slices(scorer, Xt.astype(dtype))


def test_tree_frames_read_in_one_block_equal_the_column_reads(monkeypatch):
    """A frame of plain numeric columns (any order, extra columns, ints and
    bools) up to the block threshold, and above it, scores as its numpy matrix."""
    booster = _train_xgb({"objective": "binary:logistic", "max_depth": 5}, d=4)
    scorer = ts.TreeScorer.from_xgboost(booster)
    rng = np.random.default_rng(5)
    n = 300
    df = pd.DataFrame({"f2": rng.normal(size=n), "f0": rng.normal(size=n).astype(np.float32),
                       "f3": rng.integers(-3, 3, n), "f1": rng.random(n) < 0.5})
    df.loc[::7, "f2"] = np.nan
    X = df[["f0", "f1", "f2", "f3"]].to_numpy(dtype=np.float64).astype(np.float32)
    want = scorer.predict(X)
    for rows in (1, 2, n):
        np.testing.assert_array_equal(scorer.predict(df.iloc[:rows]), want[:rows])
    monkeypatch.setattr(trees, "_FRAME_BLOCK_ROWS", 10)  # the same frame above the threshold
    np.testing.assert_array_equal(scorer.predict(df), want)
    # A categorical column takes the column-by-column read.
    df_cat = df.assign(f3=pd.Categorical(df["f3"]))
    assert scorer.predict(df_cat.iloc[:2]).shape == (2,)


def test_tree_numpy_fast_path_keeps_the_checks():
    scorer = ts.TreeScorer.from_xgboost(_train_xgb({"objective": "binary:logistic", "max_depth": 3}, d=4))
    with pytest.raises(ValueError, match="4 features"):
        scorer.predict(np.zeros((1, 5), dtype=np.float32))
    with pytest.raises(ValueError):
        scorer.predict(np.zeros((1, 4), dtype=np.float32), iteration_range=(0, 99))
    # Fortran order, integers and non-native byte order are converted, not misread.
    X = np.random.default_rng(6).normal(size=(5, 4)).astype(np.float32)
    want = scorer.predict(X)
    np.testing.assert_array_equal(scorer.predict(np.asfortranarray(X)), want)
    np.testing.assert_array_equal(scorer.predict(X.astype(">f4")), want)
    np.testing.assert_array_equal(scorer.predict(X.astype(np.int64)), scorer.predict(X.astype(np.int64) * 1.0))


def _logistic(standardize=True):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(2000, 8)) * [1, 10, 0.1, 1, 1, 5, 1, 1]
    y = (X @ rng.normal(size=8) + rng.logistic(size=len(X)) > 0).astype(int)
    return ts.LogisticScorer(standardize=standardize).fit(X, y), X


@pytest.mark.parametrize("standardize", [True, False])
def test_logistic_matrix_views_equal_the_table_path(standardize, monkeypatch):
    model, X = _logistic(standardize)
    X = X.copy()
    X[::11, 3] = np.nan  # imputed
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        for threads in (1, 2):
            with ts.threads(threads):
                full_table = model.predict_proba(Xd.tolist())  # a list: the table path
                for n in (1, 2, 3, 100):
                    np.testing.assert_array_equal(model.predict_proba(Xd[5:5 + n]), full_table[5:5 + n])
                np.testing.assert_array_equal(model.decision_function(np.asfortranarray(Xd[:50])),
                                              model.decision_function(Xd[:50].tolist()))
    # standardize changed after fit: both paths read the new setting.
    flipped = ts.LogisticScorer(standardize=standardize).fit(X[:200][~np.isnan(X[:200]).any(axis=1)], (X[:200][
        ~np.isnan(X[:200]).any(axis=1)][:, 0] > 0).astype(int)).set_params(standardize=not standardize)
    np.testing.assert_array_equal(flipped.predict_proba(X[:3]), flipped.predict_proba(X[:3].tolist()))
    # Above the threshold: the table path, the same answer.
    monkeypatch.setattr(linear, "_MATRIX_ROWS", 4)
    np.testing.assert_array_equal(model.predict_proba(X[:5]), model.predict_proba(X[:5].tolist()))


def test_logistic_matrix_views_keep_the_checks():
    model, X = _logistic()
    row = X[:1].copy()
    row[0, 2] = np.inf
    with pytest.raises(ValueError, match="x2"):
        model.predict_proba(row)
    with pytest.raises(ValueError, match="8 features"):
        model.predict_proba(X[:1, :7])
    df = pd.DataFrame(X[:40], columns=[f"c{j}" for j in range(8)])
    by_frame = ts.LogisticScorer().fit(df, (X[:40, 0] > 0).astype(int))
    # Fitted on a frame of numeric columns: a matrix still reads as the table would.
    np.testing.assert_array_equal(by_frame.predict_proba(X[:3]), by_frame.predict_proba(X[:3].tolist()))
    np.testing.assert_array_equal(by_frame.predict_proba(df.iloc[:1]), by_frame.predict_proba(X[:1].tolist()))


def test_logistic_mixed_frame_rows_equal_the_batch():
    data = ts.datasets.make_prm(3000, 300, seed=0)
    p = data.prospects
    cols = ["sex", "age_band", "region", "income", "categories"]
    model = ts.LogisticScorer().fit(p[cols], p["converted"])
    full = model.predict_proba(p[cols])
    wide = p.drop(columns=["converted"])  # more columns than the model reads
    for n in (1, 2, 17):
        np.testing.assert_array_equal(model.predict_proba(wide.iloc[3:3 + n]), full[3:3 + n])
        table = ts.ContactTable.from_pandas(p[cols].iloc[3:3 + n], schema=model.schema_)
        np.testing.assert_array_equal(model.predict_proba(table), full[3:3 + n])


def test_scorecard_rows_equal_the_batch():
    data = ts.datasets.make_prm(5000, 500, seed=1)
    p = data.prospects
    crit = ts.discriminating_criteria(p, "converted", ["sex", "age_band", "region", "income", "categories"])
    card = crit.scorecard(top=5)
    full = card.apply(p)
    for n in (1, 2, 33):
        np.testing.assert_array_equal(card.apply(p.iloc[10:10 + n]), full[10:10 + n])
    for threads in (1, 2):
        with ts.threads(threads):
            np.testing.assert_array_equal(card.apply(p), full)
    # A frame with a repeated, unused column name still scores.
    dup = pd.concat([p.iloc[:3], p[["channel"]].iloc[:3]], axis=1)
    np.testing.assert_array_equal(card.apply(dup), full[:3])


def test_frame_columns_are_read_lazily_but_checked():
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], 3: [0.5, 0.25]})
    table = ts.ContactTable.from_pandas(df)
    assert table.column_names == ["a", "b", "3"]
    schema = table.schema.select(["3"])
    np.testing.assert_array_equal(schema.apply(df).numeric("3"), [0.5, 0.25])
    with pytest.raises(KeyError, match="zzz"):
        ts.Schema([ts.table.ColumnSpec("zzz", "numeric")]).apply(df)


def test_categorical_remap_is_cached_by_categories_and_exact():
    """A pandas categorical on a schema goes through a remap of its categories
    kept for the last categories seen: the same codes as the encoding of the
    values as strings, whatever the order of the categories, unseen values
    counted, and a frame with other categories never served a stale remap."""
    train = pd.DataFrame({"c": pd.Categorical(["a", "b", "c", "a"]), "x": [1.0, 2.0, 3.0, 4.0]})
    schema = ts.ContactTable.from_pandas(train).schema
    as_text = lambda s: schema.apply(pd.DataFrame({"c": s.astype(object), "x": 0.0})).codes("c")  # noqa: E731
    frames = [
        pd.Categorical(["c", "a", None, "b"]),                            # the fitted order
        pd.Categorical(["c", "a", None, "b"], categories=["c", "b", "a"]),  # another order
        pd.Categorical(["z", "a", "z", None], categories=["z", "a"]),      # "z" unseen at fit
        pd.Categorical(["c", "a", None, "b"]),                            # back to the first
    ]
    for cat in frames:
        s = pd.Series(cat)
        for rows in (slice(None), slice(1, 2), slice(0, 1)):  # slices share their dtype: the cache hits
            table = schema.apply(pd.DataFrame({"c": s[rows], "x": 0.0}).reset_index(drop=True))
            np.testing.assert_array_equal(table.codes("c"), as_text(s[rows].reset_index(drop=True)))
            assert table.codes("c").dtype == np.int32
    table = schema.apply(pd.DataFrame({"c": pd.Series(frames[2]), "x": 0.0}))
    assert table.unseen["c"] == 2
    # The cached remap is read-only: a caller cannot corrupt the next call.
    remap = schema.category_remap("c", frames[0].categories)[0]
    assert not remap.flags.writeable


def test_lead_scores_of_one_contact_equal_the_batch():
    """score_leads of one contact (the small-id and single-frame paths) gives the
    batch's row, columns and dtypes; its checks still name what is wrong."""
    data = ts.datasets.make_prm(400, 40, seed=3)
    p = data.prospects
    rules = ts.LeadRules.from_dict({
        "half_life_days": 30,
        "fit": [{"name": "core age", "column": "age_band", "in": ["25-34", "35-44"], "points": 10},
                {"name": "income", "column": "income", "min": 40000, "points": 5}],
        "behaviour": [{"name": "clicks", "event": "email_click", "points": 5, "cap": 20},
                      {"name": "unsubscribed", "event": "unsubscribe", "points": -50, "half_life_days": None}],
        "grades": {"A": 10, "B": 5}, "mql_threshold": 15})
    full = ts.score_leads(p, data.events, rules, now=data.now)
    assert list(full.columns) == ["fit_score", "behaviour_score", "score", "grade", "mql", *rules.rule_names]
    assert list(full["grade"].cat.categories) == ["A", "B", "D"] and full["grade"].cat.ordered
    for i in (0, 11, 57):
        one = p.iloc[i:i + 1]
        ev = data.events[data.events["contact_id"] == one["contact_id"].iloc[0]]
        got = ts.score_leads(one, ev, rules, now=data.now)
        pd.testing.assert_frame_equal(got, full.iloc[i:i + 1])
    two = pd.concat([p.iloc[:1], p.iloc[:1]])
    with pytest.raises(ValueError, match="repeats ids"):
        ts.score_leads(two, data.events.iloc[:0], rules, now=data.now)
    with pytest.raises(KeyError, match="contact_id"):
        ts.score_leads(p.iloc[:1].drop(columns=["contact_id"]), data.events.iloc[:0], rules, now=data.now)
