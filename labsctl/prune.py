"""Objects a residency owns on the cluster that its spec no longer asks for.

Found by the residency's ownership labels only, among the kinds labsctl manages and any kind the
current templates render; never by name. Deleted in reverse order of creation; objects inside a
namespace that is itself pruned go with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labsctl import naming
from labsctl.cluster import Cluster

# Apply order; pruning walks it backwards.
MANAGED_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "Namespace"),
    ("v1", "ResourceQuota"),
    ("v1", "LimitRange"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("user.openshift.io/v1", "Group"),
    ("v1", "ServiceAccount"),
    ("v1", "Secret"),
    ("tekton.dev/v1", "Task"),
    ("tekton.dev/v1", "Pipeline"),
    ("triggers.tekton.dev/v1beta1", "TriggerTemplate"),
    ("triggers.tekton.dev/v1beta1", "TriggerBinding"),
    ("triggers.tekton.dev/v1beta1", "Trigger"),
    ("triggers.tekton.dev/v1beta1", "EventListener"),
    ("route.openshift.io/v1", "Route"),
    ("networking.k8s.io/v1", "Ingress"),
    ("argoproj.io/v1alpha1", "AppProject"),
    ("argoproj.io/v1alpha1", "Application"),
)


@dataclass(frozen=True, order=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str | None
    name: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def key(self) -> tuple[str, str, str | None, str]:
        return (self.group, self.kind, self.namespace, self.name)

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }


def ref(obj: dict[str, Any]) -> ObjectRef:
    metadata = obj["metadata"]
    return ObjectRef(
        obj.get("apiVersion") or obj.get("api_version") or "",
        obj["kind"],
        metadata.get("namespace"),
        metadata["name"],
    )


def kinds_of(desired: list[dict[str, Any]]) -> list[tuple[str, str]]:
    extra = [(o["apiVersion"], o["kind"]) for o in desired]
    return list(dict.fromkeys([*MANAGED_KINDS, *extra]))


def owned(cluster: Cluster, residency: str, kinds: list[tuple[str, str]]) -> list[ObjectRef]:
    """Everything of `kinds` on the cluster that carries the residency's ownership labels."""
    selector = naming.owner_selector(residency)
    found: list[ObjectRef] = []
    for api_version, kind in kinds:
        for item in cluster.list_owned(api_version, kind, selector):
            labels = item["metadata"].get("labels") or {}
            if labels.get(naming.LABEL_RESIDENCY) != residency:
                continue  # belt and braces: the selector already says so
            found.append(
                ObjectRef(
                    api_version, kind, item["metadata"].get("namespace"), item["metadata"]["name"]
                )
            )
    return found


def candidates(cluster: Cluster, residency: str, desired: list[dict[str, Any]]) -> list[ObjectRef]:
    """Owned objects the spec no longer asks for, in the order they should be deleted."""
    kinds = kinds_of(desired)
    wanted = {ref(obj).key() for obj in desired}
    stale = [o for o in owned(cluster, residency, kinds) if o.key() not in wanted]
    doomed_namespaces = {o.name for o in stale if o.kind == "Namespace"}
    stale = [o for o in stale if o.namespace not in doomed_namespaces]
    order = {kind: index for index, (_, kind) in enumerate(kinds)}
    return sorted(stale, key=lambda o: (-order.get(o.kind, 0), o.namespace or "", o.name))


def delete(cluster: Cluster, refs: list[ObjectRef]) -> None:
    for item in refs:
        cluster.delete(item.api_version, item.kind, item.name, item.namespace)
