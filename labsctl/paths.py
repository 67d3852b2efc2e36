"""Where labsctl's own files are: templates, playbooks, roles, CRDs; and its per-user state.

In a source checkout they are the top-level directories of the repository; in an installed wheel
they are bundled under `labsctl/_bundle/`. Nothing else in labsctl guesses paths.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLE = PACKAGE_DIR / "_bundle"
_CHECKOUT = PACKAGE_DIR.parent


def _shipped(name: str) -> Path:
    bundled = _BUNDLE / name
    return bundled if bundled.is_dir() else _CHECKOUT / name


def templates_dir() -> Path:
    return _shipped("templates")


def playbooks_dir() -> Path:
    return _shipped("playbooks")


def roles_dir() -> Path:
    return _shipped("roles")


def crds_dir() -> Path:
    return PACKAGE_DIR / "sandbox" / "crds"


def cache_dir() -> Path:
    """Build cache (Go modules, compiled binaries); outside the repository, shared per user."""
    explicit = os.environ.get("LABSCTL_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "labsctl"


def state_dir() -> Path:
    """Per-user state of the sandbox (pid files, certificates, kubeconfig)."""
    explicit = os.environ.get("LABSCTL_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "labsctl"


def collection_dir() -> Path:
    """The `labsctl.residency` Ansible collection shipped with labsctl."""
    return playbooks_dir() / "collections" / "ansible_collections" / "labsctl" / "residency"
