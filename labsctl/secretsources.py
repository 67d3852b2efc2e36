"""The rules for where secret values may come from, loaded from the Ansible collection.

They are written once, in the collection's `module_utils/secret_sources.py`, because the roles
need them on any controller that runs the playbooks without labsctl; labsctl loads the same file.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType

from labsctl import collection


@cache
def rules() -> ModuleType:
    return collection.module_utils("secret_sources")


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
