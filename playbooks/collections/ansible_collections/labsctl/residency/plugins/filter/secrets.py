# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Read the values of spec.secrets references at run time, on the controller."""

from __future__ import annotations

import os

from ansible.errors import AnsibleFilterError

SECRET_FROM = "labsctl.dev/secret-from"


def secret_values(refs, objects):
    """{name: value} for the references the objects name; errors never include a value."""
    needed = {
        (obj.get("metadata", {}).get("annotations") or {}).get(SECRET_FROM) for obj in objects or []
    } - {None}
    by_name = {ref["name"]: ref for ref in refs or []}
    values = {}
    for name in sorted(needed):
        ref = by_name.get(name)
        if ref is None:
            raise AnsibleFilterError(f"secret {name!r} is not listed in spec.secrets")
        if ref.get("env"):
            value = os.environ.get(ref["env"])
            if not value:
                raise AnsibleFilterError(
                    f"secret {name!r}: environment variable {ref['env']} is not set"
                )
        else:
            try:
                with open(os.path.expanduser(ref["file"]), encoding="utf-8") as handle:
                    value = handle.read().strip()
            except OSError as exc:
                raise AnsibleFilterError(
                    f"secret {name!r}: cannot read {ref['file']} ({exc.strerror})"
                ) from None
        values[name] = value
    return values


class FilterModule:
    def filters(self):
        return {"secret_values": secret_values}
