"""The labsctl.residency collection passes the field's own checks (hack/sanity: ansible-test
sanity, a build and an install from its tarball), and a play's cluster settings reach its modules.

Needs no control plane. The first sanity run builds ansible-test's venvs from PyPI (minutes).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.playbooks import ANSIBLE_PLAYBOOK, REPO

pytestmark = pytest.mark.integration
COLLECTION = REPO / "playbooks" / "collections" / "ansible_collections" / "labsctl" / "residency"
MODULES = sorted(p.stem for p in (COLLECTION / "plugins" / "modules").glob("*.py"))
FILTERS = sorted(p.stem for p in (COLLECTION / "plugins" / "filter").glob("*.yml"))
VARS = sorted(p.stem for p in (COLLECTION / "plugins" / "vars").glob("*.py"))


def hack_sanity(step: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "hack" / "sanity"), step],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def report(result: subprocess.CompletedProcess[str]) -> str:
    return f"{result.stdout}\n--- stderr (end) ---\n{result.stderr[-6000:]}"


@pytest.mark.timeout(1200)  # the first run builds ansible-test's venvs
def test_the_collection_passes_ansible_test_sanity() -> None:
    result = hack_sanity("sanity")

    assert result.returncode == 0, report(result)
    assert re.search(r"^  ok +ansible-test sanity \(\d+ tests\)$", result.stdout, re.M), report(
        result
    )


def test_the_collection_builds_and_installs_from_its_tarball() -> None:
    result = hack_sanity("package")

    assert result.returncode == 0, report(result)
    assert MODULES
    assert FILTERS
    assert VARS
    documented = [
        *(f"ansible-doc -t module labsctl.residency.{name}" for name in MODULES),
        *(f"ansible-doc -t vars labsctl.residency.{name}" for name in VARS),
        *(f"ansible-doc -t filter labsctl.residency.{name}" for name in FILTERS),
    ]
    for check in ["install into a clean collections path", *documented]:
        assert re.search(rf"^  ok +{re.escape(check)}$", result.stdout, re.M), report(result)


def test_the_only_sanity_ignores_are_licence_headers_with_their_reason() -> None:
    lines = (COLLECTION / "tests" / "sanity" / "ignore-2.19.txt").read_text().splitlines()

    for line in lines:
        entry, _, reason = line.partition(" # ")
        assert re.fullmatch(
            r"plugins/(modules|vars)/\w+\.py validate-modules:missing-gplv3-license", entry
        ), f"only the GPL licence header check may be ignored: {line}"
        assert "Apache-2.0" in reason, f"an ignore needs its reason: {line}"


@pytest.mark.parametrize("playbook", ["bootstrap", "verify", "teardown"])
def test_a_plays_cluster_settings_reach_cluster_facts(playbook: str, tmp_path: Path) -> None:
    """`module_defaults: group/labsctl.residency.k8s` carries the play's kubeconfig to the
    collection's modules (the lock, discovery): a kubeconfig that does not exist must be the one
    the play's first cluster task fails to read."""
    missing = tmp_path / "no-such-kubeconfig"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("K8S_AUTH_") and key not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    }
    env |= {"HOME": str(tmp_path), "ANSIBLE_NOCOLOR": "1"}  # no ~/.kube/config to fall back on

    result = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            str(REPO / "inventories" / "mobile-banking"),
            str(REPO / "playbooks" / f"{playbook}.yml"),
            "-e",
            f"labsctl_kubeconfig={missing}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    # The play's first task to reach the cluster (the lock's; verify, a dry run, takes no lock)
    # must read the play's kubeconfig.
    first = (
        "TASK [cluster_facts : Discover what the cluster offers"
        if playbook == "verify"
        else "TASK [Take the residency's lock]"
    )
    discovery = output.split(first, 1)
    assert len(discovery) == 2, output
    assert f"cannot read the kubeconfig {missing}" in discovery[1].split("TASK [", 1)[0], output
