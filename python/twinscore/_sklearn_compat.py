"""The part of scikit-learn's estimator contract LogisticScorer needs, for
installations without scikit-learn (get_params / set_params / fitted check)."""

from __future__ import annotations

import inspect


class NotFittedError(ValueError, AttributeError):
    pass


class BaseEstimator:
    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params):
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}; valid: {valid}")
            setattr(self, k, v)
        return self

    def __sklearn_tags__(self):  # only reached through super() in subclasses
        raise AttributeError("scikit-learn is not installed")


class ClassifierMixin:
    def score(self, X, y):
        import numpy as np

        return float(np.mean(self.predict(X) == np.asarray(y)))


def check_is_fitted(estimator):
    if not any(k.endswith("_") and not k.startswith("__") for k in vars(estimator)):
        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet: call fit first")
