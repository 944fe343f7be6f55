"""Progress reported from inside one engine call — k-means fits, event
aggregation, lead scoring: the bar shows, results do not change, and Ctrl-C
(a Python error raised while the engine reports) stops the call and leaves
the estimator as it was."""

import signal
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

import twinscore as ts
from twinscore import _core, cluster


@pytest.fixture
def no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails as if absent: the stderr line


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 8, size=(6, 5))
    return (centres[rng.integers(0, 6, 30_000)] + rng.normal(size=(30_000, 5))).astype(np.float32)


def _same_fit(a, b):
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.inertia_ == b.inertia_ and a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("n_threads", [1, 2])
def test_kmeans_bar_counts_the_iterations_run_and_changes_nothing(blobs, capsys, no_tqdm, n_threads):
    quiet = ts.KMeans(6, random_state=3, n_threads=n_threads).fit(blobs)
    assert capsys.readouterr().err == ""
    shown = ts.KMeans(6, random_state=3, n_threads=n_threads, progress=True).fit(blobs)
    _same_fit(quiet, shown)
    err = capsys.readouterr().err
    # The total dropped from max_iter (300) to the iterations the converged run made.
    n = shown.n_iter_
    assert n < 300 and f"\rk-means: {n}/{n} iters" in err
    assert "seeding 6/6 centres" in err and "labels changed" in err


def test_kmeans_bar_over_several_runs_ends_at_their_iterations(blobs, capsys, no_tqdm):
    none = np.zeros(0, np.float32)
    # The runs n_init=3 makes, one at a time through the engine.
    total = sum(_core.kmeans_lloyd(blobs, none, _core.kmeans_init(blobs, none, 6, seed, "random"), 40, 1e-4)[3]
                for seed in cluster._seeds(5, 3))
    est = ts.KMeans(6, init="random", n_init=3, random_state=5, max_iter=40, progress=True).fit(blobs)
    _same_fit(est, ts.KMeans(6, init="random", n_init=3, random_state=5, max_iter=40).fit(blobs))
    err = capsys.readouterr().err
    assert f"\rk-means: {total}/{total} iters" in err and "best inertia" in err


def test_kmeans_tqdm_bar(blobs, capsys):
    pytest.importorskip("tqdm")
    est = ts.KMeans(6, random_state=1, progress=True).fit(blobs)
    err = capsys.readouterr().err
    n = f"{est.n_iter_:.2f}"  # tqdm's unit_scale
    assert f"k-means: 100%" in err and f"{n}/{n}" in err and "labels changed" in err


def test_minibatch_bar_counts_the_rows_of_the_passes(capsys, no_tqdm):
    X = np.random.default_rng(4).normal(size=(140_000, 3)).astype(np.float32)
    kw = dict(n_clusters=6, batch_size=1000, max_iter=2, tol=0.0, random_state=2)
    quiet = ts.MiniBatchKMeans(**kw).fit(X)
    shown = ts.MiniBatchKMeans(**kw, progress=True).fit(X)
    _same_fit(quiet, shown)
    err = capsys.readouterr().err
    # Within a pass the engine reports every 64Ki rows or more (at batch
    # ends): 66,000 rows, 132,000, the pass's end, then as much in pass 2.
    for line in ("0/280,000 rows (pass 1/2)", "66,000/280,000 rows (pass 1/2)", "140,000/280,000 rows (pass 1/2)",
                 "206,000/280,000 rows (pass 2/2)", "280,000/280,000 rows (pass 2/2)"):
        assert f"\rmini-batch k-means: {line}" in err


def test_minibatch_bar_total_drops_when_it_converges(blobs, capsys, no_tqdm):
    est = ts.MiniBatchKMeans(6, batch_size=3000, max_iter=50, tol=1e-2, random_state=2, progress=True).fit(blobs)
    assert est.n_iter_ < 50
    rows = est.n_iter_ * len(blobs)
    assert f"\rmini-batch k-means: {rows:,}/{rows:,} rows" in capsys.readouterr().err


@pytest.mark.parametrize("n_threads", [1, 2])
def test_aggregate_bar_counts_the_events(prm, capsys, no_tqdm, restore_threads, n_threads):
    ts.set_num_threads(n_threads)
    quiet = ts.events.aggregate(prm.events, now=prm.now)
    shown = ts.events.aggregate(prm.events, now=prm.now, progress=True)
    pd.testing.assert_frame_equal(quiet, shown)
    err = capsys.readouterr().err
    m = len(prm.events)  # every event has its contact here: all are aggregated
    assert f"\rgrouping: {m:,}/{m:,} events\n" in err
    assert f"\raggregating: {m:,}/{m:,} events\n" in err and err.endswith("\n")


def test_score_leads_bar_counts_the_events(prm, capsys, no_tqdm):
    rules = ts.datasets.PRM_LEAD_RULES
    quiet = ts.score_leads(prm.prospects, prm.events, rules, now=prm.now)
    shown = ts.score_leads(prm.prospects, prm.events, rules, now=prm.now, progress=True)
    pd.testing.assert_frame_equal(quiet, shown)
    # The events with a contact row (as the engine reads them) count.
    kept = int((ts.events.event_log(prm.events, prm.prospects, now=prm.now).rows >= 0).sum())
    err = capsys.readouterr().err
    assert f"\rgrouping: {len(prm.events):,}/{len(prm.events):,} events\n" in err
    assert f"\rscoring: {kept:,}/{kept:,} events\n" in err


def test_progress_must_be_a_bool_or_none(blobs, prm):
    with pytest.raises(TypeError, match="progress"):
        ts.KMeans(3, progress="yes").fit(blobs)
    with pytest.raises(TypeError, match="progress"):
        ts.events.aggregate(prm.events, now=prm.now, progress=1)


# -- stopping ---------------------------------------------------------------------------------

def _ctrl_c_at(call: int):
    """A progress callback that presses Ctrl-C (SIGINT, Python's own handler) at its call-th report."""
    seen = []

    def report(stage, done, total, note, value):
        seen.append((stage, done, total))
        if len(seen) == call:
            signal.raise_signal(signal.SIGINT)  # KeyboardInterrupt, raised here by the default handler
    return report, seen


def test_ctrl_c_in_a_report_stops_the_engine_with_keyboard_interrupt(blobs):
    init = blobs[:6].copy()
    report, seen = _ctrl_c_at(2)
    with pytest.raises(KeyboardInterrupt):
        _core.kmeans_lloyd(blobs, np.zeros(0, np.float32), init, 300, 0.0, progress=report)
    assert [s for s, _, _ in seen] == ["iterations"] * 2  # no report after the stop
    report, seen = _ctrl_c_at(1)
    with pytest.raises(KeyboardInterrupt):
        _core.kmeans_init(blobs, np.zeros(0, np.float32), 6, 1, "k-means++", progress=report)


def test_an_error_in_a_report_reaches_the_caller(prm):
    log = ts.events.event_log(prm.events, now=prm.now)

    def report(*_):
        raise ZeroDivisionError("from the bar")
    with pytest.raises(ZeroDivisionError, match="from the bar"):
        _core.aggregate_events(**log.core_args(), n_rows=len(log.contact_ids), now_ns=log.now_ns,
                               half_life_days=30.0, progress=report)


def test_ctrl_c_during_a_fit_leaves_the_estimator_as_it_was(blobs, monkeypatch):
    est = ts.KMeans(4, random_state=0).fit(blobs[:5000, :3])
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(est).items()}
    calls = []

    def iterations(self, *args):
        calls.append(args)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)
    monkeypatch.setattr(cluster._FitBar, "iterations", iterations)
    est.set_params(n_clusters=6, progress=True)
    with pytest.raises(KeyboardInterrupt):
        est.fit(blobs)  # five columns now: n_features_in_ would change
    assert len(calls) == 1
    assert vars(est).keys() == before.keys() and est.n_features_in_ == 3
    np.testing.assert_array_equal(est.cluster_centers_, before["cluster_centers_"])
    np.testing.assert_array_equal(est.labels_, before["labels_"])


def test_ctrl_c_during_partial_fit_leaves_the_centres(blobs, monkeypatch):
    est = ts.MiniBatchKMeans(6, batch_size=500, random_state=0).partial_fit(blobs[:3000])
    centres, counts, steps = est.cluster_centers_.copy(), est.counts_.copy(), est.n_steps_
    real = _core.kmeans_minibatch_update

    def pressed(*args, **kw):  # the engine update, with Ctrl-C pressed at its first report
        return real(*args, **{**kw, "progress": _ctrl_c_at(1)[0]})
    monkeypatch.setattr(cluster._core, "kmeans_minibatch_update", pressed)
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(blobs)
    np.testing.assert_array_equal(est.cluster_centers_, centres)
    np.testing.assert_array_equal(est.counts_, counts)
    assert est.n_steps_ == steps


class _Pressed(Exception):
    pass


def test_a_signal_while_the_engine_runs_stops_it_without_a_bar():
    """No callback: the engine's reports still run the signal handlers. A
    timer sends SIGINT to the process while a long fit runs (the GIL released);
    the handler (here one raising _Pressed, so a signal arriving late cannot
    abort the test session) runs at the next iteration and stops the fit."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run on the main thread only")
    rng = np.random.default_rng(1)
    X = rng.random((400_000, 16), dtype=np.float32)  # uniform noise: k = 256 takes hundreds of iterations

    def handler(signum, frame):
        raise _Pressed
    previous = signal.signal(signal.SIGINT, handler)
    timer = threading.Timer(0.5, signal.raise_signal, (signal.SIGINT,))
    try:
        timer.start()
        start = time.perf_counter()
        with pytest.raises(_Pressed):
            _core.kmeans_lloyd(X, np.zeros(0, np.float32), X[:256].copy(), 200, 0.0)  # ~50 s loaded, uninterrupted
        assert time.perf_counter() - start < 10
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
