"""Build the upstream validators from Tekton's and Argo CD's Go sources, via the Go module proxy.

The wrapper modules in `gomod/tekton` and `gomod/argocd` pin one Tekton Pipelines + Triggers and
one Argo CD release (go.mod, go.sum committed; separate modules because their Kubernetes libraries
differ) and hold a small `main.go` each. The binaries live in the per-user cache
(`~/.cache/labsctl/validators`), keyed by the pinned versions and a digest of the wrapper module,
so editing `main.go` rebuilds; GOMODCACHE and GOCACHE are the sandbox's. When the binaries are
there, nothing is built. Run it directly with `python -m labsctl.validators.build` (progress on
stderr, the binaries' paths on stdout).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from labsctl import paths
from labsctl.errors import SandboxError

# The sandbox's `go` runner and environment, shared so that both builds work the same way.
from labsctl.sandbox.build import GoTool, Progress, find_go, go_env, silent
from labsctl.validators import ValidatorError

TEKTON_PIPELINE_VERSION = "v1.15.0"
TEKTON_TRIGGERS_VERSION = "v0.37.0"
ARGOCD_VERSION = "v3.2.12"
GOMOD_DIR = Path(__file__).resolve().parent / "gomod"
_MODULE_FILES = ("go.mod", "go.sum", "main.go")


@dataclass(frozen=True)
class Validator:
    """One wrapper module and the binary built from it."""

    name: str  # also the wrapper module's directory under gomod/
    version: str
    binary_name: str
    cold_build: str  # what a cold build costs on 2 cores, for the progress line

    @property
    def module(self) -> Path:
        return GOMOD_DIR / self.name

    @property
    def package(self) -> str:
        return f"github.com/labsctl/labsctl/validators/{self.name}"

    def binary(self) -> Path:
        digest = hashlib.sha256()
        for name in _MODULE_FILES:
            digest.update((self.module / name).read_bytes())
        key = f"{self.version}-{digest.hexdigest()[:12]}"
        return paths.cache_dir() / "validators" / self.name / key / self.binary_name

    def present(self) -> bool:
        path = self.binary()
        return path.is_file() and os.access(path, os.X_OK)


TEKTON = Validator(
    "tekton",
    f"pipeline-{TEKTON_PIPELINE_VERSION}-triggers-{TEKTON_TRIGGERS_VERSION}",
    "tekton-validate",
    "about 4 minutes",
)
ARGOCD = Validator(
    "argocd", ARGOCD_VERSION, "argocd-validate", "3-7 minutes (less after the Tekton one)"
)
VALIDATORS = (TEKTON, ARGOCD)


def ensure_validators(on_progress: Progress | None = None) -> dict[str, Path]:
    """The validator binaries by name (`tekton`, `argocd`), building whichever are missing;
    what the build does goes to `on_progress`."""
    progress = on_progress or silent
    missing = [v for v in VALIDATORS if not v.present()]
    if missing:
        go = GoTool(_check_go(), go_env(), progress)
        started = time.monotonic()
        for validator in missing:
            progress(
                f"building the {validator.name} validator ({validator.version}); "
                f"a cold build takes {validator.cold_build}"
            )
            try:
                go.download(validator.module)
                go.build(
                    validator.module,
                    validator.binary(),
                    [validator.package],
                    ldflags="-s -w",
                )
            except SandboxError as exc:
                raise ValidatorError(exc.message, hint=exc.hint) from exc
        progress(f"built in {time.monotonic() - started:.0f}s into {paths.cache_dir()}")
    return {v.name: v.binary() for v in VALIDATORS}


def _check_go() -> str:
    try:
        return find_go(
            "the upstream validators are built from Tekton's and Argo CD's sources",
            "the validators",
        )
    except SandboxError as exc:
        raise ValidatorError(exc.message, hint=exc.hint) from exc


if __name__ == "__main__":  # the command: progress and errors on stderr, the paths on stdout
    from labsctl.cli.builds import build_main

    sys.exit(build_main(lambda progress: ensure_validators(progress).values()))
