"""The end of a residency: delete what it owns, only that, and make sure it is really gone.

The steps are the collection's (`module_utils/teardown.py`), the very code `playbooks/
teardown.yml` runs through its `residency_teardown` module: plan every owned object (found by
the residency's ownership labels), refuse when a namespace it would delete holds objects labsctl
did not create or kinds it may not list (unless forced), back up in the `export` format into a
directory of its own, delete in reverse order of creation, wait until the namespaces are gone
and name what holds one that does not. labsctl adds the person in the loop: the plan is shown
first, then, under the residency's lock from the first read to the last delete, made again (and
nothing is deleted if the residency changed since it was shown). Re-running after an
interruption continues where it stopped: everything is derived from the cluster.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labsctl import collection
from labsctl.cluster import Cluster, Target
from labsctl.errors import UsageError
from labsctl.lock import residency_lock
from labsctl.status import residencies_on

_OWNERSHIP = collection.ownership()
_TEARDOWN = collection.teardown()
_HANDOVER = collection.handover()
TeardownPlan = _OWNERSHIP.TeardownPlan


@dataclass
class TeardownResult:
    plan: Any  # TeardownPlan
    deleted: bool
    backup: str | None
    duration: float
    stuck: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.plan.as_dict(),
            "deleted": self.deleted,
            "backup": self.backup,
            "durationSeconds": round(self.duration, 2),
            "stuck": self.stuck,
        }


def plan(cluster: Cluster, residency: str) -> Any:
    """What tearing `residency` down would delete, and what stands in its way."""
    with cluster.rest_calls(f"planning the teardown of residency {residency}"):
        rest = cluster.rest
        return _OWNERSHIP.teardown_plan(rest, _OWNERSHIP.Discovery(rest), residency)


def execute(
    cluster: Cluster,
    teardown_plan: Any,
    *,
    force: bool = False,
    backup_dir: Path | None = None,
    today: dt.date | None = None,
    timeout: float = 300.0,
    lock_timeout: float = 60.0,
    on_progress: Callable[[str], None] | None = None,
) -> TeardownResult:
    """Delete what `teardown_plan` showed, under the residency's lock from the first read to the
    last delete: the residency is planned again inside the lock, and a plan that changed since
    it was shown (an apply ran in between) deletes nothing. The backup goes to a new directory
    `<backup_dir>/<residency>-<today>` (`.2`, `.3`... when it exists)."""
    started = time.monotonic()
    residency = teardown_plan.residency
    with (
        residency_lock(cluster, [residency], "teardown", timeout=lock_timeout) as lock,
        cluster.rest_calls(f"tearing down residency {residency}"),
    ):
        outcome = _TEARDOWN.run(
            cluster.rest,
            residency,
            force=force,
            backup_dir=str(backup_dir) if backup_dir is not None else None,
            today=(today or dt.date.today()).isoformat(),
            shown=teardown_plan,
            before_each=lock.check_ref,
            timeout=timeout,
            on_progress=on_progress,
        )
    return TeardownResult(
        outcome.plan, True, outcome.backup, time.monotonic() - started, list(outcome.stuck)
    )


def teardown_plan(
    target: Target,
    residencies: list[str] | None = None,
    *,
    expired_only: bool = False,
    ignore_not_found: bool = False,
    today: dt.date | None = None,
) -> list[Any]:
    """The plans of tearing `residencies` (names) down on `target`, or with `expired_only` of
    every residency past its archive date; a named residency with nothing on the cluster is a
    UsageError (exit 2) unless `ignore_not_found`. Only plans with something to delete."""
    if bool(residencies) == expired_only:
        raise UsageError("give SPEC files or residency names, or --expired")
    cluster = Cluster(target)
    names = expired(cluster, today) if expired_only else list(residencies or [])
    plans = [plan(cluster, name) for name in names]
    missing = [p.residency for p in plans if not p.objects]
    if missing and not expired_only and not ignore_not_found:
        raise UsageError(
            f"not on the cluster: {', '.join(missing)}",
            hint="check the name and --context; --ignore-not-found makes this a success",
        )
    return [p for p in plans if p.objects]


def teardown(
    target: Target,
    plans: list[Any],
    *,
    force: bool = False,
    backup_dir: Path | None = None,
    timeout: float = 300.0,
    lock_timeout: float = 60.0,
    on_progress: Callable[[str], None] | None = None,
) -> list[TeardownResult]:
    """Carry out `plans` (from `teardown_plan`, shown to a person or not) one residency after
    the other, each under its lock (see `execute`); a residency whose namespaces did not go
    in `timeout` seconds has them named in its result's `stuck`."""
    cluster = Cluster(target)
    return [
        execute(
            cluster,
            item,
            force=force,
            backup_dir=backup_dir,
            timeout=timeout,
            lock_timeout=lock_timeout,
            on_progress=on_progress,
        )
        for item in plans
    ]


def backup_directory(backup_dir: Path, residency: str, today: str) -> Path:
    """`<backup_dir>/<residency>-<today>`, or with `.2`, `.3`... when that exists: a backup is
    never overwritten (a re-run after an interrupted teardown backs up what is left beside the
    complete backup of the first run)."""
    return Path(_HANDOVER.backup_directory(str(backup_dir), residency, today))


def expired(cluster: Cluster, today: Any = None) -> list[str]:
    """Residencies on the cluster past their archive date."""
    return [s.name for s in residencies_on(cluster, today=today) if s.phase == "expired"]
