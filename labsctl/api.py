"""labsctl's library API: one function per CLI verb. The CLI only parses options and formats.

The verbs that need a cluster take a `Target` (`resolve_target`); the long ones report progress
through callbacks (`on_event`: a role's task for a residency; `on_wait`: waiting for another
run's lock; `on_progress`: a line for a person) and never print. A failed Ansible run is a
result (`ok` is False), not an exception.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from labsctl import catalogue
from labsctl.apply import ApplySummary, ResidencySummary, apply
from labsctl.cluster import Cluster, Target, resolve_target
from labsctl.errors import SpecError, SpecProblem, UsageError
from labsctl.export import ExportResult, export
from labsctl.extend import Extension, extend
from labsctl.files import check_directory, check_new_file, write_file, write_tree
from labsctl.fleet import FleetReport, fleet_report
from labsctl.inventory import inventory_files
from labsctl.manifests import manifest_files
from labsctl.rbac import manifests, subject
from labsctl.render import Rendering, render
from labsctl.runner import Progress
from labsctl.spec import DNS_LABEL, MAX_RESIDENCY_NAME, Residency
from labsctl.status import ResidencyStatus, StatusReport, check_drift, find, status
from labsctl.teardown import TeardownResult, teardown, teardown_plan
from labsctl.validation import load_spec, load_specs, residency_name, validate_files

if TYPE_CHECKING:
    from labsctl.sandbox.service import SandboxStatus

RenderFormat = Literal["inventory", "manifests"]
SCHEMA_ID = "https://raw.githubusercontent.com/labsctl/labsctl/main/docs/residency.schema.json"


def init(
    name: str, directory: Path | str = ".", *, force: bool = False, today: dt.date | None = None
) -> Path:
    """Write a commented starter spec `<directory>/<name>.yaml`; returns its path."""
    if not re.fullmatch(DNS_LABEL, name) or len(name) > MAX_RESIDENCY_NAME:
        raise UsageError(
            f"invalid residency name {name!r}",
            hint=f"a DNS-1123 label of at most {MAX_RESIDENCY_NAME} characters: lower-case "
            "letters, digits and '-', starting and ending with a letter or digit",
        )
    start = today or dt.date.today()
    end = start + dt.timedelta(weeks=8)
    text = resources.files("labsctl").joinpath("data/starter.yaml").read_text(encoding="utf-8")
    text = text.format(
        name=name,
        display_name=name.replace("-", " ").capitalize(),
        start=start.isoformat(),
        end=end.isoformat(),
        archive=(end + dt.timedelta(days=30)).isoformat(),
    )
    directory = Path(directory)
    check_directory(directory, error=UsageError)
    target = directory / f"{name}.yaml"
    mode = check_new_file(target, replace=force, error=UsageError)
    check_directory(directory, create=True, error=UsageError)
    write_file(target, text.encode("utf-8"), replace=force, mode=mode, error=UsageError)
    return target


def validate(paths: list[Path | str]) -> list[SpecProblem]:
    """Every problem of every spec file; empty when all are valid."""
    if not paths:
        raise UsageError("no spec file given", hint="labsctl validate FILE...")
    return validate_files(paths)


def schema() -> dict[str, Any]:
    """The JSON Schema of the residency spec, generated from the model."""
    generated = Residency.model_json_schema(by_alias=True, mode="validation")
    document: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **generated,
    }
    document["description"] = (
        "A labsctl residency spec. Tools known to the catalogue: "
        + ", ".join(catalogue.known_tools())
        + "."
    )
    return document


def schema_json() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class RenderResult:
    residency: str
    format: RenderFormat
    directory: Path
    files: tuple[str, ...]


def render_spec(
    path: Path | str,
    output_dir: Path | str | None = None,
    fmt: RenderFormat = "inventory",
    templates: Path | str | None = None,
) -> RenderResult:
    """Render one spec into `<output_dir>/<residency>/` as an inventory or as manifests."""
    check_directory(_output_base(output_dir, fmt))  # before any work, so before any write
    residency = load_spec(path)
    rendering = render(residency, Path(templates) if templates else None)
    return write_rendering(rendering, output_dir, fmt)


def write_rendering(
    rendering: Rendering, output_dir: Path | str | None, fmt: RenderFormat
) -> RenderResult:
    base = _output_base(output_dir, fmt)
    files = inventory_files([rendering]) if fmt == "inventory" else manifest_files(rendering)
    directory = write_tree(base, rendering.residency.name, files)
    return RenderResult(rendering.residency.name, fmt, directory, tuple(sorted(files)))


def _output_base(output_dir: Path | str | None, fmt: RenderFormat) -> Path:
    if fmt not in ("inventory", "manifests"):
        raise UsageError(f"unknown format {fmt!r}", hint="inventory or manifests")
    if output_dir:
        return Path(output_dir)
    return Path("inventories" if fmt == "inventory" else "manifests")


def plan(
    spec_files: Sequence[Path | str],
    target: Target,
    *,
    prune_stale: bool = True,
    templates: Path | None = None,
    verbose: int = 0,
    on_event: Callable[[Progress], None] | None = None,
) -> ApplySummary:
    """What `apply` would create, change and prune: a server-side dry run, with the diffs
    (no lock taken, nothing changed). `in_sync` is True when nothing would change."""
    return apply(
        list(spec_files),
        target,
        dry_run=True,
        prune_stale=prune_stale,
        templates=templates,
        verbose=verbose,
        on_event=on_event,
    )


def freeze(
    spec_files: Sequence[Path | str],
    target: Target,
    *,
    lock_timeout: float = 60.0,
    templates: Path | None = None,
    verbose: int = 0,
    on_event: Callable[[Progress], None] | None = None,
    on_wait: Callable[[str, str], None] | None = None,
) -> ApplySummary:
    """The hand-over state: the team keeps view rights, the pipeline stops deploying, tools
    stay (what `apply` does by itself after the end date; `extend` undoes it)."""
    return apply(
        list(spec_files),
        target,
        freeze=True,
        lock_timeout=lock_timeout,
        templates=templates,
        verbose=verbose,
        on_event=on_event,
        on_wait=on_wait,
    )


def rbac_manifests(
    user: str | None = None, group: str | None = None, service_account: str | None = None
) -> list[dict[str, Any]]:
    """The ClusterRole and bindings one subject (exactly one of the three; a ServiceAccount as
    NAMESPACE/NAME) needs to run every labsctl command without cluster-admin."""
    return manifests(subject(user, group, service_account))


# The sandbox's modules are imported when used: `python -m labsctl.sandbox.build` imports the
# package first, and must not find itself imported already.


def sandbox_up(
    flavour: str = "kubernetes", *, on_progress: Callable[[str], None] | None = None
) -> SandboxStatus:
    """Start the local control plane (idempotent, detached), building it on first use with the
    build's progress through `on_progress`."""
    from labsctl.sandbox import service  # noqa: PLC0415

    return service.up(flavour, on_progress)


def sandbox_down() -> SandboxStatus:
    """Stop the local control plane and free its ports."""
    from labsctl.sandbox import service  # noqa: PLC0415

    return service.down()


def sandbox_status() -> SandboxStatus:
    """Whether the local control plane runs and is healthy."""
    from labsctl.sandbox import service  # noqa: PLC0415

    return service.status()


def sandbox_kubeconfig() -> Path:
    """The local control plane's kubeconfig; SandboxError when it does not run."""
    from labsctl.sandbox import service  # noqa: PLC0415

    return service.kubeconfig()


__all__ = [
    "ApplySummary",
    "Cluster",
    "ExportResult",
    "Extension",
    "FleetReport",
    "RenderResult",
    "ResidencyStatus",
    "ResidencySummary",
    "SpecError",
    "StatusReport",
    "Target",
    "TeardownResult",
    "apply",
    "check_drift",
    "export",
    "extend",
    "find",
    "fleet_report",
    "freeze",
    "init",
    "load_spec",
    "load_specs",
    "plan",
    "rbac_manifests",
    "render",
    "render_spec",
    "residency_name",
    "resolve_target",
    "sandbox_down",
    "sandbox_kubeconfig",
    "sandbox_status",
    "sandbox_up",
    "schema",
    "schema_json",
    "status",
    "teardown",
    "teardown_plan",
    "validate",
]
