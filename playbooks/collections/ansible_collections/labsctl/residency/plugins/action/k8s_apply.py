# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Run labsctl.residency.k8s_apply in Ansible's worker (plugin_utils/in_process.py)."""

from __future__ import annotations

from ansible_collections.labsctl.residency.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    module = "k8s_apply"
