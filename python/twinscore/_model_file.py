"""Model files: one versioned container for every fitted twinscore object.

``model.save(path)`` writes it, ``twinscore.load(path)`` reads it back;
pickle, joblib and ``copy.deepcopy`` go through the same bytes
(``model.to_bytes()`` / ``twinscore.from_bytes(data)``), so a model shipped to a
Dask worker or a joblib cache is checked like a file.

Layout (see ``cpp/include/twinscore/model_file.h``, where the parser lives)::

    32-byte header   magic b"\\x89TWS\\r\\n\\x1a\\n", uint32 format version,
                     uint32 reserved, uint64 manifest length, CRC-32 of the
                     manifest, CRC-32 of the header
    manifest         UTF-8 JSON a person can read: format, format_version,
                     twinscore_version, class, params, state, arrays
    arrays           raw little-endian, each at a multiple of 64 bytes, zero
                     padding between them; the file ends with the last one

``arrays`` lists for each array its name, dtype, shape, byte offset, length
and CRC-32. ``state`` describes the object: JSON values, and tagged objects
for the rest (``{"__array__": name}``, ``{"__object__": "twinscore.x.Name",
"state": {...}}``, ``{"__float__": "nan"}``, tuples, pandas frames, ...).

Reading never executes code from the file: the C++ parser checks the magic,
the version, both checksums, and that every array lies inside the file with
the length its dtype and shape give, before anything is sized from the file;
then only twinscore's own classes (a fixed list) are rebuilt, without calling
their constructors, and engines are fitted again from the stored arrays
through their usual input checks. A truncated, corrupt or newer file, or one
holding another class, is refused with a ``ValueError`` that says which.

Format versions: a file records the version it was written with; this
twinscore reads every version up to ``FORMAT_VERSION`` (later versions add
tags or header fields, never change the meaning of existing ones).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import os
import stat
import zlib
from typing import Any

import numpy as np
import pandas as pd

from . import _core, _frames

__all__ = ["save", "load", "to_bytes", "from_bytes", "FORMAT_VERSION", "ModelFileMixin"]

FORMAT = "twinscore-model"
FORMAT_VERSION = int(_core.MODEL_FORMAT_VERSION)
MAGIC = b"\x89TWS\r\n\x1a\n"
_HEADER = 32
_ALIGN = 64
# Strings longer than this go to the array section (model texts, long ids) to keep the manifest readable.
_LONG_STRING = 4096
_DTYPES = {"|b1", "|i1", "|u1", "<i2", "<u2", "<f2", "<i4", "<u4", "<f4", "<i8", "<u8", "<f8"}
# Views stored as their int64 bits.
_VIEWS = {"<M8[ns]", "<m8[ns]", "<M8[us]", "<M8[ms]", "<M8[s]", "<M8[D]", "<m8[us]", "<m8[ms]", "<m8[s]"}
_PANDAS_DTYPES = {"object", "str", "string", "bool", "boolean", "Int64", "Int32", "Float64", "float64", "float32",
                  "int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64", "datetime64[ns]",
                  "datetime64[us]", "datetime64[ms]", "datetime64[s]"}


def _version() -> str:
    from . import __version__
    return __version__


# --------------------------------------------------------------------------- classes


# Every class a model file may rebuild, by "module.QualName"; nothing else is ever instantiated. The
# models register by subclassing ModelFileMixin, the classes inside their state with @register.
_REGISTRY: dict[str, type] = {}
# Modules that define model classes but are not imported by the package itself.
_OPTIONAL_MODULES = ("twinscore.dask",)


def register(cls: type) -> type:
    """Allow a class inside a model file's state (a decorator)."""
    _REGISTRY[_name_of(cls)] = cls
    return cls


def _classes(wanted: str | None = None) -> dict[str, type]:
    importlib.import_module("twinscore")  # the package registers its classes on import
    if wanted is not None and wanted not in _REGISTRY:
        module = wanted.rsplit(".", 1)[0]
        if module in _OPTIONAL_MODULES:
            try:
                importlib.import_module(module)
            except ImportError:  # e.g. dask not installed
                pass
    return _REGISTRY


def _name_of(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# --------------------------------------------------------------------------- encoding


class _Writer:
    """Turns an object's state into JSON plus a list of arrays (each array once, by identity)."""

    def __init__(self):
        self.arrays: list[tuple[str, np.ndarray]] = []
        self._seen: dict[int, str] = {}
        self._keep: list[Any] = []  # keeps encoded arrays alive, so ids are not reused

    def array(self, a: np.ndarray, hint: str) -> str:
        key = id(a)
        if key in self._seen:
            return self._seen[key]
        self._keep.append(a)
        name = f"{len(self.arrays)}:{hint}"[:120]
        self._seen[key] = name
        self.arrays.append((name, a))
        return name

    def encode(self, v, path: str) -> Any:  # noqa: C901 - one dispatch over the kinds of value
        if v is None or isinstance(v, (bool, str)) and not (isinstance(v, str) and len(v) > _LONG_STRING):
            return v
        if isinstance(v, str):
            return {"__str__": self.array(np.frombuffer(v.encode("utf-8"), dtype=np.uint8), path)}
        if isinstance(v, (np.str_, np.bytes_)):
            return self.encode(v.item(), path)
        if isinstance(v, pd.Timestamp):
            return {"__timestamp__": int(v.value), "tz": None if v.tz is None else str(v.tz)}
        if isinstance(v, pd.Timedelta):
            return {"__timedelta__": int(v.value)}
        if isinstance(v, np.generic):
            return {"__scalar__": self._dtype_str(v.dtype, path), "value": self.encode(v.item(), path)}
        if isinstance(v, int):
            return v
        if isinstance(v, float):
            return v if np.isfinite(v) else {"__float__": repr(v)}
        if isinstance(v, (bytes, bytearray)):
            return {"__bytes__": self.array(np.frombuffer(bytes(v), dtype=np.uint8), path)}
        if isinstance(v, np.ndarray):
            return self._ndarray(v, path)
        if isinstance(v, tuple) and not hasattr(v, "_fields"):
            return {"__tuple__": [self.encode(x, f"{path}.{i}") for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [self.encode(x, f"{path}.{i}") for i, x in enumerate(v)]
        if isinstance(v, (set, frozenset)):
            return {"__set__": [self.encode(x, path) for x in sorted(v, key=repr)], "frozen": isinstance(v, frozenset)}
        if isinstance(v, dict):
            return self._dict(v, path)
        if isinstance(v, (pd.DataFrame, pd.Series, pd.Index, pd.Categorical)):
            return self._pandas(v, path)
        if isinstance(v, np.dtype):
            return {"__dtype__": v.str}
        name = _name_of(type(v))
        if name in _classes():
            return {"__object__": name, "state": self._dict(_state_of(v), f"{path}.{type(v).__name__}")}
        raise TypeError(f"cannot save {path}: a {type(v).__module__}.{type(v).__qualname__} is not something a "
                        "twinscore model file holds")

    def _dict(self, d: dict, path: str):
        if all(isinstance(k, str) and not k.startswith("__") for k in d):
            return {k: self.encode(x, f"{path}.{k}") for k, x in d.items()}
        return {"__dict__": [[self.encode(k, path), self.encode(x, f"{path}.{k}")] for k, x in d.items()]}

    @staticmethod
    def _dtype_str(dt: np.dtype, path: str) -> str:
        s = dt.newbyteorder("<").str if dt.byteorder == ">" else dt.str
        if s not in _DTYPES and s not in _VIEWS:
            raise TypeError(f"cannot save {path}: arrays of dtype {dt} are not supported")
        return s

    def _ndarray(self, a: np.ndarray, path: str):
        if a.dtype == object:
            return self._objects(a, path)
        s = self._dtype_str(a.dtype, path)
        if s in _VIEWS:
            return {"__array__": self.array(a.view("<i8"), path), "view": s}
        return {"__array__": self.array(a, path)}

    def _objects(self, a: np.ndarray, path: str):
        flat = a.ravel()
        is_str = np.fromiter((isinstance(x, str) for x in flat), dtype=bool, count=len(flat))
        is_none = np.fromiter((x is None for x in flat), dtype=bool, count=len(flat))
        if np.all(is_str | is_none) and len(flat):
            return {"__strings__": self._utf8(flat, is_none, path), "shape": list(a.shape)}
        return {"__objects__": [self.encode(x, f"{path}[]") for x in flat], "shape": list(a.shape)}

    def _utf8(self, strings, is_none, path: str) -> dict:
        encoded = [b"" if n else s.encode("utf-8") for s, n in zip(strings, is_none)]
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        out = {"offsets": self.array(offsets, path + ".offsets"),
               "bytes": self.array(np.frombuffer(b"".join(encoded), dtype=np.uint8), path + ".bytes")}
        if is_none.any():
            out["none"] = self.array(is_none, path + ".none")
        return out

    def _pandas(self, v, path: str):
        if isinstance(v, pd.Categorical):
            return {"__categorical__": self._ndarray(np.asarray(v.codes), path + ".codes"),
                    "categories": self._pandas(v.categories, path + ".categories"), "ordered": bool(v.ordered)}
        if isinstance(v, pd.Index):
            if isinstance(v, pd.MultiIndex):
                raise TypeError(f"cannot save {path}: a pandas MultiIndex")
            if isinstance(v, pd.RangeIndex):
                return {"__range_index__": [int(v.start), int(v.stop), int(v.step)], "name": self.encode(v.name, path)}
            return {"__index__": self._values(v, path), "name": self.encode(v.name, path)}
        if isinstance(v, pd.Series):
            return {"__series__": self._values(v, path), "index": self._pandas(v.index, path + ".index"),
                    "name": self.encode(v.name, path)}
        return {"__frame__": [[self.encode(c, path), self._values(v[c] if v.columns.is_unique else v.iloc[:, j],
                                                                  f"{path}.{c}")]
                              for j, c in enumerate(v.columns)],
                "index": self._pandas(v.index, path + ".index")}

    def _values(self, s, path: str):
        dtype = s.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            return self._pandas(pd.Categorical(s), path)
        name = str(dtype)
        if name not in _PANDAS_DTYPES:
            raise TypeError(f"cannot save {path}: pandas dtype {name} is not supported")
        if name in ("Int64", "Int32", "Float64", "boolean"):  # nullable: values and a mask
            mask = np.asarray(s.isna())
            base = {"Int64": np.int64, "Int32": np.int32, "Float64": np.float64, "boolean": bool}[name]
            values = np.asarray(s.to_numpy(dtype=base, na_value=0))
            return {"__values__": self._ndarray(values, path), "mask": self._ndarray(mask, path + ".mask"),
                    "dtype": name}
        values = s.to_numpy(dtype=object) if name in ("str", "string") else s.to_numpy()
        return {"__values__": self._ndarray(np.asarray(values), path), "dtype": name}


def _state_of(obj) -> dict:
    """The attributes that describe an object; engines are left out (rebuilt from the rest on load)."""
    hook = getattr(obj, "_model_file_state", None)
    if hook is not None:
        return hook()
    if dataclasses.is_dataclass(obj) and not hasattr(obj, "__dict__"):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    skip = getattr(type(obj), "_model_file_skip", ())
    return {k: v for k, v in vars(obj).items() if k not in skip}


def _params(obj) -> dict:
    """The constructor's parameters, for a person reading the manifest (loading reads the state)."""
    if hasattr(obj, "get_params"):
        return obj.get_params(deep=False)
    if dataclasses.is_dataclass(obj):
        return {}  # its fields are its state
    try:
        names = [p for p in inspect.signature(type(obj).__init__).parameters if p != "self"]
    except (TypeError, ValueError):
        return {}
    return {p: vars(obj)[p] for p in names if p in vars(obj)}


# --------------------------------------------------------------------------- writing


def _layout(manifest: dict, arrays: list[tuple[str, np.ndarray]]) -> tuple[bytes, list[int]]:
    """(manifest text, array offsets): the offsets depend on the manifest's length, which holds them."""
    base = _HEADER
    while True:
        offsets, at = [], base
        for entry in manifest["arrays"]:
            at = -(-at // _ALIGN) * _ALIGN
            offsets.append(at)
            entry["offset"] = at
            at += entry["length"]
        text = json.dumps(manifest, indent=1, ensure_ascii=True, allow_nan=False).encode("ascii")
        if not offsets or offsets[0] >= _HEADER + len(text):
            return text, offsets
        base = _HEADER + len(text)


def _chunks(obj):
    """Yields the file's bytes in pieces (the arrays are not copied)."""
    w = _Writer()
    cls = _name_of(type(obj))
    if cls not in _classes():
        raise TypeError(f"cannot save a {type(obj).__name__}: not a twinscore model")
    check = getattr(obj, "_state_check", None)
    if check is not None:
        check()
    state = w.encode(_state_of(obj), type(obj).__name__)
    params = w.encode(_params(obj), "params")
    entries, views = [], []
    for name, a in w.arrays:
        a = np.ascontiguousarray(a)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        view = memoryview(a.reshape(-1).view(np.uint8)) if a.size else memoryview(b"")
        views.append(view)
        entries.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "offset": 0,
                        "length": len(view), "crc32": zlib.crc32(view)})
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "twinscore_version": _version(), "class": cls,
                "params": params, "state": state, "arrays": entries}
    text, offsets = _layout(manifest, entries)
    yield _core.model_file_header(text)
    yield text
    at = _HEADER + len(text)
    for off, view in zip(offsets, views):
        if off > at:
            yield bytes(off - at)
        yield view
        at = off + len(view)


def to_bytes(obj) -> bytes:
    """The model file of ``obj``, in memory."""
    return b"".join(_chunks(obj))


def save(obj, path: str | os.PathLike) -> None:
    """Write ``obj``'s model file at ``path``, atomically (a failed write leaves no file there)."""
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            for chunk in _chunks(obj):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- reading


def _read_file(path, max_bytes: int | None) -> bytes:
    """The bytes of a regular file (never a FIFO or a device: a read that may never end)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if max_bytes is None:
        try:
            st = os.stat(path)
        except OSError:
            st = None
        max_bytes = max(st.st_size if st is not None and stat.S_ISREG(st.st_mode) else 1, 1)
    return _frames.read_model_bytes(path, "twinscore", max_bytes)


def load(path: str | os.PathLike, *, expect: type | None = None, max_bytes: int | None = None):
    """The object saved at ``path`` (by ``save`` or ``obj.save``).

    ``expect``: the class the file must hold (a subclass's file is accepted).
    ``max_bytes``: refuse a larger file (default: no limit beyond the file's
    size, which bounds the memory used). A schema saved as JSON by
    :meth:`Schema.save` is read too.
    """
    data = _read_file(path, max_bytes)
    if data.lstrip()[:1] == b"{" and not data.startswith(MAGIC[:4]):  # a schema saved as JSON by Schema.save
        Schema = _classes()["twinscore.table.Schema"]  # by name: table imports this module
        if expect is not None and not issubclass(Schema, expect):
            raise ValueError(f"{os.fspath(path)}: the file holds a Schema (JSON), not a {expect.__name__}")
        return Schema.load(path)
    return from_bytes(data, expect=expect, source=os.fspath(path))


def from_bytes(data, *, expect: type | None = None, source: str = "the model bytes"):
    """The object of a model file held in memory (``bytes``, ``bytearray`` or ``memoryview``)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    try:
        version, text, cls_name, table = _core.read_model_file(data)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    classes = _classes(cls_name)
    cls = classes.get(cls_name)
    if cls is None:
        raise ValueError(f"{source}: the model file holds a {cls_name!r}, which is not a twinscore model class")
    if expect is not None and not issubclass(cls, expect):
        raise ValueError(f"{source}: the model file holds a {cls_name.rsplit('.', 1)[-1]} ({cls_name}), not a "
                         f"{expect.__name__}")
    manifest = json.loads(text)
    buf = memoryview(data).cast("B")
    arrays = {}
    for name, dtype, shape, offset, length in table:
        dt = np.dtype(dtype)
        arrays[name] = np.frombuffer(buf, dtype=dt, count=length // dt.itemsize, offset=offset).reshape(shape).copy() \
            if length else np.empty(shape, dtype=dt)
    try:
        obj = _Reader(arrays, classes).decode(manifest["state"])
        if type(obj) is not dict:
            raise ValueError("the state is not an object")
        out = _rebuild(cls, obj)
    except (TypeError, KeyError, IndexError, AttributeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source}: corrupt model file: its {cls_name.rsplit('.', 1)[-1]} state does not "
                         f"decode ({type(exc).__name__}: {exc})") from None
    except ValueError as exc:
        raise ValueError(f"{source}: corrupt model file: {exc}") from None
    return out


def _rebuild(cls: type, state: dict):
    """An object of one of twinscore's classes from its attributes, its engines fitted again."""
    obj = cls.__new__(cls)
    _set_state(obj, state)
    restore = getattr(obj, "_model_file_restore", None)
    if restore is not None:
        restore()
    return obj


def _set_state(obj, state: dict):
    for k in state:
        if not isinstance(k, str):
            raise TypeError("an attribute name that is not a string")
    obj.__dict__.update(state)  # also for frozen dataclasses (no __setattr__ call)


class _Reader:
    def __init__(self, arrays: dict, classes: dict):
        self.arrays = arrays
        self.classes = classes

    def array(self, name) -> np.ndarray:
        if not isinstance(name, str) or name not in self.arrays:
            raise KeyError(f"the state names array {name!r}, which the file does not hold")
        return self.arrays[name]

    def decode(self, v):  # noqa: C901 - one dispatch over the tags
        if isinstance(v, list):
            return [self.decode(x) for x in v]
        if not isinstance(v, dict):
            return v
        tag = next((k for k in v if k.startswith("__")), None)
        if tag is None:
            return {k: self.decode(x) for k, x in v.items()}
        x = v[tag]
        if tag == "__array__":
            a = self.array(x)
            return a.view(np.dtype(_check(v["view"], _VIEWS))) if "view" in v else a
        if tag == "__str__":
            return self.array(x).tobytes().decode("utf-8")
        if tag == "__bytes__":
            return self.array(x).tobytes()
        if tag == "__float__":
            return float(_check(x, {"nan", "inf", "-inf"}))
        if tag == "__scalar__":
            return np.dtype(_check(x, _DTYPES | _VIEWS)).type(self.decode(v["value"]))
        if tag == "__timestamp__":
            tz = v.get("tz")
            return pd.Timestamp(int(x), tz=None if tz is None else str(tz))
        if tag == "__timedelta__":
            return pd.Timedelta(int(x))
        if tag == "__tuple__":
            return tuple(self.decode(y) for y in x)
        if tag == "__set__":
            items = [self.decode(y) for y in x]
            return frozenset(items) if v.get("frozen") else set(items)
        if tag == "__dict__":
            return {_hashable(self.decode(k)): self.decode(y) for k, y in x}
        if tag == "__dtype__":
            return np.dtype(_check(x, _DTYPES | _VIEWS))
        if tag == "__strings__":
            return self._strings(x, v["shape"])
        if tag == "__objects__":
            out = np.empty(len(x), dtype=object)
            out[:] = [self.decode(y) for y in x]
            return out.reshape(v["shape"])
        if tag in ("__categorical__", "__index__", "__range_index__", "__series__", "__frame__", "__values__"):
            return self._pandas(tag, v)
        if tag == "__object__":
            cls = self.classes.get(x)
            if cls is None:
                raise TypeError(f"the state holds a {x!r}, which is not a twinscore class")
            state = self.decode(v["state"])
            if type(state) is not dict:
                raise TypeError(f"the state of a {x} is not an object")
            return _rebuild(cls, state)
        raise TypeError(f"unknown tag {tag!r} (a file from a later twinscore?)")

    def _strings(self, x: dict, shape) -> np.ndarray:
        offsets = self.array(x["offsets"])
        data = self.array(x["bytes"]).tobytes()
        n = len(offsets) - 1
        if offsets.dtype != np.int64 or offsets.ndim != 1 or n < 0 or offsets[0] != 0 or offsets[-1] != len(data) \
                or np.any(np.diff(offsets) < 0):
            raise ValueError("a string column's offsets do not describe its bytes")
        text = data.decode("utf-8")
        if len(text) == len(data):  # ASCII: characters are bytes
            out = np.array([text[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())], dtype=object)
        else:
            out = np.array([data[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())],
                           dtype=object)
        if out.shape != (n,):  # np.array of an empty list
            out = np.empty(n, dtype=object)
        if "none" in x:
            none = self.array(x["none"])
            if none.shape != (n,) or none.dtype != bool:
                raise ValueError("a string column's missing flags do not match it")
            out[none] = None
        return out.reshape(shape)

    def _pandas(self, tag: str, v: dict):
        if tag == "__values__":
            values = self.decode(v["__values__"])
            dtype = _check(v["dtype"], _PANDAS_DTYPES)
            if "mask" in v:
                return _masked(values, self.decode(v["mask"]), dtype)
            return pd.array(values, dtype=dtype) if dtype in ("str", "string") else np.asarray(values).astype(dtype,
                                                                                                          copy=False)
        if tag == "__categorical__":
            cats = self.decode(v["categories"])
            codes = np.asarray(self.decode(v["__categorical__"]))
            if codes.ndim != 1 or codes.dtype.kind != "i" or (len(codes) and (codes.min() < -1
                                                                               or codes.max() >= len(cats))):
                raise ValueError("a categorical's codes are outside its categories")
            return pd.Categorical.from_codes(codes, categories=cats, ordered=bool(v["ordered"]))
        if tag == "__range_index__":
            start, stop, step = (int(i) for i in v["__range_index__"])
            return pd.RangeIndex(start, stop, step, name=self.decode(v["name"]))
        if tag == "__index__":
            return pd.Index(self._pandas("__values__", v["__index__"]) if "__values__" in v["__index__"]
                            else self.decode(v["__index__"]), name=self.decode(v["name"]))
        index = self.decode(v["index"])
        if tag == "__series__":
            values = self.decode(v["__series__"])
            if len(values) != len(index):
                raise ValueError("a Series's values and index differ in length")
            return pd.Series(values, index=index, name=self.decode(v["name"]), copy=False)
        columns = [(self.decode(c), self.decode(s)) for c, s in v["__frame__"]]
        if any(len(s) != len(index) for _, s in columns):
            raise ValueError("a DataFrame's columns and index differ in length")
        df = pd.DataFrame({j: s for j, (_, s) in enumerate(columns)}, index=index)
        df.columns = pd.Index([c for c, _ in columns]) if columns else df.columns
        return df


def _masked(values, mask, dtype: str):
    a = pd.array(np.asarray(values), dtype=dtype)
    a[np.asarray(mask, dtype=bool)] = pd.NA
    return a


def _check(value, allowed):
    if value not in allowed:
        raise ValueError(f"unsupported value {value!r}")
    return value


def _hashable(k):
    if isinstance(k, (list, dict, set)):
        raise TypeError("a dictionary key that is not hashable")
    return k


# --------------------------------------------------------------------------- the methods of every model


def _restore(data: bytes):
    """Unpickling: the object of its model file bytes."""
    return from_bytes(data, source="pickled twinscore model")


class ModelFileMixin:
    """``save``, ``to_bytes``, ``from_bytes`` and pickling through the model file."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        register(cls)

    def save(self, path: str | os.PathLike) -> None:
        """Write this object's model file at ``path`` (atomically); read it with ``twinscore.load(path)``."""
        save(self, path)

    def to_bytes(self) -> bytes:
        """This object's model file, in memory."""
        return to_bytes(self)

    @classmethod
    def from_bytes(cls, data):
        """The object of a model file held in memory; ValueError if it holds another class."""
        return from_bytes(data, expect=cls)

    @classmethod
    def load(cls, path: str | os.PathLike, *, max_bytes: int | None = None):
        """The object saved at ``path``; ValueError if the file holds another class."""
        return load(path, expect=cls, max_bytes=max_bytes)

    def __reduce__(self):
        return (_restore, (to_bytes(self),))

    def __copy__(self):
        out = type(self).__new__(type(self))
        out.__dict__.update(self.__dict__)
        return out
