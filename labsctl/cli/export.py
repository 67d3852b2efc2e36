"""`labsctl export SPEC|NAME --to DIR`: the hand-over repository the team keeps."""

from __future__ import annotations

from pathlib import Path

import click

from labsctl import api
from labsctl.cli.options import cluster, target_from, verbose
from labsctl.output import note


@click.command("export")
@click.argument("residency")
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write (replaced atomically).",
)
@click.option(
    "--repo-url",
    default=None,
    help="The team's Git repository: adds Argo CD applications syncing each stage.",
)
@click.option("--revision", default="main", show_default=True, help="Branch for --repo-url.")
@cluster
@verbose
def command(
    residency: str,
    to: Path,
    repo_url: str | None,
    revision: str,
    kubeconfig: str | None,
    context: str | None,
    sandbox: bool,
) -> None:
    """Write a self-contained GitOps repository of what labsctl manages for RESIDENCY."""
    name = api.residency_name(residency)
    result = api.export(
        api.Cluster(target_from(kubeconfig, context, sandbox)), name, to, repo_url, revision
    )
    click.echo(str(result.directory))
    note(f"wrote {len(result.files)} files for residency {name}; see {result.directory}/README.md")
