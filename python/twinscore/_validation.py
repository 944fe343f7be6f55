"""Argument checks shared by the estimators (numbers, vectors): each error names the
argument. Tables, matrices, dates and ids come in through :mod:`twinscore._frames`."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd


def check_int(value, name: str, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """An integer (not bool) within [min_value, max_value]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    return value


def check_float(value, name: str, *, min_value: float | None = None, max_value: float | None = None,
                strict_min: bool = False) -> float:
    """A finite real number within bounds (min exclusive when strict_min)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if min_value is not None and (value <= min_value if strict_min else value < min_value):
        raise ValueError(f"{name} must be {'>' if strict_min else '>='} {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    return value


def as_vector(y, name: str, n: int | None = None, *, dtype=np.float64, allow_nan: bool = False) -> np.ndarray:
    """A 1-D contiguous vector of `dtype`, of length n when given, finite unless allow_nan."""
    if isinstance(y, (pd.Series, pd.Index)):
        y = y.to_numpy(dtype=dtype, na_value=np.nan)
    a = np.asarray(y)
    if a.dtype == object or a.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if n is not None and len(a) != n:
        raise ValueError(f"{name} has {len(a)} values, expected {n}")
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.dtype.kind == "f":
        bad = np.isinf(a) if allow_nan else ~np.isfinite(a)
        if bad.any():
            raise ValueError(f"{name} holds a non-finite value at position {int(np.argmax(bad))}")
    return a
