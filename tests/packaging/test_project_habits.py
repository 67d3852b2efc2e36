"""The open project's habits hold: pre-commit runs exactly CI's linters, from .venv, fetching
nothing; CONTRIBUTING.md names commands and modules that exist."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex

import yaml

from tests.integration.playbooks import REPO


def lint_commands() -> list[str]:
    """The lint lines of hack/test: every .venv tool it runs but python (builds) and pytest."""
    lines = [line.strip() for line in (REPO / "hack" / "test").read_text().splitlines()]
    return [
        line
        for line in lines
        if line.startswith(".venv/bin/") and shlex.split(line)[0] not in TOOLS_NOT_LINTERS
    ]


TOOLS_NOT_LINTERS = {".venv/bin/python", ".venv/bin/pytest"}


def hooks() -> list[dict[str, object]]:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"], "no hook repository to fetch"
    return config["repos"][0]["hooks"]


def test_the_pre_commit_hooks_are_the_lint_commands_of_hack_test() -> None:
    commands = lint_commands()

    assert len(commands) >= 5, commands  # ruff check, ruff format, mypy, yamllint, ansible-lint
    assert sorted(str(hook["entry"]) for hook in hooks()) == sorted(commands)


def test_the_pre_commit_hooks_run_the_venv_tools_on_the_whole_tree() -> None:
    for hook in hooks():
        assert hook["language"] == "system", hook
        assert str(hook["entry"]).startswith(".venv/bin/"), hook
        assert hook["pass_filenames"] is False, f"{hook['id']}: CI checks the whole tree"


def test_contributing_names_scripts_and_modules_that_exist() -> None:
    text = (REPO / "CONTRIBUTING.md").read_text()
    scripts = set(re.findall(r"\bhack/[\w-]+", text))
    modules = set(re.findall(r"python -m (labsctl[\w.]*)", text))

    assert {"hack/try", "hack/test", "hack/role-docs"} <= scripts
    for script in scripts:
        assert os.access(REPO / script, os.X_OK), f"{script} is not an executable script"
    assert modules, "CONTRIBUTING.md says how docs are regenerated"
    for module in modules:
        assert importlib.util.find_spec(module) is not None, module
    for path in re.findall(r"`((?:tests|docs|roles|templates)/[\w./-]+)`", text):
        assert (REPO / path.split("<")[0]).exists(), f"CONTRIBUTING.md names {path}"
