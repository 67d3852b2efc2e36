"""The per-residency Ansible inventory that `playbooks/*.yml` run with plain `ansible-playbook`.

Each residency is one inventory host (connection `local`). Its variables are in two files:
`host_vars/<residency>.yml`, what the playbooks know of it (one `!unsafe` mapping), and
`host_vars/<residency>.objects.json`, its objects (the same rendering as `labsctl render
--format manifests`) with every string marked unsafe. Ansible's host_vars plugin reads the
first; the collection's vars plugin `residency_objects` reads the second with the standard JSON
parser, which costs a fraction of Ansible's own loader (bench/results/profile.md).
"""

from __future__ import annotations

from typing import Any

from labsctl import naming
from labsctl.render import Rendering
from labsctl.unsafejson import dump_unsafe_json
from labsctl.yamldump import dump_yaml

GROUP = "residencies"
INVENTORY_FORMAT = 2
OBJECTS_SUFFIX = ".objects.json"  # the vars plugin's SUFFIX
# The vars plugins an inventory of this format needs (ANSIBLE_VARS_ENABLED, vars_plugins_enabled)
VARS_PLUGINS = "ansible.builtin.host_group_vars,labsctl.residency.residency_objects"


def host_vars(rendering: Rendering) -> dict[str, Any]:
    """Everything the playbooks need for one residency: facts about it and its objects."""
    return {**fact_vars(rendering), **object_vars(rendering)}


def fact_vars(rendering: Rendering) -> dict[str, Any]:
    """The variables of `host_vars/<residency>.yml`: what the playbooks know of the residency."""
    residency = rendering.residency
    context = rendering.context
    pipelines = context["pipelines"]
    variables: dict[str, Any] = {
        "labsctl_residency": residency.name,
        "labsctl_namespaces": list(context["namespaces"]),
        "labsctl_owner_selector": naming.owner_selector(residency.name),
        "labsctl_flavour": residency.spec.cluster.flavour.value,
        "labsctl_requires": {
            "tekton": bool(pipelines["required"]),
            "argocd": bool(context["gitops"]["enabled"]),
        },
        "labsctl_gitops_namespace": context["gitops"]["namespace"],
        "labsctl_secret_refs": [
            ref.model_dump(exclude_none=True) for ref in residency.spec.secrets
        ],
    }
    if residency.spec.cluster.context:
        variables["labsctl_context"] = residency.spec.cluster.context
    return variables


def object_vars(rendering: Rendering) -> dict[str, Any]:
    """The variables of the objects file: what the residency declares, for the playbooks'
    prune and teardown steps (`labsctl_keep`), and each role's objects."""
    return {"labsctl_keep": keep_refs(rendering), **rendering.variables()}


def keep_refs(rendering: Rendering) -> list[dict[str, Any]]:
    """Every object the residency declares (conditional sets included: an object of a set the
    cluster cannot serve is not pruned), as apiVersion, kind and metadata name/namespace."""
    refs = []
    for obj in rendering.objects(lambda _condition: True):
        metadata = {"name": obj["metadata"]["name"]}
        if obj["metadata"].get("namespace"):
            metadata["namespace"] = obj["metadata"]["namespace"]
        refs.append({"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": metadata})
    return refs


def inventory_files(renderings: list[Rendering]) -> dict[str, str]:
    """Files of one inventory directory (`hosts.yml`, `group_vars/`, `host_vars/`)."""
    hosts: dict[str, Any] = {r.residency.name: {} for r in renderings}
    files = {
        "hosts.yml": _header(renderings)
        + dump_yaml({"all": {"children": {GROUP: {"hosts": hosts}}}}),
        "group_vars/all.yml": _header(renderings)
        + dump_yaml(
            {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "labsctl_inventory_format": INVENTORY_FORMAT,
            }
        ),
    }
    for rendering in renderings:
        name = rendering.residency.name
        files[f"host_vars/{name}.yml"] = _header(renderings) + dump_yaml(
            fact_vars(rendering), for_ansible=True
        )
        files[f"host_vars/{name}{OBJECTS_SUFFIX}"] = dump_unsafe_json(object_vars(rendering))
    return files


def _header(renderings: list[Rendering]) -> str:
    names = ", ".join(sorted(r.residency.name for r in renderings))
    return (
        f"# Rendered by labsctl from the residency spec of {names}; do not edit by hand.\n"
        "# Apply with: ansible-playbook -i <this directory> playbooks/bootstrap.yml\n"
    )
