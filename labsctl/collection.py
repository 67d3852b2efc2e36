"""The rules labsctl shares with the playbooks, loaded from the Ansible collection it ships.

Ownership, pruning, the lock, the teardown order, the hand-over format, the secret sources and
the REST client are written once, in the `labsctl.residency` collection's `module_utils`, because
a pipeline running the playbooks with nothing but Ansible must keep the same rules; labsctl
imports the very same files (`ansible_collections.labsctl.residency.plugins.module_utils.*`).
"""

from __future__ import annotations

import importlib
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from labsctl import paths

PACKAGE = "ansible_collections.labsctl.residency.plugins.module_utils"


@cache
def _search_path() -> Path:
    root = paths.collection_dir().parents[2]  # .../collections, holding ansible_collections/
    if str(root) not in sys.path:
        sys.path.append(str(root))
    return root


def module_utils(name: str) -> ModuleType:
    """`module_utils/<name>.py` of the shipped collection (never another installed copy)."""
    root = _search_path()
    module = importlib.import_module(f"{PACKAGE}.{name}")
    where = Path(module.__file__ or "").resolve()
    if not where.is_relative_to(root.resolve()):  # pragma: no cover - a broken installation
        raise ImportError(
            f"{PACKAGE}.{name} comes from {where}, not from labsctl's own collection in {root}: "
            "another labsctl.residency collection is first on the Python path"
        )
    return module


def ownership() -> ModuleType:
    return module_utils("ownership")


def lease() -> ModuleType:
    return module_utils("lease")


def handover() -> ModuleType:
    return module_utils("handover")


def teardown() -> ModuleType:
    return module_utils("teardown")


def client() -> ModuleType:
    return module_utils("client")
