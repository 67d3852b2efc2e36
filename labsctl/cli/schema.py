"""`labsctl schema`: the JSON Schema of the spec, for editors and pipelines."""

from __future__ import annotations

import click

from labsctl import api
from labsctl.cli.options import verbose


@click.command("schema")
@verbose
def command() -> None:
    """Print the JSON Schema of the residency spec."""
    click.echo(api.schema_json(), nl=False)
