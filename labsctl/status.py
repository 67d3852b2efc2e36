"""What is on the cluster: every residency found through its labels, its phase and health.

The dates are read from the annotations of the residency's namespace, where a person may have
edited them: `read_dates` accepts only what labsctl writes there (YYYY-MM-DD from
`spec.DATE_MIN` to `spec.DATE_MAX`, the archive date to `spec.ARCHIVE_MAX`, start <= end <=
archive). Any other value makes the phase `unknown` with a problem naming the annotation (so
the residency is reported, unhealthy, and the others are not affected); an `unknown`
residency is never `expired`, so `teardown --expired` never deletes on a guess.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from labsctl import naming
from labsctl.apply import apply as apply_specs
from labsctl.cluster import Cluster, Target
from labsctl.errors import UsageError
from labsctl.lifecycle import days_left, phase
from labsctl.runner import Progress
from labsctl.spec import ARCHIVE_MAX, DATE_MAX, DATE_MIN, Dates, Residency
from labsctl.validation import load_specs

UNKNOWN = "unknown"  # the phase of a residency whose dates cannot be read
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SHOWN = 40  # characters of an unreadable annotation quoted in a problem


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


@dataclass(frozen=True)
class AnnotatedDates:
    """A residency's dates as its namespace's annotations give them; None where unreadable."""

    start: dt.date | None
    end: dt.date | None
    archive: dt.date | None
    problems: tuple[str, ...] = ()

    @property
    def dates(self) -> Dates | None:
        """The three dates, when all of them could be read and are in order; else None."""
        if self.problems or self.start is None or self.end is None or self.archive is None:
            return None
        # Checked above; the archive may be after DATE_MAX (end plus gracePeriodDays).
        return Dates.model_construct(start=self.start, end=self.end, archive=self.archive)

    def lifecycle(self, today: dt.date | None = None) -> tuple[str, int | None]:
        """The phase and days left; `unknown` and None when the dates cannot be read."""
        dates = self.dates
        if dates is None:
            return UNKNOWN, None
        return phase(dates, today).value, days_left(dates, today)


def read_dates(annotations: Mapping[str, object]) -> AnnotatedDates:
    """The start, end and archive annotations, each read only when written as labsctl writes
    it; every other value (absent, empty, another format, an impossible or out-of-range day,
    dates out of order) is a problem, not a guess."""
    read: dict[str, dt.date | None] = {}
    problems = []
    for name, key, last in (
        ("start", naming.ANNOTATION_START, DATE_MAX),
        ("end", naming.ANNOTATION_END, DATE_MAX),
        ("archive", naming.ANNOTATION_ARCHIVE, ARCHIVE_MAX),  # end plus gracePeriodDays
    ):
        value = annotations.get(key)
        read[name] = _date(value, last)
        if read[name] is None:
            found = "is missing" if value is None else f"is {_quoted(value)}"
            problems.append(
                f"annotation {key} {found}, not a date YYYY-MM-DD from {DATE_MIN.isoformat()} "
                f"to {last.isoformat()}: the phase is {UNKNOWN}"
            )
    start, end, archive = read["start"], read["end"], read["archive"]
    if start and end and end < start:
        problems.append(f"annotation {naming.ANNOTATION_END} is before the start date")
    if end and archive and archive < end:
        problems.append(f"annotation {naming.ANNOTATION_ARCHIVE} is before the end date")
    return AnnotatedDates(start, end, archive, tuple(problems))


def _date(value: object, last: dt.date) -> dt.date | None:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:  # a day that does not exist, such as 2027-02-30
        return None
    return day if DATE_MIN <= day <= last else None


def _quoted(value: object) -> str:
    text = str(value)
    if len(text) <= _SHOWN:
        return repr(text)
    return f"{text[:_SHOWN]!r}... ({len(text)} characters)"


# The kinds a residency's status reads besides its namespaces (see `_status` and labsctl/fleet.py).
REPORTED_KINDS = [
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("v1", "ResourceQuota"),
    ("tekton.dev/v1", "Pipeline"),
    ("argoproj.io/v1alpha1", "Application"),
]


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
    if len(by_residency) > 1:  # one LIST per kind for the fleet instead of per residency
        cluster.prefetch_owned(REPORTED_KINDS)
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


@dataclass
class StatusReport:
    """What `status` found: the residencies, sorted by end date, as of `date`."""

    date: dt.date
    residencies: list[ResidencyStatus]

    def as_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": "labsctl.dev/v1alpha1",
            "kind": "StatusReport",
            "date": self.date.isoformat(),
            "residencies": [s.as_dict() for s in self.residencies],
        }


def status(
    target: Target,
    spec_files: Sequence[Path | str] = (),
    *,
    everything: bool = False,
    drift: bool | None = None,
    today: dt.date | None = None,
    on_event: Callable[[Progress], None] | None = None,
) -> StatusReport:
    """The residencies of `spec_files` (each on its own target), and with `everything` every
    other one on `target`; with `drift` (default: when spec files are given) whether each given
    one is in sync, from one dry run of them all (its progress through `on_event`)."""
    if not spec_files and not everything:
        raise UsageError("give SPEC files or --all", hint="labsctl status --all")
    residencies = load_specs(spec_files) if spec_files else []  # bad specs: before the cluster
    found = find(target, residencies, everything=everything, today=today)
    if drift if drift is not None else bool(spec_files):
        _check_drift(found, list(spec_files), residencies, target, on_event)
    return StatusReport(today or dt.date.today(), found)


def check_drift(
    found: list[ResidencyStatus],
    spec_files: Sequence[Path | str],
    target: Target,
    *,
    on_event: Callable[[Progress], None] | None = None,
) -> None:
    """Set `in_sync` and `drifted` of every residency in `found` that `spec_files` describe,
    from one server-side dry run of them all (what `labsctl plan` shows)."""
    if spec_files:
        _check_drift(found, list(spec_files), load_specs(spec_files), target, on_event)


def _check_drift(
    found: list[ResidencyStatus],
    spec_files: list[Path | str],
    residencies: list[Residency],
    target: Target,
    on_event: Callable[[Progress], None] | None,
) -> None:
    # One Ansible run for every residency (apply's dry run takes many specs at once), its
    # summaries mapped back by name to the status read on that residency's own target: a
    # residency of the same name on another cluster (`--all`) is not the one the spec describes.
    plan = apply_specs(spec_files, target, dry_run=True, on_event=on_event)
    summaries = {summary.name: summary for summary in plan.residencies}
    targets = {r.name: target.for_context(r.spec.cluster.context, r.name) for r in residencies}
    for item in found:
        summary = summaries.get(item.name)
        if summary is None or targets.get(item.name) != item.target:
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
    dates = read_dates(annotations)
    current, left = dates.lifecycle(today)
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
        start=dates.start,
        end=dates.end,
        archive=dates.archive,
        phase=current,
        days_left=left,
        members=sum(1 for kind, _ in subjects if kind == "User"),
        groups=sum(1 for kind, _ in subjects if kind == "Group"),
        namespaces_active=not problems,
        quota_peak=_quota_peak(cluster.list_owned("v1", "ResourceQuota", selector)),
        pipelines=len(cluster.list_owned("tekton.dev/v1", "Pipeline", selector)),
        tools=len(cluster.list_owned("argoproj.io/v1alpha1", "Application", selector)),
        problems=[*problems, *dates.problems],
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
