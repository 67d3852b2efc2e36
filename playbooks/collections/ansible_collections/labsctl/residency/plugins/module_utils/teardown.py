# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""The end of a residency, written once for ``labsctl teardown`` and ``playbooks/teardown.yml``.

Under the residency's lock (the caller holds it and passes its check): plan (every owned object,
found by the ownership labels, in deletion order), refuse when a namespace it would delete holds
objects labsctl did not create or kinds it may not list (unless forced), back up in the
hand-over format, delete in reverse order of creation (checking the lock before each delete),
then wait until the namespaces are gone, naming what holds one that does not go. Everything is
derived from the cluster, so a re-run after an interruption continues where it stopped.
"""

from __future__ import annotations

import time

from ansible_collections.labsctl.residency.plugins.module_utils import handover, ownership


class TeardownRefused(Exception):
    """The plan may not be carried out; `reason` is NotOwned, Forbidden or Changed."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.reason = reason


class Outcome:
    def __init__(self, plan, deleted, backup, stuck):
        self.plan = plan
        self.deleted = deleted
        self.backup = backup
        self.stuck = stuck

    def as_dict(self):
        return {
            **self.plan.as_dict(),
            "deleted": [ref.as_dict() for ref in self.deleted],
            "backup": self.backup,
            "stuck": list(self.stuck),
        }


def check_unchanged(shown, current):
    """Refuse (reason Changed) when objects appeared since the plan a person was shown."""
    added = sorted(set(current.objects) - set(shown.objects))
    if added:
        gone = set(shown.objects) - set(current.objects)
        raise TeardownRefused(
            f"residency {shown.residency} changed since its plan was made: "
            f"{', '.join(ref.describe() for ref in added)} appeared (and {len(gone)} objects "
            "went); nothing was deleted",
            "Changed",
        )


def run(
    client,
    residency,
    *,
    kinds=None,
    force=False,
    backup_dir=None,
    today=None,
    shown=None,
    before_each=None,
    timeout=300.0,
    clock=time.monotonic,
    sleep=time.sleep,
    on_progress=None,
):
    """Tear `residency` down; the Outcome. `shown`: the plan a person approved (the run stops
    if objects appeared since). `before_each(ref)`: the lock's check before every delete."""
    say = on_progress or (lambda message: None)
    discovery = ownership.Discovery(client)
    kinds = kinds or ownership.kinds_of([])
    plan = ownership.teardown_plan(client, discovery, residency, kinds)
    if shown is not None:
        check_unchanged(shown, plan)
    refusal = plan.refusal(force)
    if refusal is not None:
        reason, message = refusal
        raise TeardownRefused(message, reason)
    backup = None
    if backup_dir is not None and plan.namespaces:
        say(f"backing up to {backup_dir}")
        tree, _secrets = handover.files(residency, plan.live)  # as read under the lock
        backup = handover.write_backup(backup_dir, residency, today, tree)

    def each(ref):
        if before_each is not None:
            before_each(ref)
        say(f"deleting {ref.describe()}")

    deleted = ownership.delete_planned(client, discovery, plan, before_each=each)
    stuck = ownership.wait_gone(client, discovery, residency, timeout, clock, sleep, say)
    return Outcome(plan, deleted, backup, stuck)
