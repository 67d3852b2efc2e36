#!/usr/bin/python
# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Take or release a residency's lock (a Lease), the same one labsctl takes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: residency_lock
short_description: Take or release a residency's lock, the same Lease labsctl takes
description:
  - Two runs of one residency (C(labsctl apply), C(labsctl teardown), or these playbooks) never
    work at once; the lock is the Lease C(labsctl-<residency>) in the namespace
    C(labsctl-system), naming its holder.
  - O(state=held) takes it, waiting up to O(wait) seconds for another holder to finish. A Lease
    already held by O(holder) is renewed instead, and RV(acquired) is false, so that the run
    which took it (C(labsctl apply) passes its own holder) is the one that releases it.
  - A lock whose holder died (its process is gone on this host) is taken at once; any other
    expires O(duration) seconds after its last renewal, judged on this host's clock.
  - O(state=released) deletes the Lease if O(holder) still holds it.
  - The task never reports C(changed), since a lock is no change to what the residency declares, so
    a re-run of the playbook stays at C(changed=0).
  - The holder defaults to C(user@host pid N (ansible-playbook)) with the pid of the running
    C(ansible-playbook) (set by the action plugin of the same name).
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
  state:
    description: C(held) takes (or renews) the lock, C(released) releases it.
    type: str
    choices: [held, released]
    default: held
  holder:
    description: Who holds the lock; filled in by the action plugin when not given.
    type: str
  duration:
    description: Seconds the Lease lasts without renewal.
    type: int
    default: 600
  wait:
    description: Seconds to wait for another holder before failing (reason C(Locked)).
    type: float
    default: 60
notes:
  - In check mode the lock is neither taken nor released; RV(holder) names who holds it now.
"""

EXAMPLES = r"""
- name: Take the residency's lock
  labsctl.residency.residency_lock:
    residency: "{{ labsctl_residency }}"
  register: __lock

- name: Release it
  labsctl.residency.residency_lock:
    residency: "{{ labsctl_residency }}"
    state: released
    holder: "{{ __lock.holder }}"
  when: __lock.acquired | default(false)
"""

RETURN = r"""
holder:
  description: The holder this task took or released the lock for (in check mode, who holds it).
  returned: always
  type: str
acquired:
  description: Whether this task took the lock (false when the holder held it already).
  returned: always
  type: bool
released:
  description: Whether this task released the lock (O(state=released)).
  returned: when O(state=released)
  type: bool
"""

from ansible_collections.labsctl.residency.plugins.module_utils.client import (
    CLUSTER_ARGUMENT_SPEC,
    ClientError,
    connect,
)
from ansible_collections.labsctl.residency.plugins.module_utils.lease import (
    LockError,
    acquire,
    holder_of,
    read,
    release,
)
from ansible_collections.labsctl.residency.plugins.module_utils.results import (
    ModuleFailure,
    main_for,
)

ARGUMENT_SPEC = {
    "residency": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["held", "released"], "default": "held"},
    "holder": {"type": "str"},
    "duration": {"type": "int", "default": 600},
    "wait": {"type": "float", "default": 60},
    **CLUSTER_ARGUMENT_SPEC,
}


def run(params, check_mode, diff):
    holder = params["holder"]
    if not holder:
        raise ModuleFailure("holder is required (the action plugin fills it in)")
    residency = params["residency"]
    try:
        client = connect(params["kubeconfig"], params["context"], params["request_timeout"])
        if check_mode:
            current = read(client, residency)
            return {"changed": False, "acquired": False, "holder": holder_of(current or {})}
        if params["state"] == "released":
            released = release(client, residency, holder)
            return {"changed": False, "acquired": False, "released": released, "holder": holder}
        acquired = acquire(client, residency, holder, params["duration"], params["wait"])
    except LockError as exc:
        raise ModuleFailure(str(exc), reason=exc.reason, holder=holder) from exc
    except ClientError as exc:
        raise ModuleFailure(
            f"lock of residency {residency}: {exc.message}",
            status=exc.status,
            reason=exc.reason or "Error",
        ) from exc
    except (OSError, ValueError, KeyError) as exc:
        raise ModuleFailure(f"cannot load the cluster configuration: {exc}") from exc
    # Taking a lock changes nothing the residency declares: a re-run stays `changed=0`.
    return {"changed": False, "acquired": acquired, "holder": holder}


def main():
    main_for(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
