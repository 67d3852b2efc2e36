"""Read a YAML document into plain Python data plus a map of where every value came from.

ruamel.yaml's round-trip loader keeps positions on maps and lists; we copy the tree into plain
dicts, lists and scalars (so pydantic's strict mode sees real `bool` and `int`, not ruamel's
subclasses) and record `(line, column)` for every path. The copy is bounded, so a YAML alias bomb
("billion laughs") is refused instead of exhausting memory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 20_000
MAX_DEPTH = 40

PathKey = tuple[str | int, ...]


class YamlSourceError(Exception):
    """The file cannot be read as one YAML mapping; carries a position when YAML gives one."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class YamlSource:
    """A loaded document: plain data and the 1-based position of each path in it."""

    path: str
    data: dict[str, Any]
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: PathKey) -> tuple[int | None, int | None]:
        """Position of `loc`, or of its nearest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            pos = self.positions.get(tuple(loc[:end]))
            if pos is not None:
                return pos
        return None, None


class _Copier:
    def __init__(self) -> None:
        self.nodes = 0
        self.positions: dict[PathKey, tuple[int, int]] = {}

    def copy(self, node: Any, path: PathKey, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlSourceError(
                f"the document expands to more than {MAX_NODES} values; "
                "YAML aliases that multiply content (an alias bomb) are refused"
            )
        if depth > MAX_DEPTH:
            raise YamlSourceError(f"the document nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if not isinstance(key, str):
                    line, col = _key_position(node, key)
                    raise YamlSourceError(
                        f"mapping keys must be strings, found {type(key).__name__} {key!r}",
                        line,
                        col,
                    )
                child = (*path, key)
                line, col = _key_position(node, key)
                if line is not None:
                    self.positions[child] = (line, col or 1)
                out[str(key)] = self.copy(value, child, depth + 1)
            return out
        if isinstance(node, list):
            items = []
            for index, value in enumerate(node):
                child = (*path, index)
                pos = _item_position(node, index)
                if pos is not None:
                    self.positions[child] = pos
                items.append(self.copy(value, child, depth + 1))
            return items
        return _plain_scalar(node)


def _key_position(node: Any, key: Any) -> tuple[int | None, int | None]:
    lc = getattr(node, "lc", None)
    if lc is None:
        return None, None
    try:
        line, col = lc.key(key)
    except (KeyError, TypeError, AttributeError):
        return None, None
    return line + 1, col + 1


def _item_position(node: Any, index: int) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        line, col = lc.item(index)
    except (KeyError, TypeError, AttributeError, IndexError):
        return None
    return line + 1, col + 1


def _plain_scalar(node: Any) -> Any:
    # bool first: ruamel's ScalarBoolean subclasses int.
    if isinstance(node, bool) or type(node).__name__ == "ScalarBoolean":
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, dt.datetime):
        return node
    if isinstance(node, dt.date):
        return dt.date(node.year, node.month, node.day)
    return node


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    return yaml


def load_yaml_mapping(path: Path, text: str | None = None) -> YamlSource:
    """Load one YAML document that must be a mapping. Raises YamlSourceError."""
    if text is None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise YamlSourceError(f"cannot read the file: {exc.strerror or exc}") from exc
        if len(raw) > MAX_FILE_BYTES:
            raise YamlSourceError(f"the file is larger than {MAX_FILE_BYTES // 1024} KiB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlSourceError(f"the file is not UTF-8 text ({exc.reason})") from exc
    if not text.strip():
        raise YamlSourceError("the file is empty; `labsctl init NAME` writes a starter spec")
    try:
        documents = list(_yaml().load_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        col = mark.column + 1 if mark is not None else None
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise YamlSourceError(f"invalid YAML: {reason}", line, col) from exc
    except YAMLError as exc:
        raise YamlSourceError(f"invalid YAML: {exc}") from exc
    documents = [doc for doc in documents if doc is not None]
    if not documents:
        raise YamlSourceError("the file holds no YAML document (only comments or `---`)")
    if len(documents) > 1:
        raise YamlSourceError(
            f"the file holds {len(documents)} YAML documents; write one residency per file"
        )
    document = documents[0]
    if not isinstance(document, dict):
        kind = "a list" if isinstance(document, list) else f"a {type(document).__name__} scalar"
        raise YamlSourceError(
            f"the document is {kind}; a residency spec is a mapping with "
            "apiVersion, kind, metadata and spec",
            1,
            1,
        )
    copier = _Copier()
    data = copier.copy(document, (), 0)
    return YamlSource(path=str(path), data=data, positions=copier.positions)
