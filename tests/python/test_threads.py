"""One arena, sized by set_num_threads; results independent of it."""

import os
import threading

import numpy as np
import pytest

import twinscore as ts
from twinscore import _core


def test_default_follows_the_affinity_mask(restore_threads):
    ts.set_num_threads(None)
    assert ts.get_num_threads() == len(os.sched_getaffinity(0))
    assert _core.default_num_threads() == len(os.sched_getaffinity(0))


def test_set_get_and_context_manager(restore_threads):
    ts.set_num_threads(1)
    assert ts.get_num_threads() == 1
    with ts.threads(3) as n:
        assert n == 3 and ts.get_num_threads() == 3
    assert ts.get_num_threads() == 1
    with ts.threads(None):
        assert ts.get_num_threads() == 1
    ts.set_num_threads(0)
    assert ts.get_num_threads() == _core.default_num_threads()


def test_bad_thread_counts(restore_threads):
    with pytest.raises(TypeError, match="integer"):
        ts.set_num_threads(2.5)
    with pytest.raises(TypeError, match="integer"):
        ts.set_num_threads("2")
    with pytest.raises(ValueError, match="n_threads"):
        ts.set_num_threads(10**6)


def test_engines_run_from_several_python_threads(rng):
    """The GIL is released inside the engine and concurrent calls do not interfere."""
    x = rng.normal(size=2_000_000)
    expected = _core.summarize_numeric("x", x)
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(_core.summarize_numeric("x", x))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 20 and all(r == expected for r in results)
