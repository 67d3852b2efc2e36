"""The corpus of bad residency specs: every case is rejected with exactly its expected message.

Each `tests/data/bad-specs/<case>.yaml` holds one mistake (or, for the `many-mistakes*` cases,
several); `<case>.expected` holds the problem lines `labsctl validate` prints for it, that is the
`format_problem` lines before the final `error:` / `hint:`, with the path relative to the repo root.

Regenerate the `.expected` files after a deliberate change of wording with

    LABSCTL_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_bad_specs.py

then review the diff line by line. Cases in `KNOWN_WRONG` are never rewritten: their `.expected`
holds the message labsctl SHOULD print, written by hand, and their tests are strict xfails until
labsctl is fixed (then drop them from `KNOWN_WRONG`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import labsctl
from labsctl.cli import main
from labsctl.errors import SpecProblem
from labsctl.output import format_problem

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = Path("tests/data")
# Plain mistakes, and hostile input (specs written to escalate, leak or run code; see
# docs/security.md). A case is `<corpus>/<name>`.
CORPORA = ("bad-specs", "hostile-specs")
MIN_CASES = {"bad-specs": 30, "hostile-specs": 60}
UPDATE_GOLDEN = os.environ.get("LABSCTL_UPDATE_GOLDEN") == "1"
JSON_PROBLEM_KEYS = {"file", "line", "column", "path", "message", "value", "allowed"}
# Secret values written into corpus files; no message, text or JSON, may ever repeat them.
SECRET_VALUES = ("hunter2", "s3cr3t-t0ken", "90210")

# Cases whose current output is wrong: `.expected` holds what labsctl should print.
KNOWN_WRONG: dict[str, str] = {}
# Of those, the cases the CLI does not even reject with exit code 2.
NOT_REJECTED: set[str] = set()


def _cases(corpus: str | None = None) -> list[str]:
    corpora = CORPORA if corpus is None else (corpus,)
    return sorted(
        f"{name}/{path.stem}"
        for name in corpora
        for path in (REPO_ROOT / DATA / name).glob("*.yaml")
    )


def _cases_with_secrets() -> list[str]:
    return [
        case
        for case in _cases()
        if any(
            secret.encode() in (REPO_ROOT / _spec(case)).read_bytes() for secret in SECRET_VALUES
        )
    ]


def _params(broken: set[str] | dict[str, str]) -> list[object]:
    params: list[object] = []
    for case in _cases():
        marks = []
        if case in broken:
            reason = KNOWN_WRONG.get(case, "not rejected")
            marks.append(pytest.mark.xfail(reason=reason, strict=True))
        params.append(pytest.param(case, id=case, marks=marks))
    return params


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in messages are as given on the command line: relative to the repo root."""
    monkeypatch.chdir(REPO_ROOT)


def _spec(case: str) -> str:
    return (DATA / f"{case}.yaml").as_posix()


def _expected(case: str) -> Path:
    return DATA / f"{case}.expected"


def _problem_lines(problems: list[SpecProblem]) -> str:
    return "".join(format_problem(problem) + "\n" for problem in problems)


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err  # type: ignore[return-value]


@pytest.mark.parametrize("corpus", CORPORA)
def test_corpus_has_its_minimum_number_of_cases(corpus: str) -> None:
    assert len(_cases(corpus)) >= MIN_CASES[corpus]


@pytest.mark.parametrize("corpus", CORPORA)
def test_every_case_has_an_expected_file_and_every_expected_file_a_case(corpus: str) -> None:
    specs = {path.stem for path in (REPO_ROOT / DATA / corpus).glob("*.yaml")}
    expected = {path.stem for path in (REPO_ROOT / DATA / corpus).glob("*.expected")}
    assert specs == expected


def test_every_known_wrong_case_exists() -> None:
    assert set(KNOWN_WRONG) <= set(_cases())
    assert set(NOT_REJECTED) <= set(KNOWN_WRONG)


@pytest.mark.parametrize("case", _params(KNOWN_WRONG))
def test_bad_spec_is_rejected_with_its_expected_message(case: str) -> None:
    actual = _problem_lines(labsctl.validate([_spec(case)])).encode("utf-8")
    expected_file = _expected(case)
    if UPDATE_GOLDEN and case not in KNOWN_WRONG:
        expected_file.write_bytes(actual)
    assert actual, f"{case} is not rejected"
    assert actual == expected_file.read_bytes()


@pytest.mark.parametrize("case", _params(NOT_REJECTED))
def test_cli_rejects_bad_spec_with_exit_code_2_and_no_traceback(
    case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(case)
    problems = labsctl.validate([spec])
    code, out, err = _run_cli(["validate", spec], capsys)
    count = len(problems)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err.startswith(_problem_lines(problems))
    summary = f"error: {count} problem{'' if count == 1 else 's'} in {spec}\n"
    assert err.endswith(
        summary + "hint: fix the fields listed above; `labsctl schema` prints every allowed field\n"
    )


@pytest.mark.parametrize("case", _params(NOT_REJECTED))
def test_json_output_gives_the_same_problems_as_data(
    case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(case)
    problems = labsctl.validate([spec])
    code, out, err = _run_cli(["validate", spec, "-o", "json"], capsys)
    document = json.loads(out)
    assert code == 2
    assert "Traceback" not in err
    assert document["valid"] is False
    assert document["files"] == [spec]
    assert document["problems"], f"{case} is not rejected"
    assert all(set(problem) == JSON_PROBLEM_KEYS for problem in document["problems"])
    assert document["problems"] == [problem.as_dict() for problem in problems]
    as_text = _problem_lines([SpecProblem(**problem) for problem in document["problems"]])
    assert as_text == _problem_lines(problems)


@pytest.mark.parametrize("case", _cases_with_secrets())
def test_bad_spec_messages_never_repeat_a_secret_value(
    case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(case)
    written = (REPO_ROOT / spec).read_bytes()
    secrets = [secret for secret in SECRET_VALUES if secret.encode() in written]
    _, out_text, err_text = _run_cli(["validate", spec], capsys)
    _, out_json, err_json = _run_cli(["validate", spec, "-o", "json"], capsys)
    expected = _expected(case).read_text(encoding="utf-8")
    for output in (expected, out_text, err_text, out_json, err_json):
        for secret in secrets:
            assert secret not in output


def test_every_file_given_together_is_reported_in_one_run() -> None:
    """One process, every rejected case at once: all problems of all files, in order."""
    cases = [case for case in _cases() if case not in KNOWN_WRONG]
    specs = [_spec(case) for case in cases]
    result = subprocess.run(
        [sys.executable, "-m", "labsctl", "validate", *specs],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    expected = "".join(_expected(case).read_text(encoding="utf-8") for case in cases)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(expected)
    assert result.stderr[len(expected) :].startswith("error: ")


def test_two_files_with_the_same_residency_name_are_rejected_together(tmp_path: Path) -> None:
    example = (REPO_ROOT / "examples" / "small-team.yaml").read_text(encoding="utf-8")
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(example, encoding="utf-8")
    second.write_text(example, encoding="utf-8")
    assert labsctl.validate([first]) == []
    problems = labsctl.validate([first, second])
    assert [(problem.path, problem.value) for problem in problems] == [
        ("metadata.name", "payments")
    ]
