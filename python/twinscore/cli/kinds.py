"""The kinds of batch job (see :mod:`twinscore.cli.jobs` for their keys).

Each runner takes a :class:`~twinscore.cli.jobs.Context` (its checked job,
its outputs' writers, progress, its loaded models), writes its output tables
and returns the rows it read. The chunked kinds read only the columns their
model needs and score chunk by chunk: every engine they call answers row by
row against a fitted model, so the output is the in-memory call's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .tables import Context, JobFileError, _chunks, _progress, _read_table, _row_count

__all__ = ["RUNNERS", "needed_columns", "check_models"]


# -- shared ----------------------------------------------------------------------------
def _id_column(df: pd.DataFrame, name: str, where: str) -> pd.Series:
    if name not in df.columns:
        raise KeyError(f"{where}: id column '{name}' is not in the input (columns: {list(df.columns)[:20]})")
    return df[name]


def _reraise_at(exc: Exception, first: int, n: int):
    """The same error, saying where in a long input the bad rows are."""
    message = exc.args[0] if exc.args else str(exc)
    try:
        located = type(exc)(f"[input] rows {first:,} to {first + n - 1:,}: {message}")
    except TypeError:  # an exception type that takes other arguments: as it is
        return exc
    return located


def _each_chunk(ctx: Context, desc: str, columns: list[str] | None,
                fn: Callable[[pd.DataFrame, int], pd.DataFrame | None]) -> int:
    """Calls ``fn(chunk, first row)`` on each chunk of [input] and writes what it returns; the rows read."""
    path, rows_in = ctx.job["input"]["path"], 0
    with _progress(_row_count(path), desc, ctx.show) as bar:
        for chunk in _chunks(path, "[input]", ctx.chunk_rows, columns):
            try:
                out = fn(chunk, rows_in)
                if out is not None:
                    ctx.writer.write(out)
            except (ValueError, TypeError, KeyError) as exc:
                raise _reraise_at(exc, rows_in, len(chunk)) from None
            rows_in += len(chunk)
            bar.update(len(chunk))
    return rows_in


def _as_dates(df: pd.DataFrame, column: str) -> None:
    """A CSV's date column (text) as datetimes, in place; left to the engine's check when absent."""
    if column in df.columns and not pd.api.types.is_datetime64_any_dtype(df[column]):
        df[column] = pd.to_datetime(df[column])


def _now(job: dict, section: str):
    return job.get(section, {}).get("now", job["job"].get("now"))


def _columns(*groups) -> list[str]:
    return list(dict.fromkeys(c for g in groups for c in g if c is not None))


# -- tree_score, lead_score, rfm -----------------------------------------------------------
def _score_columns(proba: np.ndarray) -> dict[str, np.ndarray]:
    """One score column, or one per class for multiclass models."""
    if proba.ndim == 1:
        return {"score": proba}
    return {f"score_{k}": proba[:, k] for k in range(proba.shape[1])}


def _tree_score(ctx: Context) -> int:
    model, scorer = ctx.job["model"], ctx.model()
    reasons, groups, id_name = model.get("reasons", 0), model.get("groups"), ctx.job["input"]["id"]

    def score(chunk: pd.DataFrame, first: int) -> pd.DataFrame:
        ids = _id_column(chunk, id_name, "[input]")
        X = chunk.drop(columns=[id_name])
        out = {id_name: ids.to_numpy(), **_score_columns(np.asarray(scorer.predict(X)))}
        if reasons:
            why = scorer.top_reasons(X, top=reasons, groups=groups)
            out.update({c: why[c].to_numpy() for c in why.columns})
        return pd.DataFrame(out)

    return _each_chunk(ctx, "tree_score", None, score)


def _lead_score(ctx: Context) -> int:
    from twinscore import score_leads

    job = ctx.job
    contacts = _read_table(job["input"]["path"], "[input]")
    _id_column(contacts, job["input"]["id"], "[input]")
    ev = job["events"]
    events = _read_table(ev["path"], "[events]")
    names = {k: ev[k] for k in ("timestamp", "type", "category") if k in ev}
    _as_dates(events, names.get("timestamp", "timestamp"))
    contact = ev.get("contact", job["input"]["id"])
    if contact != job["input"]["id"]:
        events = events.rename(columns={contact: job["input"]["id"]})
    rules = ctx.models.get(("rules", "path"), job["rules"]["path"])  # a saved LeadRules, or a TOML file
    out = score_leads(contacts, events, rules, now=pd.Timestamp(job["job"]["now"]),
                      contact=job["input"]["id"], **names)
    ctx.writer.write(out.reset_index())
    return len(contacts)


def _rfm(ctx: Context) -> int:
    from twinscore import rfm

    spec = dict(ctx.job["rfm"])
    tx = _read_table(ctx.job["input"]["path"], "[input]")
    _as_dates(tx, spec["date"])
    if "now" in spec:
        spec["now"] = pd.Timestamp(spec["now"])
    out = rfm(tx, **spec)
    ctx.writer.write(out.reset_index())
    return len(tx)


# -- events ----------------------------------------------------------------------------------
def _event_names(job: dict) -> dict[str, str]:
    inp = job["input"]
    return {role: inp.get(role, default) for role, default in
            (("contact", "contact_id"), ("timestamp", "timestamp"), ("type", "type"), ("category", "category"))}


def _events(ctx: Context) -> int:
    """The event log -> one row per contact (events.aggregate, or its model-ready features). A log
    longer than chunk_rows is split by contact range into parts aggregated one at a time (see
    :mod:`twinscore.cli.partition`): the same rows, in memory bounded by a part."""
    from . import partition

    spec, names = ctx.job.get("events", {}), _event_names(ctx.job)
    path, rows = ctx.job["input"]["path"], ctx.chunk_rows
    total = _row_count(path)
    if total is not None and total <= rows:
        return _aggregate_events(ctx, _read_table(path, "[input]", list(names.values())), spec.get("types"),
                                 spec.get("categories"))
    plan = partition.plan_log(path, "[input]", rows, names, spec.get("types"), spec.get("categories"))
    if plan.parts == 1:
        return _aggregate_events(ctx, _read_table(path, "[input]", list(names.values())), plan.types,
                                 plan.categories)
    with partition.partitioned(path, "[input]", rows, list(names.values()), names["contact"], plan,
                               ctx.job["output"]["path"]) as parts, _progress(plan.rows, "events", ctx.show) as bar:
        for log in parts:
            bar.update(_aggregate_events(ctx, log, plan.types, plan.categories))
    return plan.rows


def _aggregate_events(ctx: Context, log: pd.DataFrame, types, categories) -> int:
    """One log (or part of one: all the events of its contacts) aggregated and written; its rows."""
    from twinscore import events

    spec, names = ctx.job.get("events", {}), _event_names(ctx.job)
    _as_dates(log, names["timestamp"])
    agg = events.aggregate(log, now=_now(ctx.job, "events"), half_life_days=spec.get("half_life_days", 30.0),
                           types=types, categories=categories, **names)
    out = events.behaviour_features(agg) if spec.get("features", False) else agg
    ctx.writer.write(out.reset_index())
    return len(log)


# -- logistic_score, scorecard, segments -----------------------------------------------------------
def _frame_columns(model, where: str) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise JobFileError(f"{where}: the {type(model).__name__} was fitted on a matrix; a job reads columns by "
                           "name: fit it on a DataFrame")
    return [str(c) for c in names]


def _logistic_score(ctx: Context) -> int:
    model, id_name = ctx.model(), ctx.job["input"]["id"]
    cols, reasons = _frame_columns(model, "[model]"), ctx.job["model"].get("reasons", 0)

    def score(chunk: pd.DataFrame, first: int) -> pd.DataFrame:
        X = chunk[cols]
        out = {id_name: chunk[id_name].to_numpy(), "score": model.predict_proba(X)[:, 1]}
        if reasons:
            why = model.explain(X, top=reasons)
            out.update({c: why[c].to_numpy() for c in why.columns})
        return pd.DataFrame(out)

    return _each_chunk(ctx, "logistic_score", _columns([id_name], cols), score)


def _scorecard_columns(card) -> list[str]:
    return sorted({str(c) for c in card.criteria["column"]})


def _scorecard(ctx: Context) -> int:
    card, id_name = ctx.model(), ctx.job["input"]["id"]
    cols = _scorecard_columns(card)

    def score(chunk: pd.DataFrame, first: int) -> pd.DataFrame:
        return pd.DataFrame({id_name: chunk[id_name].to_numpy(), "score": card.apply(chunk[cols])})

    return _each_chunk(ctx, "scorecard", _columns([id_name], cols), score)


def _profile_columns(job: dict, model) -> list[str]:
    spec = job.get("profile", {})
    return _columns(spec.get("columns", _frame_columns(model, "[model]")), [spec.get("conversion"),
                                                                            spec.get("value")])


def _segments(ctx: Context) -> int:
    """k-means assignment chunk by chunk; the profile from per-segment counts and sums added chunk by chunk
    (:class:`twinscore.segments.ProfileSums`): memory bounded by a chunk, not by the table."""
    from twinscore.segments import ProfileSums

    model, id_name = ctx.model(), ctx.job["input"]["id"]
    cols = _frame_columns(model, "[model]")
    profile = ctx.job.get("profile")
    shown = _profile_columns(ctx.job, model) if profile else []
    sums: list[ProfileSums] = []

    def assign(chunk: pd.DataFrame, first: int) -> pd.DataFrame:
        labels = model.predict(chunk[cols])
        if profile:
            if not sums:  # numeric or categorical: as the first chunk reads each column
                sums.append(_profile_sums(profile, chunk, cols))
            sums[0].add(chunk, labels, conversion=profile.get("conversion"), value=profile.get("value"))
        return pd.DataFrame({id_name: chunk[id_name].to_numpy(), "segment": labels})

    rows = _each_chunk(ctx, "segments", _columns([id_name], cols, shown), assign)
    if profile and sums:
        ctx.writers["profile"].write(sums[0].profiles().reset_index())
    return rows


def _profile_sums(profile: dict, chunk: pd.DataFrame, cols: list[str]):
    from twinscore.segments import ProfileSums

    names = profile.get("columns")
    profiled = names if names is not None else cols
    numeric = [c for c in profiled if pd.api.types.is_numeric_dtype(chunk[c])
               and not pd.api.types.is_bool_dtype(chunk[c])]
    return ProfileSums(numeric=numeric, categorical=[c for c in profiled if c not in numeric],
                       conversion="conversion" in profile, value="value" in profile)


# -- clv --------------------------------------------------------------------------------------
# The purchase models a clv job fits (or loads), by their [clv] model name.
CLV_MODELS = {"bgnbd": "BetaGeo", "pareto_nbd": "ParetoNBD", "bgbb": "BetaGeoBetaBinom"}


def _clv(ctx: Context) -> int:
    """Transactions -> calibration summary -> a purchase model (BG/NBD, Pareto/NBD: with Gamma-Gamma and the
    lifetime value; BG/BB: over discrete opportunities) loaded, or fitted here -> one row per client."""
    spec = ctx.job["clv"]
    customer, date, amount = spec["customer"], spec["date"], spec.get("amount")
    tx = _read_table(ctx.job["input"]["path"], "[input]", _columns([customer, date, amount]))
    _as_dates(tx, date)
    now = _now(ctx.job, "clv")
    end = now if now is not None else tx[date].max()
    kind = spec.get("model", "bgnbd")
    out = _clv_discrete(ctx, spec, tx, end) if kind == "bgbb" else _clv_continuous(ctx, spec, tx, end, kind)
    out.index.name = customer
    ctx.writer.write(out.reset_index())
    return len(tx)


def _clv_continuous(ctx: Context, spec: dict, tx: pd.DataFrame, end, kind: str) -> pd.DataFrame:
    import twinscore as ts

    period = spec.get("period_days", 7.0)
    summary = ts.calibration_summary(tx, customer=spec["customer"], date=spec["date"], amount=spec["amount"],
                                     period_days=period, calibration_end=end)
    if ("model", "purchases") in ctx.models:
        purchases, spend = ctx.model(("model", "purchases")), ctx.model(("model", "spend"))
    else:
        penalizer = spec.get("penalizer", 0.0)
        purchases = getattr(ts, CLV_MODELS[kind])(penalizer=penalizer).fit(summary)
        spend = ts.GammaGamma(penalizer=penalizer).fit(summary)
    out = summary.copy()
    out["expected_purchases"] = purchases.predict(summary, spec.get("horizon", 52.0)).to_numpy()
    out["p_alive"] = purchases.probability_alive(summary).to_numpy()
    out["expected_spend"] = spend.expected_spend(summary).to_numpy()
    out["clv"] = ts.lifetime_value(purchases, spend, summary, months=spec.get("months", 12),
                                   monthly_discount=spec.get("monthly_discount", 0.01),
                                   margin=spec.get("margin", 1.0), period_days=period).to_numpy()
    return out


def _clv_discrete(ctx: Context, spec: dict, tx: pd.DataFrame, end) -> pd.DataFrame:
    """BG/BB: one opportunity per period of `freq`; expected purchases over `horizon` opportunities,
    P(alive), and the discounted expected residual transactions (DERT, `discount` per opportunity)."""
    import twinscore as ts

    summary = ts.discrete_summary(tx, customer=spec["customer"], date=spec["date"], freq=spec.get("freq", "W"),
                                  calibration_end=end)
    if ("model", "purchases") in ctx.models:
        model = ctx.model(("model", "purchases"))
    else:
        model = ts.BetaGeoBetaBinom(penalizer=spec.get("penalizer", 0.0)).fit(summary)
    out = summary.copy()
    out["expected_purchases"] = model.predict(summary, int(spec.get("horizon", 52))).to_numpy()
    out["p_alive"] = model.probability_alive(summary).to_numpy()
    out["dert"] = model.expected_residual_transactions(summary, discount=spec.get("discount", 0.01)).to_numpy()
    return out


# -- twins ------------------------------------------------------------------------------------
def _twin_columns(index, job: dict) -> list[str]:
    spec = job.get("twins", {})
    return _columns([job["input"]["id"]], index.schema_.names, [spec.get("exclude")])


def _twins(ctx: Context) -> int:
    index, id_name = ctx.model(), ctx.job["input"]["id"]
    spec = ctx.job.get("twins", {})
    result, k = spec.get("result", "twins"), spec.get("k", 10)
    if result == "expand":
        return _expand(ctx, index, id_name, spec)

    def search(chunk: pd.DataFrame, first: int) -> pd.DataFrame:
        res = index.search(chunk, k, id=id_name, progress=False)
        out = res.to_pandas() if result == "twins" else res.scores()
        return out.rename(columns={"prospect_id": id_name})

    return _each_chunk(ctx, "twins", _twin_columns(index, ctx.job), search)


def _count_rows(path: Path, column: str) -> int:
    """Rows of a table (a CSV is read once, one column at a time)."""
    n = _row_count(path)
    if n is None:
        n = sum(len(c) for c in _chunks(path, "[input]", 1_000_000, [column]))
    return n


def _expand(ctx: Context, index, id_name: str, spec: dict) -> int:
    """The audience of TwinIndex.expand, kept as a running top-n over the chunks.

    Each chunk's prospects are searched, the excluded ones dropped, and the
    best ``size`` so far kept, ordered as expand orders them (key
    descending, ties by position in the input): the same rows in the same
    order, in memory bounded by a chunk and the audience."""
    k = min(spec.get("k", 10), index.n_clients_)
    key_name = index._by(spec.get("by", "auto"))
    path, exclude = ctx.job["input"]["path"], spec.get("exclude")
    size = spec["n"] if "n" in spec else int(round(spec["fraction"] * _count_rows(path, id_name)))
    best: list[pd.DataFrame] = []

    def keep_best(chunk: pd.DataFrame, first: int) -> None:
        res = index.search(chunk, k, id=id_name, progress=False)
        part = {"__position__": np.arange(first, first + len(chunk)), id_name: res.prospect_ids}
        for name in ("score", "value_score", "reference_score", "value_reference_score"):
            if getattr(res, name) is not None:
                part[name] = getattr(res, name)
        part["twins"] = res.counts
        frame = pd.DataFrame(part)
        if exclude is not None:
            mask = chunk[exclude].to_numpy()
            if mask.dtype != bool:
                raise TypeError(f"[twins] exclude column '{exclude}' must hold booleans, got {mask.dtype}")
            frame = frame[~mask]
        both = pd.concat(best + [frame], ignore_index=True)
        order = np.lexsort((both["__position__"].to_numpy(), -both[key_name].to_numpy()))[:size]
        best[:] = [both.iloc[order].reset_index(drop=True)]

    rows = _each_chunk(ctx, "twins", _twin_columns(index, ctx.job), keep_best)
    audience = best[0].drop(columns="__position__") if best else pd.DataFrame()
    audience["rank"] = np.arange(1, len(audience) + 1)
    ctx.writer.write(audience)
    return rows


# -- contact_plan -----------------------------------------------------------------------------
def _plan_columns(job: dict) -> list[str]:
    spec = job["plan"]
    p, value = spec["p"], spec["value"]
    values = value.values() if isinstance(value, dict) else [value]
    return _columns([job["input"]["id"]], p.values() if isinstance(p, dict) else [p],
                    [v for v in values if isinstance(v, str)], spec.get("allowed", {}).values())


def _history_columns(job: dict) -> tuple[str, str, str]:
    """(contact, channel, date) of the history table; the contact column defaults to [input] id."""
    spec = job["history"]
    return spec.get("contact", job["input"]["id"]), spec.get("channel", "channel"), spec.get("date", "date")


def _per_channel(df: pd.DataFrame, spec, names: list[str]):
    """A column or a number (one per contact), or an (n, channels) matrix of them, in channel order."""
    def column(v):
        return df[v].to_numpy() if isinstance(v, str) else np.full(len(df), float(v))

    if isinstance(spec, dict):
        return np.column_stack([column(spec[ch]) for ch in names])
    return column(spec)


def _contact_plan(ctx: Context) -> int:
    """The contacts' channels under one budget (the whole table), their pressure rules read from
    [history], a control group held out; held_back and the control's size go to the report."""
    from twinscore import PressureRule, contact_plan
    from twinscore.plan import _channels

    job = ctx.job
    spec, id_name = job["plan"], job["input"]["id"]
    channels = _channels(job["channel"])
    names = [c.name for c in channels]
    df = _read_table(job["input"]["path"], "[input]", _plan_columns(job))
    allowed = {ch: df[col].to_numpy() for ch, col in spec.get("allowed", {}).items()} or None
    rules = {}
    if "history" in job:
        columns = _history_columns(job)
        history = _read_table(job["history"]["path"], "[history]", list(columns))
        _as_dates(history, columns[2])
        rules = {"history": history, "history_columns": columns, "now": _now(job, "plan"),
                 "min_gap": spec.get("min_gap"),
                 "pressure": [PressureRule(r["max_messages"], r["window"], r.get("channel"))
                              for r in job.get("pressure", [])]}
    plan = contact_plan(_per_channel(df, spec["p"], names), _per_channel(df, spec["value"], names), channels,
                        budget=spec.get("budget"), allowed=allowed, index=pd.Index(df[id_name], name=id_name),
                        control=spec.get("control", 0.0), seed=spec.get("seed", 0), **rules)
    ctx.writer.write(plan.contacts.reset_index())
    if "summary" in ctx.writers:
        ctx.writers["summary"].write(plan.summary.reset_index())
    ctx.notes["control"] = int(plan.summary.loc["total", "control"])
    if rules:
        ctx.notes["held_back"] = dict(plan.held_back)
    return len(df)


RUNNERS: dict[str, Callable[[Context], int]] = {
    "tree_score": _tree_score, "lead_score": _lead_score, "rfm": _rfm, "events": _events,
    "logistic_score": _logistic_score, "scorecard": _scorecard, "segments": _segments, "clv": _clv,
    "twins": _twins, "contact_plan": _contact_plan}


# -- checks before running ----------------------------------------------------------------------
def check_models(kind: str, job: dict, models: dict, where: str) -> None:
    """What a loaded model must be for its job (beyond its class): refused as a job-file error."""
    model = models.get(("model", "path"))
    if kind in ("logistic_score", "segments"):
        _frame_columns(model, f"{where}: [model]")
    purchases = models.get(("model", "purchases"))
    if kind == "clv" and purchases is not None:
        wanted = CLV_MODELS[job["clv"].get("model", "bgnbd")]
        if type(purchases).__name__ != wanted:
            raise JobFileError(f"{where}: [model] purchases holds a {type(purchases).__name__}; [clv] model = "
                               f"{job['clv'].get('model', 'bgnbd')!r} needs a {wanted}")
    if kind == "twins":
        if getattr(model, "schema_", None) is None:
            raise JobFileError(f"{where}: the TwinIndex was fitted on a matrix; a job reads columns by name: fit it "
                               "on a table")
        spec = job.get("twins", {})
        k = spec.get("k", 10)
        if spec.get("result", "twins") != "expand" and k > model.n_clients_:
            raise JobFileError(f"{where}: [twins] k = {k} is larger than the index's {model.n_clients_:,} clients")
        if spec.get("result") == "expand":
            by = spec.get("by", "auto")
            if by == "auto" and getattr(model, "reference_index_", None) is None:
                raise JobFileError(f"{where}: the index has no reference, so by = \"auto\" would take the whole "
                                   "prospect table as its reference, which a chunked job cannot: fit the index with "
                                   "reference= (or population=), or set [twins] by = \"score\" or \"value\"")
            try:
                model._by(by)
            except ValueError as exc:
                raise JobFileError(f"{where}: [twins] {exc}") from None


def needed_columns(job: dict, models: dict) -> dict[str, list[str] | None]:
    """The columns each input table of a job must hold (None: any, read whole), from its keys and models."""
    kind, inp = job["job"]["kind"], job["input"]
    model = models.get(("model", "path"))
    if kind == "tree_score":
        return {"input": [inp["id"]]}
    if kind == "lead_score":
        ev = job["events"]
        return {"input": [inp["id"]], "events": _columns([ev.get("contact", inp["id"])],
                                                         [ev.get(k, k) for k in ("timestamp", "type")],
                                                         [ev.get("category")])}
    if kind == "rfm":
        spec = job["rfm"]
        return {"input": _columns([spec["customer"], spec["date"], spec.get("amount"), spec.get("invoice")])}
    if kind == "events":
        return {"input": list(_event_names(job).values())}
    if kind == "logistic_score":
        return {"input": _columns([inp["id"]], _frame_columns(model, "[model]"))}
    if kind == "scorecard":
        return {"input": _columns([inp["id"]], _scorecard_columns(model))}
    if kind == "segments":
        shown = _profile_columns(job, model) if "profile" in job else []
        return {"input": _columns([inp["id"]], _frame_columns(model, "[model]"), shown)}
    if kind == "clv":
        spec = job["clv"]
        return {"input": _columns([spec["customer"], spec["date"], spec.get("amount")])}
    if kind == "twins":
        return {"input": _twin_columns(model, job)}
    if "history" in job:
        return {"input": _plan_columns(job), "history": list(_history_columns(job))}
    return {"input": _plan_columns(job)}

