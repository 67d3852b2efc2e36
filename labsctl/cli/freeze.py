"""`labsctl freeze SPEC...`: the hand-over state, before (or at) the end date."""

from __future__ import annotations

from pathlib import Path

import click

from labsctl import api
from labsctl.cli.applying import run_and_report
from labsctl.cli.options import (
    cluster,
    lock_timeout,
    output,
    secrets_dir,
    specs_argument,
    target_from,
    templates,
    verbose_level,
)
from labsctl.validation import load_specs


@click.command("freeze")
@specs_argument
@cluster
@lock_timeout
@templates
@secrets_dir
@output("table", "json", "yaml", default="table")
@verbose_level
def command(
    specs: tuple[Path, ...],
    kubeconfig: str | None,
    context: str | None,
    sandbox: bool,
    lock_timeout: float,
    templates: Path | None,
    output_format: str,
    verbose: int,
) -> None:
    """Downgrade the team to view and stop the pipeline deploying; tools stay.

    `labsctl apply` does the same by itself after the end date; `labsctl extend` undoes it.
    Give the same --templates as to apply, or the objects they add are pruned.
    """
    load_specs(list(specs))
    target = target_from(kubeconfig, context, sandbox)
    run_and_report(
        lambda progress: api.freeze(
            list(specs),
            target,
            lock_timeout=lock_timeout,
            templates=templates,
            verbose=verbose,
            on_event=progress,
            on_wait=progress.waiting,
        ),
        output_format,
        failure="freezing failed",
    )
