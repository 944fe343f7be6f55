"""The campaign report, ``twinscore report``: one self-contained HTML file a
marketing manager can open from an e-mail — from a demo run, or from batch
jobs' outputs (``--scores``, ``--outcomes``, ``--rfm``).

It runs the demo's engines on a generated market (:func:`demo_context`) and
lays out, section by section, what a campaign review shows: the conversion
score's quality (lift, gains, calibration), what sets the best clients apart,
the lookalike audience and one explained pair of twins, RFM and lifetime
value, and the contact plan. Figures are drawn by :mod:`twinscore.plot` and
embedded as PNG data (no file beside it, nothing fetched from a network).

The file is written to a temporary file beside the target and moved into
place only when complete; an existing file is never replaced unless
``overwrite`` is asked for.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import twinscore as ts

from .demo import DemoContext, demo_context, step_scoring, step_segments, step_tables, step_twins, step_value

__all__ = ["SECTIONS", "build_report", "build_output_report", "write_report", "write_output_report"]

# The report's sections, in order: (anchor, title). The tests look for each title.
SECTIONS = [
    ("score", "Conversion score quality"),
    ("criteria", "What sets the best clients apart"),
    ("twins", "Lookalike audience and statistical twins"),
    ("value", "Client value: RFM and lifetime value"),
    ("plan", "The contact plan"),
]

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0; color: #1f2328;
       background: #f6f8fa; }
header { background: #1f6fb2; color: white; padding: 20px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 26px; }
main { padding: 8px 32px 32px 32px; max-width: 1200px; }
section { background: white; border: 1px solid #d0d7de; border-radius: 8px; padding: 12px 20px; margin: 18px 0; }
h2 { color: #1f6fb2; margin: 6px 0 10px 0; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 12px 0; }
.kpi { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 14px; min-width: 130px; }
.kpi .v { font-size: 22px; font-weight: 700; }
.kpi .l { font-size: 12px; color: #57606a; }
.figs { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 12px; }
.figs img { width: 100%; height: auto; border: 1px solid #eaeef2; }
table.data { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
table.data th, table.data td { border-bottom: 1px solid #eaeef2; padding: 3px 8px; text-align: right; }
table.data th:first-child, table.data td:first-child { text-align: left; }
p.note { color: #57606a; font-size: 13px; }
"""


@dataclass
class _Section:
    """One section as it is built: key figures, figures (PNG bytes), tables, notes."""

    anchor: str
    title: str
    kpis: list[tuple[str, str]] = field(default_factory=list)
    figures: list[bytes] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def draw(self, plot, *args, size=(6.0, 4.0), **kwargs) -> None:
        """Draw ``plot(*args, ax=..., **kwargs)`` on a figure of its own and keep it as PNG."""
        from matplotlib.figure import Figure  # no pyplot: nothing global, nothing shown

        fig = Figure(figsize=size, dpi=100, layout="constrained")
        plot(*args, ax=fig.add_subplot(), **kwargs)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        self.figures.append(buf.getvalue())

    def html(self) -> str:
        kpis = "".join(f"<div class='kpi'><div class='v'>{html.escape(v)}</div><div class='l'>{html.escape(k)}</div>"
                       f"</div>" for k, v in self.kpis)
        figs = "".join(f"<img alt='{html.escape(self.title)} figure {i + 1}' "
                       f"src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>"
                       for i, png in enumerate(self.figures))
        tables = "".join(f"<h3>{html.escape(t)}</h3>" + df.to_html(classes="data", border=0, na_rep="–",
                                                                 float_format=_number)
                         for t, df in self.tables)
        notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in self.notes)
        return (f"<section id='{self.anchor}'><h2>{html.escape(self.title)}</h2>"
                f"<div class='kpis'>{kpis}</div>{notes}<div class='figs'>{figs}</div>{tables}</section>")


def _number(v: float) -> str:
    """Counts as counts (weighted counts are floats), other numbers to 3 decimals."""
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.3f}"


def _section(anchor: str) -> _Section:
    return _Section(anchor, dict(SECTIONS)[anchor])


# ---------------------------------------------------------------- the sections

def _score_section(ctx: DemoContext) -> _Section:
    s = _section("score")
    held = ctx.results["held_out"]
    display = ts.plot.ScoreDisplay.from_predictions(held["converted"], held["score"], name="conversion score")
    summary = display.summary_
    lift = ts.metrics.lift_table(held["converted"], held["score"], n_bins=10)
    s.kpis += [("held-out prospects", f"{len(held):,}"), ("AUC", f"{summary['auc']:.3f}"),
               ("KS", f"{summary['ks']:.3f}"), ("top-decile lift", f"{lift['lift'].iloc[0]:.1f}x"),
               ("converters in the top 30 %", f"{lift['cumulative_gain'].iloc[2]:.0%}")]
    s.notes.append("A logistic conversion score trained on 70 % of the prospects, measured on the other 30 %.")
    s.draw(display.lift)
    s.draw(display.gains)
    s.draw(display.calibration)
    s.draw(display.roc)
    s.tables.append(("Lift by decile", lift[["contacts", "converted", "conversion_rate", "lift", "cumulative_gain"]]))
    return s


def _criteria_section(ctx: DemoContext) -> _Section:
    s = _section("criteria")
    crit, card = ctx.results["criteria"], ctx.results["scorecard"]
    best = crit.summary.iloc[0]
    s.kpis += [("best clients", f"{crit.n_target:,}"), ("strongest criterion", str(best["criterion"])),
               ("its information value", f"{best['iv']:.2f}"), ("scorecard criteria", f"{len(card.criteria)}")]
    s.notes.append("The best clients (top quarter by margin) against the prospects: information value per "
                   "criterion, weight of evidence per bin, and the points scorecard that ranks prospects.")
    s.draw(ts.plot.information_value, crit, top=12)
    s.draw(ts.plot.criterion_bins, crit, str(best["criterion"]))
    s.draw(ts.plot.scorecard_points, card, size=(6.0, 0.22 * len(card.points) + 1.6))
    s.tables.append(("Criteria", crit.summary[["criterion", "kind", "iv", "strength"]].head(10).set_index("criterion")))
    return s


def _twins_section(ctx: DemoContext) -> _Section:
    s = _section("twins")
    res, audience = ctx.results["twins"], ctx.results["audience"]
    converted = ctx.data.prospects.set_index("contact_id")["converted"]
    y = converted.loc[res.prospect_ids].to_numpy()
    rate = converted.loc[audience["prospect_id"]].mean()
    s.kpis += [("prospects searched", f"{len(res):,}"), ("twins per prospect", f"{res.k}"),
               ("5 % audience", f"{len(audience):,}"), ("its conversion", f"{rate:.2%}"),
               ("vs average", f"{rate / y.mean():.1f}x")]
    # The score the audience was ranked by: the reference score when the index has a reference.
    score = res.reference_score if res.reference_score is not None else res.score
    s.draw(ts.plot.lookalike_conversion, y, score)
    s.draw(ts.plot.audience_conversions, y, score)
    ex = ctx.results.get("twin_explanation")
    if ex is not None:
        s.draw(ts.plot.twin_explanation, ex, size=(7.0, 3.6))
        s.tables.append(("An explained pair: the top prospect of the audience and its best twin",
                         ex[["column", "prospect", "client", "contribution", "explanation"]].head(8)))
    return s


def _value_section(ctx: DemoContext) -> _Section:
    s = _section("value")
    seg, models = ctx.results["rfm"], ctx.results["clv"]
    champions = seg["segment"] == "Champions"
    s.kpis += [("clients", f"{len(seg):,}"), ("revenue", f"{seg['monetary'].sum():,.0f}"),
               ("Champions", f"{champions.mean():.0%} of clients"),
               ("their revenue", f"{seg.loc[champions, 'monetary'].sum() / seg['monetary'].sum():.0%}"),
               ("mean 12-month CLV", f"{models.clv.mean():,.2f}")]
    holdout = 180 / 7  # the demo's calibration period ends 180 days before now; weeks
    s.draw(ts.plot.segment_value, seg)
    # Where next year's value lies: each segment's share of the 12-month CLV
    # (0 for the clients who first bought after the calibration period).
    s.draw(ts.plot.segment_value, seg.assign(**{"12-month CLV": models.clv.reindex(seg.index).fillna(0.0)}),
           value="12-month CLV")
    s.draw(ts.plot.rfm_grid, seg, value="monetary")
    s.draw(ts.plot.calibration_purchases, models.bg, models.summary, t=holdout)
    s.draw(ts.plot.period_transactions, models.bg, models.summary)
    top = models.clv.sort_values(ascending=False).head(8).rename("12-month CLV").to_frame()
    top["segment"] = seg["segment"].reindex(top.index).astype(str)
    s.tables.append(("Highest lifetime values", top))
    return s


def _plan_section(ctx: DemoContext) -> _Section:
    s = _section("plan")
    plan, inputs = ctx.results["contact_plan"], ctx.results["plan_inputs"]
    tot = plan.summary.loc["total"]
    s.kpis += [("budget", f"{plan.budget:,.0f}"), ("contacts", f"{int(tot['contacts']):,}"),
               ("expected conversions", f"{tot['conversions']:,.0f}"), ("expected profit", f"{tot['profit']:,.0f}"),
               ("ROI", f"{tot['roi']:.1f}")]
    s.draw(ts.plot.plan_channels, plan)
    budgets = plan.budget * np.array([0.25, 0.5, 1.0, 2.0, 4.0])
    plans = [ts.contact_plan(inputs["p"], inputs["value"], inputs["channels"], budget=float(b),
                             allowed=inputs["allowed"]) for b in budgets]  # a few budgets
    s.draw(ts.plot.profit_vs_budget, plans)
    s.tables.append(("Per channel", plan.summary))
    return s


_BUILDERS = [_score_section, _criteria_section, _twins_section, _value_section, _plan_section]


def _page(sections: list[_Section], subtitle: str) -> str:
    """The whole HTML page: a header with the sections' links, then the sections."""
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    nav = " · ".join(f"<a style='color:white' href='#{s.anchor}'>{html.escape(s.title)}</a>" for s in sections)
    head = (f"<header><h1>Campaign report</h1><div>{html.escape(subtitle)} — twinscore {ts.__version__}, {when}"
            f"</div><div style='margin-top:6px;font-size:13px'>{nav}</div></header>")
    body = "".join(s.html() for s in sections)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>twinscore campaign report</title>"
            f"<style>{_CSS}</style></head><body>{head}<main>{body}</main></body></html>")


def build_report(ctx: DemoContext) -> str:
    """The report's HTML from a demo run's context."""
    data = ctx.data
    return _page([build(ctx) for build in _BUILDERS],
                 f"{len(data.prospects):,} prospects, {len(data.clients):,} clients, generated market (seed {ctx.seed})")


# ---------------------------------------------------------------- from a job's outputs

def _top_reasons(counts: pd.Series, *, ax) -> None:
    """The most frequent first reasons (the table shown beside it holds the same counts)."""
    shown = counts.iloc[::-1]
    ax.barh(np.arange(len(shown)), shown.to_numpy(), color="#1f6fb2")
    ax.set_yticks(np.arange(len(shown)), labels=[str(r) for r in shown.index])
    ax.set_xlabel("contacts whose first reason it is")
    ax.set_ylabel("reason")
    ax.set_title("First reasons of the scores")


def _scores_section(scores: pd.DataFrame, outcomes: pd.DataFrame | None, id: str, outcome: str) -> _Section:
    """Score quality from a tree-scoring job's output joined to the observed outcomes by id."""
    for name, df in (("scores", scores), ("outcomes", outcomes)):
        if df is not None and id not in df.columns:
            raise KeyError(f"{name}: no id column {id!r} (columns: {list(df.columns)[:20]})")
    if "score" not in scores.columns:
        raise KeyError("scores: no 'score' column (a tree_score job's output of a one-score model)")
    if outcomes is None:
        s = _Section("scores", "Scores")
        s.kpis += [("contacts scored", f"{len(scores):,}"), ("mean score", f"{scores['score'].mean():.4g}")]
        s.tables.append(("Score quantiles", scores["score"].quantile([0.01, 0.1, 0.5, 0.9, 0.99]).to_frame()))
    else:
        if outcome not in outcomes.columns:
            raise KeyError(f"outcomes: no outcome column {outcome!r} (columns: {list(outcomes.columns)[:20]})")
        joined = scores[[id, "score"]].merge(outcomes[[id, outcome]], on=id, how="inner", validate="one_to_one")
        if joined.empty:
            raise ValueError(f"no id of the scores is among the outcomes' (column {id!r})")
        s = _section("score")
        display = ts.plot.ScoreDisplay.from_predictions(joined[outcome], joined["score"], name="score")
        lift = ts.metrics.lift_table(joined[outcome], joined["score"], n_bins=10)
        s.kpis += [("contacts scored", f"{len(scores):,}"), ("with an outcome", f"{len(joined):,}"),
                   ("AUC", f"{display.summary_['auc']:.3f}"), ("KS", f"{display.summary_['ks']:.3f}"),
                   ("top-decile lift", f"{lift['lift'].iloc[0]:.1f}x")]
        s.draw(display.lift)
        s.draw(display.gains)
        if joined["score"].between(0, 1).all():  # probabilities: their calibration
            s.draw(display.calibration)
        s.draw(display.roc)
        s.tables.append(("Lift by decile", lift[["contacts", "converted", "conversion_rate", "lift",
                                                 "cumulative_gain"]]))
    if "reason_1" in scores.columns:
        counts = scores["reason_1"].value_counts().head(12)
        s.draw(_top_reasons, counts)
        s.tables.append(("First reasons", counts.rename("contacts").to_frame()))
    return s


def _rfm_section(rfm: pd.DataFrame) -> _Section:
    """Segments and the R x F grid from an rfm job's output."""
    for c in ("R", "F"):
        if c not in rfm.columns:
            raise KeyError(f"rfm: no {c!r} column (an rfm job's output; columns: {list(rfm.columns)[:20]})")
    s = _Section("value", "Client value: RFM")
    s.kpis.append(("clients", f"{len(rfm):,}"))
    value = "monetary" if "monetary" in rfm.columns else None
    if value:
        s.kpis.append(("revenue", f"{rfm['monetary'].sum():,.0f}"))
    if value and "segment" in rfm.columns:
        s.draw(ts.plot.segment_value, rfm)
    s.draw(ts.plot.rfm_grid, rfm, value=value)
    if "segment" in rfm.columns:
        s.tables.append(("Clients per segment", rfm["segment"].value_counts().rename("clients").to_frame()))
    return s


def _check_outputs(scores, outcomes, rfm) -> None:
    """The tables a report from outputs needs (given as tables or paths)."""
    if outcomes is not None and scores is None:
        raise ValueError("outcomes are joined to scores: give the scores too")
    if scores is None and rfm is None:
        raise ValueError("a report from outputs needs the scores of a tree_score job or the table of an rfm job")


def build_output_report(*, scores: pd.DataFrame | None = None, outcomes: pd.DataFrame | None = None,
                        rfm: pd.DataFrame | None = None, id: str = "contact_id", outcome: str = "converted",
                        source: str = "batch job outputs") -> str:
    """The report's HTML from batch jobs' output tables: a tree-scoring job's ``scores``
    (with ``outcomes`` observed since, joined by ``id``: the score's quality) and an rfm
    job's table (segments and the R x F grid)."""
    _check_outputs(scores, outcomes, rfm)
    sections = ([_scores_section(scores, outcomes, id, outcome)] if scores is not None else []) + \
        ([_rfm_section(rfm)] if rfm is not None else [])
    return _page(sections, source)


def _target(path, overwrite: bool) -> Path:
    """The report's path, checked before any work: .html, an existing folder, no file unless overwrite."""
    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"the report is HTML: its path must end in .html, got {target.name}")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"the report's directory {target.parent} does not exist")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass --overwrite to replace it")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError('the report draws with matplotlib: pip install "twinscore[plot]"') from None
    return target


def write_report(path: str | os.PathLike, *, prospects: int = 50_000, clients: int = 5_000, seed: int = 0,
                 overwrite: bool = False) -> Path:
    """Runs the demo's engines on a generated market and writes the report to ``path``.

    Parameters
    ----------
    path : path-like
        The HTML file to write (``.html``, in an existing folder).
    prospects, clients : int
        Size of the generated market.
    seed : int
        Seed of the generated market.
    overwrite : bool, default False
        Replace ``path`` if it exists (else a ``FileExistsError``).

    Returns
    -------
    Path
        The file written: through a temporary file beside it, moved into place
        when complete, so a failure leaves no file.
    """
    target = _target(path, overwrite)
    ctx = demo_context(prospects, clients, seed, steps=[step_tables, step_scoring, step_value, step_segments,
                                                        step_twins])
    _atomic_write(target, build_report(ctx), overwrite)
    return target


def write_output_report(path: str | os.PathLike, *, scores=None, outcomes=None, rfm=None, id: str = "contact_id",
                        outcome: str = "converted", overwrite: bool = False) -> Path:
    """Writes the report of batch jobs' outputs (paths of Parquet / CSV tables, see
    :func:`build_output_report`) to ``path``, as :func:`write_report` does."""
    from .tables import _read_table

    target = _target(path, overwrite)
    _check_outputs(scores, outcomes, rfm)  # before reading anything
    tables = {name: _read_table(Path(p), f"--{name}") if p is not None else None
              for name, p in (("scores", scores), ("outcomes", outcomes), ("rfm", rfm))}
    names = ", ".join(Path(p).name for p in (scores, outcomes, rfm) if p is not None)
    _atomic_write(target, build_output_report(**tables, id=id, outcome=outcome, source=f"from {names}"), overwrite)
    return target


def _atomic_write(target: Path, text: str, overwrite: bool) -> None:
    """``text`` into ``target`` through a temporary file beside it, never half-written.

    Without ``overwrite`` the file is linked into place, which fails if a file
    appeared there meanwhile (no check-then-replace race)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # a file to share, not mkstemp's private 0600
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)
    except FileExistsError:
        raise FileExistsError(f"{target} exists; pass --overwrite to replace it") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
