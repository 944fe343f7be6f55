"""The twinscore command."""

import shutil
import subprocess
import sys

import pytest

from twinscore.cli import main


def test_demo_prints_a_summary(capsys):
    assert main(["demo", "--prospects", "3000", "--clients", "400", "--seed", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "3,000 prospects" in out and "400 clients" in out
    assert "1 threads" in out
    assert "fill rate" in out and "timings" in out
    assert "finite: True" in out


def test_help_documents_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--prospects", "--clients", "--seed", "--threads"):
        assert option in out


def test_bad_options_exit_with_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--prospects", "-5"])
    assert exc.value.code == 2
    assert "positive integer" in capsys.readouterr().err


def test_console_script_is_installed():
    exe = shutil.which("twinscore") or str(__import__("pathlib").Path(sys.executable).with_name("twinscore"))
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "demo" in r.stdout


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().err
