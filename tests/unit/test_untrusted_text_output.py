"""Text labsctl did not write reaches a person exactly as it is: never read as Rich markup.

Lock holders, annotations, messages from the API server, file and object names may hold `[`,
`]`, `[/]` or `[bold]`. Rich would read them as markup (and raise `MarkupError` on a closing tag
that was never opened, or turn `[link=...]` into a terminal hyperlink): every path to the
terminal (error, hint, note, table cell, progress line, summary, the CLI's error handler) goes
through `output._LiteralConsole`, whose `render_str` is where Rich turns any `str` into text.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from rich.live import Live
from rich.rule import Rule
from rich.table import Table

from labsctl import output
from labsctl.cli import main
from labsctl.cluster import Target
from labsctl.errors import EXIT_CONFLICT, ConflictError

MARKUP = [
    "[/]",
    "[bold red]x[/bold red]",
    "[link=file:///etc/passwd]x[/link]",
    "[bold]",
    "evil[/]@host pid 1 (apply)",
    "[/x] :smile: \\[escaped]",
]
HOLDER = "evil[/]@host pid 1 (apply)"
SPEC = """\
apiVersion: labsctl.dev/v1alpha1
kind: Residency
metadata:
  name: payments
spec:
  organisation: Example Bank
  dates:
    start: 2026-11-02
    end: 2026-12-24
  team:
    members:
      - user: alice@example.com
"""


def _terminal(monkeypatch: pytest.MonkeyPatch, name: str) -> io.StringIO:
    """`output.<name>` writing to a colour terminal we can read back."""
    screen = io.StringIO()
    console = output._LiteralConsole(
        file=screen, force_terminal=True, color_system="standard", width=200
    )
    monkeypatch.setattr(output, name, console)
    return screen


def _no_hyperlink_or_colour_but_ours(written: str, allowed_styles: int) -> None:
    assert "\x1b]8;" not in written  # no OSC 8 hyperlink from `[link=...]`
    assert written.count("\x1b[") <= allowed_styles


@pytest.mark.parametrize("text", MARKUP)
def test_error_and_hint_print_markup_literally(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output.error(f"residency payments is locked by {text}", hint=f"wait for {text}")
    assert capsys.readouterr().err == (
        f"error: residency payments is locked by {text}\nhint: wait for {text}\n"
    )


@pytest.mark.parametrize("text", MARKUP)
def test_error_on_a_terminal_colours_only_its_labels(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = _terminal(monkeypatch, "stderr")
    output.error(text, hint=text)
    written = screen.getvalue()
    _no_hyperlink_or_colour_but_ours(written, allowed_styles=4)  # two labels, on and off
    assert written.endswith(f"hint:\x1b[0m {text}\n")
    assert f"error:\x1b[0m {text}\n" in written


@pytest.mark.parametrize("text", MARKUP)
def test_note_prints_markup_literally(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    output.note(f"wrote {text}")
    assert capsys.readouterr().err == f"wrote {text}\n"


@pytest.mark.parametrize("text", MARKUP)
def test_table_cells_print_markup_literally(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    output.table(["NAME", "HOLDER"], [["payments", text]])
    header, row = capsys.readouterr().out.splitlines()
    assert row.rstrip() == f"payments  {text}"
    assert header.rstrip() == "NAME      HOLDER"


@pytest.mark.parametrize("text", MARKUP)
def test_progress_lines_print_markup_literally(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    progress = output.ProgressReporter(enabled=True)
    assert progress.live is None  # not a terminal: plain lines, as in a pipeline
    progress(SimpleNamespace(residency="payments", role=text, task=text, state="failed"))
    assert capsys.readouterr().err == f"[payments] {text}: {text}: failed\n"


@pytest.mark.parametrize("text", MARKUP)
def test_live_progress_on_a_terminal_shows_a_lock_holder_literally(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = _terminal(monkeypatch, "stderr")
    with output.ProgressReporter(enabled=True) as progress:
        assert isinstance(progress.live, Live)
        progress.waiting("payments", text)
        progress(SimpleNamespace(residency="other", role="rbac", task=text, state="ok"))
        progress.live.refresh()
    written = screen.getvalue()
    assert f"waiting for {text}" in written
    assert f"{text} (ok)" in written
    _no_hyperlink_or_colour_but_ours(written, allowed_styles=written.count("\x1b[1m") * 2 + 40)


@pytest.mark.parametrize("text", MARKUP)
def test_apply_summary_prints_markup_literally(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output.apply_summary(
        {
            "dryRun": False,
            "durationSeconds": 1.0,
            "residencies": [
                {
                    "name": text,
                    "counts": {"created": 1, "changed": 0, "pruned": 0},
                    "stages": {text: {"created": 1, "changed": 0, "unchanged": 0, "pruned": 0}},
                    "changes": [
                        {"action": "created", "kind": "Role", "namespace": text, "name": text}
                    ],
                    "failures": [{"role": "rbac", "message": text}],
                    "inSync": False,
                    "ok": False,
                }
            ],
        }
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0] == text
    assert out[2].startswith(f"{text} ")  # the stage's row
    assert out[2][len(text) :].split() == ["1", "0", "0", "0"]
    assert f"    created  Role {text}/{text}" in out
    assert f"  failed  role rbac: {text}" in out


@pytest.mark.parametrize("text", MARKUP)
def test_no_way_of_printing_a_str_turns_markup_back_on(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The choke point is `render_str`: `markup=True`, `log`, a plain `str` cell or header of
    a Rich table, a rule's title all stay literal."""
    screen = io.StringIO()
    console = output._LiteralConsole(file=screen, width=200)
    console.print(text, markup=True, emoji=True, highlight=True)
    console.log(text, markup=True)
    grid = Table(text)
    grid.add_row(text)
    console.print(grid)
    console.print(Rule(text))
    assert console.render_str(text, markup=True).plain == text
    lines = screen.getvalue().splitlines()
    assert lines[0] == text
    assert lines[1].split(maxsplit=1)[1].startswith(text)  # after the log's time
    assert sum(text in line for line in lines) == 5


# -- The CLI's error handler --------------------------------------------------------------


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err  # type: ignore[return-value]


def test_apply_names_a_lock_holder_with_markup_verbatim_and_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`labsctl apply` through the real entry point and the library's apply (validate, render,
    connect), whose lock waits for the holder (progress) and gives up with the ConflictError
    naming it."""
    spec = tmp_path / "payments.yaml"
    spec.write_text(SPEC, encoding="utf-8")

    @contextlib.contextmanager
    def locked(
        _cluster: Any, residencies: list[str], _command: str, *, on_wait: Any, **_options: Any
    ) -> Iterator[None]:
        on_wait(residencies[0], HOLDER)
        raise ConflictError(
            f"residency {residencies[0]} is locked by {HOLDER}; a lock whose holder died "
            "expires 600s after its last renewal",
            hint="wait for it to finish, or raise --lock-timeout",
        )
        yield  # never reached: the lock is not taken

    with (
        mock.patch("labsctl.cli.apply.target_from", return_value=Target()),
        mock.patch("labsctl.apply.Cluster"),  # a cluster that answers
        mock.patch("labsctl.apply.residency_lock", locked),
    ):
        code, out, err = _run(["apply", str(spec)], capsys)
    assert (code, out) == (EXIT_CONFLICT, ""), err
    assert err == (
        "error: residency payments is locked by evil[/]@host pid 1 (apply); a lock whose "
        "holder died expires 600s after its last renewal\n"
        "hint: wait for it to finish, or raise --lock-timeout\n"
    )


@pytest.mark.parametrize("text", MARKUP)
def test_an_internal_error_with_markup_in_its_message_is_printed_verbatim(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "payments.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    with mock.patch("labsctl.cli.render.api.render_spec", side_effect=ValueError(text)):
        code, _, err = _run(["render", str(spec), "--output-dir", str(tmp_path)], capsys)
    assert code == 1
    assert err.startswith(f"error: internal error: ValueError: {text}\nhint: ")


def test_a_usage_error_quoting_markup_is_printed_verbatim(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _run(["validate", "-o", HOLDER, "x.yaml"], capsys)
    assert code == 2
    assert f"'{HOLDER}' is not one of" in err
