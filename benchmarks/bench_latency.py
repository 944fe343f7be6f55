"""Latency: one contact at a time, as a form-filled trigger or a web request
scores it. Each entry point called on a single row, `--calls` (1,000) times
after 50 warm-up calls; the median time of one call in microseconds, with the
peers side by side, one run, same machine:

    - trees: a 200-tree depth-6 XGBoost model on 32 features, 1 row as a numpy
      array and as a 1-row DataFrame: TreeScorer.predict vs
      xgboost.Booster.inplace_predict and, where installed, pylignum and
      daal4py (from scikit-learn-intelex);
    - logistic: LogisticScorer.predict_proba on 20 numeric features (numpy
      row) vs scikit-learn LogisticRegression.predict_proba; on a 1-row
      DataFrame and ContactTable of mixed columns vs a scikit-learn
      Pipeline(OneHotEncoder + LogisticRegression);
    - scorecard: Scorecard.apply on a 1-row DataFrame and ContactTable;
    - lead rules: score_leads of one contact and its events;
    - twins: a one-prospect TwinIndex.search (k = 10) against 20,000 clients,
      cosine on 32 features vs scikit-learn NearestNeighbors and FAISS
      IndexFlatIP, and the mixed metric on a 1-row DataFrame.

Every result is checked against the same row scored in a batch (and the
peer's answer where there is one). Calls run with the process thread count
(`--threads`, default 2): a single row must not pay for it.

    python benchmarks/bench_latency.py [--calls 1000] [--threads 2] [--only trees,logistic,scorecard,leads,twins]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--calls", type=int, default=1000)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--only", default="trees,logistic,scorecard,leads,twins")
ap.add_argument("--repeat", type=int, default=1, help="accepted from run.py; each figure is already a median of --calls")
ARGS = ap.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
# OpenMP workers (xgboost's, after training) otherwise spin between calls and
# take a CPU from whatever is timed next.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from common import machine_line  # noqa: E402

import twinscore as ts  # noqa: E402


def per_call(fn, calls: int = ARGS.calls, warmup: int = 50):
    """Median, 10th and 90th percentile of one call's time, in microseconds; and the last result."""
    for _ in range(warmup):
        result = fn()
    times = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        t0 = clock()
        result = fn()
        times.append(clock() - t0)
    times.sort()
    q = lambda f: times[min(len(times) - 1, int(f * len(times)))] / 1e3  # noqa: E731
    return statistics.median(times) / 1e3, q(0.1), q(0.9), result


def line(label: str, fn, ref: float | None = None, note: str = "") -> float:
    med, lo, hi, _ = per_call(fn)
    ratio = f"{ref / med:6.2f}x" if ref is not None else "       "
    print(f"  {label:<58s} {med:9.1f} µs  [p10 {lo:.1f}, p90 {hi:.1f}]  {ratio}  {note}")
    return med


def check(name: str, got, want, tol: float = 0.0):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    diff = float(np.max(np.abs(got - want))) if got.size else 0.0
    if got.shape != want.shape or not diff <= tol:
        sys.exit(f"{name}: single-row result differs from the reference (shapes {got.shape} / {want.shape}, "
                 f"max |diff| {diff:.3g})")


def bench_trees():
    import xgboost as xgb

    rng = np.random.default_rng(0)
    d = 32
    X = rng.normal(size=(50_000, d)).astype(np.float32)
    logit = X @ rng.normal(size=d) / np.sqrt(d) + np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2]
    y = (logit + rng.logistic(size=len(X)) > 0).astype(np.float32)
    X[rng.random(X.shape) < 0.02] = np.nan
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.05, "tree_method": "hist",
                         "nthread": ARGS.threads, "seed": 0}, xgb.DMatrix(X, label=y), num_boost_round=200)
    # One row has nothing to share between threads: xgboost at its fastest, 1 thread.
    booster.set_param({"nthread": 1})
    scorer = ts.TreeScorer.from_xgboost(booster)
    row = X[7:8].copy()
    frame = pd.DataFrame(row, columns=[f"f{i}" for i in range(d)])
    batch = scorer.predict(X[:1000])
    check("trees numpy", scorer.predict(row), batch[7:8])
    check("trees frame", scorer.predict(frame), batch[7:8])
    check("trees vs xgboost", scorer.predict(row), booster.inplace_predict(row), 1e-6)
    print(f"\nTrees: XGBoost 200 trees of depth 6, {d} features, 1 row")
    peers = {"xgboost inplace_predict": line("xgboost Booster.inplace_predict, nthread 1 (numpy row)",
                                             lambda: booster.inplace_predict(row))}
    try:
        import lignum  # the pylignum package
    except ImportError:
        print("  pylignum: not installed")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.ubj")
            booster.save_model(path)
            model = lignum.load(path)
        check("trees vs pylignum", model.predict(row), booster.inplace_predict(row), 1e-6)
        peers["pylignum"] = line("pylignum Model.predict, interpreter (numpy row)", lambda: model.predict(row))
    daal = _daal4py_latency(booster, row)
    if daal is not None:
        print(f"  {'daal4py convert_model(...).predict_proba, own process':<58s} {daal:9.1f} µs")
        peers["daal4py"] = daal
    best = min(peers.values())
    line("twinscore TreeScorer.predict (numpy row)", lambda: scorer.predict(row), best,
         "vs the fastest peer (target >= 1)")
    line("twinscore TreeScorer.predict (1-row DataFrame)", lambda: scorer.predict(frame), best)
    line("  xgboost inplace_predict (1-row DataFrame)", lambda: booster.inplace_predict(frame))


_DAAL_SCRIPT = """
import sys, time, statistics
import daal4py  # first: it needs the TBB it ships, not the one twinscore loads
import numpy as np, xgboost as xgb
booster = xgb.Booster(model_file=sys.argv[1])
row = np.load(sys.argv[2])
model = daal4py.mb.convert_model(booster)
got = model.predict_proba(row)[:, 1]
assert abs(float(got[0]) - float(booster.inplace_predict(row)[0])) < 1e-6, (got, booster.inplace_predict(row))
for _ in range(50):
    model.predict_proba(row)
times = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter_ns()
    model.predict_proba(row)
    times.append(time.perf_counter_ns() - t0)
print(statistics.median(times) / 1e3)
"""


def _daal4py_latency(booster, row) -> float | None:
    """daal4py's median µs per single-row call, timed in a process of its own:
    daal4py needs the newer TBB its wheel ships, which cannot share a process
    with the system TBB twinscore is linked to. None when it is not installed."""
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        model, x = os.path.join(tmp, "model.ubj"), os.path.join(tmp, "row.npy")
        booster.save_model(model)
        np.save(x, row)
        r = subprocess.run([sys.executable, "-c", _DAAL_SCRIPT, model, x, str(ARGS.calls)], capture_output=True,
                           text=True)
    if r.returncode != 0:
        print(f"  daal4py: not measured ({(r.stderr.strip().splitlines() or ['?'])[-1][:120]})")
        return None
    return float(r.stdout.strip())


def bench_logistic():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(1)
    n, d = 20_000, 20
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + rng.logistic(size=n) > 0).astype(int)
    model = ts.LogisticScorer(standardize=False).fit(X, y)
    sk = LogisticRegression(C=1.0, max_iter=1000).fit(X, y)
    row = X[3:4].copy()
    check("logistic numpy", model.predict_proba(row), model.predict_proba(X[:10])[3:4])
    check("logistic vs sklearn", model.predict_proba(row), sk.predict_proba(row), 1e-3)  # two fits of one model
    print(f"\nLogistic: {d} numeric features, 1 row")
    ref = line("scikit-learn LogisticRegression.predict_proba (numpy row)", lambda: sk.predict_proba(row))
    line("twinscore LogisticScorer.predict_proba (numpy row)", lambda: model.predict_proba(row), ref)

    data = ts.datasets.make_prm(20_000, 2_000, seed=0)
    p = data.prospects
    cols = ["sex", "age_band", "region", "channel", "income"]
    df = p[cols]
    model = ts.LogisticScorer().fit(df, p["converted"])
    pipe = make_pipeline(ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), cols[:-1]),
                                            ("num", StandardScaler(), cols[-1:])]),
                         LogisticRegression(max_iter=1000)).fit(df.fillna({"income": df["income"].mean()}),
                                                                p["converted"])
    frame = df.iloc[5:6]
    table = ts.ContactTable.from_pandas(frame, schema=model.schema_)
    want = model.predict_proba(df.head(10))[5:6]
    check("logistic frame", model.predict_proba(frame), want)
    check("logistic table", model.predict_proba(table), want)
    filled = frame.fillna({"income": df["income"].mean()})
    print(f"Logistic: {len(cols)} mixed columns (4 categorical one-hot, 1 numeric), 1 row")
    ref = line("scikit-learn Pipeline(OneHot, LogisticRegression) (1-row DataFrame)",
               lambda: pipe.predict_proba(filled))
    line("twinscore LogisticScorer.predict_proba (1-row DataFrame)", lambda: model.predict_proba(frame), ref)
    line("twinscore LogisticScorer.predict_proba (1-row ContactTable)", lambda: model.predict_proba(table), ref)


def bench_scorecard():
    data = ts.datasets.make_prm(20_000, 2_000, seed=0)
    p = data.prospects
    crit = ts.discriminating_criteria(p, "converted", ["sex", "age_band", "region", "income", "channel"])
    card = crit.scorecard(top=5, min_iv=0.0)
    cols = sorted(set(card.criteria["column"]))
    frame = p[cols].iloc[9:10]
    table = ts.ContactTable.from_pandas(frame, schema=card.schema.select(cols))
    want = card.apply(p[cols].head(20))[9:10]
    check("scorecard frame", card.apply(frame), want)
    check("scorecard table", card.apply(table), want)
    print(f"\nScorecard: {len(card.criteria)} criteria on {len(cols)} columns, 1 row")
    line("twinscore Scorecard.apply (1-row DataFrame)", lambda: card.apply(frame))
    line("twinscore Scorecard.apply (1-row ContactTable)", lambda: card.apply(table))


def bench_leads():
    data = ts.datasets.make_prm(2_000, 200, seed=0)
    p = data.prospects
    rules = {
        "half_life_days": 30,
        "fit": [{"name": "core age", "column": "age_band", "in": ["25-34", "35-44"], "points": 10},
                {"name": "income", "column": "income", "min": 40000, "points": 5}],
        "behaviour": [{"name": "clicks", "event": "email_click", "points": 5, "cap": 20},
                      {"name": "unsubscribed", "event": "unsubscribe", "points": -50, "half_life_days": None}],
        "grades": {"A": 10, "B": 5}, "mql_threshold": 15,
    }
    rules = ts.LeadRules.from_dict(rules)
    one = p.iloc[11:12]
    ev = data.events[data.events["contact_id"] == one["contact_id"].iloc[0]]
    got = ts.score_leads(one, ev, rules, now=data.now)
    want = ts.score_leads(p, data.events, rules, now=data.now).iloc[11:12]
    check("leads", got[["fit_score", "behaviour_score", "score"]], want[["fit_score", "behaviour_score", "score"]])
    print(f"\nLead rules: 2 fit and 2 behaviour rules, 1 contact with {len(ev)} events")
    line("twinscore score_leads (1 contact)", lambda: ts.score_leads(one, ev, rules, now=data.now))


def bench_twins():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(2)
    C = rng.normal(size=(20_000, 32)).astype(np.float32)
    P = rng.normal(size=(100, 32)).astype(np.float32)
    idx = ts.TwinIndex("cosine").fit(C)
    row = P[4:5].copy()
    want = idx.search(P, k=10)
    got = idx.search(row, k=10)
    check("twins cosine", got.rows, want.rows[4:5])
    print("\nTwins: one prospect, k = 10, 20,000 clients x 32 features, cosine")
    Cn = C / np.linalg.norm(C, axis=1, keepdims=True)
    nn = NearestNeighbors(n_neighbors=10, metric="cosine", algorithm="brute").fit(C)
    ref = line("scikit-learn NearestNeighbors(brute, cosine).kneighbors", lambda: nn.kneighbors(row))
    try:
        import faiss
    except ImportError:
        print("  faiss: not installed")
    else:
        fi = faiss.IndexFlatIP(32)
        fi.add(Cn)
        rn = row / np.linalg.norm(row)
        ref = min(ref, line("faiss IndexFlatIP.search (normalised row)", lambda: fi.search(rn, 10)))
    line("twinscore TwinIndex.search (numpy row)", lambda: idx.search(row, k=10), ref)

    data = ts.datasets.make_prm(20_000, 20_000, seed=0)
    cols = ["sex", "age_band", "region", "income", "categories"]
    midx = ts.TwinIndex(block_on=["sex"]).fit(data.clients[["client_id", *cols]], id="client_id")
    prospects = data.prospects[["contact_id", *cols]]
    one = prospects.iloc[4:5]
    check("twins mixed", midx.search(one, k=10, id="contact_id").rows,
          midx.search(prospects.head(10), k=10, id="contact_id").rows[4:5])
    print(f"Twins: one prospect, k = 10, {len(data.clients):,} clients, mixed metric on {len(cols)} columns")
    line("twinscore TwinIndex.search (1-row DataFrame)", lambda: midx.search(one, k=10, id="contact_id"))


if __name__ == "__main__":
    ts.set_num_threads(ARGS.threads)
    print(f"{machine_line()}; twinscore threads {ARGS.threads}; median of {ARGS.calls} single-row calls")
    for name in ARGS.only.split(","):
        globals()[f"bench_{name.strip()}"]()
