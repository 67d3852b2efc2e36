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
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 20_000
MAX_DEPTH = 40

PathKey = tuple[str | int, ...]
_MAPPING = "one YAML mapping of kind Residency"


class YamlSourceError(Exception):
    """The file cannot be read as one YAML mapping; carries a position when YAML gives one."""

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        allowed: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.allowed = allowed


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
                        f"the key {key!r} under {'.'.join(map(str, path)) or 'the top level'} "
                        "is not a string",
                        line,
                        col,
                        allowed=f'a string key; quote it: "{key}"',
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


class _Constructor(RoundTripConstructor):
    """Keeps timestamps as the text written, so the model (not the YAML library) judges dates
    and an impossible one such as 2026-02-30 is reported at its line instead of crashing."""


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", RoundTripConstructor.construct_yaml_str)


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.Constructor = _Constructor
    yaml.allow_duplicate_keys = False
    return yaml


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _syntax_error(exc: MarkedYAMLError, text: str) -> YamlSourceError:
    problem, context = exc.problem_mark, exc.context_mark
    # At the end of the stream the problem is what was left open: point at where it started.
    mark = (
        context
        if problem is None or (context is not None and problem.index >= len(text))
        else problem
    )
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    context_text = (exc.context or "").replace(
        "while scanning a quoted scalar", "the quoted scalar starting here is never closed"
    )
    reason = context_text
    if exc.problem:
        reason = f"{reason} ({exc.problem})" if reason else exc.problem
    return YamlSourceError(f"invalid YAML: {reason}", line, column)


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
        raise YamlSourceError(
            "the file is empty; `labsctl init NAME` writes a starter spec", allowed=_MAPPING
        )
    try:
        documents = list(_yaml().load_all(text))
    except MarkedYAMLError as exc:
        raise _syntax_error(exc, text) from exc
    except ReaderError as exc:
        line, column = _position(text, exc.position)
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise YamlSourceError(
            f"invalid YAML: unacceptable character #x{character:04x}: "
            "special characters are not allowed",
            line,
            column,
        ) from exc
    except YAMLError as exc:
        raise YamlSourceError(f"invalid YAML: {exc}") from exc
    documents = [doc for doc in documents if doc is not None]
    if not documents:
        raise YamlSourceError(
            "the file holds no YAML document (only comments or `---`)", allowed=_MAPPING
        )
    if len(documents) > 1:
        raise YamlSourceError(
            f"the file holds {len(documents)} YAML documents; write one residency per file",
            allowed=_MAPPING,
        )
    document = documents[0]
    if not isinstance(document, dict):
        kind = "a list" if isinstance(document, list) else "a single value"
        raise YamlSourceError(
            f"the document is {kind}; a residency spec is a mapping with "
            "apiVersion, kind, metadata and spec",
            1,
            1,
            allowed=_MAPPING,
        )
    copier = _Copier()
    data = copier.copy(document, (), 0)
    return YamlSource(path=str(path), data=data, positions=copier.positions)
