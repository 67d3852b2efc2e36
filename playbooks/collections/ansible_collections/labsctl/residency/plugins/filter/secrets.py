# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Read the values of spec.secrets references at run time, on the controller."""

from __future__ import annotations

import os

from ansible.errors import AnsibleFilterError
from ansible_collections.labsctl.residency.plugins.module_utils.secret_sources import (
    SECRETS_DIR_ENV,
    SecretSourceError,
    read_env,
    read_file,
)

SECRET_FROM = "labsctl.dev/secret-from"
RESIDENCY_LABEL = "labsctl.dev/residency"


def secret_values(refs, objects, secrets_dir=None):
    """{name: value} for the references the objects name; errors never include a value.

    The residency is the one whose ownership label the objects carry. Files are read only inside
    its subdirectory of `secrets_dir` (default: the LABSCTL_SECRETS_DIR environment variable);
    variables must be named for it and never hold the credentials of the tools themselves.
    """
    needed = {
        (obj.get("metadata", {}).get("annotations") or {}).get(SECRET_FROM) for obj in objects or []
    } - {None}
    by_name = {ref["name"]: ref for ref in refs or []}
    directory = secrets_dir or os.environ.get(SECRETS_DIR_ENV)
    residencies = {
        (obj.get("metadata", {}).get("labels") or {}).get(RESIDENCY_LABEL) for obj in objects or []
    }
    if needed and (len(residencies) != 1 or None in residencies):
        raise AnsibleFilterError(
            f"objects needing secrets must all carry one residency's {RESIDENCY_LABEL} label"
        )
    residency = next(iter(residencies), None)
    values = {}
    for name in sorted(needed):
        ref = by_name.get(name)
        if ref is None:
            raise AnsibleFilterError(f"secret {name!r} is not listed in spec.secrets")
        try:
            if ref.get("env"):
                values[name] = read_env(str(ref["env"]), residency)
            else:
                values[name] = read_file(str(ref["file"]), directory, residency)
        except SecretSourceError as exc:
            raise AnsibleFilterError(f"secret {name!r}: {exc}") from None
    return values


class FilterModule:
    def filters(self):
        return {"secret_values": secret_values}
