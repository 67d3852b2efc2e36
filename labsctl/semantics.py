"""Checks across fields that a schema cannot express: dates in order, no duplicates,
references that resolve, derived names that stay valid, no secret values in free-form data.

Each check yields an `Issue` whose `loc` is a path of YAML keys and list indexes, so the loader
can point at the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from labsctl import naming
from labsctl.catalogue import TOOLS, known_tools
from labsctl.spec import Residency

_SECRET_KEY = re.compile(r"(pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key)$", re.I)


@dataclass(frozen=True)
class Issue:
    loc: tuple[str | int, ...]
    message: str
    value: Any = None
    allowed: str | None = None


def check(residency: Residency) -> list[Issue]:
    return [
        *_dates(residency),
        *_duplicates(residency),
        *_stage_references(residency),
        *_tools(residency),
        *_secrets(residency),
        *_derived_names(residency),
        *_labels(residency),
    ]


def _dates(r: Residency) -> Iterator[Issue]:
    dates = r.spec.dates
    if dates.end < dates.start:
        yield Issue(
            ("spec", "dates", "end"),
            "end is before start",
            dates.end.isoformat(),
            f"a date on or after start ({dates.start.isoformat()})",
        )
    if dates.archive is not None and dates.archive < dates.end:
        yield Issue(
            ("spec", "dates", "archive"),
            "archive is before end",
            dates.archive.isoformat(),
            f"a date on or after end ({dates.end.isoformat()})",
        )


def _duplicates_in(loc: tuple[str | int, ...], values: list[str], what: str) -> Iterator[Issue]:
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            yield Issue(
                (*loc, index),
                f"duplicate {what}, first at index {seen[value]}",
                value,
                f"each {what} once",
            )
        else:
            seen[value] = index


def _duplicates(r: Residency) -> Iterator[Issue]:
    spec = r.spec
    yield from _duplicates_in(("spec", "stages"), r.stage_names(), "stage")
    yield from _duplicates_in(
        ("spec", "team", "members"), [m.user for m in spec.team.members], "member"
    )
    yield from _duplicates_in(
        ("spec", "team", "groups"), [g.name for g in spec.team.groups], "group"
    )
    yield from _duplicates_in(
        ("spec", "tooling", "tools"), [t.name for t in spec.tooling.tools], "tool"
    )
    yield from _duplicates_in(
        ("spec", "tooling", "applications"),
        [a.name for a in spec.tooling.applications],
        "application",
    )
    yield from _duplicates_in(("spec", "secrets"), [s.name for s in spec.secrets], "secret")
    yield from _duplicates_in(
        ("spec", "pipelines", "deployTo"), spec.pipelines.deploy_to or [], "stage"
    )
    yield from _duplicates_in(
        ("spec", "network", "ingressNamespaces"), spec.network.ingress_namespaces, "namespace"
    )
    tool_names = {t.name for t in spec.tooling.tools}
    for index, app in enumerate(spec.tooling.applications):
        if app.name in tool_names:
            yield Issue(
                ("spec", "tooling", "applications", index, "name"),
                f"application {app.name!r} has the same name as a tool",
                app.name,
                "a name not used by spec.tooling.tools",
            )
    if not spec.team.members and not spec.team.groups:
        yield Issue(
            ("spec", "team"),
            "the team has no members and no groups",
            None,
            "at least one entry in team.members or team.groups",
        )


def _stage_reference(
    loc: tuple[str | int, ...], stage: str, stages: list[str], default_of: str | None = None
) -> Iterator[Issue]:
    if stage not in stages:
        message = "stage not defined in spec.stages"
        allowed = "one of: " + ", ".join(dict.fromkeys(stages))
        if default_of:
            message += f"; {default_of} is not set and defaults to it"
            allowed += f", or set {default_of}"
        yield Issue(loc, message, stage, allowed)


def _stage_references(r: Residency) -> Iterator[Issue]:
    stages = r.stage_names()
    pipelines = r.spec.pipelines
    if pipelines.enabled is not False:
        written = pipelines.model_fields_set
        yield from _stage_reference(
            ("spec", "pipelines", "stage"),
            pipelines.stage,
            stages,
            None if "stage" in written else "spec.pipelines.stage",
        )
        for index, stage in enumerate(pipelines.deploy_to or []):
            yield from _stage_reference(("spec", "pipelines", "deployTo", index), stage, stages)
    for index, tool in enumerate(r.spec.tooling.tools):
        if tool.name in TOOLS:
            stage = tool.stage or TOOLS[tool.name].default_stage
            yield from _stage_reference(("spec", "tooling", "tools", index, "stage"), stage, stages)
    for index, app in enumerate(r.spec.tooling.applications):
        yield from _stage_reference(
            ("spec", "tooling", "applications", index, "stage"), app.stage, stages
        )


def _tools(r: Residency) -> Iterator[Issue]:
    for index, tool in enumerate(r.spec.tooling.tools):
        if tool.name not in TOOLS:
            yield Issue(
                ("spec", "tooling", "tools", index, "name"),
                "unknown tool",
                tool.name,
                "one of: "
                + ", ".join(known_tools())
                + " (or describe it under tooling.applications)",
            )
    for index, app in enumerate(r.spec.tooling.applications):
        loc = ("spec", "tooling", "applications", index)
        if (app.path is None) == (app.chart is None):
            yield Issue(
                loc,
                "set exactly one of path (a Git source) or chart (a Helm source)",
                None,
                "path or chart, not both and not neither",
            )


def _secrets(r: Residency) -> Iterator[Issue]:
    names = [s.name for s in r.spec.secrets]
    for index, ref in enumerate(r.spec.secrets):
        if (ref.env is None) == (ref.file is None):
            yield Issue(
                ("spec", "secrets", index),
                "set exactly one of env or file",
                ref.name,
                "env: VARIABLE or file: PATH",
            )
    references: list[tuple[tuple[str | int, ...], str | None]] = [
        (("spec", "pipelines", "gitCredentialsSecret"), r.spec.pipelines.git_credentials_secret),
    ]
    references += [
        (("spec", "tooling", "applications", i, "credentialsSecret"), app.credentials_secret)
        for i, app in enumerate(r.spec.tooling.applications)
    ]
    for loc, name in references:
        if name is not None and name not in names:
            yield Issue(
                loc,
                "secret not defined in spec.secrets",
                name,
                "one of: " + ", ".join(names)
                if names
                else "a name from spec.secrets (none are defined)",
            )
    for index, tool in enumerate(r.spec.tooling.tools):
        yield from _secret_values(("spec", "tooling", "tools", index, "values"), tool.values)
    for index, app in enumerate(r.spec.tooling.applications):
        yield from _secret_values(("spec", "tooling", "applications", index, "values"), app.values)


def _secret_values(loc: tuple[str | int, ...], values: Any) -> Iterator[Issue]:
    if isinstance(values, dict):
        for key, value in values.items():
            scalar = isinstance(value, str | int | float) and not isinstance(value, bool)
            if _SECRET_KEY.search(str(key)) and scalar and value != "":
                yield Issue(
                    (*loc, key),
                    f"{key!r} looks like a secret value written in the spec",
                    "<redacted>",
                    "a reference: list it in spec.secrets and point the "
                    "chart at an existing Secret",
                )
            else:
                yield from _secret_values((*loc, key), value)
    elif isinstance(values, list):
        for index, item in enumerate(values):
            yield from _secret_values((*loc, index), item)


def _derived_names(r: Residency) -> Iterator[Issue]:
    for index, stage in enumerate(r.spec.stages):
        namespace = r.namespace(stage.name)
        if len(namespace) > 63:
            yield Issue(
                ("spec", "stages", index, "name"),
                f"namespace {namespace!r} would be {len(namespace)} characters",
                stage.name,
                f"a stage name of at most {63 - len(r.name) - 1} characters for "
                f"residency {r.name!r}",
            )
    for loc, app_name in naming.application_names(r):
        if len(app_name) > 63:
            yield Issue(
                loc,
                f"Argo CD Application name {app_name!r} would be longer than 63",
                app_name,
                f"at most {63 - len(r.name) - 1} characters",
            )


def _labels(r: Residency) -> Iterator[Issue]:
    for key in r.metadata.labels:
        if naming.is_reserved(key):
            yield Issue(
                ("metadata", "labels", key),
                f"label {key!r} is reserved for labsctl",
                key,
                "a key outside labsctl.dev/ and app.kubernetes.io/managed-by",
            )
    for key in r.metadata.annotations:
        if naming.is_reserved(key):
            yield Issue(
                ("metadata", "annotations", key),
                f"annotation {key!r} is reserved",
                key,
                "a key outside labsctl.dev/",
            )
