"""Formatting for people and pipelines: tables, JSON, YAML; never business logic."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import yaml
from rich.console import Console
from rich.table import Table

OutputFormat = Literal["table", "json", "yaml"]

stdout = Console(soft_wrap=True, highlight=False)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)


def emit_data(data: Any, fmt: OutputFormat) -> None:
    """Machine-readable output on stdout: stable keys, no colour, nothing else on the line."""
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    elif fmt == "yaml":
        sys.stdout.write(yaml.safe_dump(data, sort_keys=True, default_flow_style=False))
    else:
        raise ValueError(fmt)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    grid = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    stdout.print(grid)


def error(message: str, hint: str | None = None) -> None:
    stderr.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    if hint:
        stderr.print(f"[yellow]hint:[/] {hint}", markup=True, highlight=False)


def note(message: str) -> None:
    stderr.print(message, markup=False, highlight=False)
