# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Fields of a live object that other field managers added, read from its `managedFields`.

Server-side apply takes back the fields labsctl applies, but leaves alone a field that another
field manager added and labsctl never set (an extra `spec.hard` entry on a quota, an extra label).
This finds such fields and turns them into JSON patch removals. Paths are tuples of the raw
fieldsV1 elements: `f:<name>` a field, `k:<json>` a list item by its merge keys, `v:<json>` a
set item, `i:<n>` a list item by index.

The rule, as documented in the k8s_apply module and docs/design.md: a field is *foreign* when
- a managedFields entry owns it whose operation is `Update` or `Apply`, without a subresource
  (so `status` writers never count), by a manager other than ours and our `-last-apply` one;
- it lies under what labsctl manages: a top-level field other than apiVersion, kind, metadata
  and status, or a key of metadata.labels or metadata.annotations;
- neither it nor one of its children is owned by our managers (another manager cannot own a
  part of a value applied as a whole, an atomic list or map, so a path under one of our fields
  is foreign too: it lies in a map applied empty or without that key);
- it is not one of the fields that the API server, its controllers or platform controllers
  write on objects labsctl owns (FOREIGN_EXCEPTIONS);
- it exists in the live object (ownership of a field without a value removes nothing).
Only the Python standard library is used (Ansible's import sanity test runs without others).
"""

from __future__ import annotations

import copy
import json

OPERATIONS = ("Update", "Apply")
NOT_MANAGED = ("f:apiVersion", "f:kind", "f:metadata", "f:status")
MANAGED_METADATA = ("f:labels", "f:annotations")

# (kind, field names): written by the API server or by controllers on objects labsctl owns, never
# foreign. A last name ending in `*` matches every key starting with the rest.
FOREIGN_EXCEPTIONS = (
    ("Namespace", ("spec", "finalizers")),  # the API server's `kubernetes` finalizer
    ("Namespace", ("metadata", "labels", "kubernetes.io/metadata.name")),  # set by the server
    ("Namespace", ("metadata", "annotations", "openshift.io/sa.scc.*")),  # OpenShift SCC ranges
    ("Namespace", ("metadata", "labels", "pod-security.kubernetes.io/*")),  # OpenShift PSa sync
    ("ServiceAccount", ("secrets",)),  # token and dockercfg controllers link their secrets
    ("ServiceAccount", ("imagePullSecrets",)),
    ("Application", ("operation",)),  # Argo CD's sync requests
)


class UntranslatableError(ValueError):
    """A fieldsV1 path that cannot be turned into a removal safely."""


def field_paths(fields):
    """The set of paths a fieldsV1 mapping owns: each `{}` leaf, and each `.` self marker."""
    found = set()

    def walk(node, prefix):
        if not node:
            if prefix:
                found.add(prefix)
            return
        for key, child in node.items():
            if key == ".":
                found.add(prefix)
            else:
                walk(child or {}, (*prefix, key))

    walk(fields or {}, ())
    return found


def describe(path):
    """A path for people: `spec.hard.services`, `subjects[{"kind":"User","name":"eve"}]`."""
    text = ""
    for element in path:
        kind, value = element[:2], element[2:]
        if kind == "f:":
            text += ("." if text else "") + value
        else:
            text += f"[{value if kind != 'v:' else '=' + value}]"
    return text


def _is_managed(path):
    if not path:
        return False
    if path[0] == "f:metadata":
        return len(path) >= 3 and path[1] in MANAGED_METADATA
    return path[0].startswith("f:") and path[0] not in NOT_MANAGED


def _is_exception(kind, path):
    for exception_kind, names in FOREIGN_EXCEPTIONS:
        if exception_kind != kind or len(path) < len(names):
            continue
        matched = True
        for element, name in zip(path, names, strict=False):
            if name.endswith("*"):
                matched = element.startswith("f:" + name[:-1])
            else:
                matched = element == "f:" + name
            if not matched:
                break
        if matched:
            return True
    return False


def _owned_by(entries, managers):
    owned = set()
    for entry in entries:
        if entry.get("manager") in managers and entry.get("fieldsType", "FieldsV1") == "FieldsV1":
            owned |= field_paths(entry.get("fieldsV1"))
    return owned


def foreign_paths(obj, managers):
    """The shallowest foreign paths of `obj` (see the module docstring), sorted; `managers` are
    ours (the apply field manager and its `-last-apply` companion)."""
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    ours = _owned_by(entries, managers)
    ours_prefixes = {path[:depth] for path in ours for depth in range(1, len(path) + 1)}
    theirs = set()
    for entry in entries:
        if (
            entry.get("manager") in managers
            or entry.get("operation") not in OPERATIONS
            or entry.get("subresource")
            or entry.get("fieldsType", "FieldsV1") != "FieldsV1"
        ):
            continue
        theirs |= field_paths(entry.get("fieldsV1"))
    kind = obj.get("kind")
    targets = set()
    for path in theirs:
        if not _is_managed(path) or _is_exception(kind, path) or path in ours_prefixes:
            continue  # not ours to judge, or ours too, or a parent of something of ours
        # Remove the shallowest parent that holds nothing of ours (under labels/annotations,
        # the key itself at the least).
        shallowest = 3 if path[0] == "f:metadata" else 1
        depth = next(d for d in range(shallowest, len(path) + 1) if path[:d] not in ours_prefixes)
        targets.add(path[:depth])
    return sorted(t for t in targets if not any(t[:d] in targets for d in range(1, len(t))))


def _escape(name):
    return name.replace("~", "~0").replace("/", "~1")


def _locate(items, element):
    """Index of the list item a `k:`, `v:` or `i:` element names; None when there is none."""
    kind, value = element[:2], element[2:]
    if kind == "i:":
        if not value.isdigit():
            raise UntranslatableError(f"bad list index {value!r}")
        index = int(value)
        return index if index < len(items) else None
    try:
        wanted = json.loads(value)
    except ValueError as exc:
        raise UntranslatableError(f"bad fieldsV1 element {element!r}") from exc
    if kind == "k:":
        if not isinstance(wanted, dict):
            raise UntranslatableError(f"merge keys {value} are not an object")
        found = [
            i
            for i, item in enumerate(items)
            if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items())
        ]
    elif kind == "v:":
        found = [i for i, item in enumerate(items) if item == wanted]
    else:
        raise UntranslatableError(f"unknown fieldsV1 element {element!r}")
    if len(found) > 1:
        raise UntranslatableError(f"{len(found)} list items match {element}")
    return found[0] if found else None


def pointer(obj, path):
    """The JSON pointer (as a list of str/int segments) of `path` in `obj`; None when `obj` has
    no value there; UntranslatableError when the path does not fit the object."""
    segments, node = [], obj
    for element in path:
        if element.startswith("f:"):
            if not isinstance(node, dict):
                raise UntranslatableError(f"expected a mapping at {element!r}")
            name = element[2:]
            if name not in node:
                return None
            segments.append(name)
            node = node[name]
        else:
            if not isinstance(node, list):
                raise UntranslatableError(f"expected a list at {element!r}")
            index = _locate(node, element)
            if index is None:
                return None
            segments.append(index)
            node = node[index]
    return segments


def _order(segments):
    return tuple((0, s, "") if isinstance(s, int) else (1, 0, s) for s in segments)


def removals(obj, paths):
    """(pointers, untranslatable, found) for `paths` in `obj`: the JSON pointers to remove,
    ordered so that removing them one after the other keeps every list index valid (later items
    first); the paths that cannot be translated, described with the reason; and every path that
    has a value in `obj` (described), translated or not."""
    pointers, untranslatable, found = [], [], []
    for path in paths:
        try:
            segments = pointer(obj, path)
        except UntranslatableError as exc:
            untranslatable.append(f"{describe(path)} ({exc})")
            found.append(describe(path))
            continue
        if segments is not None:
            pointers.append(segments)
            found.append(describe(path))
    pointers.sort(key=_order, reverse=True)
    return pointers, untranslatable, found


def json_pointer(segments):
    return "".join("/" + _escape(str(s)) for s in segments)


def remove_ops(pointers):
    """JSON patch operations removing `pointers` (in the order `removals` gives)."""
    return [{"op": "remove", "path": json_pointer(p)} for p in pointers]


def without(obj, pointers):
    """A copy of `obj` with `pointers` removed (in the order `removals` gives)."""
    copied = copy.deepcopy(obj)
    for segments in pointers:
        node = copied
        for segment in segments[:-1]:
            node = node[segment]
        del node[segments[-1]]
    return copied
