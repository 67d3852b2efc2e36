"""The local control plane is a real one: its controllers act, RBAC decides, CRD schemas reject."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from labsctl.sandbox import controlplane as cp_module
from labsctl.sandbox.build import ensure_binaries
from labsctl.sandbox.controlplane import ControlPlane
from tests.conftest import ControlPlanes, api_client, wait_for

pytestmark = pytest.mark.integration


def _namespace(core: client.CoreV1Api, prefix: str = "cp") -> str:
    name = f"{prefix}-{secrets.token_hex(4)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def test_deleted_namespace_with_a_configmap_really_disappears(k8s: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s)
    name = _namespace(core)
    core.create_namespaced_config_map(
        name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="data"), data={"k": "v"})
    )
    core.delete_namespace(name)

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as exc:
            return exc.status == 404
        return False

    assert wait_for(gone, timeout=60), "the namespace controller did not finalise the namespace"


def test_resourcequota_gets_hard_and_used_status(k8s: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s)
    name = _namespace(core)
    hard = {"configmaps": "10", "pods": "5"}
    try:

        def used_configmaps() -> int:
            status = core.read_namespaced_resource_quota("q", name).status
            return int(((status.used or {}) if status else {}).get("configmaps", "-1"))

        def config_maps() -> list[str]:
            return [c.metadata.name for c in core.list_namespaced_config_map(name).items]

        # Kubernetes puts kube-root-ca.crt in every namespace; the quota comes after it, so the
        # controller's first count normally includes it. That count comes from the controller's
        # cache, which on a busy machine may lag and miss it, and a ConfigMap missed there is
        # only recounted at the periodic resync (minutes): the baseline is the first count,
        # whatever it is, and what this test proves is that our own ConfigMap adds one.
        assert wait_for(lambda: "kube-root-ca.crt" in config_maps(), timeout=60)
        core.create_namespaced_resource_quota(
            name,
            client.V1ResourceQuota(
                metadata=client.V1ObjectMeta(name="q"), spec=client.V1ResourceQuotaSpec(hard=hard)
            ),
        )
        assert wait_for(lambda: used_configmaps() >= 0, timeout=60)  # counted once
        baseline = used_configmaps()

        core.create_namespaced_config_map(
            name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="counted"))
        )

        # The controller recounts asynchronously: our ConfigMap, and only it, adds one.
        assert wait_for(lambda: used_configmaps() == baseline + 1, timeout=60), (
            f"used configmaps stayed {used_configmaps()}, expected {baseline + 1}"
        )
        status = core.read_namespaced_resource_quota("q", name).status
        assert status.hard == hard
        assert sorted(config_maps()) == sorted(["kube-root-ca.crt", "counted"])
        assert int(status.used["configmaps"]) == baseline + 1
    finally:
        core.delete_namespace(name)


def test_edit_clusterrole_has_aggregated_rules(k8s: client.ApiClient) -> None:
    rbac = client.RbacAuthorizationV1Api(k8s)

    def aggregated() -> bool:
        rules = rbac.read_cluster_role("edit").rules or []
        return any("deployments" in (rule.resources or []) for rule in rules)

    assert wait_for(aggregated, timeout=60)
    assert rbac.read_cluster_role("edit").aggregation_rule is not None


def test_new_namespace_gets_default_serviceaccount_and_root_ca(k8s: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s)
    name = _namespace(core)
    try:

        def furnished() -> bool:
            try:
                core.read_namespaced_service_account("default", name)
                core.read_namespaced_config_map("kube-root-ca.crt", name)
            except ApiException:
                return False
            return True

        assert wait_for(furnished, timeout=60)
    finally:
        core.delete_namespace(name)


def test_limited_user_is_denied_until_a_rolebinding_allows_it(
    k8s: client.ApiClient, limited_kubeconfig: Path
) -> None:
    admin_core = client.CoreV1Api(k8s)
    name = _namespace(admin_core)
    user_core = client.CoreV1Api(api_client(limited_kubeconfig))
    try:
        with pytest.raises(ApiException) as denied:
            user_core.list_namespaced_config_map(name)
        assert denied.value.status == 403
        client.RbacAuthorizationV1Api(k8s).create_namespaced_role_binding(
            name,
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="limited-view"),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"
                ),
                subjects=[
                    client.RbacV1Subject(
                        kind="User", name="limited-user", api_group="rbac.authorization.k8s.io"
                    )
                ],
            ),
        )
        assert wait_for(lambda: _can_list(user_core, name), timeout=30)
        # view allows reading, not writing.
        with pytest.raises(ApiException) as write_denied:
            user_core.create_namespaced_config_map(
                name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"))
            )
        assert write_denied.value.status == 403
        # and nothing outside the namespace.
        with pytest.raises(ApiException) as cluster_denied:
            user_core.list_namespace()
        assert cluster_denied.value.status == 403
    finally:
        admin_core.delete_namespace(name)


def _can_list(core: client.CoreV1Api, namespace: str) -> bool:
    try:
        core.list_namespaced_config_map(namespace)
    except ApiException:
        return False
    return True


def _application(spec: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": f"app-{secrets.token_hex(3)}"},
        "spec": spec,
    }


def test_crd_object_with_an_invalid_field_is_rejected(k8s: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(k8s)
    core = client.CoreV1Api(k8s)
    name = _namespace(core)
    good = {
        "project": "default",
        "source": {"repoURL": "https://example.com/r.git", "path": "."},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
    }
    try:
        created = custom.create_namespaced_custom_object(
            "argoproj.io",
            "v1alpha1",
            name,
            "applications",
            _application(good),
            field_validation="Strict",
        )
        assert created["spec"]["project"] == "default"
        with pytest.raises(ApiException) as unknown:
            custom.create_namespaced_custom_object(
                "argoproj.io",
                "v1alpha1",
                name,
                "applications",
                _application({**good, "sauce": "tomato"}),
                field_validation="Strict",
            )
        assert unknown.value.status in (400, 422)
        assert "sauce" in unknown.value.body
        with pytest.raises(ApiException) as wrong_type:
            custom.create_namespaced_custom_object(
                "argoproj.io",
                "v1alpha1",
                name,
                "applications",
                _application({**good, "project": 42}),
            )
        assert wrong_type.value.status == 422
    finally:
        core.delete_namespace(name)


@pytest.mark.parametrize(
    ("flavour", "present", "absent"),
    [
        ("kubernetes", [], ["tekton.dev", "argoproj.io", "user.openshift.io"]),
        ("tekton-argocd", ["tekton.dev", "argoproj.io"], ["user.openshift.io"]),
        ("openshift", ["tekton.dev", "argoproj.io", "user.openshift.io", "route.openshift.io"], []),
    ],
)
def test_each_flavour_serves_exactly_its_apis(
    control_planes: ControlPlanes, flavour: str, present: list[str], absent: list[str]
) -> None:
    plane = control_planes.get(flavour)
    groups = {
        g.name for g in client.ApisApi(api_client(plane.admin_kubeconfig)).get_api_versions().groups
    }
    assert set(present) <= groups
    assert not set(absent) & groups


def test_lost_port_race_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    real = cp_module.free_port
    calls = {"n": 0}

    def first_busy() -> int:
        calls["n"] += 1
        return busy if calls["n"] == 2 else real()  # the API server's first port is taken

    monkeypatch.setattr(cp_module, "free_port", first_busy)
    plane = ControlPlane(tmp_path / "cp", binaries=ensure_binaries())
    try:
        state = plane.start()
        assert state.api_port != busy
        assert plane.healthy()
    finally:
        plane.stop()
        taken.close()
    assert plane.running() == {}
