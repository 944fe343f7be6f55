"""Progress of long calls that Python runs in chunks (twins search, batch jobs).

:func:`progress` returns a bar over a known total: tqdm's when it is installed
(``pip install "twinscore[progress]"``), else one line on stderr rewritten in
place; with ``enabled=False`` it does nothing. ``enabled=None`` shows it only
when stderr is a terminal, so batch logs, pipes and tests stay silent unless
asked.
"""

from __future__ import annotations

import sys

__all__ = ["progress", "Progress"]


class Progress:
    """A bar over ``total`` units (None: unknown); ``update(n)`` as chunks finish,
    ``close()`` at the end (or use it as a context manager)."""

    def __init__(self, total: int | None, *, desc: str, unit: str, enabled: bool = True):
        self._total = None if total is None else int(total)
        self._done, self._desc, self._unit = 0, desc, unit
        self._bar, self._line = None, False
        self.enabled = enabled
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._line = True
        else:
            self._bar = tqdm(total=self._total, unit=unit, desc=desc, unit_scale=True)

    def update(self, n: int) -> None:
        self._done += int(n)
        if self._bar is not None:
            self._bar.update(n)
        elif self._line:
            of = "" if self._total is None else f"/{self._total:,}"
            print(f"\r{self._desc}: {self._done:,}{of} {self._unit}s", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._line:
            print(file=sys.stderr, flush=True)
            self._line = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(total: int | None, *, desc: str, unit: str = "row", enabled: bool | None = None) -> Progress:
    """The progress bar of twinscore's long calls, for an application that chunks its own work too.

    Parameters
    ----------
    total : int or None
        Units of work in all (None when unknown).
    desc : str
        The bar's label.
    unit : str, default "row"
        What a unit is.
    enabled : bool or None, default None
        True shows the bar, False hides it, None shows it when stderr is a terminal.

    Returns
    -------
    Progress
        Call ``update(n)`` as chunks finish and ``close()`` at the end, or use it in a ``with``.
    """
    if enabled is None:
        enabled = bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not isinstance(enabled, bool):
        raise TypeError(f"progress must be True, False or None, got {type(enabled).__name__}")
    return Progress(total, desc=desc, unit=unit, enabled=enabled)
