"""`labsctl extend SPEC --until DATE`: move the end date in the file, then apply it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from labsctl import api
from labsctl.cli.applying import report, run_and_report
from labsctl.cli.options import (
    cluster,
    output,
    secrets_dir,
    target_from,
    templates,
    verbose_level,
)
from labsctl.output import note


@click.command("extend")
@click.argument("spec", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--until",
    "until",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="New last day of access (YYYY-MM-DD).",
)
@click.option(
    "--archive",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="New archive date; default: moved by as many days as the end.",
)
@click.option(
    "--apply/--no-apply",
    "apply_now",
    default=True,
    show_default=True,
    help="Apply the new dates (unfreezes a frozen residency).",
)
@cluster
@templates
@secrets_dir
@output("table", "json", "yaml", default="table")
@verbose_level
def command(
    spec: Path,
    until: dt.datetime,
    archive: dt.datetime | None,
    apply_now: bool,
    kubeconfig: str | None,
    context: str | None,
    sandbox: bool,
    templates: Path | None,
    output_format: str,
    verbose: int,
) -> None:
    """Move the end (and archive) date in SPEC, keeping its comments and layout.

    Give the same --templates as to apply, or the objects they add are pruned.
    """
    until_date, archive_date = until.date(), archive.date() if archive else None
    if not apply_now:
        report(api.extend(spec, until_date, archive_date, on_progress=note), output_format)
        return
    target = target_from(kubeconfig, context, sandbox)
    run_and_report(
        lambda progress: api.extend(
            spec,
            until_date,
            archive_date,
            target=target,
            templates=templates,
            verbose=verbose,
            on_progress=note,
            on_event=progress,
            on_wait=progress.waiting,
        ),
        output_format,
        failure="applying the new dates failed",
        hint="the file already holds the new dates; run labsctl apply",
    )
