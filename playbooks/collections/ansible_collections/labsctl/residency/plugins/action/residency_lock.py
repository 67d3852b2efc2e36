# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Name the running ansible-playbook as the lock's holder, then run the module.

Runs in a worker forked from ansible-playbook, so the parent pid is ansible-playbook's own: a
lock left by a killed run is seen as its holder's, on this host, and taken at once.
"""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase
from ansible_collections.labsctl.residency.plugins.module_utils.lease import holder_identity


class ActionModule(ActionBase):
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if not args.get("holder"):
            args["holder"] = holder_identity("ansible-playbook", pid=os.getppid())
        result.update(
            self._execute_module(
                module_name="labsctl.residency.residency_lock",
                module_args=args,
                task_vars=task_vars,
            )
        )
        return result
