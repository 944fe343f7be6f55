"""Progress of long calls: those Python runs in chunks (twins search, batch
jobs) and those an engine reports from inside one call (k-means fits, event
aggregation, lead scoring).

:func:`progress` returns a bar over a known total: tqdm's when it is installed
(``pip install "twinscore[progress]"``), else one line on stderr rewritten in
place; with ``enabled=False`` it does nothing. ``enabled=None`` shows it only
when stderr is a terminal, so batch logs, pipes and tests stay silent unless
asked.
"""

from __future__ import annotations

import sys
import time

__all__ = ["progress", "Progress"]


class Progress:
    """A bar over ``total`` units (None: unknown); ``update(n)`` as chunks finish,
    ``close()`` at the end (or use it as a context manager)."""

    def __init__(self, total: int | None, *, desc: str, unit: str, enabled: bool = True):
        self._total = None if total is None else int(total)
        self._done, self._desc, self._unit = 0, desc, unit
        self._bar, self._line, self._postfix, self._width, self._shown_at = None, False, "", 0, 0.0
        self.enabled = enabled
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._line = True
        else:
            self._bar = tqdm(total=self._total, unit=unit, desc=desc, unit_scale=True)

    @property
    def done(self) -> int:
        """Units counted so far."""
        return self._done

    @property
    def total(self) -> int | None:
        return self._total

    def update(self, n: int) -> None:
        self._done += int(n)
        if self._bar is not None:
            self._bar.update(n)
        elif self._line:
            self._print()

    def set_total(self, total: int) -> None:
        """A new total: the work turned out smaller (a fit that converged) or was first known late."""
        self._total = int(total)
        if self._bar is not None:
            self._bar.total = self._total
            self._bar.refresh()
        elif self._line:
            self._print()

    def set_postfix(self, text: str) -> None:
        """A short note after the counts ("seeding", "changed=1,204")."""
        self._postfix = text
        if self._bar is not None:
            # Redrawn at most ten times a second (tqdm's own pace for updates):
            # a fit's iterations may take microseconds.
            now = time.monotonic()
            redraw = now - self._shown_at >= 0.1
            if redraw:
                self._shown_at = now
            self._bar.set_postfix_str(text, refresh=redraw)
        elif self._line:
            self._print()

    def _print(self) -> None:
        of = "" if self._total is None else f"/{self._total:,}"
        note = f" ({self._postfix})" if self._postfix else ""
        line = f"{self._desc}: {self._done:,}{of} {self._unit}s{note}"
        pad = " " * max(0, self._width - len(line))  # wipes the tail of a longer previous line
        self._width = len(line)
        print(f"\r{line}{pad}", end="", file=sys.stderr, flush=True)

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
    return Progress(total, desc=desc, unit=unit, enabled=shown(enabled))


def shown(enabled: bool | None) -> bool:
    """Whether a ``progress=`` argument shows a bar (None: when stderr is a terminal)."""
    if enabled is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    if not isinstance(enabled, bool):
        raise TypeError(f"progress must be True, False or None, got {type(enabled).__name__}")
    return enabled


class EngineBar:
    """The bars of one engine call, fed by its reports: :meth:`report` is the
    callback the engine bindings take (``progress=``), called between the
    engine's parallel phases as ``(stage, done, total, note, value)``. Each
    stage gets a bar of its own, labelled by the stage ("grouping",
    "aggregating"), closed when the next stage begins or the call ends."""

    def __init__(self, *, unit: str, enabled: bool = True):
        self.enabled, self._unit = enabled, unit
        self._bar: Progress | None = None
        self._stage = None

    def report(self, stage: str, done: int, total: int, note, value) -> None:
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = Progress(total, desc=stage, unit=self._unit, enabled=True)
        bar = self._bar
        if total != bar.total:
            bar.set_total(total)
        if done > bar.done:
            bar.update(done - bar.done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "EngineBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
