"""A per-residency lock on the cluster: a coordination.k8s.io Lease naming holder and command.

Two applies, or an apply and a teardown, of the same residency never run at once: the second
waits up to its timeout, then fails with exit code 4 naming the holder. The holder renews its
Lease while it works (every third of the duration), so a long teardown keeps it; a step that
must not run without it calls `Lock.check()` first, which fails once the Lease was lost (taken
over, deleted with its namespace). A lock whose holder died expires after its duration and is
taken over. Expiry is judged on this machine's clock as client-go's leader election does: a
Lease that has not changed for a whole duration while we watched has expired, whatever its
`renewTime` says (a time in the future, from a skewed clock or a hand edit, blocks no one).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

from labsctl import naming
from labsctl.cluster import Cluster
from labsctl.errors import ConflictError

LOCK_NAMESPACE = naming.LOCK_NAMESPACE
LEASE_SECONDS = 600
# How long a Lease lasts without renewal (tests set it short to see a lock outlive it).
LEASE_SECONDS_ENV = "LABSCTL_LOCK_LEASE_SECONDS"


def lease_seconds() -> int:
    value = os.environ.get(LEASE_SECONDS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else LEASE_SECONDS


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def holder_identity(command: str) -> str:
    return f"{_user()}@{socket.gethostname()} pid {os.getpid()} ({command})"


def _user() -> str:
    """The login name; `uid<N>` for a uid without a passwd entry (OpenShift's arbitrary uids)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


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


class _Observed:
    """When this process first saw each version of a Lease (its own clock, never the Lease's)."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def unchanged_for(self, lease: client.V1Lease) -> float:
        version = _version(lease) or ""
        first = self.seen.setdefault(version, time.monotonic())
        return time.monotonic() - first


def _try_acquire(
    cluster: Cluster, residency: str, holder: str, seconds: int, observed: _Observed
) -> str | None:
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
        duration = (current.spec.lease_duration_seconds if current.spec else None) or seconds
        stale = observed.unchanged_for(current) > duration
        if not stale and not _expired(current):
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


def _renew(cluster: Cluster, residency: str, holder: str) -> str | None:
    """Renew our Lease; None when renewed, else why it is no longer ours."""
    api = cluster.coordination
    name = f"labsctl-{residency}"
    try:
        current = api.read_namespaced_lease(name, LOCK_NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            return "its Lease was deleted"
        raise
    if current.spec is None or _holder(current) != holder:
        return f"it was taken over by {_holder(current) or 'no one'}"
    current.spec.renew_time = _now()
    try:
        api.replace_namespaced_lease(name, LOCK_NAMESPACE, current)
    except ApiException as exc:
        if exc.status in (404, 409):
            return "its Lease changed under us"
        raise
    return None


class Lock:
    """Held Leases, renewed in the background until released."""

    def __init__(self, cluster: Cluster, residencies: list[str], holder: str, seconds: int):
        self.cluster = cluster
        self.residencies = residencies
        self.holder = holder
        self.seconds = seconds
        self.lost: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="labsctl-lock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _keep(self) -> None:
        while not self._stop.wait(max(self.seconds / 3, 0.2)):
            for residency in self.residencies:
                if residency in self.lost:
                    continue
                try:
                    reason = _renew(self.cluster, residency, self.holder)
                except (ApiException, urllib3.exceptions.HTTPError, OSError):
                    continue  # retried at the next tick; a Lease not renewed in time is lost
                if reason is not None:
                    self.lost[residency] = reason

    def check(self, step: str) -> None:
        """Fail (exit 4) before `step` when a Lease of this lock was lost."""
        for residency, reason in sorted(self.lost.items()):
            raise ConflictError(
                f"residency {residency}: lost its lock ({reason}); stopped before {step}",
                hint="another run may be working on it: check, then run this command again",
            )


@contextlib.contextmanager
def residency_lock(
    cluster: Cluster,
    residencies: list[str],
    command: str,
    *,
    timeout: float,
    on_wait: Callable[[str, str], None] | None = None,
    seconds: int | None = None,
) -> Iterator[Lock]:
    """Hold the Leases of `residencies` for the block, renewed while it runs; wait up to
    `timeout` seconds for each. The block gets the `Lock`, to `check()` before a step that
    must not run without it."""
    holder = holder_identity(command)
    seconds = seconds or lease_seconds()
    _ensure_namespace(cluster)
    held: list[str] = []
    lock = Lock(cluster, held, holder, seconds)
    try:
        for residency in sorted(residencies):
            deadline = time.monotonic() + timeout
            observed = _Observed()
            while (
                other := _try_acquire(cluster, residency, holder, seconds, observed)
            ) is not None:
                if time.monotonic() >= deadline:
                    raise ConflictError(
                        f"residency {residency} is locked by {other}",
                        hint="wait for it to finish, or raise --lock-timeout; a lock whose "
                        f"holder died expires {seconds}s after its last renewal",
                    )
                if on_wait:
                    on_wait(residency, other)
                time.sleep(1)
            held.append(residency)
        lock.start()
        yield lock
    finally:
        lock.stop()
        for residency in held:
            if residency not in lock.lost:
                _release(cluster, residency, holder)
