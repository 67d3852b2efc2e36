# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""The hand-over format, written once: what ``labsctl export`` gives the team and what every
teardown (labsctl's and ``playbooks/teardown.yml``) backs up before it deletes.

Live objects, with server-set fields stripped and without labsctl's ``managed-by`` label (so
nothing the team rebuilds from it is ever taken for ours)::

    stages/<stage>/   one directory per stage: namespace.yaml, one file per object,
                      kustomization.yaml (``kubectl apply -k stages/<stage>``)
    cluster/          cluster-scoped objects (OpenShift groups), with a kustomization
    gitops/           the tools' Argo CD project and applications, and applications that
                      manage each stage from the team's repository (with a repository URL)
    README.md         what is there and how to change it

Same objects, same files, byte for byte. Secrets are never written, only named.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import tempfile

from ansible_collections.labsctl.residency.plugins.module_utils.ownership import (
    IN_CLUSTER_SERVER,
    LABEL_MANAGED_BY,
    LABEL_RESIDENCY,
    LABEL_STAGE,
)

try:
    import yaml
except ImportError:  # reported by the modules through client.require_libraries
    yaml = None

MANIFEST = ".labsctl-files"  # the files labsctl wrote in a directory (labsctl/files.py)
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
    "labsctl.dev/last-apply",
    "labsctl.dev/last-apply-result",
)
_ESCAPE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


if yaml is not None:

    class Dumper(yaml.SafeDumper):
        """Block style, sorted keys, no aliases, unicode kept: same data, same bytes."""

        def ignore_aliases(self, data):
            return True

    def _represent_str(dumper, value):
        # Characters YAML reads as line breaks or may not carry raw (NEL, LS, PS, controls) are
        # written escaped in double quotes, so every value reads back exactly as it was.
        style = '"' if _ESCAPE.search(value) else ("|" if "\n" in value else None)
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, _represent_str)


def dump_yaml(data, dumper=None):
    """Deterministic YAML: the same data always gives the same bytes."""
    return yaml.dump(
        data,
        Dumper=dumper or Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
        explicit_start=True,
    )


def clean(obj):
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
    labels.pop(LABEL_MANAGED_BY, None)
    labels.pop("kubernetes.io/metadata.name", None)  # set by the API server on namespaces
    for key in ("labels", "annotations"):
        if key in metadata and not metadata[key]:
            metadata.pop(key)
    if out.get("kind") == "Namespace":
        out.pop("spec", None)  # only server-set finalizers live there
    return {k: v for k, v in out.items() if v not in (None, {}, [])}


def _file_name(obj):
    return f"{obj['kind'].lower()}-{obj['metadata']['name'].replace(':', '-')}.yaml"


def files(residency, objects, repo_url=None, revision="main"):
    """{relative path: text} of the hand-over of `residency` from its live `objects` (each
    with apiVersion and kind), and the names of its Secrets (never written). Empty when the
    residency has no namespace."""
    namespaces = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Namespace"}
    if not namespaces:
        return {}, []
    stage_of = {
        name: (ns["metadata"].get("labels") or {}).get(LABEL_STAGE, name)
        for name, ns in namespaces.items()
    }
    out = {}
    secrets = []
    groups = {}
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
        out[f"{folder}/{name}"] = dump_yaml(clean(obj))
        groups.setdefault(folder, []).append(name)
    if repo_url:
        for stage in sorted(set(stage_of.values())):
            namespace = next(n for n, s in stage_of.items() if s == stage)
            app = _stage_application(residency, stage, repo_url, revision, namespace)
            out[f"gitops/application-{residency}-stage-{stage}.yaml"] = dump_yaml(app)
            groups.setdefault("gitops", []).append(f"application-{residency}-stage-{stage}.yaml")
    for folder, names in groups.items():
        resources = sorted(names, key=lambda n: (n != "namespace.yaml", n))
        out[f"{folder}/kustomization.yaml"] = dump_yaml(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": resources,
            }
        )
    out["README.md"] = _readme(residency, sorted(set(stage_of.values())), repo_url, secrets)
    return out, secrets


def _stage_application(residency, stage, repo_url, revision, namespace):
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": f"{residency}-stage-{stage}",
            "namespace": "argocd",
            "labels": {LABEL_RESIDENCY: residency, LABEL_STAGE: stage},
        },
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": revision, "path": f"stages/{stage}"},
            "destination": {"server": IN_CLUSTER_SERVER, "namespace": namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


def _readme(residency, stages, repo_url, secrets):
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


def backup_directory(backup_dir, residency, today):
    """``<backup_dir>/<residency>-<today>``, or with ``.2``, ``.3``... when that exists: a backup
    is never overwritten (a re-run after an interrupted teardown backs up what is left beside
    the complete backup of the first run)."""
    candidate = os.path.join(backup_dir, f"{residency}-{today}")
    number = 1
    while os.path.lexists(candidate):
        number += 1
        candidate = os.path.join(backup_dir, f"{residency}-{today}.{number}")
    return candidate


def write_backup(backup_dir, residency, today, tree):
    """Write `tree` ({relative path: text}) as a new directory of `backup_dir` (see
    backup_directory), whole or not at all; returns its path."""
    os.makedirs(backup_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{residency}.new-", dir=backup_dir)
    try:
        os.chmod(staging, 0o755)
        for relative in sorted(tree):
            if relative.startswith("/") or ".." in relative.split("/"):
                raise ValueError(f"refusing to write {relative!r} outside the backup")
            path = os.path.join(staging, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(tree[relative])
        with open(os.path.join(staging, MANIFEST), "w", encoding="utf-8") as handle:
            handle.write("".join(f"{r}\n" for r in sorted(tree)))
        while True:
            target = backup_directory(backup_dir, residency, today)
            try:
                os.rename(staging, target)  # fails on an existing non-empty directory
                return target
            except OSError:
                if not os.path.lexists(target):
                    raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
