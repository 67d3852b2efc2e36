"""The `labsctl` command: a thin layer over `labsctl.api`.

`main` is the only place that catches errors: it prints `error:` / `hint:` on stderr and exits
with the error's code (see README "Exit codes"); a traceback only with `-v`. Every message it
prints goes through `labsctl.output`, so text from a spec, a file name or the cluster is shown
literally (no markup, control characters escaped, long text cut).
"""

from __future__ import annotations

import io
import logging
import sys
import traceback

import click

from labsctl.cli.app import cli
from labsctl.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_INVALID, LabsctlError, SpecError
from labsctl.output import error, format_problem, shown_text


def main(argv: list[str] | None = None) -> None:
    verbose = _verbose(argv if argv is not None else sys.argv[1:])
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        cli.main(args=argv, prog_name="labsctl", standalone_mode=False)
    except LabsctlError as exc:
        if verbose:
            traceback.print_exc()
        if isinstance(exc, SpecError) and not exc.shown:
            for problem in exc.problems:
                click.echo(format_problem(problem), err=True)
        error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        error("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        error("interrupted")
        sys.exit(EXIT_INTERRUPTED)
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


def _verbose(argv: list[str]) -> bool:
    return any(
        arg in ("-v", "--verbose") or (arg.startswith("-v") and set(arg[1:]) == {"v"})
        for arg in argv
    )


__all__ = ["cli", "main"]
