"""Thread control: a process default, a per-context count, a per-call argument.

Every engine call receives its thread count as an argument (``n_threads`` of
the ``_core`` function) and runs in an arena of that size held by the call
alone; nothing process-wide changes during a call. The count of a call is, in
order: the estimator's or function's ``n_threads`` argument, else the count
set by ``threads(n)`` for the current thread or asyncio task, else the process
default of ``set_num_threads``.
"""

from __future__ import annotations

import contextlib
import contextvars
import operator

from . import _core

__all__ = ["set_num_threads", "get_num_threads", "threads", "show_config"]

# Mirrors kMaxThreads of cpp/include/twinscore/threads.h.
MAX_THREADS = 4096

# The count set by threads(n) for this context; None: the process default.
# A context variable, so each Python thread (and asyncio task) keeps its own.
_context_threads: contextvars.ContextVar[int | None] = contextvars.ContextVar("twinscore_threads", default=None)


def set_num_threads(n: int | None = None) -> None:
    """Set the process default: the threads of engine calls that choose none.

    ``None`` or a value <= 0 restores the default: the number of CPUs this
    process may run on (its affinity mask, so ``taskset`` and container CPU
    sets are respected). Calls already running keep their count. Results do
    not depend on this setting.
    """
    if n is None:
        n = 0
    if isinstance(n, bool):
        raise TypeError("n_threads must be an integer, got bool")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n_threads must be an integer, got {type(n).__name__}") from None
    if n > MAX_THREADS:  # checked here: the binding's int would refuse 2**40 in pybind11's own words
        raise ValueError(f"n_threads must be at most {MAX_THREADS} (<= 0 or None: the default), got {n}")
    _core.set_num_threads(max(n, 0))


def get_num_threads() -> int:
    """The process default (``threads(n)`` blocks do not change it)."""
    return _core.get_num_threads()


def check_threads(n, name: str = "n_threads") -> int:
    """An explicit thread count: an integer (not bool) in 1 .. 4096."""
    if isinstance(n, bool):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{name} must be an integer or None, got {type(n).__name__}") from None
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"{name} must be between 1 and {MAX_THREADS} (None: the default), got {n}")
    return n


def resolve_threads(n_threads: int | None = None) -> int:
    """The count to pass as ``n_threads`` to a ``_core`` call.

    ``n_threads`` when given, else the count of the enclosing ``threads(n)``
    block, else 0: the process default, read by the engine when the call
    starts.
    """
    if n_threads is not None:
        return check_threads(n_threads)
    n = _context_threads.get()
    return 0 if n is None else n


@contextlib.contextmanager
def threads(n: int | None):
    """Run the engine calls of the enclosed block, on this thread, with ``n`` threads.

    Only the current thread (or asyncio task) sees the count: other threads
    and the process default (``get_num_threads``) are untouched, so several
    threads may each run their own ``threads(n)`` block at once. An explicit
    ``n_threads=`` argument of an estimator or function still wins. Yields the
    count engine calls in the block use. ``threads(None)`` changes nothing,
    so functions can take ``n_threads=None`` and pass it straight here.
    """
    if n is None:
        yield resolve_threads() or get_num_threads()
        return
    token = _context_threads.set(check_threads(n))
    try:
        yield _context_threads.get()
    finally:
        _context_threads.reset(token)


def _check_simd_environment() -> None:
    """Refuse a TWINSCORE_SIMD the engines do not know (called at import)."""
    err = _core.simd_info()["env_error"]
    if err:
        raise ValueError(err)


def show_config(print_out: bool = True) -> dict:
    """The build and the run-time choices: version, SIMD level, CPU features, threads.

    The engines' hot kernels are compiled for three x86-64 levels (v2: SSE4.2;
    v3: AVX2 + FMA; v4: AVX-512) and the highest the CPU and the OS support is
    chosen when the package loads; the environment variable ``TWINSCORE_SIMD``
    (``v2``, ``v3`` or ``v4``) set before the import asks for a lower one
    (never higher than the CPU has). Prints a short report unless
    ``print_out`` is false, and returns it as a dict.
    """
    from . import __version__

    simd = _core.simd_info()
    info = {
        "version": __version__,
        "simd_level": simd["level"],
        "cpu_simd_level": simd["cpu_level"],
        "simd_requested": simd["requested"] or None,
        "simd_levels_supported": list(simd["supported_levels"]),
        "cpu_features": list(simd["cpu_features"]),
        "native_build": bool(simd["native_build"]),
        "num_threads": get_num_threads(),
        "default_num_threads": _core.default_num_threads(),
    }
    if print_out:
        req = f" (TWINSCORE_SIMD={info['simd_requested']})" if info["simd_requested"] else ""
        print(f"twinscore {info['version']}")
        print(f"  SIMD level:      {info['simd_level']}{req}; CPU supports up to {info['cpu_simd_level']}")
        print(f"  build:           {'native (-march=native)' if info['native_build'] else 'portable (x86-64-v2 + kernels per level)'}")
        print(f"  CPU features:    {' '.join(info['cpu_features'])}")
        print(f"  threads:         {info['num_threads']} (default {info['default_num_threads']})")
    return info
