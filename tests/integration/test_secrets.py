"""Secret values come from the environment or files, reach only the cluster, once."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.playbooks import secret_env, write_spec
from tests.integration.test_cli_lifecycle import labsctl

pytestmark = pytest.mark.integration
TOKEN = "s3cr3t-token-4711"


def test_git_token_reaches_only_the_cluster_once_and_is_never_printed(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    spec = str(write_spec(tmp_path, residency_name, "openshift-platform"))
    inventory = tmp_path / "kept-inventory"
    run = labsctl(
        "apply",
        spec,
        "-v",
        "-o",
        "json",
        "--inventory",
        str(inventory),
        kubeconfig=admin_kubeconfig,
        env={secret_env(residency_name, "GIT_TOKEN"): TOKEN},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert TOKEN not in run.stdout and TOKEN not in run.stderr
    assert all(TOKEN not in p.read_text() for p in inventory.rglob("*") if p.is_file())
    secret = client.CoreV1Api(k8s).read_namespaced_secret(
        "git-credentials", f"{residency_name}-ci-cd"
    )
    assert base64.b64decode(secret.data["password"]).decode() == TOKEN
    assert base64.b64decode(secret.data["username"]).decode() == "git"

    rotated = labsctl(
        "apply",
        spec,
        "-o",
        "json",
        kubeconfig=admin_kubeconfig,
        env={secret_env(residency_name, "GIT_TOKEN"): "another-value"},
    )
    assert rotated.returncode == 0
    kept = client.CoreV1Api(k8s).read_namespaced_secret(
        "git-credentials", f"{residency_name}-ci-cd"
    )
    assert base64.b64decode(kept.data["password"]).decode() == TOKEN  # created once

    plan = labsctl(
        "plan",
        spec,
        kubeconfig=admin_kubeconfig,
        env={secret_env(residency_name, "GIT_TOKEN"): TOKEN},
    )
    assert TOKEN not in plan.stdout + plan.stderr


def test_a_missing_secret_value_fails_naming_the_variable(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path
) -> None:
    spec = str(write_spec(tmp_path, residency_name, "openshift-platform"))
    run = labsctl(
        "apply",
        spec,
        kubeconfig=admin_kubeconfig,
        env={secret_env(residency_name, "GIT_TOKEN"): ""},
    )
    assert run.returncode == 5
    variable = secret_env(residency_name, "GIT_TOKEN")
    assert f"environment variable {variable} is not set" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr
