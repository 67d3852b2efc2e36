"""`labsctl init NAME`: write a commented starter spec."""

from __future__ import annotations

from pathlib import Path

import click

from labsctl import api
from labsctl.cli.options import verbose
from labsctl.output import note


@click.command("init")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),  # checked by api.init, with the reason
    default=Path(),
    show_default=True,
    help="Directory to write NAME.yaml into.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@verbose
def command(name: str, directory: Path, force: bool) -> None:
    """Write a commented starter spec NAME.yaml."""
    path = api.init(name, directory, force=force)
    click.echo(str(path))
    note(f"wrote {path}; edit it, then: labsctl validate {path}")
