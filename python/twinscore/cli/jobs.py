"""Batch jobs: ``twinscore run job.toml`` reads its inputs, runs one engine —
or a pipeline of steps, each feeding the next — and writes its output tables,
each all or nothing.

A job file names what to do and where the data is (relative paths are taken
from the job file's directory)::

    [job]
    kind = "tree_score"            # see the kinds below
    threads = 2                    # optional
    chunk_rows = 1000000           # optional: rows read at a time by the chunked kinds

    [input]                        # the contact table (or the log, for events / rfm / clv)
    path = "prospects.parquet"     # .parquet, .csv, .csv.gz
    id = "contact_id"

    [model]                        # the model, from a file: model.save(path)
    path = "conversion.ubj"        #   (or an XGBoost / LightGBM file for tree_score)

    [output]
    path = "scores.parquet"        # .parquet or .csv; refused if it exists
    overwrite = false              #   unless this is true

The kinds, and what each adds to ``[input]`` / ``[model]`` / ``[output]``:

* ``tree_score`` — an XGBoost (``.json``/``.ubj``) or LightGBM (``.txt``)
  model, or a saved :class:`~twinscore.TreeScorer`; ``[model] reasons = 3``
  (top reasons), ``groups``, ``library``.
* ``lead_score`` — ``[events]`` (path, contact, timestamp, type, category),
  ``[rules]`` (path of a TOML rule file, see :mod:`twinscore.leads`, or of a
  saved :class:`~twinscore.LeadRules`), ``now``.
* ``rfm`` — ``[rfm]`` (customer, date, amount, invoice, now, bins).
* ``events`` — the event log in ``[input]`` (``contact`` id column, default
  ``contact_id``; timestamp, type, category); ``[events]`` now,
  half_life_days, types, categories (fixed vocabularies, so that every
  night's columns are the same), ``features = true`` for the model-ready
  columns of :func:`twinscore.events.behaviour_features`. One row per contact,
  sorted. A log longer than ``chunk_rows`` is split by contact range into
  temporary parts of about ``chunk_rows`` events, each aggregated alone (see
  :mod:`twinscore.cli.partition`; removed however the job ends).
* ``logistic_score`` — a saved :class:`~twinscore.LogisticScorer`;
  ``[model] reasons = 3``. Columns: id, score (P(converted)), reason_k,
  contribution_k.
* ``scorecard`` — a saved :class:`~twinscore.Scorecard`: id, score.
* ``segments`` — a saved :class:`~twinscore.KMeans` or
  :class:`~twinscore.MiniBatchKMeans`: id, segment; ``[profile]`` (path,
  overwrite, columns, conversion, value) writes
  :func:`twinscore.segment_profiles` of the assigned segments, from counts
  and sums per segment added chunk by chunk
  (:class:`twinscore.segments.ProfileSums`).
* ``clv`` — transactions in ``[input]``; ``[clv]`` model = ``"bgnbd"``
  (default), ``"pareto_nbd"`` or ``"bgbb"``, customer, date, now (the end
  of the calibration), horizon (periods ahead), penalizer. With ``bgnbd`` /
  ``pareto_nbd``: amount, period_days, months, monthly_discount, margin;
  ``[model]`` purchases / spend: a saved :class:`~twinscore.BetaGeo` or
  :class:`~twinscore.ParetoNBD` / :class:`~twinscore.GammaGamma` (both, or
  neither: then fitted on the summary). One row per client: frequency,
  recency, T, monetary_value, expected_purchases, p_alive, expected_spend,
  clv. With ``bgbb`` (discrete opportunities): freq (the opportunity
  period, default ``"W"``), discount (per opportunity, for the DERT);
  ``[model]`` purchases: a saved :class:`~twinscore.BetaGeoBetaBinom`. One
  row per client: frequency, recency, n_periods, expected_purchases (over
  horizon opportunities), p_alive, dert.
* ``twins`` — a saved :class:`~twinscore.TwinIndex`; ``[twins]`` k,
  ``result = "twins"`` (one row per twin: prospect_id, rank, client_id,
  similarity), ``"scores"`` (one row per prospect) or ``"expand"`` (the
  audience: fraction or n, by, exclude = a boolean column of prospects not
  to target).
* ``contact_plan`` — ``[plan]`` p (the probability column, or one per
  channel: ``{ email = "p_email", phone = "p_phone" }``), value (a column or
  a number, or one of them per channel), budget, allowed (``{ email =
  "email_optin" }``: a boolean column per channel), control (the share of
  the chosen contacts held out, 0 to 0.5; ``group = "control"`` in the
  output), seed (the control group's draw), min_gap (``"2D"``: nobody
  messaged since), now (or in ``[job]``); ``[[channel]]`` name, cost,
  uplift, capacity, budget; ``[[pressure]]`` max_messages, window (``"7D"``),
  channel (default: all channels); ``[history]`` (path, contact — default
  the ``[input]`` id —, channel, date: one row per past message), needed by
  ``[[pressure]]`` and min_gap; ``[summary]`` (path, overwrite) writes the
  per-channel summary. The job's report gives the control group's size and
  ``held_back``: the contacts each rule kept from a channel.

The chunked kinds (tree_score, logistic_score, scorecard, segments, twins)
read ``[input]`` ``chunk_rows`` rows at a time (Parquet row groups as they
come, CSV in chunks), the model-file kinds only the columns their model
needs, so memory is bounded by a chunk, the Parquet row group it comes from
(one is held at a time) and the model (a segments ``[profile]`` adds the
per-segment sums, an ``expand`` keeps the audience so far); their output is
the in-memory call's, row for row (a profile's means to the rounding of
their sums). An ``events`` job holds one part of its log at a time (about
``chunk_rows`` events; a single contact's events are never split). The
others read their input whole (a transaction log is grouped by client; a
contact plan shares one budget).

**Pipelines.** A job file may instead list steps, run in order, each with its
own kind and sections; a step's input may be an earlier step's output::

    [job]                          # defaults of every step: threads, chunk_rows, now
    now = "2024-06-30"
    [[step]]
    kind = "events"
    [step.input]
    path = "events.parquet"
    [step.output]
    path = "features.parquet"
    [[step]]
    kind = "logistic_score"
    [step.input]
    path = "features.parquet"      # the output above
    id = "contact_id"
    ...

Every step is checked, and every model file loaded and its class checked,
before the first step runs; each step publishes its outputs when it
completes, so a failed step leaves the earlier steps' outputs and none of its
own.

Every section, key, type and range is checked before any data is read; a
misspelt key, a wrong type, a missing file is a
``ValueError``/``TypeError``/``FileNotFoundError`` naming it; a missing column
is a ``KeyError`` naming it. The output is written to a temporary file beside
the target (``.<name>.<pid>.<random>.partial``) and published only when
complete: renamed onto the target with ``overwrite = true``, else linked to a
target that must not exist at that moment (two jobs racing for one output:
one wins, the other fails and leaves the first's file). A job interrupted by
SIGINT or SIGTERM removes its partial file; one killed outright leaves it, and
the next job writing the same output removes it.

``twinscore run --dry-run job.toml`` checks the file, loads the model files
and reads every input's columns (Parquet schema, CSV header) without
computing anything. ``twinscore run`` exits with 0 on success, 2 for a bad job
file (unknown key, wrong value, missing input file, existing output, a model
file of another class), 3 for bad input data (a missing column, a value an
engine refuses), 4 for a failure to read or write (disk full, unreadable or
corrupt file), 5 for an internal error (a bug: the traceback is printed),
130/143 when interrupted. A Parquet output takes its column types from the
first chunk; a later chunk whose column reads as another type is cast to it
when no value changes, else refused naming the column.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from .tables import (PARTS_SUFFIX, Context, InputFileError, JobFileError, ModelFileError, _require,
                     _TableWriter)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser from PyPI
    import tomli as tomllib

__all__ = ["JobReport", "PipelineReport", "run_job", "load_job", "run_loaded_job", "dry_run", "check_loaded_job",
           "JobFileError", "ModelFileError", "InputFileError", "EXIT_JOB_FILE", "EXIT_DATA", "EXIT_IO", "EXIT_INTERNAL"]

_OUT = {"path", "overwrite"}
_CHUNKED = {"kind", "threads", "chunk_rows"}
_SECTIONS: dict[str, dict[str, set[str]]] = {
    # kind -> section -> allowed keys ("path" where a file is named)
    "tree_score": {"job": _CHUNKED, "input": {"path", "id"},
                   "model": {"path", "library", "reasons", "groups"}, "output": _OUT},
    "lead_score": {"job": {"kind", "threads", "now"}, "input": {"path", "id"},
                   "events": {"path", "contact", "timestamp", "type", "category"},
                   "rules": {"path"}, "output": _OUT},
    "rfm": {"job": {"kind", "threads"}, "input": {"path"},
            "rfm": {"customer", "date", "amount", "invoice", "now", "bins"}, "output": _OUT},
    "events": {"job": {"kind", "threads", "now", "chunk_rows"},
               "input": {"path", "contact", "timestamp", "type", "category"},
               "events": {"now", "half_life_days", "types", "categories", "features"}, "output": _OUT},
    "logistic_score": {"job": _CHUNKED, "input": {"path", "id"}, "model": {"path", "reasons"}, "output": _OUT},
    "scorecard": {"job": _CHUNKED, "input": {"path", "id"}, "model": {"path"}, "output": _OUT},
    "segments": {"job": _CHUNKED, "input": {"path", "id"}, "model": {"path"}, "output": _OUT,
                 "profile": _OUT | {"columns", "conversion", "value"}},
    "clv": {"job": {"kind", "threads", "now"}, "input": {"path"},
            "clv": {"customer", "date", "amount", "now", "period_days", "horizon", "months", "monthly_discount",
                    "margin", "penalizer", "model", "freq", "discount"},
            "model": {"purchases", "spend"}, "output": _OUT},
    "twins": {"job": _CHUNKED, "input": {"path", "id"}, "model": {"path"},
              "twins": {"k", "result", "fraction", "n", "by", "exclude"}, "output": _OUT},
    "contact_plan": {"job": {"kind", "threads", "now"}, "input": {"path", "id"},
                     "plan": {"p", "value", "budget", "allowed", "now", "min_gap", "control", "seed"},
                     "channel": {"name", "cost", "uplift", "capacity", "budget"},
                     "pressure": {"max_messages", "window", "channel"},
                     "history": {"path", "contact", "channel", "date"},
                     "output": _OUT, "summary": _OUT},
}
_REQUIRED = {"tree_score": {"input": {"path", "id"}, "model": {"path"}, "output": {"path"}},
             "lead_score": {"input": {"path", "id"}, "events": {"path"}, "rules": {"path"}, "output": {"path"},
                            "job": {"now"}},
             "rfm": {"input": {"path"}, "rfm": {"customer", "date"}, "output": {"path"}},
             "events": {"input": {"path"}, "output": {"path"}},
             "logistic_score": {"input": {"path", "id"}, "model": {"path"}, "output": {"path"}},
             "scorecard": {"input": {"path", "id"}, "model": {"path"}, "output": {"path"}},
             "segments": {"input": {"path", "id"}, "model": {"path"}, "output": {"path"}},
             "clv": {"input": {"path"}, "clv": {"customer", "date"}, "output": {"path"}},
             "twins": {"input": {"path", "id"}, "model": {"path"}, "output": {"path"}},
             "contact_plan": {"input": {"path", "id"}, "plan": {"p", "value"}, "channel": {"name", "cost"},
                              "pressure": {"max_messages", "window"}, "history": {"path"}, "output": {"path"}}}
# The model files of each kind: (section, key) -> the classes it may hold.
_MODELS = {"logistic_score": {("model", "path"): ("LogisticScorer",)},
           "scorecard": {("model", "path"): ("Scorecard",)},
           "segments": {("model", "path"): ("KMeans", "MiniBatchKMeans")},
           "clv": {("model", "purchases"): ("BetaGeo", "ParetoNBD", "BetaGeoBetaBinom"),
                   ("model", "spend"): ("GammaGamma",)},
           "twins": {("model", "path"): ("TwinIndex",)}}
_OUTPUT_SECTIONS = ("output", "profile", "summary")   # sections whose path is written
_LISTS = {"channel", "pressure"}                        # sections written as [[...]] arrays of tables
_OPTIONAL = {"pressure", "history"}                     # sections _REQUIRED lists the keys of when they are given
_FILE_KEYS = {"path", "purchases", "spend"}             # keys naming a file, resolved against the job file
_PIPELINE_KEYS = {"threads", "chunk_rows", "now"}       # a pipeline's [job]: defaults of its steps
# twinscore run's exit status by kind of failure.
EXIT_JOB_FILE, EXIT_DATA, EXIT_IO, EXIT_INTERNAL = 2, 3, 4, 5


@dataclass
class JobReport:
    """What a finished job did: its kind, rows read and written, output path, seconds."""

    kind: str
    rows_in: int
    rows_out: int
    output: Path
    seconds: float
    name: str | None = None
    notes: dict = field(default_factory=dict)  # what the kind adds: a contact plan's control and held_back

    def __str__(self) -> str:
        who = f"{self.name} ({self.kind})" if self.name and self.name != self.kind else self.kind
        line = (f"{who}: {self.rows_in:,} rows in, {self.rows_out:,} rows out -> {self.output} "
                f"({self.seconds:.2f} s)")
        return "\n".join([line] + [f"  {key}: {_note(value)}" for key, value in self.notes.items()])


def _note(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v:,}" for k, v in value.items()) or "none"
    return f"{value:,}" if isinstance(value, int) else str(value)


@dataclass
class PipelineReport:
    """The reports of a pipeline's steps, in order, and its total seconds."""

    steps: list = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        return "\n".join([str(s) for s in self.steps] + [f"{len(self.steps)} steps done ({self.seconds:.2f} s)"])


# -- the job file ---------------------------------------------------------------
def _text(value, where: str):
    if not isinstance(value, str) or not value:
        raise TypeError(f"{where} must be a non-empty string (a column name), got {value!r}")
    return value


def _integer(lo: int, hi: int):
    def check(value, where: str):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where} must be an integer, got {value!r}")
        if not lo <= value <= hi:
            raise ValueError(f"{where} must be between {lo:,} and {hi:,}, got {_shown(value)}")
        return value
    return check


def _finite(value) -> bool:
    """A finite float (an integer of 400 digits is not: float() overflows)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _shown(value) -> str:
    """A value as the one-line message shows it (a 5,000-digit integer cut)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def _number(lo: float, hi: float = math.inf, strict: bool = False):
    def check(value, where: str):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            raise TypeError(f"{where} must be a finite number, got {_shown(value)}")
        if value < lo or (strict and value == lo) or value > hi:
            raise ValueError(f"{where} must be {'>' if strict else '>='} {lo:g}"
                             + (f" and <= {hi:g}" if hi < math.inf else "") + f", got {value!r}")
        return float(value)
    return check


def _date(value, where: str):
    from twinscore import to_timestamp  # the library's one date rule: numbers are not dates

    return to_timestamp(value, where)


def _groups(value, where: str):
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and v and all(isinstance(c, str) for c in v)
            for k, v in value.items()):
        raise TypeError(f"{where} must map each reason to a list of column names, "
                        f"e.g. {{ region = [\"region_n\", \"region_s\"] }}, got {value!r}")
    return value


def _texts(value, where: str):
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise TypeError(f"{where} must be a non-empty list of strings, got {value!r}")
    return value


def _column_map(value, where: str, what: str = "a boolean column"):
    if not isinstance(value, dict) or not value or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
        raise TypeError(f"{where} must map each channel to {what}, e.g. {{ email = \"email_optin\" }}, "
                        f"got {value!r}")
    return value


def _column_or_number(value, where: str):
    if isinstance(value, str) and value:
        return value
    return _number(0.0)(value, f"{where} (a column name or a number)")


def _p_columns(value, where: str):
    """p: one column, or a column per channel ({ email = "p_email", phone = "p_phone" })."""
    if isinstance(value, dict):
        return _column_map(value, where, "a probability column")
    return _text(value, where)


def _plan_value(value, where: str):
    """value: a column or a number, or one of them per channel."""
    if isinstance(value, dict):
        if not value:
            raise TypeError(f"{where} must map each channel to a column name or a number, got {{}}")
        return {ch: _column_or_number(v, f"{where}.{ch}") for ch, v in value.items()}
    return _column_or_number(value, where)


def _duration(value, where: str):
    from twinscore.plan import _duration as duration  # the engine's own rule: "7D", "12h"; > 0

    if not isinstance(value, str):
        raise TypeError(f"{where} must be a duration such as \"7D\", got {value!r}")
    duration(value, where)
    return value


def _choice(*allowed):
    def check(value, where: str):
        if value not in allowed:
            raise ValueError(f"{where} must be one of {list(allowed)}, got {value!r}")
        return value
    return check


def _flag(value, where: str):
    if not isinstance(value, bool):
        raise TypeError(f"{where} must be true or false, got {value!r}")
    return value


# The type and range of every value key, checked (and dates converted) before
# any data is read; (section, key) where a key means another thing elsewhere.
_VALUES: dict = {
    "threads": _integer(1, 4096), "chunk_rows": _integer(1, 1_000_000_000), "now": _date,
    "id": _text, "library": _choice("xgboost", "lightgbm"), "reasons": _integer(0, 1000), "groups": _groups,
    "contact": _text, "timestamp": _text, "type": _text, "category": _text,
    "customer": _text, "date": _text, "amount": _text, "invoice": _text, "bins": _integer(2, 100),
    "overwrite": _flag, "half_life_days": _number(0.0, strict=True), "types": _texts, "categories": _texts,
    "features": _flag, "columns": _texts, "conversion": _text, ("profile", "value"): _text,
    "period_days": _number(0.0, strict=True), "horizon": _number(0.0), "months": _integer(1, 1200),
    "monthly_discount": _number(0.0), "margin": _number(0.0), "penalizer": _number(0.0),
    "k": _integer(1, 100_000), "result": _choice("twins", "scores", "expand"), "fraction": _number(0.0, 1.0, True),
    "n": _integer(1, 10**12), "by": _choice("auto", "score", "value", "reference", "value_reference"),
    "exclude": _text, "p": _p_columns, ("plan", "value"): _plan_value, ("plan", "budget"): _number(0.0),
    "min_gap": _duration, "control": _number(0.0, 0.5), "seed": _integer(0, 2**63 - 1),
    "max_messages": _integer(1, 10**9), "window": _duration, "channel": _text,
    "allowed": _column_map, "name": _text, "cost": _number(0.0), "uplift": _number(0.0),
    "capacity": _integer(0, 10**15), ("channel", "budget"): _number(0.0),
}


def _read_toml(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"job file not found: {path}")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path.name}: not valid TOML ({exc})") from None
    except RecursionError:  # arrays nested deeper than the parser recurses
        raise ValueError(f"{path.name}: not valid TOML (nested too deeply)") from None


def load_job(path: str | os.PathLike) -> dict[str, Any]:
    """Reads and checks a job file; paths come back absolute, dates as Timestamps.

    A file of one job gives its sections (``job["output"]["path"]``...); a
    pipeline gives ``{"job": defaults, "steps": [one such dict per step]}``."""
    path = Path(path)
    raw = _read_toml(path)
    if "step" not in raw:
        return _check_job(raw, path.name, path.parent, produced={})
    return _load_pipeline(raw, path)


def _load_pipeline(raw: dict, path: Path) -> dict:
    where = path.name
    extra = [s for s in raw if s not in ("job", "step")]
    if extra:
        raise ValueError(f"{where}: a pipeline holds [job] and [[step]] tables only, not [{extra[0]}] (each step's "
                         "sections go under it: [step.input], [step.output], ...)")
    defaults = raw.get("job", {})
    if not isinstance(defaults, dict):
        raise ValueError(f"{where}: [job] must be a table of keys")
    for key, value in defaults.items():
        if key not in _PIPELINE_KEYS:
            raise ValueError(f"{where}: unknown key '{key}' in a pipeline's [job] (expected one of "
                             f"{sorted(_PIPELINE_KEYS)}; each step names its kind)")
        defaults[key] = _VALUES[key](value, f"{where}: [job] {key}")
    steps = raw["step"]
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
        raise ValueError(f"{where}: steps are [[step]] tables")
    produced: dict[Path, int] = {}
    out = []
    for i, step in enumerate(steps, 1):
        head = {k: v for k, v in step.items() if not isinstance(v, (dict, list))}
        name = head.pop("name", None)
        label = f"step {i}" + (f" ({name})" if isinstance(name, str) else "")
        if name is not None:
            _text(name, f"{where}: {label} name")
        job = {k: v for k, v in step.items() if isinstance(v, (dict, list))}
        if "job" in job:
            raise ValueError(f"{where}: {label}: put kind, threads, chunk_rows, now in the [[step]] table itself")
        kind = head.get("kind")
        allowed_job = _SECTIONS.get(kind, {}).get("job", {"kind"})
        job["job"] = {**{k: v for k, v in defaults.items() if k in allowed_job}, **head}
        checked = _check_job(job, f"{where}: {label}", path.parent, produced)
        checked["name"] = name or kind
        for section in _OUTPUT_SECTIONS:
            if section in checked:
                target = checked[section]["path"]
                if target in produced:
                    raise ValueError(f"{where}: {label} writes {target.name}, which step {produced[target]} writes")
                produced[target] = i
        out.append(checked)
    return {"job": defaults, "steps": out}


def _check_sections(job: dict, where: str) -> str:
    kind = job.get("job", {}).get("kind") if isinstance(job.get("job"), dict) else None
    if kind not in _SECTIONS:
        raise ValueError(f"{where}: [job] kind must be one of {sorted(_SECTIONS)}, got {kind!r}")
    allowed = _SECTIONS[kind]
    for section, body in job.items():
        if section not in allowed:
            raise ValueError(f"{where}: unknown section [{section}] for a {kind} job "
                             f"(expected {', '.join(f'[{s}]' for s in allowed)})")
        bodies = body if section in _LISTS else [body]
        if section in _LISTS and (not isinstance(body, list) or not body):
            raise ValueError(f"{where}: [[{section}]] must be a list of tables, one per {section}")
        for b in bodies:
            if not isinstance(b, dict):
                raise ValueError(f"{where}: [{section}] must be a table of keys")
            for key in b:
                if key not in allowed[section]:
                    raise ValueError(f"{where}: unknown key '{key}' in [{section}] "
                                     f"(expected one of {sorted(allowed[section])})")
    for section, keys in _REQUIRED[kind].items():
        if section in _OPTIONAL and section not in job:
            continue
        for b in (job.get(section) or [{}]) if section in _LISTS else [job.get(section, {})]:
            for key in keys:
                if key not in b:
                    raise ValueError(f"{where}: [{section}] needs '{key}'")
    return kind


def _check_job(job: dict, where: str, base: Path, produced: dict) -> dict:
    """One job's sections checked, values converted and paths resolved; ``produced``:
    the outputs of earlier steps (an input may name one)."""
    kind = _check_sections(job, where)
    for section, body in job.items():
        for b in body if section in _LISTS else [body]:
            for key, value in b.items():
                check = _VALUES.get((section, key)) or _VALUES.get(key)
                if check is not None:
                    b[key] = check(value, f"{where}: [{section}] {key}")
    for name, section in job.items():
        if name in _LISTS:
            continue
        for key in _FILE_KEYS & set(section):
            if not isinstance(section[key], str) or not section[key]:
                raise ValueError(f"{where}: [{name}] {key} must be a non-empty string (a file path)")
            section[key] = (base / section[key]).resolve()
            if name not in _OUTPUT_SECTIONS and section[key] not in produced and not section[key].is_file():
                raise FileNotFoundError(f"{where}: [{name}] file not found (or not a regular file): {section[key]}")
    for name in _OUTPUT_SECTIONS:
        if name in job:
            _check_output(job[name], where, name)
    _check_kind(kind, job, where)
    return job


_CLV_MODELS = ("bgnbd", "pareto_nbd", "bgbb")
_CLV_ONLY = {"bgbb": {"freq", "discount"}, "bgnbd": {"amount", "period_days", "months", "monthly_discount", "margin"}}


def _check_clv(job: dict, where: str) -> None:
    """[clv] model picks the purchase model; its keys and [model] files must fit it."""
    spec, files = job["clv"], job.get("model", {})
    kind = spec.get("model", "bgnbd")
    if kind not in _CLV_MODELS:
        raise ValueError(f"{where}: [clv] model must be one of {list(_CLV_MODELS)}, got {kind!r}")
    continuous = kind != "bgbb"
    if continuous and "amount" not in spec:
        raise ValueError(f"{where}: [clv] needs amount (the spend model's) for model = {kind!r}")
    wrong = sorted(_CLV_ONLY["bgbb" if continuous else "bgnbd"] & set(spec))
    if wrong:
        raise ValueError(f"{where}: [clv] {', '.join(wrong)} do not apply to model = {kind!r}")
    if continuous and ("purchases" in files) != ("spend" in files):
        raise ValueError(f"{where}: [model] gives purchases and spend together (or neither: both are fitted)")
    if not continuous and "spend" in files:
        raise ValueError(f"{where}: [model] spend does not apply to model = \"bgbb\" (no spend model)")


def _check_kind(kind: str, job: dict, where: str) -> None:
    """What one section's keys cannot check alone."""
    if kind == "clv":
        _check_clv(job, where)
    if kind == "events" and _now_of(job, "events") is None:
        raise ValueError(f"{where}: an events job needs now, in [events] or [job]")
    if kind == "twins":
        spec = job.get("twins", {})
        expand = spec.get("result", "twins") == "expand"
        if expand and ("fraction" in spec) == ("n" in spec):
            raise ValueError(f"{where}: [twins] result = \"expand\" needs exactly one of fraction and n")
        if not expand and {"fraction", "n", "by", "exclude"} & set(spec):
            raise ValueError(f"{where}: [twins] fraction, n, by and exclude are for result = \"expand\"")
    if kind == "contact_plan":
        from twinscore.plan import _channels  # the engine's own checks of names, costs, capacities

        _check_plan(job, [c.name for c in _channels(job["channel"])], where)
    if job.get("input", {}).get("path") in {job[s]["path"] for s in _OUTPUT_SECTIONS if s in job}:
        raise ValueError(f"{where}: [output] would overwrite the job's own input")


def _check_plan(job: dict, names: list[str], where: str) -> None:
    """A contact plan's channel names, per-channel columns, pressure rules and history, checked together."""
    plan = job["plan"]
    unknown = sorted(set(plan.get("allowed", {})) - set(names))
    if unknown:
        raise ValueError(f"{where}: [plan] allowed names channels {unknown} that no [[channel]] defines ({names})")
    for key in ("p", "value"):
        if isinstance(plan[key], dict) and set(plan[key]) != set(names):
            missing, extra = sorted(set(names) - set(plan[key])), sorted(set(plan[key]) - set(names))
            raise ValueError(f"{where}: [plan] {key} per channel must name every [[channel]] once "
                             + (f"(missing {missing})" if missing else f"(no [[channel]] is named {extra})"))
    for rule in job.get("pressure", []):
        if "channel" in rule and rule["channel"] not in names:
            raise ValueError(f"{where}: [[pressure]] channel {rule['channel']!r} is not a [[channel]] ({names})")
    rules = bool(job.get("pressure")) or "min_gap" in plan
    if rules and "history" not in job:
        raise ValueError(f"{where}: [[pressure]] and [plan] min_gap need a [history] of past messages (path)")
    if "history" in job and not rules:
        raise ValueError(f"{where}: [history] is read only for [[pressure]] rules or a [plan] min_gap; give one")
    if rules and _now_of(job, "plan") is None:
        raise ValueError(f"{where}: [[pressure]] and [plan] min_gap need now, in [plan] or [job]")


def _now_of(job: dict, section: str):
    return job.get(section, {}).get("now", job["job"].get("now"))


def _check_output(out: dict, where: str, section: str = "output") -> None:
    target: Path = out["path"]
    if not str(target).endswith((".parquet", ".csv")):
        raise ValueError(f"{where}: [{section}] path must end in .parquet or .csv, got {target.name}")
    if not isinstance(out.get("overwrite", False), bool):
        raise ValueError(f"{where}: [{section}] overwrite must be true or false")
    if target.exists() and not out.get("overwrite", False):
        raise ValueError(f"{where}: the output {target} exists; set [{section}] overwrite = true to replace it")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"{where}: the output directory {target.parent} does not exist")


def _partial_name(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def _remove_stale_partials(target: Path) -> None:
    """Partial files (and an events job's directory of parts) of this target left by jobs that were
    killed (their process is gone)."""
    import shutil

    for suffix in (".partial", PARTS_SUFFIX):
        for p in target.parent.glob(f".{glob.escape(target.name)}.*{suffix}"):
            pid = p.name[len(target.name) + 2:].split(".", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _publish(tmp: Path, target: Path, overwrite: bool) -> None:
    """The complete file onto its target: replaced when allowed, else linked to a
    name that must not exist (atomic: a concurrent job's output is never replaced)."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise JobFileError(f"the output {target} appeared while the job ran (another job?); it is kept, and this "
                         "job's output is discarded") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class _Output:
    """One output written to a temporary file beside its target, published when complete."""

    def __init__(self, target: Path, overwrite: bool):
        _remove_stale_partials(target)
        # A name only, not a file: the writer creates it at its first chunk,
        # once this output is registered for clean-up (a file reserved here
        # would outlive a SIGTERM that lands before the registration). The pid
        # in the name keeps jobs apart, the random part this job's outputs.
        name = f"{_partial_name(target)}{secrets.token_hex(8)}.partial"
        self.tmp, self.target, self.overwrite = target.parent / name, target, overwrite
        self.writer = _TableWriter(self.tmp, target.suffix)
        self.published = False

    def publish(self) -> None:
        self.writer.close()
        if not self.tmp.exists():  # no chunk at all: an empty table still gets its file
            raise ValueError("the input has no rows")
        _publish(self.tmp, self.target, self.overwrite)
        self.published = True

    def discard(self) -> None:
        try:
            self.writer.close()
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.tmp.unlink()
            if self.published and not self.overwrite:  # linked by this job: a sibling output failed
                with contextlib.suppress(FileNotFoundError):
                    self.target.unlink()


@contextmanager
def _atomic_outputs(targets: dict[str, tuple[Path, bool]]) -> Iterator[dict[str, _TableWriter]]:
    """Writers of a step's outputs (section -> (target, overwrite)), all published when the block
    completes; on any error or interruption it can see, none is left (a sibling linked first is removed)."""
    outs: dict[str, _Output] = {}
    try:
        for section, (target, overwrite) in targets.items():
            outs[section] = _Output(target, overwrite)
        yield {s: o.writer for s, o in outs.items()}
        for o in outs.values():
            o.publish()
    except BaseException:
        for o in outs.values():
            with contextlib.suppress(OSError):
                o.discard()
        raise


@contextmanager
def _atomic_output(target: Path, overwrite: bool = False) -> Iterator[_TableWriter]:
    """A writer on a temporary file beside ``target``, published only when the
    block completes; removed on any error or interruption it can see."""
    with _atomic_outputs({"output": (target, overwrite)}) as writers:
        yield writers["output"]


# -- model files --------------------------------------------------------------------
def _load_model(path: Path, classes: tuple[str, ...], where: str, models: dict | None):
    """The object a model file holds, refused by name unless of one of ``classes``.

    ``models`` maps a path to an object already loaded (the caller's seam:
    the same checks, no file read)."""
    import twinscore

    if models is not None and path in models:
        obj = models[path]
    else:
        load = getattr(twinscore, "load", None)
        if load is None:
            raise JobFileError(f"{where}: this twinscore {twinscore.__version__} cannot read model files "
                               "(twinscore.load is missing)")
        try:
            obj = load(path)
        except (ValueError, TypeError, KeyError, OSError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise ModelFileError(f"{where}: the model file {path.name} cannot be read: {message}") from None
    wanted = tuple(getattr(twinscore, c) for c in classes)
    if not isinstance(obj, wanted):
        raise JobFileError(f"{where}: the model file {path.name} holds a {type(obj).__name__}; this job needs a "
                           f"{' or '.join(classes)}")
    return obj


def _steps(job: dict) -> list[tuple[str, dict]]:
    """(where, job) of each step: one for a single job."""
    if "steps" not in job:
        return [(job["job"]["kind"], job)]
    return [(f"step {i} ({s['name']})", s) for i, s in enumerate(job["steps"], 1)]


_TREE_SUFFIXES = (".json", ".ubj", ".txt")   # XGBoost / LightGBM files; anything else is a model file


def _load_tree_model(path: Path, library: str | None, where: str, models: dict | None):
    """A tree_score model: an XGBoost or LightGBM file, or a saved TreeScorer."""
    from twinscore import TreeScorer

    if path.suffix not in _TREE_SUFFIXES or (models is not None and path in models):
        return _load_model(path, ("TreeScorer",), where, models)
    library = library or ("lightgbm" if path.suffix == ".txt" else "xgboost")
    try:
        return (TreeScorer.from_xgboost if library == "xgboost" else TreeScorer.from_lightgbm)(path)
    except (ValueError, TypeError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ModelFileError(f"{where}: the {library} model {path.name} cannot be read: {message}") from None


def _load_models(where: str, job: dict, models: dict | None) -> dict:
    from . import kinds

    kind = job["job"]["kind"]
    loaded = {}
    for (section, key), classes in _MODELS.get(kind, {}).items():
        if key in job.get(section, {}):
            loaded[(section, key)] = _load_model(job[section][key], classes, f"{where}: [{section}] {key}", models)
    if kind == "tree_score":
        loaded[("model", "path")] = _load_tree_model(job["model"]["path"], job["model"].get("library"),
                                                     f"{where}: [model] path", models)
    if kind == "lead_score" and job["rules"]["path"].suffix != ".toml":  # a saved LeadRules
        loaded[("rules", "path")] = _load_model(job["rules"]["path"], ("LeadRules",), f"{where}: [rules] path",
                                                models)
    kinds.check_models(kind, job, loaded, where)
    return loaded


# -- running --------------------------------------------------------------------------
def run_job(path: str | os.PathLike, *, threads: int | None = None, progress: bool | None = None,
            models: dict | None = None) -> JobReport | PipelineReport:
    """Runs the job file at ``path``; see the module docstring for its keys.

    ``progress``: per chunk of the chunked kinds, True a bar, False nothing,
    None (the default) a bar when stderr is a terminal and a log line per
    chunk otherwise. ``models`` maps a model file's path to an object already
    loaded (checked as the file would be)."""
    return run_loaded_job(load_job(path), threads=threads, progress=progress, models=models)


def _threads(n):
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"threads must be a positive integer, got {n!r}")
    return n


def run_loaded_job(job: dict[str, Any], *, threads: int | None = None, progress: bool | None = None,
                   models: dict | None = None) -> JobReport | PipelineReport:
    """Runs a job read by :func:`load_job` (``threads`` overrides its [job] threads; ``progress`` and
    ``models`` as in :func:`run_job`). Every model of every step is loaded before the first step runs."""
    _threads(threads)
    t0 = time.perf_counter()
    steps = _steps(job)
    loaded = [_load_models(where, step, models) for where, step in steps]
    reports = [_run_step(step, mods, threads, progress) for (_, step), mods in zip(steps, loaded)]
    if "steps" not in job:
        return reports[0]
    return PipelineReport(reports, time.perf_counter() - t0)


def _run_step(job: dict, models: dict, threads: int | None, show: bool | None) -> JobReport:
    from twinscore import threads as thread_scope

    from . import kinds

    kind = job["job"]["kind"]
    n = _threads(threads if threads is not None else job["job"].get("threads"))
    t0 = time.perf_counter()
    targets = {s: (job[s]["path"], job[s].get("overwrite", False)) for s in _OUTPUT_SECTIONS if s in job}
    with thread_scope(n), _atomic_outputs(targets) as writers:
        ctx = Context(job, writers, show, models)
        rows_in = kinds.RUNNERS[kind](ctx)
    return JobReport(kind, rows_in, writers["output"].rows, job["output"]["path"], time.perf_counter() - t0,
                     name=job.get("name"), notes=ctx.notes)


def dry_run(path: str | os.PathLike, *, models: dict | None = None) -> list[str]:
    """Checks a job file as ``twinscore run --dry-run`` does, computing nothing: its keys, every model
    file (loaded, its class checked) and the columns every input must hold (read from the Parquet
    schema or the CSV header). Returns one line per step; raises as the job would."""
    return check_loaded_job(load_job(path), models=models)


def check_loaded_job(job: dict[str, Any], *, models: dict | None = None) -> list[str]:
    """:func:`dry_run` of a job read by :func:`load_job`."""
    from . import kinds

    made: dict[Path, str] = {}
    lines = []
    for where, step in _steps(job):
        loaded = _load_models(where, step, models)
        checked = []
        for section, columns in kinds.needed_columns(step, loaded).items():
            source = step[section]["path"]
            if source in made:
                checked.append(f"[{section}] {source.name}: made by {made[source]}")
                continue
            _require(source, f"{where}: [{section}]", columns)
            checked.append(f"[{section}] {source.name}: {len(columns)} columns present" if columns is not None
                           else f"[{section}] {source.name}: readable")
        for s in _OUTPUT_SECTIONS:
            if s in step:
                made[step[s]["path"]] = where
        model_text = ", ".join(f"{type(m).__name__} from {step[s][k].name}" for (s, k), m in loaded.items())
        lines.append(f"{where}: ok — " + "; ".join(checked + ([model_text] if model_text else [])
                                                    + [f"-> {step['output']['path']}"]))
    return lines
