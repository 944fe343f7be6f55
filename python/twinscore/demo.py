"""The main job, `twinscore demo`: generate a market, run every engine, summarise.

Each engine contributes one step: a function ``step(ctx)`` that runs the engine
on ``ctx.data`` (and what earlier steps left in ``ctx``), times itself with
``ctx.clock.step(name)``, and adds readable lines with ``ctx.say``. The steps
run in the order of :data:`STEPS`.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


class Clock:
    """Collects named step timings for the summary."""

    def __init__(self):
        self.steps: list[tuple[str, float]] = []

    @contextmanager
    def step(self, name: str):
        t0 = time.perf_counter()
        yield
        self.steps.append((name, time.perf_counter() - t0))


@dataclass
class DemoContext:
    data: Any
    seed: int
    clock: Clock = field(default_factory=Clock)
    lines: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)  # what a step leaves for later ones

    def say(self, label: str, text: str = "") -> None:
        self.lines.append(f"{label:<10s} {text}" if text else label)


def step_tables(ctx: DemoContext) -> None:
    """Contact tables: clients' schema learnt, applied to the prospects, encoded."""
    import twinscore as ts

    data = ctx.data
    features = ["sex", "age_band", "region", "income", "channel", "categories"]
    with ctx.clock.step("client table + schema"):
        clients = ts.ContactTable.from_pandas(data.clients[["client_id", *features]], id="client_id")
    with ctx.clock.step("prospect table (client schema)"):
        prospects = clients.schema.apply(data.prospects, id="contact_id")
    with ctx.clock.step("encode prospects"):
        enc = prospects.encode()
    ctx.results.update(client_table=clients, prospect_table=prospects, prospect_encoded=enc)
    ctx.say("")
    ctx.say("tables", repr(clients))
    ctx.say("", repr(prospects))
    unseen = {k: v for k, v in prospects.unseen.items() if v}
    ctx.say("unseen", f"{unseen if unseen else 'none'} (prospect values the client schema never saw)")
    ctx.say("fill rate", ", ".join(f"{k} {v:.0%}" for k, v in prospects.fill_rates().items()))
    ctx.say("encoded", f"{enc.X.shape[0]:,} x {enc.X.shape[1]} float32 design matrix "
                       f"({enc.X.nbytes / 2**20:.0f} MiB), finite: {bool(np.isfinite(enc.X).all())}")
    # The planted structure, visible already: the age bands the clients
    # over-represent convert more among prospects.
    p, c = data.prospects, data.clients
    by_band = p.groupby("age_band", observed=True)["converted"].mean()
    share = c["age_band"].value_counts(normalize=True)
    ctx.say("age band", ", ".join(f"{b}: {share.get(b, 0):.0%} of clients, {r:.1%} conv."
                                  for b, r in by_band.items()))


from .scoring import step_scoring  # noqa: E402
from .segments import step_segments  # noqa: E402
from .trees import step_trees  # noqa: E402
from .twins import step_twins  # noqa: E402
from .value import step_value  # noqa: E402

STEPS: list[Callable[[DemoContext], None]] = [
    step_tables,
    step_scoring,
    step_value,
    step_segments,
    step_twins,
    step_trees,
]


def run_demo(n_prospects: int, n_clients: int, seed: int) -> str:
    """Runs every step and returns the summary text."""
    import twinscore as ts

    clock = Clock()
    with clock.step("generate data"):
        data = ts.datasets.make_prm(n_prospects, n_clients, seed=seed)
    ctx = DemoContext(data=data, seed=seed, clock=clock)
    p, c = data.prospects, data.clients
    ctx.say(f"twinscore {ts.__version__} demo — seed {seed}, {ts.get_num_threads()} threads")
    ctx.say("")
    ctx.say("generated", f"{len(p):>12,} prospects   {len(c):>10,} clients")
    ctx.say("", f"{len(data.events):>12,} events      {len(data.transactions):>10,} transactions")
    ctx.say("conversion", f"{p['converted'].mean():.2%} of prospects convert (planted)")
    counts = data.events["type"].value_counts()
    ctx.say("events", ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    ctx.say("baskets", f"median {data.transactions['amount'].median():.2f}, mean "
                       f"{data.transactions['amount'].mean():.2f}, revenue per client {c['revenue'].mean():.2f}")
    for step in STEPS:
        step(ctx)
    ctx.say("")
    ctx.say("timings")
    for name, secs in clock.steps:
        ctx.say(f"  {name:<36s} {secs:8.3f} s")
    return "\n".join(ctx.lines)
