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
from labsctl.validators import validate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]  # a cold validator build

# The validator's messages for today's template defects, the same in every case.
# The deploy Task's `enum` needs the alpha flag enable-param-enum (off on a fresh install).
ENUM_NEEDS_ALPHA_FLAG = (
    "feature flag `enable-param-enum` should be set to true to use Enum: spec.params[namespace]"
)


# The Pipeline param feeding that Task param has no enum (a run-time error once the flag is on).
def _enum_not_subset(*task_enum: str) -> str:
    return (
        "PipelineRun created by TriggerTemplate build-and-deploy with the TriggerBindings of its "
        'namespace (git-push): pipeline param "deploy-namespace" has no enum, but referenced in '
        f'"deploy-manifests" task has enums: [{" ".join(task_enum)}] (the PipelineRun reconciler '
        "checks this only with enable-param-enum: true)"
    )


# No EventListener or Trigger uses the TriggerTemplate and the TriggerBinding.
TRIGGER_TEMPLATE_UNUSED = (
    "no Trigger or EventListener in the input uses this TriggerTemplate: no event ever creates "
    "its resources"
)
TRIGGER_BINDING_UNUSED = (
    "no Trigger or EventListener in the input uses this TriggerBinding: its params reach no "
    "TriggerTemplate"
)
# Nothing sets the TriggerTemplate's `image` param.
TRIGGER_TEMPLATE_IMAGE_UNSET = (
    "resources with the TriggerBindings of its namespace (git-push): resourcetemplates[0] "
    '(PipelineRun) keeps the literal $(tt.params.image): param "image" has no default and no '
    "TriggerBinding sets it"
)

# "<case>: <Kind> <namespace>/<name>" -> the validator's errors for that object, in its order.
# Remove an entry when a template fix makes its (strict xfail) test pass.
KNOWN_FAILING: dict[str, tuple[str, ...]] = {
    "small-team: Task payments-ci-cd/deploy-manifests": (ENUM_NEEDS_ALPHA_FLAG,),
    "small-team: Pipeline payments-ci-cd/build-and-deploy": (
        _enum_not_subset("payments-dev", "payments-test"),
    ),
    "small-team: TriggerTemplate payments-ci-cd/build-and-deploy": (
        TRIGGER_TEMPLATE_UNUSED,
        TRIGGER_TEMPLATE_IMAGE_UNSET,
    ),
    "small-team: TriggerBinding payments-ci-cd/git-push": (TRIGGER_BINDING_UNUSED,),
    "openshift-platform: Task mobile-banking-ci-cd/deploy-manifests": (ENUM_NEEDS_ALPHA_FLAG,),
    "openshift-platform: Pipeline mobile-banking-ci-cd/build-and-deploy": (
        _enum_not_subset("mobile-banking-dev", "mobile-banking-test", "mobile-banking-staging"),
    ),
    "openshift-platform: TriggerTemplate mobile-banking-ci-cd/build-and-deploy": (
        TRIGGER_TEMPLATE_UNUSED,
        TRIGGER_TEMPLATE_IMAGE_UNSET,
    ),
    "openshift-platform: TriggerBinding mobile-banking-ci-cd/git-push": (TRIGGER_BINDING_UNUSED,),
    "small-team-ssh-git-url: Task payments-ci-cd/deploy-manifests": (ENUM_NEEDS_ALPHA_FLAG,),
    "small-team-ssh-git-url: Pipeline payments-ci-cd/build-and-deploy": (
        _enum_not_subset("payments-test"),
    ),
    "small-team-ssh-git-url: TriggerTemplate payments-ci-cd/build-and-deploy": (
        TRIGGER_TEMPLATE_UNUSED,
        TRIGGER_TEMPLATE_IMAGE_UNSET,
    ),
    "small-team-ssh-git-url: TriggerBinding payments-ci-cd/git-push": (TRIGGER_BINDING_UNUSED,),
    "openshift-platform-scp-git-url: Task mobile-banking-ci-cd/deploy-manifests": (
        ENUM_NEEDS_ALPHA_FLAG,
    ),
    "openshift-platform-scp-git-url: Pipeline mobile-banking-ci-cd/build-and-deploy": (
        _enum_not_subset("mobile-banking-dev", "mobile-banking-test", "mobile-banking-staging"),
    ),
    "openshift-platform-scp-git-url: TriggerTemplate mobile-banking-ci-cd/build-and-deploy": (
        TRIGGER_TEMPLATE_UNUSED,
        TRIGGER_TEMPLATE_IMAGE_UNSET,
    ),
    "openshift-platform-scp-git-url: TriggerBinding mobile-banking-ci-cd/git-push": (
        TRIGGER_BINDING_UNUSED,
    ),
    "small-team-tools-and-applications: Task payments-ci-cd/deploy-manifests": (
        ENUM_NEEDS_ALPHA_FLAG,
    ),
    "small-team-tools-and-applications: Pipeline payments-ci-cd/build-and-deploy": (
        _enum_not_subset("payments-dev", "payments-test"),
    ),
    "small-team-tools-and-applications: TriggerTemplate payments-ci-cd/build-and-deploy": (
        TRIGGER_TEMPLATE_UNUSED,
        TRIGGER_TEMPLATE_IMAGE_UNSET,
    ),
    "small-team-tools-and-applications: TriggerBinding payments-ci-cd/git-push": (
        TRIGGER_BINDING_UNUSED,
    ),
}

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SSH_GIT_URL = "ssh://git@git.example.com/payments/api.git"
SCP_GIT_URL = "git@git.example.com:mobile/onboarding.git"


def _small_team_with_ssh_pipelines(spec: dict[str, Any]) -> None:
    spec["spec"]["pipelines"] = {"enabled": True, "gitUrl": SSH_GIT_URL, "deployTo": ["test"]}


def _platform_with_scp_git_url(spec: dict[str, Any]) -> None:
    spec["spec"]["pipelines"]["gitUrl"] = SCP_GIT_URL
    spec["spec"]["tooling"]["applications"][0]["repoURL"] = SCP_GIT_URL


def _small_team_with_tools_and_applications(spec: dict[str, Any]) -> None:
    spec["spec"]["tooling"] = {
        "tools": [
            {"name": "nexus"},
            {"name": "sonarqube", "stage": "dev", "version": "10.7.0"},
            {"name": "pact-broker"},
        ],
        "applications": [
            {
                "name": "web",
                "stage": "test",
                "repoURL": "git@git.example.com:payments/web-deploy.git",
                "path": "overlays/test",
            },
            {
                "name": "cache",
                "stage": "dev",
                "repoURL": "https://charts.example.com/",
                "chart": "redis",
                "targetRevision": "19.0.1",
                "values": {"replica": {"replicaCount": 1}},
            },
        ],
    }


# case -> (example, change to its spec, kinds the case must render)
CASES: dict[str, tuple[str, Callable[[dict[str, Any]], None] | None, set[str]]] = {
    "small-team": (
        "small-team.yaml",
        None,
        {"Task", "Pipeline", "TriggerTemplate", "TriggerBinding"},
    ),
    "openshift-platform": (
        "openshift-platform.yaml",
        None,
        {"Task", "Pipeline", "TriggerTemplate", "TriggerBinding", "AppProject", "Application"},
    ),
    "small-team-ssh-git-url": (
        "small-team.yaml",
        _small_team_with_ssh_pipelines,
        {"Task", "Pipeline", "TriggerTemplate", "TriggerBinding"},
    ),
    "openshift-platform-scp-git-url": (
        "openshift-platform.yaml",
        _platform_with_scp_git_url,
        {"Task", "Pipeline", "TriggerTemplate", "TriggerBinding", "AppProject", "Application"},
    ),
    "small-team-tools-and-applications": (
        "small-team.yaml",
        _small_team_with_tools_and_applications,
        {"Task", "Pipeline", "TriggerTemplate", "TriggerBinding", "AppProject", "Application"},
    ),
}
UPSTREAM_GROUPS = ("tekton.dev", "triggers.tekton.dev", "argoproj.io")


class KnownFailure(Exception):
    """The validator rejected an object with exactly the messages KNOWN_FAILING lists."""


def _render_case(case: str, work: Path) -> Path:
    example, change, _ = CASES[case]
    spec = yaml.safe_load((EXAMPLES / example).read_text(encoding="utf-8"))
    if change is not None:
        change(spec)
    spec_path = work / f"{case}.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    result = api.render_spec(spec_path, work / "manifests", "manifests")
    return result.directory


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
    assert {obj["kind"] for obj in _rendered_objects(case)} == CASES[case][2]


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
        "PipelineRun with the Pipeline's param defaults (no TriggerTemplate in the input runs "
        "this Pipeline): invalid input params for task build: missing values for these params "
        "which have no default values: [image]",
    ]
    assert results["AppProject", "team"]["ok"] is True
    assert results["Application", "web"]["errors"] == [
        "application repo https://git.example.com/other/deploy.git is not permitted in project "
        "'team'",
        "application destination server 'https://kubernetes.default.svc' and namespace "
        "'kube-system' do not match any of the allowed destinations in project 'team'",
    ]
