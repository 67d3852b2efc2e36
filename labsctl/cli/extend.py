"""`labsctl extend SPEC --until DATE`: move the end date in the file, then apply it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from labsctl import apply as apply_api
from labsctl.cli.options import (
    cluster,
    output,
    secrets_dir,
    target_from,
    templates,
    verbose_level,
)
from labsctl.errors import AnsibleRunError
from labsctl.extend import extend
from labsctl.output import ProgressReporter, apply_summary, emit_data, note
from labsctl.render import render
from labsctl.validation import load_spec


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
    if apply_now:
        render(load_spec(spec), templates)  # a template problem stops us before the file changes
    extension = extend(spec, until.date(), archive.date() if archive else None)
    note(
        f"{spec}: end {extension.old_end} -> {extension.new_end}, "
        f"archive {extension.old_archive} -> {extension.new_archive}"
    )
    data: dict[str, object] = {"extension": extension.as_dict()}
    summary = None
    if apply_now:
        target = target_from(kubeconfig, context, sandbox)
        with ProgressReporter(enabled=output_format == "table") as progress:
            summary = apply_api.apply(
                [spec], target, templates=templates, verbose=verbose, on_event=progress
            )
        data["apply"] = summary.as_dict()
    if output_format == "table":
        if summary is not None:
            apply_summary(summary.as_dict())
    else:
        emit_data(data, output_format)  # type: ignore[arg-type]
    if summary is not None and not summary.ok:
        raise AnsibleRunError(
            "applying the new dates failed",
            hint="the file already holds the new dates; run labsctl apply",
        )
