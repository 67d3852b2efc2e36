"""The fault-injection suite's remaining cases, against the real control plane: labsctl killed
at seeded random points of apply and of teardown (the re-run converges to exactly the spec,
nothing unowned is touched), a team member's and a stranger's identity on every command that
reaches the cluster (exit 3, nothing changed), and an apply and a teardown of one residency
started together (they never overlap: the residency ends complete or gone, never half).

Each case asserts the exit code, an upper bound on the time, and the final cluster state.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, dynamic
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from labsctl import naming
from tests.conftest import lease_exists, wait_for
from tests.integration.playbooks import REPO, write_spec
from tests.integration.test_cli_lifecycle import labsctl

pytestmark = pytest.mark.integration

# The kill points they give (apply, teardown): 0.6 and 5.1 s, 1.2 and 3.6, 1.9 and 2.1, 2.5 and 0.9
KILL_SEEDS = (203, 60, 287, 78)
APPLY_WINDOW = (0.4, 3.0)  # seconds after the start: a warm small-team apply takes 3-5 s
TEARDOWN_WINDOW = (0.3, 6.0)
RERUN_BOUND = 180.0  # seconds for a re-run to converge
COMMAND_BOUND = 45.0  # seconds for a refused command to end

Snapshot = dict[tuple[str, str, str], str]  # (kind, namespace, name): resourceVersion


def _owned(k8s: client.ApiClient, name: str) -> Snapshot:
    """Every object residency `name` owns, of every managed kind the cluster serves."""
    resources = dynamic.DynamicClient(k8s).resources
    found: Snapshot = {}
    for api_version, kind, _resource in naming.MANAGED_KINDS:
        try:
            api = resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            continue  # not served here (OpenShift, Tekton or Argo CD on a plain cluster)
        for item in api.get(label_selector=naming.owner_selector(name)).items:
            meta = item.metadata
            found[(kind, meta.namespace or "", meta.name)] = meta.resourceVersion
    return found


def _terminating(k8s: client.ApiClient, name: str) -> bool:
    listed = client.CoreV1Api(k8s).list_namespace(label_selector=naming.owner_selector(name))
    return any(ns.metadata.deletion_timestamp for ns in listed.items)


def _foreign(k8s: client.ApiClient, name: str) -> tuple[str, str]:
    """A namespace and ConfigMap that are nobody's residency, named like the residency's own:
    (namespace, resourceVersion of the ConfigMap)."""
    core = client.CoreV1Api(k8s)
    namespace = f"{name}-not-ours"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    made = core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"{name}-settings", labels={"team": name}),
            data={"keep": "me"},
        ),
    )
    return namespace, made.metadata.resource_version


def _assert_foreign_untouched(k8s: client.ApiClient, name: str, version: str) -> None:
    kept = client.CoreV1Api(k8s).read_namespaced_config_map(f"{name}-settings", f"{name}-not-ours")
    assert kept.metadata.resource_version == version and kept.data == {"keep": "me"}


def _start(kubeconfig: Path, *args: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "LABSCTL_LOCK_TIMEOUT": "120"}
    environment.pop("KUBECONFIG", None)
    environment["LABSCTL_KUBECONFIG"] = str(kubeconfig)
    return subprocess.Popen(
        [sys.executable, "-m", "labsctl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=REPO,
        start_new_session=True,
    )


def _kill_after(process: subprocess.Popen[str], seconds: float) -> int | None:
    """SIGKILL labsctl alone (as the OOM killer would) `seconds` after its start; its exit code
    when it had ended by then, else None."""
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=30)
        return None
    process.communicate(timeout=30)
    return process.returncode


def _timed(
    *args: str, kubeconfig: Path, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    run = labsctl(*args, kubeconfig=kubeconfig, env=env)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return time.monotonic() - started, run


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_labsctl_killed_at_a_random_point_of_apply_and_of_teardown_reruns_converge(
    seed: int, tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    rng = random.Random(seed)
    name = residency_name
    spec = write_spec(tmp_path, name)
    foreign_namespace, foreign_version = _foreign(k8s, name)
    try:
        at = rng.uniform(*APPLY_WINDOW)
        ended = _kill_after(_start(admin_kubeconfig, "apply", str(spec)), at)
        print(f"seed {seed}: apply killed at {at:.2f}s (had ended: {ended})")
        assert ended in (None, 0)

        took, run = _timed(
            "apply", str(spec), kubeconfig=admin_kubeconfig, env={"LABSCTL_LOCK_TIMEOUT": "0"}
        )  # the dead holder's lock is taken at once
        print(f"seed {seed}: re-run of apply converged in {took:.1f}s")
        assert run.returncode == 0 and took < RERUN_BOUND, run.stderr[-2000:]
        assert labsctl("plan", str(spec), kubeconfig=admin_kubeconfig).returncode == 0
        applied = _owned(k8s, name)
        assert {kind for kind, _, _ in applied} >= {"Namespace", "RoleBinding", "ResourceQuota"}
        assert not lease_exists(k8s, name)
        _assert_foreign_untouched(k8s, name, foreign_version)

        at = rng.uniform(*TEARDOWN_WINDOW)
        backups = tmp_path / "backups"
        teardown = ("teardown", name, "--yes", "--backup-dir", str(backups))
        ended = _kill_after(_start(admin_kubeconfig, *teardown), at)
        print(f"seed {seed}: teardown killed at {at:.2f}s (had ended: {ended})")
        assert ended in (None, 0)

        took, run = _timed(
            *teardown,
            "--ignore-not-found",
            kubeconfig=admin_kubeconfig,
            env={"LABSCTL_LOCK_TIMEOUT": "0"},
        )
        print(f"seed {seed}: re-run of teardown converged in {took:.1f}s")
        assert run.returncode == 0 and took < RERUN_BOUND, run.stderr[-2000:]
        assert _owned(k8s, name) == {} and not _terminating(k8s, name)
        assert not lease_exists(k8s, name)
        _assert_foreign_untouched(k8s, name, foreign_version)
        assert any(backups.rglob("*.yaml")), "no backup of the residency"
    finally:
        client.CoreV1Api(k8s).delete_namespace(foreign_namespace)


def _as(identity: str) -> dict[str, str]:
    return {"LABSCTL_AS": identity}


def test_a_team_member_and_a_stranger_get_exit_3_from_every_command_and_change_nothing(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    """The member is an admin of the residency's namespaces (`alice@example.com` in the small
    team); the stranger has no rights at all. Neither may change what labsctl provisions."""
    name = residency_name
    spec = write_spec(tmp_path, name)
    assert labsctl("apply", str(spec), kubeconfig=admin_kubeconfig).returncode == 0
    before = _owned(k8s, name)
    written = spec.read_text()
    commands = {
        "apply": ("apply", str(spec)),
        "plan": ("plan", str(spec)),
        "diff": ("diff", str(spec)),
        "status": ("status", str(spec)),
        "status --all": ("status", "--all"),
        "freeze": ("freeze", str(spec)),
        "extend": ("extend", str(spec), "--until", "2026-12-31"),
        "export": ("export", name, "--to", str(tmp_path / "export")),
        "teardown": ("teardown", name, "--yes", "--no-backup"),
        "teardown --expired": ("teardown", "--expired", "--yes", "--no-backup"),
    }
    for identity in ("alice@example.com", f"stranger-{name}"):
        for label, args in commands.items():
            took, run = _timed(*args, kubeconfig=admin_kubeconfig, env=_as(identity))
            print(f"{identity}: {label} exited {run.returncode} in {took:.1f}s")
            assert run.returncode == 3, f"{identity}: {label}: {run.stderr[-2000:]}"
            assert "forbidden" in run.stdout + run.stderr and identity in run.stdout + run.stderr
            assert took < COMMAND_BOUND, f"{identity}: {label} took {took:.1f}s"
            assert spec.read_text() == written, f"{identity}: {label} changed the spec"
        assert _owned(k8s, name) == before, f"{identity} changed the residency"
        assert not lease_exists(k8s, name)
        assert not (tmp_path / "export").exists()


def test_an_apply_and_a_teardown_started_together_leave_the_residency_complete_or_gone(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    name = residency_name
    spec = write_spec(tmp_path, name)
    assert labsctl("apply", str(spec), kubeconfig=admin_kubeconfig).returncode == 0

    started = time.monotonic()
    apply = _start(admin_kubeconfig, "apply", str(spec))
    teardown = _start(admin_kubeconfig, "teardown", name, "--yes", "--no-backup")
    applied = apply.communicate(timeout=RERUN_BOUND)
    torn = teardown.communicate(timeout=RERUN_BOUND)
    took = time.monotonic() - started
    print(f"both ended in {took:.1f}s: apply {apply.returncode}, teardown {teardown.returncode}")

    assert apply.returncode == 0, applied[0][-2000:] + applied[1][-2000:]
    assert teardown.returncode == 0, torn[0][-2000:] + torn[1][-2000:]
    assert took < RERUN_BOUND
    # The later one waited for the lock; which one came first decides the end state.
    assert "waiting" in applied[1] + torn[1], applied[1] + torn[1]
    assert wait_for(lambda: not _terminating(k8s, name), timeout=60)
    if _owned(k8s, name):  # the teardown ran first: the apply made it complete again
        plan = labsctl("plan", str(spec), kubeconfig=admin_kubeconfig)
        assert plan.returncode == 0, plan.stdout[-2000:]
    assert not lease_exists(k8s, name)
