"""The main job, `twinscore demo`: generate a market, run every engine, summarise.

Each engine contributes one step: a function ``step(ctx)`` that runs the engine
on ``ctx.data`` (and what earlier steps left in ``ctx``), times itself with
``ctx.clock.step(name)``, and adds readable lines with ``ctx.say``. The steps
run in the order of :data:`STEPS`.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

import twinscore as ts


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


def step_scoring(ctx) -> None:
    """Events -> appetence; lead scores and grades; a trained conversion score
    with AUC, KS and lift on held-out prospects; reasons for the top three."""
    data = ctx.data
    p = data.prospects
    with ctx.clock.step("aggregate events"):
        agg = ts.events.aggregate(data.events, p, now=data.now, half_life_days=30)
    with ctx.clock.step("lead scores (rules)"):
        leads = ts.leads.score_leads(p, data.events, ts.datasets.PRM_LEAD_RULES, now=data.now)
    attrs = p.set_index("contact_id")[["sex", "age_band", "region", "income", "channel", "email_optin"]]
    X = pd.concat([attrs.astype({"email_optin": np.float64}), ts.events.behaviour_features(agg)], axis=1)
    y = p.set_index("contact_id")["converted"]
    test = np.random.default_rng(ctx.seed).random(len(X)) < 0.3
    with ctx.clock.step("fit conversion score"):
        model = ts.LogisticScorer(C=1.0).fit(X[~test], y[~test])
    with ctx.clock.step("score + measure held-out"):
        score = model.predict_proba(X[test])[:, 1]
        summary = ts.metrics.roc_summary(y[test], score)
        lift = ts.metrics.lift_table(y[test], score, n_bins=10)
    top = X[test].index[np.argsort(-score, kind="stable")[:3]]
    reasons = model.explain(X.loc[top], top=3)

    ctx.results.update(event_features=agg, lead_scores=leads, conversion_model=model,
                       held_out=pd.DataFrame({"converted": y[test].to_numpy(), "score": score}, index=X[test].index))
    ctx.say("")
    seen = agg["n_events"] > 0
    ctx.say("events", f"{len(agg):,} prospects aggregated, {seen.mean():.0%} with events; median recency "
                      f"{agg.loc[seen, 'recency_days'].median():.1f} days, mean active days "
                      f"{agg.loc[seen, 'active_days'].mean():.1f}")
    app = agg[[c for c in agg.columns if c.startswith("appetence_")]].sum().sort_values(ascending=False)
    ctx.say("appetence", ", ".join(f"{k.removeprefix('appetence_')} {v:,.0f}" for k, v in app.head(5).items()))
    grade_share = leads["grade"].value_counts(normalize=True).sort_index()
    conv_by_grade = y.groupby(leads["grade"].to_numpy(), observed=True).mean()
    # The grade rates the profile (fit rules) alone; behaviour enters the
    # total score, hence the MQL flag: the two lines measure different things.
    ctx.say("leads", "fit grades (profile rules only) " + ", ".join(
        f"{g} {s:.0%} ({conv_by_grade.get(g, np.nan):.1%} conv.)" for g, s in grade_share.items()))
    mql = leads["mql"].to_numpy()
    ctx.say("", f"MQL (profile + behaviour score >= {ts.datasets.PRM_LEAD_RULES['mql_threshold']}): "
                f"{mql.mean():.1%} of prospects, converting at {y[mql].mean():.1%} vs {y[~mql].mean():.1%}; "
                f"AUC of the total score {ts.metrics.roc_auc(y, leads['score']):.3f}")
    ctx.say("model", f"LogisticScorer on {int((~test).sum()):,} prospects, {len(model.feature_names_)} features, "
                     f"{int(model.n_iter_[0])} Newton steps")
    ctx.say("held-out", f"{int(test.sum()):,} prospects: AUC {summary['auc']:.3f}, KS {summary['ks']:.3f}")
    ctx.say("lift", "deciles " + " ".join(f"{v:.1f}" for v in lift["lift"]) +
            f"; top decile captures {lift['cumulative_gain'].iloc[0]:.0%} of converters")
    for rank, (cid, row) in enumerate(reasons.iterrows(), 1):
        why = ", ".join(f"{row[f'reason_{t}']} ({row[f'contribution_{t}']:+.2f})" for t in (1, 2, 3)
                        if row[f"reason_{t}"] is not None)
        ctx.say("reasons" if rank == 1 else "", f"#{rank} prospect {cid}: {why}")


@dataclass
class _ValueModels:
    summary: pd.DataFrame
    bg: ts.BetaGeo
    gg: ts.GammaGamma
    clv: pd.Series


def step_value(ctx) -> None:
    """Client value: RFM segments, BG/NBD + Gamma-Gamma lifetime value, triggers, KPIs."""
    data = ctx.data
    tx = data.transactions
    with ctx.clock.step("rfm"):
        seg = ts.rfm(tx, customer="client_id", date="date", amount="amount", now=data.now)
    sizes = seg.groupby("segment", observed=True).agg(clients=("frequency", "size"),
                                                     revenue=("monetary", "sum"),
                                                     basket=("average_basket", "mean"))
    sizes = sizes.sort_values("revenue", ascending=False)
    ctx.say("")
    ctx.say("rfm", f"{len(seg):,} clients, {len(tx):,} transactions; segments by revenue:")
    for name, row in sizes.iterrows():
        ctx.say("", f"  {name:<20s} {int(row.clients):>7,} clients  revenue {row.revenue:>13,.0f}  "
                    f"basket {row.basket:7.2f}")
    cal_end = data.now - pd.Timedelta(days=180)
    with ctx.clock.step("clv: summaries + BG/NBD + Gamma-Gamma"):
        summary = ts.calibration_summary(tx, customer="client_id", date="date", amount="amount",
                                      calibration_end=cal_end, observation_end=data.now)
        # A small penalty: on real logs the unpenalised BG/NBD optimum can lie at
        # infinity (a, b -> inf: one drop-out probability for all).
        bg = ts.BetaGeo(penalizer=1e-3).fit(summary)
        gg = ts.GammaGamma(penalizer=1e-3).fit(summary)
        clv = ts.lifetime_value(bg, gg, summary, months=12)
    p = bg.params_
    ctx.say("bg/nbd", f"r={p['r']:.3f} alpha={p['alpha']:.3f} a={p['a']:.3f} b={p['b']:.3f} "
                      f"(penalizer 0.001, LL {bg.log_likelihood_:,.1f}, {bg.n_iter_} iterations)")
    pred = bg.predict(summary, 180 / 7)
    ctx.say("holdout", f"predicted {pred.sum():,.0f} purchase days over the last 180 days, "
                       f"actual {summary['holdout_frequency'].sum():,.0f}")
    top = clv.sort_values(ascending=False).head(5)
    ctx.say("top clv", ", ".join(f"{i}: {v:,.0f}" for i, v in top.items()))
    ctx.results.update(rfm=seg, clv=_ValueModels(summary, bg, gg, clv))

    today = data.now
    with ctx.clock.step("triggers + kpis"):
        fired = pd.concat([
            ts.triggers.inactivity(tx, customer="client_id", date="date", days=90,
                                since=today - pd.Timedelta(days=1), until=today),
            ts.triggers.form_filled(data.events, contact="contact_id", timestamp="timestamp", type="type",
                                 since=today - pd.Timedelta(days=1), until=today),
        ], ignore_index=True)
        email = ts.kpi.email(data.events, contact="contact_id", timestamp="timestamp", type="type", freq="M")
        value = ts.kpi.client_value(tx, customer="client_id", date="date", amount="amount", freq="Y",
                                 inactive_days=365)
    counts = fired["trigger"].value_counts()
    ctx.say("triggers", ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "none today")
    last = email.iloc[-1]
    ctx.say("e-mail", f"{last['period']}: open {last['open_rate']:.1%}, click {last['click_rate']:.1%}, "
                      f"reactivity {last['reactivity']:.1%}, unsubscribe {last['unsubscribe_rate']:.2%}")
    for _, row in value.tail(3).iterrows():  # a few summary lines, not a loop over clients
        retention = "n/a" if pd.isna(row["retention_rate"]) else f"{row['retention_rate']:.1%}"
        ctx.say("kpi", f"{row['period']}: {int(row['active_clients']):,} active, basket {row['average_basket']:.2f}, "
                       f"ARPU {row['arpu']:.2f}, retention {retention}, inactive {row['inactive_rate']:.1%}")


def step_segments(ctx) -> None:
    """Demo: k-means segments of the prospects with their profiles, the criteria
    of the best clients and the prospects' scorecard lift, the contact plan."""
    data = ctx.data
    p, c = data.prospects, data.clients
    enc = ctx.results.get("prospect_encoded")
    X = enc.X if enc is not None else ts.ContactTable.from_pandas(p[["income", "sex", "age_band"]]).encode().X
    with ctx.clock.step("k-means segments (K=6)"):
        km = ts.KMeans(n_clusters=6, random_state=ctx.seed).fit(X)
    prof = ts.segment_profiles(p[["income", "sex", "age_band", "region", "channel"]], km.labels_,
                            conversion=p["converted"])
    ctx.say("")
    ctx.say("segments", f"k-means, 6 segments of {len(p):,} prospects ({X.shape[1]} features), "
                        f"{km.n_iter_} iterations, inertia {km.inertia_:,.0f}")
    for s, r in prof.iterrows():
        ctx.say("", f"#{s}: {r['share']:5.1%}  conv. {r['conversion']:.2%} (index {r['conversion index']:.0f}), "
                    f"income index {r['income index']:.0f}; {r['over-represented'] or '-'}")

    # The best clients (top quarter by margin) against the prospects: what sets
    # them apart becomes a scorecard that ranks the prospects.
    cols = ["sex", "age_band", "region", "income", "channel", "categories"]
    best = c["margin"] >= c["margin"].quantile(0.75)
    both = pd.concat([c.loc[best, cols], p[cols]], ignore_index=True)
    target = np.r_[np.ones(int(best.sum()), np.uint8), np.zeros(len(p), np.uint8)]
    with ctx.clock.step("criteria of the best clients"):
        crit = ts.discriminating_criteria(both, target)
        card = crit.scorecard(top=6)
        score = card.apply(p)
    lift = ts.lift_at(score, p["converted"], 0.1)
    ctx.say("criteria", f"best clients ({int(best.sum()):,}, top 25% margin) vs prospects; top IV: "
                        + ", ".join(f"{r.criterion} {r.iv:.2f}" for r in crit.summary.head(5).itertuples()))
    ctx.say("scorecard", f"{len(card.criteria)} criteria, base {card.base:g}; top-decile lift on the prospects' "
                         f"conversion {lift:.2f}x")

    # Conversion probability: the observed rate of the prospect's scorecard
    # decile (as calibrated on a past campaign); value: a client's mean margin.
    decile = pd.qcut(pd.Series(score).rank(method="first"), 10, labels=False).to_numpy()
    rate = np.bincount(decile, weights=p["converted"].to_numpy(np.float64), minlength=10) / np.bincount(decile)
    prob = rate[decile]
    value = np.full(len(p), float(c["margin"].mean()))
    prob_by_channel = _channel_response(p, data.events, prob)
    channels = [ts.Channel("email", 0.02), ts.Channel("sms", 0.08), ts.Channel("mail", 0.90),
                ts.Channel("phone", 4.00, capacity=max(1, len(p) // 200))]
    # The brand's pressure rules over the messages already sent (the log's e-mails).
    sent = data.events[data.events["type"] == "email_send"]
    history = pd.DataFrame({"contact_id": sent["contact_id"].to_numpy(), "channel": "email",
                            "date": sent["timestamp"].to_numpy()})
    rules = [ts.PressureRule(3, "7D"), ts.PressureRule(2, "7D", channel="email")]
    allowed = {"email": p["email_optin"].to_numpy()}
    with ctx.clock.step("contact plan"):
        plan = ts.contact_plan(prob_by_channel, value, channels, budget=0.4 * len(p), allowed=allowed,
                               index=p["contact_id"].to_numpy(), history=history, now=data.now, pressure=rules,
                               min_gap="1D", control=0.1, seed=ctx.seed)
    ctx.results.update(kmeans=km, segment_profiles=prof, criteria=crit, scorecard=card, contact_plan=plan,
                       plan_inputs={"p": prob_by_channel, "value": value, "channels": channels,
                                    "allowed": allowed})
    s = plan.summary
    ctx.say("plan", f"budget {plan.budget:,.0f}, each channel's own response, at most 3 messages a week (2 "
                    f"e-mails), a day apart, 10 % held out: " + ", ".join(
                        f"{ch} {int(r['contacts']):,} (ROI {r['roi']:.1f})"
                        for ch, r in s.drop(index="total").iterrows() if r["contacts"] > 0))
    t = s.loc["total"]
    ctx.say("", f"{int(t['contacts']):,} contacts (+ {int(t['control']):,} held out), cost {t['cost']:,.0f}, "
                f"{t['conversions']:,.0f} expected conversions, expected profit {t['profit']:,.0f}; pressure "
                "held back " + ", ".join(f"{n:,} ({rule})" for rule, n in plan.held_back.items()))
    _measure_campaign(ctx, plan, prob, value)


def _channel_response(p: pd.DataFrame, events: pd.DataFrame, prob: np.ndarray) -> pd.DataFrame:
    """Each channel's conversion probability: the score's probability times how the contact answers it —
    e-mail by its open rate in the log, SMS better among the young, mail among the old, phone for all."""
    kinds = events["type"].astype(str)
    opens = events[kinds == "email_open"].groupby("contact_id").size()
    sends = events[kinds == "email_send"].groupby("contact_id").size()
    open_rate = (opens.reindex(p["contact_id"]).fillna(0) / sends.reindex(p["contact_id"]).clip(lower=1).fillna(1))
    band = p["age_band"].cat.codes.to_numpy()  # 18-24 ... 65+
    young, old = band <= 1, band >= 4
    return pd.DataFrame({
        "email": np.minimum(1, prob * (0.4 + 1.2 * open_rate.to_numpy())),
        "sms": np.minimum(1, prob * np.where(young, 1.6, 0.8)),
        "mail": np.minimum(1, prob * np.where(old, 2.4, 1.4)),
        "phone": np.minimum(1, prob * 3.0),
    })


def _measure_campaign(ctx, plan, prob: np.ndarray, value: np.ndarray) -> None:
    """The plan sent and its outcome simulated — the contacted convert at their channel's probability,
    the held-out at the organic rate (a third of the score's) — then measured as a campaign is."""
    rows = plan.contacts
    chosen = (rows["group"] != "none").to_numpy()
    treated = (rows["group"] == "treated").to_numpy()
    rng = np.random.default_rng(ctx.seed + 31)
    organic = prob / 3
    p_buy = np.where(treated, np.maximum(rows["p_convert"].to_numpy(), organic), organic)
    buys = chosen & (rng.random(len(rows)) < p_buy)
    sent_at = ctx.data.now + pd.Timedelta(days=1)
    targets = pd.DataFrame({"contact_id": rows.index[chosen], "campaign": "demo",
                            "channel": rows["channel"].astype(str).to_numpy()[chosen],
                            "group": rows["group"].astype(str).to_numpy()[chosen], "sent_at": sent_at})
    purchases = pd.DataFrame({"contact_id": rows.index[buys], "date": sent_at + pd.Timedelta(days=5),
                              "amount": value[buys]})
    costs = {c: float(v) for c, v in plan.summary["cost"].drop(index="total").div(
        plan.summary["contacts"].drop(index="total").clip(lower=1)).items()}
    res = ts.kpi.campaign_results(targets, purchases, channel="channel", cost=costs)
    ctx.results["campaign_results"] = res
    ctx.say("measured", "the plan sent, its outcome simulated, measured against the control group: " + "; ".join(
        f"{r.channel} lift {r.lift:+.1%} [{r.lift_low:+.1%}, {r.lift_high:+.1%}], ROI {r.roi:.1f}"
        for r in res.itertuples()))


def _top_decile_lift(converted: np.ndarray, score: np.ndarray) -> float:
    order = np.lexsort((np.arange(len(score)), -score))
    return float(converted[order[: max(1, len(score) // 10)]].mean() / converted.mean())


def step_twins(ctx) -> None:
    """Lookalikes of the leads a past campaign converted: the new leads' twins among
    them, the reference score's lift next to the plain one, a 5 % audience, one
    explained prospect, and what its twins among the buyers bought."""
    data = ctx.data
    p = data.prospects
    agg = ctx.results.get("event_features")
    if agg is None:
        agg = ts.events.aggregate(data.events, p, now=data.now, half_life_days=30)
    behaviour = ts.events.behaviour_features(agg)  # one row per prospect, in their order
    behaviour = behaviour[[c for c in behaviour.columns if c.startswith("decayed_")] + ["recency_days"]]
    cols = ["sex", "age_band", "region", "income", "channel", *ts.datasets.NOISE_COLUMNS, "categories"]
    leads = pd.concat([p[["contact_id", *cols]].reset_index(drop=True), behaviour.reset_index(drop=True)], axis=1)
    converted = p["converted"].to_numpy()
    past = np.random.default_rng(ctx.seed + 19).random(len(p)) < 0.5  # the campaign already run
    seed, new = leads[past & (converted == 1)], leads[~past]
    idx = ts.TwinIndex(block_on=["sex"])
    with ctx.clock.step("twins: fit (reference = past leads)"):
        idx.fit(seed, id="contact_id", population=leads[past])
    with ctx.clock.step("twins: search k=10 (+ reference)"):
        res = idx.search(new, k=10, id="contact_id")
    y = converted[~past]
    lifts = {name: _top_decile_lift(y, getattr(res, name)) for name in ("score", "reference_score")}
    aucs = {name: ts.metrics.roc_auc(y, getattr(res, name)) for name in ("score", "reference_score")}
    with ctx.clock.step("twins: 5 % audience + reasons"):
        audience = idx.expand(new, fraction=0.05, id="contact_id")
        top = audience["prospect_id"].iloc[0]
        why = idx.reasons(new[new["contact_id"] == top], top=3, id="contact_id")["why"].iloc[0]
    rate = p.set_index("contact_id").loc[audience["prospect_id"], "converted"].mean()
    row = int(np.flatnonzero(res.prospect_ids == top)[0])
    pair = idx.explain(new, top, res.client_ids[row, 0], id="contact_id")  # the lead and its best twin
    ctx.results.update(twin_index=idx, twins=res, audience=audience, twin_explanation=pair)
    ctx.say("")
    ctx.say("twins", f"{len(seed):,} leads converted by a past campaign (seed) x {len(new):,} new leads, "
                     f"{len(idx.columns_used_)} columns (mixed metric), blocked on sex, k=10; reference: the "
                     f"{int(past.sum()):,} past leads")
    strong = sorted(idx.weights_.items(), key=lambda t: -t[1])
    ctx.say("weights", "learnt " + ", ".join(f"{c} {w:.2f}" for c, w in strong[:5]) + "; noise columns "
            + ", ".join(f"{c} {idx.weights_[c]:.2f}" for c in ts.datasets.NOISE_COLUMNS))
    ctx.say("lift", f"top decile by the plain score (mean similarity of the twins) {lifts['score']:.2f}x "
                    f"(AUC {aucs['score']:.3f}); by the reference score {lifts['reference_score']:.2f}x "
                    f"(AUC {aucs['reference_score']:.3f})")
    ctx.say("audience", f"5 % lookalike audience: {len(audience):,} new leads, conversion {rate:.2%} "
                        f"({rate / y.mean():.2f}x the {y.mean():.2%} average)")
    ctx.say("explained", f"lead {top} (top of the audience) {why}")
    ctx.say("", f"its best twin, lead {res.client_ids[row, 0]} (similarity {pair.attrs['similarity']:.3f}): "
                + "; ".join(pair["explanation"].head(3)))
    _step_twins_bought(ctx, new[new["contact_id"] == top])


def _step_twins_bought(ctx, prospect: pd.DataFrame) -> None:
    """The buyers a lead resembles, on the profile both have, and what they bought."""
    data = ctx.data
    cols = ["sex", "age_band", "region", "income", "channel", *ts.datasets.NOISE_COLUMNS]
    buyers = ts.TwinIndex(block_on=["sex"])
    with ctx.clock.step("twins: buyers' index + recommend"):
        buyers.fit(data.clients[["client_id", *cols, "margin"]], id="client_id", value="margin",
                   population=data.prospects[cols])
        res = buyers.search(prospect[["contact_id", *cols]], k=10, id="contact_id")
        bought = res.recommend(data.clients.set_index("client_id")["categories"], top=3)
    if len(bought) == 0:
        ctx.say("", "its twins among the buyers bought nothing")
        return
    ctx.say("", "its 10 twins among the buyers (margin-weighted) bought: " + ", ".join(
        f"{r.item} ({r.score:.0%}, {r.twins} twins)" for r in bought.itertuples()))


def step_trees(ctx) -> None:
    """Demo step: train a small XGBoost model on the prospects, reload it with
    twinscore, compare scores and timings, and print three prospects' reasons."""
    try:
        import xgboost as xgb
    except ImportError:
        ctx.say("")
        ctx.say("trees", "xgboost is not installed: step skipped")
        return
    p = ctx.data.prospects
    numeric = [c for c in p.columns if c not in ("contact_id", "converted") and
               (pd.api.types.is_numeric_dtype(p[c]) or pd.api.types.is_bool_dtype(p[c]))]
    cats = [c for c in ("sex", "age_band", "region", "channel") if c in p.columns]
    X = pd.DataFrame({c: p[c].astype(np.float32) for c in numeric})
    for c in cats:
        X[c] = p[c].astype("category")
    y = p["converted"].astype(int).to_numpy()
    n_train = min(len(X), 20_000)
    with ctx.clock.step("xgboost fit (100 trees, depth 5)"):
        model = xgb.XGBClassifier(n_estimators=100, max_depth=5, learning_rate=0.1, tree_method="hist",
                                  enable_categorical=True, n_jobs=2, random_state=ctx.seed)
        model.fit(X.iloc[:n_train], y[:n_train])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "conversion.ubj")
        model.get_booster().save_model(path)
        with ctx.clock.step("twinscore load model"):
            scorer = ts.TreeScorer.from_xgboost(path)
    booster = model.get_booster()
    t0 = time.perf_counter()
    ref = booster.inplace_predict(X)
    t_xgb = time.perf_counter() - t0
    with ctx.clock.step("twinscore score prospects"):
        t0 = time.perf_counter()
        ours = scorer.predict(X)
        t_ts = time.perf_counter() - t0
    diff = float(np.max(np.abs(ours - ref)))
    ctx.say("")
    ctx.say("trees", repr(scorer))
    ctx.say("", f"{len(X):,} prospects scored: max |twinscore - xgboost| = {diff:.1e}; "
                f"xgboost {t_xgb:.3f} s, twinscore {t_ts:.3f} s ({t_xgb / max(t_ts, 1e-9):.1f}x)")
    groups = {c: [c] for c in cats}
    reasons = scorer.top_reasons(X.iloc[:3], top=3, groups=groups)
    for i in range(len(reasons)):
        r = reasons.iloc[i]
        text = ", ".join(f"{r[f'reason_{k}']} {r[f'contribution_{k}']:+.2f}" for k in (1, 2, 3))
        ctx.say("", f"prospect {p['contact_id'].iloc[i] if 'contact_id' in p else i}: "
                    f"p = {ours[i]:.3f}; reasons {text}")
    ctx.results["tree_scorer"] = scorer


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
    return "\n".join(demo_context(n_prospects, n_clients, seed).lines)


def demo_context(n_prospects: int, n_clients: int, seed: int,
                 steps: list[Callable[[DemoContext], None]] | None = None) -> DemoContext:
    """Runs the ``steps`` (default: every step) on a generated market; the context holds
    the summary lines and what each step left in ``results`` (the report reads them)."""
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
    for step in STEPS if steps is None else steps:
        step(ctx)
    ctx.say("")
    ctx.say("timings")
    for name, secs in clock.steps:
        ctx.say(f"  {name:<36s} {secs:8.3f} s")
    return ctx
