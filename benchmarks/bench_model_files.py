"""Save and load time and file size of model files at realistic size (issue 20):
a TwinIndex of 1,000,000 clients (mixed metric, blocked, with a reference
sample and learnt weights) and a 1,000-tree XGBoost model, beside pickle of
the same object where one exists (pickle goes through the model file too) and
the library's own format for the trees.

    .venv/bin/python benchmarks/bench_model_files.py [--clients 1000000] [--trees 1000]
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(__file__))
from common import machine_line  # noqa: E402

import twinscore as ts  # noqa: E402

FEATURES = ["sex", "age_band", "region", "income", "channel", "categories"]


def _timed(fn, repeat=3):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), min(times), max(times), out


def _line(what, path, save, load):
    size = os.path.getsize(path)
    print(f"{what:<44} {size / 2**20:9.1f} MiB  save {save[0]:7.3f} s [{save[1]:.3f}-{save[2]:.3f}]  "
          f"load {load[0]:7.3f} s [{load[1]:.3f}-{load[2]:.3f}]", flush=True)


def bench_index(n_clients: int, tmp: str):
    d = ts.datasets.make_prm(n_prospects=200_000, n_clients=50_000, seed=0)
    rng = np.random.default_rng(0)
    clients = d.clients[[*FEATURES, "margin"]].iloc[rng.integers(0, len(d.clients), n_clients)].reset_index(drop=True)
    clients.insert(0, "client_id", np.arange(n_clients, dtype=np.int64))
    population = d.prospects[["contact_id", *FEATURES]]
    t0 = time.perf_counter()
    idx = ts.TwinIndex("mixed", block_on=["sex"]).fit(clients, id="client_id", value="margin", population=population)
    print(f"fit of {n_clients:,} clients (reference sample {idx.n_reference_:,}): {time.perf_counter() - t0:.2f} s")
    path = os.path.join(tmp, "index.tsm")
    save = _timed(lambda: idx.save(path))
    load = _timed(lambda: ts.load(path))
    _line(f"TwinIndex mixed, {n_clients:,} clients", path, save, load)
    q = population.head(2_000)
    a, b = idx.search(q, k=10, id="contact_id"), load[3].search(q, k=10, id="contact_id")
    assert np.array_equal(a.rows, b.rows) and np.array_equal(a.similarities, b.similarities)
    assert np.array_equal(a.reference_score, b.reference_score)
    ppath = os.path.join(tmp, "index.pkl")
    psave = _timed(lambda: open(ppath, "wb").write(pickle.dumps(idx, protocol=5)))
    pload = _timed(lambda: pickle.loads(open(ppath, "rb").read()))
    _line("  the same through pickle", ppath, psave, pload)


def bench_trees(n_trees: int, tmp: str):
    import xgboost as xgb
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 30)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=len(X)) > 0).astype(int)
    booster = xgb.train({"max_depth": 6, "objective": "binary:logistic", "nthread": 2}, xgb.DMatrix(X, y), n_trees)
    scorer = ts.TreeScorer.from_xgboost(booster)
    path = os.path.join(tmp, "trees.tsm")
    save = _timed(lambda: scorer.save(path))
    load = _timed(lambda: ts.load(path))
    _line(f"TreeScorer, {n_trees:,} XGBoost trees", path, save, load)
    assert np.array_equal(scorer.predict(X[:5000]), load[3].predict(X[:5000]))
    ubj = os.path.join(tmp, "trees.ubj")
    xsave = _timed(lambda: booster.save_model(ubj))
    xload = _timed(lambda: ts.TreeScorer.from_xgboost(ubj))
    _line("  from_xgboost of the .ubj file", ubj, xsave, xload)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=1_000_000)
    ap.add_argument("--trees", type=int, default=1000)
    args = ap.parse_args()
    print(machine_line(), f"threads={ts.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        bench_trees(args.trees, tmp)
        bench_index(args.clients, tmp)


if __name__ == "__main__":
    main()
