"""Upstream's own CRD files, taken from the Go module that ships them, for the sandbox flavours.

Argo CD publishes its CRDs with full OpenAPI schemas generated from its Go types
(`manifests/crds/` of the `github.com/argoproj/argo-cd/v3` module), so the sandbox serves those
rather than a hand-written copy: the API server then checks Applications and AppProjects exactly
as a real Argo CD install would. The version is the one `labsctl.validators` pins, so the schema
and the Go validation agree. Tekton ships its CRDs with a `preserve-unknown-fields` root (no
schema), so the sandbox keeps its own structural ones for Tekton (see crds/README.md).

The files are read from the Go module cache (`go mod download`, through the module proxy, once);
each CRD gets the sandbox's label and category, so `kubectl get labsctl-sandbox` and the wait for
`Established` find it like the others.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from labsctl import paths
from labsctl.errors import SandboxError
from labsctl.sandbox.build import find_go, go_env

ARGOCD_MODULE = "github.com/argoproj/argo-cd/v3"
ARGOCD_CRDS = ("appproject-crd.yaml", "application-crd.yaml")
SANDBOX_LABEL = {"app.kubernetes.io/part-of": "labsctl-sandbox"}
SANDBOX_CATEGORY = "labsctl-sandbox"


def argocd_version() -> str:
    """The Argo CD release the validators pin (their go.mod is the one place it is written)."""
    go_mod = Path(__file__).resolve().parent.parent / "validators" / "gomod" / "argocd" / "go.mod"
    found = re.search(rf"^\s*{re.escape(ARGOCD_MODULE)} (v\S+)$", go_mod.read_text(), re.M)
    if found is None:
        raise SandboxError(f"{go_mod} does not require {ARGOCD_MODULE}")
    return found.group(1)


def module_dir(module: str, version: str) -> Path:
    """The module's directory in labsctl's Go module cache, downloaded when missing."""
    try:
        done = subprocess.run(
            [
                find_go(f"the sandbox reads {module}'s CRDs from its Go module", module),
                "mod",
                "download",
                "-json",
                f"{module}@{version}",
            ],
            capture_output=True,
            text=True,
            check=False,
            env=go_env(),
            cwd=paths.cache_dir() if paths.cache_dir().is_dir() else None,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"could not download {module}@{version}: {exc}") from exc
    info: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {}
    if done.returncode != 0 or not info.get("Dir"):
        reason = info.get("Error") or done.stderr.strip()
        raise SandboxError(
            f"could not download {module}@{version}: {reason}",
            hint="check that the Go module proxy is reachable (GOPROXY)",
        )
    return Path(info["Dir"])


def argocd_crd_files(into: Path) -> list[Path]:
    """Argo CD's AppProject and Application CRDs, marked as the sandbox's, written into `into`."""
    version = argocd_version()
    source = module_dir(ARGOCD_MODULE, version) / "manifests" / "crds"
    into.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ARGOCD_CRDS:
        crd = yaml.safe_load((source / name).read_text(encoding="utf-8"))
        _mark(crd, f"{ARGOCD_MODULE}@{version} manifests/crds/{name}")
        target = into / f"argocd-{name}"
        target.write_text(yaml.safe_dump(crd, sort_keys=False), encoding="utf-8")
        written.append(target)
    return written


def _mark(crd: dict[str, Any], source: str) -> None:
    metadata = crd.setdefault("metadata", {})
    metadata.setdefault("labels", {}).update(SANDBOX_LABEL)
    metadata.setdefault("annotations", {})["labsctl.dev/source"] = source
    categories = crd["spec"]["names"].setdefault("categories", [])
    if SANDBOX_CATEGORY not in categories:
        categories.append(SANDBOX_CATEGORY)
