"""The end of a residency on the real cluster: freeze, extend, export, teardown, --expired."""

from __future__ import annotations

import datetime as dt
import filecmp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from labsctl import naming
from labsctl.sandbox.build import binaries
from tests.conftest import wait_for
from tests.integration.playbooks import REPO, write_spec
from tests.integration.test_cli_lifecycle import labsctl
from tests.integration.test_roles import _allowed

pytestmark = pytest.mark.integration


def _namespaces(k8s: client.ApiClient, residency: str) -> dict[str, str]:
    return {
        n.metadata.name: n.status.phase
        for n in client.CoreV1Api(k8s)
        .list_namespace(label_selector=naming.owner_selector(residency))
        .items
    }


@pytest.fixture
def applied(tmp_path: Path, residency_name: str, admin_kubeconfig: Path) -> Path:
    spec = write_spec(tmp_path, residency_name, "openshift-platform")
    run = labsctl("apply", str(spec), kubeconfig=admin_kubeconfig)
    assert run.returncode == 0, run.stderr
    return spec


def test_export_is_stable_and_kubectl_apply_k_recreates_the_stages_after_teardown(
    applied: Path,
    residency_name: str,
    admin_kubeconfig: Path,
    k8s: client.ApiClient,
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "handover", tmp_path / "again"
    url = "https://git.example.com/team/env.git"
    assert (
        labsctl(
            "export",
            str(applied),
            "--to",
            str(first),
            "--repo-url",
            url,
            kubeconfig=admin_kubeconfig,
        ).returncode
        == 0
    )
    assert (
        labsctl(
            "export",
            residency_name,
            "--to",
            str(second),
            "--repo-url",
            url,
            kubeconfig=admin_kubeconfig,
        ).returncode
        == 0
    )
    comparison = filecmp.dircmp(first, second)
    assert not comparison.diff_files and not comparison.left_only and not comparison.right_only
    exported = {p.relative_to(first).as_posix() for p in first.rglob("*.yaml")}
    assert "stages/dev/rolebinding-team-edit.yaml" in exported
    text = "".join(p.read_text() for p in first.rglob("*.yaml"))
    assert "managedFields" not in text and "resourceVersion" not in text
    assert "app.kubernetes.io/managed-by: labsctl" not in text

    teardown = labsctl(
        "teardown", residency_name, "--yes", "--no-backup", kubeconfig=admin_kubeconfig
    )
    assert teardown.returncode == 0, teardown.stderr
    assert _namespaces(k8s, residency_name) == {}

    kubectl = str(binaries().kubectl)
    stages = sorted(p.name for p in (first / "stages").iterdir())
    try:
        for folder in ["cluster", *[f"stages/{s}" for s in stages]]:
            done = subprocess.run(
                [
                    kubectl,
                    "--kubeconfig",
                    str(admin_kubeconfig),
                    "apply",
                    "-k",
                    str(first / folder),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stderr
        core = client.CoreV1Api(k8s)
        for stage in stages:
            namespace = core.read_namespace(f"{residency_name}-{stage}")
            assert namespace.metadata.labels[naming.LABEL_RESIDENCY] == residency_name
            assert naming.LABEL_MANAGED_BY not in namespace.metadata.labels
        binding = client.RbacAuthorizationV1Api(k8s).read_namespaced_role_binding(
            "team-edit", f"{residency_name}-dev"
        )
        assert binding.subjects[0].name == f"{residency_name}-mobile-banking-engineers"
    finally:
        for stage in stages:
            client.CoreV1Api(k8s).delete_namespace(f"{residency_name}-{stage}")
        custom = client.CustomObjectsApi(k8s)
        for group in ("mobile-banking-engineers", "mobile-banking-leads"):
            custom.delete_cluster_custom_object(
                "user.openshift.io", "v1", "groups", f"{residency_name}-{group}"
            )


def test_freeze_leaves_the_team_view_only_and_extend_restores_it(
    applied: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    engineers = (f"{residency_name}-mobile-banking-engineers",)
    dev = f"{residency_name}-dev"
    pipeline = f"system:serviceaccount:{residency_name}-ci-cd:pipeline"
    assert _allowed(k8s, dev, "create", "deployments", user="dana", groups=engineers, group="apps")
    frozen = labsctl("freeze", str(applied), kubeconfig=admin_kubeconfig)
    assert frozen.returncode == 0, frozen.stderr
    assert not _allowed(
        k8s, dev, "create", "deployments", user="dana", groups=engineers, group="apps"
    )
    assert _allowed(k8s, dev, "list", "pods", user="dana", groups=engineers)
    assert not _allowed(k8s, dev, "create", "deployments", user=pipeline, group="apps")
    apps = client.CustomObjectsApi(k8s).list_namespaced_custom_object(
        "argoproj.io",
        "v1alpha1",
        "openshift-gitops",
        "applications",
        label_selector=naming.owner_selector(residency_name),
    )["items"]
    assert len(apps) == 3  # tools stay for the hand-over

    before = applied.read_text()
    until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    extended = labsctl("extend", str(applied), "--until", until, kubeconfig=admin_kubeconfig)
    assert extended.returncode == 0, extended.stderr
    changed = [
        (a, b)
        for a, b in zip(before.splitlines(), applied.read_text().splitlines(), strict=True)
        if a != b
    ]
    assert [b.split(":")[0].strip() for _, b in changed] == ["end", "archive"]
    assert _allowed(k8s, dev, "create", "deployments", user="dana", groups=engineers, group="apps")
    assert _allowed(k8s, dev, "create", "deployments", user=pipeline, group="apps")


def test_teardown_refuses_a_namespace_holding_an_unowned_deployment_and_deletes_nothing(
    applied: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    client.AppsV1Api(k8s).create_namespaced_deployment(
        f"{residency_name}-dev",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "someones-app"},
            "spec": {
                "selector": {"matchLabels": {"app": "x"}},
                "template": {
                    "metadata": {"labels": {"app": "x"}},
                    "spec": {"containers": [{"name": "x", "image": "nginx"}]},
                },
            },
        },
    )
    before = _namespaces(k8s, residency_name)
    run = labsctl("teardown", str(applied), "--yes", "--no-backup", kubeconfig=admin_kubeconfig)
    assert run.returncode == 4
    assert f"Deployment {residency_name}-dev/someones-app" in run.stderr
    assert "nothing was deleted" in run.stderr
    assert _namespaces(k8s, residency_name) == before
    client.RbacAuthorizationV1Api(k8s).read_namespaced_role_binding(
        "team-edit", f"{residency_name}-dev"
    )


def test_teardown_never_touches_a_look_alike_namespace(
    applied: Path,
    residency_name: str,
    admin_kubeconfig: Path,
    k8s: client.ApiClient,
    tmp_path: Path,
) -> None:
    core = client.CoreV1Api(k8s)
    lookalike = f"{residency_name}-prod"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=lookalike, labels={naming.LABEL_RESIDENCY: residency_name}
            )
        )
    )
    try:
        run = labsctl(
            "teardown",
            str(applied),
            "--yes",
            "--backup-dir",
            str(tmp_path / "b"),
            kubeconfig=admin_kubeconfig,
        )
        assert run.returncode == 0, run.stderr
        assert _namespaces(k8s, residency_name) == {}
        assert core.read_namespace(lookalike).status.phase == "Active"
        backup = next((tmp_path / "b").iterdir())
        assert (backup / "stages" / "dev" / "kustomization.yaml").is_file()
    finally:
        core.delete_namespace(lookalike)


def test_a_killed_teardown_finishes_when_run_again(
    applied: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    env = {**os.environ, "LABSCTL_KUBECONFIG": str(admin_kubeconfig)}
    process = subprocess.Popen(
        [sys.executable, "-m", "labsctl", "teardown", residency_name, "--yes", "--no-backup"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and "Terminating" not in _namespaces(k8s, residency_name).values()
        and process.poll() is None
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    again = labsctl("teardown", residency_name, "--yes", "--no-backup", kubeconfig=admin_kubeconfig)
    assert again.returncode == 0, again.stderr
    assert _namespaces(k8s, residency_name) == {}


HOLD_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "holds.test.labsctl.dev"},
    "spec": {
        "group": "test.labsctl.dev",
        "scope": "Namespaced",
        "names": {"kind": "Hold", "plural": "holds", "singular": "hold"},
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


def _create_hold(k8s: client.ApiClient, namespace: str, finalizers: list[str]) -> None:
    """Someone else's custom object `Hold keep` in `namespace`: no labsctl labels at all."""
    extensions = client.ApiextensionsV1Api(k8s)
    try:
        extensions.create_custom_resource_definition(HOLD_CRD)
    except client.ApiException as exc:
        assert exc.status == 409
    custom = client.CustomObjectsApi(k8s)
    for _ in range(50):
        try:
            custom.create_namespaced_custom_object(
                "test.labsctl.dev",
                "v1",
                namespace,
                "holds",
                {
                    "apiVersion": "test.labsctl.dev/v1",
                    "kind": "Hold",
                    "metadata": {"name": "keep", "finalizers": finalizers},
                },
            )
            return
        except client.ApiException as exc:  # the CRD may not be established yet
            assert exc.status == 404
            time.sleep(0.2)
    pytest.fail("the Hold CRD was never established")


def _release_hold(k8s: client.ApiClient, namespace: str) -> None:
    try:
        client.CustomObjectsApi(k8s).patch_namespaced_custom_object(
            "test.labsctl.dev", "v1", namespace, "holds", "keep", {"metadata": {"finalizers": None}}
        )
    except client.ApiException as exc:
        assert exc.status == 404


def _holds(k8s: client.ApiClient, namespace: str) -> list[str]:
    listed = client.CustomObjectsApi(k8s).list_namespaced_custom_object(
        "test.labsctl.dev", "v1", namespace, "holds"
    )
    return [item["metadata"]["name"] for item in listed["items"]]


def test_teardown_refuses_a_namespace_holding_an_unowned_custom_object(
    applied: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    dev = f"{residency_name}-dev"
    _create_hold(k8s, dev, finalizers=[])  # a kind created after labsctl last looked
    before = _namespaces(k8s, residency_name)
    run = labsctl("teardown", residency_name, "--yes", "--no-backup", kubeconfig=admin_kubeconfig)
    assert run.returncode == 4, run.stderr
    assert f"Hold {dev}/keep" in run.stderr
    assert "nothing was deleted" in run.stderr
    assert _namespaces(k8s, residency_name) == before


def test_a_namespace_held_by_a_finalizer_is_reported_with_its_blocker(
    applied: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    dev = f"{residency_name}-dev"
    # Someone else's object with a finalizer nobody will remove: --force deletes its namespace
    # anyway, and the namespace hangs in Terminating.
    _create_hold(k8s, dev, finalizers=["test.labsctl.dev/hold"])
    try:
        stuck = labsctl(
            "teardown",
            residency_name,
            "--yes",
            "--no-backup",
            "--force",
            "--timeout",
            "6",
            kubeconfig=admin_kubeconfig,
        )
        assert stuck.returncode == 3, stuck.stderr
        assert f"namespace {dev} is stuck terminating" in stuck.stderr
        assert "Hold keep (finalizers: test.labsctl.dev/hold)" in stuck.stderr, stuck.stderr
        assert _namespaces(k8s, residency_name).get(dev) == "Terminating"
    finally:
        _release_hold(k8s, dev)
    assert wait_for(lambda: not _holds(k8s, dev), timeout=60)
    finished = labsctl(
        "teardown", residency_name, "--yes", "--no-backup", kubeconfig=admin_kubeconfig
    )
    assert finished.returncode == 0, finished.stderr
    assert _namespaces(k8s, residency_name) == {}


def test_teardown_expired_removes_only_the_residency_past_its_archive_date(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    today = dt.date.today()

    def dates(start: int, end: int, archive: int) -> Any:
        def mutate(data: dict[str, Any]) -> None:
            data["spec"]["dates"] = {
                "start": (today + dt.timedelta(days=start)).isoformat(),
                "end": (today + dt.timedelta(days=end)).isoformat(),
                "archive": (today + dt.timedelta(days=archive)).isoformat(),
            }

        return mutate

    names = {
        residency_name: dates(-90, -60, -1),
        f"{residency_name}-now": dates(-5, 30, 60),
        f"{residency_name}-next": dates(10, 60, 90),
    }
    specs = [str(write_spec(tmp_path, n, mutate=m)) for n, m in names.items()]
    try:
        assert labsctl("apply", *specs, kubeconfig=admin_kubeconfig).returncode == 0
        listed = labsctl(
            "teardown", "--expired", "--dry-run", "-o", "json", kubeconfig=admin_kubeconfig
        )
        assert [r["residency"] for r in yaml.safe_load(listed.stdout)["residencies"]] == [
            residency_name
        ]
        run = labsctl("teardown", "--expired", "--yes", "--no-backup", kubeconfig=admin_kubeconfig)
        assert run.returncode == 0, run.stderr
        assert _namespaces(k8s, residency_name) == {}
        assert len(_namespaces(k8s, f"{residency_name}-now")) == 3
        assert len(_namespaces(k8s, f"{residency_name}-next")) == 3
    finally:
        for name in list(names)[1:]:
            labsctl("teardown", name, "--yes", "--no-backup", kubeconfig=admin_kubeconfig)
