# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Run labsctl.residency.residency_prune once for the play's batch of residencies
(plugin_utils/batch.py), with one LIST per kind for all the residencies on a cluster.
"""

from __future__ import annotations

from ansible_collections.labsctl.residency.plugins.module_utils.client import shared_clients
from ansible_collections.labsctl.residency.plugins.plugin_utils.batch import (
    BatchedAction,
    by_cluster,
)


class ActionModule(BatchedAction):
    module = "residency_prune"

    def _run_all(self, module, prepared):
        if self._connection.transport != "local":
            return super()._run_all(module, prepared)
        clusters = by_cluster(prepared)
        outcomes = {}
        with shared_clients():
            for hosts in clusters.values():
                batch = [prepared[host][0] for host in hosts]
                ran = module.run_batch(batch, bool(self._task.check_mode))
                outcomes.update(zip(hosts, ran, strict=True))
        return outcomes
