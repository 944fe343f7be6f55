"""Rule-based lead scoring, as HubSpot, Marketo or Pardot users write it.

Rules are data — a dict or a TOML file — with two kinds of rules:

* **fit** (explicit) rules on a contact's attributes::

      {"name": "target age", "column": "age_band", "in": ["25-34", "35-44"], "points": 10}
      {"name": "age points", "column": "age_band", "points_by_value": {"25-34": 10, "35-44": 6}}
      {"name": "high income", "column": "income", "min": 40000, "points": 5}   # min <= x < max

* **behaviour** (implicit) rules on events, points per event::

      {"name": "pricing", "event": "page_view", "category": ["electronics"], "points": 10}
      {"name": "opened", "event": "email_open", "points": 2, "cap": 20}
      {"name": "unsubscribed", "event": "unsubscribe", "points": -50, "half_life_days": null}

Each behaviour point decays with the rule's ``half_life_days`` (default: the
top-level ``half_life_days``; ``null``/absent at both levels: no decay), and a
rule's sum is capped at ``cap`` points (in absolute value). The fit score sets
the grade (``grades = {A = 30, B = 15, C = 5}``: A when fit >= 30...,
``lowest_grade`` — "D" by default — otherwise); the total (fit + behaviour)
sets the MQL flag (``mql_threshold``). Everything is evaluated in one C++ pass.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import _core, _frames
from ._model_file import ModelFileMixin, register
from ._config import resolve_threads
from .events import engine_bar, event_log

__all__ = ["LeadRules", "score_leads"]

_OUTPUT_COLUMNS = ["fit_score", "behaviour_score", "score", "grade", "mql"]
_TOP_KEYS = {"fit", "behaviour", "half_life_days", "grades", "lowest_grade", "mql_threshold"}
_FIT_KEYS = {"name", "column", "in", "points", "points_by_value", "min", "max"}
_BEH_KEYS = {"name", "event", "category", "points", "half_life_days", "cap"}

# An event's age in days at now, by SQL dialect (the one thing they spell differently).
_AGE_DAYS = {
    "duckdb": "(epoch_us(CAST({now} AS TIMESTAMP)) - epoch_us({ts})) / 86400000000.0",
    "sqlite": "(julianday({now}) - julianday({ts}))",
    "postgres": "EXTRACT(EPOCH FROM (CAST({now} AS TIMESTAMP) - {ts})) / 86400.0",
}


_MAX_RULES_BYTES = 16 << 20  # a rules file is a few kB; refused before it is read beyond this


def _finite_float(value) -> bool:
    """A finite float (an integer of 400 digits is not: float() overflows)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _number(value, where: str, field_: str, *, positive=False, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not _finite_float(value):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:60] + "..."
        raise ValueError(f"{where}: field '{field_}' must be a finite number, got {shown}")
    if positive and value <= 0:
        raise ValueError(f"{where}: field '{field_}' must be > 0, got {value!r}")
    return float(value)


@register
@dataclass(frozen=True)
class FitRule:
    name: str
    column: str
    points_by_value: dict | None = None   # categorical rule
    min: float = -math.inf                 # numeric rule: min <= x < max
    max: float = math.inf
    points: float = 0.0


@register
@dataclass(frozen=True)
class BehaviourRule:
    name: str
    event: str
    categories: tuple | None
    points: float
    half_life_days: float | None
    cap: float | None


@dataclass
class LeadRules(ModelFileMixin):
    """Validated lead-scoring rules; build with :meth:`from_dict` or :meth:`from_toml`."""

    fit: list[FitRule] = field(default_factory=list)
    behaviour: list[BehaviourRule] = field(default_factory=list)
    grades: dict[str, float] = field(default_factory=dict)
    lowest_grade: str = "D"
    mql_threshold: float = 0.0

    @property
    def rule_names(self) -> list[str]:
        """The names of the fit rules, then of the behaviour rules, in order."""
        return [r.name for r in self.fit] + [r.name for r in self.behaviour]

    # -- SQL -------------------------------------------------------------
    def to_sql(self, contacts: str, events: str, *, now, dialect: str = "duckdb", contact: str = "contact_id",
               timestamp: str = "timestamp", type: str = "type", category: str = "category") -> str:
        """A SELECT statement that scores the contacts of a database as :func:`score_leads` does.

        The fit rules become one ``CASE`` each over the contacts table; the
        behaviour rules one decayed sum each over the events table, grouped
        by contact and capped; then the grade and the MQL flag. Events after
        ``now`` are left out (as ``score_leads(as_of=now)``). Values and
        categories compare as text, as the rules name them.

        Parameters
        ----------
        contacts, events : str
            The tables (or ``schema.table``): the contacts with the fit
            rules' columns and ``contact``; the events with ``contact``,
            ``timestamp``, ``type`` and (for rules that name categories)
            ``category``.
        now : the reference date of the decay.
        dialect : "duckdb", "sqlite" (3.35 or later) or "postgres": only the
            age of an event in days is spelt differently.

        Returns
        -------
        str
            The statement; its columns: the contact id, ``fit_score``,
            ``behaviour_score``, ``score``, ``grade``, ``mql`` (1/0), then
            each rule's points under its name.

        Raises
        ------
        ValueError
            An unknown dialect, or an empty name.
        """
        from . import _frames, _sql  # the date rule and the SQL spelling

        if dialect not in _AGE_DAYS:
            raise ValueError(f"dialect must be one of {sorted(_AGE_DAYS)}, got {dialect!r}")
        when = _frames.timestamp(now, "now").strftime("%Y-%m-%d %H:%M:%S.%f")
        e = {k: "e." + _sql.ident(v) for k, v in (("contact", contact), ("ts", timestamp), ("type", type),
                                                   ("category", category))}
        age = _AGE_DAYS[dialect].format(now=_sql.text(when), ts=e["ts"])
        sums = []
        for k, r in enumerate(self.behaviour):
            cond = f"{_sql.as_text(e['type'])} = {_sql.text(r.event)}"
            if r.categories is not None:
                cond += f" AND {_sql.as_text(e['category'])} IN ({', '.join(_sql.text(c) for c in r.categories)})"
            weight = "1" if r.half_life_days is None else f"POWER(0.5, ({age}) / {_sql.number(r.half_life_days)})"
            sums.append(f"SUM(CASE WHEN {cond} THEN {_sql.number(r.points)} * {weight} ELSE 0 END) AS b{k}")
        fit = [(r.name, self._fit_sql(r, "c." + _sql.ident(r.column), _sql)) for r in self.fit]
        beh = []
        for k, r in enumerate(self.behaviour):
            raw = f"COALESCE(b.b{k}, 0)"
            beh.append((r.name, raw if r.cap is None else
                        f"CASE WHEN {raw} > {_sql.number(r.cap)} THEN {_sql.number(r.cap)} "
                        f"WHEN {raw} < {_sql.number(-r.cap)} THEN {_sql.number(-r.cap)} ELSE {raw} END"))
        cid = _sql.ident(contact)
        inner = [f"c.{cid} AS {cid}"] + [f"{x} AS {_sql.ident(n)}" for n, x in fit + beh]
        total = lambda parts: " + ".join(["0"] + [_sql.ident(n) for n, _ in parts])  # noqa: E731
        grade = _sql.case([(f"{total(fit)} >= {_sql.number(v)}", _sql.text(g)) for g, v in self.grades.items()],
                          _sql.text(self.lowest_grade))
        outer = [cid, f"{total(fit)} AS {_sql.ident('fit_score')}", f"{total(beh)} AS {_sql.ident('behaviour_score')}",
                 f"{total(fit)} + {total(beh)} AS {_sql.ident('score')}", f"{grade} AS {_sql.ident('grade')}",
                 f"CASE WHEN {total(fit)} + {total(beh)} >= {_sql.number(self.mql_threshold)} THEN 1 ELSE 0 END "
                 f"AS {_sql.ident('mql')}"] + [_sql.ident(n) for n in self.rule_names]
        behaviour_table = (f"  LEFT JOIN (\n    SELECT {e['contact']} AS cid, {', '.join(sums)}\n"
                           f"    FROM {_sql.table_ref(events)} AS e\n    WHERE ({age}) >= 0\n"
                           f"    GROUP BY {e['contact']}\n  ) AS b ON b.cid = c.{cid}\n") if sums else ""
        return (f"SELECT {', '.join(outer)}\nFROM (\n  SELECT {', '.join(inner)}\n"
                f"  FROM {_sql.table_ref(contacts)} AS c\n{behaviour_table}) AS scored")

    @staticmethod
    def _fit_sql(r: "FitRule", col: str, _sql) -> str:
        if r.points_by_value is not None:
            return _sql.case([(f"{_sql.as_text(col)} = {_sql.text(v)}", _sql.number(p))
                              for v, p in r.points_by_value.items() if p != 0], "0")
        x = _sql.as_number(col)
        bounds = ([f"{x} >= {_sql.number(r.min)}"] if math.isfinite(r.min) else []) + \
            ([f"{x} < {_sql.number(r.max)}"] if math.isfinite(r.max) else [])
        return _sql.case([(" AND ".join(bounds) if bounds else f"{col} IS NOT NULL", _sql.number(r.points))], "0")

    # -- parsing ---------------------------------------------------------
    @classmethod
    def from_toml(cls, source: str | os.PathLike) -> "LeadRules":
        """From a TOML file path, or TOML text (a string holding a newline)."""
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10: the same parser from PyPI
            import tomli as tomllib

        try:
            if isinstance(source, str) and "\n" in source:
                data = tomllib.loads(source)
            else:  # a regular file of a sane size: a FIFO or /dev/zero would never end
                raw = _frames.read_text_file(source, "lead rules", _MAX_RULES_BYTES)
                try:
                    data = tomllib.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise ValueError(f"lead rules: not valid TOML (not UTF-8: {exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"lead rules: not valid TOML ({exc})") from None
        except RecursionError:  # arrays nested deeper than the parser recurses
            raise ValueError("lead rules: not valid TOML (nested too deeply)") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LeadRules":
        """Rules from a mapping (the structure of the TOML file), every key and value checked;
        ``ValueError`` / ``TypeError`` naming the rule and field that is wrong."""
        if isinstance(d, LeadRules):
            return d
        if not isinstance(d, Mapping):
            raise TypeError(f"lead rules must be a mapping (dict or TOML), got {type(d).__name__}")
        extra = set(d) - _TOP_KEYS
        if extra:
            raise ValueError(f"lead rules: unknown fields {sorted(extra)} (allowed: {sorted(_TOP_KEYS)})")
        default_hl = _number(d.get("half_life_days"), "lead rules", "half_life_days", positive=True, allow_none=True)
        fit = [cls._fit_rule(r, i) for i, r in enumerate(_rule_list(d, "fit"))]
        beh = [cls._behaviour_rule(r, i, default_hl) for i, r in enumerate(_rule_list(d, "behaviour"))]
        names = [r.name for r in fit] + [r.name for r in beh]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"lead rules: rule names must be unique, repeated: {dup}")
        taken = sorted(set(names) & set(_OUTPUT_COLUMNS))
        if taken:  # each rule's points become a column beside these
            raise ValueError(f"lead rules: rule names {taken} are taken by the output columns {_OUTPUT_COLUMNS}")
        grades = d.get("grades", {})
        if not isinstance(grades, Mapping):
            raise ValueError("lead rules: field 'grades' must map grade -> minimum fit score, e.g. {A = 30, B = 15}")
        grades = {str(k): _number(v, f"grade '{k}'", "grades") for k, v in grades.items()}
        edges = list(grades.values())
        if any(b >= a for a, b in zip(edges, edges[1:])):
            raise ValueError(f"lead rules: field 'grades' must list decreasing thresholds, got {grades}")
        lowest = str(d.get("lowest_grade", "D"))
        if lowest in grades:
            raise ValueError(f"lead rules: lowest_grade '{lowest}' is also in grades")
        mql = _number(d.get("mql_threshold", 0.0), "lead rules", "mql_threshold")
        return cls(fit, beh, grades, lowest, mql)

    @staticmethod
    def _fit_rule(r, i) -> FitRule:
        where = _where(r, "fit", i)
        _check_keys(r, _FIT_KEYS, where)
        name = str(r.get("name", f"fit[{i}]"))
        column = r.get("column")
        if not isinstance(column, str):
            raise ValueError(f"{where}: field 'column' must name an attribute column, got {column!r}")
        kinds = [k for k in ("in", "points_by_value") if k in r] + (["min/max"] if "min" in r or "max" in r else [])
        if len(kinds) != 1:
            raise ValueError(f"{where}: give exactly one of 'in', 'points_by_value' or 'min'/'max', got {kinds}")
        if "points_by_value" in r:
            pbv = r["points_by_value"]
            if not isinstance(pbv, Mapping) or not pbv:
                raise ValueError(f"{where}: field 'points_by_value' must map values to points")
            pbv = {str(k): _number(v, where, f"points_by_value.{k}") for k, v in pbv.items()}
            if "points" in r:
                raise ValueError(f"{where}: field 'points' is not used with 'points_by_value'")
            return FitRule(name, column, points_by_value=pbv)
        points = _number(r.get("points"), where, "points")
        if "in" in r:
            values = r["in"]
            if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values:
                raise ValueError(f"{where}: field 'in' must be a non-empty list of values, got {values!r}")
            return FitRule(name, column, points_by_value={str(v): points for v in values})
        lo = _number(r.get("min"), where, "min") if r.get("min") is not None else -math.inf
        hi = _number(r.get("max"), where, "max") if r.get("max") is not None else math.inf
        if not lo < hi:
            raise ValueError(f"{where}: field 'min' ({lo}) must be below 'max' ({hi})")
        return FitRule(name, column, min=lo, max=hi, points=points)

    @staticmethod
    def _behaviour_rule(r, i, default_hl) -> BehaviourRule:
        where = _where(r, "behaviour", i)
        _check_keys(r, _BEH_KEYS, where)
        name = str(r.get("name", f"behaviour[{i}]"))
        event = r.get("event")
        if not isinstance(event, str):
            raise ValueError(f"{where}: field 'event' must name an event type, got {event!r}")
        cats = r.get("category")
        if cats is not None:
            cats = (cats,) if isinstance(cats, str) else cats
            if not isinstance(cats, (list, tuple)) or not cats:
                raise ValueError(f"{where}: field 'category' must be a category or a non-empty list of them")
            cats = tuple(str(c) for c in cats)
        points = _number(r.get("points"), where, "points")
        hl = _number(r["half_life_days"], where, "half_life_days", positive=True, allow_none=True) \
            if "half_life_days" in r else default_hl
        cap = _number(r.get("cap"), where, "cap", allow_none=True)
        if cap is not None and cap < 0:
            raise ValueError(f"{where}: field 'cap' must be >= 0, got {cap}")
        return BehaviourRule(name, event, cats, points, hl, cap)


def _rule_list(d, key):
    rules = d.get(key, [])
    if not isinstance(rules, (list, tuple)):
        raise ValueError(f"lead rules: field '{key}' must be a list of rules, got {type(rules).__name__}")
    return rules


def _where(r, kind, i) -> str:
    if not isinstance(r, Mapping):
        raise ValueError(f"{kind} rule {i}: must be a mapping of fields, got {type(r).__name__}")
    return f"{kind} rule '{r['name']}'" if "name" in r else f"{kind} rule {i}"


def _check_keys(r, allowed, where):
    extra = set(r) - allowed
    if extra:
        raise ValueError(f"{where}: unknown fields {sorted(extra)} (allowed: {sorted(allowed)})")


# ---------------------------------------------------------------------------
# Evaluation


def _categorical_rule(rule: FitRule, col: pd.Series):
    cat = col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("string").astype("category")
    cat = cat.array  # the Categorical itself: no accessor and no Series per call
    names = [str(c) for c in cat.categories]
    absent = [v for v in rule.points_by_value if v not in names]
    if absent:
        raise ValueError(f"fit rule '{rule.name}': column '{rule.column}' never takes the values {absent} "
                         f"(it holds {names[:10]}{'...' if len(names) > 10 else ''})")
    points = [rule.points_by_value.get(n, 0.0) for n in names]
    return (rule.name, np.ascontiguousarray(cat.codes, dtype=np.int32), points)


def _numeric_rule(rule: FitRule, col: pd.Series):
    if not (pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype)):
        raise TypeError(f"fit rule '{rule.name}': column '{rule.column}' must be numeric for min/max, got {col.dtype}")
    x = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(x).any():
        raise ValueError(f"fit rule '{rule.name}': column '{rule.column}' holds an infinite value")
    return (rule.name, rule.column, x, rule.min, rule.max, rule.points)


def score_leads(contacts: pd.DataFrame, events: pd.DataFrame, rules, *, now=None, as_of=None,
                contact: str = "contact_id",
                timestamp: str = "timestamp", type: str = "type", category: str | None = "category",
                unknown: str = "raise", types: Sequence[str] | None = None,
                categories: Sequence[str] | None = None, progress: bool | None = False) -> pd.DataFrame:
    """Lead scores of each contact.

    ``contacts`` holds the contact id column and the attribute columns the fit
    rules name; ``events`` the event log (as :func:`twinscore.events.aggregate`);
    ``rules`` a dict, a TOML path or a :class:`LeadRules`.

    ``now`` is the reference date (an event after it is an error); or
    ``as_of``, the date of a snapshot: scores as they stood then, later
    events ignored and counted in ``result.attrs["later_events"]``.
    ``types`` and ``categories`` fix the event types and categories (as
    in :func:`twinscore.events.aggregate`), so a behaviour rule may name a
    type the log of the day does not hold (it scores 0).

    Returns a DataFrame indexed by contact id: ``fit_score``,
    ``behaviour_score``, ``score`` (their sum), ``grade`` (categorical, best
    first), ``mql`` (bool), then the points of each rule.

    ``progress``: bars over the events, as they are grouped by contact, then
    those of the contacts scored (True; None: when stderr is a terminal;
    False, the default: none). Ctrl-C stops the scoring in any case
    (KeyboardInterrupt).
    """
    if isinstance(rules, (str, os.PathLike)):
        rules = LeadRules.from_toml(rules)
    rules = LeadRules.from_dict(rules)
    if _frames.is_frame(contacts):  # polars and Arrow as pandas, the one way in
        contacts = _frames.as_pandas(contacts, "contacts")
    if not isinstance(contacts, pd.DataFrame):
        raise TypeError(f"contacts must be a pandas DataFrame, got {contacts.__class__.__name__}")
    cat_rules, num_rules = [], []
    for r in rules.fit:
        if r.column not in contacts:
            raise KeyError(f"fit rule '{r.name}': column '{r.column}' is not in contacts "
                           f"(columns: {list(contacts.columns)})")
        if r.points_by_value is not None:
            cat_rules.append(_categorical_rule(r, contacts[r.column]))
        else:
            num_rules.append(_numeric_rule(r, contacts[r.column]))
    log = event_log(events, contacts, now=now, as_of=as_of, contact=contact, timestamp=timestamp, type=type,
                    category=category, unknown=unknown, types=types, categories=categories)
    beh = [_behaviour_args(r, log) for r in rules.behaviour]
    with engine_bar(progress) as bar:
        out = _core.score_leads(cat_rules, num_rules, beh, list(rules.grades.values()), rules.mql_threshold,
                                **log.core_args(), n_rows=len(log.contact_ids), now_ns=log.now_ns,
                                n_threads=resolve_threads(), progress=bar.report if bar.enabled else None)
    # Points columns follow the engine's order: categorical, numeric, behaviour;
    # the frame lists them in the rules' order. One frame built from all its
    # columns at once (names are unique and apart from the output columns:
    # LeadRules checks it), not two frames and a concat (~1 ms for one contact).
    names = [c[0] for c in cat_rules] + [c[0] for c in num_rules] + [r.name for r in rules.behaviour]
    at = {name: j for j, name in enumerate(names)}
    points = out["rule_points"]
    grade = pd.Categorical.from_codes(out["grade"].astype(np.int64), dtype=_grade_dtype(rules))
    df = pd.DataFrame({
        "fit_score": out["fit"],
        "behaviour_score": out["behaviour"],
        "score": out["total"],
        "grade": grade,
        "mql": out["mql"].astype(bool),
        **{name: points[:, at[name]] for name in rules.rule_names},
    }, index=pd.Index(log.contact_ids, name=contact), copy=False)
    df.attrs["unknown_events"] = log.unknown
    df.attrs["later_events"] = log.later
    return df


_GRADE_DTYPES: dict[tuple, pd.CategoricalDtype] = {}


def _grade_dtype(rules: LeadRules) -> pd.CategoricalDtype:
    """The ordered categorical dtype of the grades (best first), made once per
    list of grades: building it validates its categories (~150 µs a call)."""
    labels = tuple(rules.grades) + (rules.lowest_grade,)
    dtype = _GRADE_DTYPES.get(labels)
    if dtype is None:
        dtype = _GRADE_DTYPES.setdefault(labels, pd.CategoricalDtype(list(labels), ordered=True))
    return dtype


def _behaviour_args(r: BehaviourRule, log):
    where = f"behaviour rule '{r.name}'"
    if r.event not in log.type_names:
        raise ValueError(f"{where}: field 'event': event type '{r.event}' is not in the events "
                         f"(types: {log.type_names})")
    mask = []
    if r.categories is not None:
        if not log.category_names:
            raise ValueError(f"{where}: field 'category' needs an event category column")
        absent = [c for c in r.categories if c not in log.category_names]
        if absent:
            raise ValueError(f"{where}: field 'category': {absent} not among the event categories "
                             f"{log.category_names[:10]}")
        mask = [1 if c in r.categories else 0 for c in log.category_names]
    hl = math.inf if r.half_life_days is None else r.half_life_days
    cap = math.inf if r.cap is None else r.cap
    return (r.name, log.type_names.index(r.event), mask, r.points, hl, cap)
