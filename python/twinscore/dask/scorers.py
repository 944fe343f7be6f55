"""The fitted scorers on Dask DataFrames: trees, logistic regression and
k-means assignment, partition by partition."""

from __future__ import annotations

import numpy as np

from ..cluster import KMeans
from ..linear import LogisticScorer
from ..trees import TreeScorer
from ._partitions import _is_dask, _map_partitions, _require_frame

__all__ = ["DaskLogisticScorer", "DaskTreeScorer", "DaskKMeans"]


class DaskLogisticScorer(LogisticScorer):
    """:class:`twinscore.LogisticScorer` that also scores Dask DataFrames.

    ``fit`` takes pandas/numpy input, or a Dask DataFrame and Series that are
    computed first (the training table must fit in memory). ``predict_proba``
    on a Dask DataFrame returns a Dask DataFrame with one column per class;
    ``predict`` and ``decision_function`` a Dask Series; ``explain`` a Dask
    DataFrame of reasons.
    """

    def fit(self, X, y, sample_weight=None):
        """Fit in memory: a Dask DataFrame or Series is computed first (a training sample). Returns self."""
        if _is_dask(X):
            X = X.compute()
        if _is_dask(y):
            y = y.compute()
        if _is_dask(sample_weight):
            sample_weight = sample_weight.compute()
        return super().fit(X, y, sample_weight=sample_weight)

    def predict_proba(self, X):
        """Class probabilities: a Dask DataFrame (``proba_<class>`` columns, the partitions' index) for
        a Dask DataFrame, else as :meth:`twinscore.LogisticScorer.predict_proba`."""
        if not _is_dask(X):
            return super().predict_proba(X)
        local = self.to_local()
        columns = [f"proba_{c}" for c in self.classes_]
        return _map_partitions(_require_frame(X, "predict_proba", self._names()), local.predict_proba, columns,
                               {c: np.float64 for c in columns})

    def decision_function(self, X):
        if not _is_dask(X):
            return super().decision_function(X)
        return _map_partitions(_require_frame(X, "decision_function", self._names()), self.to_local().decision_function, None,
                               np.float64, name="decision")

    def predict(self, X):
        """The predicted class: a Dask Series for a Dask DataFrame, else as the local scorer."""
        if not _is_dask(X):
            return super().predict(X)
        return _map_partitions(_require_frame(X, "predict", self._names()), self.to_local().predict, None,
                               np.asarray(self.classes_).dtype, name="prediction")

    def explain(self, X, top: int = 3):
        if not _is_dask(X):
            return super().explain(X, top=top)
        X = _require_frame(X, "explain", self._names())
        local = self.to_local()
        meta = local.explain(X._meta_nonempty.head(1), top=top)
        return _map_partitions(X, lambda df: local.explain(df, top=top), list(meta.columns), meta.dtypes.to_dict())

    def _names(self):
        return list(getattr(self, "feature_names_in_", [])) or None

    def to_local(self) -> LogisticScorer:
        """The plain, fitted :class:`LogisticScorer`."""
        local = LogisticScorer(**self.get_params())
        local.__dict__.update({k: v for k, v in self.__dict__.items() if k.endswith("_")})
        return local


class DaskTreeScorer(TreeScorer):
    """:class:`twinscore.TreeScorer` that also scores Dask DataFrames: build it
    with ``from_xgboost`` / ``from_lightgbm``; ``predict`` and ``predict_margin``
    return a Dask Series (``score``, or a DataFrame ``score_k`` per class),
    ``top_reasons`` a Dask DataFrame."""

    def _columns(self, what: str):
        n = self.n_outputs
        if n == 1 or self.objective == "multi:softmax" and what == "predict":
            return None
        return [f"{what}_{k}" for k in range(n)]

    def _dtype(self):
        return np.float32 if self.library == "xgboost" else np.float64

    def predict(self, X, *, iteration_range=None, n_threads=None):
        if not _is_dask(X):
            return super().predict(X, iteration_range=iteration_range, n_threads=n_threads)
        local = self.to_local()
        fn = lambda df: local.predict(df, iteration_range=iteration_range, n_threads=n_threads)  # noqa: E731
        cols = self._columns("score")
        dtypes = self._dtype() if cols is None else {c: self._dtype() for c in cols}
        return _map_partitions(_require_frame(X, "predict", self._names()), fn, cols, dtypes, name="score")

    def predict_margin(self, X, *, iteration_range=None, n_threads=None):
        if not _is_dask(X):
            return super().predict_margin(X, iteration_range=iteration_range, n_threads=n_threads)
        local = self.to_local()
        fn = lambda df: local.predict_margin(df, iteration_range=iteration_range, n_threads=n_threads)  # noqa: E731
        cols = self._columns("margin")
        dtypes = np.float64 if cols is None else {c: np.float64 for c in cols}
        return _map_partitions(_require_frame(X, "predict_margin", self._names()), fn, cols, dtypes, name="margin")

    def top_reasons(self, X, top: int = 3, *, groups=None, direction: str = "up", output: int = 0,
                    n_threads=None):
        if not _is_dask(X):
            return super().top_reasons(X, top, groups=groups, direction=direction, output=output,
                                       n_threads=n_threads)
        X = _require_frame(X, "top_reasons", self._names())
        local = self.to_local()

        def fn(df):
            return local.top_reasons(df, top, groups=groups, direction=direction, output=output,
                                     n_threads=n_threads)

        meta = fn(X._meta_nonempty.head(1))
        return _map_partitions(X, fn, list(meta.columns), meta.dtypes.to_dict())

    def _names(self):
        return list(self._engine.feature_names) or None  # models without names match by position

    def to_local(self) -> TreeScorer:
        """The plain :class:`TreeScorer` over the same engine (no copy)."""
        local = TreeScorer(self._engine, categories=self.categories_, iteration_range=self.iteration_range_,
                           source=self.source_)
        local._payload = getattr(self, "_payload", None)
        return local


class DaskKMeans(KMeans):
    """:class:`twinscore.KMeans` whose ``predict`` and ``transform`` also take
    Dask DataFrames (numeric columns, in the order seen at fit); ``fit`` on a
    Dask DataFrame computes it first."""

    def fit(self, X, y=None, sample_weight=None):
        """Fit in memory: a Dask DataFrame is computed first (a training sample). Returns self."""
        if _is_dask(X):
            X = X.compute()
        if _is_dask(sample_weight):
            sample_weight = sample_weight.compute()
        return super().fit(X, y, sample_weight=sample_weight)

    def predict(self, X, sample_weight=None):
        if not _is_dask(X):
            return super().predict(X, sample_weight=sample_weight)
        local = self.to_local()
        dtype = local.predict(self.cluster_centers_[:1]).dtype
        return _map_partitions(_require_frame(X, "predict"), local.predict, None, dtype, name="segment")

    def transform(self, X):
        if not _is_dask(X):
            return super().transform(X)
        local = self.to_local()
        cols = [f"distance_{k}" for k in range(self.n_clusters)]
        dtype = local.transform(self.cluster_centers_[:1]).dtype
        return _map_partitions(_require_frame(X, "transform"), local.transform, cols, {c: dtype for c in cols})

    def to_local(self) -> KMeans:
        """The plain, fitted :class:`KMeans`."""
        local = KMeans(**self.get_params())
        local.__dict__.update({k: v for k, v in self.__dict__.items() if k.endswith("_")})
        return local
