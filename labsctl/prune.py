"""Objects a residency owns on the cluster that its spec no longer asks for.

The rules are the collection's (`module_utils/ownership.py`), the same the playbooks' prune
step (`residency_prune`) follows: found by the residency's ownership labels only, among the
kinds labsctl manages and any kind the current templates render; never by name. Deleted in
reverse order of creation; objects inside a namespace that is itself pruned go with it.
`labsctl apply` prunes through the playbook; this module is for the library's own callers.
"""

from __future__ import annotations

from typing import Any

from labsctl import collection
from labsctl.cluster import Cluster

_OWNERSHIP = collection.ownership()
ObjectRef = _OWNERSHIP.Ref
# (apiVersion, kind) in apply order; pruning walks it backwards.
MANAGED_KINDS: tuple[tuple[str, str], ...] = tuple(
    (api_version, kind) for api_version, kind, _resource in _OWNERSHIP.MANAGED_KINDS
)


def ref(obj: dict[str, Any]) -> Any:
    return ObjectRef.of(obj)


def kinds_of(desired: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return list(_OWNERSHIP.kinds_of(desired))


def candidates(cluster: Cluster, residency: str, desired: list[dict[str, Any]]) -> list[Any]:
    """Owned objects the spec no longer asks for, in the order they should be deleted."""
    kinds = kinds_of(desired)
    with cluster.rest_calls(f"listing the objects of residency {residency}"):
        rest = cluster.rest
        owned = _OWNERSHIP.list_owned(rest, _OWNERSHIP.Discovery(rest), [residency], kinds)
    return list(_OWNERSHIP.stale(owned[residency], desired, kinds))


def delete(cluster: Cluster, refs: list[Any]) -> None:
    with cluster.rest_calls("pruning"):
        discovery = _OWNERSHIP.Discovery(cluster.rest)
        for item in refs:
            _OWNERSHIP.delete(cluster.rest, discovery, item)
