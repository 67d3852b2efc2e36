"""A rendered inventory's variables for one residency, read the ways Ansible reads them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.inventory.host import Host
from ansible.parsing.dataloader import DataLoader

from labsctl.files import write_tree
from labsctl.inventory import inventory_files
from labsctl.render import Rendering

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "playbooks" / "collections"))
from ansible_collections.labsctl.residency.plugins.vars.residency_objects import (
    VarsModule,
    read_objects,
)

__all__ = ["as_playbooks_read", "as_vars_files_read", "read_objects", "write_inventory"]


def write_inventory(tmp_path: Path, rendering: Rendering) -> Path:
    return write_tree(tmp_path, "inventory", inventory_files([rendering]))


def as_playbooks_read(inventory: Path, residency: str) -> dict[str, Any]:
    """What ansible-playbook gives the host: `host_vars/<residency>.yml` by Ansible's own
    loader (as its host_group_vars plugin reads it), the objects file by the collection's vars
    plugin."""
    loader = DataLoader()
    facts = loader.load_from_file(
        str(inventory / "host_vars" / f"{residency}.yml"), unsafe=True, trusted_as_template=True
    )
    objects = VarsModule().get_vars(loader, str(inventory), [Host(residency)])
    return {**facts, **objects}


def as_vars_files_read(inventory: Path, residency: str) -> dict[str, Any]:
    """The objects file read by Ansible's own loader, as `vars_files` and `include_vars` read
    it (the molecule scenarios do)."""
    path = inventory / "host_vars" / f"{residency}.objects.json"
    loaded = DataLoader().load_from_file(str(path), unsafe=True, trusted_as_template=True)
    assert isinstance(loaded, dict)
    return loaded
