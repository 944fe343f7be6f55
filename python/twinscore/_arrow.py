"""Arrow buffers for the C++ engines: strings and lists of strings.

pandas 3 keeps strings in Arrow arrays, and Arrow tables and Parquet files do
too, so a string column reaches the engine as its offsets and bytes without a
copy. Everything here is vectorised: no Python loop over rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_EMPTY_U8 = np.zeros(0, dtype=np.uint8)


def to_arrow(values, name: str) -> pa.Array:
    """One Arrow array (chunks combined) from a pandas Series, Arrow or numpy data."""
    if isinstance(values, pa.ChunkedArray):
        arr = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    elif isinstance(values, pa.Array):
        arr = values
    else:
        if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(values.cat.categories.dtype)
        try:
            arr = pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise TypeError(f"column '{name}' holds values that cannot form one typed column: {exc}") from None
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def _validity(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return _EMPTY_U8
    return np.asarray(arr.is_valid()).view(np.uint8)


def string_buffers(arr: pa.Array, name: str):
    """(offsets int64[n+1], bytes uint8, valid uint8[0 or n]) of a string array."""
    if pa.types.is_null(arr.type):
        arr = pa.nulls(len(arr), pa.large_string())
    elif pa.types.is_string(arr.type) or pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.large_string())
    elif not pa.types.is_large_string(arr.type):
        raise TypeError(f"column '{name}' must hold strings, got Arrow type {arr.type}")
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    if len(offsets) == 0:
        offsets = np.zeros(1, dtype=np.int64)
    data = _EMPTY_U8 if data_buf is None else np.frombuffer(data_buf, dtype=np.uint8)
    return offsets, data, _validity(arr)


def as_strings(arr: pa.Array, name: str) -> pa.Array:
    """Strings as they are; numbers and booleans formatted, so that a categorical
    column of integer codes (a region number) works like one of names."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type):
        return arr
    if pa.types.is_integer(arr.type) or pa.types.is_boolean(arr.type):
        return pc.cast(arr, pa.large_string())
    raise TypeError(f"column '{name}' must hold strings or integer codes to be categorical, got {arr.type}")


def list_buffers(arr: pa.Array, name: str):
    """(list offsets int64[n+1], list valid, item offsets, item bytes, item valid)."""
    if pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
        arr = arr.cast(pa.large_list(arr.type.value_type))
    if not pa.types.is_large_list(arr.type):
        raise TypeError(f"column '{name}' must hold lists of category names, got Arrow type {arr.type}")
    items = arr.values
    if pa.types.is_dictionary(items.type):
        items = items.dictionary_decode()
    items = as_strings(items, name)
    list_offsets = np.asarray(arr.offsets)
    item_off, item_data, item_valid = string_buffers(items, name)
    return list_offsets, _validity(arr), item_off, item_data, item_valid


def strings_from_list(values, name: str):
    """Buffers of a plain Python/numpy sequence of category names (no nulls)."""
    arr = pa.array(np.asarray(values, dtype=object).astype(str), type=pa.large_string())
    off, data, _ = string_buffers(arr, name)
    return off, data


def is_string_type(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def is_list_type(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
