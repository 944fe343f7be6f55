"""Bad input, matrices and vectors: every public entry point that reads numbers
× every class of bad array (see badinput_support for the promise).

The clean matrix holds values exactly representable in float16, so float16,
float32, float64, big-endian, read-only, Fortran-order and strided copies —
and pandas, polars, Arrow and pickled frames of it — are the same data and
must give the same result, equal to a numpy / scikit-learn / xgboost reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import twinscore as ts
from badinput_support import (ERRORS, assert_same, big_endian, fortran, no_silent_nan, pickled, raises, read_only,
                              strided, to_arrow, to_polars)

_N, _D = 60, 4
SAME, VALID = "same", "valid"   # outcomes besides an error: the canonical result, a checked one
_F32_MAX = float(np.finfo(np.float32).max)


def _X() -> np.ndarray:
    rng = np.random.default_rng(11)
    X = np.round(rng.normal(size=(_N, _D)) * 8) / 8  # eighths: exact in float16
    X[:, 0] += 4 * (np.arange(_N) % 2)               # two groups, so the outcome is learnable
    return X.astype(np.float64)


def _y() -> np.ndarray:
    return (np.arange(_N) % 2).astype(np.int64) ^ (np.arange(_N) % 7 == 0)


def _score() -> np.ndarray:
    rng = np.random.default_rng(12)
    return np.round(rng.random(_N) * 1024) / 1024


_MODELS: dict = {}


def _xgb_scorer():
    if "xgb" not in _MODELS:
        xgb = pytest.importorskip("xgboost")
        booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.5, "nthread": 1,
                             "base_score": 0.5}, xgb.DMatrix(_X().astype(np.float32), label=_y()), num_boost_round=8)
        _MODELS["xgb"] = (booster, ts.TreeScorer.from_xgboost(booster))
    return _MODELS["xgb"]


def _kmeans_ref(result, X, **_):
    km, labels = result
    Xf = np.asarray(X, dtype=np.float64)
    d = ((Xf[:, None, :] - km.cluster_centers_[None, :, :].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, d.argmin(1))


def _logistic_ref(result, X, **_):
    model, z = result
    Xf = np.asarray(X, dtype=np.float64)
    np.testing.assert_allclose(z, Xf @ model.coef_[0] + model.intercept_[0], rtol=1e-5, atol=1e-5)


def _tree_ref(result, X, **_):
    xgb = pytest.importorskip("xgboost")
    booster, _ = _xgb_scorer()
    if (np.abs(X) > _F32_MAX).any():
        return  # xgboost refuses what float32 cannot hold; twinscore reads it as +-inf (checked in test_trees)
    want = booster.predict(xgb.DMatrix(np.asarray(X, dtype=np.float32)))
    np.testing.assert_allclose(result, want, rtol=1e-6, atol=1e-7)


def _auc_ref(result, y_score, **_):
    from sklearn.metrics import roc_auc_score
    np.testing.assert_allclose(result, roc_auc_score(_y(), np.asarray(y_score, dtype=np.float64)), rtol=1e-12)


@dataclass
class Entry:
    name: str
    make: Callable[[], dict]
    call: Callable[..., Any]
    target: str
    reference: Callable | None = None
    allow_nan: bool = False        # NaN is a missing value here (trees), not an error
    allow_inf: bool = False
    vector: bool = False           # a 1-D input
    f32_engine: bool = True        # computes in float32: |x| > 3.4e38 is refused by value
    override: dict = field(default_factory=dict)
    names: tuple = ()              # further arguments an error may name (the other input, a parameter)


ENTRIES = [
    Entry("KMeans.fit+predict", lambda: {"X": _X()},
          lambda X: (lambda km: (km, km.predict(X)))(ts.KMeans(3, random_state=0, n_init=1).fit(X)), "X",
          reference=_kmeans_ref, names=("n_clusters",)),
    Entry("MiniBatchKMeans.partial_fit+predict", lambda: {"X": _X()},
          lambda X: (lambda km: (km, km.predict(X)))(ts.MiniBatchKMeans(3, random_state=0).partial_fit(X)), "X",
          reference=_kmeans_ref, names=("n_clusters",)),
    Entry("LogisticScorer.fit+decision_function", lambda: {"X": _X()},
          lambda X: (lambda m: (m, m.decision_function(X)))(ts.LogisticScorer(standardize=False).fit(X, _y())), "X",
          reference=_logistic_ref, f32_engine=False, allow_nan=True),  # NaN: imputed with the mean
    Entry("LogisticScorer.fit[y]", lambda: {"y": _y().astype(np.float64)},
          lambda y: ts.LogisticScorer().fit(_X(), y).coef_, "y", vector=True, f32_engine=False,
          override={"num-1e300": raises("y"), "num-float32-max": raises("y"), "num--1e300": raises("y"),
                    "object-strings": VALID, "bytes-dtype": VALID}),  # labels may be text
    Entry("TreeScorer.predict", lambda: {"X": _X()}, lambda X: _xgb_scorer()[1].predict(X), "X",
          reference=_tree_ref, allow_nan=True, allow_inf=True, override={"empty": VALID}),
    Entry("TreeScorer.contributions", lambda: {"X": _X()}, lambda X: _xgb_scorer()[1].contributions(X), "X",
          allow_nan=True, allow_inf=True, override={"empty": VALID}),   # an empty partition scores to nothing
    Entry("TreeScorer.top_reasons", lambda: {"X": _X()}, lambda X: _xgb_scorer()[1].top_reasons(X, top=2), "X",
          allow_nan=True, allow_inf=True, override={"empty": VALID}),
    Entry("ContactTable.from_numpy", lambda: {"X": _X()}, lambda X: ts.ContactTable.from_numpy(X).encode().X, "X",
          allow_nan=True, f32_engine=False),   # NaN: missing; standardised with its own statistics
    Entry("TwinIndex(cosine).search", lambda: {"X": _X()},
          lambda X: ts.TwinIndex("cosine").fit(ts.ContactTable.from_numpy(_X()[:20]),
                                               population=ts.ContactTable.from_numpy(_X())).search(
              ts.ContactTable.from_numpy(X), k=3).similarities, "X", allow_nan=True),  # NaN: a missing value
    Entry("metrics.roc_auc[y_score]", lambda: {"y_score": _score()},
          lambda y_score: ts.metrics.roc_auc(_y(), y_score), "y_score", vector=True, reference=_auc_ref,
          f32_engine=False, names=("y_true",)),
    Entry("metrics.ks_statistic[y_score]", lambda: {"y_score": _score()},
          lambda y_score: ts.metrics.ks_statistic(_y(), y_score), "y_score", vector=True, f32_engine=False,
          names=("y_true",)),
    Entry("metrics.lift_table[y_score]", lambda: {"y_score": _score()},
          lambda y_score: ts.metrics.lift_table(_y(), y_score, n_bins=5), "y_score", vector=True, f32_engine=False,
          names=("y_true",)),
    Entry("metrics.calibration_table[y_prob]", lambda: {"y_prob": _score()},
          lambda y_prob: ts.metrics.calibration_table(_y(), y_prob, n_bins=5), "y_prob", vector=True,
          f32_engine=False, names=("y_true",), override={"num-1e300": raises("y_prob"), "num-float32-max": raises("y_prob"),
                                      "num--1e300": raises("y_prob")}),
    Entry("drift.psi[actual]", lambda: {"actual": _score()},
          lambda actual: ts.drift.psi(_score(), actual, name="actual").psi, "actual", vector=True, allow_nan=True,
          f32_engine=False,
          override={"mismatched-length": VALID}),   # two runs of any sizes
    Entry("drift.calibration_check[scores]", lambda: {"scores": _score()},
          lambda scores: ts.drift.calibration_check(scores, _y()).table, "scores", vector=True, f32_engine=False,
          names=("outcomes", "bins"), override={"num-1e300": raises("scores"), "num-float32-max": raises("scores"),
                    "num--1e300": raises("scores")}),
    Entry("lift_at[score]", lambda: {"score": _score()}, lambda score: ts.lift_at(score, _y(), 0.2), "score",
          vector=True, f32_engine=False, names=("y",)),
    Entry("contact_plan[p]", lambda: {"p": _score() / 2},
          lambda p: ts.contact_plan(p, np.full(_N, 100.0), [ts.Channel("email", 0.5)]).contacts, "p",
          vector=True, f32_engine=False, names=("value",), override={"num-1e300": raises("p"), "num-float32-max": raises("p"),
                                                   "num--1e300": raises("p")}),
    Entry("contact_plan[value]", lambda: {"value": np.round(_score() * 800) / 8},
          lambda value: ts.contact_plan(_score() / 2, value, [ts.Channel("email", 0.5)]).contacts, "value",
          vector=True, f32_engine=False, names=("p",)),
]


def _set(a, i, v):
    a = np.array(a, dtype=np.float64)
    a.flat[i] = v
    return a


CORRUPTIONS = {
    # the same numbers, another layout or type
    "read-only": (read_only, SAME),
    "fortran": (fortran, SAME),
    "strided": (strided, SAME),
    "big-endian": (big_endian, SAME),
    "float16": (lambda a: np.asarray(a).astype(np.float16), SAME),
    "float32": (lambda a: np.asarray(a).astype(np.float32), SAME),
    "list": (lambda a: np.asarray(a).tolist(), SAME),
    "pickled": (pickled, SAME),
    "pandas": (lambda a: pd.DataFrame(a, columns=[f"c{i}" for i in range(a.shape[1])]) if a.ndim == 2
               else pd.Series(a), SAME),
    "nullable": (lambda a: pd.DataFrame(a, columns=[f"c{i}" for i in range(a.shape[1])]).astype("Float64")
                 if a.ndim == 2 else pd.Series(a, dtype="Float64"), SAME),
    "polars": (lambda a: to_polars(pd.DataFrame(a, columns=[f"c{i}" for i in range(a.shape[1])])) if a.ndim == 2
               else to_polars(pd.DataFrame({"v": a}))["v"], SAME),
    "arrow": (lambda a: to_arrow(pd.DataFrame(a, columns=[f"c{i}" for i in range(a.shape[1])])) if a.ndim == 2
              else pa.array(a), SAME),
    # values
    "num-nan": (lambda a: _set(a, 5, np.nan), "nan"),
    "num-inf": (lambda a: _set(a, 5, np.inf), "inf"),
    "num-minus-inf": (lambda a: _set(a, 5, -np.inf), "inf"),
    "num-1e300": (lambda a: _set(a, 5, 1e300), "huge"),
    "num--1e300": (lambda a: _set(a, 5, -1e300), "huge"),
    "num-float32-max": (lambda a: _set(a, 5, _F32_MAX), VALID),
    "num-subnormal": (lambda a: _set(a, 5, 5e-324), VALID),
    "object-strings": (lambda a: np.asarray(a).astype(str).astype(object), raises("{arg}|numeric|string|real")),
    "complex": (lambda a: np.asarray(a).astype(np.complex128), raises("{arg}|omplex")),
    "bytes-dtype": (lambda a: np.asarray(a).astype("S8"), raises("{arg}")),
    # shapes
    "empty": (lambda a: np.asarray(a)[:0], raises("{arg}|empty|0 sample|0 rows|no row")),
    "one-row": (lambda a: np.asarray(a)[:1], VALID),
    "3-D": (lambda a: np.asarray(a)[None], raises("{arg}")),
    "scalar": (lambda a: np.float64(1.0), raises("{arg}")),
    "none": (lambda a: None, raises("{arg}")),
    "a-string": (lambda a: "1,2,3", raises("{arg}")),
}
_VECTOR_ONLY = {"mismatched-length": (lambda a: np.asarray(a)[:-3], raises("{arg}|length|values|expected"))}
_MATRIX_ONLY = {"1-D": (lambda a: np.asarray(a)[:, 0], raises("{arg}")),
                "ragged": (lambda a: [list(r) for r in a[:3]] + [[1.0]], raises("{arg}"))}


def _cases():
    for e in ENTRIES:
        table = {**CORRUPTIONS, **(_VECTOR_ONLY if e.vector else _MATRIX_ONLY)}
        for name, (apply, outcome) in table.items():
            if e.vector and name == "3-D":
                continue
            yield pytest.param(e, name, apply, e.override.get(name, outcome), id=f"{e.name}-{name}")


_CANON: dict = {}


def _canonical(e: Entry):
    if e.name not in _CANON:
        _CANON[e.name] = e.call(**e.make())
    return _CANON[e.name]


def _strip_model(r):
    """The arrays of a (model, result) pair: the fitted attributes that matter and the result."""
    if isinstance(r, tuple) and len(r) == 2 and hasattr(r[0], "get_params"):
        model, out = r
        attrs = [getattr(model, a) for a in ("cluster_centers_", "coef_", "intercept_") if hasattr(model, a)]
        return (*attrs, out)
    return r


@pytest.mark.parametrize("entry,name,apply,outcome", list(_cases()))
def test_bad_array(entry: Entry, name, apply, outcome):
    inputs = entry.make()
    bad = dict(inputs)
    bad[entry.target] = apply(inputs[entry.target])
    call = lambda: entry.call(**bad)  # noqa: E731
    if outcome == "nan":
        outcome = VALID if entry.allow_nan else raises("{arg}")
    elif outcome == "inf":
        outcome = VALID if entry.allow_inf else raises("{arg}")
    elif outcome == "huge":
        outcome = raises("{arg}") if entry.f32_engine and not entry.allow_inf else VALID
    if not isinstance(outcome, str):
        arg = "|".join((entry.target, *entry.names, r"column 'x\d'"))
        pattern = outcome.match.replace("{arg}", arg)
        raises(pattern, *outcome.types).check(call)
        return
    if outcome == SAME:
        assert_same(_strip_model(call()), _strip_model(_canonical(entry)), f"{entry.name} on {name}")
        return
    try:
        result = call()
    except ERRORS as exc:
        names = "|".join((entry.target, *entry.names, r"column 'x\d'"))
        assert re.search(names, str(exc)), f"{type(exc).__name__} does not name {entry.target!r}: {exc}"
        return
    no_silent_nan(_strip_model(result)[-1] if isinstance(_strip_model(result), tuple) else result)
    if entry.reference is not None and np.isfinite(np.asarray(bad[entry.target], dtype=np.float64)).all():
        entry.reference(result, **{entry.target: np.asarray(bad[entry.target], dtype=np.float64)})
