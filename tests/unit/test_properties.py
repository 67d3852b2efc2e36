"""Properties over arbitrary input: spec text is data, whatever it holds."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from labsctl import render
from labsctl.files import dump_yaml
from labsctl.spec import Residency

EXAMPLE = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "examples" / "openshift-platform.yaml").read_text()
)
SHAPE = [
    (o["kind"], sorted(o))
    for o in render(Residency.model_validate(EXAMPLE)).objects(lambda _c: True)
]


class _UnsafeLoader(yaml.SafeLoader):
    """Reads Ansible's `!unsafe` tag as the plain string it wraps."""


_UnsafeLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


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


@settings(max_examples=150, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(min_size=1), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_any_helm_value_round_trips_through_the_inventory_unchanged(value: Any) -> None:
    document = {"values": value}
    assert yaml.load(dump_yaml(document, for_ansible=True), Loader=_UnsafeLoader) == document


@settings(max_examples=100, deadline=None)
@given(text=st.text())
def test_any_template_like_string_stays_unsafe_and_exact_in_the_inventory(text: str) -> None:
    value = "{{ " + text
    dumped = dump_yaml({"v": value}, for_ansible=True)
    assert "!unsafe" in dumped
    assert yaml.load(dumped, Loader=_UnsafeLoader) == {"v": value}
