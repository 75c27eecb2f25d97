"""Command line: ``python -m ssae_core <command> ...``.

Every command takes ``--workspace DIR`` (default ``$SSAE_WORKSPACE`` or ``cache/``),
prints a human summary, or JSON with ``--json``, and exits 1 with one clear message on
a user error (bad input, unwritable workspace, unknown model) instead of a traceback.

One module per command group, each with its ``register(subparsers)``, run function(s) and
text formatter; a command's options are added when it is run or its help is shown
(``common.CommandParser``), many of them generated from the config dataclasses
(``ssae_core.infra.config.add_options``).
"""

from __future__ import annotations

import argparse
import io
import signal
import sys
from contextlib import redirect_stderr

from ssae_core.cli import (
    autointerp,
    dark_matter,
    demo,
    evaluate,
    export,
    finetune,
    gsae,
    jobs,
    select,
    shift,
    study,
)
from ssae_core.cli.common import CommandParser
from ssae_core.infra.errors import SSAEError
from ssae_core.infra.jobs import JobProgress
from ssae_core.infra.workspace import Workspace

COMMANDS = (
    demo,
    gsae,
    select,
    finetune,
    evaluate,
    dark_matter,
    autointerp,
    shift,
    study,
    export,
    jobs,
)
"""The command modules, in the order of the help."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (each command's options are added on its first use)."""
    parser = CommandParser(prog="python -m ssae_core", description="SSAE Studio engine.")
    sub = parser.add_subparsers(title="commands")
    for command in COMMANDS:
        command.register(sub)
    return parser


def problem(argv: list[str]) -> str | None:
    """What the command line ``argv`` would fail with before doing any work (a usage error or the
    command's ``check``), or None when it passes both."""
    err = io.StringIO()
    try:
        with redirect_stderr(err):
            args = build_parser().parse_args(argv)
    except SystemExit:
        return err.getvalue().strip().splitlines()[-1].split("error: ", 1)[-1]
    try:
        if getattr(args, "check", None) is not None:
            args.check(args)
    except SSAEError as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)  # a cancelled job ends like Ctrl-C
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    args.reporter = _job_reporter(args)
    try:
        code = args.run(args) or 0
    except SSAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _finish(args, "failed", str(exc))
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted: finished artifacts are kept; run the same command again to resume.",
            file=sys.stderr,
        )
        _finish(args, "cancelled")
        return 130
    except Exception as exc:
        if args.reporter is not None and args.reporter.cancel_requested():
            _finish(args, "cancelled")  # the interrupt surfaced as another error (an import's)
            return 130
        _finish(args, "failed", f"{type(exc).__name__}: {exc}")
        raise
    _finish(args, "done" if code == 0 else "failed", None if code == 0 else f"exit status {code}")
    return code


def _job_reporter(args: argparse.Namespace) -> JobProgress | None:
    """The job row this worker reports into (``--job``, set by ``jobs.launch``), else None."""
    if not getattr(args, "job", None):
        return None
    return JobProgress(Workspace(args.workspace), args.job)


def _finish(args: argparse.Namespace, state: str, error: str | None = None) -> None:
    if args.reporter is not None:
        args.reporter.finish(state, error)


def _interrupt(signum, frame):
    raise KeyboardInterrupt
