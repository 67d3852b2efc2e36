"""Deterministic YAML: the same data always gives the same bytes; Ansible reads it as data only."""

from __future__ import annotations

import re
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """Block style, sorted keys, no aliases, unicode kept: same data, same bytes."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _AnsibleDumper(_Dumper):
    """Writes the document's root mapping tagged `!unsafe`, so that Ansible never templates any
    string of it, keys included, at any depth.

    Not only strings with `{{`: a value starting with a `#jinja2:` header changes the delimiters,
    so no test of the content is enough. Tagging scalars one by one would not do either: Ansible
    re-resolves an `!unsafe` scalar as if it were plain (`!unsafe '123'` becomes a number), while
    inside an `!unsafe` collection quoted strings stay strings.
    """


class _UnsafeRoot(dict[str, Any]):
    pass


_ESCAPE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Characters YAML reads as line breaks or may not carry raw (NEL, LS, PS, controls) are
    # written escaped in double quotes, so every value reads back exactly as it was.
    if _ESCAPE.search(value):
        style: str | None = '"'
    else:
        style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_unsafe_root(dumper: yaml.SafeDumper, value: _UnsafeRoot) -> yaml.Node:
    return dumper.represent_mapping("!unsafe", dict(value))


_Dumper.add_representer(str, _represent_str)
_AnsibleDumper.add_representer(_UnsafeRoot, _represent_unsafe_root)


def dump_yaml(data: Any, *, for_ansible: bool = False) -> str:
    """Deterministic YAML; `for_ansible`: a mapping Ansible reads as data only."""
    if for_ansible:
        if not isinstance(data, dict):
            raise TypeError("an Ansible variables file is a mapping")
        data = _UnsafeRoot(data)
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
