"""The rights a bootstrapper identity needs for apply, plan, status, freeze, export and teardown.

Derived from what labsctl touches, nothing more:

- the kinds the roles apply (server-side apply is `patch`; `create` for new objects), read
  (`get`, `list`) and delete (teardown and pruning), cluster-wide because each residency brings
  new namespaces;
- `bind` on exactly the ClusterRoles the RoleBindings reference (admin, edit, view,
  system:image-puller, tekton-triggers-eventlistener-roles), so RBAC's escalation check passes
  without holding those rights;
- ClusterRoles and ClusterRoleBindings for each residency's event listener (its own role, which
  reads Triggers' cluster interceptors and cluster trigger bindings, and nothing else), and read
  access to those two kinds, which RBAC requires to create that role;
- `list` on every kind, so teardown can refuse to delete a namespace that holds something
  labsctl did not create, whatever its kind (a Role, an HPA, a custom resource); a kind it may
  not list makes teardown refuse rather than delete blind. Kubernetes RBAC cannot limit this to
  the residencies' namespaces; it reads nothing `bind` on `admin` would not give anyway;
- Leases in `labsctl-system` only, for the per-residency lock.

Note: `bind` on `admin` lets the identity grant admin in any namespace, itself included; keep the
bootstrapper's credentials as closely as a cluster-admin's.
"""

from __future__ import annotations

from typing import Any

from labsctl import naming
from labsctl.errors import UsageError
from labsctl.lock import LOCK_NAMESPACE

NAME = "labsctl-bootstrapper"
WRITE = ["get", "list", "watch", "create", "patch", "update", "delete"]
BOUND_CLUSTER_ROLES = [
    "admin",
    "edit",
    "view",
    "system:image-puller",
    "system:image-builder",
    "tekton-triggers-eventlistener-roles",
]
# What the residency's own event-listener ClusterRole grants: a bootstrapper must hold it to
# create that role (RBAC's escalation check).
READ_ONLY: list[tuple[str, list[str]]] = [
    ("triggers.tekton.dev", ["clusterinterceptors", "clustertriggerbindings"]),
]


def _managed() -> list[tuple[str, list[str]]]:
    """The resources of every kind labsctl manages, by API group (the collection's list)."""
    groups: dict[str, list[str]] = {}
    for api_version, _kind, resource in naming.MANAGED_KINDS:
        groups.setdefault(api_version.rpartition("/")[0], []).append(resource)
    return list(groups.items())


MANAGED: list[tuple[str, list[str]]] = _managed()


def _labels() -> dict[str, str]:
    return {naming.LABEL_MANAGED_BY: naming.MANAGER, naming.LABEL_COMPONENT: "bootstrapper-rbac"}


def subject(user: str | None, group: str | None, service_account: str | None) -> dict[str, str]:
    given = [v for v in (user, group, service_account) if v]
    if len(given) != 1:
        raise UsageError("name exactly one of --user, --group or --service-account")
    if user:
        return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}
    if group:
        return {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": group}
    assert service_account is not None
    namespace, _, name = service_account.partition("/")
    if not namespace or not name:
        raise UsageError("--service-account takes NAMESPACE/NAME")
    return {"kind": "ServiceAccount", "namespace": namespace, "name": name}


def manifests(who: dict[str, str]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {"apiGroups": [group], "resources": resources, "verbs": WRITE}
        for group, resources in MANAGED
    ]
    rules += [
        {"apiGroups": [group], "resources": resources, "verbs": ["get", "list", "watch"]}
        for group, resources in READ_ONLY
    ]
    rules.append(
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "verbs": ["bind"],
            "resourceNames": BOUND_CLUSTER_ROLES,
        }
    )
    # Teardown's scan for objects labsctl did not create: every kind, custom ones included.
    rules.append({"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]})
    metadata = {"name": NAME, "labels": _labels()}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": metadata,
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": metadata,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": NAME,
            },
            "subjects": [who],
        },
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": LOCK_NAMESPACE, "labels": _labels()},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {**metadata, "namespace": LOCK_NAMESPACE},
            "rules": [
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "verbs": ["get", "create", "update", "delete"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {**metadata, "namespace": LOCK_NAMESPACE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
            "subjects": [who],
        },
    ]
