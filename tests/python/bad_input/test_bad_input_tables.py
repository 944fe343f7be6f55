"""Bad input, tables: every public entry point that reads a frame × every class
of bad table (see badinput_support for the promise and how it is checked).

Each entry point names the frame it reads and the roles of its columns (id,
date, number, category); each corruption changes that frame in one way and
says what must follow: the same result as the plain frame (another
representation of the same data), or an error naming the column. Entry points
where a corruption means something else say so in ``override``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import twinscore as ts
from badinput_support import (ERRORS, NOW, assert_same, no_silent_nan, pickled, raises, to_arrow,
                              to_arrow_backed, to_arrow_dictionary, to_nullable, to_polars)

SAME = "same"       # another representation of the same data: the same result
SAME_ANY_ORDER = "same_any_order"   # the same, but a dictionary's order may order the columns
LIKE_NAN = "like_nan"   # a nullable/Arrow null: what NaN/NaT/None in a plain column gives
VALID = "valid"     # a result without silent NaN (checked against the reference) or a named error

# ---------------------------------------------------------------- the clean data

_RNG = np.random.default_rng(2024)
_N = 40


def _contacts() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "contact_id": np.arange(1, _N + 1, dtype=np.int64),
        "age_band": rng.choice(["18-34", "35-54", "55+"], _N),
        "region": rng.choice(["north", "south", "east"], _N),
        "income": np.round(rng.gamma(4.0, 9000.0, _N), 0),
        "visits": rng.integers(0, 30, _N).astype(np.int64),
        "signup": NOW - pd.to_timedelta(rng.integers(1, 900, _N), "D"),
        "converted": np.tile([0, 1], _N // 2).astype(np.int64),
    })


def _events() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    n = 300
    return pd.DataFrame({
        "contact_id": rng.integers(1, _N + 1, n).astype(np.int64),
        "timestamp": NOW - pd.to_timedelta(rng.integers(60, 200 * 86400, n), "s"),
        "type": rng.choice(["page_view", "email_open", "email_click", "form_fill", "email_send"], n),
        "category": rng.choice(["books", "music", "games"], n),
    })


def _transactions() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 200
    return pd.DataFrame({
        "client_id": rng.integers(100, 130, n).astype(np.int64),
        "date": NOW - pd.to_timedelta(rng.integers(86400, 700 * 86400, n), "s"),
        "amount": np.round(rng.gamma(2.0, 40.0, n), 2),
    })


# documented: a campaign without a control group (or whose control converted none) has NaN lift columns
_NO_CONTROL = ("control_rate", "lift", "lift_low", "lift_high", "relative_lift", "incremental_conversions",
               "incremental_revenue", "revenue_per_control", "roi")


def _history() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return pd.DataFrame({"contact_id": rng.integers(1, _N + 1, 60).astype(np.int64), "channel": "email",
                         "date": NOW - pd.to_timedelta(rng.integers(3600, 20 * 86400, 60), "s")})


def _targets() -> pd.DataFrame:
    ids = np.arange(100, 130, dtype=np.int64)
    return pd.DataFrame({"contact_id": ids, "campaign": "spring", "group": np.where(ids % 3, "treated", "control"),
                         "sent_at": NOW - pd.Timedelta(days=400)})


def _summary() -> pd.DataFrame:
    d = _prm()
    return ts.calibration_summary(d.transactions, customer="client_id", date="date", amount="amount",
                                  calibration_end=d.now - pd.Timedelta(days=100), observation_end=d.now)


_PRM = []


def _prm():
    if not _PRM:
        _PRM.append(ts.datasets.make_prm(2_000, 400, seed=5))
    return _PRM[0]


RULES = {
    "half_life_days": 30,
    "fit": [{"name": "young", "column": "age_band", "in": ["18-34"], "points": 10},
            {"name": "rich", "column": "income", "min": 40000, "points": 5}],
    "behaviour": [{"name": "clicks", "event": "email_click", "points": 5, "cap": 20}],
    "grades": {"A": 10, "B": 5}, "mql_threshold": 10,
}


# ---------------------------------------------------------------- entry points

@dataclass
class Entry:
    name: str
    make: Callable[[], dict]              # the clean inputs, by argument name
    call: Callable[..., Any]              # inputs -> result
    target: str                           # the input the corruptions change
    cols: dict                            # role -> column of the target ("id", "date", "num", "cat")
    allowed_nan: tuple = ()               # output columns documented to hold NaN
    reference: Callable[..., None] | None = None   # checks a result against numpy/pandas
    override: dict = field(default_factory=dict)   # corruption -> outcome for this entry point
    infers: bool = False                  # roles inferred from dtypes: text is a category, a column may go
    names: tuple = ()                     # further words an error of this entry point may name


def _rfm_reference(result, transactions, **_):
    t = transactions
    if not isinstance(t, pd.DataFrame) or len(t) == 0 or t["client_id"].dtype.kind not in "iu":
        return
    g = t.groupby("client_id")
    want_f = g.size()
    want_m = g["amount"].sum()
    want_r = (NOW - g["date"].max()) / pd.Timedelta(days=1)
    np.testing.assert_array_equal(result.loc[want_f.index, "frequency"].to_numpy(), want_f.to_numpy())
    np.testing.assert_allclose(result.loc[want_m.index, "monetary"].to_numpy(), want_m.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(result.loc[want_r.index, "recency_days"].to_numpy(), want_r.to_numpy(), rtol=1e-12)


def _aggregate_reference(result, events, contacts, **_):
    if not isinstance(events, pd.DataFrame) or len(events) == 0:
        return
    counts = events.groupby("contact_id").size()
    got = result["n_events"].reindex(counts.index)
    np.testing.assert_array_equal(got.to_numpy(), counts.to_numpy())
    last = events.groupby("contact_id")["timestamp"].max()
    days = ((NOW - last) / pd.Timedelta(days=1)).to_numpy()
    np.testing.assert_allclose(result["recency_days"].reindex(last.index).to_numpy(), days, rtol=1e-9)


def _contact_table(df):
    """The constructor a user picks for each kind of frame."""
    if isinstance(df, pa.Table):
        return ts.ContactTable.from_arrow(df, id="contact_id")
    if type(df).__module__.startswith("polars"):
        return ts.ContactTable.from_polars(df, id="contact_id")
    return ts.ContactTable.from_pandas(df, id="contact_id")


ENTRIES = [
    Entry("ContactTable.from_*", lambda: {"df": _contacts()},
          lambda df: _contact_table(df).encode().X,
          "df", {"id": "contact_id", "num": "income", "cat": "region", "date": "signup"}, infers=True),
    Entry("Schema.learn+apply", lambda: {"df": _contacts()},
          lambda df: ts.Schema.learn(_contacts(), id="contact_id").apply(df, id="contact_id").encode().X,
          "df", {"id": "contact_id", "num": "income", "cat": "region", "date": "signup"}),
    Entry("events.aggregate", lambda: {"events": _events(), "contacts": _contacts()},
          lambda events, contacts: ts.events.aggregate(events, contacts, now=NOW),
          "events", {"id": "contact_id", "date": "timestamp", "cat": "type"},
          allowed_nan=("recency_days", "first_seen_days", "last_seen_days"),
          reference=_aggregate_reference),
    Entry("events.aggregate[contacts]", lambda: {"events": _events(), "contacts": _contacts()},
          lambda events, contacts: ts.events.aggregate(events, contacts, now=NOW),
          "contacts", {"id": "contact_id"},
          allowed_nan=("recency_days", "first_seen_days", "last_seen_days")),
    Entry("events.snapshots", lambda: {"events": _events(), "contacts": _contacts()},
          lambda events, contacts: ts.events.snapshots(events, contacts, cutoffs=[NOW - pd.Timedelta(days=60)],
                                                       horizon="30D", target="form_fill"),
          "events", {"id": "contact_id", "date": "timestamp", "cat": "type"},
          allowed_nan=("recency_days", "first_seen_days", "last_seen_days"), names=("target",)),
    Entry("events.machine_activity", lambda: {"events": _events()},
          lambda events: ts.events.machine_activity(events),
          "events", {"id": "contact_id", "date": "timestamp", "cat": "type"}),
    Entry("score_leads", lambda: {"contacts": _contacts(), "events": _events()},
          lambda contacts, events: ts.score_leads(contacts, events, RULES, now=NOW),
          "contacts", {"id": "contact_id", "num": "income", "cat": "age_band"}, names=("rule",)),
    Entry("score_leads[events]", lambda: {"contacts": _contacts(), "events": _events()},
          lambda contacts, events: ts.score_leads(contacts, events, RULES, now=NOW),
          "events", {"id": "contact_id", "date": "timestamp", "cat": "type"}),
    Entry("rfm", lambda: {"transactions": _transactions()},
          lambda transactions: ts.rfm(transactions, customer="client_id", date="date", amount="amount", now=NOW),
          "transactions", {"id": "client_id", "date": "date", "num": "amount"},
          reference=_rfm_reference),
    Entry("calibration_summary", lambda: {"transactions": _transactions()},
          lambda transactions: ts.calibration_summary(transactions, customer="client_id", date="date",
                                                      amount="amount", calibration_end=NOW - pd.Timedelta(days=100),
                                                      observation_end=NOW),
          "transactions", {"id": "client_id", "date": "date", "num": "amount"}),
    Entry("BetaGeo.fit+predict", lambda: {"summary": _summary()},
          lambda summary: ts.BetaGeo().fit(summary).predict(summary, t=10),
          "summary", {"num": "frequency"}, names=("summary", "converge")),
    Entry("GammaGamma.fit+expected_spend", lambda: {"summary": _summary()},
          lambda summary: ts.GammaGamma().fit(summary).expected_spend(summary),
          "summary", {"num": "monetary_value"}, names=("summary", "converge", "repeat")),
    Entry("kpi.client_value", lambda: {"transactions": _transactions()},
          lambda transactions: ts.kpi.client_value(transactions, customer="client_id", date="date", amount="amount",
                                                   freq="Q"),
          "transactions", {"id": "client_id", "date": "date", "num": "amount"},
          allowed_nan=("retention_rate",)),  # documented: NaN for the first period
    Entry("kpi.email", lambda: {"events": _events()},
          lambda events: ts.kpi.email(events, contact="contact_id", timestamp="timestamp", type="type", freq="M"),
          "events", {"id": "contact_id", "date": "timestamp", "cat": "type"}, names=("type",),
          allowed_nan=("open_rate", "click_rate", "reactivity", "unsubscribe_rate", "deliverability",
                       "click_to_open")),
    Entry("kpi.fill_rates", lambda: {"table": _contacts()},
          lambda table: ts.kpi.fill_rates(table), "table", {"num": "income", "cat": "region"}, infers=True,
          override={"num-inf": VALID, "num-minus-inf": VALID}),  # filled is filled
    Entry("kpi.funnel", lambda: {"contacts": _contacts().assign(client=lambda d: d["signup"] + pd.Timedelta(days=9))},
          lambda contacts: ts.kpi.funnel(contacts, stages={"lead": "signup", "client": "client"},
                                         start=NOW - pd.Timedelta(days=1000), end=NOW),
          "contacts", {"date": "signup"},
          allowed_nan=("rate_from_previous", "rate_from_first")),  # documented: 0/0 where no contact
    Entry("kpi.activation_rate", lambda: {"prospects": _contacts(), "events": _events()},
          lambda prospects, events: ts.kpi.activation_rate(prospects, events, contact="contact_id",
                                                           timestamp="timestamp", type="type",
                                                           start=NOW - pd.Timedelta(days=300), end=NOW),
          "events", {"id": "contact_id", "date": "timestamp", "cat": "type"}),
    Entry("triggers.inactivity", lambda: {"transactions": _transactions()},
          lambda transactions: ts.triggers.inactivity(transactions, customer="client_id", date="date", days=30,
                                                      since=NOW - pd.Timedelta(days=200), until=NOW),
          "transactions", {"id": "client_id", "date": "date"}),
    Entry("triggers.form_filled", lambda: {"events": _events()},
          lambda events: ts.triggers.form_filled(events, contact="contact_id", timestamp="timestamp", type="type",
                                                 since=NOW - pd.Timedelta(days=200), until=NOW),
          "events", {"id": "contact_id", "date": "timestamp", "cat": "type"}),
    Entry("discriminating_criteria", lambda: {"data": _contacts()},
          lambda data: ts.discriminating_criteria(data, "converted", ["age_band", "region", "income", "visits"]).summary,
          "data", {"num": "income", "cat": "region"}, infers=True),
    Entry("Scorecard.apply", lambda: {"data": _contacts()},
          lambda data: ts.discriminating_criteria(_contacts(), "converted", ["age_band", "region", "income"])
          .scorecard(top=3, min_iv=0.0).apply(data),
          "data", {"num": "income", "cat": "region"}),
    Entry("drift.stability", lambda: {"actual": _contacts()},
          lambda actual: ts.drift.stability(_contacts(), actual, columns=["income", "region", "visits"]),
          "actual", {"num": "income", "cat": "region"}),
    Entry("segment_profiles", lambda: {"data": _contacts()[["age_band", "region", "income", "visits"]]},
          lambda data: ts.segment_profiles(data, np.arange(len(data)) % 3 if len(data) else np.zeros(0, int)),
          "data", {"num": "income", "cat": "region"}, infers=True),
    Entry("LogisticScorer.fit+predict_proba", lambda: {"X": _contacts()[["age_band", "region", "income", "visits"]]},
          lambda X: ts.LogisticScorer().fit(X, np.arange(len(X)) % 2).predict_proba(X),
          "X", {"num": "income", "cat": "region"}, infers=True, names=("y",)),
    Entry("LogisticScorer.predict_proba", lambda: {"X": _contacts()[["age_band", "region", "income", "visits"]]},
          lambda X: ts.LogisticScorer().fit(_contacts()[["age_band", "region", "income", "visits"]],
                                           np.arange(_N) % 2).predict_proba(X),
          "X", {"num": "income", "cat": "region"}),
    Entry("TwinIndex.fit+search", lambda: {"clients": _contacts().iloc[:15], "prospects": _contacts().iloc[15:]},
          lambda clients, prospects: ts.TwinIndex(columns=["age_band", "region", "income", "visits"])
          .fit(clients, id="contact_id").search(prospects, k=3, id="contact_id").to_pandas(),
          "prospects", {"id": "contact_id", "num": "income", "cat": "region"}),
    Entry("TwinIndex.fit[clients]", lambda: {"clients": _contacts().iloc[:15], "prospects": _contacts().iloc[15:]},
          lambda clients, prospects: ts.TwinIndex(columns=["age_band", "region", "income", "visits"])
          .fit(clients, id="contact_id").search(prospects, k=3, id="contact_id").to_pandas(),
          "clients", {"id": "contact_id", "num": "income", "cat": "region"}),
    Entry("TwinIndex.expand", lambda: {"prospects": _contacts().iloc[15:]},
          lambda prospects: ts.TwinIndex(columns=["age_band", "region", "income", "visits"])
          .fit(_contacts().iloc[:15], id="contact_id").expand(prospects, n=5, k=3, id="contact_id"),
          "prospects", {"id": "contact_id", "num": "income", "cat": "region"}),
    Entry("TwinIndex.lookalike_score", lambda: {"prospects": _contacts().iloc[15:]},
          lambda prospects: ts.TwinIndex(columns=["age_band", "region", "income", "visits"])
          .fit(_contacts().iloc[:15], id="contact_id", population=_contacts())
          .lookalike_score(prospects, k=3, id="contact_id"),
          "prospects", {"id": "contact_id", "num": "income", "cat": "region"}),
    Entry("contact_plan[history]", lambda: {"history": _history()},
          lambda history: ts.contact_plan(np.full(_N, 0.1), np.full(_N, 80.0), [ts.Channel("email", 0.1)],
                                          index=np.arange(1, _N + 1), history=history, now=NOW,
                                          pressure=[ts.PressureRule(2, "7D")]).contacts,
          "history", {"id": "contact_id", "date": "date", "cat": "channel"}),
    Entry("kpi.campaign_results[targets]", lambda: {"targets": _targets(), "transactions": _transactions()},
          lambda targets, transactions: ts.kpi.campaign_results(targets, transactions, customer="client_id",
                                                                window="400D"),
          "targets", {"id": "contact_id", "date": "sent_at", "cat": "group"},
          allowed_nan=_NO_CONTROL),
    Entry("kpi.campaign_results[transactions]", lambda: {"targets": _targets(), "transactions": _transactions()},
          lambda targets, transactions: ts.kpi.campaign_results(targets, transactions, customer="client_id",
                                                                window="400D"),
          "transactions", {"id": "client_id", "date": "date", "num": "amount"},
          allowed_nan=_NO_CONTROL),
    Entry("TwinIndex.reasons", lambda: {"prospects": _contacts().iloc[15:]},
          lambda prospects: ts.TwinIndex(columns=["age_band", "region", "income", "visits"])
          .fit(_contacts().iloc[:15], id="contact_id", population=_contacts())
          .reasons(prospects, top=2, k=3, id="contact_id"),
          "prospects", {"id": "contact_id", "num": "income", "cat": "region"},
          allowed_nan=("contribution_1", "contribution_2")),  # documented: no reason where none stands out
]


# ---------------------------------------------------------------- corruptions

def _drop(df, col):
    return df.drop(columns=[col])


def _set(df, col, values, dtype=None):
    out = df.copy()
    out[col] = pd.Series(values, index=out.index, dtype=dtype) if dtype else values
    return out


def _first_null(df, col, kind):
    out = df.copy()
    s = out[col]
    if kind == "nullable":
        s = s.astype("Float64" if s.dtype.kind == "f" else "Int64" if s.dtype.kind in "iu" else s.dtype)
        s.iloc[0] = pd.NA
    elif kind == "arrow":
        arr = pa.array(s.to_numpy(), mask=np.arange(len(s)) == 0)
        s = pd.Series(pd.array(arr, dtype=pd.ArrowDtype(arr.type)), index=s.index)
    else:
        s = s.astype(np.float64) if s.dtype.kind in "iu" else s.copy()
        s.iloc[0] = np.nan if s.dtype.kind == "f" else (pd.NaT if s.dtype.kind == "M" else None)
    out[col] = s
    return out


def _date_at(df, col, when: str):
    out = df.copy()
    s = out[col].astype("datetime64[us]")
    s.iloc[1] = pd.Timestamp(when) if when[:4] not in ("1500", "9999") else np.datetime64(when, "us")
    out[col] = s
    return out



@dataclass
class Corruption:
    name: str
    role: str | None                      # the column role it needs (None: the whole frame)
    apply: Callable                       # (frame, column) -> frame
    outcome: Any                          # SAME, LIKE_NAN, VALID, or a Raises with "{col}" in its pattern


CORRUPTIONS = [
    # the same data, another representation
    Corruption("polars", None, lambda df, c: to_polars(df), SAME),
    Corruption("arrow", None, lambda df, c: to_arrow(df), SAME),
    Corruption("arrow-dictionary", None, lambda df, c: to_arrow_dictionary(df), SAME_ANY_ORDER),
    Corruption("nullable-dtypes", None, lambda df, c: to_nullable(df), SAME),
    Corruption("arrow-backed", None, lambda df, c: to_arrow_backed(df), SAME),
    Corruption("pickled", None, lambda df, c: pickled(df), SAME),
    # nulls of every kind mean what NaN/NaT/None mean
    Corruption("num-null-nullable", "num", lambda df, c: _first_null(df, c, "nullable"), LIKE_NAN),
    Corruption("num-null-arrow", "num", lambda df, c: _first_null(df, c, "arrow"), LIKE_NAN),
    Corruption("date-null-arrow", "date", lambda df, c: _first_null(df, c, "arrow"), LIKE_NAN),
    Corruption("id-null-nullable", "id", lambda df, c: _first_null(df, c, "nullable"), raises("{col}")),
    Corruption("id-null-arrow", "id", lambda df, c: _first_null(df, c, "arrow"), raises("{col}")),
    # sizes
    Corruption("empty", None, lambda df, c: df.iloc[:0], VALID),
    Corruption("one-row", None, lambda df, c: df.iloc[:1], VALID),
    # values
    Corruption("num-nan", "num", lambda df, c: _first_null(df, c, "plain"), VALID),
    Corruption("num-inf", "num", lambda df, c: _set(df, c, np.where(np.arange(len(df)) == 2, np.inf,
                                                                     df[c].astype(float))),
               raises("{col}")),
    Corruption("num-minus-inf", "num", lambda df, c: _set(df, c, np.where(np.arange(len(df)) == 2, -np.inf,
                                                                           df[c].astype(float))),
               raises("{col}")),
    Corruption("num-1e300", "num", lambda df, c: _set(df, c, np.where(np.arange(len(df)) == 2, 1e300,
                                                                       df[c].astype(float))), VALID),
    Corruption("num--1e300", "num", lambda df, c: _set(df, c, np.where(np.arange(len(df)) == 2, -1e300,
                                                                        df[c].astype(float))), VALID),
    Corruption("num-float32-max", "num", lambda df, c: _set(df, c, np.where(np.arange(len(df)) == 2,
                                                                             float(np.finfo(np.float32).max),
                                                                             df[c].astype(float))), VALID),
    Corruption("num-strings", "num", lambda df, c: _set(df, c, df[c].astype(str)), raises("{col}")),
    Corruption("num-mixed-object", "num", lambda df, c: _set(df, c, pd.Series(
        ["x" if i == 3 else v for i, v in enumerate(df[c].tolist())], dtype=object, index=df.index)),
        raises("{col}")),
    Corruption("num-bytes", "num", lambda df, c: _set(df, c, pd.Series(
        [str(v).encode() for v in df[c].tolist()], dtype=object, index=df.index)), raises("{col}")),
    Corruption("date-1500", "date", lambda df, c: _date_at(df, c, "1500-01-01"), raises("{col}")),
    Corruption("date-9999-12-31", "date", lambda df, c: _date_at(df, c, "9999-12-31"), raises("{col}")),
    Corruption("date-garbage-text", "date", lambda df, c: _set(df, c, pd.Series(
        ["not a date"] + df[c].astype(str).tolist()[1:], index=df.index, dtype=object)), raises("{col}")),
    Corruption("date-numbers", "date", lambda df, c: _set(df, c, df[c].astype("int64") // 10**9),
               raises("{col}")),
    Corruption("id-duplicated", "id", lambda df, c: _set(df, c, np.r_[df[c].to_numpy()[1], df[c].to_numpy()[1:]]),
               VALID),
    Corruption("id-float-whole", "id", lambda df, c: _set(df, c, df[c].astype(np.float64)), SAME),
    Corruption("id-strings", "id", lambda df, c: _set(df, c, df[c].astype(str)), VALID),
    Corruption("missing-id", "id", lambda df, c: _drop(df, c), raises("{col}", KeyError)),
    Corruption("missing-num", "num", lambda df, c: _drop(df, c), raises("{col}")),
    Corruption("missing-date", "date", lambda df, c: _drop(df, c), raises("{col}", KeyError)),
    Corruption("missing-cat", "cat", lambda df, c: _drop(df, c), raises("{col}")),
    Corruption("cat-bytes", "cat", lambda df, c: _set(df, c, pd.Series(
        [str(v).encode() for v in df[c].tolist()], dtype=object, index=df.index)), VALID),
    Corruption("cat-numbers-object", "cat", lambda df, c: _set(df, c, pd.Series(
        [7 if i == 0 else v for i, v in enumerate(df[c].tolist())], dtype=object, index=df.index)), VALID),
    Corruption("not-a-frame", None, lambda df, c: df.to_numpy().tolist(), raises(".")),
]


# Where roles are inferred, text is a category and a column that is not there is not used.
_INFERRED = {"num-strings": VALID, "num-mixed-object": VALID, "num-bytes": VALID, "date-garbage-text": VALID,
             "date-numbers": VALID}


def _cases():
    for e in ENTRIES:
        for k in CORRUPTIONS:
            if k.role is not None and k.role not in e.cols:
                continue
            if e.infers and k.name.startswith("missing-") and k.role != "id":
                continue
            outcome = e.override.get(k.name, _INFERRED.get(k.name, k.outcome) if e.infers else k.outcome)
            marks = []
            if isinstance(outcome, tuple) and outcome[0] == "xfail":
                marks = [pytest.mark.xfail(strict=True, reason=outcome[1])]
                outcome = k.outcome
            yield pytest.param(e, k, outcome, id=f"{e.name}-{k.name}", marks=marks)


def _run(e: Entry, inputs: dict):
    return e.call(**inputs)


_CANON: dict = {}
_NO_INDEX = ("polars", "arrow", "arrow-dictionary")


def _canonical(e: Entry):
    if e.name not in _CANON:
        _CANON[e.name] = _run(e, e.make())
    return _CANON[e.name]


@pytest.mark.parametrize("entry,corruption,outcome", list(_cases()))
def test_bad_table(entry: Entry, corruption: Corruption, outcome):
    inputs = entry.make()
    col = entry.cols.get(corruption.role) if corruption.role else None
    bad = dict(inputs)
    bad[entry.target] = corruption.apply(inputs[entry.target], col)
    if isinstance(outcome, type(raises("."))):
        pattern = outcome.match.replace("{col}", col or entry.target)
        raises(pattern, *outcome.types).check(lambda: _run(entry, bad))
        return
    if outcome in (SAME, SAME_ANY_ORDER):
        got, want = _run(entry, bad), _canonical(entry)
        if outcome == SAME_ANY_ORDER and isinstance(want, pd.DataFrame):
            got = got[list(want.columns)]
        if corruption.name in _NO_INDEX and isinstance(want, (pd.DataFrame, pd.Series)):
            got, want = got.reset_index(drop=True), want.reset_index(drop=True)  # Arrow and polars have no index
        assert_same(got, want, f"{entry.name} on {corruption.name}")
        return
    if outcome == LIKE_NAN:
        plain = dict(inputs)
        plain[entry.target] = _first_null(inputs[entry.target], col, "plain")
        _same_outcome(lambda: _run(entry, bad), lambda: _run(entry, plain), col)
        return
    # VALID: a named error or a result without silent NaN that matches the reference
    try:
        result = _run(entry, bad)
    except ERRORS as exc:
        _names_something(exc, col, entry)
        return
    no_silent_nan(result, entry.allowed_nan)
    if entry.reference is not None:
        entry.reference(_frame_result(result), **bad)


def _frame_result(r):
    return r


def _same_outcome(call, plain_call, col):
    try:
        want = plain_call()
    except ERRORS as exc:
        with pytest.raises(type(exc)) as info:
            call()
        assert col in str(info.value), f"the message does not name {col!r}: {info.value}"
        return
    assert_same(call(), want)


def _names_something(exc, col, entry):
    msg = str(exc)
    names = [n for n in (col, entry.target, "empty", *entry.names) if n]
    assert any(n in msg for n in names), f"{type(exc).__name__} names neither {col!r} nor the table: {msg}"
