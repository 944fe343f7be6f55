"""k-means segmentation: scikit-learn estimators over the C++ k-means engine.

:class:`KMeans` runs fused Lloyd iterations (the distances of a block of rows
to every centre and their arg-min in one pass; the centres' partial sums in
float64, added in a fixed block order), so the same ``random_state`` gives the
same centres whatever the thread count. Once few labels change, Hamerly's
bounds skip the rows whose label provably stays (the same labels as computing
every distance; the sums move with the rows that change). :class:`MiniBatchKMeans` updates the
centres batch by batch and takes a table chunk by chunk with
:meth:`MiniBatchKMeans.partial_fit`, for tables that do not fit in memory.
"""

from __future__ import annotations

import contextlib
import numbers

import numpy as np

from . import _core, _frames
from ._model_file import ModelFileMixin
from ._config import resolve_threads
from ._progress import Progress, shown
from ._sklearn_compat import BaseEstimator, ClusterMixin, NotFittedError, TransformerMixin
from ._validation import as_vector, check_float, check_int

__all__ = ["KMeans", "MiniBatchKMeans"]

_EMPTY = np.zeros(0, dtype=np.float32)


def _seeds(random_state, n: int) -> list[int]:
    """n 63-bit seeds for the engine from an int, a Generator, a RandomState or None."""
    if isinstance(random_state, np.random.RandomState):
        return [int(random_state.randint(0, 2**31 - 1)) for _ in range(n)]
    if random_state is not None and not isinstance(random_state, (numbers.Integral, np.random.Generator)):
        raise TypeError(f"random_state must be None, an int or a numpy generator, got {type(random_state).__name__}")
    rng = np.random.default_rng(random_state)
    return [int(s) for s in rng.integers(0, 2**63 - 1, size=n)]


def _weights(sample_weight, n: int) -> np.ndarray:
    if sample_weight is None:
        return _EMPTY
    w = as_vector(sample_weight, "sample_weight", n, dtype=np.float32)
    if (w < 0).any():
        raise ValueError("sample_weight must be >= 0")
    if not w.any():
        raise ValueError("sample_weight is all zero")
    return w


def _ready(X) -> bool:
    """X is already what the engine reads: a C-contiguous, non-empty 2-D float32 array."""
    return (type(X) is np.ndarray and X.dtype == np.float32 and X.ndim == 2 and X.flags.c_contiguous
            and X.size > 0)


class _FitBar:
    """The bar of a fit over its iterations: ``runs`` runs of at most
    ``max_iter`` iterations of ``per_iter`` units each; a run that stops early
    lowers the total by what it did not run. Its methods are the engines'
    progress callbacks (None when the bar is off: the engine then only lets
    Ctrl-C through)."""

    def __init__(self, progress, *, runs: int, max_iter: int, per_iter: int, desc: str, unit: str):
        self.bar = Progress(runs * max_iter * per_iter, desc=desc, unit=unit, enabled=shown(progress))
        self.max_iter, self.per_iter, self.base = max_iter, per_iter, 0

    def callback(self, name: str):
        return getattr(self, name) if self.bar.enabled else None

    def seeding(self, stage, done, total, note, value):
        self.bar.set_postfix(f"seeding {done:,}/{total:,} centres")

    def iterations(self, stage, done, total, note, value):
        """Lloyd's reports: done of total iterations, the labels changed as value."""
        if total < self.max_iter:  # the run converged: its last report
            self.bar.set_total(self.bar.total - (self.max_iter - total))
        self.bar.update(self.base + done - self.bar.done)
        self.bar.set_postfix(f"{int(value):,} labels changed")

    def batches(self, stage, done, total, note, value):
        """A mini-batch pass's reports: rows done of the pass."""
        self.bar.update(self.base + done - self.bar.done)

    def close(self):
        self.bar.close()

    def end_run(self, units: int, last: bool = False):
        """A run (or pass) of ``units`` ended; ``last``: the fit stops after it."""
        self.base += units
        if last:
            self.bar.set_total(self.base)


class _KMeansBase(ModelFileMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    @contextlib.contextmanager
    def _all_or_nothing(self):
        """A fit that raises — bad input, Ctrl-C — leaves the estimator as it
        was (the engines update nothing in place when they fail or stop)."""
        before = dict(self.__dict__)
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _check_fitted(self):
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet; call 'fit' first.")

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        """X as the engine's float32 matrix; a frame's columns are matched by
        name against those seen at fit (never by position)."""
        names = _frames.column_names(X)
        if reset:
            if names is not None:
                self.feature_names_in_ = np.asarray(names, dtype=object)
            else:
                self.__dict__.pop("feature_names_in_", None)
        elif names is not None and hasattr(self, "feature_names_in_"):
            X = _frames.select_columns(X, list(self.feature_names_in_), "X")
        # A ready matrix is not scanned here: the engine checks finiteness and
        # range (|x| small enough for float32 squared distances) in its own
        # pass (no copy, no second scan).
        X = _frames.numeric_matrix(X, "X", check_finite=not _ready(X),
                                   n_features=None if reset else self.n_features_in_, model=type(self).__name__)
        if reset:
            self.n_features_in_ = X.shape[1]
        return X

    def _check_params(self, n: int) -> int:
        k = check_int(self.n_clusters, "n_clusters", min_value=1)
        if k > n:
            raise ValueError(f"n_clusters={k} is larger than the number of rows, {n}")
        check_int(self.max_iter, "max_iter", min_value=1)
        check_float(self.tol, "tol", min_value=0.0)
        resolve_threads(self.n_threads)  # refuses a bad n_threads before any work
        shown(getattr(self, "progress", False))  # and a bad progress (absent from older model files)
        return k

    def _initial_centers(self, X, w, k: int, seed: int, report=None) -> np.ndarray:
        init = self.init
        if isinstance(init, str):
            return _core.kmeans_init(X, w, k, seed, init, n_threads=resolve_threads(self.n_threads), progress=report)
        if callable(init):
            init = init(X, k, seed)
        c = _frames.numeric_matrix(init, "init")
        if c.shape != (k, X.shape[1]):
            raise ValueError(f"init has shape {c.shape}, expected ({k}, {X.shape[1]})")
        return c.copy()

    def predict(self, X, sample_weight=None):
        """Index of the nearest centre of each row."""
        self._check_fitted()
        X = self._check_X(X, reset=False)
        labels, _, _ = _core.kmeans_assign(X, _EMPTY, self.cluster_centers_, n_threads=resolve_threads(self.n_threads))
        return labels.astype(np.int64, copy=False)

    def transform(self, X):
        """Euclidean distance of each row to each centre (n x n_clusters)."""
        self._check_fitted()
        X = self._check_X(X, reset=False)
        d2 = _core.kmeans_distances(X, self.cluster_centers_, n_threads=resolve_threads(self.n_threads))
        return np.sqrt(d2, out=d2)

    def fit_transform(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Minus the inertia of X against the centres (higher is better)."""
        self._check_fitted()
        X = self._check_X(X, reset=False)
        w = _weights(sample_weight, X.shape[0])
        _, _, inertia = _core.kmeans_assign(X, w, self.cluster_centers_, n_threads=resolve_threads(self.n_threads))
        return -inertia

    def __repr__(self) -> str:
        from . import _display  # the parameters, then what the fit learnt
        return _display.kmeans_text(self, super().__repr__())

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.kmeans(self)

    def _repr_mimebundle_(self, **kwargs) -> dict:
        # scikit-learn's bundle (its estimator diagram) would take precedence
        # over _repr_html_ in Jupyter: give ours.
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class KMeans(_KMeansBase):
    """k-means by Lloyd iterations.

    Parameters
    ----------
    n_clusters : number of segments (1 <= n_clusters <= rows).
    init : ``"k-means++"`` (greedy, 2 + log k candidates per step), ``"random"``
        (distinct rows), an (n_clusters, n_features) array, or a callable
        ``init(X, n_clusters, seed)`` returning one.
    n_init : initialisations tried, the lowest inertia kept; ``"auto"`` is 1
        for k-means++ and arrays, 10 for random (scikit-learn's rule).
    max_iter, tol : at most ``max_iter`` iterations; stop when labels no longer
        change or the centres' squared shift is at most ``tol`` times the mean
        per-feature variance.
    random_state : seed (int), numpy generator, or None (fresh entropy).
    n_threads : threads of this estimator's calls (None: the ``threads(n)`` block
        around the call, else the process default).
    progress : a bar over the iterations during ``fit`` (True; None: when
        stderr is a terminal; False, the default: none), the k-means++ seeding
        and the labels changed by the last iteration as its note; runs that
        converge lower its total. Ctrl-C stops a fit in any case
        (KeyboardInterrupt), leaving the estimator as it was.

    Attributes: ``cluster_centers_`` (float32), ``labels_``, ``inertia_``
    (float64 sum of weighted squared distances), ``n_iter_``, ``n_features_in_``.
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto", max_iter=300, tol=1e-4,
                 random_state=None, n_threads=None, progress=False):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.n_threads = n_threads
        self.progress = progress

    def _n_init(self) -> int:
        if self.n_init == "auto":
            return 10 if isinstance(self.init, str) and self.init == "random" else 1
        return check_int(self.n_init, "n_init", min_value=1)

    def fit(self, X, y=None, sample_weight=None):
        """Fit the centres on X (numeric matrix or frame, no NaN; a frame's column
        names are kept in ``feature_names_in_``); ``sample_weight`` >= 0 per row.
        Returns self."""
        with self._all_or_nothing():
            return self._fit(X, sample_weight)

    def _fit(self, X, sample_weight):
        X = self._check_X(X, reset=True)
        k = self._check_params(X.shape[0])
        w = _weights(sample_weight, X.shape[0])
        n_init = self._n_init()
        best = None
        fit_bar = _FitBar(getattr(self, "progress", False), runs=n_init, max_iter=int(self.max_iter), per_iter=1,
                          desc="k-means", unit="iter")
        with contextlib.closing(fit_bar) as fb:
            for seed in _seeds(self.random_state, n_init):
                init = self._initial_centers(X, w, k, seed, fb.callback("seeding"))
                run = _core.kmeans_lloyd(X, w, init, self.max_iter, float(self.tol),
                                         n_threads=resolve_threads(self.n_threads),
                                         progress=fb.callback("iterations"))
                fb.end_run(run[3])
                if best is None or run[2] < best[2]:
                    best = run
                if n_init > 1 and fb.bar.enabled:
                    fb.bar.set_postfix(f"best inertia {best[2]:.6g}")
        centers, labels, inertia, n_iter = best
        self.cluster_centers_ = centers
        self.labels_ = labels.astype(np.int64, copy=False)
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        return self


class MiniBatchKMeans(_KMeansBase):
    """k-means by mini-batch updates, for tables too big for memory.

    Each batch of ``batch_size`` rows is assigned to the current centres, then
    every centre moves to the weighted mean of all the rows it has absorbed so
    far (a per-centre learning rate of batch weight / total weight). ``fit``
    makes up to ``max_iter`` passes over X in row order and stops when a pass
    moves the centres by at most ``tol`` (scaled as in :class:`KMeans`);
    :meth:`partial_fit` takes one chunk at a time, so memory is bounded by
    the chunk. The first chunk (or X) seeds the centres with ``init``, run on
    ``init_size`` rows drawn from it (default 3 * batch_size, as
    scikit-learn), since k-means++ costs rows * n_clusters.

    ``progress``: a bar over the rows of ``fit``'s passes (True; None: when
    stderr is a terminal; False, the default: none); a fit that converges
    early lowers its total. Ctrl-C stops ``fit`` and ``partial_fit`` in any
    case (KeyboardInterrupt), leaving the estimator as it was.
    """

    def __init__(self, n_clusters=8, *, init="k-means++", batch_size=4096, init_size=None, max_iter=10, tol=1e-4,
                 random_state=None, n_threads=None, progress=False):
        self.n_clusters = n_clusters
        self.init = init
        self.batch_size = batch_size
        self.init_size = init_size
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.n_threads = n_threads
        self.progress = progress

    def _start(self, X, w):
        k = self._check_params(X.shape[0])
        batch = check_int(self.batch_size, "batch_size", min_value=1)
        size = 3 * batch if self.init_size is None else check_int(self.init_size, "init_size", min_value=1)
        seed = _seeds(self.random_state, 1)[0]
        if size < X.shape[0]:  # seed the centres from a sample, as k-means++ costs n * k
            rows = np.sort(np.random.default_rng(seed).choice(X.shape[0], max(size, k), replace=False))
            X, w = np.ascontiguousarray(X[rows]), (w[rows] if len(w) else w)
            if len(w) and not w.any():
                w = np.ones(len(rows), dtype=np.float32)
        self.cluster_centers_ = self._initial_centers(X, w, k, seed)
        self.counts_ = np.zeros(k, dtype=np.float64)
        self.n_steps_ = 0

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the centres with one chunk of rows."""
        with self._all_or_nothing():
            return self._partial_fit(X, sample_weight)

    def _partial_fit(self, X, sample_weight):
        first = not hasattr(self, "cluster_centers_")
        X = self._check_X(X, reset=first)
        w = _weights(sample_weight, X.shape[0])
        if first:
            self._start(X, w)
        self.inertia_ = float(_core.kmeans_minibatch_update(X, w, self.cluster_centers_, self.counts_,
                                                            int(self.batch_size),
                                                            n_threads=resolve_threads(self.n_threads)))
        self.n_steps_ += -(-X.shape[0] // int(self.batch_size))
        return self

    def fit(self, X, y=None, sample_weight=None):
        """Up to ``max_iter`` mini-batch passes over X in row order (see the class
        docstring); the centres start afresh. Returns self."""
        with self._all_or_nothing():
            return self._fit(X, sample_weight)

    def _fit(self, X, sample_weight):
        for attr in ("cluster_centers_", "counts_"):
            self.__dict__.pop(attr, None)
        X = self._check_X(X, reset=True)
        w = _weights(sample_weight, X.shape[0])
        tol = float(self.tol) * float(np.var(X, axis=0, dtype=np.float64).mean())
        n_threads = resolve_threads(self.n_threads)
        self._start(X, w)
        max_iter, n = int(self.max_iter), X.shape[0]
        fit_bar = _FitBar(getattr(self, "progress", False), runs=1, max_iter=max_iter, per_iter=n,
                          desc="mini-batch k-means", unit="row")
        with contextlib.closing(fit_bar) as fb:
            for it in range(max_iter):
                before = self.cluster_centers_.copy()
                fb.bar.set_postfix(f"pass {it + 1}/{max_iter}")
                _core.kmeans_minibatch_update(X, w, self.cluster_centers_, self.counts_, int(self.batch_size),
                                              n_threads=n_threads, progress=fb.callback("batches"))
                self.n_steps_ += -(-X.shape[0] // int(self.batch_size))
                converged = float(((self.cluster_centers_ - before).astype(np.float64) ** 2).sum()) <= tol
                fb.end_run(n, last=converged)
                if converged:
                    break
        labels, _, inertia = _core.kmeans_assign(X, w, self.cluster_centers_, n_threads=n_threads)
        self.n_iter_ = it + 1
        self.labels_ = labels.astype(np.int64, copy=False)
        self.inertia_ = float(inertia)
        return self
