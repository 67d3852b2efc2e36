"""Formatting for people and pipelines: tables, JSON, YAML; never business logic."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from labsctl.errors import SpecProblem

OutputFormat = Literal["table", "json", "yaml"]

# Not a terminal (logs, pipelines): wide enough that tables are never truncated.
stdout = Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 250)
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


class ProgressReporter:
    """Live progress per residency for a person (rich), plain lines for logs and pipelines."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = stderr.is_terminal
        self.state: dict[str, tuple[str, str]] = {}
        self.live = (
            Live(self._table(), console=stderr, refresh_per_second=8, transient=True)
            if self.tty and enabled
            else None
        )

    def __enter__(self) -> ProgressReporter:
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.__exit__(None, None, None)

    def _table(self) -> Table:
        grid = Table(box=None, show_header=True, header_style="bold")
        for column in ("RESIDENCY", "ROLE", "STEP"):
            grid.add_column(column)
        for name, (role, task) in self.state.items():
            grid.add_row(name, role, task)
        return grid

    def __call__(self, event: Any) -> None:
        if not self.enabled or not event.residency or event.task.startswith("Validating arg"):
            return
        self.state[event.residency] = (event.role, f"{event.task} ({event.state})")
        if self.live:
            self.live.update(self._table())
        elif event.state in ("ok", "changed", "failed"):
            stderr.print(
                f"[{event.residency}] {event.role}: {event.task}: {event.state}",
                markup=False,
                highlight=False,
            )

    def waiting(self, residency: str, holder: str) -> None:
        if self.enabled:
            self.state[residency] = ("lock", f"waiting for {holder}")
            if self.live:
                self.live.update(self._table())


def apply_summary(data: dict[str, Any]) -> None:
    """The end of `apply` / `plan` for a person: per residency and stage, then what changed."""
    verb = "would be" if data["dryRun"] else "were"
    for residency in data["residencies"]:
        counts = residency["counts"]
        stdout.print(f"[bold]{residency['name']}[/]", markup=True)
        table(
            ["STAGE", "CREATED", "CHANGED", "UNCHANGED", "PRUNED"],
            [
                [stage, c["created"], c["changed"], c["unchanged"], c["pruned"]]
                for stage, c in residency["stages"].items()
            ],
        )
        for change in residency["changes"]:
            where = f"{change['namespace']}/" if change["namespace"] else ""
            stdout.print(
                f"  {change['action']:>9}  {change['kind']} {where}{change['name']}",
                markup=False,
                highlight=False,
            )
        for failure in residency["failures"]:
            stdout.print(
                f"  [red]failed[/]  role {failure['role']}: {failure['message']}",
                markup=True,
                highlight=False,
            )
        if residency["inSync"]:
            stdout.print("  in sync: nothing to change", markup=False)
        elif residency["ok"]:
            stdout.print(
                f"  {counts['created']} created, {counts['changed']} changed, "
                f"{counts['pruned']} pruned objects {verb} applied",
                markup=False,
            )
    stdout.print(f"done in {data['durationSeconds']:.1f}s", markup=False)


def format_problem(problem: SpecProblem) -> str:
    """`file:line:col: field.path: message (found value); allowed: ...`"""
    text = f"{problem.location()}: "
    if problem.path:
        text += f"{problem.path}: "
    text += problem.message
    if problem.value is not None and problem.value not in ("{...}", "[...]"):
        text += f" (found {problem.value!r})"
    if problem.allowed:
        text += f"; allowed: {problem.allowed}"
    return text
