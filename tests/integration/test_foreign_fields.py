"""Fields another field manager added to objects a residency owns: `labsctl plan` reports the
object as changed (exit 6, the field in the diff's before and not in its after), `labsctl apply`
removes the field, and then plan is clean and a re-apply changes nothing. Fields that the API
server, its controllers and labsctl's own last-apply record write are never drift. Real control
plane, real kubectl, real exit codes; the module's own code for what the CLI cannot aim at."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from kubernetes import client

from labsctl import load_spec, naming, render
from labsctl.sandbox.build import binaries
from tests.conftest import wait_for
from tests.integration.playbooks import REPO, write_spec
from tests.integration.test_cli_lifecycle import labsctl

sys.path.insert(0, str(REPO / "playbooks" / "collections"))
from ansible_collections.labsctl.residency.plugins.module_utils.client import (
    connect,
)
from ansible_collections.labsctl.residency.plugins.modules import k8s_apply

pytestmark = pytest.mark.integration
PARAMS = {
    "field_manager": naming.FIELD_MANAGER,
    "force_conflicts": True,
    "secret_values": {},
    "ownership_labels": [naming.LABEL_MANAGED_BY, naming.LABEL_RESIDENCY],
}
EVE = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "eve@example.com"}
EXTRA_RULE = {"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}


def kubectl(kubeconfig: Path, *args: str) -> str:
    done = subprocess.run(
        [str(binaries().kubectl), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def diff_of(plan_output: str, header: str) -> list[str]:
    """The diff lines `labsctl plan` shows for the object named `header`."""
    lines = plan_output.splitlines()
    start = lines.index(f"--- {header}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("--- ")), len(lines))
    return lines[start:end]


def foreign_managers(obj: Any) -> set[str]:
    """Managers of `obj` other than labsctl's own and subresource (status) writers."""
    return {
        f.manager
        for f in obj.metadata.managed_fields
        if not f.subresource and f.manager not in (naming.FIELD_MANAGER, "labsctl-last-apply")
    }


@pytest.fixture
def applied(tmp_path: Path, residency_name: str, admin_kubeconfig: Path) -> Iterator[str]:
    """The small-team example applied as `residency_name`; yields the spec path."""
    spec = str(write_spec(tmp_path, residency_name))
    done = labsctl("apply", spec, kubeconfig=admin_kubeconfig)
    assert done.returncode == 0, done.stdout + done.stderr
    yield spec


def test_a_fresh_residency_is_in_sync_with_controller_fields_and_last_apply_annotations(
    applied: str, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    core = client.CoreV1Api(k8s)
    dev = f"{residency_name}-dev"
    # What others legitimately wrote: the server's label and finalizer, labsctl's record of the
    # apply (its own field manager), the quota controller's status.
    ns = core.read_namespace(dev)
    assert ns.metadata.labels["kubernetes.io/metadata.name"] == dev
    assert ns.spec.finalizers == ["kubernetes"]
    assert ns.metadata.annotations[naming.ANNOTATION_LAST_APPLY_RESULT] == "succeeded"
    assert "labsctl-last-apply" in {f.manager for f in ns.metadata.managed_fields}
    assert wait_for(
        lambda: any(
            f.subresource == "status"
            for f in core.read_namespaced_resource_quota(
                "labsctl-quota", dev
            ).metadata.managed_fields
        )
    )
    plan = labsctl("plan", applied, kubeconfig=admin_kubeconfig)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "in sync: nothing to change" in plan.stdout
    again = json.loads(labsctl("apply", applied, "-o", "json", kubeconfig=admin_kubeconfig).stdout)
    assert again["inSync"] is True
    assert again["residencies"][0]["counts"]["changed"] == 0


def _patch_quota(kubeconfig: Path, k8s: client.ApiClient, namespace: str) -> None:
    kubectl(
        kubeconfig,
        "patch",
        "resourcequota",
        "labsctl-quota",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"hard":{"services":"10"}}}',
    )


def _quota_has_it(k8s: client.ApiClient, namespace: str) -> bool:
    hard = client.CoreV1Api(k8s).read_namespaced_resource_quota("labsctl-quota", namespace)
    assert hard.spec.hard["pods"] == "20"  # ours, untouched
    return "services" in hard.spec.hard


def _label_namespace(kubeconfig: Path, k8s: client.ApiClient, namespace: str) -> None:
    client.CoreV1Api(k8s).patch_namespace(
        namespace,
        {
            "metadata": {
                "labels": {"example.com/team": "theirs"},
                "annotations": {"example.com/note": "added by hand"},
            }
        },
        field_manager="team-script",
    )


def _namespace_has_it(k8s: client.ApiClient, namespace: str) -> bool:
    ns = client.CoreV1Api(k8s).read_namespace(namespace)
    assert ns.metadata.labels[naming.LABEL_RESIDENCY]  # ours, untouched
    has_label = "example.com/team" in ns.metadata.labels
    assert has_label == ("example.com/note" in (ns.metadata.annotations or {}))
    return has_label


def _add_subject(kubeconfig: Path, k8s: client.ApiClient, namespace: str) -> None:
    kubectl(
        kubeconfig,
        "patch",
        "rolebinding",
        "team-edit",
        "-n",
        namespace,
        "--type=json",
        "-p",
        json.dumps([{"op": "add", "path": "/subjects/-", "value": EVE}]),
    )


def _binding_has_it(k8s: client.ApiClient, namespace: str) -> bool:
    binding = client.RbacAuthorizationV1Api(k8s).read_namespaced_role_binding(
        "team-edit", namespace
    )
    names = [s.name for s in binding.subjects]
    assert names[0] == "bob@example.com"
    return EVE["name"] in names


def _add_rule(kubeconfig: Path, k8s: client.ApiClient, namespace: str) -> None:
    kubectl(
        kubeconfig,
        "patch",
        "networkpolicy",
        "allow-same-namespace",
        "-n",
        namespace,
        "--type=json",
        "-p",
        json.dumps([{"op": "add", "path": "/spec/ingress/-", "value": EXTRA_RULE}]),
    )


def _policy_has_it(k8s: client.ApiClient, namespace: str) -> bool:
    policy = client.NetworkingV1Api(k8s).read_namespaced_network_policy(
        "allow-same-namespace", namespace
    )
    assert policy.spec.ingress[0].to_dict()["_from"][0]["pod_selector"] == {
        "match_expressions": None,
        "match_labels": None,
    }
    return len(policy.spec.ingress) > 1


class Edit(NamedTuple):
    make: Callable[[Path, client.ApiClient, str], None]
    present: Callable[[client.ApiClient, str], bool]  # whether the edit is there
    header: str  # the object as plan names it
    line: str  # a line that only the diff's before has


EDITS = {
    "quota-hard-entry": Edit(
        _patch_quota,
        _quota_has_it,
        "ResourceQuota {ns}/labsctl-quota",
        '"services": "10"',
    ),
    "namespace-label-and-annotation": Edit(
        _label_namespace,
        _namespace_has_it,
        "Namespace {ns}",
        '"example.com/team": "theirs"',
    ),
    "rolebinding-subject": Edit(
        _add_subject,
        _binding_has_it,
        "RoleBinding {ns}/team-edit",
        '"name": "eve@example.com"',
    ),
    "networkpolicy-ingress-rule": Edit(
        _add_rule,
        _policy_has_it,
        "NetworkPolicy {ns}/allow-same-namespace",
        '"cidr": "10.0.0.0/8"',
    ),
}


def test_fields_other_managers_added_are_drift_for_plan_and_removed_by_apply(
    applied: str, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    # All four edits on one residency: a labsctl run costs 15-30 s on this machine.
    dev = f"{residency_name}-dev"
    for edit in EDITS.values():
        edit.make(admin_kubeconfig, k8s, dev)
    assert [case for case, edit in EDITS.items() if not edit.present(k8s, dev)] == []

    plan = labsctl("plan", applied, kubeconfig=admin_kubeconfig)
    assert plan.returncode == 6, plan.stdout + plan.stderr
    for case, edit in EDITS.items():
        header = edit.header.format(ns=dev)
        kind, name = header.split(" ", 1)
        assert f"changed  {kind} {name}" in plan.stdout, case
        diff = diff_of(plan.stdout, header)
        assert any(d.startswith("-") and edit.line in d for d in diff), (case, diff)
        assert not any(edit.line in d for d in diff if not d.startswith("-")), (case, diff)
        assert edit.present(k8s, dev), case  # plan never writes

    healed = labsctl("apply", applied, kubeconfig=admin_kubeconfig)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert [case for case, edit in EDITS.items() if edit.present(k8s, dev)] == []

    clean = labsctl("plan", applied, kubeconfig=admin_kubeconfig)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    again = json.loads(labsctl("apply", applied, "-o", "json", kubeconfig=admin_kubeconfig).stdout)
    assert again["inSync"] is True, again["residencies"][0]["changes"]


def test_the_removed_quota_entry_leaves_no_other_field_manager_behind(
    applied: str, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    dev = f"{residency_name}-dev"
    _patch_quota(admin_kubeconfig, k8s, dev)
    core = client.CoreV1Api(k8s)
    assert foreign_managers(core.read_namespaced_resource_quota("labsctl-quota", dev)) == {
        "kubectl-patch"
    }
    cluster = k8s_apply.Cluster(connect(str(admin_kubeconfig), None))
    ours = _rendered_quota(applied, dev)
    action, before, after, foreign = k8s_apply.apply_one(cluster, ours, PARAMS, True)
    assert (action, foreign) == ("changed", ["spec.hard.services"])
    assert "services" in before["spec"]["hard"]
    assert "services" not in after["spec"]["hard"]
    assert _quota_has_it(k8s, dev)  # check mode
    assert k8s_apply.apply_one(cluster, ours, PARAMS, False)[::3] == (
        "changed",
        ["spec.hard.services"],
    )
    live = core.read_namespaced_resource_quota("labsctl-quota", dev)
    assert "services" not in live.spec.hard
    assert foreign_managers(live) == set()
    assert [
        (f.manager, f.operation) for f in live.metadata.managed_fields if not f.subresource
    ] == [(naming.FIELD_MANAGER, "Apply")]
    # The quota controller rewrites the status after the spec changed; a re-run read before it
    # has would see that write as a change of the object.
    assert wait_for(
        lambda: (
            "services"
            not in (core.read_namespaced_resource_quota("labsctl-quota", dev).status.hard or {})
        )
    )
    assert k8s_apply.apply_one(cluster, ours, PARAMS, False)[::3] == ("unchanged", [])


def _rendered_quota(spec: str, namespace: str) -> dict[str, Any]:
    """The quota exactly as the quotas role applies it."""
    for obj in render(load_spec(Path(spec))).objects():
        if obj["kind"] == "ResourceQuota" and obj["metadata"]["namespace"] == namespace:
            return obj
    raise AssertionError(f"no quota rendered for {namespace}")


@pytest.fixture
def namespace(k8s: client.ApiClient, residency_name: str) -> Iterator[str]:
    name = f"{residency_name}-fields"
    client.CoreV1Api(k8s).create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=name,
                labels={naming.LABEL_MANAGED_BY: "labsctl", naming.LABEL_RESIDENCY: residency_name},
            )
        )
    )
    yield name


def _service(residency: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web",
            "namespace": namespace,
            "labels": {naming.LABEL_MANAGED_BY: "labsctl", naming.LABEL_RESIDENCY: residency},
        },
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        },
    }


def test_a_list_item_another_manager_added_is_removed_by_its_merge_keys(
    admin_kubeconfig: Path, k8s: client.ApiClient, residency_name: str, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    cluster = k8s_apply.Cluster(connect(str(admin_kubeconfig), None))
    ours = _service(residency_name, namespace)
    assert k8s_apply.apply_one(cluster, ours, PARAMS, False)[0] == "created"
    core.patch_namespaced_service(
        "web",
        namespace,
        {
            "spec": {
                "ports": [
                    {"name": "https", "port": 8443, "protocol": "TCP"},
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                ]
            }
        },
        field_manager="someone",
    )
    assert {p.port for p in core.read_namespaced_service("web", namespace).spec.ports} == {
        80,
        8443,
        53,
    }
    action, before, after, foreign = k8s_apply.apply_one(cluster, ours, PARAMS, True)
    assert action == "changed"
    assert len(before["spec"]["ports"]) == 3
    assert sorted(foreign) == [
        'spec.ports[{"port":53,"protocol":"UDP"}]',
        'spec.ports[{"port":8443,"protocol":"TCP"}]',
    ]
    assert [p["port"] for p in after["spec"]["ports"]] == [80]
    assert len(core.read_namespaced_service("web", namespace).spec.ports) == 3  # check mode

    assert k8s_apply.apply_one(cluster, ours, PARAMS, False)[0] == "changed"
    live = core.read_namespaced_service("web", namespace)
    assert [p.port for p in live.spec.ports] == [80]
    assert live.spec.cluster_ip  # defaulted and allocated fields are nobody's drift
    assert foreign_managers(live) == set()
    assert k8s_apply.apply_one(cluster, ours, PARAMS, False)[::3] == ("unchanged", [])
    assert k8s_apply.apply_one(cluster, ours, PARAMS, True)[::3] == ("unchanged", [])


def test_a_change_between_the_apply_and_the_removal_is_seen_and_removed_too(
    admin_kubeconfig: Path, k8s: client.ApiClient, residency_name: str, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    plain = k8s_apply.Cluster(connect(str(admin_kubeconfig), None))
    ours = _service(residency_name, namespace)
    k8s_apply.apply_one(plain, ours, PARAMS, False)
    core.patch_namespaced_service(
        "web", namespace, {"metadata": {"labels": {"first": "theirs"}}}, field_manager="someone"
    )
    cluster = k8s_apply.Cluster(connect(str(admin_kubeconfig), None))
    request = cluster.request
    stepped = []

    def stepping_in(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("content_type") == "application/json-patch+json" and not stepped:
            stepped.append(path)
            core.patch_namespaced_service(
                "web",
                namespace,
                {"metadata": {"labels": {"second": "theirs"}}},
                field_manager="someone-else",
            )
        return request(method, path, *args, **kwargs)

    cluster.request = stepping_in  # type: ignore[method-assign]
    action, before, after, foreign = k8s_apply.apply_one(cluster, ours, PARAMS, False)
    assert stepped  # the first removal met a changed object (409) and was done again
    assert (action, sorted(foreign)) == (
        "changed",
        ["metadata.labels.first", "metadata.labels.second"],
    )
    labels = core.read_namespaced_service("web", namespace).metadata.labels
    assert labels == ours["metadata"]["labels"]
    assert "first" in before["metadata"]["labels"]  # the diff starts from the first read
    assert after["metadata"]["labels"] == labels


def test_an_object_without_our_labels_is_never_stripped(
    admin_kubeconfig: Path, k8s: client.ApiClient, residency_name: str, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web", labels={"team": "theirs"}),
            spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=8443)]),
        ),
    )
    cluster = k8s_apply.Cluster(connect(str(admin_kubeconfig), None))
    with pytest.raises(k8s_apply.NotOwnedError):
        k8s_apply.apply_one(cluster, _service(residency_name, namespace), PARAMS, False)
    theirs = core.read_namespaced_service("web", namespace)
    assert theirs.metadata.labels == {"team": "theirs"}
    assert [p.port for p in theirs.spec.ports] == [8443]
