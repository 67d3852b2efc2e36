"""The hand-over: a self-contained GitOps repository of what labsctl manages for a residency.

Read live from the cluster (what is really there), with server-set fields stripped and without
labsctl's `managed-by` label, so nothing the team rebuilds from it is ever taken for ours:

    stages/<stage>/       one directory per stage: namespace.yaml, one file per object,
                          kustomization.yaml (`kubectl apply -k stages/<stage>`)
    cluster/              cluster-scoped objects (OpenShift groups), with a kustomization
    gitops/               the tools' Argo CD project and applications, and applications that
                          manage each stage from the team's repository (--repo-url)
    README.md             what is there and how to change it

Same cluster state, same files, byte for byte. Secrets are never exported, only named. Like
`render`, export replaces or removes only the files it wrote before (listed in `.labsctl-files`)
and keeps whatever else the team keeps in that directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labsctl import collection
from labsctl.cluster import Cluster
from labsctl.errors import UsageError
from labsctl.files import check_output, write_tree
from labsctl.validation import check_flag

# The format is the collection's (module_utils/handover.py): every teardown's backup, labsctl's
# and the playbooks', is written in it too.
_HANDOVER = collection.handover()
_OWNERSHIP = collection.ownership()
SERVER_METADATA: tuple[str, ...] = _HANDOVER.SERVER_METADATA
SERVER_ANNOTATIONS: tuple[str, ...] = _HANDOVER.SERVER_ANNOTATIONS


@dataclass(frozen=True)
class ExportResult:
    residency: str
    directory: Path
    files: tuple[str, ...]
    secrets: tuple[str, ...]


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as a person would write it: no status, no server-set metadata."""
    cleaned: dict[str, Any] = _HANDOVER.clean(obj)
    return cleaned


def _live(cluster: Cluster, residency: str) -> list[dict[str, Any]]:
    with cluster.rest_calls(f"reading the objects of residency {residency}"):
        rest = cluster.rest
        kinds = _OWNERSHIP.kinds_of([])
        owned = _OWNERSHIP.list_owned(rest, _OWNERSHIP.Discovery(rest), [residency], kinds)
    return list(owned[residency])


def export(
    cluster: Cluster, residency: str, to: Path, repo_url: str | None = None, revision: str = "main"
) -> ExportResult:
    if repo_url is not None:
        check_flag(repo_url, "repository URL", "--repo-url")
        check_flag(revision, "revision", "--revision")
    if to.name in ("", ".", ".."):
        to = to.resolve()  # `.`, `..`: the directory they name
    check_output(to.parent, to.name)  # before reading the cluster, so before any write
    files, secrets = _HANDOVER.files(residency, _live(cluster, residency), repo_url, revision)
    if not files:
        raise UsageError(
            f"residency {residency} has nothing on the cluster to export",
            hint="labsctl status --all lists the residencies found",
        )
    directory = write_tree(to.parent, to.name, files)
    return ExportResult(residency, directory, tuple(sorted(files)), tuple(secrets))
