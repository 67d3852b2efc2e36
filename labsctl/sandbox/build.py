"""Build the sandbox's control plane from the official Go sources, through the Go module proxy.

The wrapper modules in `gomod/k8s` and `gomod/etcd` pin one Kubernetes and one etcd release
(go.mod with the staging `replace` lines, go.sum committed). Binaries, GOMODCACHE and GOCACHE live
in the per-user cache (`~/.cache/labsctl`), keyed by version; when the binaries are there, nothing
is built. Run it directly with `python -m labsctl.sandbox.build` (progress on stderr, the
binaries' paths on stdout); library callers get progress through `on_progress`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labsctl import paths
from labsctl.errors import SandboxError

KUBERNETES_VERSION = "v1.37.2"
KUBERNETES_BUILD_DATE = "2026-10-27T12:01:04Z"  # the release's time on the module proxy
ETCD_VERSION = "v3.6.12"
MIN_GO = (1, 26)
GOMOD_DIR = Path(__file__).resolve().parent / "gomod"
K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kubectl")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path

    def all(self) -> tuple[Path, ...]:
        return (self.etcd, self.kube_apiserver, self.kube_controller_manager, self.kubectl)

    def present(self) -> bool:
        return all(path.is_file() and os.access(path, os.X_OK) for path in self.all())


def binaries() -> Binaries:
    cache = paths.cache_dir()
    k8s = cache / "k8s" / KUBERNETES_VERSION
    return Binaries(
        etcd=cache / "etcd" / ETCD_VERSION / "etcd",
        kube_apiserver=k8s / "kube-apiserver",
        kube_controller_manager=k8s / "kube-controller-manager",
        kubectl=k8s / "kubectl",
    )


def silent(_message: str) -> None:
    """The default progress callback: library code prints nothing."""


def ensure_binaries(on_progress: Progress | None = None) -> Binaries:
    """The control-plane binaries, building whichever are missing; what the build does (a
    line every 30 s at most) goes to `on_progress`."""
    progress = on_progress or silent
    wanted = binaries()
    if wanted.present():
        return wanted
    go = GoTool(_check_go(), go_env(), progress)
    started = time.monotonic()
    k8s_dir = wanted.kubectl.parent
    if not all((k8s_dir / name).is_file() for name in K8S_COMMANDS):
        progress(
            f"building Kubernetes {KUBERNETES_VERSION} (kube-apiserver, "
            "kube-controller-manager, kubectl); a cold build takes about 5-15 minutes"
        )
        go.download(GOMOD_DIR / "k8s")
        go.build(
            GOMOD_DIR / "k8s",
            k8s_dir,
            [f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS],
            ldflags=_k8s_ldflags(),
            tags="selinux,notest",
        )
    if not wanted.etcd.is_file():
        progress(f"building etcd {ETCD_VERSION}")
        go.download(GOMOD_DIR / "etcd")
        go.build(GOMOD_DIR / "etcd", wanted.etcd, ["go.etcd.io/etcd/server/v3"], ldflags="-s -w")
    if not wanted.present():
        raise SandboxError(
            "the build finished but binaries are missing", hint=f"look into {paths.cache_dir()}"
        )
    progress(f"built in {time.monotonic() - started:.0f}s into {paths.cache_dir()}")
    return wanted


def find_go(built: str, too_old_for: str, hint: str = "") -> str:
    """The `go` executable, at least MIN_GO; `built` says what needs it when it is missing,
    `too_old_for` what it is too old for."""
    go = shutil.which("go")
    if go is None:
        raise SandboxError(
            f"Go is not installed; {built}",
            hint=f"install Go {MIN_GO[0]}.{MIN_GO[1]} or newer{hint}",
        )
    out = subprocess.run(
        [go, "env", "GOVERSION"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GOTOOLCHAIN": "local"},
    )
    match = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if not match or (int(match.group(1)), int(match.group(2))) < MIN_GO:
        raise SandboxError(
            f"Go {out.stdout.strip() or 'of unknown version'} is too old for {too_old_for}",
            hint=f"install Go {MIN_GO[0]}.{MIN_GO[1]} or newer",
        )
    return go


def _check_go() -> str:
    return find_go(
        "the sandbox builds Kubernetes from source",
        f"Kubernetes {KUBERNETES_VERSION}",
        ", or point labsctl at a cluster with --kubeconfig",
    )


def go_env() -> dict[str, str]:
    cache = paths.cache_dir() / "go"
    return {
        **os.environ,
        "GOMODCACHE": str(cache / "mod"),
        "GOCACHE": str(cache / "build"),
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod",
        "CGO_ENABLED": "0",
        "GOWORK": "off",
    }


def _k8s_ldflags() -> str:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        for key, value in (
            ("gitVersion", KUBERNETES_VERSION),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
            ("buildDate", KUBERNETES_BUILD_DATE),
        ):
            flags.append(f"-X {package}.{key}={value}")
    return " ".join(flags)


@dataclass(frozen=True)
class GoTool:
    """The `go` command with labsctl's cache environment and a progress callback."""

    executable: str
    env: dict[str, str]
    progress: Progress

    def download(self, module: Path) -> None:
        self.run(["mod", "download"], module, "downloading modules")

    def build(
        self,
        module: Path,
        output: Path,
        packages: list[str],
        *,
        ldflags: str,
        tags: str | None = None,
    ) -> None:
        is_dir = len(packages) > 1
        target_dir = output if is_dir else output.parent
        target_dir.mkdir(parents=True, exist_ok=True)
        staging = target_dir / ".staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        args = ["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", f"{staging}/"]
        if tags:
            args[1:1] = ["-tags", tags]
        self.run([*args, *packages], module, "compiling")
        # Move into place only once everything compiled: a half build is never taken as done.
        for built in staging.iterdir():
            built.replace(target_dir / built.name if is_dir else output)
        staging.rmdir()

    def run(self, args: list[str], cwd: Path, what: str) -> None:
        started = time.monotonic()
        process = subprocess.Popen(
            [self.executable, *args],
            cwd=cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        last = started
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            now = time.monotonic()
            if now - last >= 30:
                # `go build -v` names each package as it compiles it: a count is real progress.
                self.progress(f"{what} in {cwd.name}: {len(lines)} packages, {now - started:.0f}s")
                last = now
        if process.wait() != 0:
            tail = "\n".join(lines[-20:])
            raise SandboxError(
                f"`go {args[0]}` failed in {cwd}:\n{tail}",
                hint="check that the Go module proxy is reachable (GOPROXY)",
            )
        self.progress(f"{what} in {cwd.name}: done in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":  # the command: progress and errors on stderr, the paths on stdout
    from labsctl.cli.builds import build_main

    sys.exit(build_main(lambda progress: ensure_binaries(progress).all()))
