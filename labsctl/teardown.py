"""The end of a residency: delete what it owns, only that, and make sure it is really gone.

Plans first (every owned object, found by the residency's ownership labels); then, under the
residency's lock from the first read to the last delete, plans again (and stops if the residency
changed since the plan was shown), refuses when a namespace it would delete holds objects labsctl
did not create (unless forced), backs the residency up in the `export` format into a directory of
its own, deletes in reverse order of creation, then waits until the namespaces are gone; a
namespace stuck in Terminating is reported with what holds it (finalizers, remaining objects)
instead of being waited for forever. Re-running after an interruption continues where it
stopped: everything is derived from the cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.resource import ResourceList

from labsctl import naming, prune
from labsctl.cluster import Cluster
from labsctl.errors import ClusterError, ConflictError
from labsctl.export import export
from labsctl.lock import residency_lock
from labsctl.status import residencies_on

# Made by Kubernetes itself in every namespace, never by a person.
SYSTEM_OBJECTS = {("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")}
# Kinds that only mirror or record other objects.
IGNORED_KINDS = {"Event", "Endpoints", "EndpointSlice", "PodMetrics"}


@dataclass
class TeardownPlan:
    residency: str
    objects: list[prune.ObjectRef]
    unowned: list[str] = field(default_factory=list)
    # Kinds the scan was not allowed to list in a namespace it would delete: it cannot tell
    # whether they hold someone else's objects.
    blind: list[str] = field(default_factory=list)

    @property
    def namespaces(self) -> list[str]:
        return [o.name for o in self.objects if o.kind == "Namespace"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "residency": self.residency,
            "objects": [o.as_dict() for o in self.objects],
            "unowned": self.unowned,
            "blind": self.blind,
        }


@dataclass
class TeardownResult:
    plan: TeardownPlan
    deleted: bool
    backup: str | None
    duration: float
    stuck: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.plan.as_dict(),
            "deleted": self.deleted,
            "backup": self.backup,
            "durationSeconds": round(self.duration, 2),
            "stuck": self.stuck,
        }


def plan(cluster: Cluster, residency: str) -> TeardownPlan:
    owned = prune.owned(cluster, residency, list(prune.MANAGED_KINDS))
    namespaces = {o.name for o in owned if o.kind == "Namespace"}
    order = {kind: index for index, (_, kind) in enumerate(prune.MANAGED_KINDS)}
    objects = sorted(owned, key=lambda o: (-order.get(o.kind, 0), o.namespace or "", o.name))
    ours = {(o.kind, o.namespace, o.name) for o in owned}
    unowned, blind = _unowned(cluster, residency, sorted(namespaces), ours)
    return TeardownPlan(residency, objects, unowned, blind)


def _namespaced_kinds(cluster: Cluster) -> list[Any]:
    kinds = []
    with cluster.calls("discovering the cluster's kinds"):
        # A fresh view: CRDs created since the discovery cache was written hold objects too.
        cluster.dynamic.resources.invalidate_cache()
        for resource in cluster.dynamic.resources.search():
            if isinstance(resource, ResourceList):
                continue  # the `<Kind>List` pseudo-resources
            if (
                getattr(resource, "namespaced", False)
                and "list" in (resource.verbs or [])
                and "/" not in resource.name
                and resource.kind not in IGNORED_KINDS
                and getattr(resource, "preferred", True)
            ):
                kinds.append(resource)
    unique: dict[tuple[str, str], Any] = {}
    for resource in kinds:
        unique.setdefault((resource.group, resource.kind), resource)
    return list(unique.values())


def _unowned(
    cluster: Cluster, residency: str, namespaces: list[str], ours: set[tuple[str, str | None, str]]
) -> tuple[list[str], list[str]]:
    """Top-level objects in `namespaces` that labsctl did not create (someone's app), and the
    kinds it was forbidden to list there (`list <resource>.<group> in <namespace>`)."""
    if not namespaces:
        return [], []
    found: list[str] = []
    blind: list[str] = []
    for resource in _namespaced_kinds(cluster):
        for namespace in namespaces:
            try:
                items = resource.get(namespace=namespace).to_dict().get("items", [])
            except ApiException as exc:
                if exc.status in (401, 403):
                    group = f".{resource.group}" if resource.group else ""
                    blind.append(f"list {resource.name}{group} in {namespace}")
                continue  # 404, 503: an aggregated API that is down serves no objects
            except (urllib3.exceptions.HTTPError, OSError):
                with cluster.calls(f"listing {resource.kind} in {namespace}"):
                    raise  # unreachable: reported as such, like every other request
            for item in items:
                metadata = item.get("metadata", {})
                name = metadata.get("name", "")
                labels = metadata.get("labels") or {}
                if labels.get(naming.LABEL_MANAGED_BY) == "labsctl" and (
                    labels.get(naming.LABEL_RESIDENCY) == residency
                ):
                    continue  # labelled by labsctl for this residency (e.g. a template override)
                if (
                    (resource.kind, namespace, name) in ours
                    or (resource.kind, name) in SYSTEM_OBJECTS
                    or metadata.get("ownerReferences")
                ):
                    continue  # ours, Kubernetes' own, or part of something listed on its own
                found.append(f"{resource.kind} {namespace}/{name}")
    return sorted(found), sorted(blind)


def execute(
    cluster: Cluster,
    teardown_plan: TeardownPlan,
    *,
    force: bool = False,
    backup_to: Path | None = None,
    timeout: float = 300.0,
    lock_timeout: float = 60.0,
    on_progress: Callable[[str], None] | None = None,
) -> TeardownResult:
    """Delete what `teardown_plan` showed, under the residency's lock from the first read to the
    last delete: the residency is planned again inside the lock, and a plan that changed since
    it was shown (an apply ran in between) deletes nothing."""
    started = time.monotonic()
    say = on_progress or (lambda _message: None)
    residency = teardown_plan.residency
    with residency_lock(cluster, [residency], "teardown", timeout=lock_timeout) as lock:
        current = plan(cluster, residency)
        _check_unchanged(teardown_plan, current)
        _check_deletable(current, force)
        backup = None
        if backup_to is not None and current.namespaces:
            say(f"backing up to {backup_to}")
            backup = str(export(cluster, residency, backup_to).directory)
        inside = set(current.namespaces)
        for item in current.objects:
            if item.namespace in inside:
                continue  # goes with its namespace
            lock.check(f"deleting {item.describe()}")
            say(f"deleting {item.describe()}")
            cluster.delete(item.api_version, item.kind, item.name, item.namespace)
        stuck = _wait_gone(cluster, residency, timeout, say)
    return TeardownResult(current, True, backup, time.monotonic() - started, stuck)


def _check_unchanged(shown: TeardownPlan, current: TeardownPlan) -> None:
    added = sorted(set(current.objects) - set(shown.objects))
    gone = set(shown.objects) - set(current.objects)
    if added:
        raise ConflictError(
            f"residency {shown.residency} changed since its plan was made: "
            f"{', '.join(o.describe() for o in added)} appeared (and {len(gone)} objects went); "
            "nothing was deleted",
            hint="another run changed it meanwhile: run teardown again to see the new plan",
        )


def _check_deletable(current: TeardownPlan, force: bool) -> None:
    if current.blind and not force:
        raise ClusterError(
            f"residency {current.residency}: teardown may not see everything in the "
            f"namespaces it would delete (forbidden: {', '.join(current.blind)}), so it "
            "cannot tell whether they hold objects labsctl did not create; nothing was deleted",
            hint="grant what `labsctl rbac` prints (it lists every kind), or use --force to "
            "delete without seeing them",
        )
    if current.unowned and not force:
        raise ConflictError(
            f"residency {current.residency}: its namespaces hold objects labsctl did not "
            f"create: {', '.join(current.unowned)}; nothing was deleted",
            hint="move them out, or use --force to delete them with the namespaces",
        )


def backup_directory(backup_dir: Path, residency: str, today: str) -> Path:
    """`<backup_dir>/<residency>-<today>`, or with `.2`, `.3`... when that exists: a backup is
    never overwritten (a re-run after an interrupted teardown backs up what is left beside the
    complete backup of the first run)."""
    candidate = backup_dir / f"{residency}-{today}"
    number = 1
    while candidate.exists():
        number += 1
        candidate = backup_dir / f"{residency}-{today}.{number}"
    return candidate


def _wait_gone(
    cluster: Cluster, residency: str, timeout: float, say: Callable[[str], None]
) -> list[str]:
    selector = naming.owner_selector(residency)
    deadline = time.monotonic() + timeout
    while True:
        left = cluster.list_owned("v1", "Namespace", selector)
        if not left:
            return []
        if time.monotonic() >= deadline:
            kinds = _namespaced_kinds(cluster)
            return [_blockers(cluster, ns, kinds) for ns in left]
        say(
            f"waiting for {len(left)} namespace(s) to go: "
            + ", ".join(ns["metadata"]["name"] for ns in left)
        )
        time.sleep(2)


def _blockers(cluster: Cluster, namespace: dict[str, Any], kinds: list[Any]) -> str:
    name = namespace["metadata"]["name"]
    conditions = [
        c.get("message", "")
        for c in (namespace.get("status") or {}).get("conditions") or []
        if c.get("status") == "True"
    ]
    held = []
    for resource in kinds:
        try:
            with cluster.calls(f"listing {resource.kind} in {name}"):
                items = resource.get(namespace=name).to_dict().get("items", [])
        except ClusterError:
            continue
        held += [
            f"{resource.kind} {i['metadata']['name']} (finalizers: "
            f"{', '.join(i['metadata']['finalizers'])})"
            for i in items
            if i["metadata"].get("finalizers")
        ]
    if not held and not conditions:
        return f"namespace {name} is still being deleted (nothing reported holding it yet)"
    return f"namespace {name} is stuck terminating; held by: " + "; ".join(held or conditions)


def expired(cluster: Cluster, today: Any = None) -> list[str]:
    """Residencies on the cluster past their archive date."""
    return [s.name for s in residencies_on(cluster, today=today) if s.phase == "expired"]
