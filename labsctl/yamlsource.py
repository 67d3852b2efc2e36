"""Read a YAML document into plain Python data plus a map of where every value came from.

ruamel.yaml's round-trip loader keeps positions on maps and lists; we copy the tree into plain
dicts, lists and scalars (so pydantic's strict mode sees real `bool` and `int`, not ruamel's
subclasses) and record `(line, column)` for every path. The copy is bounded, so a YAML alias bomb
("billion laughs") is refused instead of exhausting memory.

Specs are untrusted, so the YAML itself is held to plain YAML 1.2 data, each refusal located:

- At most `MAX_FILE_BYTES` are read from any path (file, device, pipe); one byte more is refused.
  A FIFO with no writer blocks until one opens it, as reading a pipe does.
- No directive but `%YAML 1.2`: `%YAML 1.1` would bring back `yes`/`off` booleans and `%TAG`
  remaps what tags mean (checked as the scanner reads each directive).
- No explicit tag but the YAML 1.2 core ones that read a value as it is written: `!!str`,
  `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`, `!!seq` (`ALLOWED_TAGS`), each on its kind of
  node and, for the scalar ones, on a value the core schema gives that type (`!!bool off` is
  refused, not read as false). `!!binary`, `!!set`, `!!omap`, `!!pairs`, `!!timestamp` (not a
  core tag; dates are written plainly and judged by the model), `!!python/...`, local tags
  (`!foo`) and the non-specific `!` are refused (checked as the composer meets each node, so an
  alias bomb never gets that far).
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scanner import RoundTripScanner

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 20_000
MAX_DEPTH = 40

PathKey = tuple[str | int, ...]
_MAPPING = "one YAML mapping of kind Residency"
_CORE = "tag:yaml.org,2002:"
# The explicit tags a spec may carry, as written with the default `!!` handle.
ALLOWED_TAGS = ("!!str", "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq")
_TAGS_ALLOWED = "no tag, or one of " + ", ".join(ALLOWED_TAGS)
_DIRECTIVES_ALLOWED = "no directive, or %YAML 1.2"
# What the YAML 1.2 core schema reads as each scalar type (YAML 1.2.2, section 10.3.2).
_CORE_SCALARS: dict[str, tuple[re.Pattern[str], str]] = {
    "null": (re.compile(r"(null|Null|NULL|~)?"), "null, ~ or nothing"),
    "bool": (re.compile(r"true|True|TRUE|false|False|FALSE"), "true or false"),
    "int": (re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"), "a decimal, 0o or 0x integer"),
    "float": (
        re.compile(
            r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)"
            r"|\.(nan|NaN|NAN)"
        ),
        "a number such as 1.5, 2e3 or .inf",
    ),
}
_SHOWN = 60  # characters of a tag or value quoted inside a message


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


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."


def _position_of(mark: Any) -> tuple[int | None, int | None]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)


class _Scanner(RoundTripScanner):
    """Refuses every directive but `%YAML 1.2` as it is read."""

    def scan_directive(self) -> Any:
        token = super().scan_directive()
        if token.name == "YAML" and tuple(token.value) == (1, 2):
            return token
        if token.name == "YAML":
            written = f"%YAML {'.'.join(map(str, token.value))}"
            reason = "a spec is YAML 1.2"
            if tuple(token.value) < (1, 2):
                reason += ", and YAML 1.1 would read yes, no, on and off as booleans"
        elif token.name == "TAG":
            written = "%TAG"
            reason = "it changes what tags mean"
        else:
            written = _shorten(f"%{token.name}")
            reason = "it is not a YAML 1.2 directive"
        raise YamlSourceError(
            f"the YAML directive {written} is not allowed: {reason}",
            *_position_of(token.start_mark),
            allowed=_DIRECTIVES_ALLOWED,
        )


def _written_tag(tag: Any) -> str:
    """The tag as the author wrote it: `!!binary`, `!foo`, `!<tag:...>` or `!`."""
    if tag.handle:
        return _shorten(f"{tag.handle}{tag.suffix}")
    return "!" if tag.suffix == "!" else _shorten(f"!<{tag.suffix}>")


class _Composer(Composer):
    """Checks every explicit tag as its node is composed (see the module docstring)."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader=loader)
        # A reused anchor is legal YAML; ruamel's warning would echo raw spec lines to stderr.
        self.warn_double_anchors = False

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if not isinstance(event, AliasEvent) and event.ctag is not None:
            _check_tag(event)
        return super().compose_node(parent, index)


def _check_tag(event: Any) -> None:
    written = _written_tag(event.ctag)
    line, column = _position_of(event.start_mark)
    resolved = str(event.ctag.trval or "")
    name = resolved[len(_CORE) :] if resolved.startswith(_CORE) else None
    if name is None or f"!!{name}" not in ALLOWED_TAGS:
        raise YamlSourceError(
            f"the YAML tag {written} is not allowed: a tag changes how a value is read",
            line,
            column,
            allowed=_TAGS_ALLOWED,
        )
    kinds: dict[str, tuple[Any, str]] = {
        "map": (MappingStartEvent, "a mapping"),
        "seq": (SequenceStartEvent, "a list"),
    }
    kind, needs = kinds.get(name, (ScalarEvent, "a single value"))
    if not isinstance(event, kind):
        raise YamlSourceError(
            f"the YAML tag {written} is on something other than {needs}",
            line,
            column,
            allowed=f"{written} on {needs}, or no tag",
        )
    if name in _CORE_SCALARS:
        pattern, allowed = _CORE_SCALARS[name]
        if not pattern.fullmatch(event.value):
            raise YamlSourceError(
                f"the value {_shorten(event.value)!r} is not a YAML 1.2 {written}",
                line,
                column,
                allowed=f"{allowed}, or no tag",
            )


class _Constructor(RoundTripConstructor):
    """Keeps timestamps as the text written, so the model (not the YAML library) judges dates
    and an impossible one such as 2026-02-30 is reported at its line instead of crashing.
    `!!str` gives a plain string, and a value the library cannot build (an integer of more
    digits than Python converts) is reported at its position instead of crashing."""

    def construct_yaml_str(self, node: Any) -> Any:
        return self.construct_scalar(node)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            line, column = _position_of(node.start_mark)
            if isinstance(node, ScalarNode) and node.tag == f"{_CORE}int":
                raise YamlSourceError(
                    f"the integer has {len(node.value)} characters, more than can be read",
                    line,
                    column,
                    allowed=f"an integer of at most {sys.get_int_max_str_digits()} digits, "
                    "or a quoted string",
                ) from exc
            raise YamlSourceError(f"cannot read the value: {exc}", line, column) from exc


_Constructor.add_constructor(f"{_CORE}str", _Constructor.construct_yaml_str)
_Constructor.add_constructor(f"{_CORE}timestamp", RoundTripConstructor.construct_yaml_str)


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.Scanner = _Scanner
    yaml.Composer = _Composer
    yaml.Constructor = _Constructor
    yaml.allow_duplicate_keys = False
    return yaml


def _read_bounded(path: Path) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes, whatever `path` is (file, device, FIFO)."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError as exc:
        raise YamlSourceError(
            "the path is a directory, not a spec file", allowed="a YAML file"
        ) from exc
    except OSError as exc:
        raise YamlSourceError(f"cannot read the file: {exc.strerror or exc}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise YamlSourceError(
            f"the file is larger than {MAX_FILE_BYTES // 1024} KiB; reading stopped there",
            allowed=f"a spec of at most {MAX_FILE_BYTES // 1024} KiB",
        )
    return raw


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
        raw = _read_bounded(path)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlSourceError(f"the file is not UTF-8 text ({exc.reason})") from exc
    elif len(text) > MAX_FILE_BYTES:
        raise YamlSourceError(
            f"the text is larger than {MAX_FILE_BYTES // 1024} KiB",
            allowed=f"a spec of at most {MAX_FILE_BYTES // 1024} KiB",
        )
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
