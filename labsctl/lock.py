"""A per-residency lock on the cluster: a coordination.k8s.io Lease naming holder and command.

Two applies, or an apply and a teardown, of the same residency never run at once: the second
waits up to its timeout, then fails with exit code 4 naming the holder. A lock whose holder died
expires after its duration and is taken over.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kubernetes import client
from kubernetes.client.rest import ApiException

from labsctl import naming
from labsctl.cluster import Cluster
from labsctl.errors import ConflictError

LOCK_NAMESPACE = naming.LOCK_NAMESPACE
LEASE_SECONDS = 600


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def holder_identity(command: str) -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} ({command})"


def _version(lease: client.V1Lease) -> str | None:
    return lease.metadata.resource_version if lease.metadata else None


def _lease(residency: str, holder: str, seconds: int, version: str | None = None) -> client.V1Lease:
    now = _now()
    return client.V1Lease(
        metadata=client.V1ObjectMeta(
            resource_version=version,
            name=f"labsctl-{residency}",
            namespace=LOCK_NAMESPACE,
            labels={naming.LABEL_MANAGED_BY: "labsctl", naming.LABEL_RESIDENCY: residency},
        ),
        spec=client.V1LeaseSpec(
            holder_identity=holder, lease_duration_seconds=seconds, acquire_time=now, renew_time=now
        ),
    )


def _holder(lease: client.V1Lease) -> str:
    return str(lease.spec.holder_identity) if lease.spec and lease.spec.holder_identity else ""


def _holder_died(holder: str) -> bool:
    """A holder on this host whose process is gone (killed, crashed) holds nothing."""
    match = re.fullmatch(r"\S+@(?P<host>\S+) pid (?P<pid>\d+) \(.*\)", holder)
    if match is None or match["host"] != socket.gethostname():
        return False
    return not Path(f"/proc/{match['pid']}").exists()


def _expired(lease: client.V1Lease) -> bool:
    spec = lease.spec
    if spec is None or not spec.holder_identity or spec.renew_time is None:
        return True
    if _holder_died(str(spec.holder_identity)):
        return True
    renewed: dt.datetime = spec.renew_time
    return _now() > renewed + dt.timedelta(seconds=spec.lease_duration_seconds or 0)


def _ensure_namespace(cluster: Cluster) -> None:
    with cluster.calls(f"creating the lock namespace {LOCK_NAMESPACE}"):
        try:
            cluster.core.create_namespace(
                client.V1Namespace(
                    metadata=client.V1ObjectMeta(
                        name=LOCK_NAMESPACE, labels={naming.LABEL_MANAGED_BY: "labsctl"}
                    )
                )
            )
        except ApiException as exc:
            if exc.status != 409:
                raise


def _try_acquire(cluster: Cluster, residency: str, holder: str, seconds: int) -> str | None:
    """None when acquired, else the current holder."""
    api = cluster.coordination
    name = f"labsctl-{residency}"
    with cluster.calls(f"taking the lock of residency {residency}"):
        try:
            api.create_namespaced_lease(LOCK_NAMESPACE, _lease(residency, holder, seconds))
            return None
        except ApiException as exc:
            if exc.status != 409:
                raise
        current = api.read_namespaced_lease(name, LOCK_NAMESPACE)
        if not _expired(current):
            return _holder(current)
        replacement = _lease(residency, holder, seconds, version=_version(current))
        try:  # resourceVersion makes the takeover atomic: only one waiter wins
            api.replace_namespaced_lease(name, LOCK_NAMESPACE, replacement)
            return None
        except ApiException as exc:
            if exc.status == 409:
                return _holder(current)
            raise


def _release(cluster: Cluster, residency: str, holder: str) -> None:
    api = cluster.coordination
    name = f"labsctl-{residency}"
    with cluster.calls(f"releasing the lock of residency {residency}"):
        try:
            current = api.read_namespaced_lease(name, LOCK_NAMESPACE)
            if _holder(current) == holder:
                api.delete_namespaced_lease(name, LOCK_NAMESPACE)
        except ApiException as exc:
            if exc.status != 404:
                raise


@contextlib.contextmanager
def residency_lock(
    cluster: Cluster,
    residencies: list[str],
    command: str,
    *,
    timeout: float,
    on_wait: Callable[[str, str], None] | None = None,
    seconds: int = LEASE_SECONDS,
) -> Iterator[None]:
    """Hold the Leases of `residencies` for the block; wait up to `timeout` seconds for each."""
    holder = holder_identity(command)
    _ensure_namespace(cluster)
    held: list[str] = []
    try:
        for residency in sorted(residencies):
            deadline = time.monotonic() + timeout
            while (other := _try_acquire(cluster, residency, holder, seconds)) is not None:
                if time.monotonic() >= deadline:
                    raise ConflictError(
                        f"residency {residency} is locked by {other}",
                        hint="wait for it to finish, or raise --lock-timeout; a lock whose "
                        f"holder died expires after {seconds}s",
                    )
                if on_wait:
                    on_wait(residency, other)
                time.sleep(1)
            held.append(residency)
        yield
    finally:
        for residency in held:
            _release(cluster, residency, holder)
