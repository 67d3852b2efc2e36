# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Filters over labsctl.residency.k8s_apply results."""

from __future__ import annotations


def describe_object(result):
    """'missing: RoleBinding ns/name' (or 'differs: ...', 'unchanged: ...') for one k8s_apply
    result entry."""
    where = f"{result['namespace']}/" if result.get("namespace") else ""
    verb = {"created": "missing", "changed": "differs"}.get(result.get("action"), "unchanged")
    return f"{verb}: {result['kind']} {where}{result['name']}"


class FilterModule:
    def filters(self):
        return {"describe_object": describe_object}
