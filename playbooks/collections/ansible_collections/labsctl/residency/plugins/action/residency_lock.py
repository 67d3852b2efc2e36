# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Run labsctl.residency.residency_lock once for the play's batch of residencies
(plugin_utils/batch.py), naming the running ansible-playbook as the holder of the locks it takes
when the task names none.

The worker is forked from ansible-playbook, so its parent pid is ansible-playbook's own: a lock
left by a killed run is seen as its holder's, on this host, and taken at once. A release names
the holder the take returned as `release_holder` (only when the take acquired the lock); a
residency without one has nothing to release and is left alone.
"""

from __future__ import annotations

import os

from ansible_collections.labsctl.residency.plugins.module_utils.lease import holder_identity
from ansible_collections.labsctl.residency.plugins.plugin_utils.batch import BatchedAction


class ActionModule(BatchedAction):
    module = "residency_lock"
    leaves_failed_alone = False  # a failed residency's lock is released all the same

    def module_args(self, args):
        if not args.get("holder") and args.get("state", "acquired") == "acquired":
            args["holder"] = holder_identity("ansible-playbook", pid=os.getppid())
        return args

    def skip_reason(self, args):
        if args.get("state") == "released" and not args.get("holder"):
            return "this run took no lock for the residency"
        return None

    def finish(self, outcome):
        if outcome.get("acquired"):
            outcome["release_holder"] = outcome["holder"]
        return outcome
