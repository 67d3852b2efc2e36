"""Deterministic YAML and atomic, contained writes of a residency's output directory."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from labsctl.errors import RenderError

_TEMPLATE_MARKERS = ("{{", "{%", "{#")


class _Dumper(yaml.SafeDumper):
    """Block style, sorted keys, no aliases, unicode kept: same data, same bytes."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _AnsibleDumper(_Dumper):
    """Marks strings Ansible would treat as templates `!unsafe`, so spec data is never run."""


_ESCAPE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Characters YAML reads as line breaks or may not carry raw (NEL, LS, PS, controls) are
    # written escaped in double quotes, so every value reads back exactly as it was.
    if _ESCAPE.search(value):
        style: str | None = '"'
    else:
        style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_unsafe(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if any(marker in value for marker in _TEMPLATE_MARKERS):
        return dumper.represent_scalar(
            "!unsafe", value, style='"' if _ESCAPE.search(value) else "'"
        )
    return _represent_str(dumper, value)


_Dumper.add_representer(str, _represent_str)
_AnsibleDumper.add_representer(str, _represent_unsafe)


def dump_yaml(data: Any, *, for_ansible: bool = False) -> str:
    return yaml.dump(
        data,
        Dumper=_AnsibleDumper if for_ansible else _Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
        explicit_start=True,
    )


def dump_documents(documents: list[Any]) -> str:
    return "".join(dump_yaml(doc) for doc in documents)


def contained(base: Path, name: str) -> Path:
    """`base/name`, refusing names that would leave `base` (.., absolute, separators, symlinks)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise RenderError(f"refusing to write to {name!r}: not a plain directory name")
    target = base / name
    if target.is_symlink():
        raise RenderError(f"refusing to write through the symbolic link {target}")
    resolved_base = base.resolve()
    if target.resolve().parent != resolved_base:
        raise RenderError(f"refusing to write {target}: it is outside {resolved_base}")
    return target


def write_tree(base: Path, name: str, files: Mapping[str, str]) -> Path:
    """Replace `base/name` with exactly `files` (relative path -> text), atomically.

    The new tree is written next to the old one and swapped in with renames, so a failure leaves
    the previous output intact and a reader never sees half of each.
    """
    base.mkdir(parents=True, exist_ok=True)
    target = contained(base, name)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.new-", dir=base))
    old: Path | None = None
    try:
        for relative, text in sorted(files.items()):
            if ".." in Path(relative).parts or Path(relative).is_absolute():
                raise RenderError(f"refusing to write {relative!r}: outside the output directory")
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.chmod(0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=base))
            target.rename(old / name)
        staging.rename(target)
    except BaseException:
        if old is not None and not target.exists():
            (old / name).rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target
