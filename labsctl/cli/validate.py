"""`labsctl validate FILE...`: every problem of every file at once."""

from __future__ import annotations

from pathlib import Path

import click

from labsctl import api
from labsctl.cli.options import output, verbose
from labsctl.errors import SpecError
from labsctl.output import emit_data, format_problem, note


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@output("text", "json", default="text")
@verbose
def command(files: tuple[Path, ...], output_format: str) -> None:
    """Check residency specs: schema and semantics, all problems of all files."""
    problems = api.validate(list(files))
    if output_format == "json":
        emit_data(
            {
                "valid": not problems,
                "files": [str(f) for f in files],
                "problems": [p.as_dict() for p in problems],
            },
            "json",
        )
    else:
        for problem in problems:
            click.echo(format_problem(problem), err=True)
    if problems:
        raise SpecError(problems, shown=output_format == "text")
    if output_format == "text":
        note(f"{len(files)} spec{'s' if len(files) != 1 else ''} valid")
