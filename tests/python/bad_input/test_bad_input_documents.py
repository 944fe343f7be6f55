"""Fuzz of the documents twinscore reads besides model files: schema JSON
(``Schema.load``), job files (``twinscore run job.toml``: ``jobs.load_job``,
whose errors are the one-line message and exit status 2) and lead-rule TOML
(``LeadRules.from_toml``).

Each document is a valid one mutated — a value replaced by a hostile one
(wrong type, 1e309, NaN, huge integers, deep nesting, unicode, a date out of
range), a key removed, an unknown key added — or mutated as text. The promise:
a valid object, or ValueError / TypeError / KeyError (FileNotFoundError for a
job naming a file that is not there); never another exception.

CI runs a bounded number of examples. For a longer local run:

    TWINSCORE_FUZZ=long .venv/bin/python -m pytest -q tests/python/bad_input/test_bad_input_documents.py

(the "long" hypothesis profile below: 20,000 examples per test, or TWINSCORE_FUZZ_EXAMPLES; random
seeds, no deadline; a failure prints the example to add to the tables here).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twinscore as ts
from twinscore.cli import jobs
from twinscore.cli.main import main as run_cli

settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("long", max_examples=int(os.environ.get("TWINSCORE_FUZZ_EXAMPLES", 20_000)), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_PROFILE = "long" if os.environ.get("TWINSCORE_FUZZ") == "long" else "ci"
_FUZZ = settings(settings.get_profile(_PROFILE))

ACCEPTED = (ValueError, TypeError, KeyError)

# ---------------------------------------------------------------- hostile values

_HOSTILE_NUMBERS = [0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**40, 10**400, -(10**400), 1e308, -1e308, 5e-324, 1e-320,
                    float("nan"), float("inf"), float("-inf"), 0.5, -0.0]
_HOSTILE_TEXT = ["", " ", "abc", "ünïcödé ☃", "\x00", "a" * 10_000, "9999-12-31", "1500-01-01", "1e309",
                 "NaN", "../../etc/passwd", "\n", "score", "fit_score", "\u202e"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(_HOSTILE_NUMBERS), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(_HOSTILE_TEXT),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def _paths(doc, prefix=()):
    """Every path (tuple of keys / indexes) to a value of a nested document."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _mutate(doc, data):
    """One mutation of a copy of doc: replace a value, drop a key or add one."""
    doc = json.loads(json.dumps(doc))
    paths = [p for p in _paths(doc) if p]
    path = data.draw(st.sampled_from(paths))
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    action = data.draw(st.sampled_from(["replace", "replace", "drop", "add"]))
    if action == "replace":
        parent[path[-1]] = data.draw(values)
    elif action == "drop" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "drop":
        parent.pop(path[-1])
    elif isinstance(parent, dict):
        parent[data.draw(st.text(min_size=1, max_size=8))] = data.draw(values)
    else:
        parent.append(data.draw(values))
    return doc


def _mutations(doc):
    return st.data().map(lambda data: data)  # drawn in the test: mutations depend on the doc


# ---------------------------------------------------------------- a small TOML writer

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)} = {_toml_value(x)}"
                               for k, x in v.items()) + "}"
    return '"null"'  # TOML has no null: the closest wrong value


def to_toml(doc: dict) -> str:
    """Top-level keys as `key = value` with inline tables (valid TOML for any nesting)."""
    return "\n".join(f"{json.dumps(str(k), ensure_ascii=False)} = {_toml_value(v)}" for k, v in doc.items()) + "\n"


_TEXT_EDITS = ["1e309", "nan", "-inf", "99999999999999999999999", "\"\\ud800\"", "[" * 2000 + "]" * 2000,
               "{a = {b = {c = 1}}}", "1979-05-27T07:32:00Z", "9999-12-31", "0001-01-01", "true", "\"\"",
               "'ü'", "[]", "{}", "-0"]


def _text_mutation(text: str, data) -> str:
    lines = text.splitlines()
    i = data.draw(st.integers(0, len(lines) - 1))
    action = data.draw(st.sampled_from(["value", "drop", "duplicate", "truncate", "garbage"]))
    if action == "value" and "=" in lines[i]:
        lines[i] = lines[i].split("=", 1)[0] + "= " + data.draw(st.sampled_from(_TEXT_EDITS))
    elif action == "drop":
        del lines[i]
    elif action == "duplicate":
        lines.insert(i, lines[i])
    elif action == "truncate":
        return text[:data.draw(st.integers(0, len(text)))]
    else:
        lines.insert(i, data.draw(st.text(max_size=30)))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- schema JSON

def _schema_doc() -> dict:
    import pandas as pd
    df = pd.DataFrame({"id": [1, 2, 3], "age": [20.0, 35.5, 60.0], "region": ["n", "s", "n"],
                       "tags": [["a"], ["b", "c"], []]})
    return ts.ContactTable.from_pandas(df, id="id").schema.to_dict()


_SCHEMA = _schema_doc()


def _load_schema(tmp_path: Path, text: str | bytes):
    p = tmp_path / "schema.json"
    p.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    try:
        s = ts.Schema.load(p)
    except ACCEPTED:
        return None
    assert isinstance(s, ts.Schema)
    for c in s.columns:  # what was accepted is usable: finite statistics, categories of text
        for stat in (c.mean, c.std, c.min, c.max):
            assert stat is None or math.isfinite(stat)
        assert c.categories is None or all(isinstance(x, str) for x in c.categories)
    return s


def test_the_clean_schema_loads(tmp_path):
    assert _load_schema(tmp_path, json.dumps(_SCHEMA)) is not None


@_FUZZ
@given(data=st.data())
def test_schema_json_mutated(tmp_path_factory, data):
    doc = _mutate(_SCHEMA, data)
    _load_schema(tmp_path_factory.mktemp("s"), json.dumps(doc, allow_nan=True))


@_FUZZ
@given(data=st.data())
def test_schema_json_text_mutated(tmp_path_factory, data):
    text = json.dumps(_SCHEMA, indent=1)
    _load_schema(tmp_path_factory.mktemp("s"), _text_mutation(text, data))


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,                 # nesting past the recursion limit
    '{"format": "twinscore.schema/1", "columns": ' + "[" * 50_000 + "]" * 50_000 + "}",
    '{"format": "twinscore.schema/1", "columns": [{"name": "x", "role": "numeric", "std": 1e309}]}',
    '{"format": "twinscore.schema/1", "columns": [{"name": "x", "role": "numeric", "mean": NaN}]}',
    '{"format": "twinscore.schema/1", "columns": [{"name": "x", "role": "numeric", "std": 1e-320}]}',
    '{"format": "twinscore.schema/1", "columns": [{"name": "x", "role": "categorical", "categories": "abc"}]}',
    '{"format": "twinscore.schema/1", "columns": [{"name": "x", "role": "numeric", "min": 99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999}]}',
    '{"format": "twinscore.schema/1", "columns": [{"name": "x", "role": "numeric", "min": ' + "9" * 5000 + "}]}",
    '{"format": "twinscore.schema/1", "id": 5, "columns": []}',
    '{"format": "twinscore.schema/1", "columns": [{"name": "x", "role": "numeric", "colour": "red"}]}',
    '{"format": "twinscore.schema/1", "columns": [{"name": "x", "role": "numeric"}, {"name": "x", "role": "numeric"}]}',
    b"\xff\xfe\x00",
    "",
])
def test_schema_json_hostile(tmp_path, text):
    assert _load_schema(tmp_path, text) is None


# ---------------------------------------------------------------- job files

def _job_dir(tmp_path: Path) -> Path:
    for name in ("tx.csv", "contacts.parquet", "events.csv", "rules.toml", "m.ubj", "index.tsm", "p.parquet"):
        (tmp_path / name).write_bytes(b"")
    return tmp_path


_JOBS = {
    "rfm": {"job": {"kind": "rfm", "threads": 2},
            "input": {"path": "tx.csv"},
            "rfm": {"customer": "client_id", "date": "date", "amount": "amount", "now": "2026-11-01", "bins": 5},
            "output": {"path": "rfm.parquet", "overwrite": True}},
    "lead_score": {"job": {"kind": "lead_score", "now": "2026-11-01"},
                   "input": {"path": "contacts.parquet", "id": "contact_id"},
                   "events": {"path": "events.csv", "contact": "contact_id", "timestamp": "timestamp"},
                   "rules": {"path": "rules.toml"}, "output": {"path": "leads.parquet"}},
    "tree_score": {"job": {"kind": "tree_score", "chunk_rows": 1000},
                   "input": {"path": "contacts.parquet", "id": "contact_id"},
                   "model": {"path": "m.ubj", "reasons": 2, "groups": {"region": ["region_n", "region_s"]}},
                   "output": {"path": "scores.csv"}},
    "twins": {"job": {"kind": "twins", "chunk_rows": 500},
              "input": {"path": "p.parquet", "id": "contact_id"}, "model": {"path": "index.tsm"},
              "twins": {"k": 10, "result": "expand", "fraction": 0.05, "by": "score"},
              "output": {"path": "audience.parquet"}},
    "clv": {"job": {"kind": "clv", "now": "2026-11-01"}, "input": {"path": "tx.csv"},
            "clv": {"customer": "client_id", "date": "date", "amount": "amount", "months": 12,
                    "monthly_discount": 0.01, "period_days": 7.0},
            "output": {"path": "clv.parquet"}},
    "contact_plan": {"job": {"kind": "contact_plan"}, "input": {"path": "p.parquet", "id": "contact_id"},
                     "plan": {"p": "p_convert", "value": 120.0, "budget": 5000.0, "allowed": {"email": "optin"}},
                     "channel": [{"name": "email", "cost": 0.02}, {"name": "phone", "cost": 4.0, "capacity": 100}],
                     "output": {"path": "plan.parquet"}},
    "pipeline": {"job": {"now": "2026-11-01", "threads": 1},
                 "step": [{"kind": "rfm", "input": {"path": "tx.csv"},
                           "rfm": {"customer": "client_id", "date": "date"}, "output": {"path": "r.parquet"}},
                          {"kind": "clv", "input": {"path": "tx.csv"},
                           "clv": {"customer": "client_id", "date": "date", "amount": "amount"},
                           "output": {"path": "c.parquet"}}]},
}


def _load_job(tmp_path: Path, text: str):
    p = tmp_path / "job.toml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        return jobs.load_job(p)
    except ACCEPTED + (FileNotFoundError,):
        return None


@pytest.mark.parametrize("kind", sorted(_JOBS))
def test_the_clean_jobs_load(tmp_path, kind):
    assert _load_job(_job_dir(tmp_path), to_toml(_JOBS[kind])) is not None


@_FUZZ
@given(kind=st.sampled_from(sorted(_JOBS)), data=st.data())
def test_job_file_mutated(tmp_path_factory, kind, data):
    _load_job(_job_dir(tmp_path_factory.mktemp("j")), to_toml(_mutate(_JOBS[kind], data)))


@_FUZZ
@given(kind=st.sampled_from(sorted(_JOBS)), data=st.data())
def test_job_file_text_mutated(tmp_path_factory, kind, data):
    _load_job(_job_dir(tmp_path_factory.mktemp("j")), _text_mutation(to_toml(_JOBS[kind]), data))


@pytest.mark.parametrize("edit", [
    ("rfm", "now", 5), ("rfm", "now", "9999-12-31"), ("rfm", "now", 1e309), ("rfm", "bins", 2**70),
    ("rfm", "bins", float("nan")), ("tree_score", "groups", 5), ("tree_score", "groups", [1, 2]),
    ("tree_score", "chunk_rows", 1e23), ("tree_score", "chunk_rows", 2**63), ("tree_score", "id", ["a", "b"]),
    ("twins", "fraction", float("nan")), ("twins", "k", -1), ("contact_plan", "capacity", 10**30),
    ("contact_plan", "value", float("inf")), ("clv", "months", 0), ("clv", "period_days", float("-inf")),
    ("clv", "monthly_discount", 10**400), ("contact_plan", "budget", -(10**400)), ("tree_score", "reasons", 10**400),
])
def test_job_file_hostile_values_exit_2_in_one_line(tmp_path, capsys, edit):
    """The `twinscore run` path itself, in-process: exit status 2 and one line on stderr."""
    kind, key, value = edit
    doc = json.loads(json.dumps(_JOBS[kind]))
    for section in doc.values():
        for body in (section if isinstance(section, list) else [section]):
            if isinstance(body, dict) and key in body:
                body[key] = value
    path = _job_dir(tmp_path) / "job.toml"
    path.write_text(to_toml(doc), encoding="utf-8")
    status = run_cli(["run", str(path)])
    err = capsys.readouterr().err
    assert status == jobs.EXIT_JOB_FILE, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("twinscore run: "), err
    assert "Traceback" not in err


# ---------------------------------------------------------------- lead rules TOML

_RULES = {
    "half_life_days": 30,
    "fit": [{"name": "core age", "column": "age_band", "in": ["25-34", "35-44"], "points": 10},
            {"name": "income", "column": "income", "min": 30000, "max": 1e6, "points": 5},
            {"name": "region", "column": "region", "points_by_value": {"north": 3, "south": -2}}],
    "behaviour": [{"name": "clicks", "event": "email_click", "points": 5, "cap": 20},
                  {"name": "books", "event": "page_view", "category": "books", "points": 1, "half_life_days": 7},
                  {"name": "unsubscribed", "event": "unsubscribe", "points": -50}],
    "grades": {"A": 10, "B": 5}, "lowest_grade": "D", "mql_threshold": 15,
}


def _rules(text: str):
    try:
        rules = ts.LeadRules.from_toml(text if "\n" in text else text + "\n")
    except ACCEPTED:
        return None
    assert isinstance(rules, ts.LeadRules)
    return rules


def test_the_clean_rules_load():
    assert _rules(to_toml(_RULES)) is not None


@_FUZZ
@given(data=st.data())
def test_lead_rules_mutated(data):
    _rules(to_toml(_mutate(_RULES, data)))


@_FUZZ
@given(data=st.data())
def test_lead_rules_text_mutated(data):
    _rules(_text_mutation(to_toml(_RULES), data))


@pytest.mark.parametrize("edit", [
    ("half_life_days", float("nan")), ("half_life_days", 1e309), ("half_life_days", 10**400),
    ("mql_threshold", float("inf")), ("grades", {"A": float("nan")}), ("grades", {"score": 1}),
    ("fit", [{"name": "score", "column": "x", "min": 0, "points": 1}]), ("fit", "abc"),
    ("behaviour", [{"name": "b", "event": "e", "points": 10**400}]), ("lowest_grade", 5),
])
def test_lead_rules_hostile(edit):
    key, value = edit
    doc = dict(_RULES, **{key: value})
    rules = _rules(to_toml(doc))
    if rules is not None:  # accepted only with finite numbers throughout
        for r in rules.fit + rules.behaviour:
            for v in vars(r).values():
                assert not (isinstance(v, float) and not math.isfinite(v) and v not in (math.inf, -math.inf)), r


def test_nesting_past_the_recursion_limit_is_a_value_error(tmp_path):
    deep = "x = " + "[" * 100_000 + "]" * 100_000 + "\n"
    assert _rules(deep) is None
    assert _load_job(_job_dir(tmp_path), deep) is None
