"""Deterministic YAML: the same data always gives the same bytes; Ansible reads it as data only.

The dumper is the collection's (`module_utils/handover.py`), so the hand-over files that
`labsctl export` and the playbooks' backups write are the same bytes.
"""

from __future__ import annotations

from typing import Any

import yaml

from labsctl import collection

_HANDOVER = collection.handover()
_Dumper: type[yaml.SafeDumper] = _HANDOVER.Dumper


class _AnsibleDumper(getattr(yaml, "CSafeDumper", _Dumper)):  # type: ignore[misc]
    """Writes the document's root mapping tagged `!unsafe`, so that Ansible never templates any
    string of it, keys included, at any depth.

    libyaml's emitter where PyYAML has it (about 5x faster; inventories are read by Ansible as
    data, so only the data must be the same) with the hand-over dumper's representers.

    Not only strings with `{{`: a value starting with a `#jinja2:` header changes the delimiters,
    so no test of the content is enough. Tagging scalars one by one would not do either: Ansible
    re-resolves an `!unsafe` scalar as if it were plain (`!unsafe '123'` becomes a number), while
    inside an `!unsafe` collection quoted strings stay strings.
    """


class _UnsafeRoot(dict[str, Any]):
    pass


def _represent_unsafe_root(dumper: yaml.SafeDumper, value: _UnsafeRoot) -> yaml.Node:
    return dumper.represent_mapping("!unsafe", dict(value))


_AnsibleDumper.ignore_aliases = _Dumper.ignore_aliases
_AnsibleDumper.add_representer(str, _Dumper.yaml_representers[str])
_AnsibleDumper.add_representer(_UnsafeRoot, _represent_unsafe_root)


def dump_yaml(data: Any, *, for_ansible: bool = False) -> str:
    """Deterministic YAML; `for_ansible`: a mapping Ansible reads as data only."""
    if for_ansible:
        if not isinstance(data, dict):
            raise TypeError("an Ansible variables file is a mapping")
        return str(_HANDOVER.dump_yaml(_UnsafeRoot(data), dumper=_AnsibleDumper))
    return str(_HANDOVER.dump_yaml(data))


def dump_documents(documents: list[Any]) -> str:
    return "".join(dump_yaml(doc) for doc in documents)
