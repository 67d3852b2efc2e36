"""`labsctl plan SPEC...` (alias `diff`): what apply would create, change and prune."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import click

from labsctl import apply as apply_api
from labsctl.cli.options import cluster, output, target_from, verbose_level
from labsctl.errors import AnsibleRunError, DriftError
from labsctl.output import ProgressReporter, apply_summary, emit_data, stdout
from labsctl.validation import load_specs


@click.command("plan")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@cluster
@click.option(
    "--prune/--no-prune", default=True, show_default=True, help="Include what apply would prune."
)
@click.option("--templates", type=click.Path(file_okay=False, path_type=Path), default=None)
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
    with ProgressReporter([], enabled=output_format == "table") as progress:
        summary = apply_api.apply(
            list(specs),
            target,
            dry_run=True,
            prune_stale=prune,
            templates=templates,
            verbose=verbose,
            on_event=progress,
        )
    data = summary.as_dict()
    if output_format == "table":
        for diff in summary.diffs:
            stdout.print(f"--- {diff.get('before_header')}", markup=False, highlight=False)
            for line in _diff_lines(diff):
                stdout.print(line, markup=False, highlight=False)
        apply_summary(data)
    else:
        emit_data(data, output_format)  # type: ignore[arg-type]
    if not summary.ok:
        raise AnsibleRunError("the dry run failed", hint="the summary names the role and object")
    if not summary.in_sync:
        raise DriftError(
            "the cluster differs from the specs", hint="`labsctl apply` makes it match"
        )


def _diff_lines(diff: dict[str, object]) -> list[str]:
    before = json.dumps(diff.get("before") or {}, indent=2, sort_keys=True).splitlines()
    after = json.dumps(diff.get("after") or {}, indent=2, sort_keys=True).splitlines()
    return list(difflib.unified_diff(before, after, lineterm="", n=2))[2:]
