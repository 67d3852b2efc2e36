"""A pipeline that has nothing but ansible-playbook and the rendered inventory keeps every rule
labsctl keeps: the lock, pruning, the stale report, the refusal of unowned objects, the backup
and the reverse-order teardown (the same code: the collection's module_utils)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from labsctl import naming
from tests.conftest import wait_for
from tests.integration.playbooks import run_playbook, write_inventory, write_spec

pytestmark = pytest.mark.integration
LABSCTL = Path(sys.executable).parent / "labsctl"


def _namespaces(k8s: client.ApiClient, name: str) -> dict[str, bool]:
    """{namespace: being deleted} of the residency."""
    items = client.CoreV1Api(k8s).list_namespace(label_selector=naming.owner_selector(name)).items
    return {ns.metadata.name: ns.metadata.deletion_timestamp is not None for ns in items}


def _lease(k8s: client.ApiClient, name: str) -> client.V1Lease | None:
    try:
        return client.CoordinationV1Api(k8s).read_namespaced_lease(
            f"labsctl-{name}", naming.LOCK_NAMESPACE
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _hold_lock(k8s: client.ApiClient, name: str, holder: str) -> None:
    now = dt.datetime.now(dt.UTC)
    client.CoordinationV1Api(k8s).create_namespaced_lease(
        naming.LOCK_NAMESPACE,
        client.V1Lease(
            metadata=client.V1ObjectMeta(name=f"labsctl-{name}"),
            spec=client.V1LeaseSpec(
                holder_identity=holder,
                lease_duration_seconds=600,
                acquire_time=now,
                renew_time=now,
            ),
        ),
    )


def _two_stages(data: dict[str, Any]) -> None:
    data["spec"]["stages"] = [{"name": "ci-cd"}, {"name": "dev"}]


def test_a_pipeline_with_only_ansible_playbook_locks_applies_prunes_verifies_and_tears_down(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    name = residency_name
    spec = write_spec(tmp_path, name)
    inventory = write_inventory(tmp_path, [spec])
    core = client.CoreV1Api(k8s)

    # Locked by another run (labsctl on another host): the play waits, then fails, creating
    # nothing.
    client_ns = client.V1Namespace(metadata=client.V1ObjectMeta(name=naming.LOCK_NAMESPACE))
    try:
        core.create_namespace(client_ns)
    except ApiException as exc:
        assert exc.status == 409
    _hold_lock(k8s, name, "someone@elsewhere pid 1 (apply)")
    locked = run_playbook(
        "bootstrap.yml", inventory, admin_kubeconfig, "-e", "labsctl_lock_timeout=2"
    )
    assert locked.rc != 0
    assert "is locked by someone@elsewhere pid 1 (apply)" in locked.failure(name)
    assert _namespaces(k8s, name) == {}
    client.CoordinationV1Api(k8s).delete_namespaced_lease(f"labsctl-{name}", naming.LOCK_NAMESPACE)

    # Apply: under its own lock, released at the end.
    applied = run_playbook("bootstrap.yml", inventory, admin_kubeconfig)
    assert applied.rc == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    stages = {f"{name}-ci-cd", f"{name}-dev", f"{name}-test"}
    assert set(_namespaces(k8s, name)) == stages
    assert _lease(k8s, name) is None
    assert run_playbook("verify.yml", inventory, admin_kubeconfig).rc == 0

    # The spec drops a stage: verify reports the stale namespace, an opted-out apply keeps it,
    # a plain apply prunes it.
    spec = write_spec(tmp_path, name, mutate=_two_stages)
    inventory = write_inventory(tmp_path, [spec])
    verified = run_playbook("verify.yml", inventory, admin_kubeconfig)
    assert verified.rc != 0
    assert f"stale: Namespace {name}-test" in verified.failure(name)
    kept = run_playbook("bootstrap.yml", inventory, admin_kubeconfig, "-e", "labsctl_prune=false")
    assert kept.rc == 0, kept.stdout[-3000:]
    assert _namespaces(k8s, name)[f"{name}-test"] is False
    pruned = run_playbook("bootstrap.yml", inventory, admin_kubeconfig)
    assert pruned.rc == 0, pruned.stdout[-3000:]
    prune_results = [r for task, r in pruned.results(name) if "Prune" in task]
    assert [p["name"] for p in prune_results[0]["pruned"]] == [f"{name}-test"]
    assert wait_for(lambda: f"{name}-test" not in _namespaces(k8s, name), timeout=90)
    assert run_playbook("verify.yml", inventory, admin_kubeconfig).rc == 0

    _teardown_refuses_then_backs_up_and_deletes(tmp_path, name, inventory, admin_kubeconfig, k8s)


def _teardown_refuses_then_backs_up_and_deletes(
    tmp_path: Path, name: str, inventory: Path, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    core = client.CoreV1Api(k8s)
    # Someone's application in a stage: teardown refuses and deletes nothing.
    core.create_namespaced_config_map(
        f"{name}-dev",
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="someones-app"), data={"a": "b"}),
    )
    refused = run_playbook(
        "teardown.yml", inventory, admin_kubeconfig, "-e", f"labsctl_backup_dir={tmp_path}/b"
    )
    assert refused.rc != 0
    assert f"ConfigMap {name}-dev/someones-app" in refused.failure(name)
    assert _namespaces(k8s, name) == {f"{name}-ci-cd": False, f"{name}-dev": False}
    assert not (tmp_path / "b").exists()
    assert _lease(k8s, name) is None  # released on the way out of the failed play
    core.delete_namespaced_config_map("someones-app", f"{name}-dev")

    # Teardown: backed up exactly as `labsctl export` writes the hand-over, then gone.
    exported = subprocess.run(
        [str(LABSCTL), "export", name, "--to", str(tmp_path / "export")],
        env={"LABSCTL_KUBECONFIG": str(admin_kubeconfig), "PATH": str(LABSCTL.parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    torn = run_playbook(
        "teardown.yml", inventory, admin_kubeconfig, "-e", f"labsctl_backup_dir={tmp_path}/b"
    )
    assert torn.rc == 0, torn.stdout[-3000:] + torn.stderr[-3000:]
    assert _namespaces(k8s, name) == {}
    assert _lease(k8s, name) is None
    (backup,) = (tmp_path / "b").iterdir()
    assert backup.name == f"{name}-{dt.datetime.now(dt.UTC).date().isoformat()}"
    export_files = sorted(
        p.relative_to(tmp_path / "export") for p in (tmp_path / "export").rglob("*")
    )
    backup_files = sorted(p.relative_to(backup) for p in backup.rglob("*"))
    assert backup_files == export_files
    for relative in export_files:
        if (tmp_path / "export" / relative).is_file():
            assert (backup / relative).read_bytes() == (tmp_path / "export" / relative).read_bytes()

    # Safe to re-run: nothing left, nothing refused.
    again = run_playbook("teardown.yml", inventory, admin_kubeconfig, "-e", "labsctl_backup_dir=")
    assert again.rc == 0, again.stdout[-3000:]


def test_one_inventory_of_three_fails_only_the_residency_in_trouble_and_finishes_the_others(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    """Every task of the collection runs once for the play's residencies (plugin_utils/
    batch.py): one residency's failure, on the play's first host, must fail that residency
    alone (its roles after it not applied, nothing of it pruned, its lock released) while the
    others are applied, pruned and unlocked as if they had been alone."""
    blocked, second, third = f"{residency_name}-x", residency_name, f"{residency_name}-y"
    core = client.CoreV1Api(k8s)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=f"{blocked}-dev")))
    specs = [write_spec(tmp_path, name) for name in (blocked, second, third)]
    inventory = write_inventory(tmp_path, specs)
    try:
        applied = run_playbook("bootstrap.yml", inventory, admin_kubeconfig)
        assert applied.rc != 0
        assert "is not owned by this residency" in applied.failure(blocked)
        assert applied.stats(blocked)["failures"] == 1
        for name in (second, third):
            assert applied.failure(name) == ""
            assert applied.stats(name)["failures"] == 0
            assert set(_namespaces(k8s, name)) == {f"{name}-{s}" for s in ("ci-cd", "dev", "test")}
            assert core.list_namespaced_resource_quota(f"{name}-dev").items
        # The failed residency: its namespaces role stopped at the namespace in the way, and
        # no later role ran for it.
        assert set(_namespaces(k8s, blocked)) == {f"{blocked}-ci-cd"}
        assert core.list_namespaced_resource_quota(f"{blocked}-ci-cd").items == []
        assert [_lease(k8s, name) for name in (blocked, second, third)] == [None, None, None]

        # A re-run changes nothing for the two that are in sync, and still fails the third.
        again = run_playbook("bootstrap.yml", inventory, admin_kubeconfig)
        assert again.rc != 0
        for name in (second, third):
            assert again.applied(name)
            assert {e["action"] for e in again.applied(name)} == {"unchanged"}
        verified = run_playbook("verify.yml", inventory, admin_kubeconfig)
        assert verified.rc != 0
        assert [verified.stats(name)["failures"] for name in (second, third)] == [0, 0]
    finally:
        core.delete_namespace(f"{blocked}-dev")
        for name in (blocked, third):
            for ns in core.list_namespace(label_selector=naming.owner_selector(name)).items:
                core.delete_namespace(ns.metadata.name)


def test_the_playbooks_read_each_residencys_objects_with_no_ansible_cfg(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path
) -> None:
    """A pipeline that runs the playbooks from elsewhere, without the repository's ansible.cfg:
    the objects file is still read (the vars plugin next to the playbooks), so check mode
    finds every namespace missing and prunes nothing."""
    inventory = write_inventory(tmp_path, [write_spec(tmp_path, residency_name)])
    empty_cfg = tmp_path / "ansible.cfg"
    empty_cfg.write_text("[defaults]\n")
    planned = run_playbook(
        "bootstrap.yml",
        inventory,
        admin_kubeconfig,
        "--check",
        env={"ANSIBLE_CONFIG": str(empty_cfg)},
    )
    assert planned.rc == 0, planned.stdout[-3000:]
    created = {
        (e["kind"], e["name"]) for e in planned.applied(residency_name) if e["action"] == "created"
    }
    assert {("Namespace", f"{residency_name}-{s}") for s in ("ci-cd", "dev", "test")} <= created


def test_without_the_objects_vars_plugin_nothing_is_touched_and_the_error_says_why(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    """Playbooks copied away from `playbooks/vars_plugins`, with no configuration enabling the
    collection's vars plugin: no residency has objects, so none is locked, applied or pruned,
    and each fails with what to do."""
    inventory = write_inventory(tmp_path, [write_spec(tmp_path, residency_name)])
    copied = tmp_path / "playbooks"
    copied.mkdir()
    repo_playbooks = Path(__file__).resolve().parents[2] / "playbooks"
    for playbook in repo_playbooks.glob("*.yml"):
        (copied / playbook.name).write_text(playbook.read_text())
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text(
        "[defaults]\n"
        f"roles_path = {repo_playbooks.parent / 'roles'}\n"
        f"collections_path = {repo_playbooks / 'collections'}\n"
    )
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            str(copied / "bootstrap.yml"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(cfg),
            "K8S_AUTH_KUBECONFIG": str(admin_kubeconfig),
        },
        timeout=300,
        check=False,
    )
    assert completed.returncode != 0
    output = completed.stdout + completed.stderr
    assert f"the objects of residency {residency_name} were not read" in output, output[-3000:]
    assert "labsctl.residency.residency_objects" in output
    assert _namespaces(k8s, residency_name) == {}
    assert _lease(k8s, residency_name) is None
