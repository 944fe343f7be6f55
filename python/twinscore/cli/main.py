"""The twinscore command: `twinscore demo` runs the main job on generated data;
`twinscore run job.toml` runs a batch job (see :mod:`twinscore.cli.jobs`);
`twinscore report` writes the campaign report (see :mod:`twinscore.cli.report`)."""

from __future__ import annotations

import argparse
import signal
import sys

__all__ = ["main"]


def _positive_int(text: str) -> int:
    try:
        v = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="twinscore",
        description="Scoring engine for contact tables (PRM / CRM): behavioural scores, statistical twins, "
                    "segmentation.",
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="run the main job on generated data and print a summary",
        description="Generate a PRM data set (prospects, clients, events, transactions), load it into contact "
                    "tables, run the engines and print a short summary with timings.",
    )
    demo.add_argument("--prospects", type=_positive_int, default=200_000, metavar="N",
                      help="number of prospects to generate (default: 200,000)")
    demo.add_argument("--clients", type=_positive_int, default=20_000, metavar="N",
                      help="number of clients to generate (default: 20,000)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the generated data (default: 0)")
    demo.add_argument("--threads", type=int, default=None, metavar="T",
                      help="threads for the engines (default: every CPU this process may use)")
    run = sub.add_parser(
        "run",
        help="run a batch job described by a TOML file (one engine, or a pipeline of steps)",
        description="Read the job's inputs, run one engine (or each step of a pipeline) and write its output "
                    "tables; a failed step leaves no output of its own. The job file's keys are described in "
                    "twinscore.cli.jobs. Exit status: 0 done, 2 bad job file, 3 bad input data, 4 read or write "
                    "failure, 5 internal error, 130/143 interrupted.",
    )
    run.add_argument("job", help="path of the job file (.toml)")
    run.add_argument("--dry-run", action="store_true",
                     help="check the job file, its model files and its inputs' columns (Parquet schemas, CSV "
                          "headers), compute nothing, write nothing")
    run.add_argument("--threads", type=_positive_int, default=None, metavar="T",
                     help="threads for the engines (default: the job's [job] threads, else every CPU)")
    progress = run.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="show a progress bar over the input's chunks (default: a bar when stderr is a "
                               "terminal, a log line per chunk otherwise)")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="show no progress")
    report = sub.add_parser(
        "report",
        help="write a campaign report (one self-contained HTML file) from a demo run",
        description="Run the engines on a generated market and write one HTML file with the figures embedded: "
                    "score quality, the best clients' criteria, the lookalike audience, RFM and lifetime value, "
                    "the contact plan. Needs matplotlib (pip install \"twinscore[plot]\").",
    )
    report.add_argument("--out", default="twinscore-report.html", metavar="PATH",
                        help="the HTML file to write (default: twinscore-report.html); refused if it exists")
    report.add_argument("--overwrite", action="store_true", help="replace the file if it exists")
    report.add_argument("--prospects", type=_positive_int, default=50_000, metavar="N",
                        help="number of prospects to generate (default: 50,000)")
    report.add_argument("--clients", type=_positive_int, default=5_000, metavar="N",
                        help="number of clients to generate (default: 5,000)")
    report.add_argument("--seed", type=int, default=0, help="random seed of the generated data (default: 0)")
    report.add_argument("--threads", type=_positive_int, default=None, metavar="T",
                        help="threads for the engines (default: every CPU this process may use)")
    outputs = report.add_argument_group(
        "from batch jobs' outputs", "report on the tables jobs wrote instead of a demo run")
    outputs.add_argument("--scores", metavar="PATH", help="a tree_score job's output (id, score, reasons)")
    outputs.add_argument("--outcomes", metavar="PATH",
                         help="the outcomes observed since (id and outcome columns): the score's quality")
    outputs.add_argument("--rfm", metavar="PATH", help="an rfm job's output (R, F, monetary, segment)")
    outputs.add_argument("--id", default="contact_id", help="the id column joining scores and outcomes "
                                                            "(default: contact_id)")
    outputs.add_argument("--outcome", default="converted", help="the outcome column (0/1, default: converted)")
    return p


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that a job cleans up as on Ctrl-C."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _say(exc: BaseException) -> None:
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    print(f"twinscore run: {message}", file=sys.stderr)


def _internal(exc: Exception) -> int:
    """A bug, not the job's fault: the traceback, one line that says so, and its own exit status."""
    import traceback

    from . import jobs

    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    print(f"twinscore run: internal error ({type(exc).__name__}: {exc}); the failed step wrote no output; "
          "please report it", file=sys.stderr)
    return jobs.EXIT_INTERNAL


def _run(args) -> int:
    """One line on stderr and an exit status per kind of failure (see twinscore.cli.jobs)."""
    from . import jobs

    try:
        job = jobs.load_job(args.job)
    except (ValueError, TypeError, KeyError, OSError) as exc:
        _say(exc)
        return jobs.EXIT_JOB_FILE
    except Exception as exc:  # a bug in the checks themselves
        return _internal(exc)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if args.dry_run:
            report = "\n".join(jobs.check_loaded_job(job) + ["dry run: the job is ready; nothing computed"])
        else:
            report = jobs.run_loaded_job(job, threads=args.threads, progress=args.progress)
    except jobs.JobFileError as exc:  # found once the models are loaded, or the output appeared meanwhile
        _say(exc)
        return jobs.EXIT_JOB_FILE
    except (ValueError, TypeError, KeyError) as exc:
        _say(exc)
        return jobs.EXIT_DATA
    except OSError as exc:  # disk full, unreadable or corrupt file
        _say(exc)
        return jobs.EXIT_IO
    except _Terminated:
        print("twinscore run: terminated; no output written", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("twinscore run: interrupted; no output written", file=sys.stderr)
        return 128 + signal.SIGINT
    except Exception as exc:  # a bug, not the job's fault
        return _internal(exc)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(report)
    return 0


def _report(args) -> int:
    import twinscore as ts

    from .report import write_output_report, write_report

    try:
        with ts.threads(args.threads):
            if args.scores or args.rfm or args.outcomes:
                path = write_output_report(args.out, scores=args.scores, outcomes=args.outcomes, rfm=args.rfm,
                                           id=args.id, outcome=args.outcome, overwrite=args.overwrite)
            else:
                path = write_report(args.out, prospects=args.prospects, clients=args.clients, seed=args.seed,
                                    overwrite=args.overwrite)
    except (ValueError, TypeError, KeyError, FileExistsError, FileNotFoundError, ImportError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"twinscore report: {message}", file=sys.stderr)
        return 2
    print(f"report written to {path}")
    return 0


def _demo(args) -> int:
    import twinscore as ts

    from .demo import run_demo

    if args.threads is not None:
        if args.threads < 1:
            print("twinscore demo: --threads must be >= 1", file=sys.stderr)
            return 2
        ts.set_num_threads(args.threads)
    print(run_demo(args.prospects, args.clients, args.seed))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        import twinscore as ts

        print(ts.__version__)
        return 0
    if args.command == "demo":
        return _demo(args)
    if args.command == "run":
        return _run(args)
    if args.command == "report":
        return _report(args)
    parser.print_help(sys.stderr)  # no command is a usage error, as argparse's own
    return 2


if __name__ == "__main__":
    sys.exit(main())
