"""Render a residency's objects from the templates, once, for both inventories and manifests.

This module owns the only Jinja2 environment: sandboxed, `StrictUndefined`, and every expression
finalised to a JSON scalar or flow mapping so that spec values stay data. After rendering, every
object gets the ownership labels and date annotations, so a template (ours or a platform team's
override) cannot forget them or override them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

from labsctl import naming, paths
from labsctl.context import build_context
from labsctl.errors import RenderError
from labsctl.spec import API_VERSION, Residency

# libyaml's parser with PyYAML's safe constructor: the same data, several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Apply order of the roles; teardown runs it backwards.
ROLES = ("namespaces", "quotas", "network", "rbac", "pipelines", "gitops")
# `<role>/<condition>/` templates are applied only where the cluster has what they need.
# `secrets`: objects whose values labsctl fills at run time from spec.secrets (never rendered).
# `triggers-route`: Triggers and OpenShift Routes served; `triggers-ingress`: Triggers, no Routes.
CONDITIONS = (
    "openshift",
    "image-puller",
    "triggers",
    "triggers-route",
    "triggers-ingress",
    "secrets",
)
# Within a set, objects are applied in this order of kinds (others after, as rendered), so that
# nothing is created before what it refers to: an Application never before its AppProject, a
# Trigger never before its template and binding. Teardown deletes in the reverse order.
KIND_ORDER: tuple[str, ...] = tuple(kind for _api, kind, _resource in naming.MANAGED_KINDS)
TEMPLATE_SUFFIX = ".yaml.j2"


@dataclass(frozen=True)
class ObjectSet:
    """Objects one role applies together; `condition` names what the cluster must have."""

    role: str
    condition: str | None
    objects: tuple[dict[str, Any], ...]

    @property
    def variable(self) -> str:
        suffix = f"_{self.condition.replace('-', '_')}" if self.condition else ""
        return f"{self.role}{suffix}_objects"


@dataclass(frozen=True)
class Rendering:
    residency: Residency
    sets: tuple[ObjectSet, ...]
    context: Mapping[str, Any] = field(default_factory=dict)

    def objects(self, condition_met: Any = None) -> list[dict[str, Any]]:
        """All objects in apply order; conditional sets only where `condition_met(cond)`."""
        return [
            obj
            for object_set in self.sets
            if object_set.condition is None
            or (condition_met and condition_met(object_set.condition))
            for obj in object_set.objects
        ]

    def variables(self) -> dict[str, list[dict[str, Any]]]:
        """`<role>_objects` of every role (empty included) and `<role>_<condition>_objects`
        where there are any; the roles' defaults give the conditional ones an empty list."""
        out: dict[str, list[dict[str, Any]]] = {
            ObjectSet(role, None, ()).variable: [] for role in ROLES
        }
        for object_set in self.sets:
            out.setdefault(object_set.variable, []).extend(object_set.objects)
        return out


def _finalize(value: Any) -> Any:
    """Write each `{{ expression }}` as a JSON scalar or flow collection: YAML-safe data."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()  # raises UndefinedError: "'x' is undefined"
    if isinstance(value, bool | int | float | str | list | dict | tuple) or value is None:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    raise RenderError(f"a template wrote a {type(value).__name__}; only data may be written")


def _environment(extra_dir: Path | None) -> SandboxedEnvironment:
    """The environment for `extra_dir`, made once per process: Jinja2 compiles each template
    once and reuses it while the file is unchanged (it checks the modification time), so a
    fleet does not compile every template once per residency."""
    key = str(extra_dir.resolve()) if extra_dir else ""
    if key not in _ENVIRONMENTS:
        _ENVIRONMENTS[key] = _new_environment(extra_dir)
    return _ENVIRONMENTS[key]


_ENVIRONMENTS: dict[str, SandboxedEnvironment] = {}


def _new_environment(extra_dir: Path | None) -> SandboxedEnvironment:
    loaders = [FileSystemLoader(str(extra_dir))] if extra_dir else []
    loaders.append(FileSystemLoader(str(paths.templates_dir())))
    return SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _template_names(extra_dir: Path | None) -> list[tuple[str, str | None, str]]:
    """(role, condition, template name) of every template, the override dir's included."""
    found: set[str] = set()
    for base in (paths.templates_dir(), extra_dir):
        if base is None:
            continue
        for path in base.rglob(f"*{TEMPLATE_SUFFIX}"):
            found.add(path.relative_to(base).as_posix())
    out: list[tuple[str, str | None, str]] = []
    for name in sorted(found):
        parts = name.split("/")
        if len(parts) == 2 and parts[0] in ROLES:
            out.append((parts[0], None, name))
        elif len(parts) == 3 and parts[0] in ROLES and parts[1] in CONDITIONS:
            out.append((parts[0], parts[1], name))
        else:
            raise RenderError(
                f"template {name!r} is not under <role>/ or <role>/<condition>/",
                hint=f"roles: {', '.join(ROLES)}; conditions: {', '.join(CONDITIONS)}",
            )
    return out


def render(
    residency: Residency, templates: Path | None = None, *, frozen: bool = False
) -> Rendering:
    """Render every template for `residency`; deterministic for the same spec and templates.

    `frozen` renders the residency as after its end date (see `context.build_context`)."""
    if templates is not None and not templates.is_dir():
        raise RenderError(f"template directory {templates} does not exist")
    env = _environment(templates)
    context = build_context(residency, frozen=frozen)
    stage_of = {stage["namespace"]: stage["name"] for stage in context["stages"]}
    grouped: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for role, condition, name in _template_names(templates):
        try:
            text = env.get_template(name).render(context)
        except TemplateError as exc:
            raise RenderError(f"template {name} failed: {exc}") from exc
        except UnicodeDecodeError as exc:
            where = templates if templates and (templates / name).is_file() else None
            raise RenderError(
                f"template {(where or paths.templates_dir()) / name} is not UTF-8 text "
                f"({exc.reason} at byte {exc.start})",
                hint="save the template as UTF-8",
            ) from exc
        try:
            documents = [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc is not None]
        except yaml.YAMLError as exc:
            raise RenderError(f"template {name} produced invalid YAML: {exc}") from exc
        for doc in documents:
            _check_object(doc, name)
            grouped.setdefault((role, condition), []).append(_own(doc, residency, stage_of, frozen))
    sets = tuple(
        ObjectSet(role, condition, tuple(sorted(grouped[(role, condition)], key=_kind_rank)))
        for role in ROLES
        for condition in (None, *CONDITIONS)
        if (role, condition) in grouped
    )
    return Rendering(residency=residency, sets=sets, context=context)


def _kind_rank(obj: dict[str, Any]) -> int:
    kind = obj["kind"]
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def _check_object(doc: Any, template: str) -> None:
    if not isinstance(doc, dict) or not all(k in doc for k in ("apiVersion", "kind", "metadata")):
        raise RenderError(f"template {template} produced something that is not a Kubernetes object")
    if not isinstance(doc["metadata"], dict) or not doc["metadata"].get("name"):
        raise RenderError(f"template {template} produced a {doc['kind']} without metadata.name")


def ownership_labels(residency: Residency, stage: str | None) -> dict[str, str]:
    labels = {
        naming.LABEL_MANAGED_BY: naming.MANAGER,
        naming.LABEL_PART_OF: residency.name,
        naming.LABEL_RESIDENCY: residency.name,
    }
    if stage is not None:
        labels[naming.LABEL_STAGE] = stage
    return labels


def ownership_annotations(residency: Residency) -> dict[str, str]:
    dates = residency.spec.dates
    return {
        naming.ANNOTATION_START: dates.start.isoformat(),
        naming.ANNOTATION_END: dates.end.isoformat(),
        naming.ANNOTATION_ARCHIVE: dates.archive_date.isoformat(),
        naming.ANNOTATION_ORGANISATION: residency.spec.organisation,
        naming.ANNOTATION_SPEC_VERSION: API_VERSION,
    }


def _own(
    doc: dict[str, Any], residency: Residency, stage_of: dict[str, str], frozen: bool
) -> dict[str, Any]:
    metadata = doc["metadata"]
    namespace = metadata.get("namespace")
    if doc["kind"] == "Namespace":
        namespace = metadata["name"]
    stage = stage_of.get(namespace) if namespace else None
    # The spec's own marks first, then the template's, then ownership: nothing a spec writes can
    # replace a mark labsctl or a template sets.
    metadata["labels"] = {
        **residency.metadata.labels,
        **(metadata.get("labels") or {}),
        **ownership_labels(residency, stage),
    }
    metadata["annotations"] = {
        **residency.metadata.annotations,
        **(metadata.get("annotations") or {}),
        **ownership_annotations(residency),
    }
    if frozen and doc["kind"] == "Namespace":
        metadata["annotations"][naming.ANNOTATION_FROZEN] = "true"
    return doc
