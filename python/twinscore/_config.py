"""Thread control: one TBB arena shared by every engine."""

from __future__ import annotations

import contextlib
import operator

from . import _core

__all__ = ["set_num_threads", "get_num_threads", "threads"]


def set_num_threads(n: int | None = None) -> None:
    """Set the number of threads every twinscore engine uses.

    ``None`` or a value <= 0 restores the default: the number of CPUs this
    process may run on (its affinity mask, so ``taskset`` and container CPU
    sets are respected). Results do not depend on this setting.
    """
    if n is None:
        n = 0
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n_threads must be an integer, got {type(n).__name__}") from None
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads engines currently use."""
    return _core.get_num_threads()


@contextlib.contextmanager
def threads(n: int | None):
    """Run the enclosed calls with ``n`` threads, then restore the setting.

    ``threads(None)`` changes nothing, so functions can take ``n_threads=None``
    and pass it straight here.
    """
    if n is None:
        yield get_num_threads()
        return
    before = get_num_threads()
    set_num_threads(n)
    try:
        yield get_num_threads()
    finally:
        set_num_threads(before)
