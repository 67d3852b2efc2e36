#!/usr/bin/python
# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Discover in two requests what a cluster offers a residency."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_facts
short_description: Discover what a cluster offers a residency (OpenShift, Tekton, Argo CD)
description:
  - Reads the API server's version and its list of API groups (two requests) and reports which
    of the APIs labsctl can use are served (RV(offers), also set as the fact
    C(cluster_facts_offers)), and whether the given namespaces exist.
  - Fails (reason C(MissingAPI)), before anything is applied, when the residency requires what
    the cluster does not serve (O(flavour), O(requires)) or its Argo CD namespace is missing.
  - Read-only; runs in check mode too.
version_added: "0.1.0"
author: The labsctl authors (@labsctl)
requirements:
  - urllib3
  - PyYAML
extends_documentation_fragment:
  - labsctl.residency.cluster
options:
  namespaces:
    description: Namespaces whose existence to report in RV(namespaces).
    type: list
    elements: str
    default: []
  flavour:
    description:
      - C(openshift) fails on a cluster without the OpenShift APIs; C(kubernetes) ignores them;
        C(auto) uses them where they are served.
    type: str
    choices: [auto, kubernetes, openshift]
    default: auto
  requires:
    description: What the residency cannot do without.
    type: dict
    default: {}
    suboptions:
      tekton:
        description: Pipelines are required (C(tekton.dev/v1)).
        type: bool
        default: false
      argocd:
        description: Tools or applications are delivered by Argo CD (C(argoproj.io/v1alpha1)).
        type: bool
        default: false
  gitops_namespace:
    description: Namespace Argo CD runs in; must exist when Argo CD is required.
    type: str
    default: argocd
"""

EXAMPLES = r"""
- name: Discover the cluster, and fail if it lacks Tekton
  labsctl.residency.cluster_facts:
    requires:
      tekton: true
  register: cluster
"""

RETURN = r"""
apis:
  description: Every served group/version (C(v1) for the core group).
  returned: always
  type: list
  elements: str
version:
  description: The API server's C(gitVersion).
  returned: always
  type: str
namespaces:
  description: For each namespace asked about, whether it exists.
  returned: always
  type: dict
offers:
  description:
    - What the cluster offers the roles, as booleans C(openshift), C(openshift_groups),
      C(image_puller), C(tekton), C(triggers), C(triggers_route), C(triggers_ingress) and
      C(argocd), and the server C(version).
  returned: success
  type: dict
"""

from ansible_collections.labsctl.residency.plugins.module_utils.client import (
    CLUSTER_ARGUMENT_SPEC,
    ClientError,
    connect,
)
from ansible_collections.labsctl.residency.plugins.module_utils.results import (
    ModuleFailure,
    main_for,
)

ARGUMENT_SPEC = {
    "namespaces": {"type": "list", "elements": "str", "default": []},
    "flavour": {"type": "str", "choices": ["auto", "kubernetes", "openshift"], "default": "auto"},
    "requires": {
        "type": "dict",
        "default": {},
        "options": {
            "tekton": {"type": "bool", "default": False},
            "argocd": {"type": "bool", "default": False},
        },
    },
    "gitops_namespace": {"type": "str", "default": "argocd"},
    **CLUSTER_ARGUMENT_SPEC,
}


def offers(apis, version, flavour):
    """What the cluster offers the roles, from the served group/versions."""
    openshift = flavour != "kubernetes" and "project.openshift.io/v1" in apis
    triggers = "triggers.tekton.dev/v1beta1" in apis
    routes = "route.openshift.io/v1" in apis
    return {
        "openshift": openshift,
        "openshift_groups": openshift and "user.openshift.io/v1" in apis,
        "image_puller": openshift,
        "tekton": "tekton.dev/v1" in apis,
        "triggers": triggers,
        "triggers_route": triggers and routes,
        "triggers_ingress": triggers and not routes,
        "argocd": "argoproj.io/v1alpha1" in apis,
        "version": version,
    }


def missing(offered, flavour, requires, gitops_namespace, namespaces):
    """One sentence for each thing the residency requires and the cluster lacks."""
    problems = []
    if flavour == "openshift" and not offered["openshift"]:
        problems.append(
            "the spec sets cluster.flavour: openshift but the cluster serves no "
            "project.openshift.io/v1 API"
        )
    if requires.get("tekton") and not offered["tekton"]:
        problems.append(
            "pipelines.enabled is true but the cluster serves no Tekton API (tekton.dev/v1); "
            "install Tekton Pipelines or set pipelines.enabled: auto"
        )
    if requires.get("argocd") and not offered["argocd"]:
        problems.append(
            "tools or applications need Argo CD but the cluster serves no Argo CD API "
            "(argoproj.io/v1alpha1); install Argo CD or remove spec.tooling"
        )
    elif requires.get("argocd") and not namespaces.get(gitops_namespace):
        problems.append(
            f"the Argo CD namespace {gitops_namespace} does not exist "
            "(spec.tooling.argocdNamespace)"
        )
    return problems


def run(params, check_mode, diff):
    requires = params["requires"] or {}
    asked = list(params["namespaces"])
    if requires.get("argocd") and params["gitops_namespace"] not in asked:
        asked.append(params["gitops_namespace"])
    try:
        client = connect(params["kubeconfig"], params["context"], params["request_timeout"])
        version = client.discovery("/version").get("gitVersion", "unknown")
        groups = client.discovery("/apis").get("groups", [])
        namespaces = {}
        for name in asked:
            try:
                client.request("GET", f"/api/v1/namespaces/{name}")
                namespaces[name] = True
            except ClientError as exc:
                if exc.status != 404:
                    raise
                namespaces[name] = False
    except ClientError as exc:
        raise ModuleFailure(
            f"cannot discover the cluster: {exc}", status=exc.status, reason=exc.reason or "Error"
        ) from exc
    except (OSError, ValueError, KeyError) as exc:
        raise ModuleFailure(f"cannot discover the cluster: {exc}", status=0) from exc
    apis = ["v1", *sorted(v["groupVersion"] for g in groups for v in g.get("versions", []))]
    offered = offers(apis, version, params["flavour"])
    problems = missing(offered, params["flavour"], requires, params["gitops_namespace"], namespaces)
    if problems:
        raise ModuleFailure(
            "; ".join(problems) + "; nothing was applied",
            reason="MissingAPI",
            apis=apis,
            version=version,
            namespaces=namespaces,
        )
    return {
        "changed": False,
        "apis": apis,
        "version": version,
        "namespaces": namespaces,
        "offers": offered,
        "ansible_facts": {"cluster_facts_offers": offered},
    }


def main():
    main_for(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
