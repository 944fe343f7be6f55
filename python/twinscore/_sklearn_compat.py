"""scikit-learn's estimator base classes, or the part of their contract the
estimators need when scikit-learn is not installed.

With scikit-learn, these are its own classes (clone, Pipeline, GridSearchCV
and the estimator checks work). Without it, a minimal stand-in keeps
``get_params`` / ``set_params`` (unknown parameter names refused, as
scikit-learn does), ``fit_predict`` / ``fit_transform`` and the fitted check.
"""

from __future__ import annotations

import inspect

__all__ = ["BaseEstimator", "ClassifierMixin", "ClusterMixin", "TransformerMixin", "NotFittedError",
           "DataConversionWarning", "check_is_fitted"]

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, ClusterMixin, TransformerMixin
    from sklearn.exceptions import DataConversionWarning, NotFittedError
    from sklearn.utils.validation import check_is_fitted
except ImportError:  # pragma: no cover - exercised by test_sklearn_compat with scikit-learn hidden

    class NotFittedError(ValueError, AttributeError):
        """The estimator is used before ``fit``."""

    class DataConversionWarning(UserWarning):
        """The input was converted (a column vector y ravelled)."""

    class BaseEstimator:
        """get_params / set_params over the keyword arguments of ``__init__``."""

        @classmethod
        def _param_names(cls) -> list[str]:
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep=True) -> dict:
            return {k: getattr(self, k) for k in self._param_names()}

        def set_params(self, **params):
            valid = self._param_names()
            for k, v in params.items():
                if k not in valid:
                    raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}; valid: {valid}")
                setattr(self, k, v)
            return self

        def __repr__(self) -> str:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"

        def __sklearn_tags__(self):  # only reached through super() in subclasses
            raise AttributeError("scikit-learn is not installed")

    class ClassifierMixin:
        """Mean accuracy as ``score``."""

        def score(self, X, y, sample_weight=None):
            import numpy as np

            hit = (self.predict(X) == np.asarray(y)).astype(float)
            return float(np.average(hit, weights=sample_weight))

    class ClusterMixin:
        """``fit_predict`` = fit, then the labels of the training rows."""

        def fit_predict(self, X, y=None, sample_weight=None):
            return self.fit(X, sample_weight=sample_weight).labels_

    class TransformerMixin:
        """``fit_transform`` = fit, then transform."""

        def fit_transform(self, X, y=None, **fit_params):
            return self.fit(X, y, **fit_params).transform(X)

    def check_is_fitted(estimator, attributes=None):
        """NotFittedError unless ``fit`` has set a learned attribute (a name ending in ``_``)."""
        if not any(k.endswith("_") and not k.startswith("__") for k in vars(estimator)):
            raise NotFittedError(f"This {type(estimator).__name__} instance is not fitted yet; call 'fit' first.")
