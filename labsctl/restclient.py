"""labsctl's requests through the collection's REST client, the one the modules use.

Built from the run's `Target` (kubeconfig files and context, or the in-cluster ServiceAccount;
impersonation; the request timeout), so labsctl's safety steps (lock, prune, teardown, the
ownership scan) and the playbooks' send the same requests as the same identity. Its failures
become labsctl's errors, worded and classed (exit codes) as every other cluster error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from labsctl import collection, timeouts
from labsctl.errors import ClusterError, ConflictError, LabsctlError, UnreachableError, UsageError

RBAC_HINT = "the identity lacks rights; `labsctl rbac` prints what the bootstrapper needs"


def connect(target: Any) -> Any:
    """A client of `module_utils/client.py` for `target` (a labsctl.cluster.Target)."""
    module = collection.client()
    impersonate = (
        (target.impersonate_user, list(target.impersonate_groups))
        if target.impersonate_user
        else None
    )
    in_cluster = (str(target.service_account_dir), target.server) if target.in_cluster else None
    try:
        return module.connect(
            target.kubeconfig,
            target.context,
            timeouts.format_duration(target.request_timeout),
            impersonate=impersonate,
            in_cluster=in_cluster,
        )
    except (module.ClientError, OSError, ValueError, KeyError) as exc:
        raise ClusterError(
            f"cannot use {target.describe()}: {exc}",
            hint="check --kubeconfig and --context (kubectl config get-contexts)",
        ) from exc


def error_of(exc: Exception, server: str, what: str) -> LabsctlError:
    """The labsctl error for a failure of the collection's code while doing `what`."""
    lease = collection.lease()
    ownership = collection.ownership()
    teardown = collection.teardown()
    if isinstance(exc, lease.LockError):
        return ConflictError(
            str(exc), hint="another run may be working on it: wait, or raise --lock-timeout"
        )
    if isinstance(exc, teardown.TeardownRefused):
        if exc.reason == "Forbidden":
            return ClusterError(
                str(exc),
                hint="grant what `labsctl rbac` prints (it lists every kind), or use --force to "
                "delete without seeing them",
            )
        if exc.reason == "Changed":
            return ConflictError(
                str(exc), hint="another run changed it meanwhile: run teardown again"
            )
        return ConflictError(
            str(exc), hint="move them out, or use --force to delete them with the namespaces"
        )
    if isinstance(exc, ownership.OwnershipError):
        return UsageError(str(exc))
    status = getattr(exc, "status", 0)
    message = getattr(exc, "message", str(exc))
    if status == 0:
        if getattr(exc, "reason", "") == "Timeout":
            return UnreachableError(
                f"{message} ({what})",
                hint="is the cluster up and not overloaded? --request-timeout "
                "(LABSCTL_REQUEST_TIMEOUT) sets how long to wait",
            )
        return UnreachableError(
            f"{message} ({what})",
            hint="is the cluster up? `labsctl sandbox status` for the sandbox",
        )
    if status == 401:
        return ClusterError(
            f"{what}: the API server at {server} refused the credentials ({message})",
            hint="the token or certificate is wrong or expired: log in again",
        )
    if status == 403:
        return ClusterError(f"{what}: forbidden ({message})", hint=RBAC_HINT)
    if status == 409:
        return ConflictError(f"{what}: conflict ({message})")
    return ClusterError(f"{what}: {message} (HTTP {status})")


@contextlib.contextmanager
def calls(server: str, what: str) -> Iterator[None]:
    """Turn the collection's failures inside the block into labsctl's errors."""
    failures = (
        collection.client().ClientError,
        collection.lease().LockError,
        collection.ownership().OwnershipError,
        collection.teardown().TeardownRefused,
    )
    try:
        yield
    except failures as exc:
        raise error_of(exc, server, what) from exc
    except OSError as exc:
        raise UnreachableError(f"cannot reach the API server at {server} ({what}): {exc}") from exc
