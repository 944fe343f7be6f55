"""Statistical twins: twinscore's exact top-k search against FAISS, usearch,
simsimd and scikit-learn, side by side in one run, 2 threads for every library.

  python bench_twins.py [--prospects 100000] [--clients 20000] [--repeat 3] [--big-prospects 1000000]

FAISS runs in child processes, once as installed and once with
OPENBLAS_CORETYPE set to the best kernel set the CPU runs (SKYLAKEX with
AVX-512, else HASWELL: its bundled OpenBLAS otherwise takes these CPUs for a
core without AVX), since the variable must be set before FAISS is loaded.
The float32 matrix-multiply peak (numpy, 4096^2) is measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from common import machine_line, row, timeit

THREADS = 2


def faiss_worker(path: str, kind: str, k: int) -> None:
    """Child process: FAISS exact search on the saved data; prints JSON."""
    import resource

    import faiss

    faiss.omp_set_num_threads(THREADS)
    C = np.load(os.path.join(path, "C.npy"))
    Q = np.load(os.path.join(path, "Q.npy"))
    index = (faiss.IndexFlatL2 if kind == "l2" else faiss.IndexFlatIP)(C.shape[1])
    index.add(C)
    index.search(Q[:1000], k)  # warm-up
    t0 = time.perf_counter()
    D, I = index.search(Q, k)
    secs = time.perf_counter() - t0
    np.save(os.path.join(path, f"I_{kind}.npy"), I)
    print(json.dumps({"secs": secs, "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def best_coretype() -> str:
    """The OpenBLAS kernel set this CPU can run: SKYLAKEX needs AVX-512, HASWELL AVX2 + FMA."""
    with open("/proc/cpuinfo") as f:
        flags = next((line for line in f if line.startswith("flags")), "")
    return "SKYLAKEX" if " avx512f" in flags else "HASWELL"


def run_faiss(path: str, kind: str, k: int, best: bool):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(THREADS)
    if best:
        env["OPENBLAS_CORETYPE"] = best_coretype()
    else:
        env.pop("OPENBLAS_CORETYPE", None)
    out = subprocess.run([sys.executable, __file__, "--faiss-worker", path, kind, str(k)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1]), np.load(os.path.join(path, f"I_{kind}.npy"))


def sgemm_peak(threads: int) -> float:
    from threadpoolctl import threadpool_limits

    A = np.random.default_rng(0).normal(size=(4096, 4096)).astype(np.float32)
    with threadpool_limits(threads):
        A @ A
        best = min(timeit(lambda: A @ A, repeat=3, warmup=0)[:2])
    return 2 * 4096**3 / best / 1e9


def peer(label: str, secs: float, ours: float) -> str:
    """A peer's single timed run, and how many times twinscore's time it took."""
    return f"{row(label, secs, secs, secs)}   peer / twinscore = {secs / ours:.1f}x"


def gflops(nq, nc, d, secs):
    return 2.0 * nq * nc * d / secs / 1e9


def bench_dense(args, tmp, peak2):
    import twinscore as ts

    rng = np.random.default_rng(0)
    d, k = 64, 10
    C = rng.normal(size=(args.clients, d)).astype(np.float32)
    Q = rng.normal(size=(args.prospects, d)).astype(np.float32)
    np.save(os.path.join(tmp, "C.npy"), C)
    np.save(os.path.join(tmp, "Q.npy"), Q)
    print(f"\nDense, d={d}, {args.clients:,} clients x {args.prospects:,} prospects, k={k}, {THREADS} threads")
    results = {}
    for metric, kind in (("sqeuclidean", "l2"), ("inner_product", "ip")):
        idx = ts.TwinIndex(metric).fit(C)
        with ts.threads(THREADS):
            med, lo, hi, res = timeit(lambda: idx.search(Q, k=k), repeat=args.repeat)
        fb, I_best = run_faiss(tmp, kind, k, best=True)
        fi, _ = run_faiss(tmp, kind, k, best=False)
        same = float((res.rows == I_best).mean())
        name = "IndexFlatL2" if kind == "l2" else "IndexFlatIP"
        print(row(f"twinscore {metric}", med, lo, hi))
        print(f"    {gflops(len(Q), len(C), d, med):.0f} GFLOP/s effective = "
              f"{gflops(len(Q), len(C), d, med) / peak2:.0%} of the sgemm peak; same neighbours as FAISS: {same:.4%}")
        print(peer(f"faiss {name} ({best_coretype()}, its best)", fb["secs"], med))
        print(peer(f"faiss {name} (as installed)", fi["secs"], med))
        results[metric] = (med, fb["secs"], fi["secs"])
        share, need = gflops(len(Q), len(C), d, med) / peak2, 1.5 if kind == "l2" else 1.0
        print(f"    target >= 60 % of the sgemm peak: {share:.0%} -> {'met' if share >= 0.6 else 'NOT met'}; "
              f"target FAISS best {name} / twinscore >= {need}x: {fb['secs'] / med:.2f}x -> "
              f"{'met' if fb['secs'] / med >= need else 'NOT met'}")
    # scikit-learn brute and usearch exact, on a sample of the prospects, scaled.
    from sklearn.neighbors import NearestNeighbors

    ns = min(len(Q), 20_000)
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="sqeuclidean", n_jobs=THREADS).fit(C)
    t0 = time.perf_counter()
    nn.kneighbors(Q[:ns])
    sk = (time.perf_counter() - t0) * len(Q) / ns
    print(peer(f"scikit-learn brute sqeuclidean ({ns:,} prospects, scaled)", sk, results["sqeuclidean"][0]))
    import simsimd  # noqa: F401  (before usearch)
    from usearch.index import MetricKind, search

    t0 = time.perf_counter()
    search(C, Q[:ns], k, MetricKind.L2sq, exact=True, threads=THREADS)
    us = (time.perf_counter() - t0) * len(Q) / ns
    print(peer(f"usearch exact L2sq ({ns:,} prospects, scaled)", us, results["sqeuclidean"][0]))
    return results


def bench_big(args, tmp):
    import resource

    import twinscore as ts

    rng = np.random.default_rng(1)
    d, k, nc, nq = 32, 10, 100_000, args.big_prospects
    C = rng.normal(size=(nc, d)).astype(np.float32)
    Q = rng.normal(size=(nq, d)).astype(np.float32)
    np.save(os.path.join(tmp, "C.npy"), C)
    np.save(os.path.join(tmp, "Q.npy"), Q)
    print(f"\nDense, d={d}, {nc:,} clients x {nq:,} prospects, k={k}, {THREADS} threads (one run each)")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    idx = ts.TwinIndex("sqeuclidean").fit(C)
    with ts.threads(THREADS):
        t0 = time.perf_counter()
        res = idx.search(Q, k=k)
        ours = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fb, I_best = run_faiss(tmp, "l2", k, best=True)
    same = float((res.rows == I_best).mean())
    print(row("twinscore sqeuclidean", ours, ours, ours))
    print(f"    {gflops(nq, nc, d, ours):.0f} GFLOP/s effective; peak RSS grew {max(rss1 - rss0, 0):.0f} MiB "
          f"(outputs {(res.rows.nbytes + res.similarities.nbytes) / 2**20:.0f} MiB); same neighbours: {same:.4%}")
    print(peer(f"faiss IndexFlatL2 ({best_coretype()}, its best)", fb["secs"], ours))
    print(f"    faiss process peak RSS {fb['maxrss_mib']:.0f} MiB")


def bench_jaccard(args):
    import simsimd
    from usearch.index import MetricKind, search

    import twinscore as ts

    rng = np.random.default_rng(2)
    m, per_row, k = 256, 8, 10

    def sets(n):
        X = np.zeros((n, m), dtype=bool)
        cols = np.argsort(rng.random((n, m)), axis=1)[:, :per_row]
        np.put_along_axis(X, cols, True, axis=1)
        return X

    C, Q = sets(args.clients), sets(args.prospects)
    Cp, Qp = np.packbits(C, axis=1), np.packbits(Q, axis=1)
    print(f"\nJaccard, {m} categories ({per_row} per row), {len(C):,} clients x {len(Q):,} prospects, k={k}, "
          f"{THREADS} threads")
    idx = ts.TwinIndex("jaccard").fit(C)
    with ts.threads(THREADS):
        med, lo, hi, res = timeit(lambda: idx.search(Q, k=k), repeat=args.repeat)
    print(row("twinscore jaccard (bitsets, popcount)", med, lo, hi))

    def simsimd_topk():
        out = np.empty((len(Q), k), dtype=np.int64)
        for a in range(0, len(Q), 5000):
            D = np.asarray(simsimd.cdist(Qp[a:a + 5000], Cp, metric="jaccard", dtype="bin8", threads=THREADS))
            out[a:a + 5000] = np.argpartition(D, k, axis=1)[:, :k]
        return out

    t0 = time.perf_counter()
    simsimd_topk()
    ss = time.perf_counter() - t0
    print(peer("simsimd cdist(jaccard, bin8) + argpartition", ss, med))
    # usearch's exact search allocates all prospects x clients distances at
    # once (std::bad_alloc at 100k x 20k): chunks of prospects, times summed.
    chunk = 5_000
    t0 = time.perf_counter()
    for a in range(0, len(Qp), chunk):
        search(Cp, Qp[a:a + chunk], k, MetricKind.Tanimoto, exact=True, threads=THREADS)
    us = time.perf_counter() - t0
    print(peer(f"usearch exact Tanimoto (packed bits, chunks of {chunk:,} prospects)", us, med))
    print(f"    targets: simsimd / twinscore >= 5x: {ss / med:.1f}x -> {'met' if ss / med >= 5 else 'NOT met'}; "
          f"usearch / twinscore >= 3x: {us / med:.1f}x -> {'met' if us / med >= 3 else 'NOT met'}")
    from sklearn.metrics import pairwise_distances

    ns = 500
    t0 = time.perf_counter()
    pairwise_distances(Q[:ns], C, metric="jaccard", n_jobs=THREADS)
    sk = (time.perf_counter() - t0) * len(Q) / ns
    print(peer(f"scikit-learn pairwise jaccard ({ns} prospects, scaled)", sk, med))


def bench_mixed(args):
    import twinscore as ts

    data = ts.datasets.make_prm(args.prospects, args.clients, seed=0)
    cols = ["sex", "age_band", "region", "income", "channel", "categories"]
    clients = data.clients[["client_id", *cols]]
    prospects = data.prospects[["contact_id", *cols]]
    print(f"\nMixed (Gower) metric on {cols}, {len(clients):,} clients x {len(prospects):,} prospects, k=10, "
          f"{THREADS} threads")
    times = {}
    for label, block in (("no blocking", None), ("blocked on sex, age_band", ["sex", "age_band"]),
                         ("blocked on sex, age_band, region", ["sex", "age_band", "region"])):
        idx = ts.TwinIndex("mixed", block_on=block).fit(clients, id="client_id")
        with ts.threads(THREADS):
            med, lo, hi, _ = timeit(lambda: idx.search(prospects, k=10, id="contact_id"), repeat=args.repeat)
        times[label] = med
        print(row(f"twinscore mixed, {label} ({idx.n_blocks_} blocks)", med, lo, hi)
              + f"   unblocked / this = {times['no blocking'] / med:.1f}x")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--faiss-worker":
        faiss_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    p = argparse.ArgumentParser()
    p.add_argument("--prospects", type=int, default=100_000)
    p.add_argument("--clients", type=int, default=20_000)
    p.add_argument("--big-prospects", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", choices=["dense", "big", "jaccard", "mixed"], default=None)
    args = p.parse_args()
    print(machine_line())
    peak1, peak2 = sgemm_peak(1), sgemm_peak(THREADS)
    print(f"numpy float32 matmul 4096^2: {peak1:.0f} GFLOP/s on 1 thread, {peak2:.0f} GFLOP/s on {THREADS}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "dense"):
            bench_dense(args, tmp, peak2)
        if args.only in (None, "jaccard"):
            bench_jaccard(args)
        if args.only in (None, "mixed"):
            bench_mixed(args)
        if args.only in (None, "big"):
            bench_big(args, tmp)


if __name__ == "__main__":
    main()
