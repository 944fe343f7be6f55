"""TreeScorer against xgboost and lightgbm themselves: predictions, margins and
SHAP contributions on drawn rows (NaN, +-inf, categoricals), every supported
objective, both file formats, thread counts, bad files and a seeded fuzz."""

import functools
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twinscore as ts

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

N_NUM = 5
CATS = ["north", "Île-de-France", "Rhône-Alpes", "west", "centre"]  # accents: UTF-8 names


def make_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_NUM)).astype(np.float32)
    X[rng.random(X.shape) < 0.08] = np.nan
    X[:, 4] = np.where(rng.random(n) < 0.3, 0.0, X[:, 4])  # zeros for zero_as_missing
    cat = rng.integers(0, len(CATS), n)
    logit = np.nan_to_num(X[:, 0]) - 0.7 * np.nan_to_num(X[:, 1]) + (cat == 2) - 0.5 * (cat == 4)
    y_bin = (logit + rng.logistic(size=n) > 0).astype(int)
    y_reg = logit + rng.normal(scale=0.3, size=n)
    y_multi = np.digitize(logit + rng.normal(scale=0.5, size=n), [-0.7, 0.7])
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(N_NUM)])
    df["region"] = pd.Categorical.from_codes(cat, CATS)
    return df, y_bin, y_reg, y_multi


@pytest.fixture(scope="module")
def data():
    return make_data()


def rows_frame(values: np.ndarray, codes: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame(values.astype(np.float32), columns=[f"x{i}" for i in range(N_NUM)])
    df["region"] = pd.Categorical.from_codes(codes, CATS)
    return df


XGB_CASES = {
    "binary:logistic": "bin",
    "binary:logitraw": "bin",
    "reg:squarederror": "reg",
    "reg:logistic": "prob",
    "multi:softprob": "multi",
    "multi:softmax": "multi",
}


@pytest.fixture(scope="module")
def xgb_models(data, tmp_path_factory):
    df, y_bin, y_reg, y_multi = data
    labels = {"bin": y_bin, "reg": y_reg, "prob": 1 / (1 + np.exp(-y_reg)), "multi": y_multi}
    out = {}
    tmp = tmp_path_factory.mktemp("xgb")
    for obj, kind in XGB_CASES.items():
        params = {"objective": obj, "max_depth": 4, "eta": 0.3, "nthread": 2, "seed": 0,
                  "max_cat_to_onehot": 1 if obj == "binary:logistic" else 4}
        if kind == "multi":
            params["num_class"] = 3
        dm = xgb.DMatrix(df, label=labels[kind], enable_categorical=True)
        booster = xgb.train(params, dm, num_boost_round=8)
        base = tmp / obj.replace(":", "_")
        booster.save_model(f"{base}.json")
        booster.save_model(f"{base}.ubj")
        out[obj] = (booster, f"{base}.json", f"{base}.ubj")
    return out


_SCORERS = {}


def xgb_scorers(models):
    """One scorer per model, loaded from its JSON file once."""
    if id(models) not in _SCORERS:
        _SCORERS.clear()
        _SCORERS[id(models)] = {k: (b, ts.TreeScorer.from_xgboost(j)) for k, (b, j, _) in models.items()}
    return _SCORERS[id(models)]


def xgb_ref(booster, df, **kw):
    return booster.predict(xgb.DMatrix(df, enable_categorical=True), **kw)


@pytest.mark.parametrize("objective", list(XGB_CASES))
def test_xgboost_predictions_and_contributions_match(xgb_models, data, objective):
    booster, json_path, ubj_path = xgb_models[objective]
    df = data[0].iloc[:300]
    ref = xgb_ref(booster, df)
    ref_margin = xgb_ref(booster, df, output_margin=True)
    ref_phi = xgb_ref(booster, df, pred_contribs=True)
    for source in (json_path, ubj_path, booster):
        scorer = ts.TreeScorer.from_xgboost(source)
        p = scorer.predict(df)
        assert p.dtype == np.float32 and p.shape == ref.shape
        np.testing.assert_allclose(p, ref, rtol=0, atol=1e-6)
        np.testing.assert_allclose(scorer.predict_margin(df), ref_margin, rtol=0, atol=1e-6)
        phi = scorer.contributions(df)
        assert phi.shape == ref_phi.shape
        np.testing.assert_allclose(phi, ref_phi, rtol=1e-5, atol=1e-5)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_xgboost_matches_on_drawn_rows_with_nan_and_inf(xgb_models, data):
    draw = data.draw
    n = draw(st.integers(1, 40))
    special = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0])
    value = st.one_of(st.floats(-4, 4, width=32), special)
    values = np.array(draw(st.lists(st.lists(value, min_size=N_NUM, max_size=N_NUM), min_size=n, max_size=n)),
                      dtype=np.float32)
    codes = np.array(draw(st.lists(st.integers(-1, len(CATS) - 1), min_size=n, max_size=n)))
    df = rows_frame(values, codes)
    # xgboost refuses infinities; the largest floats take the same branches.
    big = np.float32(np.finfo(np.float32).max)
    df_big = rows_frame(np.clip(values, -big, big), codes)
    for objective in ("binary:logistic", "multi:softprob"):
        booster, scorer = xgb_scorers(xgb_models)[objective]
        p = scorer.predict(df)
        np.testing.assert_array_equal(p, scorer.predict(df_big))
        np.testing.assert_allclose(p, xgb_ref(booster, df_big), rtol=0, atol=1e-6)
        np.testing.assert_allclose(scorer.contributions(df), xgb_ref(booster, df_big, pred_contribs=True),
                                   rtol=1e-5, atol=1e-5)


def test_xgboost_iteration_range_best_iteration_and_numpy_input(data, tmp_path):
    df, y_bin, _, _ = data
    Xn = df.drop(columns="region").to_numpy(np.float32)
    clf = xgb.XGBClassifier(n_estimators=40, max_depth=3, early_stopping_rounds=3, n_jobs=2, random_state=0)
    clf.fit(Xn[:400], y_bin[:400], eval_set=[(Xn[400:], y_bin[400:])], verbose=False)
    scorer = ts.TreeScorer.from_xgboost(clf)
    np.testing.assert_allclose(scorer.predict(Xn), clf.predict_proba(Xn)[:, 1], atol=1e-6)
    booster = clf.get_booster()
    full = ts.TreeScorer.from_xgboost(booster)
    np.testing.assert_allclose(full.predict(Xn, iteration_range=(1, 4)),
                               booster.predict(xgb.DMatrix(Xn), iteration_range=(1, 4)), atol=1e-6)
    # float64 input is read as float32, like xgboost does.
    np.testing.assert_allclose(full.predict(Xn.astype(np.float64)), full.predict(Xn), atol=0)
    with pytest.raises(ValueError, match="iteration_range"):
        full.predict(Xn, iteration_range=(0, 10_000))


LGB_CASES = {
    "binary": ({"objective": "binary"}, "bin"),
    "regression": ({"objective": "regression"}, "reg"),
    "multiclass": ({"objective": "multiclass", "num_class": 3}, "multi"),
    "multiclassova": ({"objective": "multiclassova", "num_class": 3}, "multi"),
    "zero_as_missing": ({"objective": "binary", "zero_as_missing": True}, "bin"),
    "no_missing": ({"objective": "regression", "use_missing": False}, "reg"),
}


@pytest.fixture(scope="module")
def lgb_models(data, tmp_path_factory):
    df, y_bin, y_reg, y_multi = data
    labels = {"bin": y_bin, "reg": y_reg, "multi": y_multi}
    tmp = tmp_path_factory.mktemp("lgb")
    out = {}
    for name, (params, kind) in LGB_CASES.items():
        p = dict(params, num_leaves=15, learning_rate=0.2, min_data_in_leaf=5, num_threads=2, verbose=-1, seed=0,
                 cat_smooth=1, min_data_per_group=5)
        booster = lgb.train(p, lgb.Dataset(df, label=labels[kind]), num_boost_round=8)
        path = tmp / f"{name}.txt"
        booster.save_model(str(path))
        out[name] = (booster, str(path))
    return out


@pytest.mark.parametrize("name", list(LGB_CASES))
def test_lightgbm_predictions_and_contributions_match(lgb_models, data, name):
    booster, path = lgb_models[name]
    df = data[0].iloc[:300]
    ref = booster.predict(df)
    ref_phi = booster.predict(df, pred_contrib=True)
    for source in (path, booster):
        scorer = ts.TreeScorer.from_lightgbm(source)
        p = scorer.predict(df)
        assert p.dtype == np.float64 and p.shape == ref.shape
        np.testing.assert_allclose(p, ref, rtol=0, atol=1e-9)
        np.testing.assert_allclose(scorer.predict_margin(df), booster.predict(df, raw_score=True), atol=1e-9)
        phi = scorer.contributions(df)
        if phi.ndim == 3:  # lightgbm puts the classes side by side
            phi = phi.reshape(len(df), -1)
        np.testing.assert_allclose(phi, ref_phi, rtol=1e-6, atol=1e-6)


@functools.lru_cache(maxsize=None)
def lgb_scorer(path):
    return ts.TreeScorer.from_lightgbm(path)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_lightgbm_matches_on_drawn_rows_in_both_precisions(lgb_models, data):
    draw = data.draw
    n = draw(st.integers(1, 40))
    special = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1e-36])
    value = st.one_of(st.floats(-4, 4), special)
    values = np.array(draw(st.lists(st.lists(value, min_size=N_NUM, max_size=N_NUM), min_size=n, max_size=n)))
    codes = np.array(draw(st.lists(st.integers(-1, len(CATS) - 1), min_size=n, max_size=n)))
    df = pd.DataFrame(values, columns=[f"x{i}" for i in range(N_NUM)])
    df["region"] = pd.Categorical.from_codes(codes, CATS)
    for name in ("binary", "multiclass", "zero_as_missing", "no_missing"):
        booster, path = lgb_models[name]
        scorer = lgb_scorer(path)
        np.testing.assert_allclose(scorer.predict(df), booster.predict(df), rtol=0, atol=1e-9)
        # float32 input: lightgbm reads it as the same doubles.
        df32 = df.astype({f"x{i}": np.float32 for i in range(N_NUM)})
        np.testing.assert_allclose(scorer.predict(df32), booster.predict(df32), rtol=0, atol=1e-9)


def test_identical_for_one_and_two_threads(xgb_models, lgb_models, data):
    df = make_data(5000, seed=3)[0]
    for scorer in (ts.TreeScorer.from_xgboost(xgb_models["multi:softprob"][0]),
                   ts.TreeScorer.from_lightgbm(lgb_models["binary"][0])):
        a = scorer.predict(df, n_threads=1)
        b = scorer.predict(df, n_threads=2)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(scorer.contributions(df.iloc[:500], n_threads=1),
                                      scorer.contributions(df.iloc[:500], n_threads=2))


def test_frames_tables_and_feature_checks(xgb_models, data):
    booster = xgb_models["binary:logistic"][0]
    scorer = ts.TreeScorer.from_xgboost(booster)
    df = data[0].iloc[:50]
    ref = scorer.predict(df)
    # Columns are matched by name, whatever their order and the kind of frame.
    import polars as pl
    import pyarrow as pa

    reversed_df = df[df.columns[::-1]]
    for frame in (reversed_df, pa.Table.from_pandas(reversed_df, preserve_index=False), pl.from_pandas(reversed_df)):
        np.testing.assert_array_equal(scorer.predict(frame), ref)
    with pytest.raises(KeyError, match="x3"):
        scorer.predict(df.drop(columns="x3"))
    with pytest.raises(ValueError, match="X has 4 features, but the model is expecting 6"):
        scorer.predict(np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="numeric"):
        scorer.predict(np.array([["a"] * 6]))
    with pytest.raises(TypeError, match="not numeric"):
        scorer.predict(df.assign(x0=df["x0"].astype(str)))
    with pytest.raises(ValueError, match="2-D"):
        scorer.predict(np.zeros(6, np.float32))
    # A contact table: numeric columns and categorical codes, by name.
    table = ts.ContactTable.from_pandas(df)
    np.testing.assert_allclose(scorer.predict(table), ref, atol=1e-6)
    # Categories named differently from the model's: mapped through the names.
    shuffled = df.assign(region=df["region"].cat.reorder_categories(CATS[::-1]))
    np.testing.assert_array_equal(scorer.predict(shuffled), ref)


def test_top_reasons_groups_and_directions(xgb_models, data):
    scorer = ts.TreeScorer.from_xgboost(xgb_models["binary:logistic"][0])
    df = data[0].iloc[:30]
    phi = scorer.contributions(df)[:, :-1].astype(np.float64)
    r = scorer.top_reasons(df, top=2)
    best = np.argsort(-phi, axis=1, kind="stable")[:, :2]
    names = np.array(scorer.feature_names_in_, dtype=object)
    assert list(r["reason_1"]) == list(names[best[:, 0]])
    np.testing.assert_allclose(r["contribution_2"], np.take_along_axis(phi, best[:, 1:2], 1)[:, 0])
    grouped = scorer.top_reasons(df, top=1, groups={"signal": ["x0", "x1"]}, direction="abs")
    g = np.column_stack([phi[:, 0] + phi[:, 1], phi[:, 2:]])
    labels = np.array(["signal", "x2", "x3", "x4", "region"], dtype=object)
    assert list(grouped["reason_1"]) == list(labels[np.argmax(np.abs(g), axis=1)])
    assert list(grouped.index) == list(df.index)
    with pytest.raises(KeyError, match="nope"):
        scorer.top_reasons(df, groups={"g": ["nope"]})
    with pytest.raises(ValueError, match="direction"):
        scorer.top_reasons(df, direction="sideways")


def mutate_cases(blob: bytes, seed: int, n: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        b = bytearray(blob)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, len(b)))
            op = rng.integers(0, 4)
            if op == 0:
                del b[at:]
            elif op == 1:
                b[at] ^= 1 << int(rng.integers(0, 8))
            elif op == 2:
                b[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 8)), dtype=np.uint8))
            else:
                b[at] = int(rng.integers(0, 256))
            if not b:
                break
        yield bytes(b)


def test_bad_files_give_clear_errors(xgb_models, lgb_models, tmp_path):
    _, json_path, ubj_path = xgb_models["binary:logistic"]
    _, lgb_path = lgb_models["binary"]
    text = open(json_path, "rb").read()
    ubj = open(ubj_path, "rb").read()
    lgb_text = open(lgb_path, "rb").read()
    with pytest.raises(ValueError, match="empty"):
        ts.TreeScorer.from_xgboost(b"")
    with pytest.raises(ValueError, match="not an XGBoost model"):
        ts.TreeScorer.from_xgboost(lgb_text)
    with pytest.raises(ValueError, match="not a LightGBM"):
        ts.TreeScorer.from_lightgbm(text)
    with pytest.raises(ValueError):
        ts.TreeScorer.from_xgboost(text[: len(text) // 2])
    with pytest.raises(ValueError):
        ts.TreeScorer.from_xgboost(ubj[: len(ubj) // 3])
    with pytest.raises(ValueError, match="truncated"):
        ts.TreeScorer.from_lightgbm(lgb_text[: len(lgb_text) // 2])
    with pytest.raises(FileNotFoundError):
        ts.TreeScorer.from_xgboost(tmp_path / "missing.json")
    with pytest.raises(TypeError):
        ts.TreeScorer.from_xgboost(42)
    doc = json.loads(text)
    tree = doc["learner"]["gradient_booster"]["model"]["trees"][0]
    hostile = {
        "out of range": lambda t: t["left_children"].__setitem__(0, 10_000),
        "reached twice": lambda t: t["left_children"].__setitem__(0, 0),
        "items, expected": lambda t: t["right_children"].pop(),
    }
    for needle, mutate in hostile.items():
        bad = json.loads(text)
        mutate(bad["learner"]["gradient_booster"]["model"]["trees"][0])
        with pytest.raises(ValueError, match=needle):
            ts.TreeScorer.from_xgboost(json.dumps(bad).encode())
    assert tree["split_conditions"]
    bad = text.replace(b'"split_conditions":[', b'"split_conditions":[NaN,', 1)
    with pytest.raises(ValueError):
        ts.TreeScorer.from_xgboost(bad)
    bad_lgb = lgb_text.replace(b"\nthreshold=", b"\nthreshold=nan ", 1)
    with pytest.raises(ValueError, match="threshold|values"):
        ts.TreeScorer.from_lightgbm(bad_lgb)


def test_fuzzed_model_files_never_crash(xgb_models, lgb_models, data):
    """Seeded mutations of real model files: each loads or raises ValueError."""
    X = data[0].iloc[:4]
    _, json_path, ubj_path = xgb_models["multi:softprob"]
    _, lgb_path = lgb_models["multiclass"]
    cases = [(open(json_path, "rb").read(), ts.TreeScorer.from_xgboost, 1),
             (open(ubj_path, "rb").read(), ts.TreeScorer.from_xgboost, 2),
             (open(lgb_path, "rb").read(), ts.TreeScorer.from_lightgbm, 3)]
    loaded = 0
    for blob, load, seed in cases:
        for case in mutate_cases(blob, seed, 300):
            try:
                scorer = load(case)
            except ValueError as exc:
                assert str(exc)
                continue
            loaded += 1
            try:
                scorer.predict(X)
                scorer.contributions(X)
            except (ValueError, KeyError, TypeError):
                pass  # e.g. a mutated feature name no longer matches the frame
    assert loaded > 0


@pytest.mark.parametrize("params", [
    {"booster": "dart", "objective": "binary:logistic", "rate_drop": 0.3},
    {"objective": "count:poisson"}, {"objective": "reg:gamma"}, {"objective": "reg:tweedie"},
    {"objective": "binary:hinge"}, {"objective": "reg:absoluteerror"},
])
def test_xgboost_more_objectives_and_dart(params):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    y = np.abs(np.nan_to_num(X[:, 0])) + 0.1
    if params["objective"].startswith("binary"):
        y = (y > 0.8).astype(int)
    booster = xgb.train(dict(params, max_depth=3, nthread=1, seed=0), xgb.DMatrix(X, label=y), 5)
    scorer = ts.TreeScorer.from_xgboost(booster)
    np.testing.assert_allclose(scorer.predict(X), booster.predict(xgb.DMatrix(X)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_lightgbm_deep_leaf_wise_trees(zero_as_missing):
    """Leaf-wise trees far from complete (63 leaves, many levels deep: the
    early-exit walk of tree_deep.cpp) on rows with NaN, +-inf and zeros, odd
    row counts, both precisions, 1 and 2 threads."""
    rng = np.random.default_rng(9)
    n, d = 3000, 6
    X = rng.normal(size=(n, d))
    X[:, 0] = np.exp(3 * X[:, 0])  # a skewed feature: long chains of splits
    X[rng.random(X.shape) < 0.05] = np.nan
    X[rng.random(X.shape) < 0.05] = 0.0
    y = np.nan_to_num(X[:, 0]) ** 0.3 + np.sin(3 * np.nan_to_num(X[:, 1])) + rng.normal(scale=0.1, size=n)
    booster = lgb.train({"objective": "regression", "num_leaves": 63, "min_data_in_leaf": 2, "learning_rate": 0.3,
                         "zero_as_missing": zero_as_missing, "verbose": -1, "seed": 0, "num_threads": 2},
                        lgb.Dataset(X, label=y), num_boost_round=12)
    depth = max(_depth(t["tree_structure"]) for t in booster.dump_model()["tree_info"])
    assert depth > 10  # the model has the deep trees this test is about
    scorer = ts.TreeScorer.from_lightgbm(booster)
    Xt = rng.normal(size=(1001, d))
    Xt[:, 0] = np.exp(3 * Xt[:, 0])
    Xt[rng.random(Xt.shape) < 0.05] = np.nan
    Xt[rng.random(Xt.shape) < 0.05] = 0.0
    Xt[::97, 1] = np.inf
    Xt[::89, 2] = -np.inf
    for rows in (1, 7, 9, 1001):
        for dtype in (np.float32, np.float64):
            x = np.ascontiguousarray(Xt[:rows], dtype=dtype)
            ref = booster.predict(x)
            a = scorer.predict(x, n_threads=1)
            np.testing.assert_allclose(a, ref, rtol=0, atol=1e-9)
            np.testing.assert_array_equal(scorer.predict(x, n_threads=2), a)


def _depth(node):
    if "split_index" not in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def test_top_reasons_groups_must_be_a_mapping(xgb_models, data):
    scorer = ts.TreeScorer.from_xgboost(xgb_models["binary:logistic"][0])
    with pytest.raises(TypeError, match="groups must map each reason to a list of columns"):
        scorer.top_reasons(data[0].iloc[:3], groups=[["x0", "x1"]])


def test_model_files_are_read_with_bounds(tmp_path, xgb_models):
    """Only regular files, of a bounded size checked before reading; text with any line endings."""
    import os

    booster = xgb_models["binary:logistic"][0]
    path = tmp_path / "m.json"
    booster.save_model(path)
    size = path.stat().st_size
    with pytest.raises(ValueError, match=f"holds {size:,} bytes, more than max_bytes = 100"):
        ts.TreeScorer.from_xgboost(path, max_bytes=100)
    assert ts.TreeScorer.from_xgboost(path, max_bytes=size).n_trees == ts.TreeScorer.from_xgboost(booster).n_trees
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # opening it for reading would block forever
    with pytest.raises(ValueError, match="is not a regular file"):
        ts.TreeScorer.from_xgboost(fifo)
    with pytest.raises(ValueError, match="is not a regular file"):
        ts.TreeScorer.from_lightgbm("/dev/zero")
    with pytest.raises(ValueError, match="is not a regular file"):
        ts.TreeScorer.from_xgboost(tmp_path)
    with pytest.raises(ValueError, match=r"x{100}\.\.\.: File name too long"):
        ts.TreeScorer.from_xgboost("x" * 5000)
    with pytest.raises(FileNotFoundError, match="model file not found"):
        ts.TreeScorer.from_xgboost(tmp_path / "none.json")


def test_lightgbm_model_text_with_any_line_endings(rng):
    X = rng.normal(size=(400, 3))
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4},
                        lgb.Dataset(X, (X[:, 0] > 0).astype(int)), 5)
    text = booster.model_to_string()
    ref = ts.TreeScorer.from_lightgbm(text).predict(X)
    for variant in (text.replace("\n", "\r\n"), "\n" + text, "\r\n" + text.replace("\n", "\r\n")):
        np.testing.assert_array_equal(ts.TreeScorer.from_lightgbm(variant).predict(X), ref)
    with pytest.raises(ValueError) as info:  # text that is not a model: said briefly, never printed whole
        ts.TreeScorer.from_lightgbm("not a model\n" + "x" * 100_000)
    assert len(str(info.value)) < 300


def test_progress_over_rows_gives_the_same_scores(xgb_models, capsys):
    scorer = ts.TreeScorer.from_xgboost(xgb_models["binary:logistic"][0])
    X = np.random.default_rng(5).normal(size=(150_000, scorer.n_features_in_)).astype(np.float32)
    np.testing.assert_array_equal(scorer.predict(X, progress=True), scorer.predict(X))
    np.testing.assert_array_equal(scorer.contributions(X[:5_000], progress=True), scorer.contributions(X[:5_000]))
    assert "trees" in capsys.readouterr().err  # the bar (tqdm or a line) went to stderr
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        scorer.predict(X[:10], progress="yes")
