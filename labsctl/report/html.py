"""The fleet as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

Every value from the cluster (names, labels, annotations, reasons) is text to this page: the
Jinja2 environment escapes every expression (`autoescape=True`, for element text and quoted
attributes alike), and the page's Content-Security-Policy forbids scripts and every fetch, so a
hostile annotation is shown, never run. Decisions (widths, colours, wording) are made here; the
template only loops over what `page()` prepares.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from jinja2 import PackageLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from labsctl._version import __version__
from labsctl.fleet import FleetReport, QuotaUse, ResidencyReport
from labsctl.report.timeline import describe, timeline

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
QUOTA_WARN = 0.8  # a bar turns amber from here, red when full
RESOURCE_NAMES = {
    "requests.cpu": "CPU requests",
    "limits.cpu": "CPU limits",
    "requests.memory": "Memory requests",
    "limits.memory": "Memory limits",
    "pods": "Pods",
    "requests.storage": "Storage requests",
    "persistentvolumeclaims": "Volume claims",
}
_BINARY = (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20))
_BINARY_SMALL = ("KiB", 2**10)


def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=PackageLoader("labsctl.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: FleetReport) -> str:
    """The page for `report`, as text (UTF-8 when written)."""
    return _environment().get_template("fleet.html.j2").render(page=page(report))


def page(report: FleetReport) -> dict[str, Any]:
    """Everything the template shows, decided and worded here."""
    statuses = [r.status for r in report.residencies]
    return {
        "csp": CONTENT_SECURITY_POLICY,
        "version": __version__,
        "generated": _time(report.generated),
        "today": report.today.isoformat(),
        "sources": [
            {"server": server, "context": context or "in-cluster"}
            for server, context in report.sources
        ],
        "timeline": timeline(statuses, report.today),
        "summary": [_summary(r) for r in report.residencies],
        "residencies": [_residency(r) for r in report.residencies],
    }


def _summary(item: ResidencyReport) -> dict[str, Any]:
    status = item.status
    return {
        "name": status.name,
        "anchor": f"residency-{status.name}",
        "organisation": status.organisation,
        "phase": status.phase,
        "start": _date(status.start),
        "end": _date(status.end),
        "archive": _date(status.archive),
        "days_left": "-" if status.days_left is None else str(status.days_left),
        "health": "ok" if status.healthy else "; ".join(status.problems),
        "healthy": status.healthy,
        "quota": "-" if status.quota_peak is None else f"{status.quota_peak:.0%}",
        "drift": _drift_word(status.in_sync),
        "drifted": status.in_sync is False,
        "description": describe(status),
    }


def _residency(item: ResidencyReport) -> dict[str, Any]:
    status = item.status
    resources = list(dict.fromkeys(q.resource for s in item.stages for q in s.quota))
    by_stage = {s.name: {q.resource: q for q in s.quota} for s in item.stages}
    runs_served = any(s.pipeline_runs is not None for s in item.stages)
    return {
        "name": status.name,
        "anchor": f"residency-{status.name}",
        "organisation": status.organisation,
        "phase": status.phase,
        "facts": [
            ("Organisation", status.organisation or "-"),
            ("Phase", status.phase),
            ("Dates", _dates(item)),
            ("Days left", "-" if status.days_left is None else str(status.days_left)),
            ("Cluster", f"{item.server} (context {item.context or 'in-cluster'})"),
            ("Last apply", _last_apply(item)),
            ("Health", "ok" if status.healthy else "; ".join(status.problems)),
        ],
        "labels": sorted(item.labels.items()),
        "annotations": sorted(item.annotations.items()),
        "drift": _drift_word(status.in_sync),
        "drift_checked": status.in_sync is not None,
        "drifted": status.drifted,
        "stages": [
            {"name": s.name, "namespace": s.namespace, "description": s.description}
            for s in item.stages
        ],
        "quota_rows": [
            {
                "resource": RESOURCE_NAMES.get(resource, resource),
                "cells": [_quota_cell(by_stage[s.name].get(resource)) for s in item.stages],
            }
            for resource in resources
        ],
        "pipelines_served": runs_served,
        "pipeline_runs": [
            {
                "stage": s.name,
                "name": run.name,
                "pipeline": run.pipeline or "-",
                "state": run.state,
                "reason": run.reason or "-",
                "started": _time(run.started) if run.started else "-",
            }
            for s in item.stages
            for run in s.pipeline_runs or ()
        ],
        "tools": [
            {
                "application": tool.application,
                "stage": tool.stage,
                "sync": tool.sync,
                "health": tool.health,
                "ok": tool.sync == "Synced" and tool.health == "Healthy",
            }
            for tool in item.tools
        ],
        "subjects": [
            {
                "kind": subject.kind,
                "name": subject.name,
                "roles": ", ".join(f"{stage}: {role}" for stage, role in subject.roles),
            }
            for subject in item.subjects
        ],
        "members": sum(1 for s in item.subjects if s.kind == "User"),
        "groups": sum(1 for s in item.subjects if s.kind == "Group"),
    }


def _quota_cell(use: QuotaUse | None) -> dict[str, Any] | None:
    if use is None:
        return None
    ratio = use.ratio
    level = "unknown"
    if ratio is not None:
        level = "full" if ratio >= 1 else "warn" if ratio >= QUOTA_WARN else "ok"
    used = "not counted yet" if use.used is None else _amount(use.used, use.unit)
    text = f"{used} of {_amount(use.hard, use.unit)}"
    percent = "" if ratio is None else f"{ratio:.0%}"
    return {
        "text": text,
        "percent": percent,
        "width": 0 if ratio is None else round(min(ratio, 1.0) * 100, 1),
        "level": level,
        "label": f"{text}{f' ({percent})' if percent else ''}",
    }


def _amount(value: float, unit: str) -> str:
    if unit == "bytes":
        return _bytes(value)
    if unit == "cores":
        return f"{_number(value)} {'core' if value == 1 else 'cores'}"
    return _number(value)


def _bytes(value: float) -> str:
    for name, size in (*_BINARY, _BINARY_SMALL):
        if abs(value) >= size:
            return f"{_number(value / size)} {name}"
    return f"{_number(value)} B"


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def _drift_word(in_sync: bool | None) -> str:
    if in_sync is None:
        return "not checked"
    return "no" if in_sync else "yes"


def _dates(item: ResidencyReport) -> str:
    status = item.status
    return f"{_date(status.start)} to {_date(status.end)}, archive {_date(status.archive)}"


def _last_apply(item: ResidencyReport) -> str:
    if item.last_apply is None:
        return "not recorded"
    return f"{_time(item.last_apply)}, {item.last_apply_result or 'result unknown'}"


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else "-"


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
