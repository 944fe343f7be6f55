"""A `twins` batch job over many prospects, chunk by chunk, beside the same search in one call.

    python bench_jobs.py [--prospects 10_000_000] [--clients 100_000] [--chunk 1_000_000] [--d 32]

Generates a prospects Parquet file (d float32 columns and an id) and clients
of the same columns; fits a dense TwinIndex (``sqeuclidean``, k = 10,
standardised on a sample of the prospects) and, each in a fresh process,
(a) runs the `twins` job (``result = "scores"``: one row per prospect) in
chunks of ``--chunk`` rows and (b) reads the whole file and calls
``index.search`` once. Prints each one's time and peak RSS, the RSS after the
index was fitted (what the chunked job must stay within 3 GiB of), and
whether the two outputs are identical. ``--per-chunk`` prints, after each
chunk of the job, its RSS and the Arrow memory in use (a job's memory must
not grow with the table).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from common import machine_line


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(root: Path, n: int, clients: int, d: int, chunk: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    cols = [f"x{j}" for j in range(d)]
    centre = rng.normal(size=d).astype(np.float32)
    with pq.ParquetWriter(root / "prospects.parquet", pa.schema(
            [("contact_id", pa.int64())] + [(c, pa.float32()) for c in cols])) as w:
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            X = rng.normal(size=(b - a, d)).astype(np.float32)
            w.write_table(pa.table({"contact_id": np.arange(a, b, dtype=np.int64),
                                    **{c: X[:, j] for j, c in enumerate(cols)}}))
    C = (rng.normal(size=(clients, d)) * 0.8 + centre).astype(np.float32)
    pd.DataFrame({"client_id": np.arange(clients, dtype=np.int64) + 10**9,
                  **{c: C[:, j] for j, c in enumerate(cols)}}).to_parquet(root / "clients.parquet")


def _index(root: Path):
    import pyarrow.parquet as pq

    import twinscore as ts

    clients = pd.read_parquet(root / "clients.parquet")
    sample = next(pq.ParquetFile(root / "prospects.parquet").iter_batches(batch_size=100_000)).to_pandas()
    cols = [c for c in clients.columns if c != "client_id"]
    return ts.TwinIndex(metric="sqeuclidean").fit(clients, id="client_id", population=sample[cols])


def _log_each_chunk() -> None:
    """RSS and Arrow memory in use after each chunk of the job, on stderr."""
    import gc

    import pyarrow as pa

    from twinscore.cli import tables

    update = tables._ChunkLog.update

    def update_and_measure(self, n):
        update(self, n)
        gc.collect()
        print(f"  chunk {self.chunks}: RSS {_rss_mib():.0f} MiB, Arrow in use "
              f"{pa.total_allocated_bytes() / 2**20:.0f} MiB", file=sys.stderr, flush=True)

    tables._ChunkLog.update = update_and_measure


def run_one(root: Path, mode: str, chunk: int, per_chunk: bool = False) -> dict:
    import gc

    from twinscore.cli.jobs import run_job

    index = _index(root)
    gc.collect()
    base = _rss_mib()
    t0 = time.perf_counter()
    if mode == "job":
        (root / "model.tsm").write_bytes(b"seam")  # the job takes the fitted index through models=
        job = root / "job.toml"
        job.write_text(f'[job]\nkind = "twins"\nchunk_rows = {chunk}\n[input]\npath = "prospects.parquet"\n'
                       'id = "contact_id"\n[model]\npath = "model.tsm"\n[twins]\nk = 10\nresult = "scores"\n'
                       '[output]\npath = "job.parquet"\noverwrite = true\n')
        if per_chunk:
            _log_each_chunk()
        run_job(job, models={(root / "model.tsm").resolve(): index}, progress=None)
    else:
        prospects = pd.read_parquet(root / "prospects.parquet")
        out = index.search(prospects, k=10, id="contact_id").scores().rename(columns={"prospect_id": "contact_id"})
        out.to_parquet(root / "memory.parquet")
    seconds = time.perf_counter() - t0
    return {"mode": mode, "seconds": seconds, "rss_after_index_mib": base, "peak_mib": _peak_mib()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prospects", type=lambda s: int(s.replace("_", "")), default=10_000_000)
    ap.add_argument("--clients", type=lambda s: int(s.replace("_", "")), default=100_000)
    ap.add_argument("--chunk", type=lambda s: int(s.replace("_", "")), default=1_000_000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--dir", default=None, help="working directory (default: a temporary one)")
    ap.add_argument("--per-chunk", action="store_true", help="RSS and Arrow memory after each chunk of the job")
    ap.add_argument("--one", choices=["job", "memory"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(Path(args.dir), args.one, args.chunk, args.per_chunk)))
        return
    print(machine_line())
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        generate(root, args.prospects, args.clients, args.d, args.chunk)
        print(f"generated {args.prospects:,} prospects x {args.clients:,} clients, d = {args.d} "
              f"({time.perf_counter() - t0:.1f} s)")
        results = {}
        for mode in ("job", "memory"):
            r = subprocess.run([sys.executable, __file__, "--one", mode, "--dir", str(root), "--chunk",
                                str(args.chunk)] + (["--per-chunk"] if args.per_chunk else []),
                               capture_output=True, text=True, check=True)
            for line in r.stderr.splitlines():
                if line.startswith("  chunk "):
                    print(line)
            results[mode] = json.loads(r.stdout.strip().splitlines()[-1])
            m = results[mode]
            print(f"  {mode:<6s} {m['seconds']:8.1f} s  peak RSS {m['peak_mib']:8.0f} MiB  (after the index "
                  f"{m['rss_after_index_mib']:.0f} MiB: +{m['peak_mib'] - m['rss_after_index_mib']:.0f} MiB)")
        same = pd.read_parquet(root / "job.parquet").equals(pd.read_parquet(root / "memory.parquet"))
        print(f"  job output identical to the in-memory call: {same}")


if __name__ == "__main__":
    main()
