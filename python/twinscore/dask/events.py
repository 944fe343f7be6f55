"""Event features and lead scores of Dask event logs.

A contact's features need all its events in one place: the log (and the
contacts, when given) are shuffled by a hash of the contact id, so contact c's
events and row land in the same partition, which the local engine
aggregates. The vocabularies (event types, categories) are fixed for the
whole log first, so every partition has the same columns, in the local order.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .. import events as _events
from ..leads import LeadRules
from ..leads import score_leads as _score_leads
from ._partitions import _is_dask, partition_count, shuffle_method

__all__ = ["aggregate", "score_leads"]

_PART = "__twinscore_part__"
_ORDER = "__twinscore_order__"


def aggregate(events, contacts=None, *, now=None, as_of=None, half_life_days: float = 30.0,
              contact: str = "contact_id", timestamp: str = "timestamp", type: str = "type",
              category: str | None = "category", types: Sequence[str] | None = None,
              categories: Sequence[str] | None = None, unknown: str = "raise", npartitions: int | None = None,
              partitioned_by_contact: bool = False):
    """:func:`twinscore.events.aggregate` of a Dask event log: a Dask DataFrame indexed by
    contact id, one row per contact (the events' contacts, or ``contacts``: a Dask or pandas
    DataFrame with the ``contact`` column, or ids), equal row for row to the local result.

    The log may be partitioned any way: it is shuffled by contact into ``npartitions``
    (default: the log's). ``partitioned_by_contact=True`` skips the shuffle when every
    contact's events already lie in one partition (a log written per contact range); it is
    checked — the contact column is read once — and a contact found in two partitions is a
    ValueError. Rows come partition by partition (sorted within each); the counts of ignored
    events (``attrs`` of the local result) are not kept.
    """
    _check_log(events, contact, timestamp, type, category)
    _events.reference_date(now, as_of)  # exactly one of the two, checked now
    if not isinstance(partitioned_by_contact, (bool, np.bool_)):
        got = partitioned_by_contact.__class__.__name__  # type() is shadowed by the argument `type`
        raise TypeError(f"partitioned_by_contact must be True or False, got {got}")
    npartitions = partition_count(npartitions, events.npartitions)
    types = _vocabulary(events[type], types)
    categories = [] if category is None else _vocabulary(events[category], categories)
    options = dict(now=now, as_of=as_of, half_life_days=half_life_days, contact=contact, timestamp=timestamp,
                   type=type, category=category, types=types, categories=categories or None, unknown=unknown)
    meta = _one_event_output(events, contact, timestamp, type, category, types, categories,
                             lambda e, c: _events.aggregate(e, c, **options))
    events = events[_used(contact, timestamp, type, category)]  # only what the features read moves
    if _is_dask(contacts):
        contacts = contacts[[contact]]
    log, people = _by_contact(events, contacts, contact, npartitions, partitioned_by_contact)
    run = _Run(lambda e, c: _events.aggregate(e, c, **options), contact, meta, unknown)
    return _run(run, log, people, meta)


def score_leads(contacts, events, rules, *, now=None, as_of=None, contact: str = "contact_id",
                timestamp: str = "timestamp", type: str = "type", category: str | None = "category",
                unknown: str = "raise", npartitions: int | None = None, partitioned_by_contact: bool = False):
    """:func:`twinscore.leads.score_leads` of Dask contacts and a Dask (or pandas) event log: a
    Dask DataFrame indexed by contact id, equal row for row to the local result. Both are
    shuffled by contact (``npartitions``: default the contacts'); every partition scores its
    contacts with the whole log's event types and categories.

    ``partitioned_by_contact=True`` skips the shuffle when the contacts and the log come in the
    same number of partitions and partition i of each holds the same contacts (both written
    per contact range): checked as for :func:`aggregate`, a contact whose row or events lie in
    two partitions is a ValueError."""
    import dask.dataframe as dd

    if not _is_dask(contacts):
        raise TypeError(f"contacts must be a Dask DataFrame here (the local score_leads takes pandas), got "
                        f"{type_name(contacts)}")
    if not _is_dask(events):
        events = dd.from_pandas(_frame_of(events, "events"), npartitions=1)
    if contact not in contacts.columns:
        raise KeyError(f"contacts has no column '{contact}' (the contact id)")
    npartitions = partition_count(npartitions, contacts.npartitions)  # refused before any work
    if not isinstance(partitioned_by_contact, (bool, np.bool_)):
        got = partitioned_by_contact.__class__.__name__  # type() is shadowed by the argument `type`
        raise TypeError(f"partitioned_by_contact must be True or False, got {got}")
    rules = LeadRules.from_toml(rules) if isinstance(rules, str) else LeadRules.from_dict(rules)
    _check_log(events, contact, timestamp, type, category)
    _events.reference_date(now, as_of)
    types = _vocabulary(events[type], None)
    categories = None if category is None else _vocabulary(events[category], None)
    options = dict(now=now, as_of=as_of, contact=contact, timestamp=timestamp, type=type, category=category,
                   unknown=unknown, types=types, categories=categories)

    def score(e, c):
        return _score_leads(c, e, rules, **options)

    meta = _one_event_output(events, contact, timestamp, type, category, types, categories or [], score,
                             contacts._meta_nonempty.head(1))
    # Only what the rules read moves through the shuffle.
    contacts = contacts[list(dict.fromkeys([contact, *(r.column for r in rules.fit)]))]
    events = events[_used(contact, timestamp, type, category)]
    if partitioned_by_contact:
        if events.npartitions != contacts.npartitions:
            raise ValueError(f"partitioned_by_contact=True pairs partition i of the contacts with partition i of "
                             f"the events, but they have {contacts.npartitions} and {events.npartitions} partitions")
        _check_partitioned(events, contact, contacts)
        log, people = events, contacts
    else:
        log, people = _by_contact(events, contacts, contact, npartitions, False)
    return _run(_Run(score, contact, meta, unknown), log, people, meta)


# ---------------------------------------------------------------- the shuffle
def _by_contact(events, contacts, contact: str, npartitions, partitioned: bool):
    """The log (and the contacts) with each contact's events, and its row, in one partition."""
    import dask.dataframe as dd

    if _is_dask(contacts) and contact not in contacts.columns:
        raise KeyError(f"contacts has no column '{contact}' (the contact id)")
    if contacts is not None and not _is_dask(contacts):
        contacts = _contacts_frame(contacts, contact)
        contacts = dd.from_pandas(contacts, npartitions=max(1, min(events.npartitions, len(contacts))))
    if partitioned:
        if contacts is not None:
            raise ValueError("partitioned_by_contact=True takes the log's own contacts: pass contacts=None")
        _check_partitioned(events, contact)
        return events, None
    n = npartitions or events.npartitions
    log = _shuffled(events, contact, n)
    people = None if contacts is None else _shuffled(contacts, contact, n)
    return log, people


def _shuffled(frame, contact: str, n: int):
    """``frame`` in n partitions by a hash of the contact id (ids read as one type on both sides,
    so a contact's events and its row hash alike), each partition's rows in the order they had
    in ``frame``: a contact's sums then add up in the order the local engine adds them, to the
    same bits."""
    meta = frame._meta.assign(**{_PART: np.int64(0), _ORDER: np.int64(0)})
    keyed = frame.map_partitions(_with_part, contact, n, meta=meta)
    moved = keyed.shuffle(on=_PART, npartitions=n, shuffle_method=shuffle_method(frame))
    return moved.map_partitions(_in_order, meta=frame._meta)


def _with_part(df: pd.DataFrame, contact: str, n: int, partition_info=None) -> pd.DataFrame:
    ids = df[contact]
    if ids.dtype.kind in "iub" or (ids.dtype.kind == "f" and not ids.isna().any()
                                   and (ids == np.floor(ids)).all()):
        key = ids.to_numpy().astype(np.int64).view(np.uint64)
        with np.errstate(over="ignore"):
            key = key * np.uint64(0x9E3779B97F4A7C15)
        h = key ^ (key >> np.uint64(31))
    else:
        h = pd.util.hash_array(ids.astype("string").to_numpy(dtype=object, na_value=None), categorize=False)
    number = 0 if partition_info is None else int(partition_info["number"])
    order = (np.int64(number) << np.int64(40)) + np.arange(len(df), dtype=np.int64)
    return df.assign(**{_PART: (h % np.uint64(n)).astype(np.int64), _ORDER: order})


def _in_order(df: pd.DataFrame) -> pd.DataFrame:
    """A shuffled partition's rows back in their original order (partition, then row)."""
    return df.sort_values(_ORDER, kind="stable").drop(columns=[_PART, _ORDER])


def _check_partitioned(events, contact: str, contacts=None):
    """That no contact id lies in two partitions (of the events, or of the events and contacts
    taken partition by partition). Each partition sends back the range of its ids (two values):
    ranges that do not overlap prove it. Overlapping ranges (ids not written by range, ids of
    types that do not compare) are settled exactly from each partition's distinct ids."""
    import dask

    columns = [f[contact].to_delayed() for f in [events] + ([] if contacts is None else [contacts])]
    ranges = dask.compute(*[[dask.delayed(_id_range)(p) for p in c] for c in columns])
    merged = [_merge_ranges(list(r)) for r in zip(*ranges)]
    if _disjoint([r for r in merged if r is not None]):
        return
    parts = [dask.delayed(_distinct_ids)(*ps) for ps in zip(*columns)]
    seen = pd.concat(dask.compute(*parts), ignore_index=True)
    twice = seen[seen.duplicated()]
    if len(twice):
        raise ValueError(f"partitioned_by_contact=True, but contact {twice.iloc[0]!r} has rows or events in two "
                         f"partitions ({len(twice):,} such contacts): leave it False to shuffle by contact")


def _id_range(ids: pd.Series):
    """The least and greatest id of a partition (None when it has none, or they do not compare)."""
    ids = ids.dropna()
    if len(ids) == 0:
        return None
    try:
        return ids.min(), ids.max()
    except TypeError:
        return "incomparable"


def _merge_ranges(ranges: list):
    got = [r for r in ranges if r is not None]
    if not got:
        return None
    if any(isinstance(r, str) for r in got):
        return "incomparable"
    return min(r[0] for r in got), max(r[1] for r in got)


def _disjoint(ranges: list) -> bool:
    """Whether the (lo, hi) ranges overlap nowhere (False when they cannot be compared)."""
    try:
        if any(isinstance(r, str) for r in ranges):
            return False
        ordered = sorted(ranges, key=lambda r: r[0])
        return all(a[1] < b[0] for a, b in zip(ordered[:-1], ordered[1:]))
    except TypeError:
        return False


def _distinct_ids(*columns: pd.Series) -> pd.Series:
    return pd.Series(pd.unique(pd.concat([c.dropna() for c in columns], ignore_index=True)))


# ---------------------------------------------------------------- per partition
class _Run:
    """The local function on one partition's events and contacts (picklable)."""

    def __init__(self, fn, contact, meta, unknown):
        self.fn, self.contact, self.meta, self.unknown = fn, contact, meta, unknown

    def __call__(self, events: pd.DataFrame, contacts: pd.DataFrame | None) -> pd.DataFrame:
        if contacts is not None:
            if len(contacts) == 0:  # the events here, if any, are of no known contact
                if len(events) and self.unknown == "raise":
                    raise KeyError(f"events: {len(events):,} events have a contact id not among the contacts, "
                                   f"e.g. {events[self.contact].iloc[0]!r} (pass unknown='ignore' to drop them)")
                return self.meta
        elif len(events) == 0:
            return self.meta
        out = self.fn(events, contacts)
        out.attrs = {}
        return out


def _run(run: _Run, log, people, meta):
    if people is None:
        return log.map_partitions(run, None, meta=meta, align_dataframes=False)
    return log.map_partitions(run, people, meta=meta, align_dataframes=False)


def _one_event_output(events, contact, timestamp, type, category, types, categories, fn, contacts=None):
    """The columns and dtypes of the output: the local function on one made-up event."""
    sample = events._meta_nonempty.head(1).copy()
    sample[type] = types[0] if types else sample[type]
    if category is not None and categories:
        sample[category] = categories[0]
    if contacts is not None:
        sample[contact] = contacts[contact].to_numpy()[:1]
    return fn(sample, contacts).iloc[:0]


# ---------------------------------------------------------------- checks
def _used(*columns) -> list[str]:
    return list(dict.fromkeys(c for c in columns if c is not None))


def _check_log(events, contact, timestamp, type, category):
    import dask.dataframe as dd

    if not isinstance(events, dd.DataFrame):
        raise TypeError(f"events must be a Dask DataFrame here (the local function takes pandas), got "
                        f"{type_name(events)}")
    for role, col in (("contact", contact), ("timestamp", timestamp), ("type", type)):
        if col not in events.columns:
            raise KeyError(f"events has no column '{col}' ({role}); columns: {list(events.columns)}")
    if category is not None and category not in events.columns:
        raise KeyError(f"events has no column '{category}' (category); pass category=None if there is none")


def _vocabulary(column, given) -> list[str]:
    """A type or category column's names over the whole log, as the local function reads them:
    the given list, a known categorical's categories, else the sorted distinct values."""
    if given is not None:
        return [str(v) for v in given]
    if isinstance(column.dtype, pd.CategoricalDtype) and column.cat.known:
        return [str(v) for v in column.cat.categories]
    values = column.dropna().drop_duplicates().compute()
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(values.cat.categories.dtype)
    return _events._codes(values.reset_index(drop=True), str(column.name), None, allow_missing=True)[1]


def _contacts_frame(contacts, contact: str) -> pd.DataFrame:
    if isinstance(contacts, pd.DataFrame):
        if contact not in contacts:
            raise KeyError(f"contacts has no column '{contact}' (the contact id)")
        return contacts
    ids = np.asarray(contacts.to_numpy() if isinstance(contacts, (pd.Series, pd.Index)) else contacts)
    if ids.ndim != 1:
        raise ValueError(f"contacts must be 1-D ids, got shape {ids.shape}")
    return pd.DataFrame({contact: ids})


def _frame_of(x, what: str) -> pd.DataFrame:
    if not isinstance(x, pd.DataFrame):
        raise TypeError(f"{what} must be a Dask or pandas DataFrame, got {type_name(x)}")
    return x


def type_name(x) -> str:
    return x.__class__.__name__
