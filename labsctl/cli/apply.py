"""`labsctl apply SPEC...`: make the cluster match the specs."""

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
from labsctl.output import note
from labsctl.validation import load_specs


@click.command("apply")
@specs_argument
@cluster
@click.option("--dry-run", is_flag=True, help="Server-side dry run: show what would change.")
@click.option(
    "--prune/--no-prune",
    default=True,
    show_default=True,
    help="Delete objects the residency owns but its spec no longer asks for.",
)
@lock_timeout
@click.option(
    "--inventory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the rendered inventory (all residencies) in this directory.",
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
    dry_run: bool,
    prune: bool,
    lock_timeout: float,
    inventory: Path | None,
    templates: Path | None,
    output_format: str,
    verbose: int,
) -> None:
    """Validate, render and apply residencies, pruning what they no longer ask for."""
    load_specs(list(specs))  # bad specs: exit 2 before anything touches a cluster
    target = target_from(kubeconfig, context, sandbox)
    run_and_report(
        lambda progress: api.apply(
            list(specs),
            target,
            dry_run=dry_run,
            prune_stale=prune,
            lock_timeout=lock_timeout,
            templates=templates,
            inventory_dir=inventory,
            verbose=verbose,
            on_event=progress,
            on_wait=progress.waiting,
        ),
        output_format,
        failure="the run failed",
    )
    if output_format == "table" and sandbox:
        note(f"look at it: labsctl status --sandbox {' '.join(map(str, specs))}")
        note(f"kubeconfig: {target.kubeconfig}")
