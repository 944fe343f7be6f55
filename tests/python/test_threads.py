"""Threads: a process default, a per-thread ``threads(n)`` context, a count per call.

Each engine call receives its thread count as an argument and runs in an arena
of its own; nothing process-wide changes during a call, so Python threads may
call engines at once with different counts. Results never depend on the count.
"""

import functools
import os
import threading
import time

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore import _core
from twinscore._config import resolve_threads


def test_default_follows_the_affinity_mask(restore_threads):
    ts.set_num_threads(None)
    assert ts.get_num_threads() == len(os.sched_getaffinity(0))
    assert _core.default_num_threads() == len(os.sched_getaffinity(0))


def test_set_get_and_context_manager(restore_threads):
    ts.set_num_threads(1)
    assert ts.get_num_threads() == 1
    assert _core.call_threads() == (1, 1)
    with ts.threads(3) as n:
        # The context sets this thread's calls, not the process default.
        assert n == 3 and ts.get_num_threads() == 1
        assert resolve_threads() == 3 and resolve_threads(2) == 2  # an explicit argument wins
        with ts.threads(2) as inner:
            assert inner == 2 and resolve_threads() == 2
        assert resolve_threads() == 3
        with ts.threads(None) as same:
            assert same == 3
    assert resolve_threads() == 0 and ts.get_num_threads() == 1
    with ts.threads(None) as n:
        assert n == 1
    ts.set_num_threads(0)
    assert ts.get_num_threads() == _core.default_num_threads()


def test_a_call_sees_its_own_count_on_every_thread(restore_threads):
    """(count on the calling thread, largest count seen by the call's blocks)."""
    ts.set_num_threads(2)
    for n in (1, 2, 3, 5):
        assert _core.call_threads(n_threads=n) == (n, n)
    assert _core.call_threads() == (2, 2)  # 0: the process default, read at the call
    assert ts.get_num_threads() == 2


@pytest.mark.parametrize("bad, error", [(-3, ValueError), (0, ValueError), (4097, ValueError), (2.5, TypeError),
                                        ("2", TypeError), (True, TypeError)])
def test_bad_thread_counts_name_n_threads(bad, error, rng):
    with pytest.raises(error, match="n_threads"):
        with ts.threads(bad):
            pass
    with pytest.raises(error, match="n_threads"):
        resolve_threads(bad)
    with pytest.raises(error, match="n_threads"):
        ts.KMeans(n_clusters=2, n_threads=bad).fit(rng.normal(size=(20, 2)))
    with pytest.raises(error, match="n_threads"):
        ts.TwinIndex("cosine", n_threads=bad).fit(rng.normal(size=(20, 2)).astype(np.float32))
    with pytest.raises(error, match="n_threads"):
        ts.contact_plan(np.full(3, 0.5), np.ones(3), [ts.Channel("email", cost=0.1)], n_threads=bad)


def test_bad_counts_reaching_the_core_and_the_process_default(restore_threads):
    with pytest.raises(ValueError, match="n_threads"):
        _core.call_threads(n_threads=-3)
    with pytest.raises(ValueError, match="n_threads"):
        _core.call_threads(n_threads=5000)
    with pytest.raises(TypeError):
        _core.call_threads(n_threads=2.5)
    with pytest.raises(TypeError, match="integer"):
        ts.set_num_threads(2.5)
    with pytest.raises(TypeError, match="integer"):
        ts.set_num_threads("2")
    with pytest.raises(ValueError, match="n_threads"):
        ts.set_num_threads(10**6)


def test_engines_run_from_several_python_threads(rng):
    """The GIL is released inside the engine and concurrent calls do not interfere."""
    x = rng.normal(size=2_000_000)
    expected = _core.summarize_numeric("x", x)
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(_core.summarize_numeric("x", x))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 20 and all(r == expected for r in results)


def _run_together(*jobs):
    """Runs each job on its own thread, started together; returns their results."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def run(i, job):
        try:
            barrier.wait()
            results[i] = job()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for w in workers:
        w.start()
    return workers, results, errors


def test_contexts_are_per_thread(restore_threads):
    ts.set_num_threads(2)
    seen = {}

    def job(n):
        with ts.threads(n):
            time.sleep(0.05)  # both contexts are open at once
            seen[n] = (resolve_threads(), _core.call_threads(n_threads=resolve_threads()), ts.get_num_threads())

    workers, _, errors = _run_together(functools.partial(job, 1), functools.partial(job, 3))
    for w in workers:
        w.join()
    assert not errors
    assert seen == {1: (1, (1, 1), 2), 3: (3, (3, 3), 2)}
    assert resolve_threads() == 0 and ts.get_num_threads() == 2


def _takes_n_threads(fn) -> bool:
    """A pybind11 function whose signature (the first line of its docstring) has n_threads."""
    return callable(fn) and "n_threads:" in (getattr(fn, "__doc__", None) or "").split("\n")[0]


def _n_threads_position(fn) -> int | None:
    """Where n_threads sits among a binding's positional parameters (self
    included), or None when it is keyword-only."""
    params = (fn.__doc__ or "").split("\n")[0].split("(", 1)[1].rsplit(")", 1)[0]
    names = [p.split(":")[0].strip() for p in params.split(", ")]
    if "*" in names[:names.index("n_threads")]:
        return None
    return names.index("n_threads")


class _Recorder:
    """Wraps the `_core` functions and methods that take n_threads, recording
    (calling thread, name, n_threads received) for every call and when it ran."""

    def __init__(self, monkeypatch):
        self.calls = []
        self.names = set()
        self._lock = threading.Lock()
        for name in dir(_core):
            obj = getattr(_core, name)
            if isinstance(obj, type):
                for attr, fn in vars(obj).items():
                    static = isinstance(fn, staticmethod)
                    if _takes_n_threads(fn.__func__ if static else fn):
                        monkeypatch.setattr(obj, attr, self._wrap(f"{name}.{attr}", fn, static))
            elif _takes_n_threads(obj):
                monkeypatch.setattr(_core, name, self._wrap(name, obj, False))

    def _wrap(self, name, fn, static):
        self.names.add(name)
        target = fn.__func__ if static else fn
        at = _n_threads_position(target)

        @functools.wraps(target)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return target(*args, **kwargs)
            finally:
                n = kwargs.get("n_threads", args[at] if at is not None and at < len(args) else None)
                with self._lock:
                    self.calls.append((threading.get_ident(), name, n, start, time.perf_counter()))

        return staticmethod(wrapper) if static else wrapper


# Bindings that run no engine: thread settings, the SIMD level, accessors, a scalar function.
_NOT_ENGINES = {"set_num_threads", "get_num_threads", "default_num_threads", "simd_info", "buffer_address",
                "bgnbd_expected_if_alive", "paretonbd_expected_new", "paretonbd_log_integral",
                "Dictionary.values", "TwinIndex.block_sizes",
                # the model file's checks: one pass over bytes, no parallel work
                "read_model_file", "model_file_header", "model_file_crc32"}


def _core_callables():
    """name -> function of every `_core` function and (static) method, dunders and pybind11 internals left out."""
    out = {}
    for name in dir(_core):
        obj = getattr(_core, name)
        if isinstance(obj, type):
            for attr, fn in vars(obj).items():
                if not attr.startswith("_") and not isinstance(fn, property):
                    out[f"{name}.{attr}"] = fn.__func__ if isinstance(fn, staticmethod) else fn
        elif callable(obj) and not name.startswith("_"):
            out[name] = obj
    return out


def test_every_engine_binding_takes_n_threads():
    """A binding added without the n_threads argument (and so run in no
    call's arena) shows here."""
    missing = {name for name, fn in _core_callables().items() if not _takes_n_threads(fn)}
    assert missing == _NOT_ENGINES


def _xgboost_model(X, y):
    xgb = pytest.importorskip("xgboost")
    return xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 0},
                     xgb.DMatrix(X, label=y), num_boost_round=5)


def _lightgbm_model(X, y):
    lgb = pytest.importorskip("lightgbm")
    return lgb.train({"objective": "binary", "num_leaves": 7, "min_data_in_leaf": 5, "verbose": -1, "seed": 0,
                      "num_threads": 1}, lgb.Dataset(X, label=y), num_boost_round=5)


def _every_engine(prm):
    """One pass over the package's public engines, on small data."""
    p, c = prm.prospects.iloc[:600], prm.clients
    cols = ["sex", "age_band", "region", "income", "categories"]
    table = ts.ContactTable.from_pandas(p[[*cols, "signup_date"]])
    X = table.encode(cols).X
    ts.ContactTable.from_pandas(p[[*cols, "signup_date"]], schema=table.schema)  # known categories
    ts.ContactTable.from_arrays({"seen": np.eye(4, 3, dtype=np.uint8)}, roles={"seen": "category_set"},
                                vocabularies={"seen": ["a", "b", "c"]})  # a 0/1 category matrix
    ts.ContactTable.from_pandas(pd.DataFrame({"city": ["Paris", "Lyon", None]}))  # strings: a dictionary learnt
    ts.events.aggregate(prm.events, p, now=prm.now, half_life_days=30, unknown="ignore")
    rules = {"grades": {"A": 10}, "fit": [{"name": "women", "column": "sex", "in": ["F"], "points": 5}],
             "behaviour": [{"name": "clicks", "event": "email_click", "points": 4, "cap": 12}]}
    ts.score_leads(p, prm.events, rules, now=prm.now, unknown="ignore")
    y = p["converted"].to_numpy()
    model = ts.LogisticScorer().fit(p[cols], y)
    score = model.predict_proba(p[cols])[:, 1]
    model.explain(p[cols], top=2)
    ts.metrics.roc_auc(y, score)
    ts.metrics.lift_table(y, score, n_bins=5)
    ts.metrics.band_table(y, score, [0.0, 0.5, 1.0])
    ts.rfm(prm.transactions, customer="client_id", date="date", amount="amount", now=prm.now)
    tx = prm.transactions.assign(client_id=prm.transactions["client_id"].astype(str))
    ts.rfm(tx, customer="client_id", date="date", amount="amount", now=prm.now)
    summary = ts.calibration_summary(prm.transactions, customer="client_id", date="date", amount="amount",
                                     calibration_end=prm.now - pd.Timedelta(days=90), observation_end=prm.now)
    bg = ts.BetaGeo(penalizer=0.01).fit(summary)
    bg.log_likelihood(summary)
    bg.predict(summary, 10)
    gg = ts.GammaGamma(penalizer=0.01).fit(summary)
    gg.expected_spend(summary)
    bg.predict(summary, 10, interval=0.9, draws=10)  # parameter draws, then the interval pass
    ts.lifetime_value(bg, gg, summary, months=2, interval=0.9, draws=10)
    pn = ts.ParetoNBD(penalizer=0.01).fit(summary)
    pn.log_likelihood(summary)
    pn.predict(summary, 10, interval=0.9, draws=10)
    ts.lifetime_value(pn, gg, summary, months=2, interval=0.9, draws=10)
    months = ts.discrete_summary(prm.transactions, customer="client_id", date="date", freq="M",
                                 calibration_end=prm.now - pd.Timedelta(days=90))
    bgbb = ts.BetaGeoBetaBinom(penalizer=0.01).fit(months)
    bgbb.log_likelihood(months)
    bgbb.predict(months, 3, interval=0.9, draws=10)
    bgbb.purchase_count_probabilities([3, 6], 4)
    km = ts.KMeans(n_clusters=3, random_state=0).fit(X)
    km.predict(X), km.transform(X), km.score(X)
    ts.MiniBatchKMeans(n_clusters=3, random_state=0, batch_size=128).fit(X).partial_fit(X)
    ts.discriminating_criteria(p, "converted", cols).scorecard(top=100).apply(p)  # bins income in C++
    ts.contact_plan(score, np.ones(len(score)), [ts.Channel("email", cost=0.02)], budget=5.0)
    idx = ts.TwinIndex("mixed", block_on=["sex"]).fit(c[["client_id", *cols]], id="client_id")
    idx.search(p[["contact_id", *cols]], k=3, id="contact_id")
    idx.explain(p[["contact_id", *cols]], prospect=int(p["contact_id"].iloc[0]),
                client=int(c["client_id"].iloc[0]), id="contact_id")
    ts.TwinIndex("jaccard").fit(np.asarray(X[:50] > 0, dtype=np.uint8)).search(np.asarray(X > 0, dtype=np.uint8), k=2)
    scorers = [ts.TreeScorer.from_xgboost(_xgboost_model(X, y)), ts.TreeScorer.from_lightgbm(_lightgbm_model(X, y))]
    for scorer in scorers:
        scorer.predict(X)
        scorer.predict_margin(X)
        scorer.contributions(X[:50])


# Bindings the package does not call (the tests reach them directly).
_UNUSED_BY_THE_PACKAGE = {"call_threads", "decision_dense", "quantile_scores", "rank_descending",
                          "gammagamma_loglik"}


def test_every_engine_call_receives_the_context_count(prm, monkeypatch, restore_threads):
    """Every `_core` call the package makes passes the count of the enclosing
    threads(n) block (a forgotten one would pass 0, the process default)."""
    ts.set_num_threads(2)
    rec = _Recorder(monkeypatch)
    with ts.threads(3):
        _every_engine(prm)
    assert rec.calls
    wrong = sorted({(name, n) for _, name, n, _, _ in rec.calls if n != 3})
    assert not wrong, f"engine calls without the context's count: {wrong}"
    missed = rec.names - {name for _, name, _, _, _ in rec.calls} - _UNUSED_BY_THE_PACKAGE
    assert not missed, f"engine bindings the pass did not reach (extend _every_engine): {sorted(missed)}"


def test_an_estimators_n_threads_wins_over_the_context(prm, monkeypatch, rng):
    X = rng.normal(size=(300, 4)).astype(np.float32)
    rec = _Recorder(monkeypatch)
    with ts.threads(3):
        ts.KMeans(n_clusters=2, random_state=0, n_threads=1).fit(X).predict(X)
        ts.TwinIndex("cosine", n_threads=2).fit(X).search(X, k=2)
    counts = {name: n for _, name, n, _, _ in rec.calls}
    assert counts == {"kmeans_init": 1, "kmeans_lloyd": 1, "kmeans_assign": 1,
                      "TwinIndex.fit": 2, "TwinIndex.search": 2}


def _kmeans_job(X):
    with ts.threads(1):
        km = ts.KMeans(n_clusters=6, random_state=0, n_init=2).fit(X)
    return km.cluster_centers_, km.labels_, km.inertia_


def _twins_job(clients, prospects):
    res = ts.TwinIndex("cosine", n_threads=2).fit(clients).search(prospects, k=5)
    return res.rows, res.similarities, res.counts


def test_two_engines_from_two_threads_at_once_match_sequential_calls(monkeypatch, restore_threads):
    """KMeans.fit in a threads(1) block and TwinIndex.search with n_threads=2,
    from two Python threads at once, repeatedly: the same results as calls
    made one after the other, each call with its own count, and the process
    default untouched during and after."""
    ts.set_num_threads(2)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(40_000, 16)).astype(np.float32)
    clients = rng.normal(size=(4_000, 32)).astype(np.float32)
    prospects = rng.normal(size=(8_000, 32)).astype(np.float32)
    kmeans = functools.partial(_kmeans_job, X)
    twins = functools.partial(_twins_job, clients, prospects)
    expected = (kmeans(), twins())

    rec = _Recorder(monkeypatch)
    repeats = 4
    workers, results, errors = _run_together(lambda: [kmeans() for _ in range(repeats)],
                                             lambda: [twins() for _ in range(repeats)])
    defaults = set()
    while any(w.is_alive() for w in workers):
        defaults.add(ts.get_num_threads())
        time.sleep(0.001)
    for w in workers:
        w.join()
    assert not errors, errors
    assert defaults == {2} and ts.get_num_threads() == 2
    for got, want in zip(results, expected):
        assert len(got) == repeats
        for run in got:
            for a, b in zip(run, want):
                np.testing.assert_array_equal(a, b)
    # Each thread's engine calls received that thread's count...
    by_thread = {}
    for ident, name, n, _, _ in rec.calls:
        by_thread.setdefault(ident, set()).add((name.split("_")[0].split(".")[0], n))
    assert sorted(map(sorted, by_thread.values())) == [[("TwinIndex", 2)], [("kmeans", 1)]]
    # ... and calls of the two threads did run at the same time.
    spans = {ident: [(s, e) for i, _, _, s, e in rec.calls if i == ident] for ident in by_thread}
    a, b = spans.values()
    assert any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)
