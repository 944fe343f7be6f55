"""Behavioural scoring on the generated market: the `twinscore demo` step.

Also holds :data:`DEFAULT_LEAD_RULES`, a lead-scoring rule set for the event
types and attributes of :func:`twinscore.datasets.make_prm`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_LEAD_RULES", "behaviour_features", "step_scoring"]

DEFAULT_LEAD_RULES = {
    "half_life_days": 30,
    "fit": [
        {"name": "core age", "column": "age_band", "points_by_value": {"25-34": 10, "35-44": 10, "45-54": 5}},
        {"name": "income 40k+", "column": "income", "min": 40000, "points": 5},
        {"name": "opted in", "column": "email_optin", "min": 1, "points": 5},
    ],
    "behaviour": [
        {"name": "page views", "event": "page_view", "points": 1, "cap": 15},
        {"name": "high-ticket pages", "event": "page_view", "category": ["electronics", "computers", "travel"],
         "points": 3, "cap": 15},
        {"name": "e-mail opens", "event": "email_open", "points": 2, "cap": 10},
        {"name": "e-mail clicks", "event": "email_click", "points": 5, "cap": 20},
        {"name": "forms", "event": "form_fill", "points": 15, "half_life_days": 60},
        {"name": "newsletter", "event": "newsletter_signup", "points": 10, "half_life_days": None},
        {"name": "unsubscribed", "event": "unsubscribe", "points": -50, "half_life_days": None},
    ],
    "grades": {"A": 20, "B": 10, "C": 5},
    "lowest_grade": "D",
    "mql_threshold": 30,
}


def behaviour_features(agg: pd.DataFrame) -> pd.DataFrame:
    """Model-ready behaviour columns from :func:`twinscore.events.aggregate`:
    log of the decayed counts and appetences (heavy-tailed), recency, active days."""
    decayed = [c for c in agg.columns if c.startswith(("decayed_", "appetence_"))]
    out = np.log1p(agg[decayed])
    out["recency_days"] = agg["recency_days"]  # NaN (never seen) -> mean imputation in the scorer
    out["active_days"] = np.log1p(agg["active_days"].astype(np.float64))
    return out


def step_scoring(ctx) -> None:
    """Events -> appetence; lead scores and grades; a trained conversion score
    with AUC, KS and lift on held-out prospects; reasons for the top three."""
    import twinscore as ts

    data = ctx.data
    p = data.prospects
    with ctx.clock.step("aggregate events"):
        agg = ts.events.aggregate(data.events, p, now=data.now, half_life_days=30)
    with ctx.clock.step("lead scores (rules)"):
        leads = ts.leads.score_leads(p, data.events, DEFAULT_LEAD_RULES, now=data.now)
    attrs = p.set_index("contact_id")[["sex", "age_band", "region", "income", "channel", "email_optin"]]
    X = pd.concat([attrs.astype({"email_optin": np.float64}), behaviour_features(agg)], axis=1)
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

    ctx.results.update(event_features=agg, lead_scores=leads, conversion_model=model)
    ctx.say("")
    seen = agg["n_events"] > 0
    ctx.say("events", f"{len(agg):,} prospects aggregated, {seen.mean():.0%} with events; median recency "
                      f"{agg.loc[seen, 'recency_days'].median():.1f} days, mean active days "
                      f"{agg.loc[seen, 'active_days'].mean():.1f}")
    app = agg[[c for c in agg.columns if c.startswith("appetence_")]].sum().sort_values(ascending=False)
    ctx.say("appetence", ", ".join(f"{k.removeprefix('appetence_')} {v:,.0f}" for k, v in app.head(5).items()))
    grade_share = leads["grade"].value_counts(normalize=True).sort_index()
    conv_by_grade = y.groupby(leads["grade"].to_numpy(), observed=True).mean()
    ctx.say("leads", "grades " + ", ".join(f"{g} {s:.0%} ({conv_by_grade.get(g, np.nan):.1%} conv.)"
                                           for g, s in grade_share.items()))
    mql = leads["mql"].to_numpy()
    ctx.say("", f"MQL {mql.mean():.1%} of prospects convert at {y[mql].mean():.1%} vs {y[~mql].mean():.1%}; "
                f"rule AUC {ts.metrics.roc_auc(y, leads['score']):.3f}")
    ctx.say("model", f"LogisticScorer on {int((~test).sum()):,} prospects, {len(model.feature_names_)} features, "
                     f"{int(model.n_iter_[0])} Newton steps")
    ctx.say("held-out", f"{int(test.sum()):,} prospects: AUC {summary['auc']:.3f}, KS {summary['ks']:.3f}")
    ctx.say("lift", "deciles " + " ".join(f"{v:.1f}" for v in lift["lift"]) +
            f"; top decile captures {lift['cumulative_gain'].iloc[0]:.0%} of converters")
    for rank, (cid, row) in enumerate(reasons.iterrows(), 1):
        why = ", ".join(f"{row[f'reason_{t}']} ({row[f'contribution_{t}']:+.2f})" for t in (1, 2, 3)
                        if row[f"reason_{t}"] is not None)
        ctx.say("reasons" if rank == 1 else "", f"#{rank} prospect {cid}: {why}")
