"""Discriminating criteria: what sets a target group (the best clients, the
converted prospects) apart, and a points scorecard built on it.

:func:`discriminating_criteria` bins every candidate column — numeric ones by
quantiles (as ``pandas.qcut(x, n_bins, duplicates="drop")``, missing values in
a bin of their own), categorical ones by category, and each member of a
category-set column as "has it / has not" — counts the target in each bin in
one parallel C++ pass, and ranks the columns by information value (IV), with
each bin's weight of evidence (WoE), share and lift.

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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import _core
from ._config import threads
from ._validation import check_float, check_int
from .table import ContactTable

__all__ = ["Criteria", "Scorecard", "discriminating_criteria", "lift_at"]

MISSING_LABEL = "(missing)"


def _target_vector(target, data, n: int) -> tuple[np.ndarray, str | None]:
    """0/1 uint8 target of n rows from a column name, a boolean/0-1 array or Series."""
    name = None
    if isinstance(target, str):
        if not isinstance(data, pd.DataFrame):
            raise TypeError("target given by name needs data as a DataFrame")
        if target not in data.columns:
            raise KeyError(f"target column '{target}' is not in data")
        name, target = target, data[target]
    if isinstance(target, (pd.Series, pd.Index)):
        if target.isna().any():
            raise ValueError("target holds missing values")
        target = target.to_numpy()
    t = np.asarray(target)
    if t.ndim != 1 or len(t) != n:
        raise ValueError(f"target must be 1-D with {n} values, got shape {t.shape}")
    if t.dtype.kind not in "biuf":
        raise TypeError(f"target must be boolean or 0/1, got dtype {t.dtype}")
    if t.dtype.kind == "f" and np.isnan(t).any():
        raise ValueError("target holds NaN")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("target must hold only 0/1 (or booleans)")
    t = np.ascontiguousarray(t, dtype=np.uint8)
    pos = int(t.sum())
    if pos == 0:
        raise ValueError("target has no positives: the target group is empty")
    if pos == n:
        raise ValueError("target has no negatives: every row is in the target group")
    return t, name


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
    if len(edges) == 1:
        return [f"[{edges[0]:.6g}]"]
    labels = [f"({lo:.6g}, {hi:.6g}]" for lo, hi in zip(edges[:-1], edges[1:])]
    labels[0] = "[" + labels[0][1:]
    return labels


@dataclass
class Criteria:
    """The ranked criteria.

    ``summary``: one row per criterion (column, kind, iv, bins, strength),
    highest IV first. ``bins``: one row per bin of each criterion (criterion,
    bin, lower, upper, rows, targets, share, target_share, rest_share, rate,
    lift, woe, iv). ``n``, ``n_target``: the rows and target rows.
    """

    summary: pd.DataFrame
    bins: pd.DataFrame
    n: int
    n_target: int
    schema: object = field(repr=False, default=None)
    smoothing: float = 0.5

    def __repr__(self) -> str:
        top = ", ".join(f"{r.criterion} {r.iv:.3f}" for r in self.summary.head(5).itertuples())
        return f"Criteria({len(self.summary)} criteria over {self.n:,} rows, {self.n_target:,} targets; top IV: {top})"

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.criteria(self)

    def scorecard(self, top: int = 5, *, min_iv: float = 0.02, pdo: float = 20.0, base: float = 500.0) -> "Scorecard":
        """Points scorecard of the ``top`` criteria with IV >= ``min_iv``."""
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
class Scorecard:
    """Points per bin of the chosen criteria; ``apply`` scores new contacts.

    A value the training data never had (a new category) or a bin that was
    empty in training scores 0 points for that criterion.
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
        """Scores (float64) of the rows of a DataFrame or ContactTable."""
        cols = sorted({c for c in self.criteria["column"]})
        if isinstance(data, pd.DataFrame):
            missing = [c for c in cols if c not in data.columns]
            if missing:
                raise KeyError(f"columns {missing} are not in data")
            sub = type(self.schema)([self.schema[c] for c in cols])
            table = sub.apply(data[cols])
        elif isinstance(data, ContactTable):
            table = data
        else:
            raise TypeError(f"data must be a pandas DataFrame or a ContactTable, got {type(data).__name__}")
        score = np.full(len(table), self.base, dtype=np.float64)
        for crit in self.criteria.itertuples():
            pts = self.points[self.points["criterion"] == crit.criterion]
            score += self._points_of(table, crit, pts)
        return score

    @staticmethod
    def _points_of(table: ContactTable, crit, pts: pd.DataFrame) -> np.ndarray:
        code = pts["code"].to_numpy()
        values = pts["points"].to_numpy(dtype=np.float64)
        if crit.kind == "numeric":
            x = np.asarray(table.numeric(crit.column), dtype=np.float64)
            edges = np.asarray(crit.edges, dtype=np.float64)
            nb = max(len(edges) - 1, 1)
            idx = np.searchsorted(edges[1:-1], x, side="left") if len(edges) > 2 else np.zeros(len(x), np.int64)
            idx = np.where(np.isnan(x), nb, idx)
            lut = np.zeros(nb + 1)
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


def discriminating_criteria(data, target, columns=None, *, n_bins: int = 10, smoothing: float = 0.5,
                            n_threads: int | None = None) -> Criteria:
    """Rank candidate columns by how well they set the target group apart.

    Parameters
    ----------
    data : DataFrame or ContactTable of the contacts (target group and rest).
    target : the target group: a column name of ``data``, or a boolean / 0-1
        array or Series of one value per row. It needs at least one target
        and one non-target row.
    columns : candidate columns (default: every column but the target; an
        integer, float or boolean column is numeric, categoricals and strings
        categorical, lists of strings category sets; timestamps are skipped).
    n_bins : quantile bins of a numeric column (fewer when values repeat).
    smoothing : added to every bin's counts (> 0) so no WoE is infinite.
    """
    n_bins = check_int(n_bins, "n_bins", min_value=1, max_value=1000)
    smoothing = check_float(smoothing, "smoothing", min_value=0.0, strict_min=True)
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
    t, _ = _target_vector(target, data, n)
    table = _table(data, columns)
    roles = table.roles
    P = int(t.sum())
    N = n - P
    numeric = [c for c in columns if roles.get(c) == "numeric"]
    categorical = [c for c in columns if roles.get(c) == "categorical"]
    sets = [c for c in columns if roles.get(c) == "category_set"]
    rows = []
    with threads(n_threads):
        if numeric:
            cols = [table.numeric(c) for c in numeric]
            edges = _core.quantile_edges(numeric, cols, n_bins)
            pos, neg = _core.count_numeric_bins(numeric, cols, edges, t)
            for c, e, p, q in zip(numeric, edges, pos, neg):
                e = np.asarray(e)
                nb = max(len(e) - 1, 1)  # a constant column has one bin
                if len(e) == 0:  # nothing present: only the missing bin
                    labels, lower, upper = [], [], []
                    code = np.array([nb])
                else:
                    labels = _interval_labels(e)
                    lower = list(e[:-1]) if len(e) > 1 else [e[0]]
                    upper = list(e[1:]) if len(e) > 1 else [e[0]]
                    code = np.arange(nb + 1)
                    p, q = p[: nb + 1], q[: nb + 1]
                if len(e) == 0:
                    p, q = p[nb:nb + 1], q[nb:nb + 1]
                rows.append((c, "numeric", c, -1, code, labels + [MISSING_LABEL], lower + [np.nan],
                             upper + [np.nan], p, q, e))
        if categorical:
            ncat = [len(table.schema[c].categories) for c in categorical]
            pos, neg = _core.count_codes([table.codes(c) for c in categorical], ncat, t)
            for c, k, p, q in zip(categorical, ncat, pos, neg):
                labels = list(table.schema[c].categories) + ["(other)", MISSING_LABEL]
                rows.append((c, "categorical", c, -1, np.arange(k + 2), labels, [np.nan] * (k + 2),
                             [np.nan] * (k + 2), p, q, None))
        if sets:
            ncat = [len(table.schema[c].categories) for c in sets]
            pos, neg = _core.count_set_members([table.bitsets(c) for c in sets], ncat, t)
            for c, k, p, q in zip(sets, ncat, pos, neg):
                for m, name in enumerate(table.schema[c].categories):
                    rows.append((f"{c}:{name}", "set member", c, m, np.array([0, 1]), ["has not", "has"],
                                 [np.nan] * 2, [np.nan] * 2, np.array([P - p[m], p[m]]),
                                 np.array([N - q[m], q[m]]), None))
    skipped = [c for c in columns if roles.get(c) not in ("numeric", "categorical", "category_set")]
    return _assemble(rows, n, P, N, smoothing, table.schema, skipped)


def _assemble(rows, n, P, N, a, schema, skipped) -> Criteria:
    summary, parts = [], []
    for crit, kind, column, member, code, labels, lower, upper, pos, neg, edges in rows:
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
                        "iv": iv, "bins": int(keep.sum()), "edges": edges})
    summary = pd.DataFrame(summary, columns=["criterion", "column", "kind", "member_code", "iv", "bins", "edges"])
    summary["strength"] = pd.cut(summary["iv"], [-np.inf, 0.02, 0.1, 0.3, np.inf],
                                 labels=["useless", "weak", "medium", "strong"], right=False)
    summary = summary.sort_values(["iv", "criterion"], ascending=[False, True], kind="stable").reset_index(drop=True)
    bins = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    crit = Criteria(summary=summary, bins=bins, n=n, n_target=P, schema=schema, smoothing=a)
    crit.skipped = skipped
    return crit


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
