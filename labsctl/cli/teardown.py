"""`labsctl teardown SPEC|NAME... | --expired`: delete what a residency owns, and only that."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from labsctl.cli.options import cluster, lock_timeout, output, target_from, verbose
from labsctl.errors import ClusterError, UsageError
from labsctl.output import emit_data, note, stdout, table
from labsctl.teardown import teardown, teardown_plan
from labsctl.validation import residency_name


@click.command("teardown")
@click.argument("residencies", nargs=-1)
@click.option(
    "--expired", is_flag=True, help="Every residency on the cluster past its archive date."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (pipelines).")
@click.option("--dry-run", is_flag=True, help="Only print what would be deleted.")
@click.option(
    "--force", is_flag=True, help="Also delete namespaces holding objects labsctl did not create."
)
@click.option(
    "--backup-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("labsctl-backups"),
    show_default=True,
    help="Where <residency>-<date>/ backups (the export format) go; never overwritten "
    "(a second backup of the day is <residency>-<date>.2/).",
)
@click.option("--no-backup", is_flag=True, help="Delete without a backup.")
@click.option(
    "--ignore-not-found",
    is_flag=True,
    help="A named residency that is not on the cluster is not an error (idempotent pipelines).",
)
@click.option(
    "--timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait for the namespaces to go.",
)
@lock_timeout
@cluster
@output("table", "json", "yaml", default="table")
@verbose
def command(
    residencies: tuple[str, ...],
    expired: bool,
    yes: bool,
    dry_run: bool,
    force: bool,
    backup_dir: Path,
    no_backup: bool,
    ignore_not_found: bool,
    timeout: float,
    lock_timeout: float,
    kubeconfig: str | None,
    context: str | None,
    sandbox: bool,
    output_format: str,
) -> None:
    """Plan, back up, then delete a residency's objects (found by its labels) and wait."""
    target = target_from(kubeconfig, context, sandbox)
    plans = teardown_plan(
        target,
        [residency_name(r) for r in residencies],
        expired_only=expired,
        ignore_not_found=ignore_not_found,
    )
    if output_format == "table":
        for item in plans:
            stdout.print(
                f"residency {item.residency}: {len(item.objects)} objects to delete", markup=False
            )
            table(
                ["KIND", "NAMESPACE", "NAME"],
                [[o.kind, o.namespace or "-", o.name] for o in item.objects],
            )
            for line in item.unowned:
                stdout.print(f"  not created by labsctl: {line}", markup=False)
            for line in item.blind:
                stdout.print(f"  cannot see (forbidden): {line}", markup=False)
    if dry_run or not plans:
        if output_format != "table":
            emit_data({"dryRun": True, "residencies": [p.as_dict() for p in plans]}, output_format)  # type: ignore[arg-type]
        elif not plans:
            note("nothing to tear down")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("teardown needs confirmation", hint="use --yes in pipelines")
        click.confirm(f"delete {', '.join(p.residency for p in plans)}?", abort=True, err=True)
    results = teardown(
        target,
        plans,
        force=force,
        backup_dir=None if no_backup else backup_dir,
        timeout=timeout,
        lock_timeout=lock_timeout,
        on_progress=note,
    )
    if output_format != "table":
        emit_data({"dryRun": False, "residencies": [r.as_dict() for r in results]}, output_format)  # type: ignore[arg-type]
    stuck = [line for r in results for line in r.stuck]
    for result in results:
        if not result.stuck:
            note(
                f"residency {result.plan.residency} is gone ({result.duration:.1f}s)"
                + (f"; backup in {result.backup}" if result.backup else "")
            )
    if stuck:
        raise ClusterError(
            "; ".join(stuck),
            hint="remove the finalizers' owners, then run "
            "teardown again: it continues where it stopped",
        )
