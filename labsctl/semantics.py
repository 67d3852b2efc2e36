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

from labsctl import naming, policy, quantity, secretsources
from labsctl.catalogue import TOOLS, known_tools
from labsctl.context import git_credential_host, is_ssh_url
from labsctl.spec import INTEGER_QUOTA_RESOURCES, Quota, QuotaProfile, Residency

_SECRET_KEY = re.compile(r"(pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key)$", re.I)


@dataclass(frozen=True)
class Issue:
    loc: tuple[str | int, ...]
    message: str
    value: Any = None
    allowed: str | None = None


def check(residency: Residency, rules: policy.Policy | None = None) -> list[Issue]:
    """Every problem across fields; `rules` are the operator's exceptions (default: from the
    environment)."""
    rules = rules if rules is not None else policy.Policy.from_environment()
    return [
        *_dates(residency),
        *_duplicates(residency),
        *_stage_references(residency),
        *_tools(residency),
        *_secrets(residency),
        *_pipeline_inputs(residency),
        *_repository_credentials(residency),
        *_derived_names(residency),
        *_labels(residency),
        *_namespaces(residency, rules),
        *_subjects(residency, rules),
        *_secret_sources(residency),
        *_quotas(residency),
        *_operator_choices(residency, rules),
        *_created_groups(residency),
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
        (
            ("spec", "pipelines", "registryCredentialsSecret"),
            r.spec.pipelines.registry_credentials_secret,
        ),
    ]
    webhook = r.spec.pipelines.webhook
    if webhook is not None:
        references.append((("spec", "pipelines", "webhook", "secret"), webhook.secret))
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


def _pipeline_inputs(r: Residency) -> Iterator[Issue]:
    """What the push trigger and the SSH clone cannot work without."""
    pipelines = r.spec.pipelines
    if pipelines.webhook is not None:
        for field, value in (("gitUrl", pipelines.git_url), ("image", pipelines.image)):
            if not value:
                yield Issue(
                    ("spec", "pipelines", "webhook"),
                    f"a webhook needs spec.pipelines.{field}",
                    None,
                    f"set spec.pipelines.{field}, or remove the webhook",
                )
    url = pipelines.git_url or ""
    if not (is_ssh_url(url) and pipelines.git_credentials_secret):
        return
    host = git_credential_host(url)
    name, _, port = host.partition(":")
    wanted = f"[{name}]:{port}" if port else name
    hosts = {
        pattern for line in pipelines.git_known_hosts for pattern in _known_host_patterns(line)
    }
    if wanted not in hosts:
        yield Issue(
            ("spec", "pipelines", "gitKnownHosts"),
            "an SSH Git URL with credentials needs the server's host key: an unknown key is "
            "never trusted",
            sorted(hosts) or None,
            f"known_hosts lines for {wanted}, e.g. from "
            f"`ssh-keyscan {'-p ' + port + ' ' if port else ''}{name}`",
        )


def _known_host_patterns(line: str) -> list[str]:
    fields = line.split(" ")
    patterns = fields[1] if fields[0] == "@cert-authority" else fields[0]
    return patterns.split(",")


def _repository_credentials(r: Residency) -> Iterator[Issue]:
    """Argo CD finds credentials by repository URL: one URL, one secret."""
    first: dict[str, str] = {}
    for index, app in enumerate(r.spec.tooling.applications):
        if app.credentials_secret is None:
            continue
        known = first.setdefault(app.repo_url, app.credentials_secret)
        if known != app.credentials_secret:
            yield Issue(
                ("spec", "tooling", "applications", index, "credentialsSecret"),
                "another application uses this repository with other credentials",
                app.credentials_secret,
                f"{known!r}, as the other application of {app.repo_url}",
            )


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
    allowed = (
        "a key without a prefix or under your own domain (e.g. example.com/team); reserved: "
        + ", ".join(f"*{domain}/" for domain in policy.RESERVED_DOMAINS)
        + "; reserved keys: "
        + ", ".join(sorted(policy.RESERVED_PLAIN_KEYS))
    )
    for field, what in (("labels", "label"), ("annotations", "annotation")):
        for key in getattr(r.metadata, field):
            domain = policy.reserved_key_domain(key)
            if domain is not None:
                reason = (
                    f"is under {domain}/, which is reserved: it carries"
                    if domain != key
                    else "is reserved: platforms read it as a switch carrying"
                )
                yield Issue(
                    ("metadata", field, key),
                    f"{what} {key!r} {reason} security, scheduling or ownership meaning",
                    key,
                    allowed,
                )


def _operator_choices(r: Residency, rules: policy.Policy) -> Iterator[Issue]:
    """Which cluster and which Argo CD a residency goes to is the operator's choice."""
    context = r.spec.cluster.context
    if context is not None and context not in rules.allowed_contexts:
        listed = ", ".join(sorted(rules.allowed_contexts))
        yield Issue(
            ("spec", "cluster", "context"),
            "the kubeconfig context is the operator's choice: a spec naming one could send its "
            "namespaces and bindings to any cluster the bootstrapper can reach",
            context,
            f"one of: {listed}"
            if listed
            else f"no context (the operator lists the ones a spec "
            f"may choose in {policy.ALLOWED_CONTEXTS_ENV}; none are listed)",
        )
    namespace = r.spec.tooling.argocd_namespace
    if namespace not in rules.argocd_namespaces:
        yield Issue(
            ("spec", "tooling", "argocdNamespace"),
            "not an Argo CD namespace the operator allows: the instance there would deploy the "
            "residency's charts with its own rights",
            namespace,
            "one of: "
            + ", ".join(sorted(rules.argocd_namespaces))
            + f" (the operator sets them in {policy.ARGOCD_NAMESPACES_ENV})",
        )


def _created_groups(r: Residency) -> Iterator[Issue]:
    """Groups labsctl creates are cluster-wide: named for the residency, so that a spec cannot
    create a group some cluster binding already names (`cluster-admins`) or another team's."""
    if not r.spec.team.create_groups:
        return
    for index, group in enumerate(r.spec.team.groups):
        if not group.name.startswith(f"{r.name}-"):
            yield Issue(
                ("spec", "team", "groups", index, "name"),
                "groups created with createGroups are cluster-wide and must be named for the "
                "residency",
                group.name,
                f"a name starting with {r.name}- (or createGroups: false to bind an existing "
                "identity-provider group)",
            )


def _namespaces(r: Residency, rules: policy.Policy) -> Iterator[Issue]:
    if r.name in policy.RESERVED_RESIDENCY_NAMES or r.name.startswith(
        policy.RESERVED_NAMESPACE_PREFIXES
    ):
        yield Issue(
            ("metadata", "name"),
            f"residency name {r.name!r} is reserved: it names or prefixes system namespaces "
            "and objects",
            r.name,
            "a name other than " + ", ".join(sorted(policy.RESERVED_RESIDENCY_NAMES)) + ", and "
            "not starting with " + " or ".join(policy.RESERVED_NAMESPACE_PREFIXES),
        )
        return
    own_choices = {
        r.spec.tooling.argocd_namespace: "spec.tooling.argocdNamespace",
        **dict.fromkeys(r.spec.network.ingress_namespaces, "spec.network.ingressNamespaces"),
    }
    for index, stage in enumerate(r.spec.stages):
        namespace = r.namespace(stage.name)
        refusal = policy.namespace_refusal(namespace, rules.reserved_namespaces)
        if refusal is None and namespace in own_choices:
            refusal = f"namespace {namespace!r} is the spec's own {own_choices[namespace]}"
        if refusal:
            yield Issue(
                ("spec", "stages", index, "name"),
                f"{refusal}: residency {r.name!r} with stage {stage.name!r} would own it",
                stage.name,
                "a stage name whose namespace is not a system, Argo CD or ingress namespace",
            )


def _subjects(r: Residency, rules: policy.Policy) -> Iterator[Issue]:
    own = [r.namespace(name) for name in r.stage_names()]
    allowed = (
        "a person's or group's name, or a service account of the residency's own namespaces; "
        f"an operator may allow named exceptions with {policy.ALLOWED_SUBJECTS_ENV}"
    )
    team = r.spec.team
    subjects: list[tuple[tuple[str | int, ...], str, str]] = [
        (("spec", "team", "members", i, "user"), "User", m.user) for i, m in enumerate(team.members)
    ]
    for i, group in enumerate(team.groups):
        subjects.append((("spec", "team", "groups", i, "name"), "Group", group.name))
        subjects += [
            (("spec", "team", "groups", i, "users", j), "User", user)
            for j, user in enumerate(group.users)
        ]
    for loc, kind, name in subjects:
        refusal = policy.subject_refusal(kind, name, own, rules)
        if refusal:
            yield Issue(loc, f"{kind.lower()} refused: {refusal}", name, allowed)


def _secret_sources(r: Residency) -> Iterator[Issue]:
    for index, ref in enumerate(r.spec.secrets):
        if ref.env is not None:
            refusal = secretsources.env_refusal(ref.env, r.name)
            if refusal:
                yield Issue(
                    ("spec", "secrets", index, "env"),
                    f"environment variable refused: {refusal}",
                    ref.env,
                    f"a variable named {secretsources.env_prefix(r.name)}<NAME>, set by the "
                    "operator for this residency alone",
                )
        if ref.file is not None:
            refusal = secretsources.file_refusal(ref.file)
            if refusal:
                yield Issue(
                    ("spec", "secrets", index, "file"),
                    f"file refused: {refusal}",
                    ref.file,
                    f"a relative path inside the residency's directory {r.name}/ of the operator's "
                    f"secrets directory ({secretsources.secrets_dir_env()}), without '..'",
                )


def _quotas(r: Residency) -> Iterator[Issue]:
    """The checks the API server applies to a ResourceQuota and a LimitRange, done early."""
    quotas: list[tuple[tuple[str | int, ...], Quota]] = [(("spec", "quota"), r.spec.quota)]
    quotas += [
        (("spec", "stages", i, "quota"), stage.quota)
        for i, stage in enumerate(r.spec.stages)
        if stage.quota is not None
    ]
    for loc, quota in quotas:
        if quota.profile is QuotaProfile.CUSTOM and not quota.hard:
            yield Issue(
                (*loc, "profile"),
                "profile custom sets nothing by itself and hard is empty",
                "custom",
                "hard with at least one limit, or the profile small, medium or large",
            )
        for resource, value in quota.hard.items():
            whole = resource in INTEGER_QUOTA_RESOURCES or resource.startswith("count/")
            if whole and not quantity.is_integer(value):
                yield Issue(
                    (*loc, "hard", resource),
                    f"{resource} counts objects and must be a whole number",
                    value,
                    "a whole number such as 20",
                )
        limits = quota.limit_range
        for resource in ("cpu", "memory"):
            request = getattr(limits.default_request, resource)
            limit = getattr(limits.default, resource)
            if quantity.parse(limit) < quantity.parse(request):
                yield Issue(
                    (*loc, "limitRange", "default", resource),
                    f"the default {resource} limit {limit} is below the default request "
                    f"{request}; the API server refuses such a LimitRange",
                    limit,
                    f"a quantity of at least {request} (limitRange.defaultRequest.{resource})",
                )
