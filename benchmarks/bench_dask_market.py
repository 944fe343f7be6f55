"""A market larger than a worker's memory, scored on Dask (issue 23).

The market is generated partition by partition on the workers, never on the
client: partition i holds the prospects of one contact range and all their
events (the generator of ``twinscore.datasets.make_prm``, the same personas
for every partition, a random stream per partition), so the log is
partitioned by contact and ``partitioned_by_contact=True`` is legitimate.
The 200,000 clients and their transactions are generated the same way, by
client range. One graph then runs

    events -> event features -> lead scores -> lookalike score (twins against
    the clients, index broadcast) -> RFM of the clients' transactions

on a LocalCluster of worker processes (1 thread each) with a memory limit per
worker well below the size of the data, and brings back only small results:
row counts, column sums, grade counts, the 1,000 best lookalikes, the RFM
segments. Each worker samples its own resident memory (psutil, every 0.2 s)
and counts the bytes it spilled to disk; the client's memory is sampled too.

    python benchmarks/bench_dask_market.py --prospects 2000000 --events-per-prospect 25 \\
        --clients 200000 --partitions 80 --memory-limit 1GiB [--shuffled-check]

``--shuffled-check`` also times the event features through the shuffle by
contact (the path without ``partitioned_by_contact``) on the same market.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
import pandas as pd

from common import machine_line

NOW = pd.Timestamp("2026-11-01")
DAYS = 180
SEED = 7
COMPARED = ["income", "categories"]
BLOCK_ON = ["sex", "age_band", "region"]  # 96 blocks: ~2,000 clients each


# ---------------------------------------------------------------- the generator (runs on the workers)
def _personas():
    from twinscore import datasets as ds

    return ds._draw_personas(np.random.default_rng(SEED))


def market_part(i: int, first: int, n: int, events_per_prospect: float):
    """Prospects first..first+n-1 and all their events: (prospects, events)."""
    from twinscore import datasets as ds

    personas = _personas()
    rng = np.random.default_rng([SEED, 1, i])
    persona = rng.choice(len(personas.share), size=n, p=personas.share).astype(np.int64)
    prospects = pd.DataFrame({"contact_id": np.arange(first, first + n, dtype=np.int64),
                              **ds._attributes(rng, personas, persona, NOW.value, 365.0)})
    prospects["email_optin"] = rng.random(n) < 0.6
    mean_events = events_per_prospect / float(personas.share @ personas.activity)
    events, visited, _ = ds._events(rng, personas, persona, mean_events, NOW.value, DAYS)
    events["contact_id"] += first - 1  # the generator numbers a part's contacts from 1
    prospects["categories"] = visited
    return prospects, events


def clients_part(j: int, first: int, n: int):
    """Clients first..first+n-1 (ids from 10,000,001 on) and their transactions: (clients, transactions)."""
    from twinscore import datasets as ds

    personas = _personas()
    rng = np.random.default_rng([SEED, 2, j])
    w = personas.share * np.exp(1.5 * personas.quality)
    persona = rng.choice(len(w), size=n, p=w / w.sum()).astype(np.int64)
    ids = np.arange(10_000_001 + first, 10_000_001 + first + n, dtype=np.int64)
    clients = pd.DataFrame({"client_id": ids, **ds._attributes(rng, personas, persona, NOW.value, 900.0)})
    m = 1 + rng.poisson(2.0, size=n)
    rows = np.repeat(np.arange(n), m)
    clients["categories"] = ds._list_column(rows, ds._sample_rows(rng, personas.cat_cdf, persona[rows]), n,
                                            ds.CATEGORIES)
    tx, _, revenue, _ = ds._transactions(rng, personas, persona, ids, NOW.value)
    clients["margin"] = (revenue * rng.uniform(0.2, 0.4, size=n)).round(2)
    return clients, tx


def _ranges(total: int, parts: int):
    bounds = np.linspace(0, total, parts + 1).astype(np.int64)
    return [(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:])]


def generated(fn, ranges, *args):
    """Two Dask DataFrames from one generator task per range (the generator runs once for both)."""
    import dask
    import dask.dataframe as dd

    tasks = [dask.delayed(fn, nout=2, pure=True)(i, first, n, *args) for i, (first, n) in enumerate(ranges)]
    meta = fn(0, 1, 4, *args)
    return tuple(dd.from_delayed([t[s] for t in tasks], meta=meta[s].iloc[:0], verify_meta=False) for s in (0, 1))


# ---------------------------------------------------------------- memory, from the workers
class ProcessSampler:
    """Samples this process's resident memory every 0.2 s; ``peak`` is the largest seen."""

    def __init__(self):
        self.peak = 0

    def setup(self, worker=None):
        import psutil

        self._stop = threading.Event()  # made here: the plugin is pickled to the workers before

        proc = psutil.Process(os.getpid())

        def run():
            while not self._stop.is_set():
                self.peak = max(self.peak, proc.memory_info().rss)
                self._stop.wait(0.2)

        threading.Thread(target=run, daemon=True).start()

    def teardown(self, worker=None):
        self._stop.set()


def worker_sampler():
    from distributed.diagnostics.plugin import WorkerPlugin

    class MemorySampler(ProcessSampler, WorkerPlugin):
        """The sampler, in each worker process."""

    return MemorySampler()


SAMPLER = "twinscore-memory-sampler"


def _worker_figures(dask_worker):
    plugin = dask_worker.plugins[SAMPLER]
    written = {k: v for k, v in dask_worker.digests_total.items()
               if isinstance(k, tuple) and "disk-write" in k and k[-1] == "bytes"}
    # Two writers digest "disk-write": the spill of task results past the memory target, and the
    # P2P shuffle's buffers (on disk by design, whatever the memory).
    shuffle = sum(v for k, v in written.items() if any("shuffle" in str(x) or "p2p" in str(x) for x in k))
    return {"peak_rss": plugin.peak, "spilled_bytes": int(sum(written.values()) - shuffle),
            "shuffle_disk_bytes": int(shuffle), "limit": dask_worker.memory_manager.memory_limit,
            "keys": sorted({str(k[:-1]) for k in written})}


def _bytes(frame):
    """The in-memory size of a Dask DataFrame's partitions, summed on the workers."""
    return frame.map_partitions(lambda d: pd.Series([int(d.memory_usage(deep=True).sum())]),
                                meta=pd.Series([], dtype=np.int64)).sum()


def gib(x):
    return f"{x / 2**30:.2f} GiB"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--prospects", type=int, default=2_000_000)
    p.add_argument("--events-per-prospect", type=float, default=25.0)
    p.add_argument("--clients", type=int, default=200_000)
    p.add_argument("--partitions", type=int, default=80)
    p.add_argument("--client-partitions", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--memory-limit", default="1GiB")
    p.add_argument("--shuffled-check", action="store_true")
    a = p.parse_args()

    import dask
    import distributed

    import twinscore as ts
    import twinscore.dask as tsd

    print(machine_line())
    size_events = a.prospects * a.events_per_prospect
    print(f"market: {a.prospects:,} prospects, ~{size_events:,.0f} events, {a.clients:,} clients; "
          f"{a.partitions} partitions; LocalCluster {a.workers} processes x 1 thread, memory limit "
          f"{a.memory_limit} per worker", flush=True)
    client_mem = ProcessSampler()
    client_mem.setup()
    with distributed.LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, memory_limit=a.memory_limit) as cluster, \
            distributed.Client(cluster) as client:
        client.register_plugin(worker_sampler(), name=SAMPLER)
        prospects, events = generated(market_part, _ranges(a.prospects, a.partitions), a.events_per_prospect)
        clients, tx = generated(clients_part, _ranges(a.clients, a.client_partitions))

        t0 = time.perf_counter()
        local_clients = clients.compute()  # the index is fitted in memory: 200,000 rows
        population = prospects.partitions[:max(1, a.partitions // 10)][COMPARED + BLOCK_ON].compute()
        population = population.sample(min(len(population), 200_000), random_state=0)
        index = tsd.DaskTwinIndex(block_on=BLOCK_ON).fit(local_clients[["client_id", *COMPARED, *BLOCK_ON, "margin"]],
                                                         id="client_id", value="margin", population=population)
        t_fit = time.perf_counter() - t0
        print(f"  index fitted on {len(local_clients):,} clients ({index.n_blocks_} blocks) in {t_fit:.1f} s", flush=True)
        del local_clients, population

        t0 = time.perf_counter()
        feats = tsd.aggregate_events(events, now=NOW, partitioned_by_contact=True)
        leads = tsd.score_leads(prospects, events, ts.datasets.PRM_LEAD_RULES, now=NOW, partitioned_by_contact=True)
        t_check = time.perf_counter() - t0
        print(f"  partitioned_by_contact checked (ids' ranges, both calls) in {t_check:.1f} s", flush=True)
        look = index.lookalike_score(prospects[["contact_id", *COMPARED, *BLOCK_ON]], id="contact_id")
        seg = tsd.rfm(tx, customer="client_id", date="date", amount="amount")
        small = dict(
            n_events=events.shape[0],
            events_bytes=_bytes(events),
            prospects_bytes=_bytes(prospects),
            n_features=feats.shape[0],
            feature_sums=feats.select_dtypes("number").sum(),
            grades=leads["grade"].value_counts(),
            mql=leads["mql"].sum(),
            n_scored=look.shape[0],
            look_mean=look.mean(),
            top=look.nlargest(1000),
            segments=seg["segment"].value_counts(),
            n_rfm=seg.shape[0],
        )
        t0 = time.perf_counter()
        (out,) = dask.compute(small)
        t_run = time.perf_counter() - t0
        figures = client.run(_worker_figures)
        returned = sum(int(np.sum(v.memory_usage(deep=True))) if hasattr(v, "memory_usage") else 8
                       for v in out.values())

        print(f"  pipeline in {t_run:.1f} s (loaded): {out['n_events']:,} events -> {out['n_features']:,} contacts' "
              f"features ({feats.shape[1]} columns) -> lead scores "
              f"({out['mql']:,} MQL) -> {out['n_scored']:,} lookalike scores (mean {out['look_mean']:.4f}) -> "
              f"RFM of {out['n_rfm']:,} clients", flush=True)
        print(f"  data generated on the workers (pandas, in memory): events {gib(out['events_bytes'])}, prospects "
              f"{gib(out['prospects_bytes'])}, total {gib(out['events_bytes'] + out['prospects_bytes'])}")
        for addr, f in sorted(figures.items()):
            print(f"  worker {addr}: peak RSS {gib(f['peak_rss'])} (limit {gib(f['limit'])}), spilled "
                  f"{gib(f['spilled_bytes'])}, P2P shuffle buffers on disk {gib(f['shuffle_disk_bytes'])} "
                  )
        client_mem.teardown()
        print(f"  client: peak RSS {gib(client_mem.peak)}; results brought back {returned / 1024:.1f} KiB")
        print(f"  grades: {out['grades'].sort_index().to_dict()}")
        print(f"  RFM segments: {out['segments'].to_dict()}")

        if a.shuffled_check:
            t0 = time.perf_counter()
            n_shuffled = tsd.aggregate_events(events, now=NOW).shape[0].compute()
            t_shuffled = time.perf_counter() - t0
            t0 = time.perf_counter()
            n_fast = tsd.aggregate_events(events, now=NOW, partitioned_by_contact=True).shape[0].compute()
            t_fast = time.perf_counter() - t0
            assert n_shuffled == n_fast == out["n_features"]
            print(f"  event features alone: shuffled by contact {t_shuffled:.1f} s, partitioned_by_contact=True "
                  f"{t_fast:.1f} s (incl. its check) -> {t_shuffled / t_fast:.2f}x", flush=True)


if __name__ == "__main__":
    main()
