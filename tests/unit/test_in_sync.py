"""When k8s_apply may leave an object alone (module_utils/in_sync.py): only when the live object
provably holds what the apply would send; anything else is applied."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "playbooks" / "collections"))
from ansible_collections.labsctl.residency.plugins.module_utils.in_sync import (
    in_sync,
)

MANAGER = "labsctl"
DESIRED = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "c", "namespace": "n", "labels": {"a": "1"}},
    "data": {"k": "v"},
    "spec": {"items": [{"name": "x", "port": 80}], "flag": True, "empty": {}},
}
OURS = {
    "f:metadata": {"f:labels": {".": {}, "f:a": {}}},
    "f:data": {".": {}, "f:k": {}},
    "f:spec": {"f:items": {}, "f:flag": {}, "f:empty": {}},
}


def _live(**changes: Any) -> dict[str, Any]:
    live = copy.deepcopy(DESIRED)
    live["metadata"]["resourceVersion"] = "7"
    live["metadata"]["managedFields"] = [
        {"manager": MANAGER, "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": OURS},
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "subresource": "status",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {}},
        },
    ]
    live["status"] = {"phase": "Active"}
    live["spec"]["defaulted"] = "by the server"
    for where, value in changes.items():
        node = live
        *parents, last = where.split(".")
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return live


def test_an_object_as_it_was_applied_is_in_sync() -> None:
    assert in_sync(DESIRED, _live(), MANAGER)


@pytest.mark.parametrize(
    "change",
    [
        {"data.k": "changed"},
        {"data.k": None},
        {"metadata.labels": {}},
        {"spec.flag": 1},  # same in Python, not in JSON
        {"spec.items": [{"name": "x", "port": 80}, {"name": "y", "port": 81}]},
        {"spec.items": [{"name": "x", "port": "80"}]},
        {"spec.empty": {"filled": "by someone"}},
    ],
    ids=str,
)
def test_a_value_changed_removed_or_added_is_not_in_sync(change: dict[str, Any]) -> None:
    assert not in_sync(DESIRED, _live(**change), MANAGER)


def test_a_field_another_manager_owns_under_ours_is_not_in_sync() -> None:
    live = _live(**{"metadata.labels": {"a": "1", "b": "theirs"}})
    live["metadata"]["managedFields"].append(
        {
            "manager": "kubectl-label",
            "operation": "Update",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:b": {}}}},
        }
    )
    assert not in_sync(DESIRED, live, MANAGER)
    assert in_sync(DESIRED, live, MANAGER, companions=("kubectl-label",))


def test_a_field_we_own_that_the_object_no_longer_declares_is_not_in_sync() -> None:
    desired = copy.deepcopy(DESIRED)
    del desired["data"]["k"]
    desired["data"]["other"] = "v"
    live = _live(**{"data.other": "v"})
    assert not in_sync(desired, live, MANAGER)


@pytest.mark.parametrize(
    "entries",
    [
        [],
        [{"manager": MANAGER, "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": OURS}],
        [
            {"manager": MANAGER, "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": OURS},
            {"manager": MANAGER, "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {}},
        ],
    ],
    ids=["no entry of ours", "only a create record", "a create record beside the apply"],
)
def test_an_object_not_last_written_by_our_apply_alone_is_not_in_sync(
    entries: list[dict[str, Any]],
) -> None:
    live = _live()
    live["metadata"]["managedFields"] = entries
    assert not in_sync(DESIRED, live, MANAGER)


def test_a_null_is_never_proved() -> None:
    desired = copy.deepcopy(DESIRED)
    desired["spec"]["flag"] = None
    assert not in_sync(desired, _live(**{"spec.flag": None}), MANAGER)
