"""A per-residency lock on the cluster: a coordination.k8s.io Lease naming holder and command.

The Lease and its rules are the collection's (`module_utils/lease.py`), shared with the
playbooks' `residency_lock` module, so labsctl and a plain `ansible-playbook` run of the same
residency never work at once. Two applies, or an apply and a teardown, of the same residency
never run at once: the second waits up to its timeout, then fails with exit code 4 naming the
holder. The holder renews its Lease while it works (every third of the duration), so a long
teardown keeps it; a step that must not run without it calls `Lock.check()` first, which fails
once the Lease was lost (taken over, deleted with its namespace). A lock whose holder died
expires after its duration and is taken over (at once when the holder was on this host).
Expiry is judged on this machine's clock, as client-go's leader election does.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from labsctl import collection, naming
from labsctl.cluster import Cluster
from labsctl.errors import ConflictError

LOCK_NAMESPACE = naming.LOCK_NAMESPACE
LEASE_SECONDS = 600
# How long a Lease lasts without renewal (tests set it short to see a lock outlive it).
LEASE_SECONDS_ENV = "LABSCTL_LOCK_LEASE_SECONDS"


def lease_seconds() -> int:
    value = os.environ.get(LEASE_SECONDS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else LEASE_SECONDS


def holder_identity(command: str) -> str:
    return str(collection.lease().holder_identity(command))


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
        lease = collection.lease()
        failures = (collection.client().ClientError, OSError)
        while not self._stop.wait(max(self.seconds / 3, 0.2)):
            for residency in self.residencies:
                if residency in self.lost:
                    continue
                try:
                    reason = lease.renew(self.cluster.rest, residency, self.holder)
                except failures:
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

    def check_ref(self, ref: Any) -> None:
        self.check(f"deleting {ref.describe()}")


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
    lease = collection.lease()
    holder = holder_identity(command)
    seconds = seconds or lease_seconds()
    held: list[str] = []
    lock = Lock(cluster, held, holder, seconds)
    try:
        for residency in sorted(residencies):
            with cluster.rest_calls(f"taking the lock of residency {residency}"):
                lease.acquire(
                    cluster.rest, residency, holder, seconds, wait=timeout, on_wait=on_wait
                )
            held.append(residency)
        lock.start()
        yield lock
    finally:
        lock.stop()
        for residency in held:
            if residency not in lock.lost:
                with cluster.rest_calls(f"releasing the lock of residency {residency}"):
                    lease.release(cluster.rest, residency, holder)
