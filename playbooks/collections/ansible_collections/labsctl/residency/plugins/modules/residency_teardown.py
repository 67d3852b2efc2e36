#!/usr/bin/python
# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Tear a residency down: what it owns, only that, backed up, in reverse order."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: residency_teardown
short_description: Tear a residency down exactly as labsctl teardown does
description:
  - Plans every object the residency owns (found by its ownership labels only, among the kinds
    labsctl manages and the kinds of O(keep)), in reverse order of creation.
  - Refuses, deleting nothing, when a namespace it would delete holds objects labsctl did not
    create (reason C(NotOwned)) or kinds it is forbidden to list there (reason C(Forbidden),
    naming the missing permission), unless O(force).
  - Backs the residency up in the hand-over format of C(labsctl export) into a new directory
    C(<backup_dir>/<residency>-<date>), or C(.2), C(.3)... after it when it exists, so a backup
    is never overwritten.
  - Deletes in reverse order (objects in a deleted namespace go with it), then waits up to
    O(timeout) seconds for the namespaces to go and fails (reason C(Stuck)) naming what holds
    one that does not.
  - With O(lock_holder), the residency's lock must still be held by it before each delete
    (reason C(LockLost) otherwise).
  - Check mode deletes nothing and returns the plan (nothing to refuse is reported as a failure).
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
    description: The residency's objects as rendered (their kinds are looked for too).
    type: list
    elements: dict
    default: []
  force:
    description: Delete even namespaces holding objects labsctl did not create or cannot see.
    type: bool
    default: false
  backup_dir:
    description: Where the backup directory goes; no backup without it.
    type: path
  backup_date:
    description: The date in the backup directory's name; today (UTC) without it.
    type: str
  timeout:
    description: Seconds to wait for the namespaces to go.
    type: float
    default: 300
  lock_holder:
    description: The holder of the residency's lock; checked (and renewed) before each delete.
    type: str
"""

EXAMPLES = r"""
- name: Tear the residency down
  labsctl.residency.residency_teardown:
    residency: "{{ labsctl_residency }}"
    keep: "{{ labsctl_keep }}"
    backup_dir: "{{ playbook_dir }}/../labsctl-backups"
    lock_holder: "{{ __lock.holder }}"
"""

RETURN = r"""
objects:
  description: Every object the residency owned, in the order of deletion.
  returned: always
  type: list
  elements: dict
deleted:
  description: The objects deleted one by one (what was in a deleted namespace went with it).
  returned: always
  type: list
  elements: dict
unowned:
  description: Objects in the residency's namespaces that labsctl did not create.
  returned: always
  type: list
  elements: str
blind:
  description: What the scan was forbidden to list (C(list <resource>.<group> in <namespace>)).
  returned: always
  type: list
  elements: str
backup:
  description: The backup directory, or null.
  returned: always
  type: str
stuck:
  description: One sentence per namespace that did not go, naming what holds it.
  returned: always
  type: list
  elements: str
"""

import datetime

from ansible_collections.labsctl.residency.plugins.module_utils.client import (
    CLUSTER_ARGUMENT_SPEC,
    ClientError,
    connect,
)
from ansible_collections.labsctl.residency.plugins.module_utils.lease import LockError, check
from ansible_collections.labsctl.residency.plugins.module_utils.ownership import (
    Discovery,
    OwnershipError,
    kinds_of,
    teardown_plan,
)
from ansible_collections.labsctl.residency.plugins.module_utils.results import (
    ModuleFailure,
    main_for,
)
from ansible_collections.labsctl.residency.plugins.module_utils.teardown import (
    TeardownRefused,
)
from ansible_collections.labsctl.residency.plugins.module_utils.teardown import (
    run as run_teardown,
)

EMPTY = {"objects": [], "deleted": [], "unowned": [], "blind": [], "backup": None, "stuck": []}
ARGUMENT_SPEC = {
    "residency": {"type": "str", "required": True},
    "keep": {"type": "list", "elements": "dict", "default": []},
    "force": {"type": "bool", "default": False},
    "backup_dir": {"type": "path"},
    "backup_date": {"type": "str"},
    "timeout": {"type": "float", "default": 300},
    "lock_holder": {"type": "str"},
    **CLUSTER_ARGUMENT_SPEC,
}


def run(params, check_mode, diff):
    residency = params["residency"]
    kinds = kinds_of(params["keep"])
    today = params["backup_date"] or datetime.datetime.now(datetime.UTC).date().isoformat()
    try:
        client = connect(params["kubeconfig"], params["context"], params["request_timeout"])
        if check_mode:
            plan = teardown_plan(client, Discovery(client), residency, kinds)
            return {"changed": bool(plan.objects), **EMPTY, **plan.as_dict()}

        def before_each(ref):
            if params["lock_holder"]:
                check(client, residency, params["lock_holder"], f"deleting {ref.describe()}")

        outcome = run_teardown(
            client,
            residency,
            kinds=kinds,
            force=params["force"],
            backup_dir=params["backup_dir"] or None,
            today=today,
            before_each=before_each,
            timeout=params["timeout"],
        )
    except (TeardownRefused, LockError) as exc:
        raise ModuleFailure(str(exc), reason=exc.reason, **EMPTY) from exc
    except OwnershipError as exc:
        raise ModuleFailure(str(exc), reason="Error", **EMPTY) from exc
    except ClientError as exc:
        raise ModuleFailure(
            f"tearing down residency {residency}: {exc.message}",
            status=exc.status,
            reason=exc.reason or "Error",
            **EMPTY,
        ) from exc
    except (OSError, ValueError, KeyError) as exc:
        raise ModuleFailure(f"tearing down residency {residency}: {exc}", **EMPTY) from exc
    result = outcome.as_dict()
    result.pop("residency", None)
    if outcome.stuck:
        raise ModuleFailure("; ".join(outcome.stuck), reason="Stuck", changed=True, **result)
    return {"changed": bool(outcome.plan.objects), **result}


def main():
    main_for(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
