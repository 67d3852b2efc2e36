"""The public API covers the CLI, and only the CLI prints.

Every verb of the `labsctl` command has a function in `labsctl.__all__` that a pipeline or an
AWX plugin calls as the CLI does; library code reports through callbacks and never prints,
writes to stdout/stderr or exits (an AST scan: `labsctl/cli/`, `labsctl/output.py` and
`if __name__ == "__main__":` blocks are the command side and may).
"""

from __future__ import annotations

import ast
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

import labsctl
from labsctl.cli.app import cli

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "labsctl"

# Verb (as typed after `labsctl`) -> the public functions doing its work.
VERBS: dict[str, tuple[str, ...]] = {
    "init": ("init",),
    "validate": ("validate",),
    "schema": ("schema", "schema_json"),
    "render": ("render_spec",),
    "apply": ("apply",),
    "plan": ("plan",),
    "diff": ("plan",),
    "status": ("status", "find", "check_drift", "fleet_report"),
    "freeze": ("freeze",),
    "extend": ("extend",),
    "export": ("export", "residency_name"),
    # Pending: added with the rewrite of labsctl/teardown.py; this fails until then.
    "teardown": ("teardown", "teardown_plan", "residency_name"),
    "rbac": ("rbac_manifests",),
    "sandbox up": ("sandbox_up",),
    "sandbox down": ("sandbox_down",),
    "sandbox status": ("sandbox_status",),
    "sandbox kubeconfig": ("sandbox_kubeconfig",),
}
# Verbs about the command itself, with no library work to share.
CLI_ONLY = {"completion": "click writes the shell completion script of the command"}

# The command side: it parses, calls the API and formats, so it may print.
COMMAND_SIDE = (PACKAGE / "cli", PACKAGE / "output.py")
STREAMS = {"stdout", "stderr", "__stdout__", "__stderr__"}
ECHOES = {"echo", "secho", "echo_via_pager"}
OUTPUT_PRINTERS = {"note", "error", "table", "emit_data", "apply_summary", "stdout", "stderr"}


def _verbs(group: click.Group, prefix: str = "") -> Iterator[str]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _verbs(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"


def test_every_cli_verb_is_listed_with_its_public_functions() -> None:
    assert sorted(_verbs(cli)) == sorted({*VERBS, *CLI_ONLY})


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_cli_verb_has_its_public_functions_in_all(verb: str) -> None:
    missing = [name for name in VERBS[verb] if name not in labsctl.__all__]
    assert not missing, f"labsctl {verb}: {missing} not exported by labsctl"
    assert all(callable(getattr(labsctl, name)) for name in VERBS[verb])


def test_every_name_in_all_is_defined() -> None:
    assert [name for name in labsctl.__all__ if not hasattr(labsctl, name)] == []


def _python_files(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*.py") if ".venv" not in p.parts)


def _module_uses(tree: ast.AST, shadowed: set[str]) -> list[tuple[int, str]]:
    """Where `tree` uses one of the `shadowed` submodules through the package: an attribute of
    a name bound by `from labsctl import X [as Y]` or `import labsctl.X as Y`, of `labsctl.X`,
    or a `setattr("labsctl.X.name", ...)` target."""
    bound: dict[str, str] = {}  # local name -> submodule
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "labsctl" and node.level == 0:
            bound |= {a.asname or a.name: a.name for a in node.names if a.name in shadowed}
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if a.asname and len(parts) == 2 and parts[0] == "labsctl" and parts[1] in shadowed:
                    bound[a.asname] = parts[1]
    found = []
    for node in ast.walk(tree):
        # pytest's monkeypatch.setattr("labsctl.export._live", ...) walks the attributes too.
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setattr"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            parts = node.args[0].value.split(".")
            if len(parts) > 2 and parts[0] == "labsctl" and parts[1] in shadowed:
                found.append((node.lineno, node.args[0].value))
        if not isinstance(node, ast.Attribute):
            continue
        value = node.value
        if isinstance(value, ast.Name) and value.id in bound:
            found.append((node.lineno, f"{bound[value.id]}.{node.attr}"))
        elif (
            isinstance(value, ast.Attribute)
            and isinstance(value.value, ast.Name)
            and value.value.id == "labsctl"
            and value.attr in shadowed
        ):
            found.append((node.lineno, f"labsctl.{value.attr}.{node.attr}"))
    return sorted(found)


def test_no_module_reaches_a_submodule_that_a_public_function_shadows() -> None:
    # Once the package is imported, `labsctl.apply` is the function: `from labsctl import apply`
    # (or `import labsctl.apply as x`) gives the function, and `apply.ApplySummary` fails.
    submodules = {m.name for m in pkgutil.iter_modules(labsctl.__path__)}
    shadowed = submodules & {n for n in labsctl.__all__ if callable(getattr(labsctl, n))}
    assert {"apply", "status", "extend", "export", "render"} <= shadowed
    found = [
        f"{path.relative_to(REPO)}:{line}: {what}"
        for path in _python_files(PACKAGE, REPO / "tests", REPO / "bench")
        for line, what in _module_uses(ast.parse(path.read_text(encoding="utf-8")), shadowed)
    ]
    assert found == [], "import from the module itself: from labsctl.<module> import ..."


def test_the_shadowing_scan_finds_module_use_through_the_package() -> None:
    source = (
        "import labsctl\n"
        "import labsctl.extend as ext\n"
        "from labsctl import apply as apply_api, status\n"
        "apply_api.ApplySummary\n"
        "status(1)\n"  # the function: fine
        "ext.Extension\n"
        "labsctl.status.read_dates\n"
        "monkeypatch.setattr('labsctl.status._status', None)\n"
        "monkeypatch.setattr('labsctl.naming.GROUP', None)\n"  # not shadowed: fine
    )
    assert _module_uses(ast.parse(source), {"apply", "status", "extend"}) == [
        (4, "apply.ApplySummary"),
        (6, "extend.Extension"),
        (7, "labsctl.status.read_dates"),
        (8, "labsctl.status._status"),
    ]


def _is_main_guard(node: ast.AST) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    return any(isinstance(p, ast.Name) and p.id == "__name__" for p in parts) and any(
        isinstance(p, ast.Constant) and p.value == "__main__" for p in parts
    )


def printing(source: str) -> list[tuple[int, str]]:
    """(line, what) for every way `source` prints, writes to stdout/stderr or exits, outside
    its `if __name__ == "__main__":` block."""
    tree = ast.parse(source)
    guarded = {
        id(inner) for node in ast.walk(tree) if _is_main_guard(node) for inner in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        what = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in {"print", "pprint", "exit", "quit"}:
                what = f"{node.func.id}()"
        elif isinstance(node, ast.Attribute):
            base = node.value.id if isinstance(node.value, ast.Name) else None
            if base == "sys" and (node.attr in STREAMS or node.attr == "exit"):
                what = f"sys.{node.attr}"
            elif base == "click" and node.attr in ECHOES:
                what = f"click.{node.attr}"
            elif base == "traceback" and node.attr.startswith("print"):
                what = f"traceback.{node.attr}"
        elif isinstance(node, ast.ImportFrom) and node.module in ("labsctl.output", "click"):
            names = {a.name for a in node.names}
            bad = names & OUTPUT_PRINTERS if node.module == "labsctl.output" else names & ECHOES
            what = f"from {node.module} import {', '.join(sorted(bad))}" if bad else None
        elif isinstance(node, ast.ImportFrom) and node.module == "rich.console":
            what = "rich.console"
        if what:
            found.append((node.lineno, what))
    return sorted(found)


def test_library_code_never_prints_writes_to_stdout_or_stderr_or_exits() -> None:
    found = [
        f"{path.relative_to(REPO)}:{line}: {what}"
        for path in _python_files(PACKAGE)
        if not any(path == side or side in path.parents for side in COMMAND_SIDE)
        for line, what in printing(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "report through a callback (on_progress, on_event) instead"


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("print('x')", "print()"),
        ("import sys\nprint('x', file=sys.stderr)", "sys.stderr"),
        ("import sys\nsys.stdout.write('x')", "sys.stdout"),
        ("import sys\nsys.exit(1)", "sys.exit"),
        ("import click\nclick.echo('x', err=True)", "click.echo"),
        ("from click import secho", "from click import secho"),
        ("from labsctl.output import note\nnote('x')", "from labsctl.output import note"),
        ("from rich.console import Console", "rich.console"),
        ("import traceback\ntraceback.print_exc()", "traceback.print_exc"),
        ("def f():\n    if __name__ == '__main__':\n        pass\n    print('x')", "print()"),
    ],
)
def test_the_scan_finds_each_way_of_printing(source: str, what: str) -> None:
    assert what in [w for _, w in printing(source)]


def test_the_scan_lets_a_main_block_print_and_formatting_imports_pass() -> None:
    source = (
        "import sys\n"
        "from labsctl.output import shown_text\n"
        "if __name__ == '__main__':\n"
        "    print(shown_text('x'), file=sys.stderr)\n"
        "    sys.exit(0)\n"
    )
    assert printing(source) == []
