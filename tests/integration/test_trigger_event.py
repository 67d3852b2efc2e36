"""A signed push event, through Tekton Triggers' own sink, builds the residency's own repository.

The residency is applied to the sandbox with labsctl; then `labsctl.validators.send_event` runs
Triggers' EventListener sink (pkg/sink) and core interceptors (pkg/interceptors/server) on
loopback, with the identity of the listener's ServiceAccount, against the sandbox: the listener's
RBAC, the webhook Secret on the cluster, the interceptor chain, the binding and the template are
all the real ones. The PipelineRun the event creates is read back and checked by Tekton's own
validation and PipelineRun reconciler checks against the rendered Pipeline and Tasks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from labsctl import api
from labsctl.validators import send_event, validate
from tests.integration.playbooks import secret_env, write_spec
from tests.integration.test_cli_lifecycle import labsctl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

WEBHOOK_SECRET = "push-hook-secret-0815"
GIT_URL = "https://git.example.com/mobile/onboarding.git"
LISTENER = "git-push"


def _apply(
    tmp_path: Path,
    name: str,
    kubeconfig: Path,
    mutate: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    spec = write_spec(tmp_path, name, "openshift-platform", mutate)
    run = labsctl(
        "apply",
        str(spec),
        "-o",
        "json",
        kubeconfig=kubeconfig,
        env={secret_env(name, "WEBHOOK_SECRET"): WEBHOOK_SECRET},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return spec


def _push(sha: str) -> bytes:
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "before": "0" * 40,
            "after": sha,
            "repository": {"clone_url": "https://attacker.example.com/evil.git"},
        }
    ).encode()


def _github_headers(body: bytes, secret: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def _params(run: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in run["spec"]["params"]}


def _upstream_check(tmp_path: Path, spec: Path, created: list[dict[str, Any]]) -> dict[str, Any]:
    """Tekton's validation of the created PipelineRun, with the rendered Pipeline and Tasks."""
    rendered = api.render_spec(spec, tmp_path / "manifests", "manifests").directory
    runs = tmp_path / "created.yaml"
    runs.write_text(yaml.safe_dump_all(created), encoding="utf-8")
    results = validate([*sorted(rendered.glob("*.yaml")), runs])
    return {(r["kind"], r["name"]): r for r in results}


def test_a_signed_github_push_creates_a_valid_pipelinerun_for_the_pushed_commit(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    spec = _apply(tmp_path, residency_name, admin_kubeconfig)
    namespace = f"{residency_name}-ci-cd"
    sha = secrets.token_hex(20)
    body = _push(sha)

    result = send_event(
        admin_kubeconfig, namespace, LISTENER, body, _github_headers(body, WEBHOOK_SECRET)
    )

    assert result["status"] == 202, result
    assert result["errors"] == [] and result["refusals"] == [], result
    assert result["identity"] == f"system:serviceaccount:{namespace}:event-listener"
    [run] = result["created"]
    assert run["kind"] == "PipelineRun"
    assert run["metadata"]["namespace"] == namespace
    assert run["spec"]["pipelineRef"] == {"name": "build-and-deploy"}
    assert run["spec"]["taskRunTemplate"]["serviceAccountName"] == "pipeline"
    # The commit comes from the event; the repository and the image only from the spec.
    assert _params(run) == {
        "git-url": GIT_URL,
        "git-revision": sha,
        "image": "image-registry.openshift-image-registry.svc:5000/mobile-banking-ci-cd/onboarding",
    }
    checked = _upstream_check(tmp_path, spec, result["created"])
    created = checked["PipelineRun", run["metadata"]["name"]]
    assert created["ok"], created["errors"]
    # The deploy goes to the first stage the pipeline may deploy to, by the built digest.
    pipelines = tmp_path / "manifests" / residency_name / "50-pipelines.yaml"
    pipeline = next(d for d in yaml.safe_load_all(pipelines.read_text()) if d["kind"] == "Pipeline")
    deploy = next(t for t in pipeline["spec"]["tasks"] if t["name"] == "deploy")
    assert {p["name"]: p["value"] for p in deploy["params"]}["digest"] == (
        "$(tasks.build.results.image-digest)"
    )


def test_an_event_with_a_wrong_signature_or_for_a_deleted_branch_creates_nothing(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path
) -> None:
    _apply(tmp_path, residency_name, admin_kubeconfig)
    namespace = f"{residency_name}-ci-cd"
    body = _push(secrets.token_hex(20))

    forged = send_event(
        admin_kubeconfig, namespace, LISTENER, body, _github_headers(body, "not-the-secret")
    )
    assert forged["created"] == [], forged
    assert any("signature" in r.lower() for r in forged["refusals"]), forged

    deleted = _push("0" * 40)
    branch_deleted = send_event(
        admin_kubeconfig, namespace, LISTENER, deleted, _github_headers(deleted, WEBHOOK_SECRET)
    )
    assert branch_deleted["created"] == [], branch_deleted
    assert branch_deleted["refusals"], branch_deleted


def _gitlab(data: dict[str, Any]) -> None:
    data["spec"]["pipelines"]["webhook"]["provider"] = "gitlab"


def test_a_gitlab_push_with_its_token_creates_a_pipelinerun_and_without_it_nothing(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path
) -> None:
    _apply(tmp_path, residency_name, admin_kubeconfig, _gitlab)
    namespace = f"{residency_name}-ci-cd"
    sha = secrets.token_hex(20)
    body = _push(sha)
    headers = {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook"}

    accepted = send_event(
        admin_kubeconfig, namespace, LISTENER, body, {**headers, "X-Gitlab-Token": WEBHOOK_SECRET}
    )
    assert [_params(r)["git-revision"] for r in accepted["created"]] == [sha], accepted

    refused = send_event(
        admin_kubeconfig, namespace, LISTENER, body, {**headers, "X-Gitlab-Token": "guess"}
    )
    assert refused["created"] == [] and refused["refusals"], refused
