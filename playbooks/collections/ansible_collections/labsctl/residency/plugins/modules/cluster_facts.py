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
    of the APIs labsctl can use are served, and whether the given namespaces exist.
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
"""

EXAMPLES = r"""
- name: Discover the cluster
  labsctl.residency.cluster_facts:
    namespaces: [argocd]
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
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.labsctl.residency.plugins.module_utils.client import (
    ClientError,
    connect,
    require_libraries,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "namespaces": {"type": "list", "elements": "str", "default": []},
            "kubeconfig": {"type": "path"},
            "context": {"type": "str"},
            "request_timeout": {"type": "str"},
        },
        supports_check_mode=True,
    )
    require_libraries(module)
    try:
        client = connect(
            module.params["kubeconfig"],
            module.params["context"],
            module.params["request_timeout"],
        )
        version = client.request("GET", "/version").get("gitVersion", "unknown")
        groups = client.request("GET", "/apis").get("groups", [])
        namespaces = {}
        for name in module.params["namespaces"]:
            try:
                client.request("GET", f"/api/v1/namespaces/{name}")
                namespaces[name] = True
            except ClientError as exc:
                if exc.status != 404:
                    raise
                namespaces[name] = False
    except (ClientError, OSError, ValueError, KeyError) as exc:
        status = getattr(exc, "status", 0)
        module.fail_json(msg=f"cannot discover the cluster: {exc}", status=status)
    apis = ["v1", *sorted(v["groupVersion"] for g in groups for v in g.get("versions", []))]
    module.exit_json(changed=False, apis=apis, version=version, namespaces=namespaces)


if __name__ == "__main__":
    main()
