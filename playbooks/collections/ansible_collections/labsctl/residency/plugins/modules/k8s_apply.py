#!/usr/bin/python
# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Apply a batch of Kubernetes objects with server-side apply over one client."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_apply
short_description: Apply a batch of Kubernetes objects with server-side apply over one client
description:
  - Applies every object of O(sets) whose O(sets[].when) is true with server-side apply and one
    field manager, over a single client and connection pool, discovering only the API groups
    the objects use.
  - Reports each object as C(created), C(changed) or C(unchanged); a re-run of unchanged objects
    changes nothing (the API server does not bump C(resourceVersion) on a no-op apply).
  - Sends no apply for an object whose live state, as read, already holds it - one entry of
    O(field_manager), an apply, owning nothing the object no longer declares, every declared
    field there with the same value, no foreign field - so a re-run of a fleet in sync costs its
    reads. Anything not proved so, and every Secret, is applied.
  - Check mode is a server-side dry run (admission and validation run). An object whose namespace
    does not exist yet (because this run would create it) is reported as C(created) without a
    request, instead of failing.
  - With C(--diff), shows the object before and after for created and changed objects.
  - Never takes over an object it did not create. An object that does not exist is created with
    a create request, so an object someone else creates at the same moment makes the task fail
    (reason C(NotOwned)) instead of being overwritten; an existing object is changed only when it
    carries the ownership labels, with its C(resourceVersion) as a precondition, so a change made
    between the read and the write (such as removing the labels) is seen, not overwritten.
  - Removes I(foreign fields) from the objects it owns, which server-side apply alone leaves in
    place. A field is foreign when, in the object's C(managedFields) after the apply (a dry run in
    check mode), an entry with operation C(Update) or C(Apply) and no subresource (so C(status)
    writers never count) owns it, by a field manager other than O(field_manager) and
    C(<field_manager>-last-apply) (labsctl's record of the last apply on namespaces); it lies
    under a top-level field other than C(apiVersion), C(kind), C(metadata) and C(status), or is a
    key of C(metadata.labels) or C(metadata.annotations); neither it nor any field under it is
    owned by those two managers; and it exists in the object.
  - The API server and controllers write some fields on objects labsctl owns, which are never
    foreign - a Namespace's C(spec.finalizers), its C(kubernetes.io/metadata.name) and
    C(pod-security.kubernetes.io/*) labels and C(openshift.io/sa.scc.*) annotations, a
    ServiceAccount's C(secrets) and C(imagePullSecrets), an Argo CD Application's C(operation).
    Nor are fields no manager owns (set by defaulting, or by the create request whose record
    this module drops).
  - An object with foreign fields is reported as C(changed); in check mode the diff shows them
    in C(before) and not in C(after). Apply removes them with one JSON patch conditional on the
    object's C(resourceVersion) (read again, ownership checked again, on a conflict); the
    shallowest field holding nothing of ours is removed, and list items are found by their merge
    keys (C(k:)), value (C(v:)) or index (C(i:)). A foreign path that cannot be matched to
    exactly one place in the object is left in place with a warning naming it, and the object
    is reported as C(changed) by apply and check mode alike, so the drift stays visible until
    it is removed by hand. Objects annotated C(labsctl.dev/lifecycle=create-only) are not
    checked.
version_added: "0.1.0"
author: The labsctl authors (@labsctl)
requirements:
  - urllib3
  - PyYAML
extends_documentation_fragment:
  - labsctl.residency.cluster
options:
  sets:
    description: Object sets; each is applied when its O(sets[].when) is true.
    type: list
    elements: dict
    required: true
    suboptions:
      objects:
        description: Kubernetes objects (apiVersion, kind, metadata.name, ...).
        type: list
        elements: dict
        required: true
      when:
        description: Whether to apply this set (for sets that need an optional API).
        type: bool
        default: true
      name:
        description: Name of the set, used in results.
        type: str
        default: objects
  enabled:
    description:
      - Whether to apply anything; false for a residency whose cluster lacks what the objects
        need. (A batched task's C(when) is decided once for all residencies; this is decided
        for each.)
    type: bool
    default: true
  field_manager:
    description: Field manager of the server-side apply.
    type: str
    default: labsctl
  force_conflicts:
    description:
      - On objects this residency owns, take back fields another field manager changed (heals
        hand edits). Never applies to objects that are not owned.
    type: bool
    default: true
  secret_values:
    description:
      - Values for objects annotated C(labsctl.dev/secret-from=<name>), by name; each fills the
        object's C(stringData) key named by its C(labsctl.dev/secret-key) annotation
        (C(password) without it). Never logged, never returned, hidden in diffs.
    type: dict
    default: {}
  wait_active:
    description:
      - Seconds to wait, after the apply, until every applied object that reports a
        C(status.phase) (a Namespace) is C(Active); C(0) does not wait. A namespace that is still
        being deleted is not C(Active), and objects cannot be created in it. Not in check mode.
    type: int
    default: 0
  ownership_labels:
    description:
      - Label keys an existing object must carry with the same values as the object applied;
        an existing object without them is refused, never adopted or overwritten.
    type: list
    elements: str
    default: [app.kubernetes.io/managed-by, labsctl.dev/residency]
notes:
  - Reads the kubeconfig itself (client certificates, tokens, exec plugins, in-cluster); only
    kubeconfigs with a legacy C(auth-provider) need the C(kubernetes) Python client.
"""

EXAMPLES = r"""
- name: Apply the team's role bindings and, on OpenShift, its groups
  labsctl.residency.k8s_apply:
    field_manager: labsctl
    sets:
      - name: rbac
        objects: "{{ rbac_objects }}"
      - name: openshift-groups
        objects: "{{ rbac_openshift_objects }}"
        when: "{{ cluster_facts_offers.openshift_groups }}"
"""

RETURN = r"""
results:
  description: One entry per object of the applied sets, in order.
  returned: always
  type: list
  elements: dict
  contains:
    set: {description: Name of the set., type: str}
    apiVersion: {description: API version., type: str}
    kind: {description: Kind., type: str}
    namespace: {description: "Namespace, or null for cluster-scoped objects.", type: str}
    name: {description: Name., type: str}
    action: {description: "C(created), C(changed) or C(unchanged).", type: str}
    phase:
      description: "The object's C(status.phase) where it has one (e.g. a Namespace)."
      type: str
    foreign:
      description:
        - Foreign fields found (removed, or to be removed in check mode), as dotted paths such as
          C(spec.hard.services) or C(metadata.labels.team).
      type: list
      elements: str
counts:
  description: How many objects were created, changed and unchanged.
  returned: always
  type: dict
"""

import json
import time

from ansible_collections.labsctl.residency.plugins.module_utils.client import (
    CLUSTER_ARGUMENT_SPEC,
    ClientError,
    connect,
)
from ansible_collections.labsctl.residency.plugins.module_utils.in_sync import in_sync
from ansible_collections.labsctl.residency.plugins.module_utils.managed_fields import (
    foreign_paths,
    json_pointer,
    removals,
    remove_ops,
    without,
)
from ansible_collections.labsctl.residency.plugins.module_utils.ownership import (
    FIELD_MANAGER,
    OWNERSHIP_LABELS,
)
from ansible_collections.labsctl.residency.plugins.module_utils.results import (
    ModuleFailure,
    main_for,
)

SECRET_FROM = "labsctl.dev/secret-from"
SECRET_KEY = "labsctl.dev/secret-key"
SSH_KEYS = ("ssh-privatekey", "sshPrivateKey")
LIFECYCLE = "labsctl.dev/lifecycle"
VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid")
LAST_APPLY_MANAGER = "{}-last-apply"  # labsctl/apply.py records the last apply under it


class ApplyError(Exception):
    """A failure naming the object and the cause, for fail_json."""

    reason = "Error"


class MissingAPIError(ApplyError):
    """The cluster does not serve the object's API or kind."""

    reason = "MissingAPI"


class NotOwnedError(ApplyError):
    """The object exists and does not carry this residency's ownership labels."""

    reason = "NotOwned"


class Cluster:
    """Requests over one client; discovery only of the group-versions in use."""

    def __init__(self, client, known=None):
        self.client = client
        self.resources = {}
        self.namespaces = {}
        self.known = known  # a Known read beforehand, for the first read of each object

    def listed(self, obj):
        """Whether `obj`'s first read comes from `known` (a LIST by label), not a GET."""
        return self.known is not None and (obj["apiVersion"], obj["kind"]) in self.known.kinds

    def first_read(self, obj, path):
        """The live object at `path`: from `known` when its kind was listed, else a GET."""
        if self.listed(obj):
            return self.known.objects.get(path)
        return self.get(path)

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        return self.client.request(method, path, body, query, content_type)

    def resource(self, api_version, kind):
        if api_version not in self.resources:
            prefix = "/api/" if "/" not in api_version else "/apis/"
            try:
                listing = self.client.discovery(prefix + api_version)
            except ClientError as exc:
                if exc.status == 404:
                    raise MissingAPIError(
                        f"the cluster does not serve the API {api_version}"
                    ) from exc
                raise
            self.resources[api_version] = {
                r["kind"]: r for r in listing.get("resources", []) if "/" not in r["name"]
            }
        found = self.resources[api_version].get(kind)
        if found is None:
            raise MissingAPIError(f"the cluster serves {api_version} but no kind {kind} in it")
        return found

    def path(self, obj):
        api_version, kind = obj["apiVersion"], obj["kind"]
        resource = self.resource(api_version, kind)
        base = ("/api/" if "/" not in api_version else "/apis/") + api_version
        namespace = obj["metadata"].get("namespace")
        if resource["namespaced"]:
            if not namespace:
                raise ApplyError(f"{kind} {obj['metadata']['name']} needs metadata.namespace")
            base += f"/namespaces/{namespace}"
        return f"{base}/{resource['name']}/{obj['metadata']['name']}"

    def namespace_exists(self, name):
        if name not in self.namespaces:
            self.namespaces[name] = self.get(f"/api/v1/namespaces/{name}") is not None
        return self.namespaces[name]

    def get(self, path):
        try:
            return self.request("GET", path)
        except ClientError as exc:
            if exc.status == 404:
                return None
            raise


def _comparable(obj):
    if obj is None:
        return None
    obj = json.loads(json.dumps(obj))
    metadata = obj.get("metadata", {})
    for key in VOLATILE_METADATA:
        metadata.pop(key, None)
    obj.pop("status", None)
    return obj


def _describe(obj):
    metadata = obj.get("metadata", {})
    where = f"{metadata.get('namespace')}/" if metadata.get("namespace") else ""
    return f"{obj.get('kind')} {where}{metadata.get('name')}"


def _with_secret(obj, values):
    name = (obj["metadata"].get("annotations") or {}).get(SECRET_FROM)
    if name is None:
        return obj
    if name not in values or values[name] in (None, ""):
        raise ApplyError(f"needs the secret {name!r} (spec.secrets) and it has no value")
    key = obj["metadata"]["annotations"].get(SECRET_KEY, "password")
    value = values[name]
    if key in SSH_KEYS and not value.endswith("\n"):
        value += "\n"  # secret sources are stripped; OpenSSH refuses a key without its last newline
    filled = json.loads(json.dumps(obj))
    filled.setdefault("stringData", {})[key] = value
    return filled


def _hide_secret_data(obj):
    if obj and obj.get("kind") == "Secret":
        obj = dict(obj)
        for key in ("data", "stringData"):
            if key in obj:
                obj[key] = dict.fromkeys(obj[key], "<hidden>")
    return obj


def _check_owned(obj, existing, keys):
    wanted = obj["metadata"].get("labels") or {}
    found = existing.get("metadata", {}).get("labels") or {}
    mismatched = [k for k in keys if found.get(k) != wanted.get(k)]
    if mismatched:
        held = ", ".join(f"{k}={found.get(k) or '(none)'}" for k in mismatched)
        raise NotOwnedError(
            f"exists and is not owned by this residency ({held}); labsctl never takes over "
            "an object it did not create: rename or remove it"
        )


class Known:
    """Live objects read by one LIST per kind for many residencies at once (`read_known`):
    `objects` by path, among the (apiVersion, kind) pairs in `kinds`, whose every owned object
    is in `objects` (one that is missing there does not exist, or is not owned)."""

    def __init__(self):
        self.kinds = set()
        self.objects = {}


def read_known(cluster, objects, ownership_labels):
    """A Known of the live objects that carry the ownership labels of `objects`, of the kinds
    of `objects`: what each object's first read would have found (an object that exists
    without them is refused when it is created: 409, NotOwned). A kind whose LIST fails is left
    to per-object reads."""
    known = Known()
    values = {key: set() for key in ownership_labels}
    for obj in objects:
        labels = obj["metadata"].get("labels") or {}
        for key in ownership_labels:
            if not labels.get(key):
                return known  # an object without them: nothing to select by
            values[key].add(labels[key])
    selector = ",".join(
        f"{key}={next(iter(v))}" if len(v) == 1 else f"{key} in ({','.join(sorted(v))})"
        for key, v in values.items()
    )
    kinds = []
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) not in kinds:
            kinds.append((obj["apiVersion"], obj["kind"]))
    for api_version, kind in kinds:
        try:
            resource = cluster.resource(api_version, kind)
            base = ("/api/" if "/" not in api_version else "/apis/") + api_version
            listing = cluster.request(
                "GET", f"{base}/{resource['name']}", query=[("labelSelector", selector)]
            )
        except (ApplyError, ClientError):
            continue  # not served, or not listable here: each object is read on its own
        for item in listing.get("items") or []:
            item["apiVersion"], item["kind"] = api_version, kind
            known.objects[cluster.path(item)] = item
        known.kinds.add((api_version, kind))
    return known


ATTEMPTS = 3  # reads and writes of one object when others change it in between


def _query(params, check_mode, apply):
    query = [("fieldManager", params["field_manager"])]
    if apply:
        query.append(("force", "true" if params["force_conflicts"] else "false"))
    # A field the schema does not know is an error, not a warning the server drops.
    query.append(("fieldValidation", "Strict"))
    if check_mode:
        query.append(("dryRun", "All"))
    return query


def _server_side_apply(cluster, path, obj, params, check_mode, resource_version):
    """Apply `obj`, on the condition that the object is still at `resource_version`."""
    body = json.loads(json.dumps(obj))
    body["metadata"]["resourceVersion"] = resource_version
    return cluster.request(
        "PATCH",
        path,
        body=body,
        query=_query(params, check_mode, apply=True),
        content_type="application/apply-patch+yaml",
    )


def _create(cluster, path, obj, params, check_mode):
    """Create `obj`; it must not exist. The result is managed as if it had been applied."""
    try:
        current = cluster.request(
            "POST", path.rsplit("/", 1)[0], body=obj, query=_query(params, check_mode, False)
        )
    except ClientError as exc:
        if exc.status == 409:
            # Known absent from a list by label, it may well exist without the labels.
            found = cluster.get(path) if cluster.listed(obj) else None
            if found is not None:
                _check_owned(obj, found, params["ownership_labels"])
            raise NotOwnedError(
                "was created by someone else while labsctl was creating it; labsctl never takes "
                "over an object it did not create: rename or remove it"
            ) from exc
        raise
    if check_mode:
        return current
    # The create is recorded as an Update by our field manager; apply once, then drop that
    # record, so that the object is owned exactly as an applied one (fields left out of a later
    # apply are removed, and a re-run is a no-op). Controllers may write to it meanwhile (a
    # quota's status): read again, and check again that it is still ours.
    for attempt in range(1, ATTEMPTS + 1):
        try:
            current = _server_side_apply(
                cluster, path, obj, params, False, current["metadata"]["resourceVersion"]
            )
            break
        except ClientError as exc:
            if exc.status != 409 or attempt == ATTEMPTS:
                raise
            current = cluster.get(path)
            if current is None:
                raise ApplyError(
                    "was deleted by someone else right after labsctl created it"
                ) from exc
            _check_owned(obj, current, params["ownership_labels"])
    return _drop_create_record(cluster, path, current, params["field_manager"])


def _drop_create_record(cluster, path, obj, manager):
    for attempt in range(1, ATTEMPTS + 1):
        fields = obj["metadata"].get("managedFields") or []
        index = next(
            (
                i
                for i, entry in enumerate(fields)
                if entry.get("manager") == manager and entry.get("operation") == "Update"
            ),
            None,
        )
        if index is None:
            return obj
        where = f"/metadata/managedFields/{index}"
        try:
            return cluster.request(
                "PATCH",
                path,
                body=[
                    {"op": "test", "path": f"{where}/manager", "value": manager},
                    {"op": "test", "path": f"{where}/operation", "value": "Update"},
                    {"op": "remove", "path": where},
                ],
                content_type="application/json-patch+json",
            )
        except ClientError:
            if attempt == ATTEMPTS:
                raise
            obj = cluster.get(path) or obj
    return obj


def _proved_in_sync(filled, obj, before, params):
    """The live object `before` already holds `obj` (module_utils/in_sync.py); never for a
    Secret or an object given a secret value, whose data is not compared."""
    if before is None or filled is not obj or obj["kind"] == "Secret":
        return False
    manager = params["field_manager"]
    return in_sync(obj, before, manager, (LAST_APPLY_MANAGER.format(manager),))


class Foreign:
    """The foreign fields of an applied object: JSON pointers to remove, and the paths that
    cannot be removed safely (described, with the reason)."""

    def __init__(self, obj, params):
        manager = params["field_manager"]
        paths = foreign_paths(obj, (manager, LAST_APPLY_MANAGER.format(manager)))
        self.pointers, self.untranslatable, self.paths = removals(obj, paths)

    def __bool__(self):
        return bool(self.pointers or self.untranslatable)


def _remove_foreign(cluster, path, after, params, check_mode):
    """`after` without its foreign fields (in check mode, as the removal would leave it)."""
    foreign = Foreign(after, params)
    if not foreign.pointers:
        return after, foreign
    if check_mode:
        return without(after, foreign.pointers), foreign
    # Setting resourceVersion makes the patch conditional: 409 when the object has changed
    # since the apply, whose answer the pointers (list indices included) were computed from.
    precondition = {
        "op": "replace",
        "path": json_pointer(["metadata", "resourceVersion"]),
        "value": after["metadata"]["resourceVersion"],
    }
    removed = cluster.request(
        "PATCH",
        path,
        body=[precondition, *remove_ops(foreign.pointers)],
        query=_query(params, False, apply=False),
        content_type="application/json-patch+json",
    )
    return removed, foreign


def apply_one(cluster, obj, params, check_mode, warn=None):
    """(action, before, after, foreign) of applying `obj`: `foreign` the paths of the foreign
    fields found (removed unless in check mode); `warn` receives messages for the user."""
    path = cluster.path(obj)
    namespace = obj["metadata"].get("namespace")
    foreign = None
    if check_mode and namespace and not cluster.namespace_exists(namespace):
        return "created", None, obj, []
    for attempt in range(1, ATTEMPTS + 1):
        before = cluster.first_read(obj, path) if attempt == 1 else cluster.get(path)
        if attempt == 1:
            first = before
        if before is not None:
            _check_owned(obj, before, params["ownership_labels"])
            if (obj["metadata"].get("annotations") or {}).get(LIFECYCLE) == "create-only":
                return "unchanged", before, before, []  # created once, never overwritten
        filled = _with_secret(obj, params["secret_values"])
        if attempt == 1 and _proved_in_sync(filled, obj, before, params):
            after = before  # nothing to send: the live object holds what the apply would
            break
        try:
            if before is None:
                after = _create(cluster, path, filled, params, check_mode)
            else:
                after = _server_side_apply(
                    cluster, path, filled, params, check_mode, before["metadata"]["resourceVersion"]
                )
                after, foreign = _remove_foreign(cluster, path, after, params, check_mode)
            break
        except ClientError as exc:
            # Changed since we read it: read again, and check again that it is still ours.
            if exc.status != 409 or before is None or attempt == ATTEMPTS:
                raise
    if foreign and foreign.untranslatable and warn is not None:
        warn(
            f"{_describe(obj)}: left in place fields another field manager added, which labsctl "
            f"cannot remove safely: {'; '.join(foreign.untranslatable)}; remove them by hand"
        )
    if before is not None and first is not None:
        before = first  # a retry starts from an object this call may have changed already
    if before is None:
        action = "created"
    elif foreign and foreign.untranslatable:
        action = "changed"  # drift that stays: never reported in sync
    elif check_mode:
        action = "unchanged" if _comparable(before) == _comparable(after) else "changed"
    else:
        same = before["metadata"].get("resourceVersion") == after["metadata"].get("resourceVersion")
        action = "unchanged" if same else "changed"
    if obj["kind"] == "Namespace":
        cluster.namespaces[obj["metadata"]["name"]] = not check_mode or before is not None
    return action, before, after, (foreign.paths if foreign else [])


WAIT_INTERVAL = 1.0


def _wait_active(cluster, sets, results, counts, timeout, clock=time.monotonic, sleep=time.sleep):
    """Wait until each applied object whose phase was not Active reports Active."""
    objects = [o for s in sets if s["when"] for o in s["objects"]]
    waiting = {
        _describe(obj): (cluster.path(obj), entry)
        for obj, entry in zip(objects, results, strict=True)
        if entry["phase"] not in (None, "Active")
    }
    deadline = clock() + timeout
    while waiting:
        for described, (path, entry) in list(waiting.items()):
            try:
                current = cluster.get(path)
            except ClientError as exc:
                raise ModuleFailure(
                    f"{described}: {exc.message} (HTTP {exc.status})",
                    results=results,
                    counts=counts,
                    status=exc.status,
                    reason=exc.reason or "Error",
                    object=described,
                ) from exc
            if current is None:
                raise ModuleFailure(
                    f"{described} was deleted while labsctl applied it (it was being deleted "
                    "already): apply again",
                    results=results,
                    counts=counts,
                    reason="Deleted",
                    object=described,
                )
            entry["phase"] = (current.get("status") or {}).get("phase")
            if entry["phase"] == "Active":
                del waiting[described]
        if waiting and clock() >= deadline:
            raise ModuleFailure(
                f"not Active after {timeout} s: "
                + ", ".join(f"{d} ({w[1]['phase']})" for d, w in waiting.items()),
                results=results,
                counts=counts,
                reason="Timeout",
                object=next(iter(waiting)),
            )
        if waiting:
            sleep(WAIT_INTERVAL)


ARGUMENT_SPEC = {
    "sets": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "objects": {"type": "list", "elements": "dict", "required": True},
            "when": {"type": "bool", "default": True},
            "name": {"type": "str", "default": "objects"},
        },
    },
    "enabled": {"type": "bool", "default": True},
    "field_manager": {"type": "str", "default": FIELD_MANAGER},
    "force_conflicts": {"type": "bool", "default": True},
    "secret_values": {"type": "dict", "default": {}, "no_log": True},
    "wait_active": {"type": "int", "default": 0},
    "ownership_labels": {
        "type": "list",
        "elements": "str",
        "default": list(OWNERSHIP_LABELS),
    },
    **CLUSTER_ARGUMENT_SPEC,
}


def objects_of(params):
    """The objects the task would apply with `params`."""
    if not params["enabled"]:
        return []
    return [obj for s in params["sets"] if s["when"] for obj in s["objects"]]


def run(params, check_mode, diff, known=None):
    """Apply the objects of `params`; `known`: a Known read for them (and maybe others)."""
    if not params["enabled"]:
        counts = {"created": 0, "changed": 0, "unchanged": 0}
        return {"changed": False, "skipped": True, "results": [], "counts": counts}
    try:
        cluster = Cluster(
            connect(params["kubeconfig"], params["context"], params["request_timeout"]), known
        )
    except ClientError as exc:
        raise ModuleFailure(
            f"cannot load the cluster configuration: {exc}", reason=exc.reason or "Error"
        ) from exc
    except (OSError, ValueError, KeyError) as exc:
        raise ModuleFailure(f"cannot load the cluster configuration: {exc}") from exc
    results, diffs, warnings = [], [], []
    counts = {"created": 0, "changed": 0, "unchanged": 0}
    for object_set in params["sets"]:
        if not object_set["when"]:
            continue
        for obj in object_set["objects"]:
            try:
                action, before, after, foreign = apply_one(
                    cluster, obj, params, check_mode, warn=warnings.append
                )
            except ClientError as exc:
                raise ModuleFailure(
                    f"{_describe(obj)}: {exc.message} (HTTP {exc.status})",
                    results=results,
                    counts=counts,
                    status=exc.status,
                    reason=exc.reason or "Error",
                    object=_describe(obj),
                ) from exc
            except ApplyError as exc:
                raise ModuleFailure(
                    f"{_describe(obj)}: {exc}",
                    results=results,
                    counts=counts,
                    object=_describe(obj),
                    reason=exc.reason,
                ) from exc
            counts[action] += 1
            results.append(
                {
                    "set": object_set["name"],
                    "apiVersion": obj["apiVersion"],
                    "kind": obj["kind"],
                    "namespace": obj["metadata"].get("namespace"),
                    "name": obj["metadata"]["name"],
                    "action": action,
                    "phase": ((after or {}).get("status") or {}).get("phase"),
                    "foreign": foreign,
                }
            )
            if diff and action != "unchanged":
                diffs.append(
                    {
                        "before_header": _describe(obj),
                        "after_header": _describe(obj),
                        "before": _hide_secret_data(_comparable(before)) or {},
                        "after": _hide_secret_data(_comparable(after)),
                    }
                )
    if params["wait_active"] > 0 and not check_mode:
        _wait_active(cluster, params["sets"], results, counts, params["wait_active"])
    changed = counts["created"] + counts["changed"] > 0
    outcome = {"changed": changed, "results": results, "counts": counts}
    if warnings:
        outcome["warnings"] = warnings
    if diff:
        outcome["diff"] = diffs
    return outcome


def main():
    main_for(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
