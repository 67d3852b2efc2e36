"""The rules for where secret values may come from, loaded from the Ansible collection.

They are written once, in the collection's `module_utils/secret_sources.py`, because the roles
need them on any controller that runs the playbooks without labsctl; labsctl loads the same file.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from types import ModuleType

from labsctl import paths

_NAME = "labsctl._collection_secret_sources"


@cache
def rules() -> ModuleType:
    path = paths.collection_dir() / "plugins" / "module_utils" / "secret_sources.py"
    spec = importlib.util.spec_from_file_location(_NAME, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a broken installation
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    spec.loader.exec_module(module)
    return module


def env_refusal(name: str, residency: str) -> str | None:
    refusal: str | None = rules().env_refusal(name, residency)
    return refusal


def env_prefix(residency: str) -> str:
    return str(rules().env_prefix(residency))


def file_refusal(path: str) -> str | None:
    refusal: str | None = rules().file_refusal(path)
    return refusal


def secrets_dir_env() -> str:
    """The environment variable naming the operator's secrets directory."""
    return str(rules().SECRETS_DIR_ENV)
