"""Run a real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

As controller-runtime's envtest and kwok do: everything on 127.0.0.1 with free ports, etcd's data
on tmpfs, one CA for serving and client certificates, RBAC authorisation, and the controllers
labsctl depends on (namespace finalisation, garbage collection, service accounts and their
tokens, quota status, ClusterRole aggregation, the root CA ConfigMap). Each process runs in its
own session and is stopped as a group; `stop` leaves no process, port or temporary directory.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labsctl.errors import SandboxError
from labsctl.sandbox import pki
from labsctl.sandbox.build import Binaries, ensure_binaries

FLAVOURS = ("kubernetes", "tekton-argocd", "openshift")
CRD_SETS = {
    "kubernetes": (),
    "tekton-argocd": ("tekton", "argocd"),
    "openshift": ("tekton", "argocd", "openshift"),
}
CONTROLLERS = (
    "serviceaccount-token-controller",
    "serviceaccount-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "resourcequota-controller",
    "clusterrole-aggregation-controller",
    "root-ca-certificate-publisher-controller",
)
CONTEXT = "labsctl-sandbox"
START_ATTEMPTS = 3
READY_TIMEOUT = 120.0
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class RunState:
    """What a running control plane is made of; saved as JSON so another process can stop it."""

    directory: str
    flavour: str
    api_port: int
    etcd_port: int
    etcd_data: str
    pids: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"


class ControlPlane:
    """One control plane in `directory` (certificates, kubeconfigs, logs)."""

    def __init__(
        self,
        directory: Path,
        flavour: str = "kubernetes",
        *,
        binaries: Binaries | None = None,
        tie_to_parent: bool = True,
        controller_args: tuple[str, ...] = (),
    ) -> None:
        if flavour not in FLAVOURS:
            raise SandboxError(
                f"unknown sandbox flavour {flavour!r}", hint="one of: " + ", ".join(FLAVOURS)
            )
        self.directory = directory
        self.flavour = flavour
        self.binaries = binaries
        self.tie_to_parent = tie_to_parent
        self.controller_args = controller_args  # after the defaults: the last of a flag wins
        self.state: RunState | None = None
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    # -- paths ---------------------------------------------------------------------------------
    @property
    def certs(self) -> Path:
        return self.directory / "pki"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> RunState:
        self.binaries = self.binaries or ensure_binaries()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self._create_pki()
        last_error: SandboxError | None = None
        for _attempt in range(START_ATTEMPTS):
            try:
                return self._start_once()
            except SandboxError as exc:  # most often a lost race for a free port
                last_error = exc
                self.stop()
        assert last_error is not None
        raise last_error

    def _start_once(self) -> RunState:
        assert self.binaries is not None
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else self.directory
        etcd_data = tempfile.mkdtemp(prefix="labsctl-etcd-", dir=base)
        self.state = RunState(
            directory=str(self.directory),
            flavour=self.flavour,
            api_port=free_port(),
            etcd_port=free_port(),
            etcd_data=etcd_data,
            started_at=time.time(),
        )
        self._spawn("etcd", self._etcd_args())
        self._wait_etcd()
        self._spawn("kube-apiserver", self._apiserver_args())
        self._write_kubeconfig(self.admin_kubeconfig, "admin")
        self._write_kubeconfig(
            self.directory / "controller-manager.kubeconfig", "controller-manager"
        )
        self._wait_ready()
        self._spawn("kube-controller-manager", self._controller_manager_args())
        self._wait_controllers()
        self._save()
        return self.state

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL of its group) and remove etcd's data."""
        state = self.state or self.load_state()
        pids = dict(state.pids) if state else {}
        for name, process in self._processes.items():
            pids.setdefault(name, process.pid)
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            pid = pids.get(name)
            if pid is not None:
                _terminate_group(pid, self._processes.get(name))
        self._processes.clear()
        if state is not None:
            shutil.rmtree(state.etcd_data, ignore_errors=True)
            state.pids.clear()
        self.state_file.unlink(missing_ok=True)

    # -- status --------------------------------------------------------------------------------
    def running(self) -> dict[str, bool]:
        state = self.state or self.load_state()
        if state is None:
            return {}
        return {name: _alive(pid, name) for name, pid in state.pids.items()}

    def healthy(self) -> bool:
        state = self.state or self.load_state()
        if state is None or not all(self.running().values()) or not state.pids:
            return False
        try:
            return self._get("/readyz", timeout=3.0) == 200
        except (OSError, urllib.error.URLError):
            return False

    def peak_memory_kib(self) -> dict[str, int]:
        """Peak resident memory (VmHWM) of each process, from /proc."""
        state = self.state or self.load_state()
        out: dict[str, int] = {}
        for name, pid in (state.pids if state else {}).items():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        out[name] = int(line.split()[1])
        return out

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for a client certificate with its own user name and groups."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in user)
        pair = pki.issue(self._ca(), self.certs, f"user-{safe}", user, organisations=groups)
        path = self.directory / f"user-{safe}.kubeconfig"
        self._write_kubeconfig(path, f"user-{safe}", pair)
        return path

    # -- internals -----------------------------------------------------------------------------
    def _ca(self) -> pki.KeyPair:
        return pki.KeyPair(self.certs / "ca.crt", self.certs / "ca.key")

    def _create_pki(self) -> None:
        if (self.certs / "admin.crt").is_file():
            return
        self.certs.mkdir(parents=True, exist_ok=True)
        ca = pki.create_ca(self.certs)
        pki.issue(ca, self.certs, "apiserver", "kube-apiserver", server=True)
        pki.issue(
            ca, self.certs, "admin", "labsctl-sandbox-admin", organisations=("system:masters",)
        )
        pki.issue(ca, self.certs, "controller-manager", "system:kube-controller-manager")
        pki.create_service_account_keys(self.certs)

    def _etcd_args(self) -> list[str]:
        assert self.state is not None and self.binaries is not None
        client = f"http://127.0.0.1:{self.state.etcd_port}"
        peer = f"http://127.0.0.1:{free_port()}"
        return [
            str(self.binaries.etcd),
            "--name=sandbox",
            f"--data-dir={self.state.etcd_data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=sandbox={peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
            "--quota-backend-bytes=2147483648",
        ]

    def _apiserver_args(self) -> list[str]:
        assert self.state is not None and self.binaries is not None
        c = self.certs
        return [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{self.state.etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.state.api_port}",
            f"--cert-dir={c}",
            f"--tls-cert-file={c / 'apiserver.crt'}",
            f"--tls-private-key-file={c / 'apiserver.key'}",
            f"--client-ca-file={c / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={c / 'sa.pub'}",
            f"--service-account-signing-key-file={c / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--endpoint-reconciler-type=none",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=0",
        ]

    def _controller_manager_args(self) -> list[str]:
        assert self.binaries is not None
        c = self.certs
        return [
            str(self.binaries.kube_controller_manager),
            f"--kubeconfig={self.directory / 'controller-manager.kubeconfig'}",
            f"--root-ca-file={c / 'ca.crt'}",
            f"--service-account-private-key-file={c / 'sa.key'}",
            "--leader-elect=false",
            "--secure-port=0",
            "--use-service-account-credentials=true",
            f"--controllers={','.join(CONTROLLERS)}",
            "--concurrent-namespace-syncs=4",
            "--v=0",
            *self.controller_args,
        ]

    def _spawn(self, name: str, args: list[str]) -> None:
        assert self.state is not None
        log = (self.logs / f"{name}.log").open("ab")
        try:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.directory,
                preexec_fn=_die_with_parent if self.tie_to_parent else None,  # noqa: PLW1509
            )
        finally:
            log.close()
        self._processes[name] = process
        self.state.pids[name] = process.pid

    def _check_alive(self, name: str) -> None:
        process = self._processes.get(name)
        if process is not None and process.poll() is not None:
            tail = _tail(self.logs / f"{name}.log")
            raise SandboxError(
                f"{name} exited with code {process.returncode}:\n{tail}",
                hint=f"full log: {self.logs / (name + '.log')}",
            )

    def _wait_etcd(self) -> None:
        assert self.state is not None
        url = f"http://127.0.0.1:{self.state.etcd_port}/health"
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive("etcd")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=2) as response,
            ):
                if json.loads(response.read()).get("health") == "true":
                    return
            time.sleep(0.1)
        raise SandboxError("etcd did not become healthy", hint=str(self.logs / "etcd.log"))

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.certs / "ca.crt"))
        context.load_cert_chain(str(self.certs / "admin.crt"), str(self.certs / "admin.key"))
        return context

    def _get(self, path: str, timeout: float = 5.0) -> int:
        state = self.state or self.load_state()
        assert state is not None
        request = urllib.request.Request(state.server + path)
        try:
            with urllib.request.urlopen(
                request, timeout=timeout, context=self._ssl_context()
            ) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive("kube-apiserver")
            with contextlib.suppress(OSError, urllib.error.URLError):
                if self._get("/readyz", timeout=2.0) == 200:
                    return
            time.sleep(0.2)
        raise SandboxError(
            "kube-apiserver did not become ready", hint=str(self.logs / "kube-apiserver.log")
        )

    def _wait_controllers(self) -> None:
        """Ready when the controllers have made `default`'s ServiceAccount and root CA ConfigMap."""
        deadline = time.monotonic() + READY_TIMEOUT
        wanted = (
            "/api/v1/namespaces/default/serviceaccounts/default",
            "/api/v1/namespaces/default/configmaps/kube-root-ca.crt",
        )
        while time.monotonic() < deadline:
            self._check_alive("kube-controller-manager")
            with contextlib.suppress(OSError, urllib.error.URLError):
                if all(self._get(path) == 200 for path in wanted):
                    return
            time.sleep(0.2)
        raise SandboxError(
            "kube-controller-manager did not start its controllers",
            hint=str(self.logs / "kube-controller-manager.log"),
        )

    def _write_kubeconfig(self, path: Path, stem: str, pair: pki.KeyPair | None = None) -> None:
        assert self.state is not None or self.load_state() is not None
        state = self.state or self.load_state()
        assert state is not None
        pair = pair or pki.KeyPair(self.certs / f"{stem}.crt", self.certs / f"{stem}.key")

        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": CONTEXT,
            "clusters": [
                {
                    "name": CONTEXT,
                    "cluster": {
                        "server": state.server,
                        "certificate-authority-data": b64(self.certs / "ca.crt"),
                    },
                }
            ],
            "users": [
                {
                    "name": stem,
                    "user": {
                        "client-certificate-data": b64(pair.cert),
                        "client-key-data": b64(pair.key),
                    },
                }
            ],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": stem}}],
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        path.chmod(0o600)

    def _save(self) -> None:
        assert self.state is not None
        self.state_file.write_text(json.dumps(asdict(self.state), indent=2), encoding="utf-8")

    def load_state(self) -> RunState | None:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        self.state = RunState(**data)
        return self.state


def _alive(pid: int, name: str) -> bool:
    """True when `pid` is running and is the `name` binary (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return Path(cmdline.decode(errors="replace")).name == name and ") Z " not in stat


def _terminate_group(pid: int, process: subprocess.Popen[bytes] | None) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process is not None:
            if process.poll() is not None:
                break
        elif not Path(f"/proc/{pid}").exists() or ") Z " in _stat(pid):
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


def _stat(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
