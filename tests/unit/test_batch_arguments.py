"""A batched task of the collection templates its arguments once for each residency
(plugins/plugin_utils/batch.py). An argument that is only a variable whose value holds no
template (a labsctl inventory's `!unsafe` objects) is taken as plain data, without Ansible's
templating; anything else is templated exactly as Ansible would."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "playbooks" / "collections"))
from ansible_collections.labsctl.residency.plugins.plugin_utils.batch import (
    template_data,
)


def _variables(tmp_path: Path, text: str) -> dict[str, Any]:
    """Host variables as Ansible's loader reads them from a host_vars file."""
    path = tmp_path / "host.yml"
    path.write_text(text)
    loaded = DataLoader().load_from_file(str(path))
    assert isinstance(loaded, dict)
    return loaded


def _args(value: Any) -> Any:
    """Task arguments as they come from a playbook: every string may be a template."""
    if isinstance(value, dict):
        return {k: _args(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_args(v) for v in value]
    return trust_as_template(value) if isinstance(value, str) else value


def _template(variables: dict[str, Any], args: dict[str, Any]) -> Any:
    templar = Templar(loader=DataLoader(), variables=variables)
    return template_data(templar, _args(args), variables)


def _plain_types(value: Any) -> bool:
    if isinstance(value, dict):
        return type(value) is dict and all(_plain_types(v) for v in value.values())
    if isinstance(value, list):
        return type(value) is list and all(_plain_types(v) for v in value)
    return type(value) in (str, int, float, bool, type(None))


UNSAFE = """--- !unsafe
objects:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: team-dev
    annotations:
      note: "{{ lookup('ansible.builtin.pipe', 'id') }}"
flag: true
"""


def test_an_unsafe_variable_comes_through_as_plain_data_with_its_braces_untouched(
    tmp_path: Path,
) -> None:
    variables = _variables(tmp_path, UNSAFE)
    done = _template(variables, {"sets": [{"objects": "{{ objects }}", "when": "{{ flag }}"}]})
    obj = done["sets"][0]["objects"][0]
    assert obj["metadata"]["annotations"]["note"] == "{{ lookup('ansible.builtin.pipe', 'id') }}"
    assert done["sets"][0]["when"] is True
    assert _plain_types(done["sets"][0]["objects"])


def test_a_variable_holding_a_template_is_templated_as_ansible_would(tmp_path: Path) -> None:
    # host_vars files are trusted: their templates are templated (no `!unsafe` here)
    variables = _args(
        _variables(
            tmp_path,
            "stage: dev\nobjects:\n- kind: Namespace\n  metadata:\n    name: 'team-{{ stage }}'\n",
        )
    )
    done = _template(variables, {"objects": "{{ objects }}"})
    assert done["objects"][0]["metadata"]["name"] == "team-dev"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"context": "{{ nowhere | default(omit) }}", "n": 1}, {"n": 1}),
        ({"objects": "{{ objects | map(attribute='kind') | list }}"}, {"objects": ["Namespace"]}),
        ({"count": "{{ objects | length }}"}, {"count": 1}),
    ],
)
def test_omitted_and_computed_arguments_are_templated_by_ansible(
    tmp_path: Path, args: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert _template(_variables(tmp_path, UNSAFE), args) == expected
