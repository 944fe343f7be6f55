"""Discriminating criteria: what sets a target group (the best clients, the
converted prospects) apart, and a points scorecard built on it.

:func:`discriminating_criteria` bins every candidate column — numeric ones in
the C++ engine: by value when a column has at most ``n_bins`` distinct values
(0/1 flags, booleans, small codes), otherwise each value held by more than
one quantile bin's share of the rows (a "999 = never contacted" code, a
dominant 0) in a bin of its own and the other values by quantiles (as
``pandas.qcut(rest, bins left, duplicates="drop")``), missing values in a bin
of their own; categorical ones by category; each member of a category-set
column as "has it / has not" — counts the target in each bin in one parallel
C++ pass, and ranks the columns by information value (IV), with each bin's
weight of evidence (WoE), share and lift. The target is any two-valued column
(booleans, 0/1, "yes"/"no"); ``positive=`` names the target group's value
when it cannot be read from the values.

    WoE_b = ln( (pos_b + a) / (P + a B)  /  ((neg_b + a) / (N + a B)) )
    IV    = sum_b ( (pos_b + a) / (P + a B) - (neg_b + a) / (N + a B) ) WoE_b

with P, N the target and non-target rows, B the non-empty bins of the column
and ``a = smoothing`` (0.5: a bin without targets gets a finite WoE). The
usual reading of IV: < 0.02 useless, 0.02–0.1 weak, 0.1–0.3 medium, > 0.3
strong.

:meth:`Criteria.scorecard` turns the top criteria into points: each bin is
worth ``round(pdo / ln 2 * WoE)`` points, and a contact's score is
``base + sum of its points`` — the naive-Bayes log-odds of belonging to the
target group, scaled so that ``pdo`` points double the odds. Applied to
prospects, it ranks them by how much they resemble the target group.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa

from . import _core
from ._model_file import ModelFileMixin
from ._config import resolve_threads
from ._validation import check_float, check_int
from .table import ContactTable

__all__ = ["Criteria", "Scorecard", "discriminating_criteria", "lift_at"]

MISSING_LABEL = "(missing)"
OTHER_LABEL = "(other)"


# Target values that read as the target group / the rest when positive= is not
# given (case and surrounding spaces ignored for text).
_YES = frozenset({"true", "yes", "1"})
_NO = frozenset({"false", "no", "0"})


def _target_series(target, data, n: int) -> pd.Series:
    """The target as a Series of n values, from a column name, an array, a Series or an Arrow array."""
    if isinstance(target, str):
        if not isinstance(data, pd.DataFrame):
            raise TypeError("target given by name needs data as a DataFrame")
        if target not in data.columns:
            raise KeyError(f"target column '{target}' is not in data")
        target = data[target]
    if isinstance(target, (pa.Array, pa.ChunkedArray)):
        target = target.to_pandas()
    if isinstance(target, pd.Index):
        target = target.to_series()
    if not isinstance(target, pd.Series):
        t = np.asarray(target)
        if t.ndim != 1:
            raise ValueError(f"target must be 1-D with {n} values, got shape {t.shape}")
        target = pd.Series(t)
    if len(target) != n:
        raise ValueError(f"target must be 1-D with {n} values, got shape ({len(target)},)")
    return target


def _plain(v):
    """A numpy scalar as the Python value it holds (for messages and `positive`)."""
    return v.item() if isinstance(v, np.generic) else v


def _classes(s: pd.Series) -> tuple[np.ndarray, list]:
    """(code of each row, the distinct values): at most two, none missing."""
    missing = int(s.isna().sum())
    if missing:
        raise ValueError(f"target holds {missing} missing values")
    try:
        codes, classes = pd.factorize(s, sort=True)
    except TypeError:  # values of mixed types do not sort
        codes, classes = pd.factorize(s)
    classes = [_plain(c) for c in classes]
    if len(classes) > 2:
        shown = ", ".join(repr(c) for c in classes[:5]) + (", ..." if len(classes) > 5 else "")
        raise ValueError(f"target must hold two values (the target group and the rest), found "
                         f"{len(classes)}: {shown}")
    return codes, classes


def _reads_as(v) -> bool | None:
    """True / False when a target value reads as yes / no, None when it does not."""
    if isinstance(v, bool):
        return v
    if isinstance(v, numbers.Real):
        return {1: True, 0: False}.get(v)
    if isinstance(v, str):
        w = v.strip().lower()
        return True if w in _YES else False if w in _NO else None
    return None


def _infer_positive(classes: list):
    """The class that reads as "yes" (None when the only class reads as "no")."""
    reads = [_reads_as(c) for c in classes]
    if None in reads or len(set(reads)) != len(reads):
        found = " and ".join(repr(c) for c in classes)
        raise ValueError(f"cannot tell which target value marks the target group (found {found}): "
                         f"name it with positive=, e.g. positive={classes[-1]!r}")
    return classes[reads.index(True)] if True in reads else None


def _equals(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _target_vector(target, data, n: int, positive=None) -> tuple[np.ndarray, object]:
    """(0/1 uint8 target, the positive class as the target holds it).

    The target holds two values (booleans, 0/1, two texts, a categorical);
    rows equal to ``positive`` (inferred from yes/no values when None) are
    the target group, and both groups must have rows.
    """
    codes, classes = _classes(_target_series(target, data, n))
    positive = _infer_positive(classes) if positive is None else _plain(positive)
    match = [i for i, c in enumerate(classes) if positive is not None and _equals(c, positive)]
    if not match and len(classes) == 2:
        raise ValueError(f"positive={positive!r} is not a value of the target (values: "
                         f"{classes[0]!r} and {classes[1]!r})")
    if not match:
        raise ValueError(f"target has no positives: the target group is empty (the target holds only "
                         f"{classes[0]!r})")
    if len(classes) == 1:
        raise ValueError(f"target has no negatives: every row is in the target group ({classes[0]!r})")
    return (codes == match[0]).astype(np.uint8), classes[match[0]]


def _table(data, columns) -> ContactTable:
    if isinstance(data, ContactTable):
        if columns is not None:
            missing = [c for c in columns if c not in data.schema]
            if missing:
                raise KeyError(f"columns {missing} are not in the table")
        return data
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame or a ContactTable, got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in data")
    return ContactTable.from_pandas(data[list(columns)])


def _woe(pos: np.ndarray, neg: np.ndarray, P: int, N: int, a: float):
    """(woe, iv parts) of the non-empty bins given by pos/neg counts."""
    B = len(pos)
    dp = (pos + a) / (P + a * B)
    dn = (neg + a) / (N + a * B)
    woe = np.log(dp / dn)
    return woe, (dp - dn) * woe


def _interval_labels(edges: np.ndarray) -> list[str]:
    if len(edges) == 0:
        return []
    if len(edges) == 1:
        return [f"[{edges[0]:.6g}]"]
    labels = [f"({lo:.6g}, {hi:.6g}]" for lo, hi in zip(edges[:-1], edges[1:])]
    labels[0] = "[" + labels[0][1:]
    return labels


def _value_label(v) -> str:
    """A value as it reads: "0", "999", "0.2" (a float32 value in float32 digits)."""
    s = str(v)
    return s[:-2] if s.endswith(".0") else s


def _binning(crit) -> tuple[list, list, bool]:
    """The engine's (values, edges, float32) of a numeric criterion (a summary row)."""
    values = np.asarray(crit.values)
    return values.astype(np.float64).tolist(), np.asarray(crit.edges, dtype=np.float64).tolist(), \
        values.dtype == np.float32


def _n_codes(values, edges) -> int:
    """Bin codes of a numeric binning: values, intervals, other, missing (criteria.h)."""
    return len(values) + (len(edges) - 1 if len(edges) >= 2 else len(edges)) + 2


@dataclass
class Criteria(ModelFileMixin):
    """The ranked criteria.

    Attributes
    ----------
    summary : DataFrame
        One row per criterion, highest IV first: criterion, column, kind
        ("numeric", "categorical", "set member"), member_code, iv, bins (the
        non-empty ones), values and edges (numeric: the values with a bin of
        their own, in the column's precision, and the quantile edges of the
        others), strength.
    bins : DataFrame
        One row per non-empty bin of each criterion, numeric bins in value
        order: criterion, column, code, bin (label: "0", "999", "(2, 5]",
        "(missing)"), lower, upper, rows, targets, share, target_share,
        rest_share, rate, lift, woe, iv.
    n, n_target : int
        The rows and the target rows.
    positive : object
        The target value that marks the target group (True, 1, "yes", ...).
    skipped : list of str
        Candidate columns of no role the criteria use (timestamps).
    """

    summary: pd.DataFrame
    bins: pd.DataFrame
    n: int
    n_target: int
    schema: object = field(repr=False, default=None)
    smoothing: float = 0.5
    positive: object = True
    skipped: list = field(default_factory=list)

    def __repr__(self) -> str:
        top = ", ".join(f"{r.criterion} {r.iv:.3f}" for r in self.summary.head(5).itertuples())
        return (f"Criteria({len(self.summary)} criteria over {self.n:,} rows, {self.n_target:,} targets "
                f"(positive = {self.positive!r}); top IV: {top})")

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.criteria(self)

    def scorecard(self, top: int = 5, *, min_iv: float = 0.02, pdo: float = 20.0, base: float = 500.0) -> "Scorecard":
        """Points scorecard of the ``top`` criteria with IV >= ``min_iv``.

        Parameters
        ----------
        top : int
            How many criteria, best first (>= 1).
        min_iv : float
            The least information value a criterion needs (>= 0).
        pdo : float
            Points that double the odds (> 0): a bin is worth
            ``round(pdo / ln 2 * WoE)`` points.
        base : float
            Points of a contact at the prior odds of the target group.

        Returns
        -------
        Scorecard

        Raises
        ------
        ValueError
            When no criterion reaches ``min_iv``, or an argument is out of range.
        """
        top = check_int(top, "top", min_value=1)
        min_iv = check_float(min_iv, "min_iv", min_value=0.0)
        pdo = check_float(pdo, "pdo", min_value=0.0, strict_min=True)
        base = check_float(base, "base")
        chosen = self.summary[self.summary["iv"] >= min_iv].head(top)
        if chosen.empty:
            raise ValueError(f"no criterion has an information value >= {min_iv}")
        factor = pdo / math.log(2.0)
        bins = self.bins[self.bins["criterion"].isin(chosen["criterion"])].copy()
        bins["points"] = np.round(factor * bins["woe"]).astype(np.int64)
        prior = math.log(self.n_target / (self.n - self.n_target))
        return Scorecard(criteria=chosen.reset_index(drop=True), points=bins.reset_index(drop=True),
                         base=float(round(base + factor * prior)), schema=self.schema)


@dataclass
class Scorecard(ModelFileMixin):
    """Points per bin of the chosen criteria; ``apply`` scores new contacts.

    New data falls in the bins learnt at fit: a numeric value with a bin of
    its own in that bin, other values in the quantile interval that holds
    them (values beyond the ends in the end intervals), missing values in the
    missing bin. A value the training data never had — a new category, or a
    new value of a numeric column binned by value — falls in the "(other)"
    bin; it and any bin that was empty in training score 0 points for that
    criterion (no evidence either way).
    """

    criteria: pd.DataFrame
    points: pd.DataFrame
    base: float
    schema: object = field(repr=False, default=None)

    def __repr__(self) -> str:
        return (f"Scorecard({len(self.criteria)} criteria: {', '.join(self.criteria['criterion'])}; "
                f"base {self.base:g}, points {int(self.points['points'].min())} to {int(self.points['points'].max())})")

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.scorecard(self)

    def apply(self, data) -> np.ndarray:
        """Score the rows of new data.

        Parameters
        ----------
        data : DataFrame or ContactTable
            Holds the criteria's columns (others are ignored).

        Returns
        -------
        ndarray of float64
            ``base`` plus each criterion's points, one per row.

        Raises
        ------
        KeyError
            When a criterion's column is not in ``data``.
        TypeError
            When ``data`` is neither a DataFrame nor a ContactTable.
        """
        # The criteria and points tables read column by column, once: their
        # rows one by one (itertuples, filters) cost more than scoring a row.
        fields = ("criterion", "column", "kind", "member_code", "values", "edges")
        crits = [SimpleNamespace(**dict(zip(fields, r)))
                 for r in zip(*(self.criteria[f].to_list() for f in fields))]
        cols = sorted({c.column for c in crits})
        if isinstance(data, pd.DataFrame):
            missing = [c for c in cols if c not in data.columns]
            if missing:
                raise KeyError(f"columns {missing} are not in data")
            sub = type(self.schema)([self.schema[c] for c in cols])
            # The table reads the criteria's columns only (no copy of the frame's).
            table = sub.apply(data if data.columns.is_unique else data[cols])
        elif isinstance(data, ContactTable):
            table = data
        else:
            raise TypeError(f"data must be a pandas DataFrame or a ContactTable, got {type(data).__name__}")
        score = np.full(len(table), self.base, dtype=np.float64)
        owner = self.points["criterion"].to_numpy()
        codes = self.points["code"].to_numpy()
        points = self.points["points"].to_numpy(dtype=np.float64)
        for crit in crits:
            mine = owner == crit.criterion
            score += self._points_of(table, crit, codes[mine], points[mine])
        return score

    def to_sql(self, table: str, *, id: str | None = None, points: bool = True) -> str:
        """A SELECT statement that scores the rows of a database table as :meth:`apply` does.

        One ``CASE`` per criterion gives its points; the score is ``base`` plus
        their sum. Runs in DuckDB, SQLite, PostgreSQL and most warehouses:
        missing values are SQL NULLs, categories are compared as text
        (``CAST(column AS VARCHAR)``), and numeric bins learnt on float32 data
        compare with the bounds of float32's rounding, so that the database
        bins each value as the engine does.

        Parameters
        ----------
        table : str
            The table (or ``schema.table``) holding the criteria's columns.
        id : str, optional
            A column to carry first (the contact id).
        points : bool
            Also return each criterion's points as a column named
            ``points: <criterion>`` (the reason codes: the lowest points are
            what holds a contact back).

        Returns
        -------
        str
            The statement; its columns: ``id`` (when given), ``score``, then
            the points columns.

        Raises
        ------
        ValueError
            A category-set criterion (no column of a table holds a set: store
            each member as a 0/1 column and fit on those), or an empty name.
        """
        from . import _sql  # the SQL spelling of the bins

        exprs = []
        for crit in self.criteria.itertuples():
            pts = self.points[self.points["criterion"] == crit.criterion]
            exprs.append((crit.criterion, self._sql_points(crit, pts, _sql)))
        inner = ([_sql.ident(id)] if id is not None else []) + [
            f"{e} AS {_sql.ident('points: ' + name)}" for name, e in exprs]
        total = " + ".join([_sql.number(self.base)] + [_sql.ident("points: " + name) for name, _ in exprs])
        outer = ([_sql.ident(id)] if id is not None else []) + [f"{total} AS {_sql.ident('score')}"]
        if points:
            outer += [_sql.ident("points: " + name) for name, _ in exprs]
        return (f"SELECT {', '.join(outer)}\nFROM (\n  SELECT {', '.join(inner)}\n"
                f"  FROM {_sql.table_ref(table)}\n) AS scored")

    def _sql_points(self, crit, pts: pd.DataFrame, _sql) -> str:
        """One criterion's points as a CASE expression over its column."""
        by_code = dict(zip(pts["code"].to_numpy().tolist(), pts["points"].to_numpy().tolist()))
        col = _sql.ident(crit.column)

        def p(code) -> str:  # a bin empty at fit scores 0
            return _sql.number(by_code.get(int(code), 0))

        if crit.kind == "numeric":
            values, edges, f32 = _binning(crit)
            s, m = len(values), (len(edges) - 1 if len(edges) >= 2 else len(edges))
            branches = [(f"{col} IS NULL", p(s + m + 1))]
            x = _sql.as_number(col)
            branches += [(_sql.equals(x, v, f32), p(i)) for i, v in enumerate(values)]
            if m == 0:
                return _sql.case(branches, p(s + m))  # binned by value: a new value is "other"
            branches += [(f"NOT ({_sql.above(x, edges[k + 1], f32)})", p(s + k)) for k in range(m - 1)]
            return _sql.case(branches, p(s + m - 1))
        if crit.kind == "categorical":
            cats = list(self.schema[crit.column].categories)
            as_text = _sql.as_text(col)
            branches = [(f"{col} IS NULL", p(len(cats) + 1))]
            branches += [(f"{as_text} = {_sql.text(str(c))}", p(i)) for i, c in enumerate(cats)]
            return _sql.case(branches, p(len(cats)))
        raise ValueError(f"criterion '{crit.criterion}' is a member of the category set '{crit.column}': a "
                         "database column holds no set; store each member as a 0/1 column and fit on those")

    @staticmethod
    def _points_of(table: ContactTable, crit, code: np.ndarray, values: np.ndarray) -> np.ndarray:
        if crit.kind == "numeric":  # the engine bins as it did at fit
            binning = _binning(crit)
            idx = _core.numeric_bin_codes([crit.column], [table.numeric(crit.column)], [binning],
                                          n_threads=resolve_threads())[0]
            lut = np.zeros(_n_codes(binning[0], binning[1]))
        elif crit.kind == "categorical":
            idx = table.codes(crit.column).astype(np.int64)
            n_cat = len(table.schema[crit.column].categories)
            idx = np.where(idx < 0, n_cat + 1, idx)
            lut = np.zeros(n_cat + 2)
        else:  # a member of a category set: code 1 has it, 0 has not
            bits = table.bitsets(crit.column)
            member = int(crit.member_code)
            idx = ((bits[:, member // 64] >> np.uint64(member % 64)) & np.uint64(1)).astype(np.int64)
            lut = np.zeros(2)
        lut[code] = values
        return lut[idx]


def discriminating_criteria(data, target, columns=None, *, positive=None, n_bins: int = 10,
                            smoothing: float = 0.5, n_threads: int | None = None) -> Criteria:
    """Rank candidate columns by how well they set the target group apart.

    Parameters
    ----------
    data : DataFrame or ContactTable
        The contacts, target group and rest.
    target : str, array-like, Series or Arrow array
        A column name of ``data``, or one value per row. Two values: booleans
        (numpy, pandas nullable, Arrow), 0/1 numbers, two texts ("yes"/"no",
        "TRUE"/"FALSE") or a categorical. At least one row of each.
    columns : list of str, optional
        Candidate columns (default: every column but the target). Integer,
        float and boolean columns are numeric, categoricals and strings
        categorical, lists of strings category sets; timestamps are skipped.
    positive : optional
        The target value that marks the target group. Inferred when the two
        values read as yes/no: True, 1, or "yes"/"true"/"1" (any case)
        against False, 0, "no"/"false"/"0"; required otherwise.
    n_bins : int
        Bins of a numeric column besides missing (1..1000). A column with at
        most ``n_bins`` distinct values (flags, booleans, small codes) has one
        bin per value; otherwise each value held by more than 1/n_bins of the
        present rows (a "999 = never contacted" code, a dominant 0) has a bin
        of its own and the other values share ``n_bins`` minus those bins in
        quantiles (``pandas.qcut(duplicates="drop")``).
    smoothing : float
        Added to every bin's counts (> 0) so no WoE is infinite.
    n_threads : int, optional
        Threads of the counting calls (None: the ``threads(n)`` block around
        the call, else the process default); the results are the same for any
        number.

    Returns
    -------
    Criteria
        ``summary`` (criteria ranked by IV), ``bins`` (per bin: share,
        target share, rate, lift, WoE, IV part), ``positive``.

    Raises
    ------
    ValueError
        An empty table or ``columns``, a target of the wrong length, with
        missing values, more than two values, one value only, or two values
        that do not read as yes/no without ``positive=`` (the message names
        them), a ``positive`` that is not one of them, an infinite value in a
        numeric column (named), ``n_bins`` or ``smoothing`` out of range.
    KeyError
        A column, or the target column, not in ``data``.
    TypeError
        ``data`` neither a DataFrame nor a ContactTable.
    """
    n_bins = check_int(n_bins, "n_bins", min_value=1, max_value=1000)
    smoothing = check_float(smoothing, "smoothing", min_value=0.0, strict_min=True)
    n_threads = resolve_threads(n_threads)
    if columns is None:
        columns = list(data.schema.names if isinstance(data, ContactTable) else data.columns)
        if isinstance(target, str):
            columns = [c for c in columns if c != target]
    else:
        columns = list(columns)
        if not columns:
            raise ValueError("columns is empty")
    n = len(data)
    if n == 0:
        raise ValueError("data is empty")
    t, positive = _target_vector(target, data, n, positive)
    table = _table(data, columns)
    roles = table.roles
    P = int(t.sum())
    N = n - P
    numeric = [c for c in columns if roles.get(c) == "numeric"]
    categorical = [c for c in columns if roles.get(c) == "categorical"]
    sets = [c for c in columns if roles.get(c) == "category_set"]
    cols = [table.numeric(c) for c in numeric]
    binnings = _core.numeric_bins(numeric, cols, n_bins, n_threads=n_threads) if numeric else []
    rows = criteria_rows(table, numeric, cols, categorical, sets, binnings, t, n_threads)
    skipped = [c for c in columns if roles.get(c) not in ("numeric", "categorical", "category_set")]
    crit = _assemble(rows, n, P, N, smoothing, table.schema, skipped)
    crit.positive = positive
    return crit


def criteria_rows(table: ContactTable, numeric: list, cols: list, categorical: list, sets: list, binnings,
                  t: np.ndarray, n_threads: int) -> list:
    """Each criterion's bins with the rows of the target group and of the rest in each (the row
    tuples _assemble reads); the numeric columns ``cols`` (``table.numeric``) in the engine's
    ``binnings``. Counts only: the rows of tables with the same schema and binnings add up
    (Dask partitions)."""
    P = int(t.sum())
    N = len(t) - P
    rows = []
    if numeric:
        pos, neg = _core.count_numeric_bins(numeric, cols, binnings, t, n_threads=n_threads)
        for c, col, b, p, q in zip(numeric, cols, binnings, pos, neg):
            rows.append(_numeric_rows(c, b, col.dtype == np.float32, p, q))
    if categorical:
        ncat = [len(table.schema[c].categories) for c in categorical]
        pos, neg = _core.count_codes([table.codes(c) for c in categorical], ncat, t, n_threads=n_threads)
        for c, k, p, q in zip(categorical, ncat, pos, neg):
            labels = list(table.schema[c].categories) + [OTHER_LABEL, MISSING_LABEL]
            rows.append((c, "categorical", c, -1, np.arange(k + 2), labels, [np.nan] * (k + 2),
                         [np.nan] * (k + 2), p, q, None, None))
    if sets:
        ncat = [len(table.schema[c].categories) for c in sets]
        pos, neg = _core.count_set_members([table.bitsets(c) for c in sets], ncat, t, n_threads=n_threads)
        for c, k, p, q in zip(sets, ncat, pos, neg):
            for m, name in enumerate(table.schema[c].categories):
                rows.append((f"{c}:{name}", "set member", c, m, np.array([0, 1]), ["has not", "has"],
                             [np.nan] * 2, [np.nan] * 2, np.array([P - p[m], p[m]]),
                             np.array([N - q[m], q[m]]), None, None))
    return rows


def _numeric_rows(column: str, binning, float32: bool, pos, neg) -> tuple:
    """The row tuple of a numeric criterion (as _assemble reads it), its bins in value order.

    ``binning`` is the engine's (values, edges): its codes are the values,
    then the intervals, then other and missing (criteria.h); the rows are
    ordered by their lower bound instead, other and missing last.
    """
    values = np.asarray(binning[0], dtype=np.float32 if float32 else np.float64)
    edges = np.asarray(binning[1], dtype=np.float64)
    lo, hi = (edges[:-1], edges[1:]) if len(edges) >= 2 else (edges, edges)
    labels = np.asarray([_value_label(v) for v in values] + _interval_labels(edges) + [OTHER_LABEL, MISSING_LABEL],
                        dtype=object)
    lower = np.concatenate([values, lo, [np.nan, np.nan]])
    upper = np.concatenate([values, hi, [np.nan, np.nan]])
    order = np.argsort(lower, kind="stable")  # NaN (other, missing) sorts last
    code = np.arange(len(lower))
    return (column, "numeric", column, -1, code[order], labels[order], lower[order], upper[order],
            np.asarray(pos)[order], np.asarray(neg)[order], edges, values)


def _assemble(rows, n, P, N, a, schema, skipped) -> Criteria:
    summary, parts = [], []
    for crit, kind, column, member, code, labels, lower, upper, pos, neg, edges, values in rows:
        pos = np.asarray(pos, dtype=np.int64)
        neg = np.asarray(neg, dtype=np.int64)
        keep = (pos + neg) > 0
        if keep.sum() < 2:  # a constant column does not discriminate
            iv, woe, part = 0.0, np.zeros(keep.sum()), np.zeros(keep.sum())
        else:
            woe, part = _woe(pos[keep], neg[keep], P, N, a)
            iv = float(part.sum())
        cnt = pos[keep] + neg[keep]
        frame = pd.DataFrame({
            "criterion": crit, "column": column, "code": np.asarray(code)[keep],
            "bin": np.asarray(labels, dtype=object)[keep],
            "lower": np.asarray(lower, dtype=np.float64)[keep], "upper": np.asarray(upper, dtype=np.float64)[keep],
            "rows": cnt, "targets": pos[keep], "share": cnt / n, "target_share": pos[keep] / P,
            "rest_share": neg[keep] / N, "rate": pos[keep] / cnt, "lift": (pos[keep] / cnt) / (P / n),
            "woe": woe, "iv": part,
        })
        parts.append(frame)
        summary.append({"criterion": crit, "column": column, "kind": kind, "member_code": member,
                        "iv": iv, "bins": int(keep.sum()), "values": values, "edges": edges})
    summary = pd.DataFrame(summary, columns=["criterion", "column", "kind", "member_code", "iv", "bins", "values",
                                             "edges"])
    summary["strength"] = pd.cut(summary["iv"], [-np.inf, 0.02, 0.1, 0.3, np.inf],
                                 labels=["useless", "weak", "medium", "strong"], right=False)
    summary = summary.sort_values(["iv", "criterion"], ascending=[False, True], kind="stable").reset_index(drop=True)
    bins = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return Criteria(summary=summary, bins=bins, n=n, n_target=P, schema=schema, smoothing=a, skipped=skipped)


def lift_at(score, y, fraction: float = 0.1) -> float:
    """Target rate among the top ``fraction`` scores over the overall rate."""
    fraction = check_float(fraction, "fraction", min_value=0.0, strict_min=True, max_value=1.0)
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if s.shape != y.shape or s.ndim != 1 or len(s) == 0:
        raise ValueError("score and y must be 1-D of the same non-zero length")
    if not y.any():
        raise ValueError("y has no positives")
    k = max(1, int(round(fraction * len(s))))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean() / y.mean())
