"""Rich notebook displays: the compact HTML summary each result and fitted model
shows in Jupyter (``_repr_html_``), and the plain-text line of the fitted
estimators' ``__repr__``.

Every class keeps a one-line ``_repr_html_`` that calls the function of this
module named after it, so the engine modules change little and the look is
decided in one place. Only a summary is shown: a few lines of facts and, at
most, a short table (a table of millions of rows is never rendered).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

_STYLE = ("font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; font-size: 12px; "
          "border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 10px; display: inline-block; "
          "max-width: 100%; overflow-x: auto")
_MAX_TABLE_ROWS = 12


def _number(v: float) -> str:
    """A float as a person reads it: 30,262 rather than 3.026e+04, 0.2294, 0.00106."""
    v = float(v)
    if np.isnan(v):
        return "–"
    if v == 0 or abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}" if abs(v) >= 0.01 else f"{v:.3g}"


def _fmt(v) -> str:
    """A readable cell: thousands separators, a few significant digits, lists shortened."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return _number(v)
    if isinstance(v, (list, tuple)):
        head = ", ".join(map(str, v[:6]))
        return head + (f", … ({len(v)})" if len(v) > 6 else "")
    return str(v)


def card(title: str, facts: list[tuple[str, object]], table: pd.DataFrame | None = None,
         caption: str = "") -> str:
    """A titled box of facts (label, value) and an optional short table, as HTML."""
    rows = "".join(f"<tr><th style='text-align:left;padding-right:12px;font-weight:600'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(_fmt(v))}</td></tr>" for k, v in facts)
    body = f"<table style='border-collapse:collapse'>{rows}</table>" if rows else ""
    if table is not None and len(table):
        shown = table.head(_MAX_TABLE_ROWS)
        more = f"<div style='color:#57606a'>… {len(table) - len(shown):,} more rows</div>" \
            if len(table) > len(shown) else ""
        cap = f"<div style='margin-top:6px;font-weight:600'>{html.escape(caption)}</div>" if caption else ""
        body += cap + shown.to_html(border=0, float_format=_number, na_rep="–") + more
    return (f"<div class='twinscore-repr' style=\"{_STYLE}\"><div style='font-weight:700;font-size:14px;"
            f"margin-bottom:4px'>"
            f"{html.escape(title)}</div>{body}</div>")


def _not_fitted(name: str, params: dict) -> str:
    return card(f"{name} (not fitted)", list(params.items()))


# ---------------------------------------------------------------- tables

def contact_table(t) -> str:
    """Rows, id and one line per column: role, fill rate, categories or mean."""
    rates = t.fill_rates()
    cols = []
    for c in t.schema.columns:  # a loop over the columns of the schema, not over rows
        what = (f"{len(c.categories):,} categories" if c.categories is not None
                else f"mean {_number(c.mean)}" if c.mean is not None else "")
        cols.append({"column": c.name, "role": c.role.replace("_", " "), "filled": f"{rates[c.name]:.0%}",
                     "values": what})
    facts = [("rows", len(t)), ("id", t.schema.id or "–")]
    unseen = {k: v for k, v in t.unseen.items() if v}
    if unseen:
        facts.append(("unseen values", ", ".join(f"{k} {v:,}" for k, v in unseen.items())))
    return card("ContactTable", facts, pd.DataFrame(cols).set_index("column"))


def schema(s) -> str:
    """One line per column: role, categories (first few), statistics."""
    cols = [{"column": c.name, "role": c.role.replace("_", " "),
             "categories": _fmt(list(c.categories)) if c.categories is not None else "",
             "mean": c.mean, "std": c.std, "min": c.min, "max": c.max} for c in s.columns]
    return card("Schema", [("columns", len(s.columns)), ("id", s.id or "–")],
                pd.DataFrame(cols).set_index("column").dropna(axis=1, how="all"))


# ---------------------------------------------------------------- results

def twin_result(r) -> str:
    """Prospects, k, metric, short blocks, and the lookalike score's spread."""
    facts = [("prospects", len(r)), ("k", r.k), ("metric", r.metric),
             ("with fewer than k twins", int(np.count_nonzero(r.counts < r.k)))]
    scores = {"score": r.score}
    if r.value_score is not None:
        scores["value_score"] = r.value_score
    spread = pd.DataFrame(scores).describe(percentiles=[0.5, 0.9, 0.99]).drop(index="count").T
    return card("TwinResult", facts, spread, caption="lookalike score")


def criteria(c) -> str:
    """Rows, targets and the strongest criteria."""
    facts = [("rows", c.n), ("targets", c.n_target), ("target rate", f"{c.n_target / c.n:.2%}"),
             ("criteria", len(c.summary))]
    top = c.summary[["criterion", "kind", "iv", "bins", "strength"]].set_index("criterion")
    return card("Criteria", facts, top, caption="by information value")


def scorecard(s) -> str:
    """Base, criteria and the points of each bin."""
    facts = [("base", s.base), ("criteria", ", ".join(map(str, s.criteria["criterion"]))),
             ("points", f"{int(s.points['points'].min())} to {int(s.points['points'].max())}")]
    return card("Scorecard", facts, s.points[["criterion", "bin", "points"]].set_index(["criterion", "bin"]))


def contact_plan(p) -> str:
    """Budget and the summary per channel."""
    tot = p.summary.loc["total"]
    facts = [("budget", "unlimited" if not np.isfinite(p.budget) else f"{p.budget:,.2f}"),
             ("contacted", int(tot["contacts"])), ("expected profit", f"{tot['profit']:,.2f}")]
    return card("ContactPlan", facts, p.summary)


# ---------------------------------------------------------------- models

def tree_scorer(m) -> str:
    """Library, objective, size and features of the model."""
    facts = [("library", m.library), ("objective", m.objective), ("trees", m.n_trees),
             ("iterations", m.n_iterations), ("outputs", m.n_outputs), ("features", m.n_features_in_),
             ("feature names", list(m.feature_names_in_)), ("loaded from", m.source_ or "–")]
    return card("TreeScorer", facts)


def logistic_scorer(m) -> str:
    """Parameters, and once fitted the intercept and the largest coefficients."""
    params = {k: m.get_params()[k] for k in ("C", "class_weight", "standardize")}
    if not hasattr(m, "coef_"):
        return _not_fitted("LogisticScorer", params)
    coef = pd.Series(m.coef_[0], index=m.feature_names_, name="coefficient")
    top = coef.reindex(coef.abs().sort_values(ascending=False).index).to_frame()
    facts = [*params.items(), ("classes", list(m.classes_)), ("features", len(coef)),
             ("intercept", float(m.intercept_[0])), ("Newton steps", int(m.n_iter_[0])), ("converged", m.converged_)]
    return card("LogisticScorer", facts, top, caption="largest coefficients (standardised features)")


def logistic_text(m, params: str) -> str:
    """``LogisticScorer(C=...)``, then the fitted size, intercept and convergence."""
    if not hasattr(m, "coef_"):
        return params
    return (f"{params}: fitted on {m.coef_.shape[1]} features, intercept {float(m.intercept_[0]):.4g}, "
            f"{int(m.n_iter_[0])} Newton steps{'' if m.converged_ else ', not converged'}")


def kmeans(m) -> str:
    """Parameters, and once fitted the inertia and the size of each cluster."""
    params = {k: v for k, v in m.get_params().items() if k in ("n_clusters", "init", "random_state", "batch_size")}
    if not hasattr(m, "cluster_centers_"):
        return _not_fitted(type(m).__name__, params)
    facts = [*params.items(), ("features", m.n_features_in_), ("inertia", getattr(m, "inertia_", np.nan)),
             ("iterations", getattr(m, "n_iter_", "–"))]
    table = None
    if hasattr(m, "labels_"):
        sizes = np.bincount(m.labels_, minlength=len(m.cluster_centers_))
        table = pd.DataFrame({"rows": sizes, "share": [f"{v:.1%}" for v in sizes / max(sizes.sum(), 1)]},
                             index=pd.RangeIndex(len(sizes), name="cluster"))
    return card(type(m).__name__, facts, table, caption="clusters")


def kmeans_text(m, params: str) -> str:
    """``KMeans(...)``, then the fitted clusters, features, inertia and iterations."""
    if not hasattr(m, "cluster_centers_"):
        return params
    inertia = f", inertia {m.inertia_:,.6g}" if hasattr(m, "inertia_") else ""
    steps = f", {m.n_iter_} iterations" if hasattr(m, "n_iter_") else ""
    return f"{params}: fitted, {len(m.cluster_centers_)} centres of {m.n_features_in_} features{inertia}{steps}"


def beta_geo(m) -> str:
    """BG/NBD parameters r, alpha, a, b and the fit's log-likelihood."""
    return _value_model("BetaGeo", m, ("r", "alpha", "a", "b"))


def pareto_nbd(m) -> str:
    """Pareto/NBD parameters r, alpha, s, beta and the fit's log-likelihood."""
    return _value_model("ParetoNBD", m, ("r", "alpha", "s", "beta"))


def gamma_gamma(m) -> str:
    """Gamma-Gamma parameters p, q, v and the fit's log-likelihood."""
    return _value_model("GammaGamma", m, ("p", "q", "v"))


def _value_model(name: str, m, keys) -> str:
    settings = {"penalizer": m.penalizer, "max_iter": m.max_iter}
    if not hasattr(m, "params_"):
        return _not_fitted(name, settings)
    facts = [*((k, m.params_[k]) for k in keys), ("log-likelihood", m.log_likelihood_),
             ("iterations", m.n_iter_), ("clients", m.n_clients_), *settings.items()]
    return card(name, facts)
