"""k8s_apply sends no write for an object whose live state already holds it (module_utils/
in_sync.py), and every kind of drift still gets its write: a value another manager changed, a
field it removed, a field it added, a field the residency no longer declares. Real control
plane, a residency applied by `labsctl apply`, the module's own code."""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from labsctl import load_spec, naming, render
from tests.integration.playbooks import REPO, write_spec
from tests.integration.test_cli_lifecycle import labsctl
from tests.integration.test_foreign_fields import PARAMS, kubectl

sys.path.insert(0, str(REPO / "playbooks" / "collections"))
from ansible_collections.labsctl.residency.plugins.module_utils.client import (
    connect,
)
from ansible_collections.labsctl.residency.plugins.modules import k8s_apply

pytestmark = pytest.mark.integration
ROLES = ("namespaces", "quotas", "network", "rbac")


@pytest.fixture
def objects(tmp_path: Path, residency_name: str, admin_kubeconfig: Path) -> Iterator[list[Any]]:
    """The objects of the namespaces, quotas, network and rbac roles of a residency that
    `labsctl apply` has just applied."""
    spec = write_spec(tmp_path, residency_name)
    done = labsctl("apply", str(spec), kubeconfig=admin_kubeconfig)
    assert done.returncode == 0, done.stdout + done.stderr
    variables = render(load_spec(spec)).variables()
    yield [obj for role in ROLES for obj in variables[f"{role}_objects"]]


class Writes:
    """A cluster of the module that records every request but reads."""

    def __init__(self, kubeconfig: Path) -> None:
        self.cluster = k8s_apply.Cluster(connect(str(kubeconfig), None))
        self.sent: list[tuple[str, str]] = []
        request = self.cluster.request

        def recorded(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            if method != "GET":
                self.sent.append((method, path))
            return request(method, path, *args, **kwargs)

        self.cluster.request = recorded  # type: ignore[method-assign]

    def apply(self, objects: list[Any], check_mode: bool = False) -> dict[str, str]:
        """{object: action}, each object applied as the role's task would."""
        return {
            _name(obj): k8s_apply.apply_one(self.cluster, obj, PARAMS, check_mode)[0]
            for obj in objects
        }


def _name(obj: Any) -> str:
    return f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def test_a_residency_in_sync_is_re_applied_and_planned_without_a_single_write(
    objects: list[Any], admin_kubeconfig: Path
) -> None:
    writes = Writes(admin_kubeconfig)
    for check_mode in (False, True):
        actions = writes.apply(objects, check_mode)
        assert set(actions.values()) == {"unchanged"}, actions
    assert writes.sent == []


def test_drift_of_every_kind_gets_its_write_and_only_there(
    objects: list[Any],
    admin_kubeconfig: Path,
    k8s: client.ApiClient,
    residency_name: str,
) -> None:
    dev = f"{residency_name}-dev"
    core = client.CoreV1Api(k8s)
    # A value labsctl owns changed, and an annotation it owns removed, by other managers; a
    # field added by another; and a label the residency no longer declares.
    kubectl(admin_kubeconfig, "label", "namespace", dev, "cost-centre=theirs", "--overwrite")
    kubectl(
        admin_kubeconfig,
        "annotate",
        "resourcequota",
        "labsctl-quota",
        "-n",
        dev,
        "labsctl.dev/organisation-",
    )
    kubectl(
        admin_kubeconfig,
        "patch",
        "limitrange",
        "labsctl-limits",
        "-n",
        dev,
        "--type=merge",
        "-p",
        '{"metadata": {"labels": {"added": "theirs"}}}',
    )
    desired = copy.deepcopy(objects)
    binding = next(o for o in desired if o["kind"] == "RoleBinding")
    del binding["metadata"]["labels"]["cost-centre"]
    drifted = {
        f"Namespace /{dev}",
        f"ResourceQuota {dev}/labsctl-quota",
        f"LimitRange {dev}/labsctl-limits",
        _name(binding),
    }

    planned = Writes(admin_kubeconfig)
    actions = planned.apply(desired, check_mode=True)
    assert {n for n, a in actions.items() if a != "unchanged"} == drifted
    assert {path for method, path in planned.sent} == {
        planned.cluster.path(o) for o in desired if _name(o) in drifted
    }

    applied = Writes(admin_kubeconfig)
    actions = applied.apply(desired)
    assert {n for n, a in actions.items() if a != "unchanged"} == drifted
    assert core.read_namespace(dev).metadata.labels["cost-centre"] == "cc-4711"
    quota = core.read_namespaced_resource_quota("labsctl-quota", dev)
    assert quota.metadata.annotations["labsctl.dev/organisation"] == "Example Bank"
    assert "added" not in core.read_namespaced_limit_range("labsctl-limits", dev).metadata.labels
    rbac = client.RbacAuthorizationV1Api(k8s)
    live = rbac.read_namespaced_role_binding(
        binding["metadata"]["name"], binding["metadata"]["namespace"]
    )
    assert "cost-centre" not in live.metadata.labels
    assert live.metadata.labels[naming.LABEL_RESIDENCY] == residency_name

    again = Writes(admin_kubeconfig)
    assert set(again.apply(desired).values()) == {"unchanged"}
    assert again.sent == []
