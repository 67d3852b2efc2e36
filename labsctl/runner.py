"""Run labsctl's playbooks through ansible-runner's Python API; the only importer of it.

A failed playbook is a result, not an exception (as ansible-runner does): `RunResult` carries the
status, per-residency stats, every object the roles applied with its action, and each failure
with its residency, role, task and message. Progress arrives through `on_event`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from labsctl import paths
from labsctl.cluster import Target


@dataclass(frozen=True)
class ObjectOutcome:
    residency: str
    role: str
    api_version: str
    kind: str
    namespace: str | None
    name: str
    action: str  # created | changed | unchanged


@dataclass(frozen=True)
class Failure:
    residency: str
    role: str
    task: str
    message: str
    object: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Progress:
    """One step: a role's task starting or ending for a residency."""

    residency: str
    role: str
    task: str
    state: str  # started | ok | changed | failed | skipped


@dataclass
class RunResult:
    status: str
    rc: int
    objects: list[ObjectOutcome] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    diffs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0


def run_playbook(
    playbook: str,
    inventory: Path,
    target: Target,
    *,
    check: bool = False,
    diff: bool = False,
    verbose: int = 0,
    forks: int = 10,
    on_event: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Run `playbooks/<playbook>` on `inventory` against `target`."""
    result = RunResult(status="unstarted", rc=-1)
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_ROLES_PATH": str(paths.roles_dir()),
        "ANSIBLE_COLLECTIONS_PATH": str(paths.playbooks_dir() / "collections"),
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_FORCE_COLOR": "false",
        "ANSIBLE_NOCOLOR": "true",
    }
    cmdline = ["--forks", str(forks)]
    if check:
        cmdline.append("--check")
    if diff:
        cmdline.append("--diff")
    if verbose > 1:
        cmdline.append("-" + "v" * (verbose - 1))

    def handle(event: dict[str, Any]) -> bool:
        _collect(event, result, diff)
        if verbose and event.get("stdout"):
            print(event["stdout"], file=sys.stderr)
        if on_event is not None:
            progress = _progress(event)
            if progress is not None:
                on_event(progress)
        return True  # keep events, so runner.stats stays available

    with tempfile.TemporaryDirectory(prefix="labsctl-run-") as private:
        # The cluster and identity labsctl resolved, for kubernetes.core and our modules alike.
        env.update(target.ansible_env(Path(private)))
        runner = ansible_runner.run(
            private_data_dir=private,
            playbook=str(paths.playbooks_dir() / playbook),
            inventory=str(inventory),
            envvars=env,
            cmdline=" ".join(cmdline),
            event_handler=handle,
            quiet=True,
            suppress_env_files=True,
        )
        result.status = str(runner.status)
        result.rc = int(runner.rc)
        result.stats = {
            host: {
                key: int((runner.stats or {}).get(key, {}).get(host, 0))
                for key in ("ok", "changed", "failures", "dark", "skipped")
            }
            for host in {
                h
                for counts in (runner.stats or {}).values()
                if isinstance(counts, dict)
                for h in counts
            }
        }
    return result


def _role(event_data: dict[str, Any]) -> str:
    return str(event_data.get("role") or "playbook")


def _progress(event: dict[str, Any]) -> Progress | None:
    data = event.get("event_data", {})
    states = {
        "runner_on_start": "started",
        "runner_on_failed": "failed",
        "runner_on_skipped": "skipped",
        "runner_on_unreachable": "failed",
    }
    kind = event.get("event")
    if kind == "runner_on_ok":
        state = "changed" if data.get("res", {}).get("changed") else "ok"
    elif kind in states:
        state = states[kind]
    else:
        return None
    return Progress(str(data.get("host", "")), _role(data), str(data.get("task", "")), state)


def _collect(event: dict[str, Any], result: RunResult, diff: bool) -> None:
    data = event.get("event_data", {})
    res = data.get("res") or {}
    host = str(data.get("host", ""))
    if event.get("event") == "runner_on_ok":
        for entry in res.get("results") or []:
            if isinstance(entry, dict) and "action" in entry and "kind" in entry:
                result.objects.append(
                    ObjectOutcome(
                        host,
                        _role(data),
                        entry["apiVersion"],
                        entry["kind"],
                        entry.get("namespace"),
                        entry["name"],
                        entry["action"],
                    )
                )
        if diff and isinstance(res.get("diff"), list):
            result.diffs.extend(d for d in res["diff"] if isinstance(d, dict))
    elif event.get("event") in ("runner_on_failed", "runner_on_unreachable") and not data.get(
        "ignore_errors"
    ):
        result.failures.append(
            Failure(
                host,
                _role(data),
                str(data.get("task", "")),
                str(res.get("msg") or "failed").strip(),
                res.get("object"),
                res.get("reason"),
            )
        )
