"""`labsctl apply | plan | status` as a pipeline runs them: real cluster, real exit codes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes import client, config

from labsctl import naming
from labsctl.lock import LOCK_NAMESPACE
from tests.integration.playbooks import REPO, write_spec

pytestmark = pytest.mark.integration
SCHEMAS = REPO / "docs" / "schemas"


def labsctl(
    *args: str, kubeconfig: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LABSCTL_LOCK_TIMEOUT": "30", **(env or {})}
    environment.pop("KUBECONFIG", None)
    if kubeconfig is not None:
        environment["LABSCTL_KUBECONFIG"] = str(kubeconfig)
    return subprocess.run(
        [sys.executable, "-m", "labsctl", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        timeout=600,
        check=False,
    )


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


def _json(run: subprocess.CompletedProcess[str], schema: str) -> dict[str, Any]:
    data = json.loads(run.stdout)
    jsonschema.validate(data, _schema(schema), format_checker=jsonschema.FormatChecker())
    return data


def test_plan_is_clean_after_apply_and_names_a_hand_deleted_rolebinding(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    spec = str(write_spec(tmp_path, residency_name))
    applied = labsctl("apply", spec, "-o", "json", kubeconfig=admin_kubeconfig)
    assert applied.returncode == 0, applied.stderr
    result = _json(applied, "apply-result.schema.json")
    assert result["residencies"][0]["counts"]["created"] > 10
    assert labsctl("plan", spec, kubeconfig=admin_kubeconfig).returncode == 0

    client.RbacAuthorizationV1Api(k8s).delete_namespaced_role_binding(
        "team-edit", f"{residency_name}-dev"
    )
    drift = labsctl("plan", spec, kubeconfig=admin_kubeconfig)
    assert drift.returncode == 6
    assert f"created  RoleBinding {residency_name}-dev/team-edit" in drift.stdout
    planned = _json(
        labsctl("diff", spec, "-o", "json", kubeconfig=admin_kubeconfig), "apply-result.schema.json"
    )
    assert planned["kind"] == "PlanResult"
    assert [(c["action"], c["kind"], c["name"]) for c in planned["residencies"][0]["changes"]] == [
        ("created", "RoleBinding", "team-edit")
    ]

    healed = labsctl("apply", spec, kubeconfig=admin_kubeconfig)
    assert healed.returncode == 0
    assert labsctl("plan", spec, kubeconfig=admin_kubeconfig).returncode == 0
    again = _json(
        labsctl("apply", spec, "-o", "json", kubeconfig=admin_kubeconfig),
        "apply-result.schema.json",
    )
    assert again["inSync"] is True


def test_removing_a_stage_prunes_its_namespace_and_nothing_else(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    spec = write_spec(tmp_path, residency_name)
    assert labsctl("apply", str(spec), kubeconfig=admin_kubeconfig).returncode == 0
    data = yaml.safe_load(spec.read_text())
    data["spec"]["stages"] = [{"name": "ci-cd"}, {"name": "dev"}]
    spec.write_text(yaml.safe_dump(data, sort_keys=False))

    plan = _json(
        labsctl("plan", str(spec), "-o", "json", kubeconfig=admin_kubeconfig),
        "apply-result.schema.json",
    )
    changes = {(c["action"], c["kind"], c["name"]) for c in plan["residencies"][0]["changes"]}
    # The namespace goes (its contents with it); the objects that named the stage change.
    assert changes == {
        ("pruned", "Namespace", f"{residency_name}-test"),
        ("changed", "Task", "deploy-image"),  # the stages it may deploy to
        ("changed", "RoleBinding", "image-pullers"),  # pulling from ci-cd
    }
    core = client.CoreV1Api(k8s)
    stale = f"{residency_name}-test"

    kept = labsctl("apply", str(spec), "--no-prune", "-o", "json", kubeconfig=admin_kubeconfig)
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["residencies"][0]["counts"]["pruned"] == 0
    # The namespace the spec no longer asks for is still there, untouched.
    survivor = core.read_namespace(stale)
    assert survivor.metadata.deletion_timestamp is None
    assert survivor.status.phase == "Active"

    pruned = _json(
        labsctl("apply", str(spec), "-o", "json", kubeconfig=admin_kubeconfig),
        "apply-result.schema.json",
    )
    assert pruned["residencies"][0]["counts"]["pruned"] == 1
    remaining = {
        n.metadata.name: n.status.phase
        for n in core.list_namespace(label_selector=naming.owner_selector(residency_name)).items
    }
    assert remaining.get(f"{residency_name}-ci-cd") == "Active"
    assert remaining.get(f"{residency_name}-dev") == "Active"
    assert remaining.get(stale) in (None, "Terminating")


def _hold_lock(k8s: client.ApiClient, residency: str, holder: str, renewed: dt.datetime) -> None:
    core = client.CoreV1Api(k8s)
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=LOCK_NAMESPACE)))
    except client.ApiException as exc:
        assert exc.status == 409
    client.CoordinationV1Api(k8s).create_namespaced_lease(
        LOCK_NAMESPACE,
        client.V1Lease(
            metadata=client.V1ObjectMeta(name=f"labsctl-{residency}"),
            spec=client.V1LeaseSpec(
                holder_identity=holder,
                lease_duration_seconds=600,
                acquire_time=renewed,
                renew_time=renewed,
            ),
        ),
    )


def test_an_apply_waits_for_the_lock_then_exits_4_naming_its_holder(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    spec = str(write_spec(tmp_path, residency_name))
    _hold_lock(k8s, residency_name, "alice@ci pid 42 (apply)", dt.datetime.now(dt.UTC))
    try:
        blocked = labsctl("apply", spec, "--lock-timeout", "2", kubeconfig=admin_kubeconfig)
        assert blocked.returncode == 4
        assert f"residency {residency_name} is locked by alice@ci pid 42 (apply)" in blocked.stderr
        assert "Traceback" not in blocked.stderr
        assert (
            client.CoreV1Api(k8s)
            .list_namespace(label_selector=naming.owner_selector(residency_name))
            .items
            == []
        )
    finally:
        client.CoordinationV1Api(k8s).delete_namespaced_lease(
            f"labsctl-{residency_name}", LOCK_NAMESPACE
        )


def test_a_stale_lock_is_taken_over(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    spec = str(write_spec(tmp_path, residency_name))
    _hold_lock(k8s, residency_name, "crashed", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    run = labsctl("apply", spec, "--lock-timeout", "2", kubeconfig=admin_kubeconfig)
    assert run.returncode == 0, run.stderr
    leases = client.CoordinationV1Api(k8s).list_namespaced_lease(LOCK_NAMESPACE).items
    assert f"labsctl-{residency_name}" not in {lease.metadata.name for lease in leases}


def test_two_concurrent_applies_of_one_residency_never_overlap(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path
) -> None:
    spec = str(write_spec(tmp_path, residency_name))
    results: list[subprocess.CompletedProcess[str]] = []

    def run() -> None:
        results.append(
            labsctl(
                "apply", spec, "-o", "json", "--lock-timeout", "120", kubeconfig=admin_kubeconfig
            )
        )

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.returncode for r in results) == [0, 0], [r.stderr for r in results]
    created = sorted(json.loads(r.stdout)["residencies"][0]["counts"]["created"] for r in results)
    # The second ran after the first released the lock: it found everything in place.
    assert created[0] == 0
    assert created[1] > 10


def test_apply_of_two_residencies_in_one_run(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path
) -> None:
    other = f"{residency_name}-b"
    specs = [str(write_spec(tmp_path, residency_name)), str(write_spec(tmp_path, other))]
    try:
        result = _json(
            labsctl("apply", *specs, "-o", "json", kubeconfig=admin_kubeconfig),
            "apply-result.schema.json",
        )
        assert sorted(r["name"] for r in result["residencies"]) == sorted([residency_name, other])
        assert all(r["ok"] and r["counts"]["created"] > 10 for r in result["residencies"])
    finally:
        inventory = tmp_path / "teardown"
        labsctl("render", specs[1], "--output-dir", str(inventory))
        subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                str(inventory / other),
                str(REPO / "playbooks" / "teardown.yml"),
            ],
            env={**os.environ, "K8S_AUTH_KUBECONFIG": str(admin_kubeconfig)},
            capture_output=True,
            check=False,
            cwd=REPO,
        )


def test_status_reports_phase_and_days_left_for_past_present_and_future(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path
) -> None:
    today = dt.date.today()
    cases = {
        f"{residency_name}": (
            today - dt.timedelta(days=90),
            today - dt.timedelta(days=60),
            today - dt.timedelta(days=30),
        ),
        f"{residency_name}-now": (
            today - dt.timedelta(days=10),
            today + dt.timedelta(days=40),
            None,
        ),
        f"{residency_name}-soon": (
            today + dt.timedelta(days=10),
            today + dt.timedelta(days=60),
            None,
        ),
    }
    specs = []
    for name, (start, end, archive) in cases.items():

        def dates(
            data: dict[str, Any], s: dt.date = start, e: dt.date = end, a: dt.date | None = archive
        ) -> None:
            data["spec"]["dates"] = {
                "start": s.isoformat(),
                "end": e.isoformat(),
                **({"archive": a.isoformat()} if a else {}),
            }

        specs.append(str(write_spec(tmp_path, name, mutate=dates)))
    try:
        assert labsctl("apply", *specs, kubeconfig=admin_kubeconfig).returncode == 0
        report = _json(
            labsctl("status", "--all", "-o", "json", kubeconfig=admin_kubeconfig),
            "status-report.schema.json",
        )
        found = {r["name"]: r for r in report["residencies"]}
        assert (found[residency_name]["phase"], found[residency_name]["daysLeft"]) == (
            "expired",
            -60,
        )
        assert (
            found[f"{residency_name}-now"]["phase"],
            found[f"{residency_name}-now"]["daysLeft"],
        ) == ("active", 41)
        assert found[f"{residency_name}-soon"]["phase"] == "upcoming"
        assert found[f"{residency_name}-now"]["members"] == 3
        assert found[f"{residency_name}-now"]["healthy"] is True
        ends = [r["end"] for r in report["residencies"]]
        assert ends == sorted(ends)
        one = _json(
            labsctl("status", specs[1], "-o", "json", kubeconfig=admin_kubeconfig),
            "status-report.schema.json",
        )
        assert [(r["name"], r["inSync"]) for r in one["residencies"]] == [
            (f"{residency_name}-now", True)
        ]
    finally:
        for name in list(cases)[1:]:
            client_core = client.CoreV1Api(_client(admin_kubeconfig))
            for ns in client_core.list_namespace(label_selector=naming.owner_selector(name)).items:
                client_core.delete_namespace(ns.metadata.name)


def _client(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


def test_cluster_errors_give_exit_3_with_one_clear_line_and_no_traceback(
    tmp_path: Path, residency_name: str, limited_kubeconfig: Path
) -> None:
    spec = str(write_spec(tmp_path, residency_name))
    missing = labsctl("apply", spec, "--kubeconfig", str(tmp_path / "nope"))
    assert missing.returncode == 3
    assert "does not exist" in missing.stderr

    unreachable_config = yaml.safe_load(limited_kubeconfig.read_text())
    unreachable_config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    unreachable = tmp_path / "unreachable.kubeconfig"
    unreachable.write_text(yaml.safe_dump(unreachable_config))
    down = labsctl("apply", spec, kubeconfig=unreachable)
    assert down.returncode == 3
    assert "cannot reach the API server at https://127.0.0.1:1" in down.stderr

    forbidden = labsctl("apply", spec, kubeconfig=limited_kubeconfig)
    assert forbidden.returncode == 3
    assert "forbidden" in forbidden.stderr
    assert "labsctl rbac" in forbidden.stderr

    for run in (missing, down, forbidden):
        assert "Traceback" not in run.stderr
        assert run.stderr.count("error:") == 1


def test_invalid_spec_exits_2_before_touching_the_cluster(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: labsctl.dev/v1alpha1\nkind: Residency\n")
    run = labsctl("apply", str(bad), "--kubeconfig", str(tmp_path / "never-read"))
    assert run.returncode == 2
    assert "missing required field 'metadata'" in run.stderr


def test_a_failed_residency_is_named_with_its_role_and_object_and_the_others_stay_applied(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    blocked = f"{residency_name}-x"
    core = client.CoreV1Api(k8s)
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=f"{blocked}-dev"))
    )  # not ours: bootstrap must refuse it
    specs = [str(write_spec(tmp_path, residency_name)), str(write_spec(tmp_path, blocked))]
    try:
        run = labsctl("apply", *specs, "-o", "json", kubeconfig=admin_kubeconfig)
        assert run.returncode == 4  # its only failure: an object that is not ours in the way
        result = _json(run, "apply-result.schema.json")
        by_name = {r["name"]: r for r in result["residencies"]}
        assert by_name[residency_name]["ok"] is True
        assert by_name[residency_name]["counts"]["created"] > 10
        failure = by_name[blocked]["failures"][0]
        assert failure["role"] == "namespaces"
        assert failure["object"] == f"Namespace {blocked}-dev"
        assert "is not owned by this residency" in failure["message"]
        assert len(_namespaces(k8s, residency_name)) == 3
        assert "Traceback" not in run.stderr
    finally:
        core.delete_namespace(f"{blocked}-dev")
        for ns in core.list_namespace(label_selector=naming.owner_selector(blocked)).items:
            core.delete_namespace(ns.metadata.name)


def _namespaces(k8s: client.ApiClient, residency: str) -> list[str]:
    return [
        n.metadata.name
        for n in client.CoreV1Api(k8s)
        .list_namespace(label_selector=naming.owner_selector(residency))
        .items
    ]
