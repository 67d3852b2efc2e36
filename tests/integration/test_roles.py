"""The roles and playbooks, run with plain ansible-playbook against the real control plane."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from labsctl import load_spec, naming, render
from labsctl.sandbox.controlplane import ControlPlane
from tests.conftest import ControlPlanes, api_client
from tests.integration.playbooks import run_playbook, write_inventory, write_spec

pytestmark = pytest.mark.integration


def _get(k8s: client.ApiClient, obj: dict[str, Any]) -> Any:
    resource = dynamic.DynamicClient(k8s).resources.get(
        api_version=obj["apiVersion"], kind=obj["kind"]
    )
    return resource.get(name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"))


def _allowed(
    k8s: client.ApiClient,
    namespace: str,
    verb: str,
    resource: str,
    *,
    user: str = "nobody",
    groups: tuple[str, ...] = (),
    group: str = "",
    subresource: str = "",
) -> bool:
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=user,
            groups=list(groups),
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace,
                verb=verb,
                group=group,
                resource=resource,
                subresource=subresource or None,
            ),
        )
    )
    return bool(client.AuthorizationV1Api(k8s).create_subject_access_review(review).status.allowed)


@pytest.fixture
def openshift_residency(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path
) -> tuple[str, Path, Path]:
    """The OpenShift example under a unique name, bootstrapped; (name, spec, inventory)."""
    spec = write_spec(tmp_path, residency_name, "openshift-platform")
    inventory = write_inventory(tmp_path, [spec])
    run = run_playbook("bootstrap.yml", inventory, admin_kubeconfig)
    assert run.rc == 0, run.failure(residency_name) or run.stderr
    return residency_name, spec, inventory


def test_bootstrap_creates_every_rendered_object_with_ownership_labels(
    openshift_residency: tuple[str, Path, Path], k8s: client.ApiClient
) -> None:
    name, spec, _ = openshift_residency
    objects = render(load_spec(spec)).objects(lambda _condition: True)
    assert len(objects) > 40
    for obj in objects:
        found = _get(k8s, obj)
        labels = dict(found.metadata.labels)
        assert labels[naming.LABEL_MANAGED_BY] == "labsctl", obj["metadata"]["name"]
        assert labels[naming.LABEL_RESIDENCY] == name
        assert found.metadata.annotations[naming.ANNOTATION_END] == "2026-12-18"


def test_second_bootstrap_changes_nothing(
    openshift_residency: tuple[str, Path, Path], admin_kubeconfig: Path
) -> None:
    name, _, inventory = openshift_residency
    again = run_playbook("bootstrap.yml", inventory, admin_kubeconfig)
    assert again.rc == 0
    assert again.stats(name)["changed"] == 0
    assert {entry["action"] for entry in again.applied(name)} == {"unchanged"}


def test_changing_one_quota_value_changes_only_that_quota(
    openshift_residency: tuple[str, Path, Path], admin_kubeconfig: Path, tmp_path: Path
) -> None:
    name, spec, _ = openshift_residency
    data = yaml.safe_load(spec.read_text())
    data["spec"]["stages"][3]["quota"]["hard"]["pods"] = "31"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    inventory = write_inventory(tmp_path, [spec], "changed")
    run = run_playbook("bootstrap.yml", inventory, admin_kubeconfig)
    assert run.rc == 0
    touched = [
        (e["kind"], e["namespace"], e["name"])
        for e in run.applied(name)
        if e["action"] != "unchanged"
    ]
    assert touched == [("ResourceQuota", f"{name}-staging", "labsctl-quota")]


def test_check_mode_on_a_new_residency_reports_and_changes_nothing(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    inventory = write_inventory(
        tmp_path, [write_spec(tmp_path, residency_name, "openshift-platform")]
    )
    run = run_playbook("bootstrap.yml", inventory, admin_kubeconfig, "--check", "--diff")
    assert run.rc == 0, run.failure(residency_name)
    actions = {entry["action"] for entry in run.applied(residency_name)}
    assert actions == {"created"}
    assert len(run.applied(residency_name)) > 40
    selector = naming.owner_selector(residency_name)
    assert client.CoreV1Api(k8s).list_namespace(label_selector=selector).items == []


def test_team_members_can_do_what_their_role_allows_and_nothing_more(
    openshift_residency: tuple[str, Path, Path], k8s: client.ApiClient
) -> None:
    name, _, _ = openshift_residency
    engineers = (f"{name}-mobile-banking-engineers",)
    leads = (f"{name}-mobile-banking-leads",)
    dev, staging = f"{name}-dev", f"{name}-staging"
    # hugo: view everywhere
    assert _allowed(k8s, dev, "list", "pods", user="hugo")
    assert not _allowed(k8s, dev, "create", "deployments", user="hugo", group="apps")
    # engineers: edit, capped to view in staging
    assert _allowed(k8s, dev, "create", "deployments", user="dana", groups=engineers, group="apps")
    assert not _allowed(
        k8s, staging, "create", "deployments", user="dana", groups=engineers, group="apps"
    )
    assert _allowed(k8s, staging, "list", "pods", user="dana", groups=engineers)
    # leads: admin (may grant roles in the namespace), capped to view in staging
    assert _allowed(
        k8s,
        dev,
        "create",
        "rolebindings",
        user="gina",
        groups=leads,
        group="rbac.authorization.k8s.io",
    )
    assert not _allowed(
        k8s,
        staging,
        "create",
        "rolebindings",
        user="gina",
        groups=leads,
        group="rbac.authorization.k8s.io",
    )
    # nothing outside the residency, nothing cluster-wide
    assert not _allowed(k8s, "default", "list", "pods", user="gina", groups=leads)
    assert not _allowed(k8s, "", "list", "namespaces", user="gina", groups=leads)
    # The one cluster-wide binding is the push listener's read of Triggers' cluster kinds.
    bindings = client.RbacAuthorizationV1Api(k8s).list_cluster_role_binding(
        label_selector=naming.owner_selector(name)
    )
    assert [(s.kind, s.namespace, s.name) for b in bindings.items for s in b.subjects] == [
        ("ServiceAccount", f"{name}-ci-cd", "event-listener")
    ]
    listener = f"system:serviceaccount:{name}-ci-cd:event-listener"
    listener_groups = ("system:serviceaccounts", f"system:serviceaccounts:{name}-ci-cd")
    assert _allowed(
        k8s,
        "",
        "list",
        "clusterinterceptors",
        user=listener,
        groups=listener_groups,
        group="triggers.tekton.dev",
    )
    for namespace in ("default", f"{name}-ci-cd"):
        assert not _allowed(
            k8s, namespace, "list", "secrets", user=listener, groups=listener_groups
        )


def test_pipeline_account_deploys_only_to_the_allowed_stages(
    openshift_residency: tuple[str, Path, Path], k8s: client.ApiClient
) -> None:
    name, _, _ = openshift_residency
    account = f"system:serviceaccount:{name}-ci-cd:pipeline"
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{name}-ci-cd")
    for stage in ("dev", "test", "staging"):
        assert _allowed(
            k8s,
            f"{name}-{stage}",
            "create",
            "deployments",
            user=account,
            groups=groups,
            group="apps",
        ), stage
    for namespace in (f"{name}-ci-cd", "default"):
        assert not _allowed(
            k8s, namespace, "create", "deployments", user=account, groups=groups, group="apps"
        ), namespace
    # Workloads of the deploy stages may pull images built in ci-cd (OpenShift image-puller).
    puller = (f"system:serviceaccounts:{name}-dev",)
    assert _allowed(
        k8s,
        f"{name}-ci-cd",
        "get",
        "imagestreams",
        user="x",
        groups=puller,
        group="image.openshift.io",
        subresource="layers",
    )


def test_network_policies_isolate_each_stage(
    openshift_residency: tuple[str, Path, Path], k8s: client.ApiClient
) -> None:
    name, _, _ = openshift_residency
    networking = client.NetworkingV1Api(k8s)
    dev = {
        p.metadata.name: p for p in networking.list_namespaced_network_policy(f"{name}-dev").items
    }
    assert set(dev) == {
        "default-deny-ingress",
        "allow-same-namespace",
        "allow-from-ci-cd",
        "allow-from-ingress",
    }
    assert dev["default-deny-ingress"].spec.ingress is None
    assert dev["default-deny-ingress"].spec.pod_selector.match_labels is None
    peer = dev["allow-from-ci-cd"].spec.ingress[0]._from[0].namespace_selector.match_labels
    assert peer == {"kubernetes.io/metadata.name": f"{name}-ci-cd"}
    ingress = dev["allow-from-ingress"].spec.ingress[0]._from
    assert ingress[0].namespace_selector.match_labels == {
        "network.openshift.io/policy-group": "ingress"
    }
    assert ingress[1].namespace_selector.match_expressions[0].values == ["openshift-ingress"]
    cicd = {
        p.metadata.name for p in networking.list_namespaced_network_policy(f"{name}-ci-cd").items
    }
    assert "allow-from-ci-cd" not in cicd


def test_openshift_extras_appear_on_the_openshift_like_cluster(
    openshift_residency: tuple[str, Path, Path], k8s: client.ApiClient
) -> None:
    name, _, _ = openshift_residency
    custom = client.CustomObjectsApi(k8s)
    group = custom.get_cluster_custom_object(
        "user.openshift.io", "v1", "groups", f"{name}-mobile-banking-engineers"
    )
    assert group["users"] == ["dana", "erik", "farah"]
    template = custom.get_namespaced_custom_object(
        "triggers.tekton.dev", "v1beta1", f"{name}-ci-cd", "triggertemplates", "build-and-deploy"
    )
    assert template["spec"]["resourcetemplates"][0]["kind"] == "PipelineRun"
    project = custom.get_namespaced_custom_object(
        "argoproj.io", "v1alpha1", "openshift-gitops", "appprojects", name
    )
    assert {d["namespace"] for d in project["spec"]["destinations"]} == {
        f"{name}-{s}" for s in ("ci-cd", "dev", "test", "staging")
    }
    apps = custom.list_namespaced_custom_object(
        "argoproj.io",
        "v1alpha1",
        "openshift-gitops",
        "applications",
        label_selector=naming.owner_selector(name),
    )
    assert sorted(a["metadata"]["name"] for a in apps["items"]) == [
        f"{name}-nexus",
        f"{name}-onboarding-api",
        f"{name}-sonarqube",
    ]


def test_verify_names_what_is_missing_or_different(
    openshift_residency: tuple[str, Path, Path], admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    name, _, inventory = openshift_residency
    assert run_playbook("verify.yml", inventory, admin_kubeconfig).rc == 0
    client.RbacAuthorizationV1Api(k8s).delete_namespaced_role_binding("team-edit", f"{name}-dev")
    client.CoreV1Api(k8s).patch_namespaced_resource_quota(
        "labsctl-quota", f"{name}-dev", {"spec": {"hard": {"pods": "999"}}}
    )
    run = run_playbook("verify.yml", inventory, admin_kubeconfig)
    assert run.rc != 0
    message = run.failure(name)
    assert f"missing: RoleBinding {name}-dev/team-edit" in message
    assert f"differs: ResourceQuota {name}-dev/labsctl-quota" in message
    healed = run_playbook("bootstrap.yml", inventory, admin_kubeconfig)
    assert healed.rc == 0
    assert run_playbook("verify.yml", inventory, admin_kubeconfig).rc == 0
    quota = client.CoreV1Api(k8s).read_namespaced_resource_quota("labsctl-quota", f"{name}-dev")
    assert quota.spec.hard["pods"] == "20"


def test_bootstrap_refuses_an_unowned_namespace_with_the_same_name(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    core = client.CoreV1Api(k8s)
    taken = f"{residency_name}-dev"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=taken, labels={"owner": "someone-else"})
        )
    )
    try:
        inventory = write_inventory(tmp_path, [write_spec(tmp_path, residency_name)])
        run = run_playbook("bootstrap.yml", inventory, admin_kubeconfig)
        assert run.rc != 0
        assert f"Namespace {taken}: exists and is not owned by this residency" in run.failure(
            residency_name
        )
        labels = core.read_namespace(taken).metadata.labels
        assert naming.LABEL_MANAGED_BY not in labels
        assert labels["owner"] == "someone-else"
    finally:
        core.delete_namespace(taken)


def test_teardown_removes_every_owned_object_and_spares_look_alikes(
    openshift_residency: tuple[str, Path, Path], admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    name, _, inventory = openshift_residency
    core = client.CoreV1Api(k8s)
    custom = client.CustomObjectsApi(k8s)
    lookalike = f"{name}-lookalike"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=lookalike)))
    custom.create_cluster_custom_object(
        "user.openshift.io",
        "v1",
        "groups",
        {
            "apiVersion": "user.openshift.io/v1",
            "kind": "Group",
            "metadata": {"name": f"{name}-other", "labels": {naming.LABEL_RESIDENCY: name}},
            "users": [],
        },
    )
    try:
        run = run_playbook("teardown.yml", inventory, admin_kubeconfig)
        assert run.rc == 0, run.failure(name)
        selector = naming.owner_selector(name)
        assert core.list_namespace(label_selector=selector).items == []
        assert (
            custom.list_cluster_custom_object(
                "user.openshift.io", "v1", "groups", label_selector=selector
            )["items"]
            == []
        )
        assert (
            custom.list_namespaced_custom_object(
                "argoproj.io",
                "v1alpha1",
                "openshift-gitops",
                "applications",
                label_selector=selector,
            )["items"]
            == []
        )
        # Not ours: a namespace with a similar name, a group carrying only part of our labels.
        assert core.read_namespace(lookalike).status.phase == "Active"
        custom.get_cluster_custom_object("user.openshift.io", "v1", "groups", f"{name}-other")
    finally:
        core.delete_namespace(lookalike)
        custom.delete_cluster_custom_object("user.openshift.io", "v1", "groups", f"{name}-other")


def test_one_inventory_applies_two_residencies(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    second = f"{residency_name}-b"
    specs = [write_spec(tmp_path, residency_name), write_spec(tmp_path, second)]
    inventory = write_inventory(tmp_path, specs)
    try:
        run = run_playbook("bootstrap.yml", inventory, admin_kubeconfig)
        assert run.rc == 0
        for name in (residency_name, second):
            assert run.stats(name)["failures"] == 0
            namespaces = (
                client.CoreV1Api(k8s)
                .list_namespace(label_selector=naming.owner_selector(name))
                .items
            )
            assert len(namespaces) == 3
    finally:
        assert run_playbook("teardown.yml", inventory, admin_kubeconfig).rc == 0


@pytest.fixture(scope="module")
def plain_kubernetes(control_planes: ControlPlanes) -> ControlPlane:
    return control_planes.get("kubernetes")


def test_plain_kubernetes_skips_tekton_and_argocd_objects(
    tmp_path: Path, residency_name: str, plain_kubernetes: ControlPlane
) -> None:
    kubeconfig = plain_kubernetes.admin_kubeconfig
    inventory = write_inventory(tmp_path, [write_spec(tmp_path, residency_name)])
    run = run_playbook("bootstrap.yml", inventory, kubeconfig)
    try:
        assert run.rc == 0, run.failure(residency_name)
        kinds = {entry["kind"] for entry in run.applied(residency_name)}
        assert kinds == {"Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "RoleBinding"}
        core = client.CoreV1Api(api_client(kubeconfig))
        with pytest.raises(ApiException):
            core.read_namespaced_service_account("pipeline", f"{residency_name}-ci-cd")
    finally:
        assert run_playbook("teardown.yml", inventory, kubeconfig).rc == 0


def test_required_pipelines_fail_with_one_clear_message_and_apply_nothing(
    tmp_path: Path, residency_name: str, plain_kubernetes: ControlPlane
) -> None:
    def require_pipelines(data: dict[str, Any]) -> None:
        data["spec"]["pipelines"]["enabled"] = True

    kubeconfig = plain_kubernetes.admin_kubeconfig
    spec = write_spec(tmp_path, residency_name, mutate=require_pipelines)
    run = run_playbook("bootstrap.yml", write_inventory(tmp_path, [spec]), kubeconfig)
    assert run.rc != 0
    message = run.failure(residency_name)
    assert "serves no Tekton API (tekton.dev/v1)" in message
    assert "nothing was applied" in message
    namespaces = (
        client.CoreV1Api(api_client(kubeconfig))
        .list_namespace(label_selector=naming.owner_selector(residency_name))
        .items
    )
    assert namespaces == []
