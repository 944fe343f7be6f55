"""The application on top of the library: the ``twinscore`` command.

:mod:`twinscore.cli.main` parses the command line, :mod:`twinscore.cli.demo`
is the main job on generated data (``twinscore demo``) and
:mod:`twinscore.cli.jobs` the nightly batch jobs (``twinscore run job.toml``).
This package imports only the public ``twinscore`` package; the library never
imports it.
"""

from .main import main

__all__ = ["main"]
