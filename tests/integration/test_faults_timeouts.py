"""No command hangs on an unresponsive API server: with a listener that accepts connections and
never answers, or with the real API server frozen (SIGSTOP) after a residency was applied, every
command ends within its bound with exit 3 and a message naming the server and what timed out;
the collection's modules (the Ansible-only path) end within theirs too, whether the timeout comes
from an inventory variable or from the environment.

The bound: one call waits at most 3 x --request-timeout (three attempts, 2 s each here, with
0.5 s and 1 s between them, all within the deadline); a command ends at its first call that gets
no answer, after its start-up (Python imports, loading and rendering specs: about 1.5-3 s alone,
more on a busy machine). pytest-timeout is the backstop for a test whose command hangs."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from labsctl import naming
from labsctl.sandbox.build import ensure_binaries
from labsctl.sandbox.controlplane import ControlPlane
from labsctl.sandbox.service import install_flavour
from tests.conftest import api_client
from tests.integration.playbooks import REPO, run_playbook, write_inventory, write_spec

pytestmark = pytest.mark.integration

REQUEST_TIMEOUT = 2.0
CALL_DEADLINE = 3 * REQUEST_TIMEOUT
START_UP = 12.0  # generous: two shared CPUs (measured: 2-4.5 s)
BOUND = CALL_DEADLINE + START_UP
HANG = 120  # seconds after which a command counts as hanging (far above any bound)
_CLUSTER_ENV = ("KUBECONFIG", "LABSCTL_KUBECONFIG", "LABSCTL_CONTEXT", "LABSCTL_SANDBOX")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float


def _labsctl_command(
    args: tuple[str | Path, ...], kubeconfig: Path, request_timeout: float
) -> tuple[list[str], dict[str, str]]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in _CLUSTER_ENV and not k.startswith(("K8S_", "LABSCTL_REQUEST"))
    }
    environment.update({"LABSCTL_KUBECONFIG": str(kubeconfig), "LABSCTL_LOCK_TIMEOUT": "30"})
    command = [sys.executable, "-m", "labsctl", *map(str, args)]
    return [*command, "--request-timeout", f"{request_timeout:g}s"], environment


def labsctl(*args: str | Path, kubeconfig: Path, request_timeout: float = REQUEST_TIMEOUT) -> Run:
    command, environment = _labsctl_command(args, kubeconfig, request_timeout)
    started = time.monotonic()
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        timeout=HANG,
        check=False,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr, time.monotonic() - started)


def _frozen_while_running(
    plane: ControlPlane, args: tuple[str | Path, ...], started_work: Callable[[], bool]
) -> Run:
    """labsctl started with `args`, the API server frozen (SIGSTOP) once `started_work()` says
    the command is in the middle of its work; the run, timed from the freeze to its end. The
    server goes on (SIGCONT) when labsctl has ended."""
    assert plane.state is not None
    command, environment = _labsctl_command(args, plane.admin_kubeconfig, REQUEST_TIMEOUT)
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=REPO,
    )
    apiserver = plane.state.pids["kube-apiserver"]
    try:
        deadline = time.monotonic() + HANG
        while not started_work():
            assert process.poll() is None, "the command ended before the API server was frozen"
            assert time.monotonic() < deadline, "the command never started its work"
            time.sleep(0.05)
        os.kill(apiserver, signal.SIGSTOP)
        frozen = time.monotonic()
        stdout, stderr = process.communicate(timeout=HANG)
        return Run(process.returncode, stdout, stderr, time.monotonic() - frozen)
    finally:
        os.kill(apiserver, signal.SIGCONT)
        process.kill()


class SilentServer:
    """A TCP listener on 127.0.0.1 that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.socket.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:  # closed
                return
            self.held.append(connection)  # kept open, never answered

    def close(self) -> None:
        self.socket.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def silent_server(tmp_path: Path) -> Iterator[tuple[SilentServer, Path]]:
    server = SilentServer()
    kubeconfig = tmp_path / "silent.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "silent",
                        "cluster": {"server": server.address, "insecure-skip-tls-verify": True},
                    }
                ],
                "users": [{"name": "someone", "user": {"token": "not-a-secret"}}],
                "contexts": [
                    {"name": "silent", "context": {"cluster": "silent", "user": "someone"}}
                ],
                "current-context": "silent",
            }
        )
    )
    kubeconfig.chmod(0o600)
    try:
        yield server, kubeconfig
    finally:
        server.close()


def _commands(spec: Path, name: str, export_to: Path) -> dict[str, list[str | Path]]:
    return {
        "status --all": ["status", "--all"],
        "status SPEC": ["status", spec],
        "export": ["export", name, "--to", export_to],
        "teardown": ["teardown", name, "--yes"],
        "apply": ["apply", spec],
        "plan": ["plan", spec],
    }


COMMANDS = ["status --all", "status SPEC", "export", "teardown", "apply", "plan"]


def _assert_unreachable_in_time(run: Run, address: str) -> None:
    assert run.code == 3, run.stderr
    assert run.seconds < BOUND, f"took {run.seconds:.1f}s, bound {BOUND:.0f}s: {run.stderr}"
    assert f"the API server at {address} did not answer" in run.stderr
    assert f"none answered within the request timeout of {REQUEST_TIMEOUT:g}s" in run.stderr


@pytest.mark.timeout(HANG + 30)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_ends_with_exit_3_on_a_server_that_never_answers(
    silent_server: tuple[SilentServer, Path], tmp_path: Path, command: str
) -> None:
    server, kubeconfig = silent_server
    spec = write_spec(tmp_path, "silent")
    run = labsctl(*_commands(spec, "silent", tmp_path / "export")[command], kubeconfig=kubeconfig)
    _assert_unreachable_in_time(run, server.address)
    assert not (tmp_path / "export").exists()


@pytest.mark.timeout(HANG + 30)
@pytest.mark.parametrize("source", ["inventory variable", "environment"])
def test_the_modules_end_on_a_server_that_never_answers(
    silent_server: tuple[SilentServer, Path], tmp_path: Path, source: str
) -> None:
    """The Ansible-only path: plain ansible-playbook, the timeout from
    labsctl_request_timeout (module_defaults) or from LABSCTL_REQUEST_TIMEOUT; 1 s here, so a
    request ends within 3 s and the default (30 s, 90 s a request) would break the bound."""
    server, kubeconfig = silent_server
    inventory = write_inventory(tmp_path, [write_spec(tmp_path, "silent")])
    if source == "environment":
        args: tuple[str, ...] = ()
        env = {"LABSCTL_REQUEST_TIMEOUT": "1s"}
    else:
        args = ("-e", "labsctl_request_timeout=1s")
        env = {"LABSCTL_REQUEST_TIMEOUT": "10m"}  # the variable wins over the environment
    started = time.monotonic()
    run = run_playbook("bootstrap.yml", inventory, kubeconfig, *args, env=env)
    seconds = time.monotonic() - started
    assert run.rc != 0
    assert seconds < 3 * 1.0 + 15, f"took {seconds:.1f}s"
    # The first request is the lock's (the Lease's namespace), then discovery's GET /version.
    assert re.search(
        rf"the API server at {re.escape(server.address)} did not answer: (POST|GET) /", run.stdout
    ), run.stdout[-2000:]
    assert "none answered within the request timeout of 1s" in run.stdout


# -- the real API server, frozen ------------------------------------------------------------


@dataclass
class Frozen:
    plane: ControlPlane
    name: str
    spec: Path


@pytest.fixture(scope="module")
def applied_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Frozen]:
    """A control plane of its own (freezing the shared one would stall every other test), with
    one residency applied."""
    binaries = ensure_binaries()
    plane = ControlPlane(tmp_path_factory.mktemp("frozen") / "cp", "kubernetes", binaries=binaries)
    plane.start()
    try:
        install_flavour(plane, binaries)
        directory = tmp_path_factory.mktemp("frozen-spec")
        spec = write_spec(directory, "frozen")
        applied = labsctl("apply", spec, kubeconfig=plane.admin_kubeconfig, request_timeout=30)
        assert applied.code == 0, applied.stderr
        yield Frozen(plane, "frozen", spec)
    finally:
        plane.stop()


def _namespaces(plane: ControlPlane, residency: str) -> dict[str, str]:
    core = client.CoreV1Api(api_client(plane.admin_kubeconfig))
    return {
        ns.metadata.name: ns.status.phase
        for ns in core.list_namespace(label_selector=naming.owner_selector(residency)).items
    }


@pytest.mark.timeout(len(COMMANDS) * HANG + 60)
def test_every_command_ends_with_exit_3_while_the_api_server_is_frozen(
    applied_plane: Frozen, tmp_path: Path
) -> None:
    plane, name, spec = applied_plane.plane, applied_plane.name, applied_plane.spec
    assert plane.state is not None
    before = _namespaces(plane, name)
    assert before and set(before.values()) == {"Active"}
    commands = _commands(spec, name, tmp_path / "export")
    apiserver = plane.state.pids["kube-apiserver"]
    runs: dict[str, Run] = {}
    os.kill(apiserver, signal.SIGSTOP)
    try:
        for command in COMMANDS:
            runs[command] = labsctl(*commands[command], kubeconfig=plane.admin_kubeconfig)
    finally:
        os.kill(apiserver, signal.SIGCONT)
    for command, run in runs.items():
        print(f"{command}: exit {run.code} in {run.seconds:.1f}s")  # the measured time to fail
        _assert_unreachable_in_time(run, plane.state.server)
    # Nothing was half-done: the residency is as it was, and the commands work again.
    assert _namespaces(plane, name) == before
    after = labsctl("status", spec, kubeconfig=plane.admin_kubeconfig, request_timeout=30)
    assert after.code == 0, after.stderr


# Frozen mid-run, a command may meet the frozen server several times on its way out (the task in
# flight, recording the apply, releasing the lock): each is one call deadline at most.
MID_RUN_BOUND = 4 * CALL_DEADLINE + START_UP


def test_an_api_server_frozen_mid_apply_ends_it_with_exit_3_and_the_rerun_converges(
    applied_plane: Frozen, tmp_path: Path
) -> None:
    plane, name = applied_plane.plane, applied_plane.name
    stages = ["ci-cd", "dev", "test", "extra"]  # the spec applied, and one stage more

    def with_extra_stage(data: dict[str, Any]) -> None:
        data["spec"]["stages"] = [{"name": stage} for stage in stages]

    spec = write_spec(tmp_path, name, mutate=with_extra_stage)
    run = _frozen_while_running(
        plane, ("apply", spec), lambda: f"{name}-extra" in _namespaces(plane, name)
    )
    print(f"frozen mid-apply: exit {run.code} {run.seconds:.1f}s after the freeze")
    assert run.code == 3, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.seconds < MID_RUN_BOUND, f"took {run.seconds:.1f}s: {run.stderr[-2000:]}"
    assert "Traceback" not in run.stderr
    rerun = labsctl("apply", spec, kubeconfig=plane.admin_kubeconfig, request_timeout=30)
    assert rerun.code == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    plan = labsctl("plan", spec, kubeconfig=plane.admin_kubeconfig, request_timeout=30)
    assert plan.code == 0, plan.stdout[-2000:]
    assert set(_namespaces(plane, name)) == {f"{name}-{s}" for s in stages}


def test_an_api_server_frozen_mid_teardown_ends_it_with_exit_3_and_the_rerun_converges(
    applied_plane: Frozen, tmp_path: Path
) -> None:
    plane, name = applied_plane.plane, applied_plane.name
    assert _namespaces(plane, name)

    def deleting() -> bool:
        return "Terminating" in _namespaces(plane, name).values()

    teardown = ("teardown", name, "--yes", "--no-backup")
    run = _frozen_while_running(plane, teardown, deleting)
    print(f"frozen mid-teardown: exit {run.code} {run.seconds:.1f}s after the freeze")
    assert run.code == 3, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.seconds < MID_RUN_BOUND, f"took {run.seconds:.1f}s: {run.stderr[-2000:]}"
    assert "Traceback" not in run.stderr
    rerun = labsctl(
        *teardown, "--ignore-not-found", kubeconfig=plane.admin_kubeconfig, request_timeout=30
    )
    assert rerun.code == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert _namespaces(plane, name) == {}
