"""`labsctl render FILE`: the Ansible inventory or the plain manifests of a residency."""

from __future__ import annotations

from pathlib import Path

import click

from labsctl import api
from labsctl.cli.options import output, templates, verbose
from labsctl.output import emit_data, note


@click.command("render")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path),  # checked by api.render_spec, with the reason
    default=None,
    help="Where DIR/<residency>/ is written [default: inventories/ or manifests/].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["inventory", "manifests"]),
    default="inventory",
    show_default=True,
    help="What to write.",
)
@templates
@output("text", "json", default="text")
@verbose
def command(
    file: Path, output_dir: Path | None, fmt: str, templates: Path | None, output_format: str
) -> None:
    """Render a residency into DIR/<residency>/, atomically and deterministically."""
    result = api.render_spec(file, output_dir, fmt, templates)  # type: ignore[arg-type]
    if output_format == "json":
        emit_data(
            {
                "residency": result.residency,
                "format": result.format,
                "directory": str(result.directory),
                "files": list(result.files),
            },
            "json",
        )
        return
    click.echo(str(result.directory))
    note(f"wrote {len(result.files)} files for residency {result.residency}")
