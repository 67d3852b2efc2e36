# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Whether a server-side apply of an object would leave the live object as it is.

k8s_apply reads each object before it applies it (a LIST per kind, or a GET). When the live
object already holds exactly what labsctl would apply, the apply is not sent, as Argo CD syncs
only what is out of sync; a no-op apply of a fleet then costs its reads, not a PATCH per object.

The live object is in sync when all of these hold, and only then (anything not proved keeps
the PATCH, which is always correct):
- it has exactly one managedFields entry of our field manager, an `Apply` without a
  subresource (a create record, an `Update` of ours, means the last write was not an apply);
- it has no foreign field (managed_fields.foreign_paths): no field under what labsctl manages
  was added, or taken over by a change, by another field manager;
- every field of the desired object is in the live object with the same value (maps may hold
  more keys, which the API server defaulted; lists have the same length, item by item; scalars
  are equal and of the same JSON type; an empty map or list only by an empty one, which the
  API server may also drop; a null is never proved);
- every field our entry owns is still in the desired object, so the apply would remove nothing.

Secrets are never proved in sync: their data is not compared here (k8s_apply passes them by).
Only the Python standard library is used.
"""

from __future__ import annotations

import json

from ansible_collections.labsctl.residency.plugins.module_utils.managed_fields import (
    field_paths,
    foreign_paths,
)


def in_sync(desired, live, manager, companions=()):
    """True when applying `desired` as `manager` would not change `live`; `companions` are the
    other managers of ours (their fields are not foreign)."""
    metadata = live.get("metadata") or {}
    entries = metadata.get("managedFields") or []
    ours = [e for e in entries if e.get("manager") == manager]
    if len(ours) != 1:
        return False
    entry = ours[0]
    if (
        entry.get("operation") != "Apply"
        or entry.get("subresource")
        or entry.get("fieldsType", "FieldsV1") != "FieldsV1"
    ):
        return False
    if foreign_paths(live, (manager, *companions)):
        return False
    if not _holds(live, desired):
        return False
    return all(_declares(desired, path) for path in field_paths(entry.get("fieldsV1")))


def _same_scalar(live, desired):
    if isinstance(desired, bool) or isinstance(live, bool):
        return type(live) is type(desired) and live == desired
    if isinstance(desired, (int, float)):
        return isinstance(live, (int, float)) and live == desired
    return isinstance(desired, str) and isinstance(live, str) and live == desired


def _holds(live, desired):
    """Every field of `desired` is in `live`, with the same value."""
    if isinstance(desired, dict):
        if not isinstance(live, dict) or (not desired and live):
            return False  # an empty map is proved only by an empty map
        return all(key in live and _holds(live[key], value) for key, value in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        return all(_holds(item, wanted) for item, wanted in zip(live, desired, strict=True))
    if desired is None:
        return False
    return _same_scalar(live, desired)


def _declares(desired, path):
    """The fieldsV1 `path` names a field of `desired`."""
    node = desired
    for element in path:
        kind, value = element[:2], element[2:]
        if kind == "f:":
            if not isinstance(node, dict) or value not in node:
                return False
            node = node[value]
        elif kind == "k:":
            keys = json.loads(value)
            if not isinstance(node, list):
                return False
            node = next(
                (
                    item
                    for item in node
                    if isinstance(item, dict)
                    and all(_holds(item.get(k), v) for k, v in keys.items())
                ),
                None,
            )
            if node is None:
                return False
        elif kind == "v:":
            wanted = json.loads(value)
            if not isinstance(node, list) or not any(_holds(item, wanted) for item in node):
                return False
            node = wanted
        elif kind == "i:":
            index = int(value)
            if not isinstance(node, list) or index >= len(node):
                return False
            node = node[index]
        else:
            return False
    return True
