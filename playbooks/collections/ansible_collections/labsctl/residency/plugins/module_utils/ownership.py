# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""What a residency owns on the cluster, and the rules for changing or deleting it, written once.

The modules of this collection (so any controller that runs the playbooks with nothing but
Ansible) and labsctl itself use these functions and constants; nothing else decides what is
owned, what is stale, what may be deleted and in which order.

- Ownership: an object is a residency's when it carries ``app.kubernetes.io/managed-by=labsctl``
  and ``labsctl.dev/residency=<name>``; objects are found by that selector only, never by name.
- Managed kinds, in apply order (``MANAGED_KINDS``); prune and teardown delete in reverse.
- Stale: owned, of a managed kind or a kind the residency renders, and no longer declared.
- Teardown refuses namespaces holding objects nobody labelled as the residency's (someone's
  application), and namespaces in which it may not list some kind (it cannot see them).
"""

from __future__ import annotations

import re

from ansible_collections.labsctl.residency.plugins.module_utils.client import ClientError

MANAGER = "labsctl"  # the managed-by label's value, and the field manager of every apply
FIELD_MANAGER = MANAGER
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_RESIDENCY = "labsctl.dev/residency"
LABEL_STAGE = "labsctl.dev/stage"
OWNERSHIP_LABELS = (LABEL_MANAGED_BY, LABEL_RESIDENCY)
LOCK_NAMESPACE = "labsctl-system"  # where the per-residency lock Leases live
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"  # Argo CD's name for its own cluster
RESIDENCY_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")

# (apiVersion, kind, resource) of everything labsctl renders, in apply order: nothing is created
# before what it refers to (an Application never before its AppProject, a Trigger never before
# its template and binding). Prune and teardown delete in the reverse order.
MANAGED_KINDS = (
    ("v1", "Namespace", "namespaces"),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    ("v1", "ResourceQuota", "resourcequotas"),
    ("v1", "LimitRange", "limitranges"),
    ("user.openshift.io/v1", "Group", "groups"),
    ("v1", "Secret", "secrets"),
    ("v1", "ServiceAccount", "serviceaccounts"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    ("tekton.dev/v1", "Task", "tasks"),
    ("tekton.dev/v1", "Pipeline", "pipelines"),
    ("triggers.tekton.dev/v1beta1", "TriggerTemplate", "triggertemplates"),
    ("triggers.tekton.dev/v1beta1", "TriggerBinding", "triggerbindings"),
    ("triggers.tekton.dev/v1beta1", "Trigger", "triggers"),
    ("triggers.tekton.dev/v1beta1", "EventListener", "eventlisteners"),
    ("route.openshift.io/v1", "Route", "routes"),
    ("networking.k8s.io/v1", "Ingress", "ingresses"),
    ("argoproj.io/v1alpha1", "AppProject", "appprojects"),
    ("argoproj.io/v1alpha1", "Application", "applications"),
)
# Made by Kubernetes itself in every namespace, never by a person.
SYSTEM_OBJECTS = frozenset({("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")})
# Kinds that only mirror or record other objects.
IGNORED_KINDS = frozenset({"Event", "Endpoints", "EndpointSlice", "PodMetrics"})
AGGREGATED_DISCOVERY = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
)


class OwnershipError(Exception):
    """A rule of this module refused a request; the message names what and why."""


def owner_selector(residency):
    """The label selector of every object `residency` owns."""
    check_residency(residency)
    return f"{LABEL_MANAGED_BY}={MANAGER},{LABEL_RESIDENCY}={residency}"


def fleet_selector(residencies):
    """One selector for the objects of several residencies (one LIST per kind for a fleet)."""
    for name in residencies:
        check_residency(name)
    names = ",".join(sorted(set(residencies)))
    return f"{LABEL_MANAGED_BY}={MANAGER},{LABEL_RESIDENCY} in ({names})"


def check_residency(residency):
    if not isinstance(residency, str) or not RESIDENCY_NAME.match(residency):
        raise OwnershipError(
            f"{residency!r} is not a residency name (a DNS label): refusing to select by it"
        )
    return residency


def owned_by(obj, residency):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(LABEL_MANAGED_BY) == MANAGER and labels.get(LABEL_RESIDENCY) == residency


def foreign_labels(wanted, found, keys=OWNERSHIP_LABELS):
    """The ownership label keys on which an existing object differs from the one we apply."""
    wanted_labels = (wanted.get("metadata") or {}).get("labels") or {}
    found_labels = (found.get("metadata") or {}).get("labels") or {}
    return [key for key in keys if found_labels.get(key) != wanted_labels.get(key)]


class Ref:
    """One object by identity: apiVersion, kind, namespace (None when cluster-scoped), name."""

    __slots__ = ("api_version", "kind", "name", "namespace")

    def __init__(self, api_version, kind, namespace, name):
        self.api_version = api_version
        self.kind = kind
        self.namespace = namespace or None
        self.name = name

    @classmethod
    def of(cls, obj):
        metadata = obj.get("metadata") or {}
        api_version = obj.get("apiVersion") or obj.get("api_version") or ""
        return cls(api_version, obj["kind"], metadata.get("namespace"), metadata["name"])

    @property
    def group(self):
        return self.api_version.rpartition("/")[0]

    def key(self):
        """Identity across versions of an API group."""
        return (self.group, self.kind, self.namespace or "", self.name)

    def describe(self):
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    def as_dict(self):
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }

    def __eq__(self, other):
        return isinstance(other, Ref) and self.as_tuple() == other.as_tuple()

    def __lt__(self, other):
        return self.as_tuple() < other.as_tuple()

    def __hash__(self):
        return hash(self.as_tuple())

    def __repr__(self):
        return f"Ref({self.api_version!r}, {self.kind!r}, {self.namespace!r}, {self.name!r})"

    def as_tuple(self):
        return (self.api_version, self.kind, self.namespace or "", self.name)


def kinds_of(objects):
    """The managed kinds, then every other kind among `objects` (a template's), in order."""
    kinds = [(api_version, kind) for api_version, kind, _resource in MANAGED_KINDS]
    for obj in objects:
        pair = (obj.get("apiVersion") or obj.get("api_version"), obj["kind"])
        if pair not in kinds:
            kinds.append(pair)
    return kinds


def deletion_order(refs, kinds):
    """`refs` in the order they are deleted: kinds backwards, then by namespace and name."""
    rank = {kind: index for index, (_api_version, kind) in enumerate(kinds)}
    return sorted(refs, key=lambda r: (-rank.get(r.kind, len(rank)), r.namespace or "", r.name))


def api_path(api_version, resource, namespace=None, name=None):
    base = ("/api/" if "/" not in api_version else "/apis/") + api_version
    if namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{resource}"
    return f"{base}/{name}" if name else base


class Discovery:
    """The kinds a cluster serves, read once: aggregated discovery (two requests) where the
    server has it, else one request per group-version."""

    def __init__(self, client):
        self.client = client
        self._resources = None

    def resources(self):
        """Every served resource (no subresources): dicts with apiVersion, group, kind,
        resource, namespaced, verbs and preferred (the group's preferred version)."""
        if self._resources is None:
            found = []
            for root in ("/api", "/apis"):
                answer = self.client.request("GET", root, accept=AGGREGATED_DISCOVERY)
                if answer.get("kind") == "APIGroupDiscoveryList":
                    found += _aggregated(answer)
                else:
                    found += self._legacy(root, answer)
            self._resources = found
        return self._resources

    def _legacy(self, root, answer):
        if root == "/api":
            versions = [("v1", True)]
        else:
            versions = []
            for group in answer.get("groups") or []:
                preferred = (group.get("preferredVersion") or {}).get("groupVersion")
                for version in group.get("versions") or []:
                    versions.append((version["groupVersion"], version["groupVersion"] == preferred))
        found = []
        for group_version, preferred in versions:
            try:
                listing = self.client.request("GET", f"{root}/{group_version}")
            except ClientError as exc:
                if exc.status in (404, 503):
                    continue  # an aggregated API that is down serves nothing
                raise
            group = group_version.rpartition("/")[0]
            for item in listing.get("resources") or []:
                if "/" in item["name"]:
                    continue
                found.append(
                    {
                        "apiVersion": group_version,
                        "group": group,
                        "kind": item["kind"],
                        "resource": item["name"],
                        "namespaced": bool(item.get("namespaced")),
                        "verbs": list(item.get("verbs") or []),
                        "preferred": preferred,
                    }
                )
        return found

    def resource(self, api_version, kind):
        """The served resource of a kind at exactly that apiVersion, or None."""
        for item in self.resources():
            if item["apiVersion"] == api_version and item["kind"] == kind:
                return item
        return None

    def namespaced_listable(self):
        """One resource per (group, kind) that holds objects in namespaces and can be listed:
        what teardown's scan for someone else's objects reads."""
        chosen = {}
        for item in self.resources():
            if (
                item["namespaced"]
                and "list" in item["verbs"]
                and item["kind"] not in IGNORED_KINDS
                and item["preferred"]
            ):
                chosen.setdefault((item["group"], item["kind"]), item)
        return list(chosen.values())


def _aggregated(answer):
    found = []
    for group in answer.get("items") or []:
        name = (group.get("metadata") or {}).get("name") or ""
        for index, version in enumerate(group.get("versions") or []):
            if version.get("freshness") == "Stale":
                continue  # an aggregated API that is down serves nothing
            group_version = f"{name}/{version['version']}" if name else version["version"]
            for item in version.get("resources") or []:
                kind = (item.get("responseKind") or {}).get("kind")
                if not kind:
                    continue
                found.append(
                    {
                        "apiVersion": group_version,
                        "group": name,
                        "kind": kind,
                        "resource": item["resource"],
                        "namespaced": item.get("scope") == "Namespaced",
                        "verbs": list(item.get("verbs") or []),
                        "preferred": index == 0,
                    }
                )
    return found


def list_owned(client, discovery, residencies, kinds):
    """{residency: [object, ...]} of everything of `kinds` the `residencies` own, one LIST per
    kind for all of them (objects get their apiVersion and kind)."""
    selector = (
        fleet_selector(residencies) if len(residencies) > 1 else owner_selector(residencies[0])
    )
    wanted = set(residencies)
    found = {name: [] for name in residencies}
    for api_version, kind in kinds:
        resource = discovery.resource(api_version, kind)
        if resource is None:
            continue  # not served here: nothing of it can exist
        listing = client.request(
            "GET",
            api_path(api_version, resource["resource"]),
            query=[("labelSelector", selector)],
        )
        for item in listing.get("items") or []:
            labels = (item.get("metadata") or {}).get("labels") or {}
            owner = labels.get(LABEL_RESIDENCY)
            if owner not in wanted or labels.get(LABEL_MANAGED_BY) != MANAGER:
                continue  # belt and braces: the selector already says so
            item["apiVersion"] = api_version
            item["kind"] = kind
            found[owner].append(item)
    return found


def stale(owned, keep, kinds):
    """The owned objects (`owned`: live objects) that `keep` (objects or refs as dicts) no
    longer declares, in deletion order. Left out: objects already being deleted (nothing left
    to do), and objects inside a namespace that is stale or being deleted (they go with it)."""
    wanted = {Ref.of(obj).key() for obj in keep}

    def going(obj):
        return bool((obj.get("metadata") or {}).get("deletionTimestamp"))

    gone = [(Ref.of(obj), going(obj)) for obj in owned]
    gone = [(ref, deleting) for ref, deleting in gone if deleting or ref.key() not in wanted]
    doomed = {ref.name for ref, _deleting in gone if ref.kind == "Namespace"}
    left = [ref for ref, deleting in gone if not deleting and ref.namespace not in doomed]
    return deletion_order(left, kinds)


def scan_unowned(client, discovery, residency, namespaces, ours):
    """Objects in `namespaces` that labsctl did not create for `residency` (someone's
    application), and what the scan was forbidden to list there (``list <resource>.<group> in
    <namespace>``). `ours`: keys (Ref.key()) of the residency's own objects."""
    unowned, blind = [], []
    if not namespaces:
        return unowned, blind
    for resource in discovery.namespaced_listable():
        for namespace in namespaces:
            path = api_path(resource["apiVersion"], resource["resource"], namespace)
            try:
                items = client.request("GET", path).get("items") or []
            except ClientError as exc:
                if exc.status in (401, 403):
                    group = f".{resource['group']}" if resource["group"] else ""
                    blind.append(f"list {resource['resource']}{group} in {namespace}")
                    continue
                if exc.status in (404, 405, 503):
                    continue  # gone meanwhile, or an aggregated API that serves nothing now
                raise
            for item in items:
                metadata = item.get("metadata") or {}
                name = metadata.get("name", "")
                key = (resource["group"], resource["kind"], namespace, name)
                if (
                    owned_by(item, residency)
                    or key in ours
                    or (resource["kind"], name) in SYSTEM_OBJECTS
                    or metadata.get("ownerReferences")
                ):
                    continue  # ours, Kubernetes' own, or part of something listed on its own
                unowned.append(f"{resource['kind']} {namespace}/{name}")
    return sorted(unowned), sorted(blind)


class TeardownPlan:
    """What tearing a residency down deletes (in order), and what stands in its way."""

    def __init__(self, residency, objects, unowned=(), blind=(), live=()):
        self.residency = residency
        self.objects = list(objects)
        self.unowned = list(unowned)
        self.blind = list(blind)
        self.live = list(live)  # the owned objects as read, for the backup

    @property
    def namespaces(self):
        return [ref.name for ref in self.objects if ref.kind == "Namespace"]

    def refusal(self, force):
        """Why this plan must not be carried out (None: it may), with the missing permission
        or the unowned objects named; `force` deletes anyway."""
        if force:
            return None
        if self.blind:
            return (
                "Forbidden",
                f"residency {self.residency}: teardown may not see everything in the namespaces "
                f"it would delete (forbidden: {', '.join(self.blind)}), so it cannot tell "
                "whether they hold objects labsctl did not create; nothing was deleted",
            )
        if self.unowned:
            return (
                "NotOwned",
                f"residency {self.residency}: its namespaces hold objects labsctl did not "
                f"create: {', '.join(self.unowned)}; nothing was deleted",
            )
        return None

    def as_dict(self):
        return {
            "residency": self.residency,
            "objects": [ref.as_dict() for ref in self.objects],
            "unowned": list(self.unowned),
            "blind": list(self.blind),
        }


def teardown_plan(client, discovery, residency, kinds=None):
    """Everything `residency` owns, in deletion order, with the scan of its namespaces."""
    kinds = kinds or kinds_of([])
    owned = list_owned(client, discovery, [residency], kinds)[residency]
    refs = deletion_order([Ref.of(obj) for obj in owned], kinds)
    namespaces = sorted(ref.name for ref in refs if ref.kind == "Namespace")
    ours = {ref.key() for ref in refs}
    unowned, blind = scan_unowned(client, discovery, residency, namespaces, ours)
    return TeardownPlan(residency, refs, unowned, blind, live=owned)


def delete(client, discovery, ref):
    """Delete one object (gone already is what we wanted); False when its kind is not served."""
    resource = discovery.resource(ref.api_version, ref.kind)
    if resource is None:
        return False
    path = api_path(ref.api_version, resource["resource"], ref.namespace, ref.name)
    try:
        client.request("DELETE", path, query=[("propagationPolicy", "Background")])
    except ClientError as exc:
        if exc.status != 404:
            raise
    return True


def delete_planned(client, discovery, plan, before_each=None):
    """Delete what `plan` holds, in its order; objects in a namespace that is deleted go with
    it. `before_each(ref)` runs first each time (the lock's check). Returns what was deleted."""
    inside = set(plan.namespaces)
    deleted = []
    for ref in plan.objects:
        if ref.namespace in inside:
            continue
        if before_each is not None:
            before_each(ref)
        if delete(client, discovery, ref):
            deleted.append(ref)
    return deleted


def namespaces_left(client, residency):
    listing = client.request(
        "GET", "/api/v1/namespaces", query=[("labelSelector", owner_selector(residency))]
    )
    return listing.get("items") or []


def blockers(client, discovery, namespace):
    """One sentence on what holds a namespace that does not go: finalizers of what is left in
    it, else the namespace's own conditions."""
    name = namespace["metadata"]["name"]
    conditions = [
        c.get("message", "")
        for c in (namespace.get("status") or {}).get("conditions") or []
        if c.get("status") == "True"
    ]
    held = []
    for resource in discovery.namespaced_listable():
        try:
            items = (
                client.request(
                    "GET", api_path(resource["apiVersion"], resource["resource"], name)
                ).get("items")
                or []
            )
        except ClientError:
            continue
        for item in items:
            finalizers = (item.get("metadata") or {}).get("finalizers")
            if finalizers:
                held.append(
                    f"{resource['kind']} {item['metadata']['name']} (finalizers: "
                    f"{', '.join(finalizers)})"
                )
    if not held and not conditions:
        return f"namespace {name} is still being deleted (nothing reported holding it yet)"
    return f"namespace {name} is stuck terminating; held by: " + "; ".join(held or conditions)


def wait_gone(client, discovery, residency, timeout, clock, sleep, on_wait=None):
    """Wait until the residency's namespaces are gone; [] then, else one sentence per namespace
    still there after `timeout` seconds naming what holds it."""
    deadline = clock() + timeout
    while True:
        left = namespaces_left(client, residency)
        if not left:
            return []
        if clock() >= deadline:
            return [blockers(client, discovery, ns) for ns in left]
        if on_wait is not None:
            on_wait(
                f"waiting for {len(left)} namespace(s) to go: "
                + ", ".join(ns["metadata"]["name"] for ns in left)
            )
        sleep(2)
