"""The fleet as OpenMetrics text: dates and phase, quota used and hard in base units, drift, the
last apply.

Every family is a gauge (the phase one-hot with a `phase` label, the residency's details an
`_info` gauge of value 1), so the same text is also valid Prometheus text format 0.0.4, where
`# UNIT` and `# EOF` are comments: the node exporter's textfile collector reads it as it is.
Written by hand, so labsctl needs no metrics library at run time. Every label value is escaped
as the format requires (backslash, double quote, newline), so a hostile annotation stays one
label value. The output ends with `# EOF`. docs/fleet-report.md lists every metric.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from labsctl.fleet import FleetReport, ResidencyReport
from labsctl.lifecycle import Phase

PREFIX = "labsctl_"
PHASES = (*(p.value for p in Phase), "unknown")


@dataclass
class _Family:
    name: str
    kind: str  # always gauge (see the module docstring)
    help: str
    unit: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((self.name, labels, value))

    def text(self) -> str:
        lines = [f"# TYPE {self.name} {self.kind}"]
        if self.unit:
            lines.append(f"# UNIT {self.name} {self.unit}")
        lines.append(f"# HELP {self.name} {_escape_help(self.help)}")
        lines += [
            f"{name}{_labels(labels)} {_value(value)}" for name, labels, value in self.samples
        ]
        return "\n".join(lines) + "\n"


def render_openmetrics(report: FleetReport) -> str:
    families = _families(report.residencies)
    families.append(
        _Family(
            f"{PREFIX}report_generated_timestamp_seconds",
            "gauge",
            "When labsctl read these values from the cluster.",
            unit="seconds",
        )
    )
    families[-1].add(report.generated.timestamp())
    return "".join(f.text() for f in families) + "# EOF\n"


def _families(residencies: list[ResidencyReport]) -> list[_Family]:
    info = _Family(
        f"{PREFIX}residency_info",
        "gauge",
        "A residency labsctl manages (always 1), the organisation it is for and where it was read.",
    )
    phase = _Family(
        f"{PREFIX}residency_phase",
        "gauge",
        "1 for the residency's current phase, 0 for the others.",
    )
    days = _Family(
        f"{PREFIX}residency_days_left",
        "gauge",
        "Days of access left, counting today; negative after the end date.",
    )
    dates = {
        key: _Family(
            f"{PREFIX}residency_{key}_timestamp_seconds",
            "gauge",
            f"The residency's {key} date (00:00 UTC).",
            unit="seconds",
        )
        for key in ("start", "end", "archive")
    }
    healthy = _Family(
        f"{PREFIX}residency_healthy", "gauge", "1 when every namespace of the residency is Active."
    )
    drifted = _Family(
        f"{PREFIX}residency_drifted",
        "gauge",
        "1 when a dry run of the residency's spec would change the cluster (only when checked).",
    )
    drifted_objects = _Family(
        f"{PREFIX}residency_drifted_objects",
        "gauge",
        "Objects a dry run of the residency's spec would create, change or prune.",
    )
    applied = _Family(
        f"{PREFIX}residency_last_apply_timestamp_seconds",
        "gauge",
        "When `labsctl apply` last ended for the residency.",
        unit="seconds",
    )
    succeeded = _Family(
        f"{PREFIX}residency_last_apply_success",
        "gauge",
        "1 when the last `labsctl apply` of the residency succeeded, 0 when it failed.",
    )
    hard = _Family(
        f"{PREFIX}quota_hard",
        "gauge",
        "ResourceQuota limit per stage and resource, in base units (cores, bytes, objects).",
    )
    used = _Family(
        f"{PREFIX}quota_used",
        "gauge",
        "ResourceQuota use per stage and resource, in base units (cores, bytes, objects).",
    )
    for item in residencies:
        status, who = item.status, {"residency": item.name}
        info.add(
            1,
            **who,
            organisation=status.organisation,
            server=item.server,
            context=item.context or "",
        )
        for state in PHASES:
            phase.add(1 if status.phase == state else 0, **who, phase=state)
        if status.days_left is not None:
            days.add(status.days_left, **who)
        for key, day in (("start", status.start), ("end", status.end), ("archive", status.archive)):
            if day is not None:
                dates[key].add(_epoch(day), **who)
        healthy.add(1 if status.healthy else 0, **who)
        if status.in_sync is not None:
            drifted.add(0 if status.in_sync else 1, **who)
            drifted_objects.add(len(status.drifted), **who)
        if item.last_apply is not None:
            applied.add(item.last_apply.timestamp(), **who)
        if item.last_apply_result in ("succeeded", "failed"):
            succeeded.add(1 if item.last_apply_result == "succeeded" else 0, **who)
        for stage in item.stages:
            where = {**who, "stage": stage.name, "namespace": stage.namespace}
            for use in stage.quota:
                hard.add(use.hard, **where, resource=use.resource)
                if use.used is not None:
                    used.add(use.used, **where, resource=use.resource)
    return [
        info,
        phase,
        days,
        *dates.values(),
        healthy,
        drifted,
        drifted_objects,
        applied,
        succeeded,
        hard,
        used,
    ]


def _epoch(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items()) + "}"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return _escape_label(text)


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))
