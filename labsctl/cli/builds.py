"""The commands `python -m labsctl.sandbox.build` and `python -m labsctl.validators.build`:
progress and errors on stderr, the paths built on stdout (`hack/test` sends stdout to
/dev/null and shows the progress)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import click

from labsctl.errors import LabsctlError
from labsctl.sandbox.build import Progress


def build_progress(message: str) -> None:
    click.echo(f"[labsctl build] {message}", err=True)  # click.echo flushes: seen as it comes


def build_main(build: Callable[[Progress], Iterable[Path]]) -> int:
    """Run `build` with progress on stderr; print the paths it made, one a line; or the error
    and return its exit code."""
    try:
        found = list(build(build_progress))
    except LabsctlError as exc:
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        return exc.exit_code
    for path in found:
        click.echo(str(path))
    return 0


__all__ = ["build_main", "build_progress"]
