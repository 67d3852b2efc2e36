"""JSON that Ansible reads as data only: every string written `{"__ansible_unsafe": "..."}`.

The form of `ansible-inventory --export`: Ansible's own loader (`include_vars`, `vars_files`)
reads each such string as untrusted text, never a template, and the collection's vars plugin
`residency_objects` reads the file with the standard JSON parser. Keys are never templated by
Ansible; a key that Ansible's JSON decoder would take for a marker (`__ansible_...`) is refused.
One line per scalar, keys in the data's order: the same data always gives the same bytes, and a
change to one field is one line of a diff.
"""

from __future__ import annotations

import json
from typing import Any

from labsctl.errors import RenderError

MARKER = "__ansible_unsafe"
_RESERVED_PREFIX = "__ansible_"


def dump_unsafe_json(data: dict[str, Any]) -> str:
    if not isinstance(data, dict):
        raise TypeError("an Ansible variables file is a mapping")
    parts: list[str] = []
    _write(data, "", parts, "")
    parts.append("\n")
    return "".join(parts)


def _write(value: Any, indent: str, out: list[str], where: str) -> None:
    if isinstance(value, str):
        out.append(f'{{"{MARKER}": {json.dumps(value, ensure_ascii=False)}}}')
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = indent + "  "
        out.append("{")
        for number, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise RenderError(f"{where or 'the data'}: key {key!r} is not a string")
            if key.startswith(_RESERVED_PREFIX):
                raise RenderError(
                    f"{where}.{key}: keys starting with {_RESERVED_PREFIX!r} are reserved by"
                    " Ansible's JSON format"
                )
            out.append(
                ("," if number else "") + f"\n{inner}{json.dumps(key, ensure_ascii=False)}: "
            )
            _write(item, inner, out, f"{where}.{key}" if where else key)
        out.append(f"\n{indent}}}")
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        inner = indent + "  "
        out.append("[")
        for number, item in enumerate(value):
            out.append(("," if number else "") + f"\n{inner}")
            _write(item, inner, out, f"{where}[{number}]")
        out.append(f"\n{indent}]")
    elif value is None or isinstance(value, bool | int | float):
        try:
            out.append(json.dumps(value, allow_nan=False))
        except ValueError:
            raise RenderError(f"{where}: {value!r} is not a JSON number") from None
    else:
        raise RenderError(f"{where}: a {type(value).__name__} is not JSON data")
