"""Which fields of a live object other field managers added (read from its `managedFields`), and
how each fieldsV1 path becomes a JSON patch removal: map keys, list items by merge keys (`k:`),
set items (`v:`), indices (`i:`); what is never foreign (status writers, our managers, fields of
the API server and controllers); what cannot be removed safely. The managedFields here have the
shape kube-apiserver gives (as read from the local control plane)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "playbooks" / "collections"))
from ansible_collections.labsctl.residency.plugins.module_utils.managed_fields import (
    describe,
    field_paths,
    foreign_paths,
    json_pointer,
    removals,
    remove_ops,
    without,
)

OURS = ("labsctl", "labsctl-last-apply")
OWNED_LABELS = {
    "f:app.kubernetes.io/managed-by": {},
    "f:labsctl.dev/residency": {},
}


def entry(
    manager: str, fields: dict[str, Any], operation: str = "Update", subresource: str = ""
) -> dict[str, Any]:
    found = {
        "manager": manager,
        "operation": operation,
        "apiVersion": "v1",
        "time": "2026-11-25T10:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if subresource:
        found["subresource"] = subresource
    return found


def applied(fields: dict[str, Any]) -> dict[str, Any]:
    return entry("labsctl", fields, operation="Apply")


def quota(hard: dict[str, str], *entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": "labsctl-quota",
            "namespace": "t-1-dev",
            "labels": {"app.kubernetes.io/managed-by": "labsctl", "labsctl.dev/residency": "t-1"},
            "resourceVersion": "42",
            "managedFields": [
                applied(
                    {
                        "f:metadata": {"f:labels": OWNED_LABELS},
                        "f:spec": {"f:hard": {"f:pods": {}, "f:limits.cpu": {}}},
                    }
                ),
                *entries,
            ],
        },
        "spec": {"hard": hard},
        "status": {"hard": hard, "used": {"pods": "0"}},
    }


def pointers_of(obj: dict[str, Any]) -> list[str]:
    found, untranslatable = removals(obj, foreign_paths(obj, OURS))[:2]
    assert not untranslatable
    return [json_pointer(p) for p in found]


def test_field_paths_are_the_leaves_and_the_self_markers() -> None:
    fields = {
        "f:metadata": {"f:labels": {".": {}, "f:team": {}}},
        "f:subjects": {},
        "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}},
    }
    assert field_paths(fields) == {
        ("f:metadata", "f:labels"),
        ("f:metadata", "f:labels", "f:team"),
        ("f:subjects",),
        ("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}'),
        ("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}', "f:port"),
    }


def test_a_quota_entry_added_by_kubectl_patch_is_foreign_and_removed_by_its_key() -> None:
    live = quota(
        {"pods": "20", "limits.cpu": "4", "services": "10"},
        entry("kubectl-patch", {"f:spec": {"f:hard": {"f:services": {}}}}),
    )
    assert foreign_paths(live, OURS) == [("f:spec", "f:hard", "f:services")]
    assert pointers_of(live) == ["/spec/hard/services"]
    found, untranslatable, described = removals(live, foreign_paths(live, OURS))
    assert (untranslatable, described) == ([], ["spec.hard.services"])
    assert without(live, found)["spec"]["hard"] == {"pods": "20", "limits.cpu": "4"}
    assert live["spec"]["hard"]["services"] == "10"  # the copy changed, not the object


def test_status_writers_never_count_even_for_fields_we_do_not_own() -> None:
    live = quota(
        {"pods": "20", "limits.cpu": "4"},
        entry(
            "kube-controller-manager",
            {"f:status": {"f:hard": {".": {}, "f:pods": {}}, "f:used": {"f:pods": {}}}},
            subresource="status",
        ),
        # even a status subresource entry that (by a bug or a CRD without a status schema)
        # names spec fields is not a writer of the object
        entry("a-controller", {"f:spec": {"f:hard": {"f:services": {}}}}, subresource="status"),
    )
    assert foreign_paths(live, OURS) == []


def test_status_written_through_the_main_resource_is_not_managed_either() -> None:
    live = quota(
        {"pods": "20", "limits.cpu": "4"},
        entry("argocd-application-controller", {"f:status": {"f:used": {"f:pods": {}}}}),
    )
    assert foreign_paths(live, OURS) == []


def test_labsctl_last_apply_annotations_are_not_foreign() -> None:
    live = quota({"pods": "20", "limits.cpu": "4"})
    live["metadata"]["annotations"] = {"labsctl.dev/last-apply": "2026-11-25T10:00:00Z"}
    live["metadata"]["managedFields"].append(
        entry(
            "labsctl-last-apply",
            {"f:metadata": {"f:annotations": {".": {}, "f:labsctl.dev/last-apply": {}}}},
        )
    )
    assert foreign_paths(live, OURS) == []


def test_server_set_metadata_and_other_metadata_fields_are_not_foreign() -> None:
    live = quota({"pods": "20", "limits.cpu": "4"})
    live["metadata"]["finalizers"] = ["example.com/keep"]
    live["metadata"]["ownerReferences"] = [{"uid": "1", "name": "x"}]
    live["metadata"]["managedFields"].append(
        entry(
            "someone",
            {
                "f:metadata": {
                    "f:finalizers": {".": {}, 'v:"example.com/keep"': {}},
                    "f:ownerReferences": {'k:{"uid":"1"}': {}},
                }
            },
        )
    )
    assert foreign_paths(live, OURS) == []


def namespace(*entries: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "t-1-dev",
            "labels": {
                "app.kubernetes.io/managed-by": "labsctl",
                "labsctl.dev/residency": "t-1",
                "kubernetes.io/metadata.name": "t-1-dev",
                **(labels or {}),
            },
            "annotations": {"openshift.io/sa.scc.uid-range": "1000/10000"},
            "managedFields": [
                applied({"f:metadata": {"f:labels": OWNED_LABELS}}),
                *entries,
            ],
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def test_fields_the_server_and_controllers_set_on_a_namespace_are_not_foreign() -> None:
    live = namespace(
        entry(
            "kubectl-create",  # the creator of a namespace made before labsctl applied it
            {
                "f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}},
                "f:spec": {"f:finalizers": {}},
            },
        ),
        entry(
            "cluster-policy-controller",
            {
                "f:metadata": {
                    "f:annotations": {".": {}, "f:openshift.io/sa.scc.uid-range": {}},
                    "f:labels": {"f:pod-security.kubernetes.io/audit": {}},
                }
            },
        ),
        entry("namespace-controller", {"f:status": {"f:phase": {}}}, subresource="status"),
        labels={"pod-security.kubernetes.io/audit": "restricted"},
    )
    assert foreign_paths(live, OURS) == []


def test_a_label_added_by_another_manager_is_foreign_and_its_key_escaped() -> None:
    live = namespace(
        entry("kubectl-label", {"f:metadata": {"f:labels": {"f:example.com/team": {}}}}),
        labels={"example.com/team": "theirs"},
    )
    assert pointers_of(live) == ["/metadata/labels/example.com~1team"]
    cleaned = without(live, removals(live, foreign_paths(live, OURS))[0])
    assert "example.com/team" not in cleaned["metadata"]["labels"]
    assert cleaned["metadata"]["labels"]["labsctl.dev/residency"] == "t-1"


def test_a_label_both_managers_own_is_shared_not_foreign() -> None:
    live = namespace(
        entry(
            "bob",
            {"f:metadata": {"f:labels": {"f:labsctl.dev/residency": {}}}},
            operation="Apply",
        )
    )
    assert foreign_paths(live, OURS) == []


def test_a_field_owned_but_absent_removes_nothing() -> None:
    live = quota(
        {"pods": "20", "limits.cpu": "4"},
        entry("kubectl-patch", {"f:spec": {"f:hard": {"f:services": {}}}}),
    )
    assert foreign_paths(live, OURS) == [("f:spec", "f:hard", "f:services")]
    assert removals(live, foreign_paths(live, OURS)) == ([], [], [])


def configmap(data: dict[str, str] | None, ours: dict[str, Any], *entries: dict[str, Any]):
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "managedFields": [applied(ours), *entries]},
    }
    if data is not None:
        obj["data"] = data
    return obj


def test_a_whole_field_we_never_set_is_removed_at_its_top() -> None:
    live = configmap(
        {"a": "1", "b": "2"},
        {"f:metadata": {"f:labels": OWNED_LABELS}},
        entry("kubectl-edit", {"f:data": {".": {}, "f:a": {}, "f:b": {}}}),
    )
    assert foreign_paths(live, OURS) == [("f:data",)]
    assert pointers_of(live) == ["/data"]


def test_a_key_added_to_a_map_we_applied_empty_is_foreign() -> None:
    live = configmap(
        {"x": "theirs"},
        {"f:data": {}},
        entry("kubectl-patch", {"f:data": {"f:x": {}}}),
    )
    assert pointers_of(live) == ["/data/x"]


def test_a_map_another_manager_created_around_our_keys_is_not_foreign() -> None:
    live = configmap(
        {"ours": "1", "theirs": "2"},
        {"f:data": {"f:ours": {}}},
        entry("kubectl-create", {"f:data": {".": {}, "f:ours": {}, "f:theirs": {}}}),
    )
    assert foreign_paths(live, OURS) == [("f:data", "f:theirs")]
    assert pointers_of(live) == ["/data/theirs"]


def service(ports: list[dict[str, Any]], *entries: dict[str, Any]) -> dict[str, Any]:
    ours = {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}}}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "managedFields": [applied(ours), *entries]},
        "spec": {"ports": ports},
    }


def port(number: int, protocol: str = "TCP") -> dict[str, Any]:
    return {"port": number, "protocol": protocol, "targetPort": number}


def port_entry(number: int, protocol: str = "TCP") -> tuple[str, dict[str, Any]]:
    key = "k:" + json.dumps({"port": number, "protocol": protocol}, separators=(",", ":"))
    return key, {".": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}


def test_list_items_by_merge_keys_are_removed_later_items_first() -> None:
    live = service(
        [port(8443), port(80), port(53, "UDP"), port(9090)],
        entry("kubectl-patch", {"f:spec": {"f:ports": dict([port_entry(8443), port_entry(9090)])}}),
        entry("helm", {"f:spec": {"f:ports": dict([port_entry(53, "UDP")])}}),
    )
    assert [describe(p) for p in foreign_paths(live, OURS)] == [
        'spec.ports[{"port":53,"protocol":"UDP"}]',
        'spec.ports[{"port":8443,"protocol":"TCP"}]',
        'spec.ports[{"port":9090,"protocol":"TCP"}]',
    ]
    found = removals(live, foreign_paths(live, OURS))[0]
    assert remove_ops(found) == [
        {"op": "remove", "path": "/spec/ports/3"},
        {"op": "remove", "path": "/spec/ports/2"},
        {"op": "remove", "path": "/spec/ports/0"},
    ]
    assert without(live, found)["spec"]["ports"] == [port(80)]


def test_a_field_added_inside_our_list_item_is_removed_alone() -> None:
    live = service(
        [{"port": 80, "protocol": "TCP", "name": "http"}],
        entry(
            "kubectl-edit",
            {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {"f:name": {}}}}},
        ),
    )
    assert pointers_of(live) == ["/spec/ports/0/name"]


def test_set_items_and_indices_are_found_in_the_live_list() -> None:
    live = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {
            "name": "w",
            "managedFields": [
                applied({"f:spec": {"f:tags": {'v:"ours"': {}}, "f:steps": {"i:0": {}}}}),
                entry(
                    "kubectl-patch",
                    {"f:spec": {"f:tags": {'v:"theirs"': {}}, "f:steps": {"i:1": {}}}},
                ),
            ],
        },
        "spec": {"tags": ["theirs", "ours"], "steps": [{"run": "a"}, {"run": "b"}]},
    }
    assert pointers_of(live) == ["/spec/tags/0", "/spec/steps/1"]
    assert without(live, removals(live, foreign_paths(live, OURS))[0])["spec"] == {
        "tags": ["ours"],
        "steps": [{"run": "a"}],
    }


def test_a_path_that_does_not_fit_the_object_is_reported_not_removed() -> None:
    live = service(
        [port(80), port(8080), port(8080)],  # two items with the same keys: which one?
        entry("kubectl-patch", {"f:spec": {"f:ports": dict([port_entry(8080)])}}),
        entry("someone", {"f:spec": {"f:ports": {"f:name": {}}}}),  # a list, not a mapping
    )
    found, untranslatable, described = removals(live, foreign_paths(live, OURS))
    assert found == []
    assert untranslatable == [
        "spec.ports.name (expected a mapping at 'f:name')",
        'spec.ports[{"port":8080,"protocol":"TCP"}] (2 list items match '
        'k:{"port":8080,"protocol":"TCP"})',
    ]
    assert described == ["spec.ports.name", 'spec.ports[{"port":8080,"protocol":"TCP"}]']


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("ServiceAccount", {"f:secrets": {'k:{"name":"pipeline-dockercfg-x"}': {".": {}}}}),
        ("ServiceAccount", {"f:imagePullSecrets": {}}),
        ("Application", {"f:operation": {"f:sync": {}}}),
        ("Namespace", {"f:spec": {"f:finalizers": {}}}),
    ],
)
def test_fields_controllers_write_on_objects_we_own_are_not_foreign(
    kind: str, fields: dict[str, Any]
) -> None:
    live = {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {
            "name": "x",
            "managedFields": [
                applied({"f:metadata": {"f:labels": OWNED_LABELS}}),
                entry("c", fields),
            ],
        },
    }
    assert foreign_paths(live, OURS) == []


def test_the_same_paths_on_another_kind_are_foreign() -> None:
    live = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {
            "name": "x",
            "managedFields": [
                applied({"f:spec": {"f:size": {}}}),
                entry("someone", {"f:spec": {"f:finalizers": {}}, "f:operation": {"f:sync": {}}}),
            ],
        },
        "spec": {"size": 1, "finalizers": ["kubernetes"]},
        "operation": {"sync": {}},
    }
    assert pointers_of(live) == ["/spec/finalizers", "/operation"]


def test_an_object_without_managed_fields_has_nothing_foreign() -> None:
    assert foreign_paths({"kind": "ConfigMap", "metadata": {"name": "x"}}, OURS) == []
