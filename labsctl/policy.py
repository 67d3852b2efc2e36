"""What no spec may ask for, whoever wrote it: the isolation rules of docs/security.md.

A spec is written by a team and applied by a pipeline holding the bootstrapper's rights, so these
rules are not style: each one closes a way for a spec to give someone rights beyond the
residency, to weaken another residency's isolation, or to take over a system object. The only
exceptions come from the operator (the environment of the process that applies), never from a
spec: `LABSCTL_ALLOWED_SUBJECTS` lists `system:` users or groups a platform team allows as
members (comma-separated names).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from labsctl import naming

ALLOWED_SUBJECTS_ENV = "LABSCTL_ALLOWED_SUBJECTS"

# Label and annotation key prefixes (a domain and its subdomains) that carry security,
# scheduling or ownership meaning for Kubernetes, OpenShift, Argo CD, Tekton or labsctl.
RESERVED_DOMAINS = (
    "kubernetes.io",
    "k8s.io",
    "openshift.io",
    "argoproj.io",
    "tekton.dev",
    naming.GROUP,
)
# Namespaces of the platform: a residency's namespace may never be one of them.
RESERVED_NAMESPACES = frozenset(
    {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "openshift",
        naming.LOCK_NAMESPACE,
        "ingress-nginx",
        "argocd",
    }
)
RESERVED_NAMESPACE_PREFIXES = ("kube-", "openshift-")
# Residency names that are system names themselves (Argo CD's built-in AppProject `default`).
RESERVED_RESIDENCY_NAMES = frozenset({"default", "kube", "openshift"})
SYSTEM_PREFIX = "system:"
_SERVICE_ACCOUNT_USER = "system:serviceaccount:"
_SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts:"


@dataclass(frozen=True)
class Policy:
    """The operator's exceptions to the rules, read from the environment of the run."""

    allowed_subjects: frozenset[str] = frozenset()

    @classmethod
    def from_environment(cls) -> Policy:
        raw = os.environ.get(ALLOWED_SUBJECTS_ENV, "")
        return cls(frozenset(name.strip() for name in raw.split(",") if name.strip()))


def reserved_key_domain(key: str) -> str | None:
    """The reserved domain a label or annotation key falls under, or None."""
    prefix, slash, _ = key.partition("/")
    if not slash:
        return None
    for domain in RESERVED_DOMAINS:
        if prefix == domain or prefix.endswith(f".{domain}"):
            return domain
    return None


def namespace_refusal(namespace: str, also_reserved: frozenset[str] = frozenset()) -> str | None:
    """Why a residency may not own `namespace`, or None."""
    if namespace in RESERVED_NAMESPACES or namespace in also_reserved:
        return f"namespace {namespace!r} is reserved for the platform"
    for prefix in RESERVED_NAMESPACE_PREFIXES:
        if namespace.startswith(prefix):
            return f"namespaces starting with {prefix!r} are reserved for the platform"
    return None


def subject_refusal(kind: str, name: str, own_namespaces: list[str], policy: Policy) -> str | None:
    """Why `name` (a User or Group) may not be given a role in the residency, or None.

    `system:` subjects stand for the cluster itself (every authenticated user, anonymous
    requests, masters, controllers); only the residency's own service accounts may appear.
    """
    if not name.startswith(SYSTEM_PREFIX) or name in policy.allowed_subjects:
        return None
    if kind == "User" and name.startswith(_SERVICE_ACCOUNT_USER):
        namespace = name[len(_SERVICE_ACCOUNT_USER) :].split(":", 1)[0]
        if namespace in own_namespaces:
            return None
        return f"service account of namespace {namespace!r}, which is not the residency's"
    if kind == "Group" and name.startswith(_SERVICE_ACCOUNTS_GROUP):
        namespace = name[len(_SERVICE_ACCOUNTS_GROUP) :]
        if namespace in own_namespaces:
            return None
        return f"service accounts of namespace {namespace!r}, which is not the residency's"
    return f"{name!r} is a cluster identity, not a team member"
