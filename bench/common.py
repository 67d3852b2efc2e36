"""What both benchmarks share: the examples under fresh names, and one fresh control plane."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from labsctl.sandbox.build import Binaries, ensure_binaries
from labsctl.sandbox.controlplane import ControlPlane
from labsctl.sandbox.service import install_flavour

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = ("small-team", "openshift-platform")


def example_as(directory: Path, example: str, name: str) -> Path:
    """An example spec renamed to `name` (its group names too: they are cluster-wide)."""
    data = yaml.safe_load((REPO / "examples" / f"{example}.yaml").read_text())
    old_prefix = data["metadata"]["name"].upper().replace("-", "_") + "_"
    data["metadata"]["name"] = name
    for group in data["spec"]["team"].get("groups", []):
        group["name"] = f"{name}-{group['name']}"
    # Secret variables are named for their residency: rename them, with a bench value.
    for ref in data["spec"].get("secrets", []):
        if "env" in ref:
            ref["env"] = name.upper().replace("-", "_") + "_" + ref["env"].removeprefix(old_prefix)
            os.environ.setdefault(ref["env"], "bench-value-not-a-secret")
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@contextlib.contextmanager
def openshift_like_cluster() -> Iterator[tuple[ControlPlane, Binaries, Path]]:
    """A fresh OpenShift-like control plane (every object applies) and a scratch directory."""
    binaries = ensure_binaries()
    work = Path(tempfile.mkdtemp(prefix="labsctl-bench-"))
    plane = ControlPlane(work / "cp", "openshift", binaries=binaries)
    plane.start()
    try:
        install_flavour(plane, binaries)
        yield plane, binaries, work
    finally:
        plane.stop()
