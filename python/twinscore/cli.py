"""The twinscore command: `twinscore demo` runs the main job on generated data."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager

import numpy as np

__all__ = ["main"]


class _Clock:
    """Collects named step timings for the summary."""

    def __init__(self):
        self.steps: list[tuple[str, float]] = []

    @contextmanager
    def step(self, name: str):
        t0 = time.perf_counter()
        yield
        self.steps.append((name, time.perf_counter() - t0))


def _positive_int(text: str) -> int:
    try:
        v = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="twinscore",
        description="Scoring engine for contact tables (PRM / CRM): behavioural scores, statistical twins, "
                    "segmentation.",
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="run the main job on generated data and print a summary",
        description="Generate a PRM data set (prospects, clients, events, transactions), load it into contact "
                    "tables, run the engines and print a short summary with timings.",
    )
    demo.add_argument("--prospects", type=_positive_int, default=200_000, metavar="N",
                      help="number of prospects to generate (default: 200,000)")
    demo.add_argument("--clients", type=_positive_int, default=20_000, metavar="N",
                      help="number of clients to generate (default: 20,000)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the generated data (default: 0)")
    demo.add_argument("--threads", type=int, default=None, metavar="T",
                      help="threads for the engines (default: every CPU this process may use)")
    return p


def _demo(args) -> int:
    import twinscore as ts

    if args.threads is not None:
        if args.threads < 1:
            print("twinscore demo: --threads must be >= 1", file=sys.stderr)
            return 2
        ts.set_num_threads(args.threads)
    clock = _Clock()
    with clock.step("generate data"):
        data = ts.datasets.make_prm(args.prospects, args.clients, seed=args.seed)
    features = ["sex", "age_band", "region", "income", "channel", "categories"]
    with clock.step("client table + schema"):
        clients = ts.ContactTable.from_pandas(data.clients[["client_id", *features]], id="client_id")
    with clock.step("prospect table (client schema)"):
        prospects = clients.schema.apply(data.prospects, id="contact_id")
    with clock.step("encode prospects"):
        enc = prospects.encode()

    p, c = data.prospects, data.clients
    out = []
    out.append(f"twinscore {ts.__version__} demo — seed {args.seed}, {ts.get_num_threads()} threads")
    out.append("")
    out.append(f"generated  {len(p):>12,} prospects   {len(c):>10,} clients")
    out.append(f"           {len(data.events):>12,} events      {len(data.transactions):>10,} transactions")
    out.append(f"conversion {p['converted'].mean():>12.2%} of prospects convert (planted)")
    counts = data.events["type"].value_counts()
    out.append("events     " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    out.append(f"baskets    median {data.transactions['amount'].median():.2f}, mean "
               f"{data.transactions['amount'].mean():.2f}, revenue per client {c['revenue'].mean():.2f}")
    out.append("")
    out.append(f"tables     {clients!r}")
    out.append(f"           {prospects!r}")
    unseen = {k: v for k, v in prospects.unseen.items() if v}
    out.append(f"unseen     {unseen if unseen else 'none'} (prospect values the client schema never saw)")
    fill = prospects.fill_rates()
    out.append("fill rate  " + ", ".join(f"{k} {v:.0%}" for k, v in fill.items()))
    out.append(f"encoded    {enc.X.shape[0]:,} x {enc.X.shape[1]} float32 design matrix "
               f"({enc.X.nbytes / 2**20:.0f} MiB), finite: {bool(np.isfinite(enc.X).all())}")
    # The planted structure, visible already: prospects who look like the client
    # base convert more. Share of clients per age band vs prospects' conversion.
    by_band = p.groupby("age_band", observed=True)["converted"].mean()
    client_share = c["age_band"].value_counts(normalize=True)
    out.append("age band   " + ", ".join(
        f"{b}: {client_share.get(b, 0):.0%} of clients, {r:.1%} conv." for b, r in by_band.items()))
    out.append("")
    out.append("timings")
    for name, secs in clock.steps:
        out.append(f"  {name:<32s} {secs:8.3f} s")
    print("\n".join(out))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        import twinscore as ts

        print(ts.__version__)
        return 0
    if args.command == "demo":
        return _demo(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
