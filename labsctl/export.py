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

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labsctl import naming, prune
from labsctl.cluster import Cluster
from labsctl.errors import UsageError
from labsctl.files import check_output, write_tree
from labsctl.validation import check_flag
from labsctl.yamldump import dump_yaml

SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
)
# Annotations about the live object, not part of what the team reproduces.
SERVER_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    naming.ANNOTATION_LAST_APPLY,
    naming.ANNOTATION_LAST_APPLY_RESULT,
)
CLUSTER_SERVER = "https://kubernetes.default.svc"


@dataclass(frozen=True)
class ExportResult:
    residency: str
    directory: Path
    files: tuple[str, ...]
    secrets: tuple[str, ...]


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as a person would write it: no status, no server-set metadata."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    metadata = out.get("metadata", {})
    for key in SERVER_METADATA:
        metadata.pop(key, None)
    annotations = metadata.get("annotations") or {}
    for key in SERVER_ANNOTATIONS:
        annotations.pop(key, None)
    labels = metadata.get("labels") or {}
    labels.pop(naming.LABEL_MANAGED_BY, None)
    labels.pop("kubernetes.io/metadata.name", None)  # set by the API server on namespaces
    for key in ("labels", "annotations"):
        if key in metadata and not metadata[key]:
            metadata.pop(key)
    if out.get("kind") == "Namespace":
        out.pop("spec", None)  # only server-set finalizers live there
    return {k: v for k, v in out.items() if v not in (None, {}, [])}


def _live(cluster: Cluster, residency: str) -> list[dict[str, Any]]:
    selector = naming.owner_selector(residency)
    objects: list[dict[str, Any]] = []
    for api_version, kind in prune.MANAGED_KINDS:
        resource = cluster.served(api_version, kind)
        if resource is None:
            continue
        with cluster.calls(f"reading {kind} objects"):
            items = resource.get(label_selector=selector).to_dict().get("items", [])
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
            objects.append(item)
    return objects


def _file_name(obj: dict[str, Any]) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name'].replace(':', '-')}.yaml"


def export(
    cluster: Cluster, residency: str, to: Path, repo_url: str | None = None, revision: str = "main"
) -> ExportResult:
    if repo_url is not None:
        check_flag(repo_url, "repository URL", "--repo-url")
        check_flag(revision, "revision", "--revision")
    if to.name in ("", ".", ".."):
        to = to.resolve()  # `.`, `..`: the directory they name
    check_output(to.parent, to.name)  # before reading the cluster, so before any write
    objects = _live(cluster, residency)
    namespaces = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Namespace"}
    if not namespaces:
        raise UsageError(
            f"residency {residency} has nothing on the cluster to export",
            hint="labsctl status --all lists the residencies found",
        )
    stage_of = {
        name: (ns["metadata"].get("labels") or {}).get(naming.LABEL_STAGE, name)
        for name, ns in namespaces.items()
    }
    files: dict[str, str] = {}
    secrets: list[str] = []
    groups: dict[str, list[str]] = {}
    for obj in sorted(
        objects,
        key=lambda o: (o["kind"], o["metadata"].get("namespace") or "", o["metadata"]["name"]),
    ):
        if obj["kind"] == "Secret":
            secrets.append(f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}")
            continue
        namespace = obj["metadata"].get("namespace")
        if obj["kind"] == "Namespace":
            folder, name = f"stages/{stage_of[obj['metadata']['name']]}", "namespace.yaml"
        elif namespace in stage_of:
            folder, name = f"stages/{stage_of[namespace]}", _file_name(obj)
        elif namespace is None:
            folder, name = "cluster", _file_name(obj)
        else:
            folder, name = "gitops", _file_name(obj)
        files[f"{folder}/{name}"] = dump_yaml(clean(obj))
        groups.setdefault(folder, []).append(name)
    if repo_url:
        for stage in sorted(set(stage_of.values())):
            app = _stage_application(
                residency,
                stage,
                repo_url,
                revision,
                next(n for n, s in stage_of.items() if s == stage),
            )
            files[f"gitops/application-{residency}-stage-{stage}.yaml"] = dump_yaml(app)
            groups.setdefault("gitops", []).append(f"application-{residency}-stage-{stage}.yaml")
    for folder, names in groups.items():
        resources = sorted(names, key=lambda n: (n != "namespace.yaml", n))
        files[f"{folder}/kustomization.yaml"] = dump_yaml(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": resources,
            }
        )
    files["README.md"] = _readme(residency, sorted(set(stage_of.values())), repo_url, secrets)
    directory = write_tree(to.parent, to.name, files)
    return ExportResult(residency, directory, tuple(sorted(files)), tuple(secrets))


def _stage_application(
    residency: str, stage: str, repo_url: str, revision: str, namespace: str
) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": f"{residency}-stage-{stage}",
            "namespace": "argocd",
            "labels": {naming.LABEL_RESIDENCY: residency, naming.LABEL_STAGE: stage},
        },
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": revision, "path": f"stages/{stage}"},
            "destination": {"server": CLUSTER_SERVER, "namespace": namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


def _readme(residency: str, stages: list[str], repo_url: str | None, secrets: list[str]) -> str:
    lines = [
        f"# Residency {residency}: your environment, as code",
        "",
        "This repository holds everything that was set up for your team during the residency,",
        "as plain Kubernetes manifests. It does not need labsctl: `kubectl` (with kustomize) or",
        "Argo CD is enough.",
        "",
        "## What is here",
        "",
        "| Directory | What it holds |",
        "|---|---|",
    ]
    lines += [
        f"| `stages/{s}/` | the `{s}` namespace: access, quota, network policies, pipeline |"
        for s in stages
    ]
    lines += [
        "| `cluster/` | cluster-wide objects, such as OpenShift groups (may be absent) |",
        "| `gitops/` | Argo CD project and applications of your tools"
        + (
            ", and one application per stage that keeps it in sync with this repository |"
            if repo_url
            else " |"
        ),
        "",
        "## Recreate or change it",
        "",
        "```sh",
        *[f"kubectl apply -k stages/{s}" for s in stages],
        "```",
        "",
        "Change a file, review the diff (`kubectl diff -k stages/<stage>`), commit, apply.",
        "",
    ]
    if repo_url:
        lines += [
            "With Argo CD: `kubectl apply -k gitops`; it then applies every commit to this",
            f"repository ({repo_url}) to the stages.",
            "",
        ]
    lines += [
        "## Secrets",
        "",
        "No secret values are in this repository. "
        + (
            "These secrets exist on the cluster and must be recreated from your own store: "
            + ", ".join(f"`{s}`" for s in secrets)
            + "."
            if secrets
            else "None were managed for the residency."
        ),
        "",
    ]
    return "\n".join(lines)
