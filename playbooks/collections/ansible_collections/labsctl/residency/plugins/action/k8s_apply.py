# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Run labsctl.residency.k8s_apply once for the play's batch of residencies
(plugin_utils/batch.py). The objects the residencies of one cluster already have are read with
one LIST per kind for all of them, not one GET per object.
"""

from __future__ import annotations

from ansible_collections.labsctl.residency.plugins.module_utils.client import (
    ClientError,
    connect,
    shared_clients,
)
from ansible_collections.labsctl.residency.plugins.plugin_utils.batch import (
    BatchedAction,
    by_cluster,
)


class ActionModule(BatchedAction):
    module = "k8s_apply"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.known = {}  # {residency: the Known read for its cluster}

    def _run_all(self, module, prepared):
        if self._connection.transport != "local":
            return super()._run_all(module, prepared)
        clusters = by_cluster(prepared)
        with shared_clients():
            for way, hosts in clusters.items():
                keys = prepared[hosts[0]][0]["ownership_labels"]
                alike = [h for h in hosts if prepared[h][0]["ownership_labels"] == keys]
                objects = [o for h in alike for o in module.objects_of(prepared[h][0])]
                try:
                    cluster = module.Cluster(connect(*way))
                    known = module.read_known(cluster, objects, keys) if objects else None
                except (ClientError, OSError, ValueError, KeyError):
                    known = None  # each residency's run reports what is wrong
                for host in alike:
                    self.known[host] = known
            return super()._run_all(module, prepared)

    def run_one(self, module, params, check_mode, diff, host):
        return module.run(params, check_mode, diff, known=self.known.get(host))
