"""Segment profiles — the table a marketer reads — and the demo's segments,
criteria and contact-plan step.

:func:`segment_profiles` describes each segment by its size and share, the
mean of each numeric column as an index against the whole population (100 =
average, 150 = half as much again), the categories it over-represents (index
of the category's share in the segment against its share overall), and, when
given, its conversion rate and mean value with their indices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import as_vector, check_float, check_int

__all__ = ["segment_profiles", "step_segments"]


def _numeric_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns
            if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]


def _categorical_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns
            if isinstance(df[c].dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(df[c])
            or pd.api.types.is_string_dtype(df[c]) or df[c].dtype == object]


def segment_profiles(data: pd.DataFrame, labels, *, numeric=None, categorical=None, conversion=None,
                     value=None, min_index: float = 120.0, min_share: float = 0.05, top: int = 3) -> pd.DataFrame:
    """One row per segment, largest first.

    Parameters
    ----------
    data : the contacts' attributes (one row per contact).
    labels : the segment of each row (e.g. ``KMeans.labels_``).
    numeric, categorical : columns to profile (default: numeric and
        categorical/boolean/string columns of ``data``). A numeric column
        whose overall mean is 0 has no index (NaN).
    conversion : optional 0/1 outcome per row (or a column name): the
        segment's conversion rate and its index.
    value : optional value per row (or a column name): the segment's mean
        value, its index, and its share of the total value.
    min_index, min_share, top : a category is over-represented in a segment
        when its index is at least ``min_index`` and it covers at least
        ``min_share`` of the segment; the ``top`` highest are listed.

    Columns: ``size``, ``share``, ``<col> index`` per numeric column,
    ``conversion`` and ``conversion index``, ``value``, ``value index`` and
    ``value share``, and ``over-represented`` ("column=category (index)").
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    n = len(data)
    if n == 0:
        raise ValueError("data is empty")
    lab = np.asarray(labels)
    if lab.ndim != 1 or len(lab) != n:
        raise ValueError(f"labels must be 1-D with {n} values, got shape {lab.shape}")
    if pd.isna(lab).any():
        raise ValueError("labels hold missing values")
    min_index = check_float(min_index, "min_index", min_value=0.0)
    min_share = check_float(min_share, "min_share", min_value=0.0, max_value=1.0)
    top = check_int(top, "top", min_value=0)
    numeric = _numeric_columns(data) if numeric is None else list(numeric)
    categorical = _categorical_columns(data) if categorical is None else list(categorical)
    missing = [c for c in numeric + categorical if c not in data.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in data")
    seg = pd.Series(lab, index=data.index, name="segment")
    size = seg.value_counts(sort=False)
    out = pd.DataFrame({"size": size, "share": size / n})
    if numeric:
        nums = data[numeric].apply(pd.to_numeric, errors="raise").astype(np.float64)
        bad = [c for c in numeric if np.isinf(nums[c]).any()]
        if bad:
            raise ValueError(f"columns {bad} hold infinite values")
        overall = nums.mean()
        means = nums.groupby(seg).mean()
        for c in numeric:
            out[f"{c} index"] = 100.0 * means[c] / overall[c] if overall[c] != 0 else np.nan
    for name, arg in (("conversion", conversion), ("value", value)):
        if arg is None:
            continue
        if isinstance(arg, str):
            if arg not in data.columns:
                raise KeyError(f"{name} column '{arg}' is not in data")
            arg = data[arg]
        v = pd.Series(as_vector(arg, name, n), index=data.index)
        if name == "conversion" and not np.isin(v.to_numpy(), (0.0, 1.0)).all():
            raise ValueError("conversion must hold only 0/1 (or booleans)")
        by = v.groupby(seg).mean()
        out[name] = by
        out[f"{name} index"] = 100.0 * by / v.mean() if v.mean() != 0 else np.nan
        if name == "value":
            tot = v.sum()
            out["value share"] = v.groupby(seg).sum() / tot if tot != 0 else np.nan
    out["over-represented"] = _over_represented(data, seg, categorical, min_index, min_share, top)
    out.index.name = "segment"
    return out.sort_values("size", ascending=False, kind="stable")


def _over_represented(data, seg, categorical, min_index, min_share, top) -> pd.Series:
    found = []
    for c in categorical:
        col = data[c].astype("string").fillna("(missing)")
        within = pd.crosstab(seg, col, normalize="index")  # share of each category in each segment
        overall = col.value_counts(normalize=True)
        index = 100.0 * within / overall[within.columns]
        long = pd.DataFrame({"segment": np.repeat(within.index.to_numpy(), within.shape[1]),
                             "label": np.tile([f"{c}={v}" for v in within.columns], within.shape[0]),
                             "share": within.to_numpy().ravel(), "index": index.to_numpy().ravel()})
        found.append(long[(long["index"] >= min_index) & (long["share"] >= min_share)])
    segments = seg.unique()
    if not found or top == 0:
        return pd.Series("", index=segments)
    long = pd.concat(found).sort_values(["segment", "index", "label"], ascending=[True, False, True])
    long = long.groupby("segment").head(top)
    text = long.assign(t=long["label"] + " (" + long["index"].round().astype(int).astype(str) + ")")
    joined = text.groupby("segment")["t"].agg(", ".join)
    return joined.reindex(segments).fillna("")


def step_segments(ctx) -> None:
    """Demo: k-means segments of the prospects with their profiles, the criteria
    of the best clients and the prospects' scorecard lift, the contact plan."""
    import twinscore as ts

    data = ctx.data
    p, c = data.prospects, data.clients
    enc = ctx.results.get("prospect_encoded")
    X = enc.X if enc is not None else ts.ContactTable.from_pandas(p[["income", "sex", "age_band"]]).encode().X
    with ctx.clock.step("k-means segments (K=6)"):
        km = ts.KMeans(n_clusters=6, random_state=ctx.seed).fit(X)
    prof = segment_profiles(p[["income", "sex", "age_band", "region", "channel"]], km.labels_,
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
    channels = [ts.Channel("email", 0.02, 1.0), ts.Channel("sms", 0.08, 1.2),
                ts.Channel("mail", 0.90, 1.8), ts.Channel("phone", 4.00, 3.0, capacity=max(1, len(p) // 200))]
    with ctx.clock.step("contact plan"):
        plan = ts.contact_plan(prob, value, channels, budget=0.25 * len(p),
                               allowed={"email": p["email_optin"].to_numpy()})
    ctx.results.update(kmeans=km, segment_profiles=prof, criteria=crit, scorecard=card, contact_plan=plan)
    s = plan.summary
    ctx.say("plan", f"budget {plan.budget:,.0f}: " + ", ".join(
        f"{ch} {int(r['contacts']):,} (ROI {r['roi']:.1f})" for ch, r in s.drop(index="total").iterrows()
        if r["contacts"] > 0))
    t = s.loc["total"]
    ctx.say("", f"{int(t['contacts']):,} contacts, cost {t['cost']:,.0f}, {t['conversions']:,.0f} expected "
                f"conversions, expected profit {t['profit']:,.0f}")
