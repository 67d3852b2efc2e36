"""The whole lifecycle runs as an identity holding exactly what `labsctl rbac` prints."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from kubernetes import client

from labsctl import naming
from labsctl.sandbox.build import binaries
from labsctl.sandbox.controlplane import ControlPlane
from tests.integration.playbooks import write_spec
from tests.integration.test_cli_lifecycle import labsctl

pytestmark = pytest.mark.integration


def test_lifecycle_passes_as_the_labsctl_rbac_identity_and_fails_clearly_without_it(
    tmp_path: Path,
    residency_name: str,
    control_plane: ControlPlane,
    admin_kubeconfig: Path,
    k8s: client.ApiClient,
) -> None:
    user = f"bootstrapper-{residency_name}"
    kubeconfig = control_plane.user_kubeconfig(user)
    spec = str(write_spec(tmp_path, residency_name, "openshift-platform"))

    denied = labsctl("apply", spec, kubeconfig=kubeconfig)
    assert denied.returncode == 3
    assert "forbidden" in denied.stderr and "labsctl rbac" in denied.stderr

    rbac = labsctl("rbac", "--user", user)
    assert rbac.returncode == 0
    kubectl = str(binaries().kubectl)
    granted = subprocess.run(
        [kubectl, "--kubeconfig", str(admin_kubeconfig), "apply", "-f", "-"],
        input=rbac.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert granted.returncode == 0, granted.stderr
    try:
        steps = [
            ("apply", spec),
            ("plan", spec),
            ("status", spec),
            ("status", "--all"),
            ("freeze", spec),
            ("export", spec, "--to", str(tmp_path / "handover")),
            ("teardown", spec, "--yes", "--backup-dir", str(tmp_path / "backups")),
        ]
        for step in steps:
            run = labsctl(*step, kubeconfig=kubeconfig)
            assert run.returncode == 0, (step, run.stderr)
        assert (
            client.CoreV1Api(k8s)
            .list_namespace(label_selector=naming.owner_selector(residency_name))
            .items
            == []
        )
        assert (tmp_path / "handover" / "stages" / "dev" / "kustomization.yaml").is_file()
        # No ClusterRoleBinding was created for the team, and none beyond the bootstrapper's.
        bindings = (
            client.RbacAuthorizationV1Api(k8s)
            .list_cluster_role_binding(label_selector=f"{naming.LABEL_MANAGED_BY}=labsctl")
            .items
        )
        assert [b.metadata.name for b in bindings] == ["labsctl-bootstrapper"]
    finally:  # the lock namespace stays: other runs use it
        for args in (
            ["clusterrolebinding,clusterrole", "labsctl-bootstrapper"],
            ["-n", "labsctl-system", "rolebinding,role", "labsctl-bootstrapper"],
        ):
            subprocess.run(
                [
                    kubectl,
                    "--kubeconfig",
                    str(admin_kubeconfig),
                    "delete",
                    "--ignore-not-found",
                    *args,
                ],
                capture_output=True,
                check=False,
            )
