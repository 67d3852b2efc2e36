"""`labsctl sandbox` for a new user: up is idempotent and detached, down leaves nothing behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.playbooks import REPO

pytestmark = pytest.mark.integration


def sandbox(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABSCTL_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "labsctl", "sandbox", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sandbox_up_is_idempotent_and_down_leaves_no_process_or_port(tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = sandbox(state, "up", "--flavour", "tekton-argocd")
    assert up.returncode == 0, up.stderr
    kubeconfig = up.stdout.strip().splitlines()[-1]
    assert Path(kubeconfig).is_file()
    try:
        again = sandbox(state, "up", "--flavour", "tekton-argocd")
        assert again.returncode == 0
        assert again.stdout.strip().splitlines()[-1] == kubeconfig
        other = sandbox(state, "up", "--flavour", "openshift")
        assert other.returncode == 4
        assert "already runs with flavour tekton-argocd" in other.stderr
        status = json.loads(sandbox(state, "status", "-o", "json").stdout)
        assert status["healthy"] is True
        assert sandbox(state, "kubeconfig").stdout.strip().splitlines()[-1] == kubeconfig
        pids = dict(status["processes"])
        saved = json.loads((state / "sandbox" / "state.json").read_text())
        ports = [saved["api_port"], saved["etcd_port"]]
        assert all(_listening(port) for port in ports)
    finally:
        down = sandbox(state, "down")
    assert down.returncode == 0
    assert pids
    for pid in json.loads(json.dumps(saved["pids"])).values():
        assert not Path(f"/proc/{pid}").exists() or ") Z " in Path(f"/proc/{pid}/stat").read_text()
    assert not any(_listening(port) for port in ports)
    assert not Path(saved["etcd_data"]).exists()
    stopped = sandbox(state, "status")
    assert stopped.returncode == 3
