"""`k8s_apply` never takes over an object it did not create, even when the object appears or
changes between its read and its write: the module's own code, against the real API server, with
the other writer stepping in exactly between the two requests."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from labsctl import naming

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "playbooks" / "collections"))

from ansible_collections.labsctl.residency.plugins.module_utils.client import (  # noqa: E402
    connect,
)
from ansible_collections.labsctl.residency.plugins.modules import k8s_apply  # noqa: E402

pytestmark = pytest.mark.integration
PARAMS = {
    "field_manager": naming.FIELD_MANAGER,
    "force_conflicts": True,
    "secret_values": {},
    "ownership_labels": [naming.LABEL_MANAGED_BY, naming.LABEL_RESIDENCY],
}


@pytest.fixture
def namespace(k8s: client.ApiClient, residency_name: str) -> Iterator[str]:
    core = client.CoreV1Api(k8s)
    name = f"{residency_name}-race"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=name,
                labels={naming.LABEL_MANAGED_BY: "labsctl", naming.LABEL_RESIDENCY: residency_name},
            )
        )
    )
    yield name


def _ours(residency: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "settings",
            "namespace": namespace,
            "labels": {naming.LABEL_MANAGED_BY: "labsctl", naming.LABEL_RESIDENCY: residency},
        },
        "data": data,
    }


def _cluster_stepping_in(kubeconfig: Path, step_in: Callable[[], None]) -> Any:
    """The module's cluster, whose first read is followed by someone else's write."""
    cluster = k8s_apply.Cluster(connect(str(kubeconfig), None))
    read = cluster.get
    calls = {"n": 0}

    def get(path: str) -> Any:
        found = read(path)
        calls["n"] += 1
        if calls["n"] == 1 and "/configmaps/" in path:
            step_in()
        return found

    cluster.get = get  # type: ignore[method-assign]
    return cluster


def test_an_object_created_by_someone_else_between_read_and_write_is_not_taken_over(
    admin_kubeconfig: Path, k8s: client.ApiClient, residency_name: str, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)

    def someone_creates_it() -> None:
        core.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name="settings", labels={"team": "theirs"}),
                data={"theirs": "yes"},
            ),
        )

    cluster = _cluster_stepping_in(admin_kubeconfig, someone_creates_it)
    with pytest.raises(k8s_apply.NotOwnedError, match="created by someone else"):
        k8s_apply.apply_one(cluster, _ours(residency_name, namespace, {"ours": "1"}), PARAMS, False)
    theirs = core.read_namespaced_config_map("settings", namespace)
    assert theirs.metadata.labels == {"team": "theirs"}
    assert theirs.data == {"theirs": "yes"}
    assert {f.manager for f in theirs.metadata.managed_fields} != {naming.FIELD_MANAGER}


def test_an_owned_object_disowned_between_read_and_write_is_left_alone(
    admin_kubeconfig: Path, k8s: client.ApiClient, residency_name: str, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    plain = k8s_apply.Cluster(connect(str(admin_kubeconfig), None))
    assert k8s_apply.apply_one(plain, _ours(residency_name, namespace, {"v": "1"}), PARAMS, False)[
        0
    ] == ("created")

    def someone_takes_it() -> None:
        core.patch_namespaced_config_map(
            "settings",
            namespace,
            [
                {"op": "remove", "path": "/metadata/labels"},
                {"op": "replace", "path": "/data", "value": {"v": "theirs"}},
            ],
        )

    cluster = _cluster_stepping_in(admin_kubeconfig, someone_takes_it)
    with pytest.raises(k8s_apply.NotOwnedError, match="not owned by this residency"):
        k8s_apply.apply_one(cluster, _ours(residency_name, namespace, {"v": "2"}), PARAMS, False)
    theirs = core.read_namespaced_config_map("settings", namespace)
    assert not theirs.metadata.labels
    assert theirs.data == {"v": "theirs"}


def test_a_created_object_is_owned_as_if_applied_and_a_rerun_changes_nothing(
    admin_kubeconfig: Path, k8s: client.ApiClient, residency_name: str, namespace: str
) -> None:
    cluster = k8s_apply.Cluster(connect(str(admin_kubeconfig), None))
    first = _ours(residency_name, namespace, {"a": "1", "b": "2"})
    assert k8s_apply.apply_one(cluster, first, PARAMS, False)[0] == "created"
    live = client.CoreV1Api(k8s).read_namespaced_config_map("settings", namespace)
    assert [(f.manager, f.operation) for f in live.metadata.managed_fields] == [
        (naming.FIELD_MANAGER, "Apply")
    ]
    assert k8s_apply.apply_one(cluster, first, PARAMS, False)[0] == "unchanged"
    # A field the spec no longer has is removed, as for any applied object.
    assert (
        k8s_apply.apply_one(cluster, _ours(residency_name, namespace, {"a": "1"}), PARAMS, False)[0]
        == "changed"
    )
    live = client.CoreV1Api(k8s).read_namespaced_config_map("settings", namespace)
    assert live.data == {"a": "1"}


def test_a_hand_edit_on_an_owned_object_is_taken_back(
    admin_kubeconfig: Path, k8s: client.ApiClient, residency_name: str, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    cluster = k8s_apply.Cluster(connect(str(admin_kubeconfig), None))
    desired = _ours(residency_name, namespace, {"v": "1"})
    k8s_apply.apply_one(cluster, desired, PARAMS, False)
    core.patch_namespaced_config_map("settings", namespace, {"data": {"v": "edited"}})
    assert k8s_apply.apply_one(cluster, desired, PARAMS, False)[0] == "changed"
    assert core.read_namespaced_config_map("settings", namespace).data == {"v": "1"}
