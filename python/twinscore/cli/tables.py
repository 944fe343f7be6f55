"""What the job runner and the kinds of job share: the errors that choose the exit
status, reading input tables (whole, in chunks, or only their column names),
progress per chunk, and the context a kind runs in."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

__all__ = ["JobFileError", "ModelFileError", "InputFileError", "Context", "table_columns", "DEFAULT_CHUNK_ROWS"]

_TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz")
PARTS_SUFFIX = ".parts"  # an events job's temporary directory of parts: .<output>.<pid>.<random>.parts
DEFAULT_CHUNK_ROWS = 1_000_000


class JobFileError(ValueError):
    """The job file asks for something that cannot be (a model file of another class, an output that
    appeared): exit status 2 wherever it is found."""


class ModelFileError(OSError):
    """A model file that cannot be read (truncated, corrupt, of a newer format): exit status 4."""


# -- reading and writing tables ---------------------------------------------------
def _check_input(path: Path, what: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    if not str(path).endswith(_TABLE_SUFFIXES):
        raise ValueError(f"{what} {path.name}: expected a .parquet, .csv or .csv.gz file")


class InputFileError(OSError):
    """A table file that cannot be read as its suffix says (not Parquet, a malformed CSV): exit status 4."""


@contextmanager
def _reading(path: Path, what: str) -> Iterator[None]:
    """Errors of the file readers (not of the data) as an InputFileError naming the file."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowInvalid, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        kind = "Parquet" if str(path).endswith(".parquet") else "CSV"
        raise InputFileError(f"{what} {path.name} cannot be read as {kind}: {exc}") from None


def table_columns(path: Path, what: str) -> list[str]:
    """The column names of a table, read from its Parquet schema or CSV header (no rows)."""
    _check_input(path, what)
    with _reading(path, what):
        if str(path).endswith(".parquet"):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return list(pd.read_csv(path, nrows=0).columns)


def _require(path: Path, what: str, columns) -> list[str] | None:
    """``columns`` (None: all), each checked to be in the table, by name."""
    if columns is None:
        return None
    columns = list(dict.fromkeys(columns))
    have = table_columns(path, what)
    missing = [c for c in columns if c not in have]
    if missing:
        raise KeyError(f"{what} {path.name} has no column {missing[0]!r}"
                       + (f" (nor {missing[1:5]})" if len(missing) > 1 else "") + f"; columns: {have[:20]}")
    return columns


def _to_pandas(data) -> pd.DataFrame:
    """An Arrow table or batch as pandas, as pandas.read_parquet gives it.

    pandas writes a list column's dtype into the file's metadata as text it
    cannot parse back ("large_list<item: large_string>[pyarrow]"): such a
    file is read without the metadata, its list columns as Arrow lists (the
    dtype pandas had)."""
    try:
        return data.to_pandas()
    except TypeError:
        import pyarrow as pa

        def lists(t):
            return pd.ArrowDtype(t) if pa.types.is_list(t) or pa.types.is_large_list(t) else None

        return data.to_pandas(ignore_metadata=True, types_mapper=lists)


def _read_table(path: Path, what: str, columns: list[str] | None = None) -> pd.DataFrame:
    columns = _require(path, what, columns)
    with _reading(path, what):
        if str(path).endswith(".parquet"):
            import pyarrow.parquet as pq

            return _to_pandas(pq.read_table(path, columns=columns))
        return pd.read_csv(path, usecols=columns)[columns] if columns else pd.read_csv(path)


def _chunks(path: Path, what: str, rows: int, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """The table in chunks of about ``rows`` rows (Parquet: whole row-group batches), only ``columns``."""
    columns = _require(path, what, columns)
    with _reading(path, what):
        if str(path).endswith(".parquet"):
            import pyarrow.parquet as pq

            # pre_buffer=False: with pre-buffering (pyarrow's default) the reader's
            # ReadRangeCache keeps the raw bytes of every row group read until the
            # file is closed (it has no eviction; apache/arrow#39808), so a long
            # table's job grew by its compressed size (~155 MiB per million
            # 32-column prospects). Unbuffered, one row group is held at a time;
            # on a local disk it reads no slower.
            for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=rows, columns=columns):
                yield _to_pandas(batch)
        else:
            for chunk in pd.read_csv(path, chunksize=rows, usecols=columns):
                yield chunk[columns] if columns else chunk


class _TableWriter:
    """Appends DataFrames to one Parquet or CSV file."""

    def __init__(self, path: Path, final_suffix: str):
        self.path, self.parquet, self._writer, self.rows = path, final_suffix == ".parquet", None, 0

    def write(self, df: pd.DataFrame) -> None:
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            elif not table.schema.equals(self._writer.schema):
                table = _conform(table, self._writer.schema)
            self._writer.write_table(table)
        else:
            df.to_csv(self.path, mode="a", header=self.rows == 0, index=False)
        self.rows += len(df)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _conform(table, schema):
    """A later chunk's table cast to the file's schema (set by the first chunk):
    a column read as another type in this chunk (ids with a string among the
    numbers, say) is cast when it can be without loss, else refused by name."""
    import pyarrow as pa

    columns = []
    for wanted in schema:
        if wanted.name not in table.column_names:
            raise KeyError(f"output column '{wanted.name}' is missing from this chunk")
        column = table.column(wanted.name)
        if not column.type.equals(wanted.type):
            try:
                column = column.cast(wanted.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise TypeError(f"output column '{wanted.name}' is {column.type} in this chunk but "
                                f"{wanted.type} in the first; give the input column one type") from None
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


# -- progress ---------------------------------------------------------------------
class _ChunkLog:
    """Progress as one log line per chunk (stderr not a terminal: a batch log)."""

    def __init__(self, total: int | None, desc: str):
        self.total, self.desc, self.done, self.chunks, self.t0 = total, desc, 0, 0, time.perf_counter()

    def update(self, n: int) -> None:
        self.done += int(n)
        self.chunks += 1
        of = "" if not self.total else f"/{self.total:,} ({100.0 * self.done / self.total:.0f} %)"
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.desc}: chunk {self.chunks}, {self.done:,}{of} rows, "
              f"{time.perf_counter() - self.t0:.1f} s", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass

    def __enter__(self) -> "_ChunkLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _progress(total: int | None, desc: str, show: bool | None):
    """True: a bar; False: nothing; None: a bar on a terminal, log lines otherwise."""
    from twinscore import progress

    if show is None and not bool(getattr(sys.stderr, "isatty", lambda: False)()):
        return _ChunkLog(total, desc)
    return progress(total, desc=desc, enabled=show)


def _row_count(path: Path) -> int | None:
    """Rows of a Parquet file from its footer (for the progress bar); None for CSV."""
    if not str(path).endswith(".parquet"):
        return None
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


@dataclass
class Context:
    """What a runner gets: its job, its outputs' writers, whether to show progress, its loaded models;
    ``notes``: what the runner tells the job's report beyond its rows (a plan's held-back contacts)."""

    job: dict
    writers: dict
    show: bool | None
    models: dict
    notes: dict = field(default_factory=dict)

    @property
    def writer(self) -> "_TableWriter":
        return self.writers["output"]

    @property
    def chunk_rows(self) -> int:
        return self.job["job"].get("chunk_rows", DEFAULT_CHUNK_ROWS)

    def model(self, key: tuple[str, str] = ("model", "path")):
        return self.models[key]
