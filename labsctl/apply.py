"""`apply` and `plan`: make the cluster match the specs, or show what that would change.

Validate, render one inventory for every residency, take each residency's lock, run
`playbooks/bootstrap.yml` through ansible-runner (check mode for plan), which applies and then
prunes what the residencies own but no longer ask for, exactly as it does for a pipeline that
runs it with nothing but Ansible. A failed residency does not stop the others; the summary
says which residency, role and object failed. Each residency lives on its own target (the run's,
or its `spec.cluster.context`): its lock, pruning and the Ansible run all use that one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labsctl import collection, naming
from labsctl.cluster import Cluster, Target
from labsctl.errors import Interrupted, interruption
from labsctl.files import write_tree
from labsctl.inventory import inventory_files
from labsctl.lifecycle import Phase, phase
from labsctl.lock import residency_lock
from labsctl.render import Rendering, render
from labsctl.runner import Failure, ObjectOutcome, Progress, RunResult, run_playbook
from labsctl.spec import Residency
from labsctl.validation import load_specs

ACTIONS = ("created", "changed", "unchanged", "pruned")
# What a module's failure `reason` (or HTTP status) says about the cause, for the exit code: an
# object or lock in the way is a conflict (4); a cluster that is unreachable, refuses the
# identity or lacks an API is a cluster problem (3); anything else is the Ansible run's (5).
CONFLICT_REASONS = frozenset({"NotOwned", "Locked", "LockLost", "Changed"})
CLUSTER_REASONS = frozenset({"Forbidden", "Unauthorized", "Timeout", "Unreachable", "MissingAPI"})
RESIDENCY_WIDE = "(residency)"  # objects outside the stages' namespaces: groups, Argo CD objects


@dataclass
class ResidencySummary:
    name: str
    frozen: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    stages: dict[str, Counter[str]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def in_sync(self) -> bool:
        return (
            self.ok and self.counts["created"] + self.counts["changed"] + self.counts["pruned"] == 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "frozen": self.frozen,
            "ok": self.ok,
            "inSync": self.in_sync,
            "counts": {a: self.counts[a] for a in ACTIONS},
            "stages": {s: {a: c[a] for a in ACTIONS} for s, c in sorted(self.stages.items())},
            "changes": self.changes,
            "failures": [
                {"role": f.role, "task": f.task, "object": f.object, "message": f.message}
                for f in self.failures
            ],
        }


def failure_kind(failure: Failure) -> str:
    """`conflict`, `cluster` or `ansible`: what a failure's reason or status says it is."""
    if failure.reason in CONFLICT_REASONS or failure.status == 409:
        return "conflict"
    if failure.reason in CLUSTER_REASONS or failure.status in (0, 401, 403):
        return "cluster"
    return "ansible"


@dataclass
class ApplySummary:
    dry_run: bool
    duration: float
    residencies: list[ResidencySummary]
    diffs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.residencies)

    @property
    def in_sync(self) -> bool:
        return all(r.in_sync for r in self.residencies)

    @property
    def failure_kind(self) -> str | None:
        """What every failure of the run is (`conflict`, `cluster`), `ansible` when they are
        of several kinds or none of those, None without failures."""
        kinds = {failure_kind(f) for r in self.residencies for f in r.failures}
        if not kinds:
            return None
        return kinds.pop() if len(kinds) == 1 else "ansible"

    def as_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": "labsctl.dev/v1alpha1",
            "kind": "PlanResult" if self.dry_run else "ApplyResult",
            "dryRun": self.dry_run,
            "ok": self.ok,
            "inSync": self.in_sync,
            "durationSeconds": round(self.duration, 2),
            "residencies": [r.as_dict() for r in self.residencies],
        }


def is_past_end(residency: Residency, today: dt.date | None = None) -> bool:
    """After its end date a residency is frozen: the team keeps view rights for the hand-over."""
    return phase(residency.spec.dates, today) in (Phase.ENDED, Phase.EXPIRED)


def _stage_of(rendering: Rendering) -> dict[str, str]:
    return {s["namespace"]: s["name"] for s in rendering.context["stages"]}


def _summarise(
    rendering: Rendering,
    outcomes: list[ObjectOutcome],
    failures: list[Failure],
) -> ResidencySummary:
    summary = ResidencySummary(
        rendering.residency.name, failures=failures, frozen=bool(rendering.context["frozen"])
    )
    stage_of = _stage_of(rendering)

    def count(kind: str, namespace: str | None, name: str, action: str, **extra: Any) -> None:
        key = namespace if kind != "Namespace" else name
        stage = stage_of.get(key or "", RESIDENCY_WIDE)
        summary.counts[action] += 1
        summary.stages.setdefault(stage, Counter())[action] += 1
        if action != "unchanged":
            summary.changes.append(
                {"action": action, "kind": kind, "namespace": namespace, "name": name, **extra}
            )

    for outcome in outcomes:
        count(outcome.kind, outcome.namespace, outcome.name, outcome.action, role=outcome.role)
    return summary


def residency_targets(residencies: list[Residency], target: Target) -> dict[str, Target]:
    """Each residency's target: its `spec.cluster.context` when set, else the run's."""
    return {r.name: target.for_context(r.spec.cluster.context, r.name) for r in residencies}


def apply(
    spec_files: list[Path | str],
    target: Target,
    *,
    dry_run: bool = False,
    freeze: bool = False,
    prune_stale: bool = True,
    lock_timeout: float = 60.0,
    templates: Path | None = None,
    inventory_dir: Path | None = None,
    verbose: int = 0,
    on_event: Callable[[Progress], None] | None = None,
    on_wait: Callable[[str, str], None] | None = None,
) -> ApplySummary:
    """Apply (or, with dry_run, plan) the residencies of `spec_files` on `target` (a residency
    with `spec.cluster.context` on that context of the same kubeconfig)."""
    started = time.monotonic()
    residencies = load_specs(spec_files)
    renderings = [render(r, templates, frozen=freeze or is_past_end(r)) for r in residencies]
    targets = residency_targets(residencies, target)
    # One client per target; the Ansible run gets the same through K8S_AUTH_* and, for a
    # residency's own context, its host variable labsctl_context.
    clusters = {t: Cluster(t) for t in sorted(set(targets.values()), key=_order)}
    for cluster in clusters.values():
        cluster.version()  # unreachable or unauthorised: fail now, before any lock or change
    cluster_of = {name: clusters[t] for name, t in targets.items()}
    with tempfile.TemporaryDirectory(prefix="labsctl-apply-") as scratch:
        # --inventory keeps the rendered inventory (one host per residency) where asked.
        where = inventory_dir or Path(scratch) / "inventory"
        inventory = write_tree(where.parent, where.name, inventory_files(renderings))
        with contextlib.ExitStack() as locks:
            holder = None
            if not dry_run:  # read-only: no lock needed
                for each, cluster in clusters.items():
                    names = [n for n, t in targets.items() if t == each]
                    holder = locks.enter_context(
                        residency_lock(
                            cluster, names, "apply", timeout=lock_timeout, on_wait=on_wait
                        )
                    ).holder
            summaries, diffs, stopped_by = _run(
                cluster_of,
                renderings,
                inventory=inventory,
                target=target,
                dry_run=dry_run,
                prune_stale=prune_stale,
                lock_holder=holder,
                verbose=verbose,
                on_event=on_event,
            )
    summary = ApplySummary(dry_run, time.monotonic() - started, summaries, diffs)
    if stopped_by is not None:  # the locks are released, the scratch directory is gone
        raise _interrupted(summary, stopped_by)
    return summary


def _interrupted(summary: ApplySummary, signum: int) -> Interrupted:
    """The error for a run a signal cancelled, carrying what it had applied for the report."""
    name = signal.Signals(signum).name
    if summary.dry_run:
        message = f"interrupted by {name} during the Ansible run of the plan"
    else:
        applied = sum(r.counts["created"] + r.counts["changed"] for r in summary.residencies)
        pruned = sum(r.counts["pruned"] for r in summary.residencies)
        message = (
            f"interrupted by {name} during the Ansible run: {applied} objects had been created "
            f"or changed and {pruned} pruned (listed above)"
        )
    error = interruption(signum, message)
    error.partial = summary
    return error


def _order(target: Target) -> str:
    """Locks are taken cluster by cluster in one order, so two runs never wait on each other."""
    return target.context or ""


def _run(
    cluster_of: dict[str, Cluster],
    renderings: list[Rendering],
    *,
    inventory: Path,
    target: Target,
    dry_run: bool,
    prune_stale: bool,
    lock_holder: str | None,
    verbose: int,
    on_event: Callable[[Progress], None] | None,
) -> tuple[list[ResidencySummary], list[dict[str, Any]], int | None]:
    """Run the playbook (which prunes, as it does for any pipeline, unless told not to) and
    record each residency; the signal that cancelled the run, if one did (then every
    residency has failed). The play finds the lock held by `lock_holder`, labsctl's own, so it
    takes none of its own and checks that one before it prunes."""
    extravars: dict[str, Any] = {"labsctl_prune": prune_stale}
    if lock_holder is not None:
        extravars["labsctl_lock_holder"] = lock_holder
    run = run_playbook(
        "bootstrap.yml",
        inventory,
        target,
        check=dry_run,
        diff=dry_run,
        verbose=verbose,
        extravars=extravars,
        on_event=on_event,
    )
    summaries = []
    for rendering in renderings:
        name = rendering.residency.name
        failures = _failures(run, name)
        outcomes = [o for o in run.objects if o.residency == name]
        summaries.append(_summarise(rendering, outcomes, failures))
    if not dry_run:
        _record(cluster_of, {s.name: s.ok for s in summaries})
    return summaries, run.diffs, run.signal


def _failures(run: RunResult, residency: str) -> list[Failure]:
    """A residency's failures. A run that did not reach its end (cancelled, ansible-playbook
    killed or crashed) fails every residency: nothing of it counts as applied or is pruned."""
    own = [f for f in run.failures if f.residency == residency]
    if own:
        return own
    if run.unfinished is not None:
        return [Failure(residency, "playbook", "", run.unfinished)]
    if run.stats.get(residency, {}).get("failures"):
        return [Failure(residency, "playbook", "", "the playbook failed for this residency")]
    return []


def _record(cluster_of: dict[str, Cluster], ok: dict[str, bool]) -> None:
    """The time and result of this apply, as annotations on each residency's namespaces (under
    a field manager of their own, so the next apply neither sees nor removes them): one LIST
    per cluster, the patches sent concurrently."""
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    ownership = collection.ownership()
    clusters: dict[int, tuple[Cluster, list[str]]] = {}
    for name in ok:
        clusters.setdefault(id(cluster_of[name]), (cluster_of[name], []))[1].append(name)
    for cluster, names in clusters.values():

        def patch(namespace: dict[str, Any], cluster: Cluster = cluster) -> None:
            owner = namespace["metadata"]["labels"][naming.LABEL_RESIDENCY]
            annotations = {
                naming.ANNOTATION_LAST_APPLY: when,
                naming.ANNOTATION_LAST_APPLY_RESULT: "succeeded" if ok[owner] else "failed",
            }
            cluster.rest.request(
                "PATCH",
                f"/api/v1/namespaces/{namespace['metadata']['name']}",
                body={"metadata": {"annotations": annotations}},
                query=[("fieldManager", f"{naming.FIELD_MANAGER}-last-apply")],
                content_type="application/merge-patch+json",
            )

        with cluster.rest_calls(f"recording the apply of residencies {', '.join(names)}"):
            listing = cluster.rest.request(
                "GET",
                "/api/v1/namespaces",
                query=[("labelSelector", ownership.fleet_selector(names))],
            )
            namespaces = [
                n
                for n in listing.get("items") or []
                if (n["metadata"].get("labels") or {}).get(naming.LABEL_RESIDENCY) in ok
            ]
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(patch, namespaces))
