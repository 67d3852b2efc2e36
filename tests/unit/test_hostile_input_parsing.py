"""Hostile input that the corpus of `tests/data/hostile-specs/` cannot express.

Inputs that are not a file in the repo (a device, a pipe, a directory), input through the whole
CLI (the `error:` summary, click's own messages, a template directory), what a person sees on a
terminal, and YAML that must still be accepted once directives and tags are restricted.
"""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

import labsctl
from labsctl import output
from labsctl.cli import main
from labsctl.yamlsource import MAX_FILE_BYTES, load_yaml_mapping

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO_ROOT / "examples" / "small-team.yaml").read_text(encoding="utf-8")
TOO_LARGE = f"the file is larger than {MAX_FILE_BYTES // 1024} KiB; reading stopped there"
# What no output for a person may contain raw: ESC (CSI, OSC), BEL, C1 CSI, bidi controls.
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\u2069")


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err  # type: ignore[return-value]


def _spec(tmp_path: Path, old: str, new: str, name: str = "spec.yaml") -> Path:
    assert EXAMPLE.count(old) == 1
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EXAMPLE.replace(old, new), encoding="utf-8")
    return path


def _limit_memory() -> None:
    limit = 1024 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_validate_reads_dev_zero_only_up_to_the_limit_and_exits_2() -> None:
    # In a child with 1 GiB of address space: reading /dev/zero whole ends in MemoryError
    # (exit 1) within seconds instead of taking the machine down.
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "labsctl", "validate", "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"/dev/zero: {TOO_LARGE}; allowed: a spec of at most ")
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 60


def test_validate_stops_reading_a_pipe_after_the_limit_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    offered = 16 * MAX_FILE_BYTES
    written = 0

    def writer() -> None:
        nonlocal written
        chunk = b"a" * 65536
        descriptor = os.open(fifo, os.O_WRONLY)
        try:
            while written < offered:
                written += os.write(descriptor, chunk)
        except BrokenPipeError:
            pass  # the reader stopped and closed its end: what we want
        finally:
            os.close(descriptor)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    code, out, err = _run_cli(["validate", str(fifo)], capsys)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert code == 2
    assert out == ""
    assert err.startswith(f"{fifo}: {TOO_LARGE}")
    # The writer was cut off soon after the limit: no more than a pipe buffer and a chunk more.
    assert written <= MAX_FILE_BYTES + 1 + 1024 * 1024


def test_validate_names_a_directory_given_as_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run_cli(["validate", str(tmp_path)], capsys)
    assert code == 2
    assert err.startswith(
        f"{tmp_path}: the path is a directory, not a spec file; allowed: a YAML file\n"
    )


def test_validate_prints_rich_markup_in_a_value_and_a_file_name_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `[/x]` closes a tag that was never opened: Rich markup would raise MarkupError.
    spec = _spec(tmp_path, "  name: payments\n", '  name: "pay[/x]ments"\n', "[/x]/spec.yaml")
    code, out, err = _run_cli(["validate", str(spec)], capsys)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err.startswith(f"{spec}:6:3: metadata.name: invalid value (found 'pay[/x]ments'); ")
    assert f"error: 1 problem in {spec}\n" in err


def test_error_and_note_keep_square_brackets_and_escape_controls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    regex = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    output.error(f"must match {regex} [bold]", hint=f"[/] \x1b]0;title\x07 {regex}")
    output.note("wrote [red]x[/red] \u202eabc\u202c")
    err = capsys.readouterr().err
    assert err == (
        f"error: must match {regex} [bold]\n"
        f"hint: [/] \\x1b]0;title\\x07 {regex}\n"
        "wrote [red]x[/red] \\u202eabc\\u202c\n"
    )


def test_error_colours_only_its_label_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = io.StringIO()
    console = output._LiteralConsole(file=terminal, force_terminal=True, color_system="standard")
    monkeypatch.setattr(output, "stderr", console)
    output.error("bad [red]value[/red] \x1b[32mgreen")
    written = terminal.getvalue()
    assert written.count("\x1b[") == 2  # the label's style on, then off
    assert written.endswith("error:\x1b[0m bad [red]value[/red] \\x1b[32mgreen\n")


def test_tables_progress_and_summaries_print_untrusted_text_literally(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hostile = "[/x]\x1b]8;;https://evil.example/\x07\u202eevil\u2066"
    output.table(["NAME", "STATUS"], [[hostile, "ok"]])
    output.stdout.print(f"  not created by labsctl: {hostile}", markup=True)  # as teardown does
    progress = output.ProgressReporter(enabled=True)
    progress.live = None  # plain lines, as in a pipeline
    progress(SimpleNamespace(residency=hostile, role="rbac", task=hostile, state="failed"))
    progress(SimpleNamespace(residency="x", role="rbac", task="a" * 5000, state="ok"))
    output.apply_summary(
        {
            "dryRun": False,
            "durationSeconds": 1.0,
            "residencies": [
                {
                    "name": hostile,
                    "counts": {"created": 0, "changed": 0, "pruned": 0},
                    "stages": {},
                    "changes": [
                        {"action": "created", "kind": "Role", "namespace": hostile, "name": "x"}
                    ],
                    "failures": [{"role": "rbac", "message": f"[bold]{hostile}"}],
                    "inSync": False,
                    "ok": False,
                }
            ],
        }
    )
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    for control in RAW_CONTROLS:
        assert control not in printed
    shown = "[/x]\\x1b]8;;https://evil.example/\\x07\\u202eevil\\u2066"
    assert printed.count(shown) == 7
    assert f"  not created by labsctl: {shown}\n" in captured.out
    assert f"  failed  role rbac: [bold]{shown}\n" in captured.out
    assert f"[x] rbac: {'a' * output.MAX_SHOWN_TEXT}... (5000 characters): ok\n" in captured.err


def test_click_usage_errors_print_the_argument_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    # click quotes most arguments with repr(), but not this one.
    code, _, err = _run_cli(["schema", "\x1b]0;owned\x07\u202e"], capsys)
    assert code == 2
    assert "Error: Got unexpected extra argument (\\x1b]0;owned\\x07\\u202e)\n" in err
    for control in RAW_CONTROLS:
        assert control not in err


def test_render_names_a_template_that_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    templates = tmp_path / "templates"
    template = templates / "namespaces" / "extra.yaml.j2"
    template.parent.mkdir(parents=True)
    template.write_bytes(b"apiVersion: v1\nkind: ConfigMap\n# caf\xe9 in Latin-1\n")
    spec = REPO_ROOT / "examples" / "small-team.yaml"
    args = ["render", str(spec), "--templates", str(templates), "--output-dir", str(tmp_path)]
    code, out, err = _run_cli(args, capsys)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err == (
        f"error: template {template} is not UTF-8 text (invalid continuation byte at byte 36)\n"
        "hint: save the template as UTF-8\n"
    )


def test_yaml_1_2_directive_and_core_tags_still_read_plain_values(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    text = "%YAML 1.2\n---\n" + EXAMPLE.replace(
        "  displayName: Payments modernisation\n",
        "  displayName: !!str Payments modernisation\n",
    ).replace(
        "    end: 2026-12-24\n",
        "    end: 2026-12-24\n    gracePeriodDays: !!int 0x1e\n",
    ).replace(
        "    enabled: auto   # Tekton objects only where the Tekton API exists\n",
        "    enabled: !!bool false\n"
        "  network: !!map\n    isolation: !<tag:yaml.org,2002:bool> true\n",
    ).replace("    cost-centre: cc-4711\n", "    !!str cost-centre: !!str 4711\n")
    spec.write_text(text, encoding="utf-8")
    assert labsctl.validate([spec]) == []
    data = load_yaml_mapping(spec).data
    assert type(data["spec"]["displayName"]) is str
    assert data["metadata"]["labels"] == {"cost-centre": "4711"}
    assert type(data["metadata"]["labels"]["cost-centre"]) is str
    assert data["spec"]["dates"]["gracePeriodDays"] == 30
    assert data["spec"]["pipelines"]["enabled"] is False
    assert data["spec"]["network"]["isolation"] is True


def test_reused_anchor_is_read_without_a_warning_that_echoes_spec_lines(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path, "    cost-centre: cc-4711\n", "    cost-centre: &x cc-4711\n    team: &x pay\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_yaml_mapping(spec).data
    assert data["metadata"]["labels"] == {"cost-centre": "cc-4711", "team": "pay"}
