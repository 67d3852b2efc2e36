# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Filters over labsctl.residency.k8s_apply and residency_prune results."""

from __future__ import annotations


def describe_object(result):
    """'missing: RoleBinding ns/name' (or 'differs: ...', 'stale: ...', 'unchanged: ...') for
    one k8s_apply or residency_prune result entry."""
    where = f"{result['namespace']}/" if result.get("namespace") else ""
    verb = {"created": "missing", "changed": "differs", "pruned": "stale"}.get(
        result.get("action"), "unchanged"
    )
    return f"{verb}: {result['kind']} {where}{result['name']}"


class FilterModule:
    def filters(self):
        return {"describe_object": describe_object}
