"""The shared progress bar of long chunked calls: tqdm when installed, a stderr
line without it, silent when disabled or (by default) when stderr is not a terminal."""

import sys

import pytest

import twinscore as ts


def _run(bar, chunks=(300, 300, 400)):
    with bar:
        for n in chunks:
            bar.update(n)


def test_disabled_and_default_off_a_terminal_print_nothing(capsys):
    _run(ts.progress(1000, desc="job", enabled=False))
    _run(ts.progress(1000, desc="job"))  # pytest's captured stderr is not a terminal
    out = capsys.readouterr()
    assert out.err == "" and out.out == ""


def test_tqdm_bar_counts_the_units(capsys):
    pytest.importorskip("tqdm")
    _run(ts.progress(1000, desc="scoring", unit="row", enabled=True))
    err = capsys.readouterr().err
    assert "scoring" in err and "1.00k/1.00k" in err


def test_without_tqdm_a_stderr_line_counts_the_units(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails as if absent
    _run(ts.progress(1000, desc="twins", unit="prospect", enabled=True))
    _run(ts.progress(None, desc="csv", enabled=True), chunks=(5, 7))
    err = capsys.readouterr().err
    assert "\rtwins: 1,000/1,000 prospects\n" in err
    assert "\rcsv: 12 rows\n" in err


def test_enabled_must_be_a_bool_or_none():
    with pytest.raises(TypeError, match="progress"):
        ts.progress(10, desc="x", enabled="yes")
