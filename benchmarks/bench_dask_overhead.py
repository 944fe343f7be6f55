"""What a Dask form costs beside the local call, at 10,000,000 rows (issue 23).

One run of each engine on ~10M rows, locally (one call, every thread) and
through twinscore.dask on a distributed LocalCluster of 2 worker processes
x 1 thread with the input persisted on the workers first; each Dask result is
checked equal to the local one before the times are printed. Ratio = Dask /
local: partitions, shuffles and pickling on one machine.

    python benchmarks/bench_dask_overhead.py [--rows 10000000] [--partitions 16] [--only events,leads,...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from common import machine_line

import twinscore as ts
from twinscore import events as tse
from twinscore import value as tsv
from twinscore.leads import score_leads

CASES = ("events", "leads", "logistic", "trees", "rfm")


def once(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def numeric_table(n: int, d: int, seed: int = 0):
    """n rows of d float32 features and a label that depends on them."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] + rng.standard_normal(n, dtype=np.float32) > 0).astype(np.int8)
    return pd.DataFrame(X, columns=[f"x{j}" for j in range(d)]), y


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--partitions", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--only", default=",".join(CASES))
    a = p.parse_args()
    only = set(a.only.split(","))

    import dask.dataframe as dd
    import distributed
    import twinscore.dask as tsd

    print(machine_line())
    print(f"~{a.rows:,} rows per case, {a.partitions} partitions, LocalCluster {a.workers} processes x 1 thread "
          f"(inputs persisted on the workers); local calls {ts.get_num_threads()} threads; one run each (loaded)",
          flush=True)
    with distributed.LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, memory_limit="8GiB") as cluster, \
            distributed.Client(cluster) as client:
        def on_workers(frame):
            x = client.persist(dd.from_pandas(frame, npartitions=a.partitions, sort=False))
            distributed.wait(x)
            return x

        def report(label, rows, local, dask):
            print(f"  {label:<40s} {rows:>12,} rows   local {local:8.2f} s   dask {dask:8.2f} s   "
                  f"dask/local {dask / local:5.2f}x", flush=True)

        if only & {"events", "leads"}:
            d = ts.datasets.make_prm(a.rows // 8, 10, seed=3)  # ~8 events per prospect
            events_d, contacts_d = on_workers(d.events), on_workers(d.prospects)
            if "events" in only:
                tl, local = once(lambda: tse.aggregate(d.events, now=d.now))
                td, got = once(lambda: tsd.aggregate_events(events_d, now=d.now).compute())
                pd.testing.assert_frame_equal(got.loc[local.index], local, check_exact=True)
                report("event features (shuffle by contact)", len(d.events), tl, td)
            if "leads" in only:
                rules = ts.datasets.PRM_LEAD_RULES
                tl, local = once(lambda: score_leads(d.prospects, d.events, rules, now=d.now))
                td, got = once(lambda: tsd.score_leads(contacts_d, events_d, rules, now=d.now).compute())
                pd.testing.assert_frame_equal(got.loc[local.index], local, check_exact=True)
                report(f"lead scores ({len(d.prospects):,} contacts)", len(d.events), tl, td)
            del d, events_d, contacts_d
        if only & {"logistic", "trees"}:
            X, y = numeric_table(a.rows, 12)
            X_d = on_workers(X)
            sample = slice(0, 200_000)
            if "logistic" in only:
                model = tsd.DaskLogisticScorer().fit(X.iloc[sample], y[sample])
                tl, local = once(lambda: model.to_local().predict_proba(X))
                td, got = once(lambda: model.predict_proba(X_d).compute())
                np.testing.assert_array_equal(np.asarray(got), np.asarray(local)[:, 1] if np.ndim(local) == 2
                                              and np.ndim(got) == 1 else np.asarray(local))
                report("logistic scoring (12 features)", len(X), tl, td)
            if "trees" in only:
                import tempfile

                import xgboost as xgb

                booster = xgb.train({"max_depth": 6, "eta": 0.1, "objective": "binary:logistic", "nthread": 2},
                                    xgb.DMatrix(X.iloc[sample], label=y[sample]), num_boost_round=200)
                with tempfile.TemporaryDirectory() as tmp:
                    booster.save_model(f"{tmp}/m.json")
                    scorer = tsd.DaskTreeScorer.from_xgboost(f"{tmp}/m.json")
                tl, local = once(lambda: scorer.to_local().predict(X))
                td, got = once(lambda: scorer.predict(X_d).compute())
                np.testing.assert_array_equal(np.asarray(got), np.asarray(local))
                report("tree scoring (XGBoost, 200 trees, depth 6)", len(X), tl, td)
            del X, X_d
        if "rfm" in only:
            d = ts.datasets.make_prm(1, int(a.rows / 4.3), seed=4)  # ~4.3 transactions per client
            tx_d = on_workers(d.transactions)
            opts = dict(customer="client_id", date="date", amount="amount")
            tl, local = once(lambda: tsv.rfm(d.transactions, **opts))
            td, got = once(lambda: tsd.rfm(tx_d, **opts).compute())
            pd.testing.assert_frame_equal(got.loc[local.index], local, check_exact=True)
            report(f"RFM ({len(local):,} clients)", len(d.transactions), tl, td)


if __name__ == "__main__":
    main()
