"""The AWX job templates of docs/awx.md, run as AWX runs them: `ansible-playbook -i <inventory>
playbooks/<name>.yml` from the project's root, credentials only from the Kubernetes bearer-token
credential type's K8S_AUTH_* variables (a ServiceAccount's token holding what `labsctl rbac`
prints), no kubeconfig anywhere and no labsctl on PATH."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from labsctl import naming
from labsctl.sandbox.build import binaries
from labsctl.sandbox.controlplane import ControlPlane
from tests.conftest import wait_for
from tests.integration.playbooks import (
    ANSIBLE_PLAYBOOK,
    REPO,
    PlaybookRun,
    write_inventory,
    write_spec,
)
from tests.integration.test_cli_lifecycle import labsctl

pytestmark = pytest.mark.integration
JOB_TEMPLATES = ("bootstrap", "verify", "teardown")


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        [str(binaries().kubectl), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def credential(
    residency_name: str,
    control_plane: ControlPlane,
    admin_kubeconfig: Path,
    k8s: client.ApiClient,
) -> Iterator[dict[str, str]]:
    """What AWX's "OpenShift or Kubernetes API Bearer Token" credential injects: a ServiceAccount
    token bound to the rights `labsctl rbac --service-account` prints, the API server and its CA."""
    namespace, name = f"awx-{residency_name}", "awx-runner"
    core = client.CoreV1Api(k8s)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
    )
    rbac = labsctl("rbac", "--service-account", f"{namespace}/{name}")
    assert rbac.returncode == 0, rbac.stderr
    kubectl(admin_kubeconfig, "apply", "-f", "-", stdin=rbac.stdout)
    token = core.create_namespaced_service_account_token(
        name,
        namespace,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        ),
    ).status.token
    assert control_plane.state is not None
    try:
        yield {
            "K8S_AUTH_HOST": control_plane.state.server,
            "K8S_AUTH_API_KEY": token,
            "K8S_AUTH_VERIFY_SSL": "True",
            "K8S_AUTH_SSL_CA_CERT": str(control_plane.certs / "ca.crt"),
        }
    finally:  # the lock namespace stays: other runs use it
        for args in (
            ["clusterrolebinding,clusterrole", "labsctl-bootstrapper"],
            ["-n", "labsctl-system", "rolebinding,role", "labsctl-bootstrapper"],
            ["namespace", namespace, "--wait=false"],
        ):
            kubectl(admin_kubeconfig, "delete", "--ignore-not-found", *args)


def job_environment(tmp_path: Path, credential: dict[str, str]) -> dict[str, str]:
    """The job's whole environment: PATH with ansible-playbook and python only (plus the system's
    tools Ansible's local connection runs), an empty HOME (no ~/.kube/config), the credential."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in (ANSIBLE_PLAYBOOK, Path(sys.executable)):
        (tools / tool.name).symlink_to(tool)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": f"{tools}:/usr/bin:/bin",
        "HOME": str(home),
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",  # for the assertions; AWX sets its own
        **credential,
    }
    assert shutil.which("labsctl", path=env["PATH"]) is None
    assert shutil.which("ansible-playbook", path=env["PATH"]) == str(tools / "ansible-playbook")
    return env


def job(playbook: str, inventory: Path, env: dict[str, str]) -> PlaybookRun:
    """One job template's run: the project checked out, the inventory, the playbook."""
    done = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), f"playbooks/{playbook}.yml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return PlaybookRun(done.returncode, done.stdout, done.stderr)


def test_bootstrap_verify_and_teardown_run_as_awx_job_templates_with_a_bearer_token(
    tmp_path: Path, residency_name: str, credential: dict[str, str], k8s: client.ApiClient
) -> None:
    inventory = write_inventory(tmp_path, [write_spec(tmp_path, residency_name)])
    env = job_environment(tmp_path, credential)
    core = client.CoreV1Api(k8s)

    def owned_namespaces() -> list[str]:
        found = core.list_namespace(label_selector=naming.owner_selector(residency_name)).items
        return sorted(ns.metadata.name for ns in found)

    runs = {}
    for playbook in JOB_TEMPLATES:
        runs[playbook] = run = job(playbook, inventory, env)
        assert run.rc == 0, f"{playbook}: {run.stdout[-3000:]}{run.stderr[-3000:]}"
        assert run.stats(residency_name)["failures"] == 0
        if playbook == "bootstrap":
            assert owned_namespaces() == [
                f"{residency_name}-{stage}" for stage in ("ci-cd", "dev", "test")
            ]

    assert runs["bootstrap"].stats(residency_name)["changed"] > 0
    assert runs["verify"].stats(residency_name)["changed"] == 0
    assert wait_for(lambda: owned_namespaces() == [], timeout=120)
