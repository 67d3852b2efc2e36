"""The `labsctl` command: a thin layer over `labsctl.api`.

`main` is the only place that catches errors: it prints `error:` / `hint:` on stderr and exits
with the error's code (see README "Exit codes"); a traceback only with `-v`. Every message it
prints goes through `labsctl.output`, so text from a spec, a file name or the cluster is shown
literally (no markup, control characters escaped, long text cut).
"""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import sys
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import NoReturn

import click

from labsctl.cli.app import cli
from labsctl.errors import (
    EXIT_INTERNAL,
    EXIT_INVALID,
    Interrupted,
    LabsctlError,
    SpecError,
    interruption,
)
from labsctl.output import error, format_problem, shown_text


def main(argv: list[str] | None = None) -> None:
    verbose = _verbose(argv if argv is not None else sys.argv[1:])
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    with _sigterm_raises():
        _run(argv, verbose)


def _run(argv: list[str] | None, verbose: bool) -> NoReturn:
    try:
        cli.main(args=argv, prog_name="labsctl", standalone_mode=False)
    except LabsctlError as exc:
        _fail(exc, verbose)
    except (click.exceptions.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        _fail(Interrupted(), verbose)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        shown = io.StringIO()
        exc.show(file=shown)  # the message may quote an argument as given: show it escaped
        for line in shown.getvalue().splitlines():
            click.echo(shown_text(line), err=True)
        sys.exit(EXIT_INVALID if exc.exit_code == 2 else exc.exit_code)
    except Exception as exc:
        if verbose:
            traceback.print_exc()
        error(
            f"internal error: {type(exc).__name__}: {exc}",
            "run again with -v for the traceback and report it as a bug",
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(0)


def _fail(exc: LabsctlError, verbose: bool) -> NoReturn:
    if verbose:
        traceback.print_exc()
    if isinstance(exc, SpecError) and not exc.shown:
        for problem in exc.problems:
            click.echo(format_problem(problem), err=True)
    error(exc.message, exc.hint)
    sys.exit(exc.exit_code)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM stops the work as Ctrl-C does (SIGINT: Python's KeyboardInterrupt): with an
    exception that unwinds, so locks are released and temporary files removed."""

    def terminated(signum: int, _frame: FrameType | None) -> None:
        raise interruption(signum)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _verbose(argv: list[str]) -> bool:
    return any(
        arg in ("-v", "--verbose") or (arg.startswith("-v") and set(arg[1:]) == {"v"})
        for arg in argv
    )


__all__ = ["cli", "main"]
