"""Names and ownership marks labsctl puts on the cluster; every derived name is computed here."""

from __future__ import annotations

from collections.abc import Iterator

from labsctl import collection
from labsctl.spec import Residency

# The ownership marks are the collection's (module_utils/ownership.py): written once, for labsctl
# and for the playbooks run without it.
_OWNERSHIP = collection.ownership()
GROUP = "labsctl.dev"
MANAGER: str = _OWNERSHIP.MANAGER
FIELD_MANAGER: str = _OWNERSHIP.FIELD_MANAGER
# Where the per-residency lock Leases live.
LOCK_NAMESPACE: str = _OWNERSHIP.LOCK_NAMESPACE
LABEL_MANAGED_BY: str = _OWNERSHIP.LABEL_MANAGED_BY
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_RESIDENCY: str = _OWNERSHIP.LABEL_RESIDENCY
LABEL_STAGE: str = _OWNERSHIP.LABEL_STAGE
# (apiVersion, kind, resource) of every kind labsctl renders, in apply order.
MANAGED_KINDS: tuple[tuple[str, str, str], ...] = tuple(_OWNERSHIP.MANAGED_KINDS)
# Argo CD's name for the cluster it runs on.
IN_CLUSTER_SERVER: str = _OWNERSHIP.IN_CLUSTER_SERVER
LABEL_COMPONENT = f"{GROUP}/component"
ANNOTATION_START = f"{GROUP}/start"
ANNOTATION_END = f"{GROUP}/end"
ANNOTATION_ARCHIVE = f"{GROUP}/archive"
ANNOTATION_ORGANISATION = f"{GROUP}/organisation"
ANNOTATION_SPEC_VERSION = f"{GROUP}/spec-api-version"
ANNOTATION_FROZEN = f"{GROUP}/frozen"
# When and how the last apply of a residency ended, on each of its namespaces (for `status`).
ANNOTATION_LAST_APPLY = f"{GROUP}/last-apply"
ANNOTATION_LAST_APPLY_RESULT = f"{GROUP}/last-apply-result"


def owner_selector(residency: str) -> str:
    """The label selector that finds every object a residency owns."""
    return str(_OWNERSHIP.owner_selector(residency))


def tool_application(residency: Residency, name: str) -> str:
    return f"{residency.name}-{name}"


def application_names(residency: Residency) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(YAML location, Argo CD Application name) for every tool and application."""
    for index, tool in enumerate(residency.spec.tooling.tools):
        yield ("spec", "tooling", "tools", index, "name"), tool_application(residency, tool.name)
    for index, app in enumerate(residency.spec.tooling.applications):
        yield (
            ("spec", "tooling", "applications", index, "name"),
            tool_application(residency, app.name),
        )
