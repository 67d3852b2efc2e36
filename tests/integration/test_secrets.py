"""Secret values come from the environment or files, reach only the cluster, once."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

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


DEPLOY_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAtest\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
DOCKER_CONFIG = '{"auths": {"registry.example.com": {"auth": "cm9ib3Q6czNjcjN0"}}}'
CHART_PASSWORD = "chart-password-1234"
HOST_KEY = (
    "git.example.com ssh-ed25519 "
    "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
)


def _private_sources(data: dict[str, Any]) -> None:
    """SSH Git with a deploy key from a file, a registry to push to, a private chart repository."""
    data["spec"]["pipelines"].update(
        {
            "gitUrl": "git@git.example.com:mobile/onboarding.git",
            "gitKnownHosts": [HOST_KEY],
            "image": "registry.example.com/mobile/onboarding",
            "registryCredentialsSecret": "registry",
        }
    )
    data["spec"]["tooling"]["applications"][0]["repoURL"] = (
        "git@git.example.com:mobile/onboarding-deploy.git"
    )
    data["spec"]["tooling"]["applications"].append(
        {
            "name": "cache",
            "stage": "dev",
            "repoURL": "https://charts.example.com/",
            "chart": "redis",
            "targetRevision": "19.0.1",
            "credentialsSecret": "charts",
            "credentialsUsername": "mobile-robot",
        }
    )
    data["spec"]["secrets"][0] = {"name": "git-token", "file": "deploy-key"}
    data["spec"]["secrets"] += [
        {"name": "registry", "file": "registry.json"},
        {"name": "charts", "env": secret_env(data["metadata"]["name"], "CHARTS_PASSWORD")},
    ]


def _decoded(secret: client.V1Secret) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def test_private_git_registry_and_chart_credentials_land_where_tekton_and_argo_cd_read_them(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    secrets_dir = tmp_path / "secrets"
    (secrets_dir / residency_name).mkdir(parents=True)
    (secrets_dir / residency_name / "deploy-key").write_text(DEPLOY_KEY)
    (secrets_dir / residency_name / "registry.json").write_text(DOCKER_CONFIG)
    spec = str(write_spec(tmp_path, residency_name, "openshift-platform", _private_sources))
    env = {secret_env(residency_name, "CHARTS_PASSWORD"): CHART_PASSWORD}
    run = labsctl(
        "apply", spec, "--secrets-dir", str(secrets_dir), kubeconfig=admin_kubeconfig, env=env
    )
    assert run.returncode == 0, run.stderr[-3000:]
    output = run.stdout + run.stderr
    assert CHART_PASSWORD not in output and "OPENSSH PRIVATE KEY" not in output
    core = client.CoreV1Api(k8s)
    ci_cd = f"{residency_name}-ci-cd"

    git = core.read_namespaced_secret("git-credentials", ci_cd)
    assert git.type == "kubernetes.io/ssh-auth"
    assert git.metadata.annotations["tekton.dev/git-0"] == "git.example.com"
    # The deploy key keeps its last newline (secret files are read stripped; OpenSSH needs it).
    assert _decoded(git) == {"ssh-privatekey": DEPLOY_KEY, "known_hosts": HOST_KEY + "\n"}

    registry = core.read_namespaced_secret("registry-credentials", ci_cd)
    assert registry.type == "kubernetes.io/dockerconfigjson"
    assert _decoded(registry) == {".dockerconfigjson": DOCKER_CONFIG}

    account = core.read_namespaced_service_account("pipeline", ci_cd)
    assert [s.name for s in account.secrets] == ["git-credentials", "registry-credentials"]

    repositories = core.list_namespaced_secret(
        "openshift-gitops", label_selector=f"labsctl.dev/residency={residency_name}"
    ).items
    by_url = {_decoded(s)["url"]: (s, _decoded(s)) for s in repositories}
    chart, values = by_url["https://charts.example.com/"]
    assert chart.metadata.labels["argocd.argoproj.io/secret-type"] == "repository"
    assert values == {
        "url": "https://charts.example.com/",
        "type": "helm",
        "project": residency_name,
        "username": "mobile-robot",
        "password": CHART_PASSWORD,
    }
    _, git_repository = by_url["git@git.example.com:mobile/onboarding-deploy.git"]
    assert git_repository["sshPrivateKey"] == DEPLOY_KEY and "password" not in git_repository

    plan = labsctl(
        "plan", spec, "--secrets-dir", str(secrets_dir), kubeconfig=admin_kubeconfig, env=env
    )
    assert plan.returncode == 0, plan.stdout[-3000:]

    gone = labsctl("teardown", residency_name, "--yes", "--no-backup", kubeconfig=admin_kubeconfig)
    assert gone.returncode == 0, gone.stderr[-3000:]
    left = core.list_namespaced_secret(
        "openshift-gitops", label_selector=f"labsctl.dev/residency={residency_name}"
    ).items
    assert left == []
