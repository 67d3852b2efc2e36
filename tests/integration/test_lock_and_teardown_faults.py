"""The residency lock lives as long as the work, and teardown works under it from the start.

Short Leases (a few seconds instead of 600) let the tests see what happens past a Lease's
duration: a holder that keeps working keeps its lock, a lost Lease stops the work before its next
step, a Lease stamped in the future by a skewed clock expires on our own clock, and a teardown
whose residency changed after its plan was shown deletes nothing.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
from kubernetes import client

from labsctl.cluster import Cluster, resolve_target
from labsctl.errors import ConflictError
from labsctl.lock import LOCK_NAMESPACE, residency_lock
from labsctl.teardown import execute as teardown_execute
from labsctl.teardown import plan as teardown_plan_of
from tests.integration.playbooks import write_spec
from tests.integration.test_cli_lifecycle import labsctl

pytestmark = pytest.mark.integration
LEASE = 2  # seconds


def _cluster(kubeconfig: Path) -> Cluster:
    return Cluster(resolve_target(kubeconfig))


def test_a_holder_working_past_its_lease_keeps_the_lock_and_a_second_run_waits(
    admin_kubeconfig: Path, residency_name: str
) -> None:
    held = threading.Event()
    done = threading.Event()

    def long_apply() -> None:
        with residency_lock(
            _cluster(admin_kubeconfig), [residency_name], "apply", timeout=5, seconds=LEASE
        ):
            held.set()
            done.wait(20)

    worker = threading.Thread(target=long_apply)
    worker.start()
    try:
        assert held.wait(10)
        time.sleep(3 * LEASE)  # well past the Lease's duration: only renewal keeps it
        started = time.monotonic()
        with (
            pytest.raises(ConflictError, match=r"is locked by .* pid .*apply"),
            residency_lock(
                _cluster(admin_kubeconfig), [residency_name], "teardown", timeout=2 * LEASE
            ),
        ):
            pass
        assert time.monotonic() - started >= 2 * LEASE  # it waited, then gave up
    finally:
        done.set()
        worker.join(30)
    with residency_lock(_cluster(admin_kubeconfig), [residency_name], "teardown", timeout=1):
        pass  # released on exit: taken at once


def test_a_lost_lease_stops_the_work_before_its_next_step(
    admin_kubeconfig: Path, residency_name: str, k8s: client.ApiClient
) -> None:
    with residency_lock(
        _cluster(admin_kubeconfig), [residency_name], "teardown", timeout=5, seconds=LEASE
    ) as lock:
        lock.check("the first step")
        client.CoordinationV1Api(k8s).delete_namespaced_lease(
            f"labsctl-{residency_name}", LOCK_NAMESPACE
        )
        time.sleep(LEASE)  # a renewal tick notices
        with pytest.raises(ConflictError, match=r"lost its lock \(its Lease was deleted\)"):
            lock.check("deleting namespace x")


def test_a_lease_stamped_in_the_future_expires_after_its_duration_on_our_clock(
    admin_kubeconfig: Path, residency_name: str, k8s: client.ApiClient
) -> None:
    cluster = _cluster(admin_kubeconfig)
    with residency_lock(cluster, [residency_name], "apply", timeout=5):
        pass  # makes the lock namespace
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    client.CoordinationV1Api(k8s).create_namespaced_lease(
        LOCK_NAMESPACE,
        client.V1Lease(
            metadata=client.V1ObjectMeta(name=f"labsctl-{residency_name}"),
            spec=client.V1LeaseSpec(
                holder_identity="someone@another-host pid 1 (apply)",
                lease_duration_seconds=LEASE,
                acquire_time=future,
                renew_time=future,
            ),
        ),
    )
    started = time.monotonic()
    with residency_lock(cluster, [residency_name], "teardown", timeout=10 * LEASE):
        waited = time.monotonic() - started
    assert LEASE <= waited < 6 * LEASE


def test_teardown_deletes_nothing_when_the_residency_changed_after_its_plan(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    spec = write_spec(tmp_path, residency_name)
    assert labsctl("apply", str(spec), kubeconfig=admin_kubeconfig).returncode == 0
    cluster = _cluster(admin_kubeconfig)
    shown = teardown_plan_of(cluster, residency_name)

    def another_stage(data: dict) -> None:  # type: ignore[type-arg]
        data["spec"]["stages"] = [{"name": s} for s in ("ci-cd", "dev", "test", "perf")]

    (tmp_path / "grown").mkdir()
    grown = write_spec(tmp_path / "grown", residency_name, mutate=another_stage)
    assert labsctl("apply", str(grown), kubeconfig=admin_kubeconfig).returncode == 0

    changed = f"changed since its plan was made: .*Namespace {residency_name}-perf"
    with pytest.raises(ConflictError, match=changed):
        teardown_execute(cluster, shown, backup_dir=None, timeout=60)
    names = {n.metadata.name for n in client.CoreV1Api(k8s).list_namespace().items}
    assert {f"{residency_name}-{s}" for s in ("ci-cd", "dev", "test", "perf")} <= names

    gone = labsctl("teardown", residency_name, "--yes", "--no-backup", kubeconfig=admin_kubeconfig)
    assert gone.returncode == 0, gone.stderr[-2000:]


def test_a_second_teardown_backs_up_beside_the_first_and_an_unknown_name_is_an_error(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path
) -> None:
    spec = write_spec(tmp_path, residency_name)
    assert labsctl("apply", str(spec), kubeconfig=admin_kubeconfig).returncode == 0
    backups = tmp_path / "backups"
    today = dt.date.today().isoformat()
    first = backups / f"{residency_name}-{today}"
    first.mkdir(parents=True)
    (first / "kept.yaml").write_text("complete: true\n")  # the complete backup of a first run

    run = labsctl(
        "teardown",
        residency_name,
        "--yes",
        "--backup-dir",
        str(backups),
        kubeconfig=admin_kubeconfig,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert (first / "kept.yaml").read_text() == "complete: true\n"
    assert sorted(p.name for p in first.iterdir()) == ["kept.yaml"]
    second = backups / f"{residency_name}-{today}.2"
    assert any(second.rglob("*.yaml"))

    missing = labsctl("teardown", residency_name, "--yes", kubeconfig=admin_kubeconfig)
    assert missing.returncode == 2
    assert f"not on the cluster: {residency_name}" in missing.stderr
    ignored = labsctl(
        "teardown", residency_name, "--yes", "--ignore-not-found", kubeconfig=admin_kubeconfig
    )
    assert ignored.returncode == 0, ignored.stderr[-2000:]
