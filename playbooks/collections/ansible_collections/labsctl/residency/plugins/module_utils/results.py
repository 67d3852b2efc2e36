# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""How this collection's modules end: one `run(params, check_mode, diff)` per module returning the
result, or raising ModuleFailure; run in a module process by `main_for`, or in Ansible's worker
on the controller by the action plugins (plugin_utils/in_process.py), the same code either way."""

from __future__ import annotations


class ModuleFailure(Exception):
    """The task failed: `msg`, plus the result fields (reason, status, partial results)."""

    def __init__(self, msg, **fields):
        super().__init__(msg)
        self.msg = msg
        self.fields = fields


def main_for(argument_spec, run):
    """The module process's main: parse the arguments, run, exit with the result."""
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.labsctl.residency.plugins.module_utils.client import (
        require_libraries,
    )

    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_libraries(module)
    try:
        result = run(module.params, module.check_mode, module._diff)
    except ModuleFailure as exc:
        module.fail_json(msg=exc.msg, **exc.fields)
    module.exit_json(**result)
