"""Batch jobs: ``twinscore run job.toml`` reads its inputs, runs one engine and
writes one output table, all or nothing.

A job file names what to do and where the data is (relative paths are taken
from the job file's directory)::

    [job]
    kind = "tree_score"            # or "lead_score", "rfm"
    threads = 2                    # optional

    [input]                        # the contact table (or the transactions for rfm)
    path = "prospects.parquet"     # .parquet, .csv, .csv.gz
    id = "contact_id"

    [model]                        # tree_score
    path = "conversion.ubj"        # .json / .ubj: XGBoost, .txt: LightGBM
    reasons = 3                    # optional: top reasons beside each score

    [output]
    path = "scores.parquet"        # .parquet or .csv; refused if it exists
    overwrite = false              #   unless this is true

``lead_score`` takes ``[events]`` (path, contact, timestamp, type, category)
and ``[rules]`` (path of a TOML rule file, see :mod:`twinscore.leads`) with
``now``; ``rfm`` takes ``[rfm]`` (customer, date, amount, invoice, now, bins).

Every section, key, type and range is checked before any data is read; a
misspelt key, a wrong type, a missing file is a
``ValueError``/``TypeError``/``FileNotFoundError`` naming it; a missing column
is a ``KeyError`` naming it. The output is written to a temporary file beside
the target (``.<name>.<pid>.<random>.partial``) and published only when
complete: renamed onto the target with ``overwrite = true``, else linked to a
target that must not exist at that moment (two jobs racing for one output:
one wins, the other fails and leaves the first's file). A job interrupted by
SIGINT or SIGTERM removes its partial file; one killed outright leaves it, and
the next job writing the same output removes it.

``twinscore run`` exits with 0 on success, 2 for a bad job file (unknown key,
wrong value, missing input file, existing output), 3 for bad input data
(a missing column, a value an engine refuses), 4 for a failure to read or
write (disk full, unreadable or corrupt file), 130/143 when interrupted.
Tree scoring reads and scores the input in chunks of ``[job] chunk_rows``
rows (Parquet row groups are read as they come), so a table larger than
memory scores in bounded memory. A Parquet output takes its column types
from the first chunk; a later chunk whose column reads as another type is
cast to it when no value changes, else refused naming the column.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser from PyPI
    import tomli as tomllib

__all__ = ["JobReport", "run_job", "load_job", "run_loaded_job", "EXIT_JOB_FILE", "EXIT_DATA", "EXIT_IO"]

_SECTIONS: dict[str, dict[str, set[str]]] = {
    # kind -> section -> allowed keys ("path" where a file is named)
    "tree_score": {"job": {"kind", "threads", "chunk_rows"}, "input": {"path", "id"},
                   "model": {"path", "library", "reasons", "groups"}, "output": {"path", "overwrite"}},
    "lead_score": {"job": {"kind", "threads", "now"}, "input": {"path", "id"},
                   "events": {"path", "contact", "timestamp", "type", "category"},
                   "rules": {"path"}, "output": {"path", "overwrite"}},
    "rfm": {"job": {"kind", "threads"}, "input": {"path"},
            "rfm": {"customer", "date", "amount", "invoice", "now", "bins"}, "output": {"path", "overwrite"}},
}
_REQUIRED = {"tree_score": {"input": {"path", "id"}, "model": {"path"}, "output": {"path"}},
             "lead_score": {"input": {"path", "id"}, "events": {"path"}, "rules": {"path"}, "output": {"path"},
                            "job": {"now"}},
             "rfm": {"input": {"path"}, "rfm": {"customer", "date"}, "output": {"path"}}}
_TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz")
EXIT_JOB_FILE, EXIT_DATA, EXIT_IO = 2, 3, 4  # twinscore run's exit status by kind of failure


@dataclass
class JobReport:
    """What a finished job did: its kind, rows read and written, output path, seconds."""

    kind: str
    rows_in: int
    rows_out: int
    output: Path
    seconds: float

    def __str__(self) -> str:
        return (f"{self.kind}: {self.rows_in:,} rows in, {self.rows_out:,} rows out -> {self.output} "
                f"({self.seconds:.2f} s)")


# -- the job file ---------------------------------------------------------------
def _text(value, where: str):
    if not isinstance(value, str) or not value:
        raise TypeError(f"{where} must be a non-empty string (a column name), got {value!r}")
    return value


def _integer(lo: int, hi: int):
    def check(value, where: str):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where} must be an integer, got {value!r}")
        if not lo <= value <= hi:
            raise ValueError(f"{where} must be between {lo:,} and {hi:,}, got {value:,}")
        return value
    return check


def _date(value, where: str):
    from twinscore import to_timestamp  # the library's one date rule: numbers are not dates

    return to_timestamp(value, where)


def _groups(value, where: str):
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and v and all(isinstance(c, str) for c in v)
            for k, v in value.items()):
        raise TypeError(f"{where} must map each reason to a list of column names, "
                        f"e.g. {{ region = [\"region_n\", \"region_s\"] }}, got {value!r}")
    return value


def _choice(*allowed):
    def check(value, where: str):
        if value not in allowed:
            raise ValueError(f"{where} must be one of {list(allowed)}, got {value!r}")
        return value
    return check


def _flag(value, where: str):
    if not isinstance(value, bool):
        raise TypeError(f"{where} must be true or false, got {value!r}")
    return value


# The type and range of every value key, checked (and dates converted) before any data is read.
_VALUES: dict[str, Callable[[Any, str], Any]] = {
    "threads": _integer(1, 4096), "chunk_rows": _integer(1, 1_000_000_000), "now": _date,
    "id": _text, "library": _choice("xgboost", "lightgbm"), "reasons": _integer(0, 1000), "groups": _groups,
    "contact": _text, "timestamp": _text, "type": _text, "category": _text,
    "customer": _text, "date": _text, "amount": _text, "invoice": _text, "bins": _integer(2, 100),
    "overwrite": _flag,
}


def load_job(path: str | os.PathLike) -> dict[str, Any]:
    """Reads and checks a job file; paths come back absolute, dates as Timestamps."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"job file not found: {path}")
    try:
        with open(path, "rb") as f:
            job = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path.name}: not valid TOML ({exc})") from None
    kind = job.get("job", {}).get("kind") if isinstance(job.get("job"), dict) else None
    if kind not in _SECTIONS:
        raise ValueError(f"{path.name}: [job] kind must be one of {sorted(_SECTIONS)}, got {kind!r}")
    allowed = _SECTIONS[kind]
    for section, body in job.items():
        if section not in allowed:
            raise ValueError(f"{path.name}: unknown section [{section}] for a {kind} job "
                             f"(expected {', '.join(f'[{s}]' for s in allowed)})")
        if not isinstance(body, dict):
            raise ValueError(f"{path.name}: [{section}] must be a table of keys")
        for key in body:
            if key not in allowed[section]:
                raise ValueError(f"{path.name}: unknown key '{key}' in [{section}] "
                                 f"(expected one of {sorted(allowed[section])})")
    for section, keys in _REQUIRED[kind].items():
        for key in keys:
            if key not in job.get(section, {}):
                raise ValueError(f"{path.name}: [{section}] needs '{key}'")
    for section, body in job.items():
        for key, value in body.items():
            if key in _VALUES:
                body[key] = _VALUES[key](value, f"{path.name}: [{section}] {key}")
    base = path.parent
    for name, section in job.items():
        if "path" in section:
            if not isinstance(section["path"], str) or not section["path"]:
                raise ValueError(f"{path.name}: every 'path' must be a non-empty string")
            section["path"] = (base / section["path"]).resolve()
            if name != "output" and not section["path"].is_file():
                raise FileNotFoundError(f"{path.name}: [{name}] file not found (or not a regular file): "
                                        f"{section['path']}")
    _check_output(job["output"], path.name)
    return job


def _check_output(out: dict, where: str) -> None:
    target: Path = out["path"]
    if not str(target).endswith((".parquet", ".csv")):
        raise ValueError(f"{where}: [output] path must end in .parquet or .csv, got {target.name}")
    if not isinstance(out.get("overwrite", False), bool):
        raise ValueError(f"{where}: [output] overwrite must be true or false")
    if target.exists() and not out.get("overwrite", False):
        raise ValueError(f"{where}: the output {target} exists; set [output] overwrite = true to replace it")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"{where}: the output directory {target.parent} does not exist")


# -- reading and writing tables ---------------------------------------------------
def _check_input(path: Path, what: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    if not str(path).endswith(_TABLE_SUFFIXES):
        raise ValueError(f"{what} {path.name}: expected a .parquet, .csv or .csv.gz file")


def _read_table(path: Path, what: str, columns: list[str] | None = None) -> pd.DataFrame:
    _check_input(path, what)
    if str(path).endswith(".parquet"):
        return pd.read_parquet(path, columns=columns)
    return pd.read_csv(path, usecols=columns)


def _chunks(path: Path, what: str, rows: int) -> Iterator[pd.DataFrame]:
    """The table in chunks of about ``rows`` rows (Parquet: whole row-group batches)."""
    _check_input(path, what)
    if str(path).endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            yield batch.to_pandas()
    else:
        yield from pd.read_csv(path, chunksize=rows)


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
    for field in schema:
        if field.name not in table.column_names:
            raise KeyError(f"output column '{field.name}' is missing from this chunk")
        column = table.column(field.name)
        if not column.type.equals(field.type):
            try:
                column = column.cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise TypeError(f"output column '{field.name}' is {column.type} in this chunk but "
                                f"{field.type} in the first; give the input column one type") from None
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _partial_name(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def _remove_stale_partials(target: Path) -> None:
    """Partial files of this target left by jobs that were killed (their process is gone)."""
    for p in target.parent.glob(f".{glob.escape(target.name)}.*.partial"):
        pid = p.name[len(target.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _publish(tmp: Path, target: Path, overwrite: bool) -> None:
    """The complete file onto its target: replaced when allowed, else linked to a
    name that must not exist (atomic: a concurrent job's output is never replaced)."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise ValueError(f"the output {target} appeared while the job ran (another job?); it is kept, and this "
                         "job's output is discarded") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextmanager
def _atomic_output(target: Path, overwrite: bool = False) -> Iterator[_TableWriter]:
    """A writer on a temporary file beside ``target``, published only when the
    block completes; removed on any error or interruption it can see."""
    _remove_stale_partials(target)
    fd, name = tempfile.mkstemp(prefix=_partial_name(target), suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # the writers create it
    writer = _TableWriter(tmp, target.suffix)
    try:
        yield writer
        writer.close()
        if not tmp.exists():  # no chunk at all: an empty table still gets its file
            raise ValueError("the input has no rows")
        _publish(tmp, target, overwrite)
    except BaseException:
        try:
            writer.close()
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


# -- the kinds of job ------------------------------------------------------------
def _id_column(df: pd.DataFrame, name: str, where: str) -> pd.Series:
    if name not in df.columns:
        raise KeyError(f"{where}: id column '{name}' is not in the input (columns: {list(df.columns)[:20]})")
    return df[name]


def _score_columns(scorer, proba: np.ndarray) -> dict[str, np.ndarray]:
    """One score column, or one per class for multiclass models."""
    if proba.ndim == 1:
        return {"score": proba}
    return {f"score_{k}": proba[:, k] for k in range(proba.shape[1])}


def _row_count(path: Path) -> int | None:
    """Rows of a Parquet file from its footer (for the progress bar); None for CSV."""
    if not str(path).endswith(".parquet"):
        return None
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _tree_score(job: dict, writer: _TableWriter, show: bool | None = None) -> int:
    from twinscore import TreeScorer, progress

    model = job["model"]
    library = model.get("library") or ("lightgbm" if model["path"].suffix == ".txt" else "xgboost")
    load = TreeScorer.from_xgboost if library == "xgboost" else TreeScorer.from_lightgbm
    scorer = load(model["path"])
    reasons, groups = model.get("reasons", 0), model.get("groups")
    rows = job["job"].get("chunk_rows", 1_000_000)
    id_name, rows_in = job["input"]["id"], 0
    _check_input(job["input"]["path"], "[input]")
    with progress(_row_count(job["input"]["path"]), desc="tree_score", enabled=show) as bar:
        for chunk in _chunks(job["input"]["path"], "[input]", rows):
            try:
                writer.write(_score_chunk(scorer, chunk, id_name, reasons, groups))
            except (ValueError, TypeError, KeyError) as exc:
                # Say where in a long input the bad rows are.
                message = exc.args[0] if exc.args else str(exc)
                raise type(exc)(f"[input] rows {rows_in:,} to {rows_in + len(chunk) - 1:,}: {message}") from None
            rows_in += len(chunk)
            bar.update(len(chunk))
    return rows_in


def _score_chunk(scorer, chunk: pd.DataFrame, id_name: str, reasons: int, groups) -> pd.DataFrame:
    ids = _id_column(chunk, id_name, "[input]")
    X = chunk.drop(columns=[id_name])
    out = {id_name: ids.to_numpy(), **_score_columns(scorer, np.asarray(scorer.predict(X)))}
    if reasons:
        why = scorer.top_reasons(X, top=reasons, groups=groups)
        out.update({c: why[c].to_numpy() for c in why.columns})
    return pd.DataFrame(out)


def _lead_score(job: dict, writer: _TableWriter, show: bool | None = None) -> int:
    from twinscore import score_leads

    contacts = _read_table(job["input"]["path"], "[input]")
    _id_column(contacts, job["input"]["id"], "[input]")
    ev = job["events"]
    events = _read_table(ev["path"], "[events]")
    names = {k: ev[k] for k in ("timestamp", "type", "category") if k in ev}
    stamp = names.get("timestamp", "timestamp")
    if stamp in events.columns and not pd.api.types.is_datetime64_any_dtype(events[stamp]):
        events[stamp] = pd.to_datetime(events[stamp])  # CSV logs hold the timestamps as text
    contact = ev.get("contact", job["input"]["id"])
    if contact != job["input"]["id"]:
        events = events.rename(columns={contact: job["input"]["id"]})
    out = score_leads(contacts, events, job["rules"]["path"], now=pd.Timestamp(job["job"]["now"]),
                      contact=job["input"]["id"], **names)
    writer.write(out.reset_index())
    return len(contacts)


def _rfm(job: dict, writer: _TableWriter, show: bool | None = None) -> int:
    from twinscore import rfm

    spec = dict(job["rfm"])
    tx = _read_table(job["input"]["path"], "[input]")
    if spec["date"] in tx.columns and not pd.api.types.is_datetime64_any_dtype(tx[spec["date"]]):
        tx[spec["date"]] = pd.to_datetime(tx[spec["date"]])
    if "now" in spec:
        spec["now"] = pd.Timestamp(spec["now"])
    out = rfm(tx, **spec)
    writer.write(out.reset_index())
    return len(tx)


# Each runner takes the job, the output writer and whether to show progress
# (the one-call kinds have none to show).
_RUNNERS: dict[str, Callable[[dict, _TableWriter, bool | None], int]] = {
    "tree_score": _tree_score, "lead_score": _lead_score, "rfm": _rfm}


def run_job(path: str | os.PathLike, *, threads: int | None = None, progress: bool | None = None) -> JobReport:
    """Runs the job file at ``path``; see the module docstring for its keys.

    ``progress``: a bar over the chunks of a tree-scoring job (True, False, or
    None: shown when stderr is a terminal)."""
    return run_loaded_job(load_job(path), threads=threads, progress=progress)


def run_loaded_job(job: dict[str, Any], *, threads: int | None = None, progress: bool | None = None) -> JobReport:
    """Runs a job read by :func:`load_job` (``threads`` overrides its [job] threads; ``progress`` as in
    :func:`run_job`)."""
    from twinscore import threads as thread_scope

    n = threads if threads is not None else job["job"].get("threads")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"threads must be a positive integer, got {n!r}")
    t0 = time.perf_counter()
    target: Path = job["output"]["path"]
    with thread_scope(n), _atomic_output(target, job["output"].get("overwrite", False)) as writer:
        rows_in = _RUNNERS[job["job"]["kind"]](job, writer, progress)
    return JobReport(job["job"]["kind"], rows_in, writer.rows, target, time.perf_counter() - t0)

