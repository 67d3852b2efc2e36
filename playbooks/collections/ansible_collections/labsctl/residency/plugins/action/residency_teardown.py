# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Run labsctl.residency.residency_teardown once for the play's batch of residencies
(plugin_utils/batch.py)."""

from __future__ import annotations

from ansible_collections.labsctl.residency.plugins.plugin_utils.batch import BatchedAction


class ActionModule(BatchedAction):
    module = "residency_teardown"
