"""What no spec may ask for, whoever wrote it: the isolation rules of docs/security.md.

A spec is written by a team and applied by a pipeline holding the bootstrapper's rights, so these
rules are not style: each one closes a way for a spec to give someone rights beyond the
residency, to weaken another residency's isolation, or to take over a system object. The only
exceptions and choices come from the operator (the environment of the process that applies),
never from a spec, each a comma-separated list:

- `LABSCTL_ALLOWED_SUBJECTS`: `system:` users or groups a platform team allows as members;
- `LABSCTL_ALLOWED_CONTEXTS`: kubeconfig contexts a spec may choose with `spec.cluster.context`
  (none by default: the operator's target is used);
- `LABSCTL_ARGOCD_NAMESPACES`: namespaces of the Argo CD instances a spec may choose with
  `spec.tooling.argocdNamespace` (default `argocd,openshift-gitops`);
- `LABSCTL_RESERVED_NAMESPACES`: more namespaces of the platform no residency may own (`name`, or
  `prefix-*`), added to the built-in ones.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from labsctl import naming

ALLOWED_SUBJECTS_ENV = "LABSCTL_ALLOWED_SUBJECTS"
ALLOWED_CONTEXTS_ENV = "LABSCTL_ALLOWED_CONTEXTS"
ARGOCD_NAMESPACES_ENV = "LABSCTL_ARGOCD_NAMESPACES"
RESERVED_NAMESPACES_ENV = "LABSCTL_RESERVED_NAMESPACES"
DEFAULT_ARGOCD_NAMESPACES = ("argocd", "openshift-gitops")

# Label and annotation key prefixes (a domain and its subdomains) that carry security,
# scheduling or ownership meaning for Kubernetes, OpenShift, Argo CD, Tekton or labsctl.
RESERVED_DOMAINS = (
    "kubernetes.io",
    "k8s.io",
    "openshift.io",
    "argoproj.io",
    "tekton.dev",
    "x-k8s.io",
    "istio.io",
    "kyverno.io",
    "cert-manager.io",
    "operators.coreos.com",
    "olm.operatorgroup.uid",
    "velero.io",
    naming.GROUP,
)
# Keys without a prefix that platforms read as switches on namespaces.
RESERVED_PLAIN_KEYS = frozenset({"istio-injection", "name", "control-plane"})
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
        "cert-manager",
        "monitoring",
        "metallb-system",
        "local-path-storage",
        "kubernetes-dashboard",
        "gatekeeper-system",
        "kyverno",
        "istio-system",
        "velero",
    }
)
RESERVED_NAMESPACE_PREFIXES = ("kube-", "openshift-", "tekton-", "argocd-")
# Residency names that are system names themselves (Argo CD's built-in AppProject `default`).
RESERVED_RESIDENCY_NAMES = frozenset({"default", "kube", "openshift"})
SYSTEM_PREFIX = "system:"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SERVICE_ACCOUNT_USER = "system:serviceaccount:"
_SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts:"


@dataclass(frozen=True)
class Policy:
    """The operator's exceptions to the rules, read from the environment of the run."""

    allowed_subjects: frozenset[str] = frozenset()
    allowed_contexts: frozenset[str] = frozenset()
    argocd_namespaces: frozenset[str] = frozenset(DEFAULT_ARGOCD_NAMESPACES)
    reserved_namespaces: frozenset[str] = frozenset()

    @classmethod
    def from_environment(cls) -> Policy:
        argocd = _names(ARGOCD_NAMESPACES_ENV)
        return cls(
            allowed_subjects=_names(ALLOWED_SUBJECTS_ENV),
            allowed_contexts=_names(ALLOWED_CONTEXTS_ENV),
            argocd_namespaces=argocd or frozenset(DEFAULT_ARGOCD_NAMESPACES),
            reserved_namespaces=_names(RESERVED_NAMESPACES_ENV),
        )


def _names(variable: str) -> frozenset[str]:
    return frozenset(n.strip() for n in os.environ.get(variable, "").split(",") if n.strip())


def reserved_key_domain(key: str) -> str | None:
    """The reserved domain a label or annotation key falls under (or the key itself, for a
    reserved key without prefix), or None."""
    prefix, slash, _ = key.partition("/")
    if not slash:
        return key if key in RESERVED_PLAIN_KEYS else None
    for domain in RESERVED_DOMAINS:
        if prefix == domain or prefix.endswith(f".{domain}"):
            return domain
    return None


def namespace_refusal(namespace: str, operator: frozenset[str] = frozenset()) -> str | None:
    """Why a residency may not own `namespace`, or None; `operator` adds names and `prefix-*`."""
    if namespace in RESERVED_NAMESPACES or namespace in operator:
        return f"namespace {namespace!r} is reserved for the platform"
    prefixes = RESERVED_NAMESPACE_PREFIXES + tuple(n[:-1] for n in operator if n.endswith("*"))
    for prefix in prefixes:
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
        parts = name[len(_SERVICE_ACCOUNT_USER) :].split(":")
        if len(parts) != 2 or not all(_DNS_SUBDOMAIN.match(part) for part in parts):
            return "a service account is system:serviceaccount:<namespace>:<name>"
        if parts[0] in own_namespaces:
            return None
        return f"service account of namespace {parts[0]!r}, which is not the residency's"
    if kind == "Group" and name.startswith(_SERVICE_ACCOUNTS_GROUP):
        namespace = name[len(_SERVICE_ACCOUNTS_GROUP) :]
        if namespace in own_namespaces:
            return None
        return f"service accounts of namespace {namespace!r}, which is not the residency's"
    return f"{name!r} is a cluster identity, not a team member"
