"""The safety rules exist once, in the collection's module_utils, and labsctl uses those very
objects; their pure parts behave as the playbooks and labsctl both rely on."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from pathlib import Path

import pytest

from labsctl import collection, lock, naming, rbac, yamldump
from labsctl.export import SERVER_METADATA
from labsctl.render import KIND_ORDER
from labsctl.teardown import TeardownPlan

REPO = Path(__file__).resolve().parents[2]
OWNERSHIP = collection.ownership()
LEASE = collection.lease()
HANDOVER = collection.handover()


def test_labsctl_uses_the_collections_rules_not_copies_of_them() -> None:
    assert naming.LABEL_MANAGED_BY is OWNERSHIP.LABEL_MANAGED_BY
    assert naming.LABEL_RESIDENCY is OWNERSHIP.LABEL_RESIDENCY
    assert naming.FIELD_MANAGER is OWNERSHIP.FIELD_MANAGER
    assert naming.LOCK_NAMESPACE is OWNERSHIP.LOCK_NAMESPACE
    assert TeardownPlan is OWNERSHIP.TeardownPlan
    assert [k for _a, k, _r in OWNERSHIP.MANAGED_KINDS] == list(KIND_ORDER)
    assert tuple(OWNERSHIP.MANAGED_KINDS) == naming.MANAGED_KINDS
    assert SERVER_METADATA is HANDOVER.SERVER_METADATA
    assert lock.holder_identity("apply") == LEASE.holder_identity("apply")


def test_the_bootstrapper_may_write_exactly_the_managed_kinds() -> None:
    granted = {(g, r) for g, resources in rbac.MANAGED for r in resources}
    managed = {(a.rpartition("/")[0], r) for a, _k, r in OWNERSHIP.MANAGED_KINDS}
    assert granted == managed


@pytest.mark.parametrize(
    "literal",
    [
        r"managed-by=labsctl,labsctl\.dev/residency=",  # the owner selector
        r"https://kubernetes\.default\.svc(?![.\w])",  # Argo CD's own cluster
        r"residency=\[a-z0-9-\]\+",  # a selector regex in a role's task
    ],
)
def test_no_safety_constant_is_written_outside_the_collections_ownership_rules(
    literal: str,
) -> None:
    pattern = re.compile(literal)
    where = [
        path
        for root in ("labsctl", "roles", "playbooks", "templates")
        for path in (REPO / root).rglob("*")
        if path.is_file()
        and path.suffix in (".py", ".yml", ".yaml", ".j2")
        and path.name != "ownership.py"
        and pattern.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert where == []


def test_selectors_refuse_anything_but_a_residency_name() -> None:
    assert OWNERSHIP.owner_selector("payments") == (
        "app.kubernetes.io/managed-by=labsctl,labsctl.dev/residency=payments"
    )
    assert OWNERSHIP.fleet_selector(["b", "a", "b"]) == (
        "app.kubernetes.io/managed-by=labsctl,labsctl.dev/residency in (a,b)"
    )
    for bad in ("", "a,b", "x=y", "a)", "A", "-a", None):
        with pytest.raises(OWNERSHIP.OwnershipError):
            OWNERSHIP.owner_selector(bad)


def _obj(kind: str, name: str, namespace: str | None = None, api: str = "v1") -> dict:  # type: ignore[type-arg]
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api, "kind": kind, "metadata": metadata}


def test_stale_is_owned_and_undeclared_in_reverse_order_minus_what_a_stale_namespace_holds() -> (
    None
):
    kinds = OWNERSHIP.kinds_of([])
    owned = [
        _obj("Namespace", "p-dev"),
        _obj("Namespace", "p-test"),
        _obj("ResourceQuota", "quota", "p-test"),
        _obj("ResourceQuota", "quota", "p-dev"),
        _obj("RoleBinding", "old", "p-dev", "rbac.authorization.k8s.io/v1"),
        _obj("Group", "p-devs", None, "user.openshift.io/v1"),
    ]
    keep = [_obj("Namespace", "p-dev"), _obj("ResourceQuota", "quota", "p-dev")]
    stale = OWNERSHIP.stale(owned, keep, kinds)
    assert [r.describe() for r in stale] == [
        "RoleBinding p-dev/old",
        "Group p-devs",
        "Namespace p-test",
    ]


def test_an_object_being_deleted_is_not_stale_again_nor_what_its_namespace_holds() -> None:
    going = _obj("Namespace", "p-old")
    going["metadata"]["deletionTimestamp"] = "2026-12-02T08:00:00Z"
    inside = _obj("ResourceQuota", "quota", "p-old")
    assert OWNERSHIP.stale([going, inside], [], OWNERSHIP.kinds_of([])) == []


def test_identity_ignores_the_version_of_an_api_group() -> None:
    kinds = OWNERSHIP.kinds_of([])
    owned = [_obj("Trigger", "t", "p-ci", "triggers.tekton.dev/v1beta1")]
    keep = [_obj("Trigger", "t", "p-ci", "triggers.tekton.dev/v1")]
    assert OWNERSHIP.stale(owned, keep, kinds) == []


def test_a_templates_own_kind_is_looked_for_and_deleted_last_but_one() -> None:
    kinds = OWNERSHIP.kinds_of([_obj("ConfigMap", "extra", "p-dev")])
    assert kinds[-1] == ("v1", "ConfigMap")
    refs = [OWNERSHIP.Ref.of(o) for o in (_obj("ConfigMap", "c", "p"), _obj("Namespace", "p"))]
    assert [r.kind for r in OWNERSHIP.deletion_order(refs, kinds)] == ["ConfigMap", "Namespace"]


def test_aggregated_discovery_is_read_with_preferred_versions_and_stale_groups_left_out() -> None:
    answers = {
        "/api": {
            "kind": "APIGroupDiscoveryList",
            "items": [
                {
                    "metadata": {"name": ""},
                    "versions": [
                        {
                            "version": "v1",
                            "resources": [
                                {
                                    "resource": "configmaps",
                                    "responseKind": {"kind": "ConfigMap"},
                                    "scope": "Namespaced",
                                    "verbs": ["list", "get"],
                                },
                                {
                                    "resource": "namespaces",
                                    "responseKind": {"kind": "Namespace"},
                                    "scope": "Cluster",
                                    "verbs": ["list"],
                                },
                            ],
                        }
                    ],
                }
            ],
        },
        "/apis": {
            "kind": "APIGroupDiscoveryList",
            "items": [
                {
                    "metadata": {"name": "triggers.tekton.dev"},
                    "versions": [
                        {
                            "version": "v1beta1",
                            "resources": [
                                {
                                    "resource": "triggers",
                                    "responseKind": {"kind": "Trigger"},
                                    "scope": "Namespaced",
                                    "verbs": ["list"],
                                }
                            ],
                        },
                        {
                            "version": "v1alpha1",
                            "resources": [
                                {
                                    "resource": "triggers",
                                    "responseKind": {"kind": "Trigger"},
                                    "scope": "Namespaced",
                                    "verbs": ["list"],
                                }
                            ],
                        },
                    ],
                },
                {
                    "metadata": {"name": "metrics.k8s.io"},
                    "versions": [
                        {
                            "version": "v1beta1",
                            "freshness": "Stale",
                            "resources": [
                                {
                                    "resource": "pods",
                                    "responseKind": {"kind": "PodMetrics"},
                                    "scope": "Namespaced",
                                    "verbs": ["list"],
                                }
                            ],
                        }
                    ],
                },
            ],
        },
    }

    class Client:
        def request(self, method: str, path: str, **_kwargs: object) -> dict:  # type: ignore[type-arg]
            return answers[path]

    discovery = OWNERSHIP.Discovery(Client())
    assert discovery.resource("triggers.tekton.dev/v1beta1", "Trigger")["resource"] == "triggers"
    assert discovery.resource("v1", "Namespace")["namespaced"] is False
    listable = {(r["apiVersion"], r["kind"]) for r in discovery.namespaced_listable()}
    assert listable == {("v1", "ConfigMap"), ("triggers.tekton.dev/v1beta1", "Trigger")}


def test_teardown_refuses_the_unseen_before_the_unowned_and_force_overrides_both() -> None:
    plan = OWNERSHIP.TeardownPlan(
        "p", [], unowned=["ConfigMap p-dev/app"], blind=["list roles.rbac.authorization.k8s.io"]
    )
    reason, message = plan.refusal(force=False)
    assert reason == "Forbidden"
    assert "list roles.rbac.authorization.k8s.io" in message
    assert OWNERSHIP.TeardownPlan("p", [], unowned=["ConfigMap p-dev/app"]).refusal(False)[0] == (
        "NotOwned"
    )
    assert plan.refusal(force=True) is None


def test_a_backup_never_overwrites_and_never_writes_outside_its_directory(tmp_path: Path) -> None:
    first = HANDOVER.write_backup(str(tmp_path), "p", "2026-12-02", {"README.md": "a\n"})
    second = HANDOVER.write_backup(str(tmp_path), "p", "2026-12-02", {"README.md": "b\n"})
    assert Path(first).name == "p-2026-12-02"
    assert Path(second).name == "p-2026-12-02.2"
    assert (Path(first) / "README.md").read_text() == "a\n"
    assert (Path(first) / HANDOVER.MANIFEST).read_text() == "README.md\n"
    with pytest.raises(ValueError):
        HANDOVER.write_backup(str(tmp_path), "p", "2026-12-02", {"../escape": "x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p-2026-12-02", "p-2026-12-02.2"]


def test_the_hand_over_files_and_labsctls_own_yaml_are_the_same_bytes() -> None:
    data = {"b": "multi\nline", "a": ["x", "\u2028odd", 3], "c": {"ü": None}}
    assert HANDOVER.dump_yaml(data) == yamldump.dump_yaml(data)


def test_a_lease_holder_on_this_host_whose_process_is_gone_holds_nothing() -> None:
    host = socket.gethostname()
    assert LEASE.holder_died(f"u@{host} pid 999999999 (apply)")
    assert not LEASE.holder_died(f"u@{host} pid {os.getpid()} (apply)")
    assert not LEASE.holder_died("u@elsewhere pid 999999999 (apply)")


def test_a_lease_expires_after_its_duration_by_its_own_times_and_a_future_one_does_not() -> None:
    def lease(renewed: dt.datetime, seconds: int) -> dict:  # type: ignore[type-arg]
        stamp = renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {"holderIdentity": "u@elsewhere pid 1 (apply)", "renewTime": stamp}
        return {"spec": {**spec, "leaseDurationSeconds": seconds}}

    now = dt.datetime.now(dt.UTC)
    assert LEASE.expired(lease(now - dt.timedelta(seconds=20), 10))
    assert not LEASE.expired(lease(now, 600))
    assert not LEASE.expired(lease(now + dt.timedelta(days=365), 10))  # the waiter's clock decides
    assert LEASE.expired({"spec": {"holderIdentity": "x", "renewTime": "garbage"}})


def test_the_waiter_judges_a_lease_unchanged_for_its_duration_on_its_own_clock() -> None:
    ticks = iter([0.0, 0.0, 5.0, 5.0, 11.0, 11.0])
    observed = LEASE.Observed(clock=lambda: next(ticks))
    version = {"metadata": {"resourceVersion": "7"}}
    assert observed.unchanged_for(version) == 0.0
    assert observed.unchanged_for(version) == 5.0
    assert observed.unchanged_for(version) == 11.0


def test_lease_names_refuse_what_is_not_a_residency_name() -> None:
    assert LEASE.lease_name("payments") == "labsctl-payments"
    with pytest.raises(OWNERSHIP.OwnershipError):
        LEASE.lease_name("../x")


def test_every_module_has_its_in_process_action_plugin() -> None:
    plugins = REPO / "playbooks/collections/ansible_collections/labsctl/residency/plugins"
    modules = {p.stem for p in (plugins / "modules").glob("*.py")}
    actions = {p.stem for p in (plugins / "action").glob("*.py")}
    assert modules == actions
    for path in (plugins / "action").glob("*.py"):
        assert re.search(r"module = \"" + path.stem + '"', path.read_text())


def test_a_fleet_report_lists_each_kind_once_and_answers_every_residency_from_it() -> None:
    from labsctl.cluster import Cluster, _equalities  # noqa: PLC0415

    assert _equalities("app.kubernetes.io/managed-by=labsctl,labsctl.dev/residency=a") == {
        "app.kubernetes.io/managed-by": "labsctl",
        "labsctl.dev/residency": "a",
    }
    assert _equalities("labsctl.dev/residency in (a,b)") is None
    assert _equalities("a!=b") is None
    requests: list[str] = []
    labels = {"app.kubernetes.io/managed-by": "labsctl"}
    objects = [
        {"metadata": {"name": f"q-{r}", "labels": {**labels, "labsctl.dev/residency": r}}}
        for r in ("a", "b", "c")
    ]
    cluster = Cluster.__new__(Cluster)
    cluster._owned = {}
    cluster._listed = lambda api, kind, selector: requests.append(selector) or objects  # type: ignore[method-assign]
    cluster.prefetch_owned([("v1", "ResourceQuota")])
    for name in ("a", "b", "c"):
        found = cluster.list_owned("v1", "ResourceQuota", OWNERSHIP.owner_selector(name))
        assert [o["metadata"]["name"] for o in found] == [f"q-{name}"]
    assert requests == ["app.kubernetes.io/managed-by=labsctl"]
