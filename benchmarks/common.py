"""Shared helpers of the side-by-side benchmarks: machine line, timing, table."""

from __future__ import annotations

import os
import platform
import statistics
import time


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    return (f"{cpu_model()}, {len(os.sched_getaffinity(0))} CPUs usable, Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d')}")


def timeit(fn, repeat: int = 5, warmup: int = 1):
    """Median and spread (min, max) of `repeat` timed calls after `warmup` untimed ones; returns the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times), result


def row(label: str, median: float, lo: float, hi: float, ref: float | None = None) -> str:
    ratio = f"{ref / median:7.1f}x" if ref is not None else "        "
    return f"  {label:<52s} {median:9.3f} s  [{lo:.3f}–{hi:.3f}]  {ratio}"
