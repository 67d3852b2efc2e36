"""Properties over arbitrary input: spec text is data, whatever it holds."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import is_trusted_as_template
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from labsctl import render, semantics
from labsctl.errors import RenderError
from labsctl.spec import Residency
from labsctl.unsafejson import dump_unsafe_json
from labsctl.yamldump import dump_yaml
from tests.unit.inventory_reading import (
    as_playbooks_read,
    as_vars_files_read,
    read_objects,
    write_inventory,
)
from tests.unit.walk import all_strings, string_paths

EXAMPLE = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "examples" / "openshift-platform.yaml").read_text()
)
SHAPE = [
    (o["kind"], sorted(o))
    for o in render(Residency.model_validate(EXAMPLE)).objects(lambda _c: True)
]


class _UnsafeLoader(yaml.SafeLoader):
    """Reads Ansible's `!unsafe` tag (on the root mapping) as the data it wraps."""


def _construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_UnsafeLoader.add_constructor("!unsafe", _construct_unsafe)


def _with(field: str, value: str) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLE)
    data["spec"][field] = value
    return data


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(field=st.sampled_from(["displayName", "organisation", "description"]), text=st.text())
def test_any_text_is_refused_or_kept_verbatim_without_changing_the_objects(
    field: str, text: str
) -> None:
    try:
        residency = Residency.model_validate(_with(field, text))
    except ValidationError:
        return
    objects = render(residency).objects(lambda _c: True)
    assert [(o["kind"], sorted(o)) for o in objects] == SHAPE
    if field == "organisation":
        assert {o["metadata"]["annotations"]["labsctl.dev/organisation"] for o in objects} == {text}


JSON_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(min_size=1), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(value=JSON_DATA)
def test_any_helm_value_round_trips_through_the_inventory_unchanged(value: Any) -> None:
    document = {"values": value}
    assert yaml.load(dump_yaml(document, for_ansible=True), Loader=_UnsafeLoader) == document


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(value=JSON_DATA.filter(lambda v: "__ansible_" not in json.dumps(v)))
def test_any_value_round_trips_through_the_objects_file_untrusted(
    value: Any, tmp_path_factory: Any
) -> None:
    """Read by the collection's vars plugin and by Ansible's own loader (`vars_files`): the
    same data, of the same types, and no string of it a template for Ansible."""
    path = tmp_path_factory.mktemp("objects") / "t.objects.json"
    path.write_text(dump_unsafe_json({"values": value}))
    for seen in (
        read_objects(str(path)),
        DataLoader().load_from_file(str(path), unsafe=True, trusted_as_template=True),
    ):
        assert seen == {"values": value}
        assert json.dumps(seen, sort_keys=True) == json.dumps({"values": value}, sort_keys=True)
        assert _trusted_strings(seen) == []


def test_a_key_ansible_would_read_as_a_marker_is_refused() -> None:
    with pytest.raises(RenderError, match=r"values\.__ansible_unsafe"):
        dump_unsafe_json({"values": {"__ansible_unsafe": "x"}})


@settings(max_examples=100, deadline=None)
@given(text=st.text())
def test_any_template_like_string_stays_unsafe_and_exact_in_the_inventory(text: str) -> None:
    value = "{{ " + text
    dumped = dump_yaml({"v": value}, for_ansible=True)
    assert dumped.startswith("--- !unsafe\n")
    assert yaml.load(dumped, Loader=_UnsafeLoader) == {"v": value}


def _trusted_strings(data: Any) -> list[str]:
    return [s for s in all_strings(data) if is_trusted_as_template(s)]


# Fields whose value is not written into any object (references, switches, secret sources).
NOT_RENDERED = {
    ("spec", "cluster", "flavour"),
    ("spec", "stages", 0, "quota", "profile"),  # a profile's name selects values, not rendered
    ("spec", "pipelines", "gitCredentialsSecret"),
    ("spec", "secrets", 0, "name"),
    ("spec", "secrets", 0, "env"),
    ("spec", "secrets", 0, "description"),
    ("spec", "secrets", 1, "name"),
    ("spec", "secrets", 1, "env"),
    ("spec", "secrets", 1, "description"),
    ("apiVersion",),
    ("kind",),
}
STRING_PATHS = string_paths(EXAMPLE)
HOSTILE = st.sampled_from(
    [
        "#jinja2:variable_start_string:'[[', variable_end_string:']]'\n[[ lookup('pipe','id') ]]",
        "#jinja2:x",
        "{{ lookup('env', 'K8S_AUTH_API_KEY') }}",
        "{% for x in range(9) %}x{% endfor %}",
        "$(id)",
        "`id`",
        "'; touch /tmp/x; '",
        "a\nkind: Secret",
        "[/x] [bold]",
        "\x1b]0;title\x07",
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(path=st.sampled_from(STRING_PATHS), text=HOSTILE | st.text())
def test_any_string_in_any_field_is_refused_or_reaches_objects_and_ansible_as_exact_data(
    path: tuple[Any, ...], text: str, tmp_path_factory: Any
) -> None:
    """Refused by validation, or: written whole into the objects, and read as ansible-playbook
    reads the inventory (the facts by Ansible's own loader, the objects by the collection's vars
    plugin) and as `vars_files` reads the objects file, as exactly the rendered data, no string
    of it trusted as a template, so Ansible never evaluates it."""
    data = copy.deepcopy(EXAMPLE)
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = text
    try:
        residency = Residency.model_validate(data)
    except ValidationError:
        return
    if semantics.check(residency):
        return
    rendering = render(residency)
    objects = rendering.objects(lambda _c: True)
    assert [(o["kind"], sorted(o)) for o in objects] == SHAPE
    if path not in NOT_RENDERED and text:
        assert any(text in s for s in all_strings(objects)), path
    inventory = write_inventory(tmp_path_factory.mktemp("residency"), rendering)
    expected = json.loads(json.dumps(rendering.variables()))
    for seen in (
        as_playbooks_read(inventory, residency.name),
        as_vars_files_read(inventory, residency.name),
    ):
        assert _trusted_strings(seen) == []
        assert {k: v for k, v in seen.items() if k in expected} == expected
