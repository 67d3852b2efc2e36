# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Vars plugin: each residency's rendered objects, read as data with the standard JSON parser."""

from __future__ import annotations

DOCUMENTATION = r"""
name: residency_objects
short_description: A residency's rendered objects, read as data
version_added: "1.0.0"
description:
  - For each inventory host, reads C(host_vars/<host>.objects.json) next to the inventory
    source, the file C(labsctl render) writes with the objects of the residency (the
    C(<role>_objects) variables and C(labsctl_keep)).
  - >-
    Its strings are written C({"__ansible_unsafe": "..."}), so C(include_vars) and
    C(vars_files) read the file as data too. This plugin reads it with Python's JSON parser
    instead of Ansible's origin-tracking loader (about 0.2 s of CPU for each residency of
    the small example), and returns every string untrusted, so Ansible never templates any of
    them.
  - The playbooks of the labsctl repository find this plugin by themselves
    (C(playbooks/vars_plugins)); C(ansible-inventory) needs it enabled with
    C(vars_plugins_enabled), as the repository's C(ansible.cfg) does.
  - Host names that are not residency names (DNS labels) are passed over.
options:
  stage:
    ini:
      - key: stage
        section: labsctl.residency.residency_objects
    env:
      - name: LABSCTL_RESIDENCY_OBJECTS_STAGE
extends_documentation_fragment:
  - ansible.builtin.vars_plugin_staging
"""

import json
import os
import re

from ansible.errors import AnsibleParserError
from ansible.inventory.host import Host
from ansible.plugins.vars import BaseVarsPlugin

SUFFIX = ".objects.json"
_RESIDENCY = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_UNSAFE = "__ansible_unsafe"
_READ = {}  # path: ((mtime_ns, size), variables)


def objects_file(inventory_dir, residency):
    return os.path.join(inventory_dir, "host_vars", residency + SUFFIX)


def read_objects(path):
    """The variables of one objects file; every string plain (untrusted) text."""
    stat = os.stat(path)
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _READ.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        with open(path, encoding="utf-8") as handle:
            variables = json.load(handle, object_hook=_unmarked)
    except (OSError, ValueError) as exc:
        raise AnsibleParserError(f"{path}: not a labsctl objects file: {exc}") from exc
    if not isinstance(variables, dict):
        raise AnsibleParserError(f"{path}: not a labsctl objects file: not a mapping")
    _READ[path] = (key, variables)
    return variables


def _unmarked(mapping):
    if len(mapping) == 1 and _UNSAFE in mapping:
        value = mapping[_UNSAFE]
        if isinstance(value, str):
            return value
    return mapping


class VarsModule(BaseVarsPlugin):
    def get_vars(self, loader, path, entities, cache=True):
        super().get_vars(loader, path, entities)
        if not isinstance(entities, list):
            entities = [entities]
        found = {}
        for entity in entities:
            if not isinstance(entity, Host) or not _RESIDENCY.fullmatch(entity.name):
                continue
            path_of = objects_file(path, entity.name)
            if os.path.isfile(path_of):
                found.update(read_objects(path_of))
        return found
