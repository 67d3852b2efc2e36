"""What is on the cluster: every residency found through its labels, its phase and health."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from labsctl import apply, naming
from labsctl.cluster import Cluster, Target
from labsctl.errors import UsageError
from labsctl.lifecycle import days_left, phase
from labsctl.spec import Dates, Residency


@dataclass
class ResidencyStatus:
    name: str
    organisation: str
    stages: list[str]
    start: dt.date | None
    end: dt.date | None
    archive: dt.date | None
    phase: str
    days_left: int | None
    members: int
    groups: int
    namespaces_active: bool
    quota_peak: float | None  # highest used/hard ratio over every stage and resource
    pipelines: int
    tools: int
    in_sync: bool | None = None  # only known when the spec was given
    problems: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)  # what a dry run would change
    target: Target | None = field(default=None, compare=False, repr=False)  # where it was read

    @property
    def healthy(self) -> bool:
        return self.namespaces_active and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "organisation": self.organisation,
            "stages": self.stages,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "archive": _iso(self.archive),
            "phase": self.phase,
            "daysLeft": self.days_left,
            "members": self.members,
            "groups": self.groups,
            "healthy": self.healthy,
            "namespacesActive": self.namespaces_active,
            "quotaPeakPercent": None if self.quota_peak is None else round(self.quota_peak * 100),
            "pipelines": self.pipelines,
            "tools": self.tools,
            "inSync": self.in_sync,
            "problems": self.problems,
        }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _date(annotations: dict[str, str], key: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(annotations.get(key, ""))
    except ValueError:
        return None


def residencies_on(
    cluster: Cluster, names: list[str] | None = None, today: dt.date | None = None
) -> list[ResidencyStatus]:
    """Every residency labsctl manages on the cluster (or only `names`), sorted by end date."""
    namespaces = cluster.list_owned("v1", "Namespace", f"{naming.LABEL_MANAGED_BY}=labsctl")
    by_residency: dict[str, list[dict[str, Any]]] = {}
    for ns in namespaces:
        residency = (ns["metadata"].get("labels") or {}).get(naming.LABEL_RESIDENCY)
        if residency and (names is None or residency in names):
            by_residency.setdefault(residency, []).append(ns)
    found = [_status(cluster, name, items, today) for name, items in by_residency.items()]
    return sorted(found, key=lambda s: (s.end or dt.date.max, s.name))


def residencies_of(
    residencies: list[Residency], target: Target, today: dt.date | None = None
) -> list[ResidencyStatus]:
    """The given residencies, each looked up on its own target (`spec.cluster.context`, else
    `target`), as apply put them there; sorted by end date."""
    names_on: dict[Target, list[str]] = {}
    for residency in residencies:
        own = target.for_context(residency.spec.cluster.context, residency.name)
        names_on.setdefault(own, []).append(residency.name)
    found = [
        status
        for each, names in names_on.items()
        for status in residencies_on(Cluster(each), names, today)
    ]
    return sorted(found, key=lambda s: (s.end or dt.date.max, s.name))


def find(
    target: Target,
    residencies: list[Residency],
    *,
    everything: bool = False,
    today: dt.date | None = None,
) -> list[ResidencyStatus]:
    """The given residencies (each on its own target), and with `everything` every other one on
    `target` too; sorted by end date. A given residency that is not on its cluster is an error."""
    found = residencies_of(residencies, target, today) if residencies else []
    missing = sorted({r.name for r in residencies} - {s.name for s in found})
    if missing:
        raise UsageError(
            f"not on the cluster: {', '.join(missing)}", hint="`labsctl apply` creates them"
        )
    if everything:
        given = {(s.name, s.target) for s in found}
        found += [
            s for s in residencies_on(Cluster(target), today=today) if (s.name, target) not in given
        ]
    return sorted(found, key=lambda s: (s.end or dt.date.max, s.name))


def check_drift(found: list[ResidencyStatus], spec_files: list[Path], target: Target) -> None:
    """Set `in_sync` and `drifted` of every residency in `found` that `spec_files` describe,
    from one server-side dry run of them all (what `labsctl plan` shows)."""
    if not spec_files:
        return
    plan = apply.apply(list(spec_files), target, dry_run=True)
    summaries = {summary.name: summary for summary in plan.residencies}
    for item in found:
        summary = summaries.get(item.name)
        if summary is None:
            continue
        item.in_sync = summary.in_sync
        item.drifted = [
            f"{c['action']} {c['kind']} {c['namespace'] + '/' if c['namespace'] else ''}{c['name']}"
            for c in summary.changes
        ] + [f"failed: role {f.role}: {f.message}" for f in summary.failures]


def _status(
    cluster: Cluster, name: str, namespaces: list[dict[str, Any]], today: dt.date | None
) -> ResidencyStatus:
    selector = naming.owner_selector(name)
    annotations = namespaces[0]["metadata"].get("annotations") or {}
    start = _date(annotations, naming.ANNOTATION_START)
    end = _date(annotations, naming.ANNOTATION_END)
    archive = _date(annotations, naming.ANNOTATION_ARCHIVE)
    current, left = "unknown", None
    if start and end:
        dates = Dates(start=start, end=end, archive=archive)
        current, left = phase(dates, today).value, days_left(dates, today)
    bindings = cluster.list_owned("rbac.authorization.k8s.io/v1", "RoleBinding", selector)
    subjects = {
        (s["kind"], s["name"])
        for b in bindings
        if b["metadata"]["name"].startswith("team-")
        for s in b.get("subjects") or []
    }
    problems = [
        f"namespace {ns['metadata']['name']} is {ns.get('status', {}).get('phase')}"
        for ns in namespaces
        if (ns.get("status") or {}).get("phase") != "Active"
    ]
    return ResidencyStatus(
        name=name,
        organisation=annotations.get(naming.ANNOTATION_ORGANISATION, ""),
        stages=sorted(
            (ns["metadata"].get("labels") or {}).get(naming.LABEL_STAGE, "?") for ns in namespaces
        ),
        start=start,
        end=end,
        archive=archive,
        phase=current,
        days_left=left,
        members=sum(1 for kind, _ in subjects if kind == "User"),
        groups=sum(1 for kind, _ in subjects if kind == "Group"),
        namespaces_active=not problems,
        quota_peak=_quota_peak(cluster.list_owned("v1", "ResourceQuota", selector)),
        pipelines=len(cluster.list_owned("tekton.dev/v1", "Pipeline", selector)),
        tools=len(cluster.list_owned("argoproj.io/v1alpha1", "Application", selector)),
        problems=problems,
        target=cluster.target,
    )


def _quota_peak(quotas: list[dict[str, Any]]) -> float | None:
    peak: float | None = None
    for quota in quotas:
        status = quota.get("status") or {}
        hard, used = status.get("hard") or {}, status.get("used") or {}
        for resource, limit in hard.items():
            limit_value = parse_quantity(limit)
            if limit_value > 0 and resource in used:
                ratio = float(parse_quantity(used[resource]) / limit_value)
                peak = ratio if peak is None else max(peak, ratio)
    return peak
