"""Segments: k-means against scikit-learn and FAISS, mini-batch k-means on a
table fed chunk by chunk, and information values against pandas.

1. Lloyd k-means, 1,000,000 x 16 float32, K = 16, 20 iterations (tol = 0)
   from the same initial centres: twinscore KMeans, scikit-learn
   KMeans(algorithm="lloyd", n_init=1), faiss.Kmeans (all points: no
   sub-sampling). Same thread count. The final inertia of each is recomputed
   the same way (float64) and printed.
2. Mini-batch k-means, 10,000,000 x 16, K = 64: chunks of 1,000,000 rows
   generated and fed one by one to MiniBatchKMeans.partial_fit (a table that
   need not fit in memory); time and peak memory (in a fresh process).
3. Information value of 50 numeric columns over 10,000,000 rows (deciles +
   missing bin): twinscore discriminating_criteria against pandas
   (qcut + groupby per column); the IVs are checked equal.

    python benchmarks/bench_segments.py [--rows 1000000] [--iv-rows 10000000] [--repeat 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from common import machine_line, row, timeit

import twinscore as ts


def blobs(n: int, d: int, k: int, seed: int, centre_seed: int | None = None) -> np.ndarray:
    """n points around k centres (drawn from centre_seed, default seed), unit noise."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(seed if centre_seed is None else centre_seed).normal(0, 4, size=(k, d))
    centres = centres.astype(np.float32)
    X = rng.normal(0, 1, size=(n, d)).astype(np.float32)
    X += centres[rng.integers(0, k, n)]
    return X


def inertia64(X, centres) -> float:
    _, _, inertia = ts._core.kmeans_assign(X, np.zeros(0, np.float32), np.ascontiguousarray(centres, np.float32))
    return float(inertia)


def faiss_child(args) -> None:
    """Runs faiss.Kmeans in this (fresh) process and prints JSON: its
    OpenBLAS core type must be set before faiss is imported."""
    import faiss

    faiss.omp_set_num_threads(args.threads)
    X = blobs(args.rows, 16, 16, 0)
    init = X[np.random.default_rng(1).choice(len(X), 16, replace=False)].copy()

    def run():
        km = faiss.Kmeans(16, 16, niter=20, max_points_per_centroid=len(X), verbose=False, seed=1)
        km.train(X, init_centroids=init)
        return km.centroids

    med, lo, hi, centres = timeit(run, repeat=args.repeat)
    print(json.dumps({"median": med, "lo": lo, "hi": hi, "inertia": inertia64(X, centres)}))


def bench_kmeans(args) -> None:
    from sklearn.cluster import KMeans as SKKMeans

    X = blobs(args.rows, 16, 16, 0)
    init = X[np.random.default_rng(1).choice(len(X), 16, replace=False)].copy()
    print(f"\n1. Lloyd k-means: {len(X):,} x 16 float32, K = 16, 20 iterations, same initial centres, "
          f"{args.threads} threads")
    sk = lambda: SKKMeans(16, init=init, n_init=1, algorithm="lloyd", max_iter=20, tol=0.0).fit(X)  # noqa: E731
    ours = lambda: ts.KMeans(16, init=init, n_init=1, max_iter=20, tol=0.0).fit(X)  # noqa: E731
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads), ts.threads(args.threads):
        s_med, s_lo, s_hi, s = timeit(sk, repeat=args.repeat)
        t_med, t_lo, t_hi, t = timeit(ours, repeat=args.repeat)
    # The bounds of one iteration, measured in this run: one read of X
    # (numpy sum over the same 64 MB) and the FMAs of the distances.
    with threadpool_limits(args.threads):
        r_med, _, _, _ = timeit(lambda: X.sum(dtype=np.float32), repeat=args.repeat)
    i_s, i_t = inertia64(X, s.cluster_centers_), inertia64(X, t.cluster_centers_)
    print(row(f"scikit-learn KMeans lloyd ({s.n_iter_} it.)", s_med, s_lo, s_hi))
    faiss_rows = []
    for label, env in (("faiss.Kmeans, as installed", {}), ("faiss.Kmeans, OPENBLAS_CORETYPE=ZEN", {"OPENBLAS_CORETYPE": "ZEN"})):
        out = subprocess.run([sys.executable, __file__, "--faiss-child", "--rows", str(args.rows), "--repeat",
                              str(args.repeat), "--threads", str(args.threads)], env={**os.environ, **env},
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(f"  {label}: failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(row(label, r["median"], r["lo"], r["hi"]))
        faiss_rows.append((label, r))
    print(row(f"twinscore KMeans ({t.n_iter_} it.)", t_med, t_lo, t_hi, s_med) + "  vs scikit-learn")
    for label, r in faiss_rows:
        print(f"  {'':52s} {'':9s}    {'':15s}  {r['median'] / t_med:7.1f}x  vs {label}")
    print(f"  per iteration: twinscore {t_med / t.n_iter_ * 1e3:.1f} ms (whole fit / iterations); one read of X "
          f"(numpy sum, {X.nbytes / 2**20:.0f} MiB) {r_med * 1e3:.1f} ms = {X.nbytes / r_med / 1e9:.1f} GB/s; "
          f"target >= 5x scikit-learn: <= {s_med / 5:.3f} s ({'met' if s_med / t_med >= 5 else 'not met'})")
    print(f"  inertia (float64, recomputed): scikit-learn {i_s:.8e}, twinscore {i_t:.8e} "
          f"(rel. diff {abs(i_t - i_s) / i_s:.1e}); sklearn's own inertia_ {s.inertia_:.8e}")
    for label, r in faiss_rows:
        print(f"  {label}: inertia {r['inertia']:.8e} (rel. diff {abs(r['inertia'] - i_s) / i_s:.1e})")


def minibatch_child(args) -> None:
    """10M x 16, K = 64, chunks of 1M fed to partial_fit; prints JSON."""
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mb = ts.MiniBatchKMeans(64, batch_size=4096, random_state=0)
    gen_time = fit_time = 0.0
    chunk = 1_000_000
    with ts.threads(args.threads):
        for i in range(args.mb_rows // chunk):
            t0 = time.perf_counter()
            X = blobs(chunk, 16, 64, 100 + i, centre_seed=7)
            t1 = time.perf_counter()
            mb.partial_fit(X)
            fit_time += time.perf_counter() - t1
            gen_time += t1 - t0
        t0 = time.perf_counter()
        X = blobs(chunk, 16, 64, 999, centre_seed=7)
        inertia = -mb.score(X) / len(X)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"fit": fit_time, "gen": gen_time, "peak_mib": peak / 1024, "base_mib": base / 1024,
                      "inertia_per_row": inertia}))


def bench_minibatch(args) -> None:
    print(f"\n2. Mini-batch k-means: {args.mb_rows:,} x 16 float32 in chunks of 1,000,000, K = 64, "
          f"batch 4096, {args.threads} threads (fresh process)")
    times = []
    for _ in range(args.repeat):
        out = subprocess.run([sys.executable, __file__, "--minibatch-child", "--mb-rows", str(args.mb_rows),
                              "--threads", str(args.threads)], capture_output=True, text=True, check=True)
        times.append(json.loads(out.stdout.strip().splitlines()[-1]))
    fit = sorted(t["fit"] for t in times)
    r = times[0]
    print(f"  partial_fit time (median of {len(fit)}): {fit[len(fit) // 2]:.3f} s [{fit[0]:.3f}–{fit[-1]:.3f}] "
          f"(+ {r['gen']:.1f} s generating the chunks)")
    print(f"  peak RSS {max(t['peak_mib'] for t in times):.0f} MiB (Python + libraries at start: {r['base_mib']:.0f} MiB; "
          f"one chunk = {1_000_000 * 16 * 4 / 2**20:.0f} MiB)")
    print(f"  mean squared distance on a fresh chunk: {r['inertia_per_row']:.3f}")


def pandas_iv(df: pd.DataFrame, t: np.ndarray, n_bins=10, a=0.5) -> dict:
    P, N = int(t.sum()), len(t) - int(t.sum())
    out = {}
    for c in df.columns:
        b = pd.qcut(df[c], n_bins, duplicates="drop", labels=False)
        b = b.astype("float64").fillna(-1)
        g = pd.DataFrame({"b": b, "t": t}).groupby("b")["t"].agg(["sum", "count"])
        pos = g["sum"].to_numpy(float)
        neg = (g["count"] - g["sum"]).to_numpy(float)
        B = len(g)
        dp, dn = (pos + a) / (P + a * B), (neg + a) / (N + a * B)
        out[c] = float(((dp - dn) * np.log(dp / dn)).sum())
    return out


def bench_iv(args) -> None:
    n, m = args.iv_rows, 50
    rng = np.random.default_rng(3)
    z = rng.normal(size=n)
    cols = {}
    for j in range(m):
        x = (0.05 * (j % 10) * z + rng.normal(size=n)).astype(np.float32)
        if j % 5 == 0:
            x[rng.random(n) < 0.05] = np.nan
        cols[f"x{j:02d}"] = x
    df = pd.DataFrame(cols)
    t = (z + rng.normal(size=n) > 1.5).astype(np.uint8)
    print(f"\n3. Information value: {m} float32 columns x {n:,} rows, 10 quantile bins + missing, "
          f"{args.threads} threads for twinscore (pandas: one thread)")
    p_med, p_lo, p_hi, ref = timeit(lambda: pandas_iv(df, t), repeat=1, warmup=0)
    with ts.threads(args.threads):
        t_med, t_lo, t_hi, crit = timeit(lambda: ts.discriminating_criteria(df, t), repeat=args.repeat)
    print(row("pandas qcut + groupby per column", p_med, p_lo, p_hi))
    print(row("twinscore discriminating_criteria", t_med, t_lo, t_hi, p_med))
    iv = crit.summary.set_index("criterion")["iv"]
    err = max(abs(iv[c] - ref[c]) / max(ref[c], 1e-12) for c in ref)
    print(f"  largest relative IV difference: {err:.1e}; target >= 10x pandas: "
          f"{'met' if p_med / t_med >= 10 else 'not met'} ({p_med / t_med:.1f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--mb-rows", type=int, default=10_000_000)
    ap.add_argument("--iv-rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--only", choices=["kmeans", "minibatch", "iv"], default=None)
    ap.add_argument("--faiss-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--minibatch-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.faiss_child:
        return faiss_child(args)
    if args.minibatch_child:
        return minibatch_child(args)
    print(f"bench_segments: machine: {machine_line()}")
    if args.only in (None, "kmeans"):
        bench_kmeans(args)
    if args.only in (None, "minibatch"):
        bench_minibatch(args)
    if args.only in (None, "iv"):
        bench_iv(args)


if __name__ == "__main__":
    main()
