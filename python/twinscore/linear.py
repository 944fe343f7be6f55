"""LogisticScorer: a conversion score, fitted and applied in C++.

An L2-regularised logistic regression with the scikit-learn estimator
contract. It takes a contact table (a DataFrame, a :class:`ContactTable` or a
numeric matrix): numeric columns are standardised with the mean and standard
deviation learnt at fit time, and a missing numeric value is imputed with that
mean (it encodes to 0); categorical columns and category sets are one-hot
encoded (missing or unseen values encode to zeros). Scoring is fused — the
engine reads the table's columns and never builds the design matrix — and
:meth:`LogisticScorer.explain` gives each contact's top contributing features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import _core, _frames
from ._model_file import ModelFileMixin
from ._config import resolve_threads
from ._sklearn_compat import BaseEstimator, ClassifierMixin, check_is_fitted
from ._validation import as_vector, check_float, check_int
from .table import ColumnSpec, ContactTable, Schema

__all__ = ["LogisticScorer"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# Float matrices up to this many rows are read through views of their columns
# (``LogisticScorer._matrix_args``); larger ones build the table, whose
# infinity check needs no matrix of flags.
_MATRIX_ROWS = 4096


def _classes(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(y, return_inverse=True), without its sort for 0/1-like labels.

    Integer or boolean labels whose minimum and maximum are one apart are two
    classes: two reductions and a comparison instead of sorting the target.
    """
    if y.dtype.kind in "iub" and len(y):
        lo, hi = y.min(), y.max()
        if int(hi) - int(lo) == 1:
            return np.array([lo, hi], dtype=y.dtype), (y == hi).astype(np.intp)
    return np.unique(y, return_inverse=True)


class LogisticScorer(ModelFileMixin, ClassifierMixin, BaseEstimator):
    """L2-regularised logistic regression (Newton, parallel and deterministic).

    Minimises ``C * sum_i s_i * logloss_i + |w|^2 / 2`` (the intercept is not
    penalised) — the objective of scikit-learn's ``LogisticRegression(C=C)``.

    Parameters
    ----------
    C : inverse regularisation strength (> 0).
    fit_intercept : fit an intercept.
    class_weight : None, "balanced" (total weight / (2 * the class's total weight)) or a dict
        class -> weight; multiplies the sample weights. Conversion is rare:
        "balanced" raises the recall of converters at the cost of calibration.
    max_iter : Newton steps at most (6-10 usually suffice).
    tol : stop when no coefficient moves more than ``tol``.
    standardize : standardise numeric columns (mean / std learnt at fit).
    """

    def __init__(self, *, C=1.0, fit_intercept=True, class_weight=None, max_iter=100, tol=1e-8, standardize=True):
        self.C = C
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.standardize = standardize

    # -- input -----------------------------------------------------------
    def _table(self, X, fitting: bool) -> ContactTable:
        schema = None if fitting else self.schema_
        if isinstance(X, ContactTable):
            if fitting:
                return X
            missing = [c for c in schema.names if c not in X.schema]
            if missing:
                raise KeyError(f"X lacks the columns {missing} the scorer was fitted on")
            return X
        if _frames.is_frame(X):  # pandas, Arrow or polars: columns matched by name
            source = _frames.as_table_source(X)
            if not fitting:
                return schema.apply(source, id=None)
            table = ContactTable._from_any(source, id=None, roles=None, schema=None)
            stamps = table.schema.names_of("timestamp")
            if stamps:  # dates are not features: derive a number from them first
                table = ContactTable._from_any(source, id=None, roles=dict.fromkeys(stamps), schema=None)
            return table
        # NaN is imputed and inf refused by the table, with the column's name.
        a = _frames.numeric_matrix(X, "X", dtype=(np.float64, np.float32), check_finite=False,
                                   n_features=None if fitting else self.n_features_in_, model=type(self).__name__)
        return ContactTable.from_numpy(a, schema=schema)

    def _columns(self, table: ContactTable) -> list[str]:
        return [c.name for c in table.schema.columns if c.role != "timestamp"]

    def _core_args(self, table: ContactTable) -> tuple:
        """The encoder arguments of the fitted columns, read from the table's own arrays."""
        numeric, enc, categorical, sets = [], [], [], []
        for name in self.columns_:
            spec = self.schema_[name]
            if spec.role == "numeric":
                numeric.append((name, table.numeric(name)))
                enc.append(self._numeric_encoding(spec))
            elif spec.role == "categorical":
                categorical.append((name, table.codes(name), len(spec.categories)))
            else:
                sets.append((name, table.bitsets(name), len(spec.categories)))
        return numeric, np.asarray(enc, dtype=np.float64).reshape(len(enc), 5), categorical, sets, table.n_rows

    def _numeric_encoding(self, spec: ColumnSpec) -> tuple:
        """(center, scale, low, high, fill) of a numeric column for the engine's encoder."""
        center, scale = 0.0, 1.0
        if self.standardize and spec.mean is not None:
            center, scale = spec.mean, (spec.std if spec.std else 1.0)
        return (center, scale, -np.inf, np.inf, 0.0)

    def _plan_matrix(self):
        """(names, encodings, standardize) when the scorer reads numeric columns
        only, one per feature in the schema's order, else None: a float matrix
        is then read as it is, column by column (see ``_matrix_args``)."""
        names = self.columns_
        if list(names) != self.schema_.names or len(names) != self.n_features_in_:
            return None
        specs = [self.schema_[c] for c in names]
        if any(spec.role != "numeric" for spec in specs):
            return None
        enc = np.asarray([self._numeric_encoding(spec) for spec in specs], dtype=np.float64).reshape(len(names), 5)
        return list(names), enc, bool(self.standardize)

    def _matrix_args(self, X):
        """The engine arguments of a float32/float64 matrix of up to ``_MATRIX_ROWS``
        rows with the fitted columns, from views of its columns — the arrays the
        table of the general path would hold, without building the table — or
        None. An infinite value takes the general path, which names its column."""
        plan = getattr(self, "_matrix_plan_", None)
        if plan is None or plan[2] != bool(self.standardize):  # set_params since fit: the table path reads it
            return None
        if (type(X) is not np.ndarray or X.ndim != 2 or X.dtype not in _FLOATS or not 0 < X.shape[0] <= _MATRIX_ROWS
                or X.shape[1] != len(plan[0]) or np.isinf(X).any()):
            return None
        names, enc, _ = plan
        return [(name, X[:, j]) for j, name in enumerate(names)], enc, [], [], X.shape[0]

    # -- fit -------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the coefficients.

        Parameters
        ----------
        X : DataFrame (pandas, Arrow or polars), ContactTable or 2-D numeric
            array: numeric columns are standardised (``standardize``) and
            mean-imputed, categories one-hot encoded, category sets multi-hot,
            timestamps left out. The columns are remembered by name.
        y : the two classes (converted or not): booleans, 0/1, or two labels.
        sample_weight : one weight >= 0 per row (optional).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, allow_direct=True)

    def _fit(self, X, y, sample_weight, allow_direct: bool):
        C = check_float(self.C, "C", min_value=0.0, strict_min=True)
        max_iter = check_int(self.max_iter, "max_iter", min_value=1)
        tol = check_float(self.tol, "tol", min_value=0.0, strict_min=True)
        direct = self._direct_matrix(X) if allow_direct else None
        table = self._table(X, fitting=True) if direct is None else None
        n = table.n_rows if direct is None else direct.shape[0]
        if y is None:
            raise ValueError("LogisticScorer requires y to be passed, but the target y is None")
        y = np.asarray(y.to_numpy() if isinstance(y, (pd.Series, pd.Index)) else y)
        if y.ndim != 1:
            if y.ndim == 2 and y.shape[1] == 1:
                import warnings

                from ._sklearn_compat import DataConversionWarning

                warnings.warn("A column-vector y was passed when a 1d array was expected: it is ravelled to (n,)",
                              DataConversionWarning,
                              stacklevel=2)
                y = y.ravel()
            else:
                raise ValueError(f"y must be 1-D, got shape {y.shape}")
        if len(y) != n:
            raise ValueError(f"y has {len(y)} values, X has {n} rows")
        if pd.isna(y).any():
            raise ValueError("y holds a missing value (NaN)")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("y holds an infinite value")
        if y.dtype.kind == "c":
            raise TypeError("y must hold two classes (booleans, 0/1 or two labels), got complex numbers")
        classes, y01 = _classes(y)
        if y.dtype.kind == "f" and not np.all(classes == np.round(classes)):
            raise ValueError(f"Unknown label type: y holds continuous values {classes[:5].tolist()}")
        if len(classes) != 2:
            raise ValueError(f"Only binary classification is supported: y must have exactly 2 classes (converted "
                             f"or not), got {len(classes)} class(es): {classes[:5].tolist()}")
        w = np.ones(n) if sample_weight is None else as_vector(sample_weight, "sample_weight", n).copy()
        if (w < 0).any():
            raise ValueError("sample_weight must be >= 0")
        if not w.any():
            raise ValueError("sample_weight: all weights are zero")
        w *= self._class_weights(classes, y01, w)
        self.schema_ = table.schema if direct is None else Schema([ColumnSpec(f"x{j}", "numeric")
                                                                   for j in range(direct.shape[1])])
        self.columns_ = self._columns(table) if direct is None else self.schema_.names
        if _frames.is_frame(X):
            self.feature_names_in_ = np.asarray(_frames.column_names(X), dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_features_in_ = X.shape[1] if hasattr(X, "shape") and len(getattr(X, "shape")) == 2 else len(
            self.columns_)
        if direct is None:
            enc = table.encode(self.columns_, standardize=bool(self.standardize))
            design, feature_names = enc.X, list(enc.feature_names)
        else:
            design, feature_names = direct, list(self.columns_)
        try:
            res = _core.fit_logistic(design, y01.astype(np.float64), w, C, bool(self.fit_intercept), max_iter, tol,
                                     n_threads=resolve_threads())
        except ValueError:
            # The engine's first pass found NaN or inf in a matrix read as it
            # is (checked here, on the error path only, not by the message's
            # text): the general path imputes NaN and names an infinite column.
            if direct is None or np.isfinite(direct).all():
                raise
            return self._fit(X, y, sample_weight, allow_direct=False)
        if not (np.isfinite(res["coef"]).all() and np.isfinite(res["intercept"])):
            self._overflowed(design, feature_names)
        self.classes_ = classes
        self.coef_ = res["coef"].reshape(1, -1)
        self.intercept_ = np.array([res["intercept"]])
        self.n_iter_ = np.array([res["n_iter"]])
        self.converged_ = bool(res["converged"])
        self.feature_names_ = feature_names
        self._matrix_plan_ = self._plan_matrix()
        return self

    @staticmethod
    def _overflowed(design: np.ndarray, feature_names: list[str]):
        """A fit whose Newton steps overflowed (values near the float limits, unstandardised): an
        error naming the largest column, never NaN coefficients (on the error path only)."""
        with np.errstate(invalid="ignore"):
            big = np.nanmax(np.abs(design), axis=0)
        j = int(np.nanargmax(big)) if np.isfinite(big).any() or np.isinf(big).any() else 0
        raise ValueError(f"the fit overflowed: column {feature_names[j]!r} holds values up to {big[j]:.3g}; "
                         "rescale it (or fit with standardize=True)")

    def _direct_matrix(self, X):
        """X itself as the float32 design matrix, when encoding would only copy it.

        A float32/float64 matrix fitted without standardisation encodes to
        its own values rounded to float32: the engine then reads it as it is
        (no copy for C-contiguous float32), and the column statistics the
        table would compute are not needed. NaN (imputed) or inf (refused)
        take the general path, which handles them: the engine's first pass
        finds them at no cost, and ``fit`` then starts again on that path.
        """
        if (self.standardize or not isinstance(X, np.ndarray) or X.ndim != 2 or 0 in X.shape
                or X.dtype not in (np.float32, np.float64)):
            return None
        return np.ascontiguousarray(X, dtype=np.float32)

    def _class_weights(self, classes, y01, w) -> np.ndarray:
        cw = self.class_weight
        if cw is None:
            return np.ones(len(y01))
        if isinstance(cw, str):
            if cw != "balanced":
                raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {cw!r}")
            # Weighted class totals, as scikit-learn: each class then carries
            # half of the total sample weight.
            totals = np.bincount(y01, weights=w, minlength=2)
            if (totals <= 0).any():
                raise ValueError("class_weight='balanced': a class has zero total sample weight")
            return (w.sum() / (2.0 * totals))[y01]
        if not isinstance(cw, dict):
            raise TypeError(f"class_weight must be None, 'balanced' or a dict, got {type(cw).__name__}")
        unknown = [k for k in cw if k not in classes.tolist()]
        if unknown:
            raise ValueError(f"class_weight names classes {unknown} not in y (classes: {classes.tolist()})")
        per_class = np.array([check_float(cw.get(c, 1.0), f"class_weight[{c!r}]", min_value=0.0)
                              for c in classes.tolist()])
        return per_class[y01]

    # -- predict ---------------------------------------------------------
    def decision_function(self, X) -> np.ndarray:
        """The log-odds of conversion, from the table's columns in one fused pass."""
        check_is_fitted(self)
        args = self._matrix_args(X)
        if args is None:
            args = self._core_args(self._table(X, fitting=False))
        return _core.decision_encoded(*args, self.coef_[0], float(self.intercept_[0]), n_threads=resolve_threads())

    def predict_proba(self, X) -> np.ndarray:
        """(n, 2) probabilities of the two classes, in ``classes_`` order; X as at fit (columns by name)."""
        z = self.decision_function(X)
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """The more likely class of each row (``classes_[1]`` where the log-odds are > 0)."""
        z = self.decision_function(X)
        return self.classes_[(z > 0).astype(np.int64)]

    def explain(self, X, top: int = 3) -> pd.DataFrame:
        """Each contact's ``top`` largest contributions to its log-odds.

        A contribution is coefficient x encoded value: for a numeric column,
        how far above or below the training mean (in standard deviations) the
        contact is, times its weight; for a category, the weight of the
        contact's category. Columns ``reason_1..top`` (feature names such as
        ``age_band=25-34`` or ``categories:wine``) and ``contribution_1..top``,
        largest first; None / 0 when a contact has fewer non-zero features.
        """
        check_is_fitted(self)
        top = min(check_int(top, "top", min_value=1), len(self.feature_names_))  # no more reasons than features
        table = self._table(X, fitting=False)
        idx, val = _core.explain_encoded(*self._core_args(table), self.coef_[0], top, n_threads=resolve_threads())
        names = np.asarray(self.feature_names_ + [None], dtype=object)
        out = {}
        for t in range(top):  # a loop over the few reasons, not over rows
            out[f"reason_{t + 1}"] = names[idx[:, t]]
            out[f"contribution_{t + 1}"] = val[:, t]
        index = pd.Index(table.ids) if table.ids is not None else (
            X.index if isinstance(X, pd.DataFrame) else None)
        return pd.DataFrame(out, index=index)

    def to_sql(self, table: str, *, id: str | None = None, contributions: bool = True) -> str:
        """A SELECT statement that scores the rows of a database table as :meth:`predict_proba` does.

        The log-odds are one linear expression: the intercept, each numeric
        column's ``coef * (x - mean) / std`` (0 where the value is NULL: mean
        imputation), each categorical column's ``CASE`` of its categories'
        weights (0 for NULL or a category unseen at fit; compared as text,
        ``CAST(column AS VARCHAR)``). Runs in DuckDB, SQLite (3.35 or later,
        for ``EXP``), PostgreSQL and most warehouses; equal to the Python
        scores to float32 rounding (the engine encodes in float32).

        Parameters
        ----------
        table : str
            The table (or ``schema.table``) holding the fitted columns.
        id : str, optional
            A column to carry first (the contact id).
        contributions : bool
            Also return each column's part of the log-odds, named
            ``contribution: <column>`` (the reasons: the largest parts are
            what pushes a contact up).

        Returns
        -------
        str
            The statement; its columns: ``id`` (when given), ``log_odds``,
            ``probability`` (of ``classes_[1]``), then the contributions.

        Raises
        ------
        ValueError
            A category-set column (no column of a table holds a set: store
            each member as a 0/1 column and fit on those), or an empty name.
        """
        from . import _sql  # identifiers, literals and CASE in one spelling

        check_is_fitted(self)
        coef = dict(zip(self.feature_names_, self.coef_[0].tolist()))
        parts = []
        for name in self.columns_:
            spec = self.schema_[name]
            col = _sql.ident(name)
            if spec.role == "numeric":
                center, scale = 0.0, 1.0
                if self.standardize and spec.mean is not None:
                    center, scale = spec.mean, (spec.std if spec.std else 1.0)
                w = coef[name] / scale
                x = _sql.as_number(col)
                expr = f"CASE WHEN {col} IS NULL THEN 0 ELSE {_sql.number(w)} * ({x} - {_sql.number(center)}) END"
            elif spec.role == "categorical":
                as_text = _sql.as_text(col)
                expr = _sql.case([(f"{as_text} = {_sql.text(str(c))}", _sql.number(coef[f"{name}={c}"]))
                                  for c in spec.categories if coef[f"{name}={c}"] != 0], "0")
            else:
                raise ValueError(f"column '{name}' is a category set: a database column holds no set; store each "
                                 "member as a 0/1 column and fit on those")
            parts.append((name, expr))
        label = {name: _sql.ident("contribution: " + name) for name, _ in parts}
        inner = ([_sql.ident(id)] if id is not None else []) + [f"{e} AS {label[n]}" for n, e in parts]
        log_odds = " + ".join([_sql.number(float(self.intercept_[0]))] + [label[n] for n, _ in parts])
        outer = ([_sql.ident(id)] if id is not None else []) + [
            f"{log_odds} AS {_sql.ident('log_odds')}",
            f"1.0 / (1.0 + EXP(-({log_odds}))) AS {_sql.ident('probability')}"]
        if contributions:
            outer += [label[n] for n, _ in parts]
        return (f"SELECT {', '.join(outer)}\nFROM (\n  SELECT {', '.join(inner)}\n"
                f"  FROM {_sql.table_ref(table)}\n) AS scored")

    def __repr__(self) -> str:
        from . import _display  # the parameters, then what the fit learnt
        return _display.logistic_text(self, super().__repr__())

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.logistic_scorer(self)

    def _repr_mimebundle_(self, **kwargs) -> dict:
        # scikit-learn's bundle (its estimator diagram) would take precedence
        # over _repr_html_ in Jupyter: give ours.
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.classifier_tags.multi_class = False  # a conversion score: binary targets only
        return tags
