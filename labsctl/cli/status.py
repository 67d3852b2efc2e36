"""`labsctl status [SPEC... | --all]`: residencies on the cluster, their phase and health."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from labsctl import apply as apply_api
from labsctl.cli.options import cluster, output, target_from, verbose
from labsctl.cluster import Cluster
from labsctl.errors import UsageError
from labsctl.output import emit_data, table
from labsctl.status import residencies_of, residencies_on
from labsctl.validation import load_specs


@click.command("status")
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--all",
    "all_residencies",
    is_flag=True,
    help="Every residency on the cluster (a fleet report), sorted by end date.",
)
@click.option(
    "--drift/--no-drift",
    default=None,
    help="Check drift with a dry run [default: on for SPECs, off for --all].",
)
@cluster
@output("table", "json", "yaml", default="table")
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
    """Phase, days left, health and drift of residencies found through their labels."""
    if bool(specs) == all_residencies:
        raise UsageError("give SPEC files or --all", hint="labsctl status --all")
    target = target_from(kubeconfig, context, sandbox)
    residencies = load_specs(list(specs)) if specs else []
    names = [r.name for r in residencies] if specs else None
    found = residencies_of(residencies, target) if specs else residencies_on(Cluster(target))
    if names:
        missing = sorted(set(names) - {s.name for s in found})
        if missing:
            raise UsageError(
                f"not on the cluster: {', '.join(missing)}", hint="`labsctl apply` creates them"
            )
    if drift if drift is not None else bool(specs):
        spec_by_name = {r.name: p for r, p in zip(residencies, specs, strict=True)}
        for item in found:
            if item.name in spec_by_name:
                plan = apply_api.apply([spec_by_name[item.name]], target, dry_run=True)
                item.in_sync = plan.in_sync
    data = {
        "apiVersion": "labsctl.dev/v1alpha1",
        "kind": "StatusReport",
        "date": dt.date.today().isoformat(),
        "residencies": [s.as_dict() for s in found],
    }
    if output_format != "table":
        emit_data(data, output_format)  # type: ignore[arg-type]
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
