# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Run labsctl.residency.residency_lock in Ansible's worker, naming the running ansible-playbook
as the lock's holder when the task names none.

The worker is forked from ansible-playbook, so its parent pid is ansible-playbook's own: a lock
left by a killed run is seen as its holder's, on this host, and taken at once.
"""

from __future__ import annotations

import os

from ansible_collections.labsctl.residency.plugins.module_utils.lease import holder_identity
from ansible_collections.labsctl.residency.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    module = "residency_lock"

    def module_args(self, args):
        if not args.get("holder"):
            args["holder"] = holder_identity("ansible-playbook", pid=os.getppid())
        return args
