"""Model files: every fitted object saved, loaded in a new process and through
pickle / joblib / deepcopy gives bit-identical results; hostile files are
refused with a message that says which."""
import copy
import json
import os
import pickle
import subprocess
import sys
import zlib

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore import _core, _model_file

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["sex", "age_band", "region", "income", "channel", "categories"]


# --------------------------------------------------------------------------- the models and what they answer
# Each case: build() -> fitted model (from data drawn again identically in any process), answer(model) -> dict
# of results that must be the same, bit for bit, after the model went through a file.


def _data():
    return ts.datasets.make_prm(n_prospects=1200, n_clients=300, seed=5)


def _market():
    d = _data()
    clients = d.clients[["client_id", *FEATURES, "margin"]].copy()
    prospects = d.prospects[["contact_id", *FEATURES]].copy()
    clients.loc[clients.index[::7], "region"] = None
    prospects.loc[prospects.index[::11], "categories"] = None
    return d, clients, prospects


def _twin_answers(idx, prospects, matrix=False):
    kw = {} if matrix else {"id": "contact_id"}
    res = idx.search(prospects, k=7, **kw)
    out = {f: getattr(res, f) for f in ("rows", "similarities", "counts", "client_ids", "score", "value_score",
                                        "reference_score", "value_reference_score", "reference_rows")}
    out["scores"] = res.scores()
    out["expand"] = idx.expand(prospects, fraction=0.1, **kw)
    if not matrix and getattr(idx, "reference_index_", None) is not None and idx.metric_ != "sqeuclidean":
        out["reasons"] = idx.reasons(prospects.head(60), top=2, **kw)
    return out


def _build_twins_mixed():
    d, clients, prospects = _market()
    return ts.TwinIndex("mixed", block_on=["sex"], weights="auto").fit(
        clients, id="client_id", value="margin", population=d.prospects[["contact_id", *FEATURES]])


def _answer_twins_mixed(idx):
    d, clients, prospects = _market()
    out = _twin_answers(idx, prospects)
    tx = d.transactions.assign(item=d.transactions["amount"].round(-1).astype(str))
    out["recommend"] = idx.search(prospects, k=7, id="contact_id").recommend(
        tx[["client_id", "item"]], top=3, item="item")
    out["explain"] = idx.explain(prospects, int(prospects["contact_id"].iloc[3]),
                                 int(clients["client_id"].iloc[5]), id="contact_id")
    return out


def _build_twins_range():
    d, clients, prospects = _market()
    return ts.TwinIndex("mixed", numeric_scale="range", block_on=["sex", "age_band"],
                        weights={"income": 2.0}).fit(clients, id="client_id", value="margin")


def _build_twins_cosine():
    d, clients, prospects = _market()
    return ts.TwinIndex("cosine", block_on=["age_band"], exclude=["channel"]).fit(
        clients.drop(columns="margin"), id="client_id", population=prospects)


def _answer_twins_table(idx):
    return _twin_answers(idx, _market()[2])


def _matrices():
    rng = np.random.default_rng(11)
    return rng.normal(size=(400, 6)).astype(np.float32), rng.normal(size=(300, 6)).astype(np.float32) + 0.3, \
        rng.random((500, 70)) < 0.2, rng.random((200, 70)) < 0.25


def _build_twins_sqeuclidean():
    C, Q, _, _ = _matrices()
    return ts.TwinIndex("sqeuclidean", weights="auto", reference_size="all").fit(C, reference=Q)


def _answer_twins_dense_matrix(idx):
    return _twin_answers(idx, _matrices()[1], matrix=True)


def _build_twins_jaccard():
    _, _, B, _ = _matrices()
    return ts.TwinIndex("weighted_jaccard").fit(B, value=np.arange(len(B), dtype=float))


def _answer_twins_bits(idx):
    return _twin_answers(idx, _matrices()[3], matrix=True)


def _scoring_frame():
    p = _data().prospects
    return p[["sex", "age_band", "income", "categories"]], p["converted"]


def _build_logistic():
    X, y = _scoring_frame()
    return ts.LogisticScorer(C=0.5).fit(X, y)


def _answer_logistic(m):
    X, _ = _scoring_frame()
    return {"proba": m.predict_proba(X), "decision": m.decision_function(X), "explain": m.explain(X.head(80), top=2)}


def _build_kmeans():
    X = _matrices()[0]
    return ts.KMeans(n_clusters=5, random_state=0).fit(X)


def _build_minibatch():
    X = _matrices()[0]
    return ts.MiniBatchKMeans(n_clusters=4, batch_size=64, random_state=0).fit(X)


def _answer_kmeans(km):
    Q = _matrices()[1]
    return {"labels": km.predict(Q), "distances": km.transform(Q), "centers": km.cluster_centers_}


def _build_criteria():
    X, y = _scoring_frame()
    return ts.discriminating_criteria(X, y)


def _answer_criteria(crit):
    X, _ = _scoring_frame()
    card = crit.scorecard(top=3, min_iv=0.0)
    return {"table": crit.table if hasattr(crit, "table") else None, "points": card.points, "apply": card.apply(X)}


def _build_scorecard():
    return _build_criteria().scorecard(top=3, min_iv=0.0)


def _answer_scorecard(card):
    X, _ = _scoring_frame()
    return {"apply": card.apply(X), "points": card.points}


def _summary():
    d = _data()
    return ts.calibration_summary(d.transactions, customer="client_id", date="date", amount="amount",
                                  calibration_end=d.now - pd.Timedelta(days=120), observation_end=d.now)


def _build_betageo():
    return ts.BetaGeo().fit(_summary())


def _answer_betageo(bg):
    s = _summary()
    return {"predict": bg.predict(s, 30.0), "params": pd.Series(bg.params_)}


def _build_paretonbd():
    return ts.ParetoNBD().fit(_summary())


def _answer_paretonbd(m):
    s = _summary()
    return {"predict": m.predict(s, 30.0), "alive": m.probability_alive(s), "params": pd.Series(m.params_),
            "se": m.std_errors_}


def _build_gammagamma():
    return ts.GammaGamma().fit(_summary())


def _answer_gammagamma(gg):
    s = _summary()
    return {"clv": ts.lifetime_value(ts.BetaGeo().fit(s), gg, s, months=6), "params": pd.Series(gg.params_)}


def _build_leads():
    return ts.LeadRules.from_dict(ts.datasets.PRM_LEAD_RULES)


def _answer_leads(rules):
    d = _data()
    return {"leads": ts.score_leads(d.prospects, d.events, rules, now=d.now)}


def _build_schema():
    return ts.Schema.learn(_market()[2], id="contact_id")


def _answer_schema(schema):
    t = schema.apply(_market()[2], id="contact_id")
    return {"X": t.encode().X, "names": np.array(t.encode().feature_names, dtype=object)}


def _build_xgboost():
    xgb = pytest.importorskip("xgboost")
    X, y = _matrices()[0], (_matrices()[0][:, 0] > 0).astype(int)
    return ts.TreeScorer.from_xgboost(xgb.train({"max_depth": 3, "objective": "binary:logistic"},
                                                xgb.DMatrix(X, y), 12))


def _build_lightgbm():
    lgb = pytest.importorskip("lightgbm")
    X, y = _matrices()[0], (_matrices()[0][:, 1] > 0).astype(int)
    return ts.TreeScorer.from_lightgbm(lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1},
                                                 lgb.Dataset(X, y), 10))


def _answer_trees(t):
    Q = _matrices()[1]
    return {"predict": t.predict(Q), "margin": t.predict_margin(Q), "shap": t.contributions(Q)}


CASES = {
    "twins_mixed": (_build_twins_mixed, _answer_twins_mixed),
    "twins_range": (_build_twins_range, _answer_twins_table),
    "twins_cosine": (_build_twins_cosine, _answer_twins_table),
    "twins_sqeuclidean": (_build_twins_sqeuclidean, _answer_twins_dense_matrix),
    "twins_weighted_jaccard": (_build_twins_jaccard, _answer_twins_bits),
    "logistic": (_build_logistic, _answer_logistic),
    "kmeans": (_build_kmeans, _answer_kmeans),
    "minibatch_kmeans": (_build_minibatch, _answer_kmeans),
    "criteria": (_build_criteria, _answer_criteria),
    "scorecard": (_build_scorecard, _answer_scorecard),
    "betageo": (_build_betageo, _answer_betageo),
    "gammagamma": (_build_gammagamma, _answer_gammagamma),
    "paretonbd": (_build_paretonbd, _answer_paretonbd),
    "lead_rules": (_build_leads, _answer_leads),
    "schema": (_build_schema, _answer_schema),
    "xgboost": (_build_xgboost, _answer_trees),
    "lightgbm": (_build_lightgbm, _answer_trees),
}


def _same(a, b, what):
    """Bit-identical results (NaN equal to NaN)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for k in a:
            _same(a[k], b[k], f"{what}.{k}")
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=what)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True, obj=what)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, what
        if a.dtype == object:
            assert all(x == y or (x is None and y is None) for x, y in zip(a.ravel(), b.ravel())), what
        else:
            assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), what
    else:
        assert a == b or (a is None and b is None), what


def _child(kind: str, path: str, out: str):
    """Run in a new process: load the file, answer, pickle the answers (our own, trusted) to ``out``."""
    model = ts.load(path)
    with open(out, "wb") as f:
        pickle.dump(CASES[kind][1](model), f)


@pytest.fixture(scope="module")
def models():
    return {}


def _model(models, kind):
    if kind not in models:
        models[kind] = CASES[kind][0]()
    return models[kind]


@pytest.mark.parametrize("kind", list(CASES))
def test_save_load_in_a_new_process_gives_identical_results(kind, models, tmp_path):
    model = _model(models, kind)
    expect = CASES[kind][1](model)
    path = tmp_path / f"{kind}.tsm"
    model.save(path)
    out = tmp_path / "answers.pkl"
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('tmf', sys.argv[1]); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); m._child(*sys.argv[2:])")
    run = subprocess.run([sys.executable, "-c", code, __file__, kind, str(path), str(out)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(out, "rb") as f:
        got = pickle.load(f)
    _same(expect, got, kind)
    # The same class comes back, and Class.load checks it.
    again = type(model).load(path)
    assert type(again) is type(model)


@pytest.mark.parametrize("kind", list(CASES))
def test_pickle_joblib_and_deepcopy_go_through_the_model_file(kind, models, tmp_path):
    model = _model(models, kind)
    expect = CASES[kind][1](model)
    blob = pickle.dumps(model)
    assert _model_file.MAGIC in blob  # the pickle carries the model file's bytes
    _same(expect, CASES[kind][1](pickle.loads(blob)), f"{kind} pickle")
    _same(expect, CASES[kind][1](copy.deepcopy(model)), f"{kind} deepcopy")
    joblib = pytest.importorskip("joblib")
    joblib.dump(model, tmp_path / "m.joblib")
    _same(expect, CASES[kind][1](joblib.load(tmp_path / "m.joblib")), f"{kind} joblib")
    _same(expect, CASES[kind][1](ts.from_bytes(model.to_bytes())), f"{kind} bytes")


def test_the_manifest_is_readable_and_describes_every_array(models):
    idx = _model(models, "twins_mixed")
    data = idx.to_bytes()
    version, text, cls, table = _core.read_model_file(data)
    m = json.loads(text)
    assert (m["format"], m["format_version"], m["class"]) == ("twinscore-model", 1, "twinscore.twins.TwinIndex")
    assert m["twinscore_version"] == ts.__version__
    assert m["params"]["metric"] == "mixed" and m["params"]["block_on"] == ["sex"]
    for e in m["arrays"]:
        assert e["offset"] % 64 == 0
        raw = data[e["offset"]:e["offset"] + e["length"]]
        assert zlib.crc32(raw) == e["crc32"]
        assert len(raw) == int(np.prod(e["shape"], dtype=np.int64)) * np.dtype(e["dtype"]).itemsize
    assert len(data) == max(e["offset"] + e["length"] for e in m["arrays"])
    # The engines are rebuilt, not stored: no array holds them.
    assert "index_" not in m["state"] and "reference_index_" not in m["state"]


def test_unfitted_estimators_and_schema_json_still_work(tmp_path):
    for model in (ts.TwinIndex("cosine", block_on=["sex"]), ts.LogisticScorer(C=3.0), ts.KMeans(n_clusters=3)):
        back = ts.from_bytes(model.to_bytes())
        assert _model_file._params(back) == _model_file._params(model) and _model_file._params(model)
    schema = _build_schema()
    schema.save(tmp_path / "schema.json")  # JSON, as before
    assert json.loads((tmp_path / "schema.json").read_text())["columns"]
    assert ts.Schema.load(tmp_path / "schema.json").to_dict() == schema.to_dict()
    ts.save(schema, tmp_path / "schema.tsm")  # or a model file, read by the same load
    assert ts.Schema.load(tmp_path / "schema.tsm").to_dict() == schema.to_dict()
    assert ts.load(tmp_path / "schema.json") == schema  # twinscore.load reads both
    with pytest.raises(ValueError, match="holds a Schema"):
        ts.load(tmp_path / "schema.json", expect=ts.KMeans)


def test_copy_is_shallow_and_cheap(models):
    idx = _model(models, "twins_mixed")
    c = copy.copy(idx)
    assert c.index_ is idx.index_


def test_a_tree_scorer_without_model_bytes_cannot_be_saved():
    xgb = pytest.importorskip("xgboost")
    t = _build_xgboost()
    bare = ts.TreeScorer(t._engine)
    with pytest.raises(TypeError, match="from_xgboost/from_lightgbm"):
        bare.to_bytes()
    with pytest.raises(TypeError, match="cannot save"):
        ts.save(object(), "x")
    assert xgb


# --------------------------------------------------------------------------- hostile files


def _rewrite(data: bytes, edit) -> bytes:
    """The file with its manifest edited by ``edit(manifest)`` and every checksum made right again: what an
    attacker (not a damaged disk) would write."""
    _, text, _, table = _core.read_model_file(data)
    m = json.loads(text)
    blobs = [data[off:off + n] for _, _, _, off, n in table]
    edit(m)
    declared = [e["length"] for e in m["arrays"]]
    for e, blob in zip(m["arrays"], blobs):  # laid out by the real lengths, with room for the edits
        e["length"] = len(blob)
    _, offsets = _model_file._layout(m, m["arrays"])
    offsets = [o + 256 for o in offsets]
    for e, o, n in zip(m["arrays"], offsets, declared):
        e["offset"], e["length"] = o, n
    text = json.dumps(m, indent=1).encode()
    assert not offsets or _model_file._HEADER + len(text) <= offsets[0]
    out = bytearray(_core.model_file_header(text) + text)
    for off, blob in zip(offsets, blobs):
        out += bytes(off - len(out)) + blob
    return bytes(out)


@pytest.fixture(scope="module")
def small_file():
    X, y = _scoring_frame()
    return ts.LogisticScorer().fit(X.head(300), y.head(300)).to_bytes()


def test_truncated_at_every_offset(small_file):
    step = max(1, len(small_file) // 400)
    for n in list(range(0, len(small_file), step)) + [len(small_file) - 1]:
        with pytest.raises(ValueError, match="truncated|corrupt|not a twinscore model file") as e:
            ts.from_bytes(small_file[:n])
        assert str(e.value)


def test_flipped_bytes_are_caught(small_file):
    rng = np.random.default_rng(0)
    for i in sorted(set(rng.integers(0, len(small_file), 300).tolist()) | set(range(40))):
        bad = bytearray(small_file)
        bad[i] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(ValueError, match="corrupt|truncated|newer|not a twinscore|past its last"):
            ts.from_bytes(bytes(bad))


def test_huge_length_in_the_manifest_is_refused_before_allocating(small_file):
    def huge(m):
        m["arrays"][0]["length"] = 1 << 43
        m["arrays"][0]["shape"] = [1 << 40]

    bad = _rewrite(small_file, huge)
    import resource
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match="truncated model file: array .* declares shape items beyond"):
        ts.from_bytes(bad)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # kB: nothing sized from it

    def shape_lies(m):
        m["arrays"][0]["shape"] = [m["arrays"][0]["shape"][0] * 2]

    with pytest.raises(ValueError, match="shape and dtype make"):
        ts.from_bytes(_rewrite(small_file, shape_lies))

    def absurd(m):
        m["arrays"][0]["shape"] = [1 << 57]

    with pytest.raises(ValueError, match=r"corrupt model file: array .* shape = .* is not an integer in"):
        ts.from_bytes(_rewrite(small_file, absurd))


def test_a_manifest_naming_another_class(small_file, tmp_path):
    path = tmp_path / "logit.tsm"
    path.write_bytes(small_file)
    with pytest.raises(ValueError, match=r"holds a LogisticScorer \(twinscore.linear.LogisticScorer\), not a KMeans"):
        ts.KMeans.load(path)
    with pytest.raises(ValueError, match="not a TwinIndex"):
        ts.TwinIndex.from_bytes(small_file)

    def foreign(m):
        m["class"] = "os.system"

    with pytest.raises(ValueError, match="'os.system', which is not a twinscore model class"):
        ts.from_bytes(_rewrite(small_file, foreign))

    def inner(m):  # a class inside the state that is not twinscore's
        m["state"]["schema_"] = {"__object__": "subprocess.Popen", "state": {"args": "true"}}

    with pytest.raises(ValueError, match="'subprocess.Popen', which is not a twinscore class"):
        ts.from_bytes(_rewrite(small_file, inner))

    def missing_array(m):
        m["state"]["coef_"] = {"__array__": "no such array"}

    with pytest.raises(ValueError, match="does not hold"):
        ts.from_bytes(_rewrite(small_file, missing_array))


def test_a_future_format_version(small_file):
    bad = bytearray(small_file)
    bad[8] = 2  # the header's version, read before anything else
    with pytest.raises(ValueError, match="format version 2, newer than the version 1 this twinscore reads: upgrade"):
        ts.from_bytes(bytes(bad))

    def later(m):
        m["format_version"] = 2

    with pytest.raises(ValueError, match="manifest says format version 2, the header 1"):
        ts.from_bytes(_rewrite(small_file, later))

    def unknown_tag(m):
        m["state"]["coef_"] = {"__from_the_future__": 1}

    with pytest.raises(ValueError, match="unknown tag"):
        ts.from_bytes(_rewrite(small_file, unknown_tag))


def test_a_twin_index_with_tampered_arrays_is_refused(models):
    data = _model(models, "twins_mixed").to_bytes()

    def shorter_ids(m):  # the client ids and the clients disagree: caught when the engine is rebuilt
        m["state"]["client_ids_"] = m["state"]["value_"]
        m["state"]["value_"] = None
        m["state"]["n_clients_"] = 3

    with pytest.raises(ValueError, match="corrupt model file"):
        ts.from_bytes(_rewrite(data, shorter_ids))


def test_not_a_regular_file(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is not a regular file"):
        ts.load(fifo)  # refused before it is opened: opening a FIFO would block
    with pytest.raises(ValueError, match="is not a regular file"):
        ts.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        ts.load(tmp_path / "absent.tsm")
    (tmp_path / "text.tsm").write_text("hello")
    with pytest.raises(ValueError, match="not a twinscore model file"):
        ts.load(tmp_path / "text.tsm")
    with pytest.raises(ValueError, match="max_bytes"):
        ts.load(tmp_path / "text.tsm", max_bytes=2)


def test_save_is_atomic(tmp_path, models):
    path = tmp_path / "m.tsm"
    _model(models, "kmeans").save(path)
    bad = ts.KMeans(n_clusters=2)
    bad.broken_ = object()  # not something a model file holds
    with pytest.raises(TypeError, match="cannot save"):
        bad.save(path)
    assert isinstance(ts.load(path), ts.KMeans)  # the earlier file is intact
    assert os.listdir(tmp_path) == ["m.tsm"]  # and no temporary is left


@pytest.mark.parametrize("name, cls", [("model_logistic.tsm", ts.LogisticScorer), ("model_kmeans.tsm", ts.KMeans),
                                       ("model_twins_mixed.tsm", ts.TwinIndex),
                                       ("model_trees_xgb.tsm", ts.TreeScorer)])
def test_files_written_by_earlier_versions_still_load(name, cls):
    """The fuzz seeds (tests/fuzz/make_seeds.py) are files of format version 1 kept in the repository: a later
    twinscore must still load them and answer."""
    path = os.path.join(HERE, "..", "fuzz", "corpus", name)
    model = cls.load(path)
    rng = np.random.default_rng(0)
    if cls is ts.TwinIndex:
        d = ts.datasets.make_prm(n_prospects=50, n_clients=10, seed=2)
        res = model.search(d.prospects[["sex", "age_band", "income", "categories"]], k=3)
        assert (res.counts == 3).all() and np.isfinite(res.score).all()
    elif cls is ts.LogisticScorer:
        p = model.predict_proba(pd.DataFrame({"a": rng.normal(size=20), "b": rng.normal(size=20)}))
        assert p.shape == (20, 2) and np.isfinite(p).all()
    elif cls is ts.KMeans:
        assert set(model.predict(rng.normal(size=(20, 2)))) <= {0, 1, 2}
    else:
        assert model.predict(rng.normal(size=(20, 2)).astype(np.float32)).shape == (20, 3)
