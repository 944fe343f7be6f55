"""The portable build (kernels chosen at run time) against a native one, twinscore alone.

Times the engines whose kernels are dispatched (twinscore/simd.h) on the
headline problems, at 1 and 2 threads, median of `--repeat` runs, in the
Python that runs it; `--save` writes the medians to a JSON file, `--compare
A.json B.json` prints B / A per case. The issue-22 check: run it with the
native build's Python and with the wheel's (build/wheel-venv), then compare.

    python benchmarks/bench_dispatch.py --data DIR [--rows 1000000] [--prospects 100000] --save native.json
    build/wheel-venv/bin/python benchmarks/bench_dispatch.py --data DIR --save wheel.json
    python benchmarks/bench_dispatch.py --compare native.json wheel.json

The XGBoost model (200 trees of depth 6, as bench_trees.py) is trained once
into DIR (needs xgboost) and read by every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def timed(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cases(args):
    import pandas as pd

    import twinscore as ts

    rng = np.random.default_rng(0)
    n = args.rows
    X = rng.normal(size=(n, 32)).astype(np.float32)
    X[rng.random(X.shape) < 0.02] = np.nan
    model = os.path.join(args.data, "xgb200.json")
    if not os.path.exists(model):
        import xgboost as xgb

        y = (np.nan_to_num(X[:50_000, 0]) + np.nan_to_num(X[:50_000, 1]) ** 2 > 0.8).astype(np.float32)
        xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.05, "tree_method": "hist", "nthread": 2},
                  xgb.DMatrix(X[:50_000], label=y), num_boost_round=200).save_model(model)
    scorer = ts.TreeScorer.from_xgboost(model)
    yield "trees: XGBoost 200 x depth 6 predict", lambda: scorer.predict(X)

    K = rng.normal(size=(n, 16)).astype(np.float32)
    yield "k-means K=16, d=16, 20 iterations", lambda: ts.KMeans(16, n_init=1, max_iter=20, tol=0,
                                                                    random_state=0).fit(K)

    C = rng.normal(size=(20_000, 64)).astype(np.float32)
    Q = rng.normal(size=(args.prospects, 64)).astype(np.float32)
    dense = ts.TwinIndex("inner_product").fit(C)
    yield f"twins dense d=64, 20k x {args.prospects // 1000}k, k=10", lambda: dense.search(Q, k=10)

    def sets(m):
        B = np.zeros((m, 256), dtype=bool)
        np.put_along_axis(B, np.argsort(rng.random((m, 256)), axis=1)[:, :8], True, axis=1)
        return B

    jac = ts.TwinIndex("jaccard").fit(sets(20_000))
    Qb = sets(args.prospects)
    yield f"twins Jaccard 256 categories, 20k x {args.prospects // 1000}k, k=10", lambda: jac.search(Qb, k=10)

    frame = pd.DataFrame(np.nan_to_num(X[:, :20]), columns=[f"f{j}" for j in range(20)])
    frame["band"] = pd.Categorical(rng.choice(["a", "b", "c", "d"], size=n))
    target = np.nan_to_num(X[:, 0]) + rng.normal(size=n) > 0.5
    logit = ts.LogisticScorer().fit(frame.iloc[:100_000], target[:100_000])
    yield "logistic fused scoring, 20 numeric + 1 categorical", lambda: logit.decision_function(frame)


def run(args):
    import twinscore as ts

    # A build from before the dispatch has no show_config: all native.
    info = (ts.show_config(print_out=False) if hasattr(ts, "show_config")
            else {"version": ts.__version__, "simd_level": "native", "native_build": True})
    out = {"simd_level": info["simd_level"], "native_build": info["native_build"], "times": {}}
    print(f"twinscore {info['version']}: level {info['simd_level']}, native build {info['native_build']}")
    for name, fn in cases(args):
        for threads in (1, 2):
            with ts.threads(threads):
                t = timed(fn, args.repeat)
            out["times"][f"{name} | {threads} thr"] = t
            print(f"  {name:<52s} {threads} thr  {t:8.3f} s")
    if args.save:
        with open(args.save, "w") as f:
            json.dump(out, f, indent=1)


def compare(a_path, b_path):
    a, b = json.load(open(a_path)), json.load(open(b_path))
    print(f"{'case':<62s} {os.path.basename(a_path):>10s} {os.path.basename(b_path):>10s}   ratio")
    for key, ta in a["times"].items():
        tb = b["times"].get(key)
        if tb is not None:
            print(f"{key:<62s} {ta:10.3f} {tb:10.3f}   {tb / ta:5.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--prospects", type=int, default=100_000, help="prospects of the twins searches")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default="build/bench-dispatch")
    ap.add_argument("--save", default="")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"))
    args = ap.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    os.makedirs(args.data, exist_ok=True)
    run(args)


if __name__ == "__main__":
    main()
