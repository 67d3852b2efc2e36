"""`labsctl sandbox`: a detached local control plane per user, for trying labsctl with no cluster.

State lives in `<state dir>/sandbox/` (certificates, kubeconfig, logs, state.json with the pids);
`up` is idempotent, `down` stops every process and frees the ports, `status` checks health.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from labsctl import paths
from labsctl.errors import ConflictError, SandboxError
from labsctl.sandbox.build import Binaries, Progress, ensure_binaries
from labsctl.sandbox.controlplane import CRD_SETS, FLAVOURS, ControlPlane
from labsctl.sandbox.upstream_crds import argocd_crd_files

EXTRAS_DIR = Path(__file__).resolve().parent / "extras"
FLAVOUR_EXTRAS = {
    "kubernetes": ("kubernetes",),
    "tekton-argocd": ("kubernetes", "tekton", "tekton-argocd"),
    "openshift": ("kubernetes", "tekton", "openshift"),
}
FLAVOUR_ALIASES = {
    "plain": "kubernetes",
    "k8s": "kubernetes",
    "tekton": "tekton-argocd",
    "argocd": "tekton-argocd",
}


@dataclass(frozen=True)
class SandboxStatus:
    running: bool
    healthy: bool
    flavour: str | None
    server: str | None
    kubeconfig: str | None
    processes: dict[str, bool]
    peak_memory_kib: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return {
            "running": self.running,
            "healthy": self.healthy,
            "flavour": self.flavour,
            "server": self.server,
            "kubeconfig": self.kubeconfig,
            "processes": self.processes,
            "peakMemoryKiB": self.peak_memory_kib,
        }


def sandbox_dir() -> Path:
    return paths.state_dir() / "sandbox"


def _control_plane(flavour: str = "kubernetes") -> ControlPlane:
    return ControlPlane(sandbox_dir(), flavour, tie_to_parent=False)


def normalise_flavour(flavour: str) -> str:
    flavour = FLAVOUR_ALIASES.get(flavour, flavour)
    if flavour not in FLAVOURS:
        raise SandboxError(
            f"unknown sandbox flavour {flavour!r}", hint="one of: " + ", ".join(FLAVOURS)
        )
    return flavour


def install_flavour(control_plane: ControlPlane, binaries: Binaries) -> None:
    """Serve the flavour's CRDs (waiting until established) and create its cluster furniture."""
    with tempfile.TemporaryDirectory(prefix="labsctl-crds-") as upstream:
        _install(control_plane, binaries, Path(upstream))


def _install(control_plane: ControlPlane, binaries: Binaries, upstream: Path) -> None:
    kubeconfig = str(control_plane.admin_kubeconfig)
    files = [EXTRAS_DIR / f"{name}.yaml" for name in FLAVOUR_EXTRAS[control_plane.flavour]]
    for crd_set in CRD_SETS[control_plane.flavour]:
        if crd_set == "argocd":
            files.extend(argocd_crd_files(upstream))  # Argo CD's own, with their full schemas
        else:
            files.extend(sorted((paths.crds_dir() / crd_set).glob("*.yaml")))
    if not files:
        return
    args = [
        str(binaries.kubectl),
        "--kubeconfig",
        kubeconfig,
        "apply",
        "--server-side",
        "--field-manager=labsctl-sandbox",
    ]
    for file in files:
        args += ["-f", str(file)]
    _kubectl(args)
    if CRD_SETS[control_plane.flavour]:
        wait = [
            str(binaries.kubectl),
            "--kubeconfig",
            kubeconfig,
            "wait",
            "--for",
            "condition=Established",
            "--timeout=60s",
            "crd",
            "-l",
            "app.kubernetes.io/part-of=labsctl-sandbox",
        ]
        # A CRD read before the API server first wrote its status has `conditions: null`, which
        # `kubectl wait` reports as an error instead of waiting: ask again, within a bound.
        deadline = time.monotonic() + 60
        while (problem := _kubectl(wait, check=False)) and "accessor error" in problem:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if problem:
            raise SandboxError(f"setting up the sandbox failed: {problem}")


def _kubectl(args: list[str], *, check: bool = True) -> str:
    """Run kubectl; its error output ("" on success), raised as SandboxError when `check`."""
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    problem = result.stderr.strip() if result.returncode != 0 else ""
    if problem and check:
        raise SandboxError(f"setting up the sandbox failed: {problem}")
    return problem


def up(flavour: str = "kubernetes", on_progress: Progress | None = None) -> SandboxStatus:
    """Start the sandbox (building binaries if needed, with the build's progress through
    `on_progress`); does nothing when it already runs."""
    flavour = normalise_flavour(flavour)
    current = status()
    if current.healthy:
        if current.flavour != flavour:
            raise ConflictError(
                f"the sandbox already runs with flavour {current.flavour}",
                hint="`labsctl sandbox down` first to start another flavour",
            )
        return current
    if current.running or current.processes:
        down()  # half-alive leftovers of a crash: start clean
    binaries = ensure_binaries(on_progress)
    control_plane = ControlPlane(sandbox_dir(), flavour, binaries=binaries, tie_to_parent=False)
    control_plane.start()
    try:
        install_flavour(control_plane, binaries)
    except BaseException:
        control_plane.stop()
        raise
    return status()


def down() -> SandboxStatus:
    """Stop the sandbox and remove its state (logs are kept)."""
    directory = sandbox_dir()
    _control_plane().stop()
    if directory.is_dir():
        for entry in directory.iterdir():
            if entry.name != "logs":
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
    return status()


def status() -> SandboxStatus:
    control_plane = _control_plane()
    state = control_plane.load_state()
    processes = control_plane.running()
    running = bool(processes) and all(processes.values())
    healthy = running and control_plane.healthy()
    return SandboxStatus(
        running=running,
        healthy=healthy,
        flavour=state.flavour if state else None,
        server=state.server if state else None,
        kubeconfig=str(control_plane.admin_kubeconfig) if state else None,
        processes=processes,
        peak_memory_kib=control_plane.peak_memory_kib() if running else {},
    )


def kubeconfig() -> Path:
    current = status()
    if not current.healthy or current.kubeconfig is None:
        raise SandboxError("the sandbox is not running", hint="labsctl sandbox up")
    return Path(current.kubeconfig)
