#!/usr/bin/python
# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Delete what a residency owns on the cluster but no longer declares."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: residency_prune
short_description: Delete what a residency owns on the cluster but no longer declares
description:
  - Finds the residency's objects by its ownership labels only (never by name), among the kinds
    labsctl manages and the kinds of O(keep), with one list request per kind.
  - Deletes those that O(keep) does not name, in reverse order of creation; objects inside a
    namespace that is itself deleted go with it.
  - Check mode deletes nothing and reports what would go (C(labsctl plan), C(verify.yml)).
  - With O(lock_holder), the residency's lock must still be held by it before each delete
    (reason C(LockLost) otherwise), so a run that lost its lock never prunes.
version_added: "0.2.0"
author: The labsctl authors (@labsctl)
requirements:
  - urllib3
  - PyYAML
extends_documentation_fragment:
  - labsctl.residency.cluster
options:
  residency:
    description: The residency's name.
    type: str
    required: true
  keep:
    description:
      - Everything the residency declares (objects, or references with C(apiVersion), C(kind),
        C(metadata.name) and C(metadata.namespace)); the inventory's C(labsctl_keep).
    type: list
    elements: dict
    required: true
  lock_holder:
    description: The holder of the residency's lock; checked (and renewed) before each delete.
    type: str
"""

EXAMPLES = r"""
- name: Prune what the residency owns but no longer declares
  labsctl.residency.residency_prune:
    residency: "{{ labsctl_residency }}"
    keep: "{{ labsctl_keep }}"
    lock_holder: "{{ __lock.holder }}"
"""

RETURN = r"""
pruned:
  description: The objects deleted (in check mode, that would be), in the order of deletion.
  returned: always
  type: list
  elements: dict
  contains:
    apiVersion: {description: API version., type: str}
    kind: {description: Kind., type: str}
    namespace: {description: "Namespace, or null for cluster-scoped objects.", type: str}
    name: {description: Name., type: str}
    action: {description: Always C(pruned)., type: str}
"""

from ansible_collections.labsctl.residency.plugins.module_utils.client import (
    CLUSTER_ARGUMENT_SPEC,
    ClientError,
    connect,
)
from ansible_collections.labsctl.residency.plugins.module_utils.lease import LockError, check
from ansible_collections.labsctl.residency.plugins.module_utils.ownership import (
    Discovery,
    OwnershipError,
    delete,
    kinds_of,
    list_owned,
    stale,
)
from ansible_collections.labsctl.residency.plugins.module_utils.results import (
    ModuleFailure,
    main_for,
)

ARGUMENT_SPEC = {
    "residency": {"type": "str", "required": True},
    "keep": {"type": "list", "elements": "dict", "required": True},
    "lock_holder": {"type": "str"},
    **CLUSTER_ARGUMENT_SPEC,
}


def run(params, check_mode, diff):
    residency = params["residency"]
    pruned = []
    try:
        client = connect(params["kubeconfig"], params["context"], params["request_timeout"])
        discovery = Discovery(client)
        kinds = kinds_of(params["keep"])
        owned = list_owned(client, discovery, [residency], kinds)[residency]
        for ref in stale(owned, params["keep"], kinds):
            if not check_mode:
                if params["lock_holder"]:
                    check(client, residency, params["lock_holder"], f"pruning {ref.describe()}")
                delete(client, discovery, ref)
            pruned.append({**ref.as_dict(), "action": "pruned"})
    except LockError as exc:
        raise ModuleFailure(str(exc), reason=exc.reason, pruned=pruned) from exc
    except OwnershipError as exc:
        raise ModuleFailure(str(exc), reason="Error", pruned=pruned) from exc
    except ClientError as exc:
        raise ModuleFailure(
            f"pruning residency {residency}: {exc.message}",
            status=exc.status,
            reason=exc.reason or "Error",
            pruned=pruned,
        ) from exc
    except (OSError, ValueError, KeyError) as exc:
        raise ModuleFailure(f"cannot load the cluster configuration: {exc}", pruned=pruned) from exc
    return {"changed": bool(pruned), "pruned": pruned}


def main():
    main_for(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
