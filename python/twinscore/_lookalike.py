"""What sets the clients apart from a reference population, for :class:`TwinIndex`.

- :func:`contrast` — per column, the clients' and the reference's counts in
  bins (numeric quantile bins, categories, category-set members), their
  information value and the weight learnt from it;
- :func:`feature_weights` — the same weight per feature of a dense matrix;
- :class:`RankScale` — a numeric column's mid-rank distribution function,
  which the mixed metric compares numbers on;
- :func:`recommend` — the items a prospect's twins bought;
- :func:`reason_words` — a column's value in a marketer's words.

Counts come from the C++ criteria engine (``count_codes``,
``count_set_members``); bins are assigned and everything else computed with
numpy over whole arrays (no loop over rows).

The learnt weight of a column (or feature) is

    w = v / (v + IV_HALF),   v = max(IV - (B - 1) (1/P + 1/N), 0)

with IV its information value between the P clients and the N reference
contacts over B non-empty bins (smoothing 0.5 per bin, as in
:func:`twinscore.discriminating_criteria`). (B - 1)(1/P + 1/N) is the
information value that sampling alone gives a column unrelated to the
clients (its expectation under independence), so a column that does not set
the clients apart weighs 0 whatever its number of categories; the
saturation keeps one dominant column from silencing the others, and a
column of IV = IV_HALF (0.1, "medium" in the usual reading) weighs 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import _core, _frames
from ._model_file import register
from .table import ContactTable

N_BINS = 10       # quantile bins of a numeric column (fewer when it has fewer values)
SMOOTHING = 0.5   # added to each bin's counts, so no weight of evidence is infinite
IV_HALF = 0.1     # the information value that gets half weight
MIN_LIFT = 1.1    # a reason's value is at least 10 % more common among the clients than in the reference
MISSING = "(missing)"
OTHER = "(other)"


def information_value(pos, neg, a: float = SMOOTHING):
    """(woe per bin, iv, non-empty bins) of the clients' (pos) and the reference's (neg) counts per bin.

    Empty bins (no row on either side) are left out, as in
    :func:`twinscore.discriminating_criteria`; their woe is 0.
    """
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    keep = (pos + neg) > 0
    B = int(keep.sum())
    if B < 2:
        return np.zeros(len(pos)), 0.0, B
    dp = (pos + a) / (pos[keep].sum() + a * B)
    dn = (neg + a) / (neg[keep].sum() + a * B)
    woe = np.where(keep, np.log(dp / dn), 0.0)
    return woe, float(((dp - dn) * woe)[keep].sum()), B


def learnt_weight(iv, bins, P: int, N: int):
    """The weight of a column (or feature) of information value ``iv`` over ``bins`` bins (module docstring)."""
    v = np.maximum(np.asarray(iv, dtype=np.float64) - (np.asarray(bins) - 1) * (1.0 / P + 1.0 / N), 0.0)
    return v / (v + IV_HALF)


@register
@dataclass
class ColumnContrast:
    """One column's clients against the reference, bin by bin.

    ``labels``: numeric intervals then "(missing)"; categories, "(other)",
    "(missing)"; or a category set's members ("(other)" last), each a
    has-it / has-not criterion. ``clients`` / ``reference``: rows in each bin
    (for a set: rows holding each member). ``woe``: ln of the clients' share
    over the reference's (smoothed); ``iv``: the column's information value
    (a set: the sum of its members'); ``weight``: the learnt weight.
    """

    column: str
    role: str
    labels: list
    clients: np.ndarray
    reference: np.ndarray
    woe: np.ndarray
    iv: float
    weight: float
    edges: np.ndarray | None = None

    def lift(self) -> np.ndarray:
        """How many times as common each bin is among the clients as in the reference (exp of the woe)."""
        return np.exp(self.woe)

    def bins_of(self, table: ContactTable, rows: np.ndarray) -> np.ndarray:
        """Numeric and categorical columns: the bin of each of ``rows`` of ``table`` (missing: the last)."""
        if self.role == "numeric":
            codes = bin_codes(np.asarray(table.numeric(self.column))[rows], self.edges).astype(np.int64)
        else:
            codes = table.codes(self.column)[rows].astype(np.int64)
        return np.where(codes < 0, len(self.labels) - 1, codes)


def numeric_edges(values) -> np.ndarray:
    """Bin edges of a numeric column, learnt on the reference's present values:
    the deciles (linear interpolation, as pandas.qcut, duplicates dropped), or,
    for a column of at most N_BINS distinct values, one bin per value (edges at
    the midpoints), so a 0/1 column is two bins, not one. No present value: no edge."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return np.zeros(0)
    edges = np.unique(np.quantile(v, np.linspace(0.0, 1.0, N_BINS + 1)))
    if len(edges) <= N_BINS:  # duplicates were dropped: few distinct values, maybe
        u = np.unique(v)
        if len(u) <= N_BINS:
            edges = np.concatenate([u[:1], (u[:-1] + u[1:]) / 2, u[-1:]])
    return edges


def bin_codes(x, edges: np.ndarray) -> np.ndarray:
    """int32 bin of each value: intervals (e_i, e_i+1], the first closed, values beyond the
    ends in the end bins; -1 for NaN (missing) and for every value of a column with no edge."""
    x = np.asarray(x, dtype=np.float64)
    nb = max(len(edges) - 1, 1)
    idx = np.searchsorted(edges[1:-1], x, side="left") if len(edges) > 2 else np.zeros(len(x), np.int64)
    return np.where(np.isnan(x) | (len(edges) == 0), -1, np.minimum(idx, nb - 1)).astype(np.int32)


def _numeric_counts(clients: list[np.ndarray], reference: list[np.ndarray], n_threads: int):
    """(edges, clients' counts, reference's counts) per numeric column, each count over the
    bins then the missing one; the bins are assigned here (numpy), counted by the C++ engine."""
    edges = [numeric_edges(r) for r in reference]
    codes = [bin_codes(np.concatenate([np.asarray(c, np.float64), np.asarray(r, np.float64)]), e)
             for c, r, e in zip(clients, reference, edges)]
    nb = [max(len(e) - 1, 1) for e in edges]
    target = _target(len(clients[0]), len(reference[0]))
    pos, neg = _core.count_codes(codes, nb, target, n_threads=n_threads)
    # count_codes gives the bins, an "other" slot no code reaches, then the missing one.
    keep = [np.r_[np.arange(k), k + 1] for k in nb]
    return edges, [np.asarray(p)[i] for p, i in zip(pos, keep)], [np.asarray(q)[i] for q, i in zip(neg, keep)]


def _interval_labels(e: np.ndarray) -> list[str]:
    if len(e) == 0:
        return []
    if len(e) == 1:
        return [f"{e[0]:.4g}"]
    return [f"{lo:.4g} to {hi:.4g}" for lo, hi in zip(e[:-1], e[1:])]


def _target(P: int, N: int) -> np.ndarray:
    return np.r_[np.ones(P, np.uint8), np.zeros(N, np.uint8)]


def _numeric_contrast(clients: ContactTable, reference: ContactTable, names, n_threads) -> list[ColumnContrast]:
    P, N = len(clients), len(reference)
    edges, pos, neg = _numeric_counts([clients.numeric(c) for c in names], [reference.numeric(c) for c in names],
                                      n_threads)
    out = []
    for c, e, p, q in zip(names, edges, pos, neg):
        woe, iv, B = information_value(p, q)
        labels = (_interval_labels(e) or [""]) + [MISSING]
        out.append(ColumnContrast(c, "numeric", labels, p, q, woe, iv, float(learnt_weight(iv, B, P, N)), e))
    return out


def _categorical_contrast(clients: ContactTable, reference: ContactTable, names, n_threads) -> list[ColumnContrast]:
    P, N = len(clients), len(reference)
    ncat = [len(reference.schema[c].categories) for c in names]
    both = [np.concatenate([clients.codes(c), reference.codes(c)]) for c in names]
    pos, neg = _core.count_codes(both, ncat, _target(P, N), n_threads=n_threads)
    out = []
    for c, k, p, q in zip(names, ncat, pos, neg):
        woe, iv, B = information_value(p, q)
        labels = list(reference.schema[c].categories) + [OTHER, MISSING]
        out.append(ColumnContrast(c, "categorical", labels, np.asarray(p), np.asarray(q), woe, iv,
                                  float(learnt_weight(iv, B, P, N))))
    return out


def member_contrast(pos, neg, P: int, N: int):
    """(woe of "has it", iv, weight) of each member of a category set, each a
    has-it / has-not criterion, from the rows holding it among the P clients
    (pos) and the N reference contacts (neg)."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    a = SMOOTHING
    has = (pos + a) / (P + 2 * a) / ((neg + a) / (N + 2 * a))
    has_not = (P - pos + a) / (P + 2 * a) / ((N - neg + a) / (N + 2 * a))
    iv = ((pos + a) / (P + 2 * a) - (neg + a) / (N + 2 * a)) * np.log(has) \
        + ((P - pos + a) / (P + 2 * a) - (N - neg + a) / (N + 2 * a)) * np.log(has_not)
    bins = np.where((pos + neg > 0) & (pos + neg < P + N), 2, 1)  # a member no one (or everyone) holds
    iv = np.where(bins == 2, iv, 0.0)
    return np.where(bins == 2, np.log(has), 0.0), iv, learnt_weight(iv, bins, P, N)


def _set_contrast(clients: ContactTable, reference: ContactTable, names, n_threads) -> list[ColumnContrast]:
    P, N = len(clients), len(reference)
    ncat = [len(reference.schema[c].categories) + 1 for c in names]  # the "(other)" bit too
    both = [np.ascontiguousarray(np.concatenate([clients.bitsets(c), reference.bitsets(c)])) for c in names]
    pos, neg = _core.count_set_members(both, ncat, _target(P, N), n_threads=n_threads)
    out = []
    for c, p, q in zip(names, pos, neg):
        woe, iv, w = member_contrast(p, q, P, N)
        # The column's weight: its members' debiased values added (as a naive
        # Bayes score adds them), then saturated like any column's.
        v = np.maximum(iv - (1.0 / P + 1.0 / N), 0.0).sum()
        out.append(ColumnContrast(c, "category_set", list(reference.schema[c].categories) + [OTHER],
                                  np.asarray(p), np.asarray(q), woe, float(iv.sum()), float(v / (v + IV_HALF))))
    return out


def contrast(clients: ContactTable, reference: ContactTable, columns: list[str], n_threads: int
             ) -> dict[str, ColumnContrast]:
    """Each column's clients against the reference (both read with one schema), in one C++ counting pass per role."""
    roles = reference.roles
    by_role = {r: [c for c in columns if roles[c] == r] for r in ("numeric", "categorical", "category_set")}
    found = []
    if by_role["numeric"]:
        found += _numeric_contrast(clients, reference, by_role["numeric"], n_threads)
    if by_role["categorical"]:
        found += _categorical_contrast(clients, reference, by_role["categorical"], n_threads)
    if by_role["category_set"]:
        found += _set_contrast(clients, reference, by_role["category_set"], n_threads)
    found = {c.column: c for c in found}
    return {c: found[c] for c in columns if c in found}


def feature_weights(Xc: np.ndarray, Xr: np.ndarray, n_threads: int) -> tuple[np.ndarray, np.ndarray]:
    """(information value, learnt weight) of each feature (column) of the clients'
    matrix ``Xc`` against the reference's ``Xr``, each feature binned like a
    numeric column (a 0/1 feature: its two values)."""
    P, N = len(Xc), len(Xr)
    _, pos, neg = _numeric_counts(list(Xc.T), list(Xr.T), n_threads)
    found = [information_value(p, q) for p, q in zip(pos, neg)]
    ivs = np.array([iv for _, iv, _ in found])
    return ivs, learnt_weight(ivs, np.array([B for _, _, B in found]), P, N)


@register
class RankScale:
    """A numeric column's mid-rank distribution function on a population:
    F(x) = (#{v < x} + #{v <= x}) / 2n over its n present values v, so the
    mixed metric's numeric part 1 - |F(a) - F(b)| is one minus the share of
    the population that lies between a and b (ties counted half). NaN stays
    NaN (missing); a column with no present value maps everything to NaN."""

    def __init__(self, values):
        v = np.asarray(values, dtype=np.float64)
        self.sorted = np.sort(v[~np.isnan(v)])

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        n = len(self.sorted)
        if n == 0:
            return np.full(len(x), np.nan, dtype=np.float32)
        below = np.searchsorted(self.sorted, x, side="left")
        upto = np.searchsorted(self.sorted, x, side="right")
        return np.where(np.isnan(x), np.nan, (below + upto) / (2.0 * n)).astype(np.float32)


# ---------------------------------------------------------------------------
# What the twins bought


def _item_log(client_items, client: str, item: str | None, weight: str | None):
    """(client ids, items, quantities) of a purchase log given long (a DataFrame)
    or as one list of items per client (a Series indexed by client id)."""
    if isinstance(client_items, pd.Series):
        if weight is not None:
            raise ValueError("weight names a column: pass client_items as a DataFrame (client, item, weight)")
        s = client_items.map(lambda v: list(v) if v is not None and not (np.isscalar(v) and pd.isna(v)) else [])
        s = s.explode().dropna()
        return s.index.to_numpy(), s.to_numpy(), np.ones(len(s))
    if _frames.is_frame(client_items):  # Arrow and polars as pandas: the same log, the same answer
        client_items = _frames.as_pandas(client_items, "client_items")
    if not isinstance(client_items, pd.DataFrame):
        raise TypeError("client_items must be a DataFrame (one row per client and item) or a Series of item "
                        f"lists indexed by client id, got {type(client_items).__name__}")
    cols = list(client_items.columns)
    if client not in cols:
        raise KeyError(f"client_items has no column '{client}' (the client id; set client=...); columns: {cols}")
    if item is None:
        rest = [c for c in cols if c not in (client, weight)]
        if len(rest) != 1:
            raise ValueError(f"client_items has columns {rest} besides the client id: name the item column with item=")
        item = rest[0]
    for name, what in ((item, "item"), (weight, "weight")):
        if name is not None and name not in cols:
            raise KeyError(f"client_items has no column '{name}' ({what}); columns: {cols}")
    for name in (client, item, weight):
        if name is not None and cols.count(name) > 1:
            raise ValueError(f"client_items has {cols.count(name)} columns named '{name}': which to read is ambiguous")
    if client_items[client].isna().any():  # such a purchase belongs to no client: it would vanish
        row = int(np.argmax(client_items[client].isna().to_numpy()))
        raise ValueError(f"client_items column '{client}' (the client id) holds a missing id at row {row}: drop "
                         "those rows first")
    frame = client_items[client_items[item].notna()]
    q = np.ones(len(frame))
    if weight is not None:
        dtype = frame[weight].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise TypeError(f"client_items column '{weight}' (weight) must be numeric, got {dtype}")
        q = frame[weight].to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.all(np.isfinite(q)) or (q < 0).any():
            raise ValueError(f"client_items column '{weight}' (weight) must hold finite values >= 0")
    return frame[client].to_numpy(), frame[item].to_numpy(), q


@dataclass
class _Purchases:
    """A purchase log grouped by client: client i holds items what[start[i]:start[i+1]]
    with quantities qty[...]; ``clients`` and ``items`` name the codes."""

    clients: pd.Index
    items: np.ndarray
    start: np.ndarray
    what: np.ndarray
    qty: np.ndarray


def _purchases(cid, items, q, weighted: bool) -> _Purchases:
    """One quantity per (client, item): the summed weights, or 1 ("bought it") without a weight column."""
    clients = pd.Index(pd.unique(cid))
    codes, names = pd.factorize(items, sort=True)
    m = max(len(names), 1)
    key, inv = np.unique(clients.get_indexer(cid).astype(np.int64) * m + codes, return_inverse=True)
    qty = np.bincount(inv, weights=q) if weighted else np.ones(len(key))
    if not np.isfinite(qty).all():
        raise ValueError("client_items: a client's summed weight of one item overflows float64; scale the weight column")
    return _Purchases(clients, np.asarray(names), np.searchsorted(key // m, np.arange(len(clients) + 1)), key % m,
                      qty)


def recommend(twin_ids: np.ndarray, twin_weight: np.ndarray, prospect_ids: np.ndarray, client_items, top: int,
              client: str, item: str | None, weight: str | None) -> pd.DataFrame:
    """Per prospect, the ``top`` items its twins hold, by twin weight (see TwinResult.recommend)."""
    cid, items, q = _item_log(client_items, client, item, weight)
    log = _purchases(cid, items, q, weight is not None)
    if not (twin_weight > 0).any():  # no twin found, or none similar at all
        return _empty_recommendations()
    twin_row = log.clients.get_indexer(twin_ids.ravel()).reshape(twin_weight.shape) if len(log.clients) else \
        np.full(twin_weight.shape, -1)
    live = (twin_weight > 0) & (twin_row >= 0)
    if not live.any():
        raise ValueError(f"client_items: none of its client ids is among the twins found (its '{client}' values "
                         "must be the index's client ids)")
    # Each live twin slot expanded to its client's items, then summed per (prospect, item).
    p, s = np.nonzero(live)
    c = twin_row[p, s]
    cnt = log.start[c + 1] - log.start[c]
    pos = np.repeat(log.start[c], cnt) + np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    m = max(len(log.items), 1)
    pair, inv = np.unique(np.repeat(p, cnt).astype(np.int64) * m + log.what[pos], return_inverse=True)
    score = np.bincount(inv, weights=np.repeat(twin_weight[p, s], cnt) * log.qty[pos])
    pp, it = pair // m, pair % m
    return _top_items(pp, it, score / twin_weight.sum(axis=1)[pp], np.bincount(inv), top, prospect_ids, log.items)


def _top_items(pp, it, score, twins, top: int, prospect_ids, names) -> pd.DataFrame:
    """The ``top`` items of each prospect, best score first (ties: item order)."""
    order = np.lexsort((it, -score, pp))
    pp, it, score, twins = pp[order], it[order], score[order], twins[order]
    rank = np.arange(len(pp)) - np.searchsorted(pp, pp, side="left")
    keep = rank < top
    return pd.DataFrame({"prospect_id": prospect_ids[pp[keep]], "rank": (rank[keep] + 1).astype(np.int32),
                         "item": names[it[keep]], "score": score[keep], "twins": twins[keep].astype(np.int32)})


def _empty_recommendations() -> pd.DataFrame:
    return pd.DataFrame({"prospect_id": [], "rank": np.array([], np.int32), "item": [], "score": [],
                         "twins": np.array([], np.int32)})


# ---------------------------------------------------------------------------
# Reasons in words


def _times(lift: np.ndarray) -> pd.Series:
    """Lifts as "2.3×" (one decimal below 10)."""
    lift = np.asarray(lift, dtype=np.float64)
    return pd.Series(lift).map(lambda x: f"{x:.2f}×" if x < 2 else f"{x:.1f}×" if x < 10 else f"{x:.0f}×")


def _number(x: float) -> str:
    """A number as a marketer reads it: 46,500 / 38.5 / 0.012."""
    if np.isnan(x):
        return "missing"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def over_represented(col: ColumnContrast, table: ContactTable) -> np.ndarray:
    """Per row of ``table``: whether its value of the column is at least MIN_LIFT times as common
    among the clients as in the reference (a category set: whether it holds such a member)."""
    lift = col.lift()
    if col.role == "category_set":
        m = len(col.labels)
        flags = np.unpackbits(table.bitsets(col.column).view(np.uint8), axis=1, bitorder="little")[:, :m]
        return (flags.astype(bool) & (lift >= MIN_LIFT)[None, :]).any(axis=1)
    return lift[col.bins_of(table, np.arange(len(table)))] >= MIN_LIFT


def reason_words(col: ColumnContrast, table: ContactTable, rows: np.ndarray) -> np.ndarray:
    """For the prospects ``rows`` of ``table``: their value of the column, and how
    many times as common that value is among the clients as in the reference
    ("page values 38.5 (7.1× as common among clients)"); for a category set,
    the (up to three) members they hold that are most over-represented among
    the clients (those at least MIN_LIFT times as common there)."""
    name = col.column.replace("_", " ")
    if col.role == "category_set":
        return _set_words(col, table, rows, name)
    bins = col.bins_of(table, rows)
    if col.role == "numeric":
        x = pd.Series(np.asarray(table.numeric(col.column), dtype=np.float64)[rows])
        shown = x.map(_number)
    else:
        shown = pd.Series(np.asarray(col.labels, dtype=object)[bins])
    text = name + " " + shown + " (" + _times(col.lift()[bins]) + " as common among clients)"
    return np.where(bins == len(col.labels) - 1, f"{name} missing", text.to_numpy(dtype=object))


def _set_words(col: ColumnContrast, table: ContactTable, rows: np.ndarray, name: str) -> np.ndarray:
    m = len(col.labels)
    flags = np.unpackbits(table.bitsets(col.column)[rows].view(np.uint8), axis=1, bitorder="little")[:, :m]
    lift = col.lift()
    key = np.where(flags.astype(bool) & (lift >= MIN_LIFT)[None, :], -lift[None, :], np.inf)
    best = np.argsort(key, axis=1, kind="stable")[:, :3]
    held = np.take_along_axis(np.isfinite(key), best, axis=1)
    labels = np.asarray(col.labels, dtype=object)
    text = pd.Series([""] * len(rows), dtype=object)
    for j in range(best.shape[1]):  # the (up to) three members shown, not the rows
        part = labels[best[:, j]] + " (" + _times(lift[best[:, j]]).to_numpy(dtype=object) + ")"
        sep = "" if j == 0 else ", "
        text = text + np.where(held[:, j], sep + part, "")
    text = name + ": " + text + " as common among clients"
    out = np.where(held[:, 0], text.to_numpy(dtype=object), f"no {name}")
    return np.where(table.set_missing(col.column)[rows], f"{name} missing", out)
