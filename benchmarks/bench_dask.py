"""The Dask forms beside the local engines: what running on a cluster costs.

Each engine runs on the same generated market, locally (one call, every
thread of the machine) and through twinscore.dask on a distributed
LocalCluster of worker processes (threads split between them), in one run;
the results are checked equal before the times are printed. Ratio =
Dask time / local time (the overhead of partitions, shuffles and pickling
on one machine; a cluster adds machines, not speed per row).

    python benchmarks/bench_dask.py [--prospects 2000000] [--clients 50000] [--partitions 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from common import machine_line, timeit

import twinscore as ts
from twinscore import events as tse
from twinscore import value as tsv
from twinscore.criteria import discriminating_criteria
from twinscore.leads import score_leads


def line(label, local, dask):
    print(f"  {label:<44s} local {local[0]:8.3f} s   dask {dask[0]:8.3f} s [{dask[1]:.3f}–{dask[2]:.3f}]   "
          f"dask/local {dask[0] / local[0]:5.2f}x", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--prospects", type=int, default=2_000_000)
    p.add_argument("--clients", type=int, default=50_000)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()

    import dask.dataframe as dd
    import distributed
    import twinscore.dask as tsd

    print(machine_line())
    print(f"market: {a.prospects:,} prospects, {a.clients:,} clients; {a.partitions} partitions; "
          f"LocalCluster {a.workers} worker processes x 1 thread; local calls {ts.get_num_threads()} threads")
    t0 = time.perf_counter()
    d = ts.datasets.make_prm(a.prospects, a.clients, seed=1)
    print(f"  generated in {time.perf_counter() - t0:.1f} s: {len(d.events):,} events, "
          f"{len(d.transactions):,} transactions", flush=True)
    cols = ["sex", "age_band", "region", "income", "categories"]
    index = tsd.DaskTwinIndex(block_on=["sex", "age_band"]).fit(
        d.clients[["client_id", *cols, "margin"]], id="client_id", value="margin",
        population=d.prospects[cols].sample(min(len(d.prospects), 200_000), random_state=0))
    prospects = d.prospects[["contact_id", *cols]]
    table = d.prospects.drop(columns=["contact_id", "signup_date", "categories"])

    with distributed.LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, memory_limit="8GiB") as cluster, \
            distributed.Client(cluster) as client:
        def dask_of(frame):
            return client.persist(dd.from_pandas(frame, npartitions=a.partitions, sort=False))

        events_d, prospects_d, tx_d, table_d = (dask_of(f) for f in (d.events, prospects, d.transactions, table))
        contacts_d = dask_of(d.prospects)
        distributed.wait([events_d, prospects_d, tx_d, table_d, contacts_d])
        cases = [
            ("event features (aggregate)",
             lambda: tse.aggregate(d.events, now=d.now),
             lambda: tsd.aggregate_events(events_d, now=d.now).compute(),
             lambda x, y: pd.testing.assert_frame_equal(y.loc[x.index], x, check_exact=True)),
            ("lead scores",
             lambda: score_leads(d.prospects, d.events, ts.datasets.PRM_LEAD_RULES, now=d.now),
             lambda: tsd.score_leads(contacts_d, events_d, ts.datasets.PRM_LEAD_RULES, now=d.now).compute(),
             lambda x, y: pd.testing.assert_frame_equal(y.loc[x.index], x, check_exact=True)),
            ("lookalike score, index broadcast",
             lambda: index.to_local().lookalike_score(prospects, id="contact_id"),
             lambda: index.lookalike_score(prospects_d, id="contact_id").compute(),
             lambda x, y: pd.testing.assert_series_equal(y.loc[x.index], x, check_exact=True)),
            ("lookalike score, index sharded by block (4)",
             lambda: index.to_local().lookalike_score(prospects, id="contact_id"),
             lambda: index.lookalike_score(prospects_d, id="contact_id", shards=4).compute(),
             lambda x, y: pd.testing.assert_series_equal(y.loc[x.index], x, check_exact=True)),
            ("RFM of the clients' transactions",
             lambda: tsv.rfm(d.transactions, customer="client_id", date="date", amount="amount"),
             lambda: tsd.rfm(tx_d, customer="client_id", date="date", amount="amount").compute(),
             lambda x, y: pd.testing.assert_frame_equal(y.loc[x.index], x, check_exact=True)),
            ("discriminating criteria (converted)",
             lambda: discriminating_criteria(table, "converted"),
             lambda: tsd.discriminating_criteria(table_d, "converted"),
             lambda x, y: pd.testing.assert_frame_equal(y.bins, x.bins, check_exact=True)),
        ]
        for label, local_fn, dask_fn, check in cases:
            local = timeit(local_fn, repeat=a.repeat)
            dask = timeit(dask_fn, repeat=a.repeat)
            check(local[3], dask[3])
            line(label, local, dask)


if __name__ == "__main__":
    main()
