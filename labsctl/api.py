"""labsctl's library API: one function per CLI verb. The CLI only parses options and formats."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from labsctl import catalogue
from labsctl.errors import SpecError, SpecProblem, UsageError
from labsctl.files import check_directory, check_new_file, write_file, write_tree
from labsctl.inventory import inventory_files
from labsctl.manifests import manifest_files
from labsctl.render import Rendering, render
from labsctl.spec import DNS_LABEL, MAX_RESIDENCY_NAME, Residency
from labsctl.validation import load_spec, load_specs, validate_files

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


__all__ = [
    "RenderResult",
    "SpecError",
    "init",
    "load_spec",
    "load_specs",
    "render",
    "render_spec",
    "schema",
    "schema_json",
    "validate",
]
