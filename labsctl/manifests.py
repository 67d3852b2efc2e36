"""Plain Kubernetes manifests of a residency, for GitOps users: the objects the roles apply."""

from __future__ import annotations

from labsctl.render import CONDITIONS, ROLES, Rendering
from labsctl.yamldump import dump_documents

CONDITION_NOTES = {
    "openshift": "Apply only where the cluster serves the user.openshift.io/v1 API (OpenShift).",
    "image-puller": "Apply only where the cluster has the system:image-puller ClusterRole.",
    "triggers": "Apply only where the cluster serves triggers.tekton.dev/v1beta1 (Triggers).",
    "triggers-route": "Apply only where the cluster serves Triggers and route.openshift.io/v1.",
    "triggers-ingress": "Apply only where the cluster serves Triggers and no OpenShift Routes.",
    "secrets": "References only: fill in the values named by labsctl.dev/secret-from from your "
    "own secret store before applying; labsctl never writes secret values.",
}


def manifest_files(rendering: Rendering) -> dict[str, str]:
    """One multi-document file per role and conditional set, numbered in apply order."""
    files: dict[str, str] = {}
    name = rendering.residency.name
    for object_set in rendering.sets:
        number = (ROLES.index(object_set.role) + 1) * 10
        suffix = ""
        header = f"# {object_set.role} objects of residency {name}, rendered by labsctl.\n"
        if object_set.condition:
            number += CONDITIONS.index(object_set.condition) + 1
            suffix = f"-{object_set.condition}"
            header += f"# {CONDITION_NOTES[object_set.condition]}\n"
        files[f"{number:02d}-{object_set.role}{suffix}.yaml"] = header + dump_documents(
            list(object_set.objects)
        )
    return files
