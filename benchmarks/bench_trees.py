"""Tree-ensemble scoring: twinscore's TreeScorer against the libraries that
trained the models, same data, same thread count, one run.

    - XGBoost, 200 trees of depth 6 and 1,000 trees of depth 8:
      xgboost.Booster.inplace_predict vs TreeScorer.predict;
    - LightGBM, 500 trees of 63 leaves: lightgbm.Booster.predict vs TreeScorer.predict;
    - SHAP contributions (200 x depth 6): Booster.predict(pred_contribs=True) vs
      TreeScorer.contributions;
    - lleaves (LLVM-compiled) on the same LightGBM model file and rows, run in its own
      venv (`.venv-lleaves`, `--lleaves-python`) in a subprocess, compile time apart;
    - model load time of the 1,000-tree model (JSON and UBJSON);
    - categorical models (issue 27): 12 numeric + 6 categorical columns of 2 to
      120 categories, XGBoost 300 x depth 6 with enable_categorical and LightGBM
      300 x 63 leaves with categorical_feature, against the same data given as
      numeric codes; TreeSHAP of the categorical XGBoost model on --cat-shap-rows.

Data: `--rows` x 32 float32 features with 2 % NaN; models trained on the first
`--train-rows` (50,000) rows. Every prediction is checked against the library's (max abs diff
printed).

    python benchmarks/bench_trees.py [--rows 1000000] [--threads 2] [--repeat 3] [--shap-rows 100000]
        [--shap-peer-rows 10000] [--skip xgb200,xgb1000,lgb,shap,predict,cat] [--lleaves-cache DIR]

The categorical cases alone: `bench_trees.py --skip xgb200,xgb1000,lgb`.

The LightGBM case alone, lleaves compiled once and kept:
`bench_trees.py --skip xgb200,xgb1000 --lleaves-cache ../build/lleaves`.

The SHAP case alone (the issue's 100,000 rows; XGBoost timed on 10,000 and
scaled): `bench_trees.py --rows 100000 --skip xgb1000,lgb,predict`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from common import machine_line, row, timeit


def cpu_flags() -> str:
    """The CPU's vector extensions (from /proc/cpuinfo) and the SIMD level twinscore runs."""
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next(line for line in f if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        pass
    want = ["sse4_2", "avx", "avx2", "fma", "bmi2", "avx512f", "avx512bw", "avx512vl", "avx512_vpopcntdq"]
    have = " ".join(f for f in want if f in flags) or "unknown"
    return f"{have}; twinscore SIMD level {ts.show_config(print_out=False)['simd_level']}"

import twinscore as ts


def make_data(n: int, d: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=d)
    logit = X @ w / np.sqrt(d) + np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2]
    y = (logit + rng.logistic(size=n) > 0).astype(np.float32)
    X[rng.random(X.shape) < 0.02] = np.nan
    return X, y


def bench_xgboost(X, y, trees, depth, args, tmp, shap=False):
    import xgboost as xgb

    n_train = min(len(X), args.train_rows)
    t0 = time.perf_counter()
    booster = xgb.train({"objective": "binary:logistic", "max_depth": depth, "eta": 0.05, "tree_method": "hist",
                         "nthread": args.threads, "seed": 0},
                        xgb.DMatrix(X[:n_train], label=y[:n_train]), num_boost_round=trees)
    print(f"\nXGBoost {trees} trees of depth {depth} (trained in {time.perf_counter() - t0:.0f} s)")
    path_json = os.path.join(tmp, f"xgb_{trees}_{depth}.json")
    path_ubj = os.path.join(tmp, f"xgb_{trees}_{depth}.ubj")
    booster.save_model(path_json)
    booster.save_model(path_ubj)
    booster.set_param({"nthread": args.threads})
    scorer = ts.TreeScorer.from_xgboost(path_ubj)

    if "predict" not in args.skip_set:
        ref_t, ref_lo, ref_hi, ref = timeit(lambda: booster.inplace_predict(X), repeat=args.repeat)
        ts_t, ts_lo, ts_hi, ours = timeit(lambda: scorer.predict(X, n_threads=args.threads), repeat=args.repeat)
        print(row(f"xgboost inplace_predict ({len(X):,} rows)", ref_t, ref_lo, ref_hi))
        print(row(f"twinscore TreeScorer.predict", ts_t, ts_lo, ts_hi, ref_t) +
              f"   max |diff| {np.max(np.abs(ours - ref)):.1e}   (target >= 6x)")
    if trees >= 1000:
        for label, path in (("json", path_json), ("ubj", path_ubj)):
            mb = os.path.getsize(path) / 2**20
            x_t, x_lo, x_hi, _ = timeit(lambda: xgb.Booster(model_file=path), repeat=args.repeat)
            t_t, t_lo, t_hi, _ = timeit(lambda: ts.TreeScorer.from_xgboost(path), repeat=args.repeat)
            print(row(f"load {label} ({mb:.0f} MB): xgboost.Booster(model_file)", x_t, x_lo, x_hi))
            print(row(f"load {label}: twinscore TreeScorer.from_xgboost", t_t, t_lo, t_hi, x_t))
    if shap:
        bench_shap(booster, scorer, X, args)


def bench_shap(booster, scorer, X, args):
    """pred_contribs on --shap-peer-rows rows (it runs at about 1,000 rows/s:
    the issue's 100,000 rows would take minutes per run), scaled linearly to
    --shap-rows; twinscore timed on both, the ratio on the same rows as well."""
    import xgboost as xgb

    Xs = X[:args.shap_rows]
    Xp = Xs[:min(args.shap_peer_rows, len(Xs))]
    dm = xgb.DMatrix(Xp)
    x_t, x_lo, x_hi, ref_phi = timeit(lambda: booster.predict(dm, pred_contribs=True), repeat=1, warmup=0)
    p_t, p_lo, p_hi, phi = timeit(lambda: scorer.contributions(Xp, n_threads=args.threads), repeat=args.repeat)
    t_t, t_lo, t_hi, _ = timeit(lambda: scorer.contributions(Xs, n_threads=args.threads), repeat=args.repeat)
    r_t, r_lo, r_hi, _ = timeit(lambda: scorer.top_reasons(Xs, top=3, n_threads=args.threads), repeat=args.repeat)
    k = len(Xs) / len(Xp)
    scaled = x_t * k
    print(row(f"xgboost predict(pred_contribs) ({len(Xp):,} rows)", x_t, x_lo, x_hi))
    print(row(f"twinscore TreeScorer.contributions ({len(Xp):,} rows)", p_t, p_lo, p_hi, x_t) +
          f"   max |diff| {np.max(np.abs(phi - ref_phi)):.1e}")
    print(row(f"xgboost pred_contribs x {k:g} ({len(Xs):,} rows, scaled)", scaled, x_lo * k, x_hi * k))
    print(row(f"twinscore TreeScorer.contributions ({len(Xs):,} rows)", t_t, t_lo, t_hi, scaled))
    print(row(f"twinscore TreeScorer.top_reasons(top=3) ({len(Xs):,} rows)", r_t, r_lo, r_hi, scaled))
    ratio = scaled / t_t
    print(f"  SHAP target >= 20x pred_contribs on {len(Xs):,} rows: {ratio:.1f}x "
          f"({'met' if ratio >= 20 else 'NOT met'})")


# Run in lleaves' own environment (it needs llvmlite < 0.45): compile the saved
# model, predict the saved rows, print the times and save the predictions.
LLEAVES_SCRIPT = """
import sys, time, statistics, numpy as np, lleaves
model, rows, out, threads, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
cache = sys.argv[6] or None  # compiled model kept there (named by the model file's hash); "" for none
X = np.load(rows)
m = lleaves.Model(model_file=model)
t0 = time.perf_counter(); m.compile(cache=cache); compile_s = time.perf_counter() - t0
m.predict(X[:1000], n_jobs=threads)
times = []
for _ in range(repeat):
    t0 = time.perf_counter(); p = m.predict(X, n_jobs=threads); times.append(time.perf_counter() - t0)
np.save(out, p)
print(compile_s, statistics.median(times), min(times), max(times))
"""


def bench_lleaves(model_path, X, ref, ts_t, args, tmp):
    """lleaves on the same model file and rows, in a subprocess of its own venv."""
    import subprocess

    python = args.lleaves_python
    if not os.path.exists(python):
        print(f"  lleaves: skipped ({python} not found; see the module docstring)")
        return
    rows, out = os.path.join(tmp, "rows.npy"), os.path.join(tmp, "lleaves_pred.npy")
    np.save(rows, X)
    cache = ""
    if args.lleaves_cache:
        # lleaves does not check that a cached library is the model's: name it by the model's hash.
        import hashlib

        with open(model_path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        os.makedirs(args.lleaves_cache, exist_ok=True)
        cache = os.path.join(os.path.abspath(args.lleaves_cache), f"lleaves_{digest}.so")
        if os.path.exists(cache):
            print(f"  lleaves: compiled model from the cache {cache}")
    res = subprocess.run([python, "-c", LLEAVES_SCRIPT, model_path, rows, out, str(args.threads), str(args.repeat),
                          cache], capture_output=True, text=True)
    if res.returncode != 0:
        print(f"  lleaves: failed: {res.stderr.strip().splitlines()[-1:]}")
        return
    compile_s, t, lo, hi = map(float, res.stdout.split()[-4:])
    diff = np.max(np.abs(np.load(out) - ref))
    print(row("lleaves compiled predict", t, lo, hi) + f"   max |diff| {diff:.1e}   (compile {compile_s:.0f} s)")
    print(f"  twinscore / lleaves: {t / ts_t:.2f}x  (target: ahead of lleaves, > 1.0x)")


def bench_lightgbm(X, y, args, tmp):
    import lightgbm as lgb

    n_train = min(len(X), args.train_rows)
    t0 = time.perf_counter()
    booster = lgb.train({"objective": "binary", "num_leaves": 63, "learning_rate": 0.05, "num_threads": args.threads,
                         "verbose": -1, "seed": 0, "min_data_in_leaf": 20},
                        lgb.Dataset(X[:n_train], label=y[:n_train]), num_boost_round=500)
    print(f"\nLightGBM 500 trees of 63 leaves (trained in {time.perf_counter() - t0:.0f} s)")
    path = os.path.join(tmp, "lgb_500_63.txt")
    booster.save_model(path)
    scorer = ts.TreeScorer.from_lightgbm(path)
    ref_t, ref_lo, ref_hi, ref = timeit(lambda: booster.predict(X, num_threads=args.threads), repeat=args.repeat)
    ts_t, ts_lo, ts_hi, ours = timeit(lambda: scorer.predict(X, n_threads=args.threads), repeat=args.repeat)
    print(row(f"lightgbm Booster.predict ({len(X):,} rows)", ref_t, ref_lo, ref_hi))
    print(row("twinscore TreeScorer.predict", ts_t, ts_lo, ts_hi, ref_t) +
          f"   max |diff| {np.max(np.abs(ours - ref)):.1e}   (target >= 8x)")
    bench_lleaves(path, X, ref, ts_t, args, tmp)
    x_t, x_lo, x_hi, _ = timeit(lambda: lgb.Booster(model_file=path), repeat=args.repeat)
    t_t, t_lo, t_hi, _ = timeit(lambda: ts.TreeScorer.from_lightgbm(path), repeat=args.repeat)
    print(row("load text: lightgbm.Booster(model_file)", x_t, x_lo, x_hi))
    print(row("load text: twinscore TreeScorer.from_lightgbm", t_t, t_lo, t_hi, x_t))


CAT_K = (2, 5, 12, 30, 70, 120)


def make_categorical_data(n: int, seed: int = 0):
    """12 float32 numeric columns (2 % NaN), then 6 categorical columns as
    codes 0 .. k-1 (2 % NaN), k = CAT_K; every column moves the target."""
    rng = np.random.default_rng(seed)
    d_num = 12
    X = np.empty((n, d_num + len(CAT_K)), dtype=np.float32)
    X[:, :d_num] = rng.normal(size=(n, d_num))
    logit = X[:, :d_num] @ rng.normal(size=d_num) / np.sqrt(d_num) + X[:, 0] * X[:, 1]
    for j, k in enumerate(CAT_K):
        codes = rng.integers(0, k, n)
        X[:, d_num + j] = codes
        logit += rng.normal(size=k)[codes]
    y = (logit + rng.logistic(size=n) > 0).astype(np.float32)
    X[rng.random(X.shape) < 0.02] = np.nan
    return X, y, d_num


def _cat_frame(X, d_num):
    import pandas as pd

    df = pd.DataFrame(X[:, :d_num], columns=[f"x{i}" for i in range(d_num)])
    for j, k in enumerate(CAT_K):
        col = X[:, d_num + j]
        df[f"c{j}"] = pd.Categorical.from_codes(np.where(np.isnan(col), -1, col).astype(int), list(range(k)))
    return df


def _pair(label, ref_name, ref_fn, scorer, X, args, goal):
    """Times the library and twinscore on X; returns twinscore's time and the ratio."""
    ref_t, ref_lo, ref_hi, ref = timeit(ref_fn, repeat=args.repeat)
    ts_t, ts_lo, ts_hi, ours = timeit(lambda: scorer.predict(X, n_threads=args.threads), repeat=args.repeat)
    ratio = ref_t / ts_t
    print(row(f"{label}: {ref_name} ({len(X):,} rows)", ref_t, ref_lo, ref_hi))
    print(row(f"{label}: twinscore TreeScorer.predict", ts_t, ts_lo, ts_hi, ref_t) +
          f"   max |diff| {np.max(np.abs(ours - ref)):.1e}" + (f"   (target >= {goal}x)" if goal else ""))
    return ts_t, ratio


def bench_categorical(args, tmp):
    """Issue 27: categorical models against the libraries and against
    twinscore's own time on the same data trained as numeric codes."""
    import lightgbm as lgb
    import xgboost as xgb

    X, y, d_num = make_categorical_data(args.rows)
    n_train = min(len(X), args.train_rows)
    cat_cols = list(range(d_num, X.shape[1]))
    print(f"\nCategorical: {len(X):,} rows, {d_num} numeric + {len(CAT_K)} categorical columns "
          f"({', '.join(map(str, CAT_K))} categories), 2 % NaN; models trained on {n_train:,} rows")
    results = {}
    xgb_params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.05, "tree_method": "hist",
                  "nthread": args.threads, "seed": 0}
    t0 = time.perf_counter()
    xgb_cat = xgb.train(xgb_params, xgb.DMatrix(_cat_frame(X[:n_train], d_num), label=y[:n_train],
                                                enable_categorical=True), num_boost_round=300)
    xgb_num = xgb.train(xgb_params, xgb.DMatrix(X[:n_train], label=y[:n_train]), num_boost_round=300)
    print(f"XGBoost 300 trees of depth 6, categorical and numeric codes (trained in {time.perf_counter() - t0:.0f} s)")
    scorers = {}
    for name, booster in (("xgb_cat", xgb_cat), ("xgb_num", xgb_num)):
        path = os.path.join(tmp, f"{name}.ubj")
        booster.save_model(path)
        booster.set_param({"nthread": args.threads})
        scorers[name] = ts.TreeScorer.from_xgboost(path)
    # inplace_predict reads the categorical columns of a plain array as codes.
    results["xgb_cat"] = _pair("XGB categorical", "xgboost inplace_predict",
                               lambda: xgb_cat.inplace_predict(X, validate_features=False), scorers["xgb_cat"], X,
                               args, 4)
    results["xgb_num"] = _pair("XGB numeric codes", "xgboost inplace_predict", lambda: xgb_num.inplace_predict(X),
                               scorers["xgb_num"], X, args, None)

    lgb_params = {"objective": "binary", "num_leaves": 63, "learning_rate": 0.05, "num_threads": args.threads,
                  "verbose": -1, "seed": 0, "min_data_in_leaf": 20}
    t0 = time.perf_counter()
    lgb_cat = lgb.train(lgb_params, lgb.Dataset(X[:n_train], label=y[:n_train], categorical_feature=cat_cols),
                        num_boost_round=300)
    lgb_num = lgb.train(lgb_params, lgb.Dataset(X[:n_train], label=y[:n_train], categorical_feature=[]),
                        num_boost_round=300)
    print(f"LightGBM 300 trees of 63 leaves, categorical and numeric codes "
          f"(trained in {time.perf_counter() - t0:.0f} s)")
    for name, booster in (("lgb_cat", lgb_cat), ("lgb_num", lgb_num)):
        path = os.path.join(tmp, f"{name}.txt")
        booster.save_model(path)
        scorers[name] = ts.TreeScorer.from_lightgbm(path)
    results["lgb_cat"] = _pair("LGBM categorical", "lightgbm Booster.predict",
                               lambda: lgb_cat.predict(X, num_threads=args.threads), scorers["lgb_cat"], X, args, 6)
    results["lgb_num"] = _pair("LGBM numeric codes", "lightgbm Booster.predict",
                               lambda: lgb_num.predict(X, num_threads=args.threads), scorers["lgb_num"], X, args,
                               None)

    Xs = X[:args.cat_shap_rows]
    dm = xgb.DMatrix(Xs, feature_names=[f"x{i}" for i in range(d_num)] + [f"c{j}" for j in range(len(CAT_K))],
                     feature_types=["q"] * d_num + ["c"] * len(CAT_K), enable_categorical=True)
    x_t, x_lo, x_hi, ref_phi = timeit(lambda: xgb_cat.predict(dm, pred_contribs=True), repeat=1, warmup=0)
    p_t, p_lo, p_hi, phi = timeit(lambda: scorers["xgb_cat"].contributions(Xs, n_threads=args.threads),
                                  repeat=args.repeat)
    print(row(f"XGB categorical: xgboost pred_contribs ({len(Xs):,} rows)", x_t, x_lo, x_hi))
    print(row("XGB categorical: twinscore TreeScorer.contributions", p_t, p_lo, p_hi, x_t) +
          f"   max |diff| {np.max(np.abs(phi - ref_phi)):.1e}   (target >= 25x)")

    print("  goals (issue 27):")
    for key, goal in (("xgb", 4), ("lgb", 6)):
        cat_t, cat_ratio = results[f"{key}_cat"]
        num_t, _ = results[f"{key}_num"]
        print(f"    {key.upper()} categorical {cat_ratio:.1f}x the library (>= {goal}x: "
              f"{'met' if cat_ratio >= goal else 'NOT met'}); {cat_t / num_t:.2f}x twinscore's numeric-code time "
              f"(<= 1.5x: {'met' if cat_t <= 1.5 * num_t else 'NOT met'})")
    print(f"    TreeSHAP {x_t / p_t:.1f}x pred_contribs (>= 25x: {'met' if x_t / p_t >= 25 else 'NOT met'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shap-rows", type=int, default=100_000)
    ap.add_argument("--shap-peer-rows", type=int, default=10_000,
                    help="rows XGBoost's pred_contribs is timed on (scaled linearly to --shap-rows)")
    ap.add_argument("--train-rows", type=int, default=50_000, help="rows the models are trained on")
    ap.add_argument("--cat-shap-rows", type=int, default=20_000, help="rows of the categorical TreeSHAP case")
    ap.add_argument("--lleaves-python", default=os.path.join(os.path.dirname(__file__), "..", ".venv-lleaves", "bin",
                                                              "python"),
                    help="python of a venv with lleaves (python3 -m venv .venv-lleaves && .venv-lleaves/bin/pip "
                         "install lleaves 'llvmlite<0.45' lightgbm numpy)")
    ap.add_argument("--lleaves-cache", default="",
                    help="directory keeping lleaves' compiled model between runs (its compile takes minutes); "
                         "the compile time printed is then the cache load")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: xgb200,xgb1000,lgb,shap,predict "
                                               "(the xgb200/xgb1000 predict timings),cat (the categorical models)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    args.skip_set = skip
    ts.set_num_threads(args.threads)
    print(f"bench_trees: {args.rows:,} rows x 32 float32 features, 2 % NaN, {args.threads} threads "
          f"for every library, median of {args.repeat} runs [min–max], ratio = peer / twinscore")
    print(f"machine: {machine_line()}")
    print(f"CPU flags: {cpu_flags()}")
    X, y = make_data(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        if "xgb200" not in skip:
            bench_xgboost(X, y, 200, 6, args, tmp, shap="shap" not in skip)
        if "xgb1000" not in skip:
            bench_xgboost(X, y, 1000, 8, args, tmp)
        if "lgb" not in skip:
            bench_lightgbm(X, y, args, tmp)
        if "cat" not in skip:
            del X, y
            bench_categorical(args, tmp)


if __name__ == "__main__":
    main()
