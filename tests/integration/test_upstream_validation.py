"""Rendered Tekton and Argo CD objects pass Tekton's and Argo CD's own validation code.

Each case renders a spec as plain manifests (`labsctl render --format manifests`); every Tekton
and Argo CD object of the rendering is one test, checked by `labsctl.validators` (the upstream Go
types, defaulting and webhook validation with a fresh install's feature flags, the PipelineRun
reconciler's run-time checks, Argo CD's project checks). Objects the current templates get wrong
are listed in KNOWN_FAILING with the validator's exact messages: their tests are strict xfails, so
they fail the day a template is fixed (remove the entry then) and fail too if the messages change.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from labsctl import api
from labsctl.render import render
from labsctl.validators import validate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]  # a cold validator build

# "<case>: <Kind> <namespace>/<name>" -> the validator's errors for that object, in its order.
# A template that is meant to be rejected (there is none today) is listed here; its test is then
# a strict xfail, which fails the day the template is fixed and fails if the messages change.
KNOWN_FAILING: dict[str, tuple[str, ...]] = {}

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SSH_GIT_URL = "ssh://git@git.example.com:2222/payments/api.git"
SCP_GIT_URL = "git@git.example.com:mobile/onboarding.git"
HOST_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
TEKTON = {"Task", "Pipeline"}
TRIGGERS = {"TriggerTemplate", "TriggerBinding", "Trigger", "EventListener"}
ARGOCD = {"AppProject", "Application"}


def _small_team_with_ssh_git_and_a_gitlab_webhook(spec: dict[str, Any]) -> None:
    spec["spec"]["pipelines"] = {
        "enabled": True,
        "gitUrl": SSH_GIT_URL,
        "gitCredentialsSecret": "deploy-key",
        "gitKnownHosts": [f"[git.example.com]:2222 ssh-ed25519 {HOST_KEY}"],
        "image": "registry.example.com/payments/api",
        "registryCredentialsSecret": "registry",
        "webhook": {"provider": "gitlab", "secret": "webhook", "host": "hooks.example.com"},
        "deployTo": ["test"],
    }
    spec["spec"]["secrets"] = [
        {"name": "deploy-key", "file": "deploy-key"},
        {"name": "registry", "env": "PAYMENTS_REGISTRY_AUTH"},
        {"name": "webhook", "env": "PAYMENTS_WEBHOOK_SECRET"},
    ]


def _platform_with_scp_git_url(spec: dict[str, Any]) -> None:
    spec["spec"]["pipelines"]["gitUrl"] = SCP_GIT_URL
    spec["spec"]["pipelines"]["gitKnownHosts"] = [f"git.example.com ssh-ed25519 {HOST_KEY}"]
    spec["spec"]["tooling"]["applications"][0]["repoURL"] = SCP_GIT_URL


def _platform_without_deploy_stages(spec: dict[str, Any]) -> None:
    spec["spec"]["pipelines"]["deployTo"] = []


def _platform_without_pipelines(spec: dict[str, Any]) -> None:
    spec["spec"]["pipelines"] = {"enabled": False}


def _small_team_with_tools_and_applications(spec: dict[str, Any]) -> None:
    spec["spec"]["tooling"] = {
        "tools": [
            {"name": "nexus"},
            {"name": "sonarqube", "stage": "dev"},
            {"name": "pact-broker"},
        ],
        "applications": [
            {
                "name": "web",
                "stage": "test",
                "repoURL": "git@git.example.com:payments/web-deploy.git",
                "path": "overlays/test",
                "credentialsSecret": "deploy-key",
            },
            {
                "name": "cache",
                "stage": "dev",
                "repoURL": "https://charts.example.com/",
                "chart": "redis",
                "targetRevision": "19.0.1",
                "values": {"replica": {"replicaCount": 1}},
                "credentialsSecret": "charts",
                "credentialsUsername": "payments-robot",
            },
        ],
    }
    spec["spec"]["secrets"] = [
        {"name": "deploy-key", "file": "deploy-key"},
        {"name": "charts", "env": "PAYMENTS_CHARTS_PASSWORD"},
    ]


# case -> (example, change to its spec, frozen, kinds the case must render)
CASES: dict[str, tuple[str, Callable[[dict[str, Any]], None] | None, bool, set[str]]] = {
    "small-team": ("small-team.yaml", None, False, TEKTON),
    "openshift-platform": ("openshift-platform.yaml", None, False, TEKTON | TRIGGERS | ARGOCD),
    "openshift-platform-frozen": (
        "openshift-platform.yaml",
        None,
        True,
        TEKTON | TRIGGERS | ARGOCD,
    ),
    "small-team-ssh-git-gitlab-webhook": (
        "small-team.yaml",
        _small_team_with_ssh_git_and_a_gitlab_webhook,
        False,
        TEKTON | TRIGGERS,
    ),
    "openshift-platform-scp-git-url": (
        "openshift-platform.yaml",
        _platform_with_scp_git_url,
        False,
        TEKTON | TRIGGERS | ARGOCD,
    ),
    "openshift-platform-no-deploy-stages": (
        "openshift-platform.yaml",
        _platform_without_deploy_stages,
        False,
        TEKTON | TRIGGERS | ARGOCD,
    ),
    "openshift-platform-pipelines-off": (
        "openshift-platform.yaml",
        _platform_without_pipelines,
        False,
        ARGOCD,
    ),
    "small-team-tools-and-applications": (
        "small-team.yaml",
        _small_team_with_tools_and_applications,
        False,
        TEKTON | ARGOCD,
    ),
}
UPSTREAM_GROUPS = ("tekton.dev", "triggers.tekton.dev", "argoproj.io")


class KnownFailure(Exception):
    """The validator rejected an object with exactly the messages KNOWN_FAILING lists."""


def _render_case(case: str, work: Path) -> Path:
    example, change, frozen, _ = CASES[case]
    spec = yaml.safe_load((EXAMPLES / example).read_text(encoding="utf-8"))
    if change is not None:
        change(spec)
    spec_path = work / f"{case}.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    rendering = render(api.load_spec(spec_path), frozen=frozen)
    return api.write_rendering(rendering, work / "manifests", "manifests").directory


def _object_id(case: str, obj: dict[str, Any]) -> str:
    return f"{case}: {obj['kind']} {obj['namespace']}/{obj['name']}"


@functools.cache
def _rendered_objects(case: str) -> tuple[dict[str, str], ...]:
    """The Tekton and Argo CD objects of a case (kind, namespace, name), at collection time."""
    with tempfile.TemporaryDirectory() as work:
        directory = _render_case(case, Path(work))
        objects = []
        for path in sorted(directory.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if doc and doc["apiVersion"].split("/")[0] in UPSTREAM_GROUPS:
                    meta = doc["metadata"]
                    objects.append(
                        {"kind": doc["kind"], "namespace": meta["namespace"], "name": meta["name"]}
                    )
    return tuple(objects)


def _object_params() -> list[Any]:
    params = []
    for case in CASES:
        for obj in _rendered_objects(case):
            object_id = _object_id(case, obj)
            marks = ()
            if object_id in KNOWN_FAILING:
                reason = "; ".join(KNOWN_FAILING[object_id])
                marks = (pytest.mark.xfail(strict=True, reason=reason, raises=KnownFailure),)
            params.append(pytest.param(object_id, id=object_id, marks=marks))
    return params


@pytest.fixture(scope="session")
def upstream_results(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], dict[str, dict[str, Any]]]:
    """Validator results of a case by object id; each case rendered and validated once."""

    @functools.cache
    def results(case: str) -> dict[str, dict[str, Any]]:
        directory = _render_case(case, tmp_path_factory.mktemp(case))
        found = validate(sorted(directory.glob("*.yaml")))
        return {_object_id(case, result): result for result in found}

    return results


@pytest.mark.parametrize("object_id", _object_params())
def test_upstream_validators_accept_rendered_object(
    object_id: str, upstream_results: Callable[[str], dict[str, dict[str, Any]]]
) -> None:
    case = object_id.split(":", maxsplit=1)[0]
    result = upstream_results(case)[object_id]
    errors = result["errors"]
    if not errors:
        assert result["ok"] is True
        return
    assert tuple(errors) == KNOWN_FAILING.get(object_id, ()), (
        f"{object_id} is rejected; update KNOWN_FAILING only if a template is meant to fail"
    )
    raise KnownFailure("\n".join(errors))


@pytest.mark.parametrize("case", CASES)
def test_validators_report_every_upstream_object_of_each_case(
    case: str, upstream_results: Callable[[str], dict[str, dict[str, Any]]]
) -> None:
    rendered = {_object_id(case, obj) for obj in _rendered_objects(case)}
    assert set(upstream_results(case)) == rendered
    assert {obj["kind"] for obj in _rendered_objects(case)} == CASES[case][3]


def test_known_failing_lists_only_rendered_objects() -> None:
    rendered = {_object_id(case, obj) for case in CASES for obj in _rendered_objects(case)}
    assert sorted(set(KNOWN_FAILING) - rendered) == []


def test_validators_reject_broken_tekton_and_argocd_objects(tmp_path: Path) -> None:
    """The harness is not vacuous: each validator rejects what its upstream rejects."""
    manifests = tmp_path / "broken.yaml"
    manifests.write_text(
        """\
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: build, namespace: ci}
spec:
  params: [{name: image, type: string}]
  steps: [{name: build, image: alpine, script: "echo $(params.image)"}]
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: release, namespace: ci}
spec:
  tasks: [{name: build, taskRef: {name: build}}]
  unknownField: true
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: team, namespace: argocd}
spec:
  sourceRepos: [https://git.example.com/team/deploy.git]
  destinations: [{server: https://kubernetes.default.svc, namespace: team-dev}]
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web, namespace: argocd}
spec:
  project: team
  source: {repoURL: https://git.example.com/other/deploy.git, path: dev}
  destination: {server: https://kubernetes.default.svc, namespace: kube-system}
""",
        encoding="utf-8",
    )
    results = {(r["kind"], r["name"]): r for r in validate([manifests])}
    assert results["Task", "build"]["ok"] is True
    assert results["Pipeline", "release"]["errors"] == [
        'unknown field "spec.unknownField"',
        "PipelineRun giving the Pipeline's required params (no TriggerTemplate in the input "
        "runs this Pipeline): invalid input params for task build: missing values for these params "
        "which have no default values: [image]",
    ]
    assert results["AppProject", "team"]["ok"] is True
    assert results["Application", "web"]["errors"] == [
        "application repo https://git.example.com/other/deploy.git is not permitted in project "
        "'team'",
        "application destination server 'https://kubernetes.default.svc' and namespace "
        "'kube-system' do not match any of the allowed destinations in project 'team'",
    ]
