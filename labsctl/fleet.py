"""The fleet in detail, for the HTML page and the metrics: what `status` finds, plus per stage
the quota use, the last PipelineRuns and the Argo CD state of the tools, the team, and when
labsctl last applied each residency.

Everything is read from the cluster (the residencies' own objects, found through their labels,
and the PipelineRuns in their namespaces); nothing is written. Values are kept as the cluster
gives them: escaping is the renderers' job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from labsctl import naming, quantity
from labsctl.cluster import Cluster, Target
from labsctl.status import ResidencyStatus

PIPELINE_RUNS_SHOWN = 5  # the newest PipelineRuns kept per stage
# Quota resources in the order a person reads them; others follow, sorted.
QUOTA_ORDER = (
    "requests.cpu",
    "limits.cpu",
    "requests.memory",
    "limits.memory",
    "pods",
    "requests.storage",
    "persistentvolumeclaims",
)
# Marks labsctl or the platform set; every other label and annotation came from the spec.
_OWN_PREFIXES = (
    f"{naming.GROUP}/",
    "app.kubernetes.io/",
    "kubernetes.io/",
    "openshift.io/",
    "kubectl.kubernetes.io/",
)


@dataclass(frozen=True)
class QuotaUse:
    """One ResourceQuota resource of a stage, in base units: cores, bytes or a count."""

    resource: str
    hard: float
    used: float | None  # None until the quota controller has counted

    @property
    def unit(self) -> str:
        if self.resource.endswith("cpu"):
            return "cores"
        if self.resource.endswith(("memory", "storage")):
            return "bytes"
        return ""

    @property
    def ratio(self) -> float | None:
        if self.used is None or self.hard <= 0:
            return None
        return self.used / self.hard


@dataclass(frozen=True)
class PipelineRunInfo:
    name: str
    pipeline: str
    state: str  # succeeded, failed, running, pending
    reason: str
    started: dt.datetime | None


@dataclass(frozen=True)
class StageReport:
    name: str
    namespace: str
    description: str
    quota: tuple[QuotaUse, ...]
    pipeline_runs: tuple[PipelineRunInfo, ...] | None  # None where Tekton is not served


@dataclass(frozen=True)
class ToolReport:
    application: str
    stage: str
    sync: str
    health: str


@dataclass(frozen=True)
class SubjectReport:
    kind: str  # User or Group
    name: str
    roles: tuple[tuple[str, str], ...]  # (stage, role)


@dataclass
class ResidencyReport:
    status: ResidencyStatus
    server: str
    context: str | None
    stages: list[StageReport]
    subjects: list[SubjectReport]
    tools: list[ToolReport]
    labels: dict[str, str]  # from the spec (metadata.labels)
    annotations: dict[str, str]  # from the spec (metadata.annotations)
    last_apply: dt.datetime | None = None
    last_apply_result: str | None = None  # succeeded or failed

    @property
    def name(self) -> str:
        return self.status.name


@dataclass
class FleetReport:
    generated: dt.datetime
    today: dt.date
    residencies: list[ResidencyReport] = field(default_factory=list)

    @property
    def sources(self) -> list[tuple[str, str | None]]:
        """(API server, kubeconfig context) the page was read from, in order of appearance."""
        return list(dict.fromkeys((r.server, r.context) for r in self.residencies))


def fleet_report(
    found: list[ResidencyStatus], now: dt.datetime | None = None, today: dt.date | None = None
) -> FleetReport:
    """The details of every residency `status` found, each read on the target it was found on."""
    now = now or dt.datetime.now(dt.UTC)
    clusters: dict[Target, Cluster] = {}
    reports = []
    for status in found:
        if status.target is None:
            raise ValueError(f"residency {status.name} was not read from a cluster")
        if status.target not in clusters:
            clusters[status.target] = Cluster(status.target)
        reports.append(_residency(clusters[status.target], status))
    return FleetReport(generated=now, today=today or dt.date.today(), residencies=reports)


def _residency(cluster: Cluster, status: ResidencyStatus) -> ResidencyReport:
    selector = naming.owner_selector(status.name)
    namespaces = sorted(
        cluster.list_owned("v1", "Namespace", selector), key=lambda ns: ns["metadata"]["name"]
    )
    stage_of = {
        ns["metadata"]["name"]: _labels(ns).get(naming.LABEL_STAGE, "?") for ns in namespaces
    }
    quotas = cluster.list_owned("v1", "ResourceQuota", selector)
    runs = cluster.served("tekton.dev/v1", "PipelineRun")
    stages = [
        StageReport(
            name=stage_of[ns["metadata"]["name"]],
            namespace=ns["metadata"]["name"],
            description=_annotations(ns).get("openshift.io/description", ""),
            quota=_quota(q for q in quotas if q["metadata"]["namespace"] == ns["metadata"]["name"]),
            pipeline_runs=None if runs is None else _runs(cluster, runs, ns["metadata"]["name"]),
        )
        for ns in namespaces
    ]
    first = namespaces[0] if namespaces else {"metadata": {}}
    annotations = _annotations(first)
    applied = annotations.get(naming.ANNOTATION_LAST_APPLY, "")
    return ResidencyReport(
        status=status,
        server=cluster.server,
        context=cluster.target.context,
        stages=sorted(stages, key=lambda s: s.name),
        subjects=_subjects(cluster, selector, stage_of),
        tools=_tools(cluster, selector, stage_of),
        labels={k: v for k, v in sorted(_labels(first).items()) if _from_spec(k)},
        annotations={k: v for k, v in sorted(annotations.items()) if _from_spec(k)},
        last_apply=_timestamp(applied),
        last_apply_result=annotations.get(naming.ANNOTATION_LAST_APPLY_RESULT) or None,
    )


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("labels") or {})


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("annotations") or {})


def _from_spec(key: str) -> bool:
    return not any(key.startswith(prefix) or f".{prefix}" in key for prefix in _OWN_PREFIXES)


def _timestamp(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _number(text: Any) -> float | None:
    try:
        return float(quantity.parse(str(text)))
    except ValueError:
        return None


def _quota(quotas: Any) -> tuple[QuotaUse, ...]:
    found: dict[str, QuotaUse] = {}
    for item in quotas:
        status = item.get("status") or {}
        hard = status.get("hard") or (item.get("spec") or {}).get("hard") or {}
        used = status.get("used") or {}
        for resource, limit in hard.items():
            limit_value = _number(limit)
            if limit_value is not None:
                found[resource] = QuotaUse(resource, limit_value, _number(used.get(resource)))
    order = {name: index for index, name in enumerate(QUOTA_ORDER)}
    return tuple(found[name] for name in sorted(found, key=lambda n: (order.get(n, len(order)), n)))


def _runs(cluster: Cluster, resource: Any, namespace: str) -> tuple[PipelineRunInfo, ...]:
    with cluster.calls(f"listing PipelineRuns in {namespace}"):
        items = [item.to_dict() for item in resource.get(namespace=namespace).items]
    items.sort(
        key=lambda run: (
            (run.get("status") or {}).get("startTime") or run["metadata"]["creationTimestamp"],
            run["metadata"]["name"],
        ),
        reverse=True,
    )
    return tuple(_run(run) for run in items[:PIPELINE_RUNS_SHOWN])


def _run(run: dict[str, Any]) -> PipelineRunInfo:
    status = run.get("status") or {}
    succeeded = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Succeeded"), None
    )
    state = "pending"
    if succeeded is not None:
        state = {"True": "succeeded", "False": "failed"}.get(succeeded.get("status"), "running")
    pipeline = ((run.get("spec") or {}).get("pipelineRef") or {}).get("name") or ""
    return PipelineRunInfo(
        name=run["metadata"]["name"],
        pipeline=pipeline,
        state=state,
        reason=str((succeeded or {}).get("reason") or ""),
        started=_timestamp(status.get("startTime") or run["metadata"].get("creationTimestamp")),
    )


def _subjects(cluster: Cluster, selector: str, stage_of: dict[str, str]) -> list[SubjectReport]:
    roles: dict[tuple[str, str], dict[str, str]] = {}
    for binding in cluster.list_owned("rbac.authorization.k8s.io/v1", "RoleBinding", selector):
        name = binding["metadata"]["name"]
        if not name.startswith("team-"):
            continue
        stage = stage_of.get(binding["metadata"]["namespace"], "?")
        for subject in binding.get("subjects") or []:
            if subject.get("kind") in ("User", "Group"):
                key = (subject["kind"], subject["name"])
                roles.setdefault(key, {})[stage] = name.removeprefix("team-")
    return [
        SubjectReport(kind, name, tuple(sorted(roles[(kind, name)].items())))
        for kind, name in sorted(roles)
    ]


def _tools(cluster: Cluster, selector: str, stage_of: dict[str, str]) -> list[ToolReport]:
    tools = []
    for app in cluster.list_owned("argoproj.io/v1alpha1", "Application", selector):
        spec, status = app.get("spec") or {}, app.get("status") or {}
        destination = (spec.get("destination") or {}).get("namespace") or ""
        tools.append(
            ToolReport(
                application=app["metadata"]["name"],
                stage=stage_of.get(destination, destination),
                sync=str((status.get("sync") or {}).get("status") or "Unknown"),
                health=str((status.get("health") or {}).get("status") or "Unknown"),
            )
        )
    return sorted(tools, key=lambda t: t.application)
