"""Helpers for tests that run the playbooks with plain ansible-playbook, as a pipeline would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from labsctl import load_spec, render
from labsctl.files import write_tree
from labsctl.inventory import inventory_files

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def write_spec(
    directory: Path,
    name: str,
    example: str = "small-team",
    mutate: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """An example spec renamed to `name` (group names prefixed too, they are cluster-wide; secret
    variables renamed for the residency, with a test value unless the environment has one)."""
    data = yaml.safe_load((REPO / "examples" / f"{example}.yaml").read_text())
    old_prefix = secret_env(data["metadata"]["name"], "")
    data["metadata"]["name"] = name
    for ref in data["spec"].get("secrets", []):
        if "env" in ref:
            ref["env"] = secret_env(name, ref["env"].removeprefix(old_prefix))
            os.environ.setdefault(ref["env"], "test-token-not-a-secret")
    for group in data["spec"]["team"].get("groups", []):
        group["name"] = f"{name}-{group['name']}"
    if mutate is not None:
        mutate(data)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def secret_env(residency: str, name: str) -> str:
    """The environment variable `<RESIDENCY>_<NAME>` a residency's spec.secrets may read."""
    return residency.upper().replace("-", "_") + "_" + name


def write_inventory(directory: Path, specs: list[Path], name: str = "inventory") -> Path:
    renderings = [render(load_spec(spec)) for spec in specs]
    return write_tree(directory, name, inventory_files(renderings))


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.stdout[self.stdout.index("{") :])

    def stats(self, host: str) -> dict[str, int]:
        """The recap's counts for `host`: batched tasks count on the play's first host only, so
        a residency with no task of its own has no line (all zero)."""
        zero = dict.fromkeys(("ok", "changed", "failures", "skipped", "unreachable"), 0)
        return {**zero, **self.data["stats"].get(host, {})}

    def results(self, host: str) -> list[tuple[str, dict[str, Any]]]:
        """(task, result) of every task that ran for `host`: a batched task of the collection
        runs on the play's first host and holds each residency's result under `residencies`."""
        found = []
        for play in self.data["plays"]:
            for task in play["tasks"]:
                for ran_on, result in task["hosts"].items():
                    own = (result.get("residencies") or {}).get(host)
                    if own is not None:
                        found.append((task["task"]["name"], own))
                    elif ran_on == host and "residencies" not in result:
                        found.append((task["task"]["name"], result))
        return found

    def applied(self, host: str) -> list[dict[str, Any]]:
        """Every object k8s_apply reported on, with its action."""
        return [
            entry
            for _, result in self.results(host)
            for entry in result.get("results", [])
            if isinstance(entry, dict) and "action" in entry
        ]

    def failure(self, host: str) -> str:
        return " ".join(str(r.get("msg", "")) for _, r in self.results(host) if r.get("failed"))


def run_playbook(
    playbook: str, inventory: Path, kubeconfig: Path, *args: str, env: dict[str, str] | None = None
) -> PlaybookRun:
    environment = {
        **os.environ,
        "K8S_AUTH_KUBECONFIG": str(kubeconfig),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "PATH": f"{ANSIBLE_PLAYBOOK.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **(env or {}),
    }
    # No teardown backup in the checkout: a test that wants one names its directory (a later
    # -e wins).
    no_backup = ["-e", "labsctl_backup_dir="]
    completed = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            str(inventory),
            str(REPO / "playbooks" / playbook),
            *no_backup,
            *args,
        ],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    return PlaybookRun(completed.returncode, completed.stdout, completed.stderr)
