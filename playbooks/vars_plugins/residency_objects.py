# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""labsctl.residency.residency_objects for the playbooks of this directory, with no configuration.

Ansible runs the vars plugins found next to a playbook without being told to, while a vars
plugin of a collection runs only when `vars_plugins_enabled` names it. This one lets
`ansible-playbook -i inventories/<residency> playbooks/bootstrap.yml` read the residency's
objects from anywhere; where the collection's plugin is enabled (the repository's
`ansible.cfg`), that one reads them and this one stands aside.
"""

from __future__ import annotations

from ansible import constants as C
from ansible_collections.labsctl.residency.plugins.vars.residency_objects import (
    VarsModule as _CollectionVars,
)

DOCUMENTATION = """
name: residency_objects
short_description: labsctl.residency.residency_objects, for the playbooks next to it
description: [See labsctl.residency.residency_objects.]
"""

_ENABLED_NAMES = {"labsctl.residency.residency_objects"}


class VarsModule(_CollectionVars):
    def get_vars(self, loader, path, entities, cache=True):
        if _ENABLED_NAMES & set(C.VARIABLE_PLUGINS_ENABLED or ()):
            return {}
        return super().get_vars(loader, path, entities, cache)
