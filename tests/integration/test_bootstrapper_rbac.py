"""The whole lifecycle runs as an identity holding exactly what `labsctl rbac` prints."""

from __future__ import annotations

import json
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


WIDGETS = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.scan.labsctl.dev"},
    "spec": {
        "group": "scan.labsctl.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object"}},
            }
        ],
    },
}


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(binaries().kubectl), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_teardown_as_the_rbac_identity_sees_every_kind_and_refuses_what_it_cannot_see(
    tmp_path: Path,
    residency_name: str,
    control_plane: ControlPlane,
    admin_kubeconfig: Path,
    k8s: client.ApiClient,
) -> None:
    """An unowned Role and an unowned custom resource block teardown (exit 4); once the
    identity may not list Roles, teardown refuses because it cannot see (exit 3), and deletes
    only with --force."""
    user = f"bootstrapper-{residency_name}"
    kubeconfig = control_plane.user_kubeconfig(user)
    spec = str(write_spec(tmp_path, residency_name))
    dev = f"{residency_name}-dev"
    _kubectl(admin_kubeconfig, "apply", "-f", "-", stdin=labsctl("rbac", "--user", user).stdout)
    _kubectl(admin_kubeconfig, "apply", "-f", "-", stdin=json.dumps(WIDGETS))
    _kubectl(
        admin_kubeconfig,
        "wait",
        "--for=condition=Established",
        "crd/" + WIDGETS["metadata"]["name"],
    )
    try:
        applied = labsctl("apply", spec, kubeconfig=kubeconfig)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        _kubectl(
            admin_kubeconfig, "-n", dev, "create", "role", "theirs", "--verb=get", "--resource=pods"
        )
        _kubectl(
            admin_kubeconfig,
            "apply",
            "-f",
            "-",
            stdin=json.dumps(
                {
                    "apiVersion": "scan.labsctl.dev/v1",
                    "kind": "Widget",
                    "metadata": {"name": "theirs", "namespace": dev},
                }
            ),
        )
        refused = labsctl("teardown", spec, "--yes", "--no-backup", kubeconfig=kubeconfig)
        assert refused.returncode == 4, refused.stderr
        assert f"Role {dev}/theirs" in refused.stderr
        assert f"Widget {dev}/theirs" in refused.stderr

        role = json.loads(
            _kubectl(admin_kubeconfig, "get", "clusterrole", "labsctl-bootstrapper", "-o", "json")
        )
        role["rules"] = [r for r in role["rules"] if r["apiGroups"] != ["*"]]
        role["rules"].append(
            {"apiGroups": ["scan.labsctl.dev"], "resources": ["widgets"], "verbs": ["list"]}
        )
        _kubectl(admin_kubeconfig, "replace", "-f", "-", stdin=json.dumps(role))
        blind = labsctl("teardown", spec, "--yes", "--no-backup", kubeconfig=kubeconfig)
        assert blind.returncode == 3, blind.stderr
        assert f"list roles.rbac.authorization.k8s.io in {dev}" in blind.stderr
        assert client.CoreV1Api(k8s).read_namespace(dev).status.phase == "Active"

        forced = labsctl("teardown", spec, "--yes", "--no-backup", "--force", kubeconfig=kubeconfig)
        assert forced.returncode == 0, forced.stderr
        assert (
            client.CoreV1Api(k8s)
            .list_namespace(label_selector=naming.owner_selector(residency_name))
            .items
            == []
        )
    finally:
        for args in (
            ["clusterrolebinding,clusterrole", "labsctl-bootstrapper"],
            ["crd", WIDGETS["metadata"]["name"]],
        ):
            subprocess.run(
                [
                    str(binaries().kubectl),
                    "--kubeconfig",
                    str(admin_kubeconfig),
                    "delete",
                    "--ignore-not-found",
                    *args,
                ],
                capture_output=True,
                check=False,
            )
