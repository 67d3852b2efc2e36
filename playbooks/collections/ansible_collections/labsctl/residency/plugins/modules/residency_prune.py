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


_EXPECTED = (LockError, OwnershipError, ClientError, OSError, ValueError, KeyError)


def run(params, check_mode, diff):
    del diff
    outcome = run_batch([params], check_mode)[0]
    if outcome.get("failed"):
        fields = {k: v for k, v in outcome.items() if k not in ("failed", "msg", "changed")}
        raise ModuleFailure(outcome["msg"], **fields)
    return outcome


def run_batch(batch, check_mode):
    """The outcome of each residency's prune, for `batch`: the parameters of residencies on one
    cluster, reached in one way. One LIST per kind finds what all of them own; a residency
    whose deletes fail is a failed outcome, the others go on."""
    first = batch[0]
    kinds = []
    for params in batch:
        kinds += [k for k in kinds_of(params["keep"]) if k not in kinds]
    try:
        client = connect(first["kubeconfig"], first["context"], first["request_timeout"])
        discovery = Discovery(client)
        owned = list_owned(client, discovery, [p["residency"] for p in batch], kinds)
    except _EXPECTED as exc:  # the scan failed: no residency of the batch is pruned
        failure = _failure(exc, [p["residency"] for p in batch], [])
        return [dict(failure) for _params in batch]
    return [_prune(client, discovery, p, owned[p["residency"]], check_mode) for p in batch]


def _prune(client, discovery, params, owned, check_mode):
    residency = params["residency"]
    kinds = kinds_of(params["keep"])
    mine = [o for o in owned if (o["apiVersion"], o["kind"]) in kinds]
    pruned = []
    try:
        for ref in stale(mine, params["keep"], kinds):
            if not check_mode:
                if params["lock_holder"]:
                    check(client, residency, params["lock_holder"], f"pruning {ref.describe()}")
                delete(client, discovery, ref)
            pruned.append({**ref.as_dict(), "action": "pruned"})
    except _EXPECTED as exc:
        return _failure(exc, [residency], pruned)
    return {"changed": bool(pruned), "pruned": pruned}


def _failure(exc, residencies, pruned):
    outcome = {"failed": True, "changed": bool(pruned), "pruned": pruned}
    if isinstance(exc, LockError):
        outcome.update(msg=str(exc), reason=exc.reason)
    elif isinstance(exc, OwnershipError):
        outcome.update(msg=str(exc), reason="Error")
    elif isinstance(exc, ClientError):
        outcome.update(
            msg=f"pruning residency {', '.join(residencies)}: {exc.message}",
            status=exc.status,
            reason=exc.reason or "Error",
        )
    else:  # OSError, ValueError, KeyError: reading the kubeconfig
        outcome.update(msg=f"cannot load the cluster configuration: {exc}", reason="Error")
    return outcome


def main():
    main_for(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
