"""Formatting for people and pipelines: tables, JSON, YAML; never business logic.

What a person reads may carry untrusted text (spec keys and values, file names, messages from
the cluster or Ansible), so everything printed here is shown literally:

- No Rich markup, emoji code or highlighting is interpreted in text we did not write: both
  consoles print every `str` as it is, and colour is given only to our own fixed words
  (`error:`, `hint:`, `failed`, headers) as styled parts of a `rich.text.Text`.
- Every character that is not printable (`str.isprintable`: C0 and C1 controls such as ESC,
  hence CSI and OSC sequences, DEL, the bidi overrides and isolates U+202A-U+202E and
  U+2066-U+2069, other format characters, line and paragraph separators) is written as its
  Python escape, `\x1b` or `\u202e`, as `repr()` writes it. In a problem line or a table cell
  newlines and tabs are escaped too; in `error`/`note` messages (which may quote a log) each
  line is escaped and the following lines indented, so no line can pass for one of ours.
- Untrusted text is cut, with its total length: a spec value after `MAX_SHOWN_VALUE`
  characters (`'aaaa...' (900000 characters)`), other parts of a line after `MAX_SHOWN_TEXT`,
  an `error`/`note` message after `MAX_SHOWN_MESSAGE`.

Machine output (`emit_data`) is data, not display: JSON and YAML escape every control and
non-ASCII character themselves, so it is safe in a terminal too; see `format_problem` for the
values it carries.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from labsctl.errors import SpecProblem

OutputFormat = Literal["table", "json", "yaml"]

MAX_SHOWN_VALUE = 100  # characters of a spec value shown in a problem line
MAX_SHOWN_TEXT = 1000  # characters of another part of a line: a path, a message, a cell
MAX_SHOWN_MESSAGE = 4000  # characters of an error or note message (it may quote a log)


def printable(text: str) -> str:
    """`text` with every character that is not printable written as its Python escape."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def shown_text(text: object, limit: int = MAX_SHOWN_TEXT) -> str:
    """Untrusted text as one literal line, cut after `limit` characters (then its length)."""
    text = str(text)
    if len(text) > limit:
        return f"{printable(text[:limit])}... ({len(text)} characters)"
    return printable(text)


def shown_lines(text: object, limit: int = MAX_SHOWN_MESSAGE) -> str:
    """Like `shown_text`, but keeps line breaks; lines after the first are indented."""
    text = str(text)
    cut = f"... ({len(text)} characters)" if len(text) > limit else ""
    return "\n  ".join(printable(line) for line in text[:limit].split("\n")) + cut


def shown_value(value: Any) -> str:
    """A value as `repr()` writes it (escapes included), cut after MAX_SHOWN_VALUE characters
    with its length: `'aaaa...' (900000 characters)`."""
    if isinstance(value, str) and len(value) > MAX_SHOWN_VALUE:
        head = repr(value[:MAX_SHOWN_VALUE])
        return f"{head[:-1]}...{head[-1]} ({len(value)} characters)"
    try:
        text = repr(value)
    except ValueError:  # an int too long for Python to write in decimal
        text = f"<{type(value).__name__}>"
    return shown_text(text, MAX_SHOWN_VALUE)


class _LiteralConsole(Console):
    """A console that never interprets markup, emoji codes or highlighting and escapes what a
    terminal could act on in every `str` it is given (other renderables are built here).

    The choke point is `render_str`: Rich turns every `str` into text there, whichever way it
    arrives (`print`, `log`, a table's cell or header, a `Live` display, a rule's title), so no
    caller can turn markup back on, not even with `markup=True`."""

    def render_str(self, text: str, **options: Any) -> Text:
        options.update(markup=False, emoji=False, highlight=False, highlighter=None)
        return super().render_str(shown_lines(text), **options)

    def print(self, *objects: Any, **options: Any) -> None:
        options.update(markup=False, emoji=False, highlight=False)
        super().print(*objects, **options)

    def log(self, *objects: Any, **options: Any) -> None:
        options.update(markup=False, emoji=False, highlight=False)
        super().log(*objects, **options)


# Not a terminal (logs, pipelines): wide enough that tables are never truncated.
stdout = _LiteralConsole(
    soft_wrap=True,
    markup=False,
    emoji=False,
    highlight=False,
    width=None if sys.stdout.isatty() else 250,
)
stderr = _LiteralConsole(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)


def emit_data(data: Any, fmt: OutputFormat) -> None:
    """Machine-readable output on stdout: stable keys, no colour, nothing else on the line.

    Data is written whole; JSON (`ensure_ascii`) and YAML (no `allow_unicode`) escape every
    control and non-ASCII character, so nothing in it can act on a terminal."""
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    elif fmt == "yaml":
        sys.stdout.write(yaml.safe_dump(data, sort_keys=True, default_flow_style=False))
    else:
        raise ValueError(fmt)


def _cell(value: Any) -> Text:
    return Text("" if value is None else shown_text(value))


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Columns we name, cells shown literally (see the module docstring)."""
    grid = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(_cell(cell) for cell in row))
    stdout.print(grid)


def error(message: str, hint: str | None = None) -> None:
    """`error: message` and `hint: hint` on stderr; only the two labels are coloured."""
    stderr.print(Text.assemble(("error:", "bold red"), " ", shown_lines(message)))
    if hint:
        stderr.print(Text.assemble(("hint:", "yellow"), " ", shown_lines(hint)))


def note(message: str) -> None:
    """A line for a person on stderr, shown literally."""
    stderr.print(Text(shown_lines(message)))


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
            grid.add_row(_cell(name), _cell(role), _cell(task))
        return grid

    def __call__(self, event: Any) -> None:
        if event.state == "output":  # Ansible's own output, asked for with -v: in any format
            stderr.print(Text("\n".join(printable(line) for line in event.output.split("\n"))))
            return
        if not self.enabled or not event.residency or event.task.startswith("Validating arg"):
            return
        self.state[event.residency] = (event.role, f"{event.task} ({event.state})")
        if self.live:
            self.live.update(self._table())
        elif event.state in ("ok", "changed", "failed"):
            stderr.print(
                Text(
                    f"[{shown_text(event.residency)}] {shown_text(event.role)}: "
                    f"{shown_text(event.task)}: {shown_text(event.state)}"
                )
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
        stdout.print(Text(shown_text(residency["name"]), style="bold"))
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
                Text(
                    f"  {shown_text(change['action']):>9}  {shown_text(change['kind'])} "
                    f"{shown_text(where)}{shown_text(change['name'])}"
                )
            )
        for failure in residency["failures"]:
            stdout.print(
                Text.assemble(
                    "  ",
                    ("failed", "red"),
                    f"  role {shown_text(failure['role'])}: {shown_text(failure['message'])}",
                )
            )
        if residency["inSync"]:
            stdout.print("  in sync: nothing to change")
        elif residency["ok"]:
            stdout.print(
                f"  {counts['created']} created, {counts['changed']} changed, "
                f"{counts['pruned']} pruned objects {verb} applied"
            )
    stdout.print(f"done in {data['durationSeconds']:.1f}s")


def format_problem(problem: SpecProblem) -> str:
    """`file:line:col: field.path: message (found value); allowed: ...`, one literal line.

    Shown at display time (see the module docstring): every part escaped, the value as
    `repr()` writes it and cut after MAX_SHOWN_VALUE characters with its length, e.g.
    `(found 'aaaa...' (900000 characters))`, the other parts after MAX_SHOWN_TEXT. The
    `SpecProblem` itself keeps the value as read, so `labsctl.validate()` callers and
    `validate -o json` (`SpecProblem.as_dict()`) get it whole: bounded by the input limit
    (`yamlsource.MAX_FILE_BYTES`) and escaped by JSON, not cut.
    """
    text = f"{shown_text(problem.location())}: "
    if problem.path:
        text += f"{shown_text(problem.path)}: "
    text += shown_text(problem.message)
    if problem.value is not None and problem.value not in ("{...}", "[...]"):
        text += f" (found {shown_value(problem.value)})"
    if problem.allowed:
        text += f"; allowed: {shown_text(problem.allowed)}"
    return text
