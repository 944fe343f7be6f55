"""Tree-ensemble scoring: XGBoost and LightGBM models loaded by twinscore's own
readers, scored in batches by the C++ engine and explained with exact TreeSHAP.

    scorer = ts.TreeScorer.from_xgboost("model.json")    # or .ubj, a Booster, an XGBClassifier
    p = scorer.predict(X)                                # what xgboost's predict returns
    phi = scorer.contributions(X)                        # SHAP values + bias column
    scorer.top_reasons(X, top=3, groups={"region": [...]})

No compiler step and no pickle: the model file is parsed and checked (a
truncated, foreign or inconsistent file raises ``ValueError``), then flattened
into arrays laid out for batch scoring.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import _core, _frames
from ._model_file import ModelFileMixin
from ._config import resolve_threads
from ._progress import progress as progress_bar
from ._validation import check_int

__all__ = ["TreeScorer"]


# Model files larger than this are refused before anything is read (a 1,000-tree
# depth-8 XGBoost JSON model is ~20 MB); from_xgboost/from_lightgbm take max_bytes.
DEFAULT_MAX_MODEL_BYTES = 1 << 30

# The matrices the engine reads without a copy (either library, either precision).
_ENGINE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Frames of plain numeric columns up to this many rows are read in one block
# (a request's row, a small batch): per-column pandas access costs more than
# their scoring. Larger frames go column by column, without the block's copy.
_FRAME_BLOCK_ROWS = 4096


# Model bytes from a path (a regular file, size-checked) or bytes: shared with the model files.
_read_model_bytes = _frames.read_model_bytes
_shown = _frames.shown_path


def _in_chunks(call, X: np.ndarray, progress, desc: str, min_rows: int) -> np.ndarray:
    """call(X), or with a bar: call over about 100 row slices (views, no copy)
    joined in order — rows are scored independently, so the result is the same."""
    if progress is False:  # the default: no bar to set up
        return call(X)
    bar = progress_bar(len(X), desc=desc, unit="row", enabled=progress)
    if not bar.enabled or len(X) < min_rows:
        bar.close()
        return call(X)
    bounds = np.linspace(0, len(X), min(100, len(X) // (min_rows // 100)) + 1).astype(np.int64)
    parts = []
    with bar:
        for a, b in zip(bounds[:-1], bounds[1:]):
            parts.append(call(X[a:b]))
            bar.update(int(b - a))
    return np.concatenate(parts)


def _lightgbm_pandas_categorical(text: str) -> list | None:
    """The category lists LightGBM saved for pandas categorical columns."""
    tail = text[-min(len(text), 1 << 20):]
    key = "pandas_categorical:"
    at = tail.rfind(key)
    if at < 0:
        return None
    line = tail[at + len(key):].split("\n", 1)[0].strip()
    try:
        value = json.loads(line)
    except ValueError:
        raise ValueError("LightGBM model: the pandas_categorical line is not valid JSON") from None
    if value is not None and not (isinstance(value, list) and all(isinstance(v, list) for v in value)):
        raise ValueError("LightGBM model: pandas_categorical must be a list of category lists")
    return value


class TreeScorer(ModelFileMixin):
    """Scores and explains a gradient-boosted tree ensemble trained by XGBoost or LightGBM.

    Build it with :meth:`from_xgboost` or :meth:`from_lightgbm`. ``predict``
    returns what the training library's ``predict`` returns (probabilities for
    classifiers, one column per class for multiclass), ``predict_margin`` the
    raw scores, ``contributions`` exact SHAP values. Inputs: numpy float32 /
    float64 matrices (NaN = missing; float32 C-contiguous input is not copied),
    pandas DataFrames (columns matched by the model's feature names, pandas
    categoricals mapped through the model's categories) or a ContactTable.
    Results do not depend on the number of threads.
    """

    def __init__(self, ensemble, *, categories: Mapping[str, Sequence] | None = None,
                 iteration_range: tuple[int, int] | None = None, source: str = ""):
        self._engine = ensemble
        # Read once: a single row's predict must not pay for engine lookups.
        self._float32 = ensemble.flavor == "xgboost"
        self._n_features = ensemble.num_features
        self.categories_ = dict(categories or {})
        self.iteration_range_ = iteration_range or (0, 0)
        self.source_ = source

    # -- construction --------------------------------------------------------
    @classmethod
    def from_xgboost(cls, model, *, block_rows: int = 64, max_bytes: int = DEFAULT_MAX_MODEL_BYTES) -> "TreeScorer":
        """From an XGBoost model: a ``.json`` / ``.ubj`` path, their bytes, an
        ``xgboost.Booster`` or a scikit-learn ``XGBModel`` (whose
        ``best_iteration`` then limits the trees, as its ``predict`` does).
        A path must be a regular file of at most ``max_bytes`` (default 1 GiB)."""
        block_rows = check_int(block_rows, "block_rows", min_value=16, max_value=4096)
        max_bytes = check_int(max_bytes, "max_bytes", min_value=1)
        data = _read_model_bytes(model, "XGBoost", max_bytes)
        iteration_range = None
        categories = None
        source = "xgboost file" if data is not None else ""
        if data is None:
            booster = model
            if hasattr(model, "get_booster"):  # XGBClassifier / XGBRegressor
                booster = model.get_booster()
                best = getattr(model, "best_iteration", None) if _has_best(model) else None
                if best is not None:
                    iteration_range = (0, int(best) + 1)
            if not hasattr(booster, "save_raw"):
                raise TypeError("from_xgboost expects a path, bytes, an xgboost.Booster or an XGBModel, "
                                f"got {type(model).__name__}")
            data = bytes(booster.save_raw(raw_format="ubj"))
            source = f"xgboost {type(model).__name__}"
        if not data:
            raise ValueError("invalid model: the XGBoost model file is empty")
        engine = _core.TreeEnsemble.load_xgboost(data, block_rows, n_threads=resolve_threads())
        categories = _xgboost_model_categories(engine)
        scorer = cls(engine, categories=categories, iteration_range=iteration_range, source=source)
        scorer._payload = ("xgboost", data, block_rows, iteration_range)
        return scorer

    @classmethod
    def from_lightgbm(cls, model, *, block_rows: int = 64,
                      max_bytes: int = DEFAULT_MAX_MODEL_BYTES) -> "TreeScorer":
        """From a LightGBM model: a text model path (``Booster.save_model``), the
        model text (a string holding a line break, whatever the line endings), a
        ``lightgbm.Booster`` or a scikit-learn ``LGBMModel``. A path must be a
        regular file of at most ``max_bytes`` (default 1 GiB)."""
        block_rows = check_int(block_rows, "block_rows", min_value=16, max_value=4096)
        max_bytes = check_int(max_bytes, "max_bytes", min_value=1)
        if isinstance(model, str) and ("\n" in model or "\r" in model):  # text, never a path
            text = model.lstrip("\r\n")
            source = "lightgbm text"
        elif hasattr(model, "booster_") or hasattr(model, "model_to_string"):
            booster = model.booster_ if hasattr(model, "booster_") else model
            text = booster.model_to_string()
            source = f"lightgbm {type(model).__name__}"
        else:
            data = _read_model_bytes(model, "LightGBM", max_bytes)
            if data is None:
                raise TypeError("from_lightgbm expects a path, the model text, a lightgbm.Booster or an "
                                f"LGBMModel, got {type(model).__name__}")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("invalid model: not a LightGBM text model (not UTF-8 text; "
                                 "binary LightGBM models are not supported, save with save_model)") from None
            source = "lightgbm file"
        engine = _core.TreeEnsemble.load_lightgbm(text.encode("utf-8"), block_rows, n_threads=resolve_threads())
        categories = {}
        pandas_cats = _lightgbm_pandas_categorical(text)
        if pandas_cats:
            cat_features = [n for n, t in zip(engine.feature_names, engine.feature_types) if t == "categorical"]
            # LightGBM stores one list per pandas categorical column, in column order.
            if len(pandas_cats) == len(cat_features):
                categories = dict(zip(cat_features, pandas_cats))
        scorer = cls(engine, categories=categories, source=source)
        scorer._payload = ("lightgbm", text, block_rows, None)
        return scorer

    # -- model files and pickling (Dask, joblib, multiprocessing) --------------
    # The engine is not stored: the model file (and so a pickle) holds the
    # model bytes it was read from, parsed and validated again on load.
    # What is read off the engine is not stored either: it is read again on load.
    _model_file_skip = ("_engine", "_float32", "_n_features")

    def _state_check(self):
        if getattr(self, "_payload", None) is None:
            raise TypeError("this TreeScorer was not built by from_xgboost/from_lightgbm: it cannot be pickled or "
                            "saved")

    def _model_file_restore(self):
        payload = self.__dict__.get("_payload")
        if not isinstance(payload, tuple) or len(payload) != 4 or payload[0] not in ("xgboost", "lightgbm") \
                or not isinstance(payload[1], (bytes, str)):
            raise ValueError("the TreeScorer's model bytes are missing or malformed")
        fresh = type(self)._from_payload(*payload)
        self._engine, self._float32, self._n_features = fresh._engine, fresh._float32, fresh._n_features

    @classmethod
    def _from_payload(cls, library, data, block_rows, iteration_range):
        scorer = (cls.from_xgboost if library == "xgboost" else cls.from_lightgbm)(data, block_rows=block_rows)
        scorer.iteration_range_ = iteration_range or (0, 0)
        scorer._payload = (library, data, block_rows, iteration_range)
        return scorer

    # -- description ---------------------------------------------------------
    @property
    def library(self) -> str:
        """'xgboost' or 'lightgbm': whose split rules the model follows."""
        return self._engine.flavor

    @property
    def n_features_in_(self) -> int:
        """Number of input features the model reads."""
        return self._engine.num_features

    @property
    def feature_names_in_(self) -> list[str]:
        """The model's feature names (``f0, f1, ...`` when it has none)."""
        names = self._engine.feature_names
        return list(names) if names else [f"f{i}" for i in range(self._engine.num_features)]

    @property
    def objective(self) -> str:
        """The training objective as the library names it (e.g. ``binary:logistic``, ``binary``)."""
        return self._engine.objective

    @property
    def n_outputs(self) -> int:
        """Margins per row (the number of classes for multiclass models, else 1)."""
        return self._engine.num_groups

    @property
    def n_iterations(self) -> int:
        """Boosting rounds in the model (each holds one tree per output)."""
        return self._engine.num_iterations

    @property
    def n_trees(self) -> int:
        """Trees in the model."""
        return self._engine.num_trees

    def __repr__(self) -> str:
        return (f"TreeScorer({self.library}, {self.objective}, {self.n_trees} trees, "
                f"{self.n_features_in_} features, {self.n_outputs} output{'s' if self.n_outputs > 1 else ''})")

    def _repr_html_(self) -> str:
        from . import _display  # every display is drawn there
        return _display.tree_scorer(self)

    # -- scoring -------------------------------------------------------------
    def predict(self, X, *, iteration_range: tuple[int, int] | None = None, n_threads: int | None = None,
                progress: bool | None = False):
        """What the training library's ``predict`` returns: probabilities for
        binary (n,) and multiclass (n, classes) models, the class for
        ``multi:softmax``, the regression value otherwise. float32 for XGBoost
        models (as xgboost returns), float64 for LightGBM.

        ``progress``: a bar over the rows (True; None: when stderr is a
        terminal), the rows then scored in chunks — the same results."""
        Xf = self._features(X)
        begin, end = self._range(iteration_range)
        n = resolve_threads(n_threads)
        if progress is False:  # one engine call, arguments by position: a single row pays for little else
            return self._engine.predict(Xf, begin, end, self._float32, n)
        return _in_chunks(lambda rows: self._engine.predict(rows, begin, end, self._float32, n), Xf, progress,
                          "trees", min_rows=100_000)

    def predict_margin(self, X, *, iteration_range: tuple[int, int] | None = None, n_threads: int | None = None,
                       progress: bool | None = False):
        """Raw scores before the link (log-odds for binary models), base score included."""
        return self._shape(self._margins(X, iteration_range, n_threads, progress))

    def contributions(self, X, *, iteration_range: tuple[int, int] | None = None, n_threads: int | None = None,
                      progress: bool | None = False):
        """Exact SHAP values (path-dependent TreeSHAP): (n, d + 1), the last
        column being the bias, or (n, classes, d + 1) for multiclass models.
        Each row sums to its margin. ``progress`` as in :meth:`predict`."""
        Xf = self._features(X)
        begin, end = self._range(iteration_range)
        n = resolve_threads(n_threads)
        phi = _in_chunks(lambda rows: self._engine.contributions(rows, begin, end, n_threads=n), Xf, progress,
                         "TreeSHAP", min_rows=2_000)
        if self.library == "xgboost":
            phi = phi.astype(np.float32)
        return phi[:, 0, :] if phi.shape[1] == 1 else phi

    def top_reasons(self, X, top: int = 3, *, groups: Mapping[str, Sequence[str]] | None = None,
                    direction: str = "up", output: int = 0, n_threads: int | None = None,
                    progress: bool | None = False) -> pd.DataFrame:
        """The ``top`` features that move each row's score most, readable next to the score.

        ``groups`` sums the contributions of several columns into one reason
        (``{"region": ["region=north", "region=south", ...]}``: the one-hot
        columns of one field); other columns stay reasons of their own.
        ``direction``: "up" (what raises the score), "down" or "abs".
        Returns a DataFrame with ``reason_k`` and ``contribution_k`` columns.
        """
        top = check_int(top, "top", min_value=1)
        if direction not in ("up", "down", "abs"):
            raise ValueError(f"direction must be 'up', 'down' or 'abs', got {direction!r}")
        output = check_int(output, "output", min_value=0, max_value=self.n_outputs - 1)
        phi = self.contributions(X, n_threads=n_threads, progress=progress)
        if phi.ndim == 3:
            phi = phi[:, output, :]
        phi = np.asarray(phi[:, :-1], dtype=np.float64)
        names = self.feature_names_in_
        labels, M = self._group_matrix(names, groups)
        grouped = phi @ M  # (n, reasons)
        top = min(top, grouped.shape[1])
        key = {"up": -grouped, "down": grouped, "abs": -np.abs(grouped)}[direction]
        order = np.argsort(key, axis=1, kind="stable")[:, :top]
        values = np.take_along_axis(grouped, order, axis=1)
        labels = np.asarray(labels, dtype=object)
        out = {}
        for k in range(top):  # a loop over reason ranks, not rows
            out[f"reason_{k + 1}"] = labels[order[:, k]]
            out[f"contribution_{k + 1}"] = values[:, k]
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(out, index=index)

    # -- helpers ---------------------------------------------------------------
    @staticmethod
    def _group_matrix(names: list[str], groups):
        if not groups:
            return list(names), np.eye(len(names))
        if not isinstance(groups, Mapping):
            raise TypeError(f"groups must map each reason to a list of columns, e.g. {{'region': ['region=n', "
                            f"'region=s']}}, got {type(groups).__name__}")
        pos = {n: i for i, n in enumerate(names)}
        owner: dict[int, int] = {}
        labels: list[str] = []
        for g, cols in groups.items():
            if isinstance(cols, str):
                raise TypeError(f"groups['{g}'] must be a list of column names, got a string")
            labels.append(str(g))
            for c in cols:
                if c not in pos:
                    raise KeyError(f"groups['{g}']: column '{c}' is not a feature of the model")
                if pos[c] in owner:
                    raise ValueError(f"column '{c}' is in two groups")
                owner[pos[c]] = len(labels) - 1
        for i, n in enumerate(names):
            if i not in owner:
                labels.append(n)
                owner[i] = len(labels) - 1
        M = np.zeros((len(names), len(labels)))
        M[list(owner.keys()), list(owner.values())] = 1.0
        return labels, M

    def _range(self, iteration_range):
        if iteration_range is None:
            return self.iteration_range_
        if not (isinstance(iteration_range, (tuple, list)) and len(iteration_range) == 2):
            raise TypeError("iteration_range must be a (begin, end) pair")
        begin = check_int(iteration_range[0], "iteration_range[0]", min_value=0)
        end = check_int(iteration_range[1], "iteration_range[1]", min_value=0)
        if end != 0 and not begin < end <= self.n_iterations:
            raise ValueError(f"iteration_range {tuple(iteration_range)} is not within the model's "
                             f"{self.n_iterations} iterations")
        return begin, end

    def _margins(self, X, iteration_range, n_threads, progress=False):
        Xf = self._features(X)
        begin, end = self._range(iteration_range)
        n = resolve_threads(n_threads)
        return _in_chunks(lambda rows: self._engine.predict_margin(rows, begin, end, n_threads=n), Xf, progress,
                          "trees", min_rows=100_000)

    def _shape(self, out: np.ndarray) -> np.ndarray:
        if self.library == "xgboost":
            out = out.astype(np.float32)
        return out[:, 0] if out.shape[1] == 1 else out

    def _features(self, X) -> np.ndarray:
        """X as the (n, d) float32/float64 C-contiguous matrix the engine reads."""
        if (type(X) is np.ndarray and X.ndim == 2 and X.dtype in _ENGINE_DTYPES and X.flags.c_contiguous
                and X.shape[1] == self._n_features):
            return X  # read as it is (the engine checks its columns): a single row pays no conversion
        from .table import ContactTable

        if isinstance(X, ContactTable):
            return self._from_columns({c: _table_column(X, c) for c in X.column_names}, X.n_rows, "table")
        if _frames.is_frame(X):  # pandas, Arrow or polars: columns matched by the model's names
            return self._from_frame(_frames.as_pandas(X, "X"))
        if np.isscalar(X):
            raise TypeError(f"X must be a 2-D array, a DataFrame or a ContactTable, got {type(X).__name__}")
        # NaN is missing and inf a value for the trees: no finiteness check.
        # Integers go to the precision the library compares in.
        dtype = (np.float64, np.float32) if self.library == "lightgbm" else (np.float32, np.float64)
        return _frames.numeric_matrix(X, "X", dtype=dtype, check_finite=False, n_features=self.n_features_in_,
                                      min_rows=0)

    def _from_frame(self, df: pd.DataFrame) -> np.ndarray:
        names = self._engine.feature_names
        cols = [str(c) for c in df.columns.tolist()]
        if names and set(names) <= set(cols):
            order = list(names)
        elif names and not _default_names(names):
            missing = [n for n in names if n not in cols]
            raise KeyError(f"X lacks the model's feature columns {missing[:10]}")
        else:
            if len(cols) != self.n_features_in_:
                raise ValueError(f"X has {len(cols)} columns, the model expects {self.n_features_in_}")
            order = cols
        if len(df) <= _FRAME_BLOCK_ROWS:
            block = self._plain_block(df, cols, order)
            if block is not None:
                return block
        by_name = {str(c): df[c] for c in df.columns}
        return self._from_columns({n: by_name[n] for n in order}, len(df), "frame", order=order)

    def _plain_block(self, df: pd.DataFrame, cols: list[str], order: list[str]) -> np.ndarray | None:
        """A frame of plain numpy numbers or booleans (no categories, no nullable
        dtypes, unique names) read in one pass, else None. The values are those
        of the column-by-column read: each as float64, then the engine's dtype."""
        if len(set(cols)) != len(cols):
            return None
        if not all(isinstance(t, np.dtype) and t.kind in "fiub" for t in df.dtypes):
            return None
        a = df.to_numpy(dtype=np.float64)
        if order != cols:
            pos = {c: j for j, c in enumerate(cols)}
            a = a[:, [pos[c] for c in order]]
        return np.ascontiguousarray(a, dtype=np.float64 if self.library == "lightgbm" else np.float32)

    def _from_columns(self, columns: Mapping[str, Any], n: int, kind: str, order=None) -> np.ndarray:
        names = order if order is not None else self.feature_names_in_
        if order is None:
            missing = [c for c in names if c not in columns]
            if missing:
                raise KeyError(f"the table lacks the model's feature columns {missing[:10]}")
        dtype = np.float64 if self.library == "lightgbm" else np.float32
        out = np.empty((n, len(names)), dtype=dtype)
        model_names = self._engine.feature_names or []
        for j, name in enumerate(names):  # a loop over columns, not rows
            model_name = model_names[j] if j < len(model_names) else name
            out[:, j] = self._column_values(columns[name], model_name)
        return out

    def _column_values(self, values, name: str) -> np.ndarray:
        if isinstance(values, tuple):  # (codes, categories) from a ContactTable
            codes, cats = values
            return self._recode(np.asarray(codes), list(cats), name)
        if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
            return self._recode(values.cat.codes.to_numpy(), list(values.cat.categories), name)
        if isinstance(values, pd.Series):
            if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
                raise TypeError(f"column '{name}' is not numeric (dtype {values.dtype}); "
                                "use a pandas categorical for categories")
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        a = np.asarray(values)
        if a.dtype == object or a.dtype.kind not in "fiub":
            raise TypeError(f"column '{name}' is not numeric (dtype {a.dtype})")
        return a

    def _recode(self, codes: np.ndarray, cats: list, name: str) -> np.ndarray:
        """Codes of the caller's categories -> the model's category indices (NaN when missing)."""
        model_cats = self.categories_.get(name)
        codes = codes.astype(np.int64)
        if model_cats is None or _same_categories(cats, model_cats):
            out = codes.astype(np.float64)
            out[codes >= len(cats)] = len(cats) if model_cats is None else len(model_cats)
        else:
            where = _category_positions(cats, model_cats)
            # A category the model never saw gets an index past all of its
            # categories: it follows the split's "other" branch.
            lut = np.array([where.get(c, len(model_cats)) for c in cats] + [np.nan], dtype=np.float64)
            out = lut[np.where(codes < 0, len(cats), np.minimum(codes, len(cats)))]
            # A ContactTable's unseen code (== len(cats)) is an unknown category, not missing.
            out[codes == len(cats)] = len(model_cats)
        out[codes < 0] = np.nan
        return out


def _category_positions(cats: list, model_cats: list) -> dict:
    """Each caller category's index among the model's categories.

    Names match exactly; a name XGBoost saved cut short (see
    :func:`_same_categories`) matches the caller's category it is the longest
    prefix of.
    """
    where = {c: i for i, c in enumerate(model_cats)}
    exact = set(where) & set(cats)
    loose = [(i, m) for i, m in enumerate(model_cats) if isinstance(m, str) and m and m not in exact]
    for c in cats:
        if c in exact or not isinstance(c, str):
            continue
        best = max((m for m in loose if c.startswith(m[1])), key=lambda m: len(m[1]), default=None)
        if best is not None:
            where[c] = best[0]
    return where


def _same_categories(cats: list, model_cats: list) -> bool:
    """Whether the caller's categories are the model's, in the same order.

    XGBoost keeps at most as many bytes of a name as it has characters, so a
    saved name with accents can lose its tail: a stored name that is a prefix
    of the caller's at the same position counts as the same category.
    """
    if len(cats) != len(model_cats):
        return False
    for c, m in zip(cats, model_cats):
        if c == m:
            continue
        if not (isinstance(c, str) and isinstance(m, str) and m and c.startswith(m)):
            return False
    return True


def _default_names(names: Sequence[str]) -> bool:
    return all(n == f"Column_{i}" or n == f"f{i}" for i, n in enumerate(names))


def _has_best(model) -> bool:
    try:
        return getattr(model, "best_iteration", None) is not None
    except AttributeError:
        return False


def _xgboost_model_categories(engine) -> dict[str, list]:
    """The category names (or numbers) recent XGBoost versions keep per feature."""
    names = engine.feature_names or [f"f{i}" for i in range(engine.num_features)]
    out = {}
    for f, (strings, numbers) in enumerate(zip(engine.category_names, engine.category_values)):
        if strings:
            out[names[f]] = [b.decode("utf-8", errors="replace") for b in strings]
        elif numbers:
            out[names[f]] = list(numbers)
    return out


def _table_column(table, name: str):
    role = table.roles[name]
    if role == "numeric":
        return table.numeric(name)
    if role == "categorical":
        return (table.codes(name), table.schema[name].categories)
    return None
