"""`labsctl rbac`: the ClusterRole and bindings a bootstrapper identity needs, no cluster-admin."""

from __future__ import annotations

import click

from labsctl import api
from labsctl.cli.options import verbose
from labsctl.output import emit_data
from labsctl.yamldump import dump_documents


@click.command("rbac")
@click.option("--user", default=None, help="Bind a user.")
@click.option("--group", default=None, help="Bind a group.")
@click.option("--service-account", default=None, help="Bind a ServiceAccount NAMESPACE/NAME.")
@click.option(
    "-o",
    "--output",
    "output_format",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
)
@verbose
def command(
    user: str | None, group: str | None, service_account: str | None, output_format: str
) -> None:
    """Print the RBAC for running labsctl without cluster-admin (apply it with kubectl)."""
    objects = api.rbac_manifests(user, group, service_account)
    if output_format == "json":
        emit_data({"apiVersion": "v1", "kind": "List", "items": objects}, "json")
    else:
        click.echo(dump_documents(objects), nl=False)
