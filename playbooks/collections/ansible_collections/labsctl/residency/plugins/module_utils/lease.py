# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""The per-residency lock: a coordination.k8s.io Lease naming its holder, written once.

labsctl and the collection's ``residency_lock`` module take, renew, check and release the same
Lease (``labsctl-<residency>`` in ``labsctl-system``) with these functions, so a labsctl run and
an ``ansible-playbook`` run of one residency never work at once. Expiry is judged on the
waiter's clock, as client-go's leader election does: a Lease that has not changed for a whole
duration while we watched has expired, whatever its ``renewTime`` says (a time in the future,
from a skewed clock or a hand edit, blocks no one). A holder on this host whose process is gone
(killed, crashed) holds nothing.
"""

from __future__ import annotations

import datetime
import getpass
import os
import re
import socket
import time

from ansible_collections.labsctl.residency.plugins.module_utils.client import ClientError
from ansible_collections.labsctl.residency.plugins.module_utils.ownership import (
    LABEL_MANAGED_BY,
    LABEL_RESIDENCY,
    LOCK_NAMESPACE,
    MANAGER,
    check_residency,
)

LEASE_SECONDS = 600
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{LOCK_NAMESPACE}/leases"
_HOLDER = re.compile(r"\S+@(?P<host>\S+) pid (?P<pid>\d+) \(.*\)")


class LockError(Exception):
    """The lock could not be taken or was lost; `reason` is Locked or LockLost."""

    def __init__(self, message, reason="Locked"):
        super().__init__(message)
        self.reason = reason


def user():
    """The login name; ``uid<N>`` for a uid without a passwd entry (OpenShift's arbitrary uids)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def holder_identity(command, pid=None):
    """``user@host pid N (command)``: who holds a lock, readable, and checkable on this host."""
    return f"{user()}@{socket.gethostname()} pid {pid or os.getpid()} ({command})"


def lease_name(residency):
    return f"labsctl-{check_residency(residency)}"


def _now():
    return datetime.datetime.now(datetime.UTC)


def _micro_time(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text):
    try:
        return datetime.datetime.strptime(
            text.replace("Z", "").split("+")[0], "%Y-%m-%dT%H:%M:%S.%f"
        ).replace(tzinfo=datetime.UTC)
    except (AttributeError, ValueError):
        try:
            return datetime.datetime.strptime(
                text.replace("Z", "").split("+")[0], "%Y-%m-%dT%H:%M:%S"
            ).replace(tzinfo=datetime.UTC)
        except (AttributeError, ValueError):
            return None


def lease_body(residency, holder, seconds, version=None):
    now = _micro_time(_now())
    metadata = {
        "name": lease_name(residency),
        "namespace": LOCK_NAMESPACE,
        "labels": {LABEL_MANAGED_BY: MANAGER, LABEL_RESIDENCY: residency},
    }
    if version is not None:
        metadata["resourceVersion"] = version
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": int(seconds),
            "acquireTime": now,
            "renewTime": now,
        },
    }


def holder_of(lease):
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def holder_died(holder):
    """A holder on this host whose process is gone holds nothing."""
    match = _HOLDER.fullmatch(holder)
    if match is None or match["host"] != socket.gethostname():
        return False
    return not os.path.exists(f"/proc/{match['pid']}")


def expired(lease):
    """By the Lease's own times (the waiter's clock decides too: see Observed)."""
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    renewed = _parse_time(spec.get("renewTime"))
    if not holder or renewed is None or holder_died(str(holder)):
        return True
    seconds = spec.get("leaseDurationSeconds") or 0
    return _now() > renewed + datetime.timedelta(seconds=seconds)


class Observed:
    """When this process first saw each version of a Lease (its own clock, never the Lease's)."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.seen = {}

    def unchanged_for(self, lease):
        version = (lease.get("metadata") or {}).get("resourceVersion") or ""
        first = self.seen.setdefault(version, self.clock())
        return self.clock() - first


def ensure_namespace(client):
    try:
        client.request(
            "POST",
            "/api/v1/namespaces",
            body={
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": LOCK_NAMESPACE, "labels": {LABEL_MANAGED_BY: MANAGER}},
            },
        )
    except ClientError as exc:
        if exc.status != 409:
            raise


def read(client, residency):
    """The residency's Lease, or None."""
    try:
        return client.request("GET", f"{LEASES}/{lease_name(residency)}")
    except ClientError as exc:
        if exc.status == 404:
            return None
        raise


def try_acquire(client, residency, holder, seconds, observed):
    """(True, None) when we took it, (False, None) when `holder` already held it (renewed),
    (False, other) when someone else holds it."""
    try:
        client.request("POST", LEASES, body=lease_body(residency, holder, seconds))
        return True, None
    except ClientError as exc:
        if exc.status != 409:
            raise
    current = read(client, residency)
    if current is None:
        return try_acquire(client, residency, holder, seconds, observed)
    if holder_of(current) == holder:
        reason = renew(client, residency, holder)
        if reason is not None:
            return False, f"(lost while renewing: {reason})"
        return False, None
    duration = (current.get("spec") or {}).get("leaseDurationSeconds") or seconds
    stale = observed.unchanged_for(current) > duration
    if not stale and not expired(current):
        return False, holder_of(current)
    version = (current.get("metadata") or {}).get("resourceVersion")
    try:  # resourceVersion makes the takeover atomic: only one waiter wins
        client.request(
            "PUT",
            f"{LEASES}/{lease_name(residency)}",
            body=lease_body(residency, holder, seconds, version=version),
        )
        return True, None
    except ClientError as exc:
        if exc.status == 409:
            return False, holder_of(current)
        raise


def acquire(
    client,
    residency,
    holder,
    seconds=LEASE_SECONDS,
    wait=60.0,
    clock=time.monotonic,
    sleep=time.sleep,
    on_wait=None,
):
    """Take the residency's Lease for `holder`, waiting up to `wait` seconds. True when this
    call took it, False when `holder` held it already (then the caller that took it releases
    it). Raises LockError (reason Locked) naming the holder when the wait is over."""
    ensure_namespace(client)
    deadline = clock() + wait
    observed = Observed(clock)
    while True:
        taken, other = try_acquire(client, residency, holder, seconds, observed)
        if other is None:
            return taken
        if clock() >= deadline:
            raise LockError(
                f"residency {residency} is locked by {other}; a lock whose holder died "
                f"expires {seconds}s after its last renewal",
                reason="Locked",
            )
        if on_wait is not None:
            on_wait(residency, other)
        sleep(1)


def renew(client, residency, holder, attempts=3):
    """Renew our Lease; None when renewed, else why it is no longer ours. A concurrent renewal
    by the same holder (labsctl's renewer and the play it runs) is read again, not a loss."""
    for tries in range(attempts):  # noqa: B007 - counts only
        current = read(client, residency)
        if current is None:
            return "its Lease was deleted"
        if holder_of(current) != holder:
            return f"it was taken over by {holder_of(current) or 'no one'}"
        current["spec"]["renewTime"] = _micro_time(_now())
        try:
            client.request("PUT", f"{LEASES}/{lease_name(residency)}", body=current)
            return None
        except ClientError as exc:
            if exc.status == 404:
                return "its Lease was deleted"
            if exc.status != 409:
                raise
    return "its Lease kept changing under us"


def check(client, residency, holder, step):
    """Renew the Lease before `step`; LockError (reason LockLost) when it is not ours any more."""
    reason = renew(client, residency, holder)
    if reason is not None:
        raise LockError(
            f"residency {residency}: lost its lock ({reason}); stopped before {step}",
            reason="LockLost",
        )


def release(client, residency, holder):
    """Delete the Lease if `holder` still holds it; True when it did."""
    current = read(client, residency)
    if current is None or holder_of(current) != holder:
        return False
    version = (current.get("metadata") or {}).get("resourceVersion")
    try:
        client.request(
            "DELETE",
            f"{LEASES}/{lease_name(residency)}",
            body={
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "preconditions": {"resourceVersion": version},
            },
        )
    except ClientError as exc:
        if exc.status in (404, 409):
            return False
        raise
    return True
