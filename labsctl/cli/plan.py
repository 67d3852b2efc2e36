"""`labsctl plan SPEC...` (alias `diff`): what apply would create, change and prune."""

from __future__ import annotations

from pathlib import Path

import click

from labsctl import api
from labsctl.cli.applying import run_and_report
from labsctl.cli.options import (
    cluster,
    output,
    secrets_dir,
    specs_argument,
    target_from,
    templates,
    verbose_level,
)
from labsctl.errors import DriftError
from labsctl.validation import load_specs


@click.command("plan")
@specs_argument
@cluster
@click.option(
    "--prune/--no-prune", default=True, show_default=True, help="Include what apply would prune."
)
@templates
@secrets_dir
@output("table", "json", "yaml", default="table")
@verbose_level
def command(
    specs: tuple[Path, ...],
    kubeconfig: str | None,
    context: str | None,
    sandbox: bool,
    prune: bool,
    templates: Path | None,
    output_format: str,
    verbose: int,
) -> None:
    """Show what apply would change (server-side dry run); exit 6 when anything would."""
    load_specs(list(specs))  # bad specs: exit 2 before anything touches a cluster
    target = target_from(kubeconfig, context, sandbox)
    summary = run_and_report(
        lambda progress: api.plan(
            list(specs),
            target,
            prune_stale=prune,
            templates=templates,
            verbose=verbose,
            on_event=progress,
        ),
        output_format,
        failure="the dry run failed",
        show_diffs=True,
    )
    if not summary.in_sync:
        raise DriftError(
            "the cluster differs from the specs", hint="`labsctl apply` makes it match"
        )
