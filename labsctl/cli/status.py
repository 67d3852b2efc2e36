"""`labsctl status [SPEC...] [--all]`: residencies on the cluster, their phase and health."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from labsctl import api
from labsctl.cli.options import cluster, output, target_from, verbose
from labsctl.errors import UsageError
from labsctl.output import ProgressReporter, emit_data, stderr, table
from labsctl.report import render_html, render_openmetrics
from labsctl.validation import load_specs


@click.command("status")
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--all",
    "all_residencies",
    is_flag=True,
    help="Every residency on the cluster (a fleet report), sorted by end date; with SPECs, "
    "their drift too.",
)
@click.option(
    "--drift/--no-drift",
    default=None,
    help="Check the SPECs' drift with a dry run [default: on when SPECs are given].",
)
@cluster
@output("table", "json", "yaml", "html", "openmetrics", default="table")
@verbose
def command(
    specs: tuple[Path, ...],
    all_residencies: bool,
    drift: bool | None,
    kubeconfig: str | None,
    context: str | None,
    sandbox: bool,
    output_format: str,
) -> None:
    """Phase, days left, health and drift of residencies found through their labels.

    `-o html` writes a self-contained page (timeline, quota, pipelines, tools, team, drift);
    `-o openmetrics` the same as metrics for Prometheus (docs/fleet-report.md)."""
    if not specs and not all_residencies:  # before starting a sandbox
        raise UsageError("give SPEC files or --all", hint="labsctl status --all")
    if specs:
        load_specs(list(specs))  # bad specs: exit 2 before anything touches a cluster
    target = target_from(kubeconfig, context, sandbox)
    with ProgressReporter(enabled=output_format == "table" and stderr.is_terminal) as progress:
        report = api.status(
            target, list(specs), everything=all_residencies, drift=drift, on_event=progress
        )
    found = report.residencies
    if output_format in ("html", "openmetrics"):
        render = render_html if output_format == "html" else render_openmetrics
        sys.stdout.write(render(api.fleet_report(found, today=report.date)))
        return
    if output_format != "table":
        emit_data(report.as_dict(), output_format)  # type: ignore[arg-type]
        return
    table(
        [
            "RESIDENCY",
            "PHASE",
            "DAYS LEFT",
            "END",
            "ARCHIVE",
            "STAGES",
            "MEMBERS",
            "GROUPS",
            "HEALTH",
            "QUOTA",
            "PIPELINES",
            "TOOLS",
            "IN SYNC",
        ],
        [
            [
                s.name,
                s.phase,
                s.days_left,
                s.end,
                s.archive,
                ",".join(s.stages),
                s.members,
                s.groups,
                "ok" if s.healthy else "; ".join(s.problems),
                "-" if s.quota_peak is None else f"{s.quota_peak:.0%}",
                s.pipelines,
                s.tools,
                "-" if s.in_sync is None else ("yes" if s.in_sync else "no"),
            ]
            for s in found
        ],
    )
