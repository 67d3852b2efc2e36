"""`labsctl apply` stopped inside its Ansible phase: by SIGINT from a terminal, SIGTERM from a
container runtime, SIGKILL, or the OOM killer taking ansible-playbook. It ends in bounded time
with the documented exit code, releases its lock, prunes nothing, reports what it applied,
leaves no secret value on disk, and a re-run converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from labsctl import naming
from tests.conftest import lease_exists, wait_for
from tests.integration.playbooks import REPO, secret_env, write_spec
from tests.integration.test_cli_lifecycle import labsctl

pytestmark = pytest.mark.integration

EXIT_BOUND = 30.0  # seconds from the signal to labsctl's exit
EXTRA_STAGE = "extra"


def _environment(kubeconfig: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    environment = {**os.environ, "LABSCTL_LOCK_TIMEOUT": "30", **(extra or {})}
    environment.pop("KUBECONFIG", None)
    environment["LABSCTL_KUBECONFIG"] = str(kubeconfig)
    return environment


def _start(
    spec: Path, kubeconfig: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """`labsctl apply SPEC` in a session of its own, as a terminal or a runtime starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "labsctl", "apply", str(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(kubeconfig, env),
        cwd=REPO,
        start_new_session=True,
    )


def _extra_stage_only(data: dict[str, Any]) -> None:
    data["spec"]["stages"] = [{"name": "ci-cd"}, {"name": EXTRA_STAGE}]


def _applied_with_a_stage_to_prune(
    directory: Path, name: str, kubeconfig: Path, example: str = "small-team"
) -> Path:
    """The residency applied with stages ci-cd and extra, its spec now asking for ci-cd, dev and
    test: an apply that finishes creates `<name>-dev` and prunes `<name>-extra`, one that was
    stopped must not prune."""
    applied = labsctl(
        "apply", str(write_spec(directory, name, example, _extra_stage_only)), kubeconfig=kubeconfig
    )
    assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr[-2000:]
    return write_spec(directory, name, example)


def _namespaces(k8s: client.ApiClient, name: str) -> dict[str, bool]:
    """The residency's namespaces, each with whether it is being deleted."""
    listed = client.CoreV1Api(k8s).list_namespace(label_selector=naming.owner_selector(name))
    return {ns.metadata.name: ns.metadata.deletion_timestamp is not None for ns in listed.items}


def _wait_inside_the_ansible_phase(
    process: subprocess.Popen[str], k8s: client.ApiClient, name: str
) -> None:
    """Until the apply has created its first namespace (`<name>-dev`) and then a quota in it
    (the namespaces task has ended, so its objects are reported), with the rest of the playbook
    still to run."""
    core = client.CoreV1Api(k8s)
    first = f"{name}-dev"

    def quota_created() -> bool:
        assert process.poll() is None, "the apply ended before it could be stopped"
        if first not in _namespaces(k8s, name):
            return False
        return bool(core.list_namespaced_resource_quota(first).items)

    assert wait_for(quota_created, timeout=180, interval=0.05)


def _stop(process: subprocess.Popen[str], send: Any) -> tuple[float, str, str]:
    """Send the signal (`send()`), then the seconds until labsctl exited, and its output."""
    sent = time.monotonic()
    send()
    stdout, stderr = process.communicate(timeout=EXIT_BOUND + 30)
    took = time.monotonic() - sent
    print(f"labsctl exited {took:.2f}s after the signal, code {process.returncode}")
    return took, stdout, stderr


def _assert_stopped_without_pruning(
    k8s: client.ApiClient, name: str, stdout: str, stderr: str
) -> None:
    assert "Traceback" not in stderr, stderr[-3000:]
    assert _namespaces(k8s, name).get(f"{name}-{EXTRA_STAGE}") is False, "pruned"
    assert "pruned" not in "\n".join(line for line in stdout.splitlines() if "Namespace" in line)


def _assert_rerun_converges(spec: Path, kubeconfig: Path, k8s: client.ApiClient, name: str) -> None:
    """The next apply takes the lock at once (no waiting allowed), finishes the work and prunes
    the stage; `plan` then finds nothing to do."""
    rerun = labsctl("apply", str(spec), kubeconfig=kubeconfig, env={"LABSCTL_LOCK_TIMEOUT": "0"})
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert "waiting" not in rerun.stderr
    assert f"pruned  Namespace {name}-{EXTRA_STAGE}" in rerun.stdout
    plan = labsctl("plan", str(spec), kubeconfig=kubeconfig)
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr[-2000:]


def test_ctrl_c_to_the_group_mid_ansible_exits_130_unlocked_unpruned_and_rerun_converges(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    """A terminal sends SIGINT to the whole foreground group (ansible-playbook has a session of
    its own and does not get it)."""
    _interrupt_mid_apply(
        tmp_path, residency_name, admin_kubeconfig, k8s, signal.SIGINT, to_group=True
    )


def test_sigterm_to_the_process_mid_ansible_exits_143_unlocked_unpruned_and_rerun_converges(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    """A container runtime or a CI runner sends SIGTERM to labsctl alone."""
    _interrupt_mid_apply(
        tmp_path, residency_name, admin_kubeconfig, k8s, signal.SIGTERM, to_group=False
    )


def _interrupt_mid_apply(
    directory: Path,
    name: str,
    kubeconfig: Path,
    k8s: client.ApiClient,
    signum: signal.Signals,
    *,
    to_group: bool,
) -> None:
    spec = _applied_with_a_stage_to_prune(directory, name, kubeconfig)
    process = _start(spec, kubeconfig)
    _wait_inside_the_ansible_phase(process, k8s, name)

    def send() -> None:
        if to_group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)

    took, stdout, stderr = _stop(process, send)

    assert process.returncode == 128 + signum, stdout[-2000:] + stderr[-2000:]
    assert took < EXIT_BOUND, f"exited {took:.1f}s after {signum.name}"
    assert f"interrupted by {signum.name} during the Ansible run" in stderr, stdout + stderr
    assert "and 0 pruned" in stderr
    assert f"created  Namespace {name}-dev" in stdout  # what it had applied
    assert not lease_exists(k8s, name)
    _assert_stopped_without_pruning(k8s, name, stdout, stderr)
    _assert_rerun_converges(spec, kubeconfig, k8s, name)


def test_a_killed_ansible_playbook_fails_the_apply_with_exit_5_and_prunes_nothing(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    spec = _applied_with_a_stage_to_prune(tmp_path, residency_name, admin_kubeconfig)
    process = _start(spec, admin_kubeconfig)
    _wait_inside_the_ansible_phase(process, k8s, residency_name)

    took, stdout, stderr = _stop(
        process, lambda: os.kill(_ansible_playbook_of(process.pid), signal.SIGKILL)
    )

    assert process.returncode == 5, stdout[-2000:] + stderr[-2000:]
    assert took < EXIT_BOUND
    assert "ansible-playbook was killed by a signal before it finished" in stdout
    assert f"the run failed for {residency_name}" in stderr
    assert not lease_exists(k8s, residency_name)
    _assert_stopped_without_pruning(k8s, residency_name, stdout, stderr)
    _assert_rerun_converges(spec, admin_kubeconfig, k8s, residency_name)


def test_after_sigkill_mid_apply_nothing_runs_on_and_no_secret_value_is_left_on_disk(
    tmp_path: Path, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    """SIGKILL (or the OOM killer) gives labsctl no chance to stop ansible-playbook: it and its
    workers stop by themselves within a second, so the re-run (which takes the dead holder's
    lock at once) is never raced by them."""
    token = f"never-on-disk-{residency_name}-7f3a"
    temp = tmp_path / "tmp"
    temp.mkdir()
    spec = write_spec(tmp_path, residency_name, "openshift-platform")
    env = {secret_env(residency_name, "GIT_TOKEN"): token, "TMPDIR": str(temp)}
    process = _start(spec, admin_kubeconfig, env)
    assert wait_for(lambda: bool(_namespaces(k8s, residency_name)), timeout=180, interval=0.05)
    assert _working_in(temp), "no ansible-playbook at work"

    killed = time.monotonic()
    process.kill()
    process.communicate(timeout=30)
    assert wait_for(lambda: not _working_in(temp), timeout=5, interval=0.05), _working_in(temp)
    print(f"ansible-playbook and its workers gone {time.monotonic() - killed:.2f}s after")

    left = list(temp.rglob("*"))
    holding = [p for p in left if p.is_file() and token.encode() in p.read_bytes()]
    assert holding == [], holding
    runs = [p for p in temp.iterdir() if p.name.startswith("labsctl-run-")]
    assert len(runs) == 1 and runs[0].stat().st_mode & 0o777 == 0o700
    rerun = labsctl(
        "apply", str(spec), kubeconfig=admin_kubeconfig, env={**env, "LABSCTL_LOCK_TIMEOUT": "0"}
    )
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    plan = labsctl("plan", str(spec), kubeconfig=admin_kubeconfig, env=env)
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr[-2000:]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _ansible_playbook_of(pid: int) -> int:
    """labsctl's ansible-playbook child (not one of its workers), found in /proc."""
    for child in _children(pid):
        if b"ansible-playbook" in Path(f"/proc/{child}/cmdline").read_bytes():
            return child
    raise AssertionError(f"labsctl (pid {pid}) runs no ansible-playbook")


def _working_in(directory: Path) -> list[str]:
    """The processes of a run whose private directory is in `directory`, and their sessions
    (module processes work in the playbook's directory)."""
    sessions, found = set(), {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cwd = (entry / "cwd").readlink()
            session = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3])
            found[entry.name] = (session, cwd, (entry / "cmdline").read_bytes()[:100])
        except (OSError, ValueError, IndexError):
            continue
        if directory in cwd.parents:
            sessions.add(session)
    return [f"{pid} {cmd!r}" for pid, (session, cwd, cmd) in found.items() if session in sessions]
