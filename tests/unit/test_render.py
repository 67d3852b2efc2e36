"""Rendering: one set of object definitions, deterministic, owned, contained and injection-proof."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from ansible.template import is_trusted_as_template

from labsctl import api, load_spec, naming, semantics
from labsctl.errors import RenderError, UsageError
from labsctl.files import MANIFEST, contained, write_tree
from labsctl.inventory import inventory_files
from labsctl.manifests import manifest_files
from labsctl.render import render
from labsctl.spec import Residency
from tests.unit.inventory_reading import as_playbooks_read, as_vars_files_read, write_inventory
from tests.unit.walk import all_strings, string_paths

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
GOLDEN = REPO / "tests" / "data" / "golden"
UPDATE = os.environ.get("LABSCTL_UPDATE_GOLDEN") == "1"
CRD_GROUPS = (
    "tekton.dev",
    "triggers.tekton.dev",
    "argoproj.io",
    "user.openshift.io",
    "route.openshift.io",
)


def _compare_tree(expected_dir: Path, files: dict[str, str]) -> None:
    if UPDATE:
        write_tree(expected_dir.parent, expected_dir.name, files)
    on_disk = {
        p.relative_to(expected_dir).as_posix(): p.read_text(encoding="utf-8")
        for p in expected_dir.rglob("*")
        if p.is_file() and p.name != MANIFEST  # written by write_tree, not by the rendering
    }
    assert sorted(on_disk) == sorted(files)
    for name, text in files.items():
        assert on_disk[name] == text, f"{expected_dir / name} differs; LABSCTL_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_committed_inventories_match_a_fresh_render(example: Path) -> None:
    rendering = render(load_spec(example))
    _compare_tree(REPO / "inventories" / rendering.residency.name, inventory_files([rendering]))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_golden_manifests_match_a_fresh_render(example: Path) -> None:
    rendering = render(load_spec(example))
    _compare_tree(GOLDEN / "manifests" / rendering.residency.name, manifest_files(rendering))


def test_rendering_twice_gives_identical_bytes(tmp_path: Path) -> None:
    for fmt in ("inventory", "manifests"):
        first = api.render_spec(EXAMPLES[0], tmp_path / "a", fmt)
        second = api.render_spec(EXAMPLES[0], tmp_path / "b", fmt)
        for name in first.files:
            assert (first.directory / name).read_bytes() == (second.directory / name).read_bytes()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_object_carries_ownership_labels_and_dates(example: Path) -> None:
    residency = load_spec(example)
    for obj in render(residency).objects(lambda _: True):
        labels = obj["metadata"]["labels"]
        assert labels[naming.LABEL_MANAGED_BY] == "labsctl"
        assert labels[naming.LABEL_RESIDENCY] == residency.name
        annotations = obj["metadata"]["annotations"]
        assert annotations[naming.ANNOTATION_END] == residency.spec.dates.end.isoformat()
        namespace = obj["metadata"].get("namespace") or (
            obj["metadata"]["name"] if obj["kind"] == "Namespace" else None
        )
        if namespace in [residency.namespace(s) for s in residency.stage_names()]:
            assert labels[naming.LABEL_STAGE] == namespace.removeprefix(residency.name + "-")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_core_manifests_validate_against_the_kubernetes_schema(example: Path) -> None:
    checked = 0
    for obj in render(load_spec(example)).objects(lambda _: True):
        if obj["apiVersion"].split("/")[0] in CRD_GROUPS:
            continue  # served as CRDs: checked by the API server in the integration tests
        kubernetes_validate.validate(obj, "1.37", strict=True)
        checked += 1
    assert checked > 10


def test_team_roles_are_capped_by_a_stage_max_role() -> None:
    residency = load_spec(REPO / "examples" / "openshift-platform.yaml")
    bindings = [
        o
        for o in render(residency).objects()
        if o["kind"] == "RoleBinding"
        and o["metadata"]["namespace"] == "mobile-banking-staging"
        and o["metadata"]["name"].startswith("team-")
    ]
    assert [b["roleRef"]["name"] for b in bindings] == ["view"]
    assert {s["name"] for s in bindings[0]["subjects"]} == {
        "mobile-banking-engineers",
        "mobile-banking-leads",
        "hugo",
    }


def test_pipeline_account_gets_edit_only_in_allowed_stages() -> None:
    residency = load_spec(REPO / "examples" / "small-team.yaml")
    deployers = [
        o
        for o in render(residency).objects()
        if o["kind"] == "RoleBinding" and any(s["kind"] == "ServiceAccount" for s in o["subjects"])
    ]
    assert sorted(o["metadata"]["namespace"] for o in deployers) == [
        "payments-dev",
        "payments-test",
    ]
    assert {o["roleRef"]["name"] for o in deployers} == {"edit"}


def test_cluster_scoped_rbac_is_only_the_listeners_read_of_triggers_cluster_kinds() -> None:
    """No spec can reach cluster-wide rights: the one ClusterRole rendered reads Triggers'
    cluster interceptors and bindings (Triggers' own listener role would read every Secret),
    bound only to the residency's own listener account."""
    found = 0
    for example in EXAMPLES:
        residency = load_spec(example)
        objects = render(residency).objects(lambda _: True)
        roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterRole"}
        for role in roles.values():
            assert role["rules"] == [
                {
                    "apiGroups": ["triggers.tekton.dev"],
                    "resources": ["clusterinterceptors", "clustertriggerbindings"],
                    "verbs": ["get", "list", "watch"],
                }
            ]
        for binding in (o for o in objects if o["kind"] == "ClusterRoleBinding"):
            found += 1
            assert binding["roleRef"]["name"] in roles
            assert binding["subjects"] == [
                {
                    "kind": "ServiceAccount",
                    "name": "event-listener",
                    "namespace": residency.namespace(residency.spec.pipelines.stage),
                }
            ]
    assert found == 1  # the OpenShift example has a webhook, the small team none


def _set(data: Any, path: tuple[Any, ...], value: str) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


PAYLOADS = (
    "{{ lookup('pipe', 'id') }}",
    "{% raw %}x",
    "a\nkind: Secret",
    "x: {y: 1}",
    "'; rm -rf /; '",
    "\x07bell",
    "}} {{",
)


def _base_data() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "examples" / "openshift-platform.yaml").read_text())
    data["spec"]["tooling"]["tools"][1]["values"]["note"] = "plain"
    return data


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_into_any_string_field_is_refused_or_rendered_literally(payload: str) -> None:
    base = _base_data()
    shape = [
        (o["kind"], sorted(o))
        for o in render(Residency.model_validate(base)).objects(lambda _: True)
    ]
    for path in string_paths(base):
        data = copy.deepcopy(base)
        _set(data, path, payload)
        try:
            residency = Residency.model_validate(data)
        except ValueError:
            continue  # refused by validation: fine
        if semantics.check(residency):
            continue
        rendering = render(residency)
        objects = rendering.objects(lambda _: True)
        # Data, not structure: the same objects, kinds and top-level keys as without the payload;
        # where it is rendered, it is whole, never split, escaped away or evaluated.
        assert [(o["kind"], sorted(o)) for o in objects] == shape, path
        fragment = payload[:4]
        assert not [s for s in all_strings(objects) if fragment in s and payload not in s], path
        # The facts file is one `!unsafe` mapping; that no string of either file is ever a
        # template for Ansible is the property test's (tests/unit/test_properties.py).
        files = inventory_files([rendering])
        assert files[f"host_vars/{residency.name}.yml"].count("--- !unsafe") == 1, path


def _strings_ansible_would_template(data: Any, top: bool = True) -> list[str]:
    """Strings Ansible trusts as templates, keys included (top-level variable names aside)."""
    if isinstance(data, str):
        return [data] if is_trusted_as_template(data) else []
    if isinstance(data, dict):
        found = [k for k in data if not top and isinstance(k, str) and is_trusted_as_template(k)]
        for value in data.values():
            found += _strings_ansible_would_template(value, top=False)
        return found
    if isinstance(data, list):
        return [s for item in data for s in _strings_ansible_would_template(item, top=False)]
    return []


JINJA_HEADER = "#jinja2:variable_start_string:'[[', variable_end_string:']]'\n[[ 7 * 7 ]]\n"


def test_no_string_of_the_inventory_is_ever_a_template_for_ansible(tmp_path: Path) -> None:
    """Not only strings with `{{`: a `#jinja2:` header changes the delimiters, so every string
    value and key is unsafe, read as ansible-playbook reads the inventory (its host_vars plugin
    and the collection's vars plugin), and as `vars_files` reads the objects file."""
    data = _base_data()
    data["spec"]["description"] = JINJA_HEADER
    data["spec"]["tooling"]["tools"][1]["values"] = {
        "note": "{{ lookup('pipe','id') }}",
        "{{ lookup('pipe','id') }}": "key",
        "header": JINJA_HEADER,
        "plain": "no markers at all",
    }
    rendering = render(Residency.model_validate(data))
    inventory = write_inventory(tmp_path, rendering)
    rendered = json.loads(json.dumps(rendering.variables()["gitops_objects"]))
    for loaded in (
        as_playbooks_read(inventory, "mobile-banking"),
        as_vars_files_read(inventory, "mobile-banking"),
    ):
        assert _strings_ansible_would_template(loaded) == []
        assert loaded["gitops_objects"] == rendered
    app = next(
        o for o in rendering.objects() if o["metadata"]["name"] == "mobile-banking-sonarqube"
    )
    assert app["spec"]["source"]["helm"]["valuesObject"]["header"] == JINJA_HEADER


@pytest.mark.parametrize("name", ["..", ".", "a/b", "/etc", "", "x\x00y", "..\\x"])
def test_output_names_cannot_escape_the_output_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(RenderError):
        contained(tmp_path, name)


def test_writing_through_a_symlink_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    base = tmp_path / "inventories"
    base.mkdir()
    (base / "payments").symlink_to(outside)
    with pytest.raises(RenderError, match="symbolic link"):
        write_tree(base, "payments", {"hosts.yml": "x"})
    assert not list(outside.iterdir())


def test_failed_render_leaves_the_previous_inventory_intact(tmp_path: Path) -> None:
    write_tree(tmp_path, "demo", {"hosts.yml": "old\n"})
    with pytest.raises(RenderError):
        write_tree(tmp_path, "demo", {"hosts.yml": "new\n", "../escape.yml": "x"})
    assert (tmp_path / "demo" / "hosts.yml").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_template_override_directory_replaces_and_adds_templates(tmp_path: Path) -> None:
    (tmp_path / "network").mkdir()
    (tmp_path / "network" / "extra.yaml.j2").write_text(
        "{% for stage in stages %}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata:\n  name: allow-monitoring\n  namespace: {{ stage.namespace }}\n"
        "spec:\n  podSelector: {}\n{% endfor %}\n"
    )
    residency = load_spec(EXAMPLES[0])
    names = [o["metadata"]["name"] for o in render(residency, tmp_path).objects()]
    assert names.count("allow-monitoring") == len(residency.stage_names())
    extra = next(
        o
        for o in render(residency, tmp_path).objects()
        if o["metadata"]["name"] == "allow-monitoring"
    )
    assert extra["metadata"]["labels"][naming.LABEL_MANAGED_BY] == "labsctl"


def test_template_outside_a_role_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stray.yaml.j2").write_text("---\n")
    with pytest.raises(RenderError, match="not under <role>"):
        render(load_spec(EXAMPLES[0]), tmp_path)


def test_init_writes_a_valid_commented_starter_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = api.init("demo-team", tmp_path, today=dt.date(2026, 11, 24))
    assert api.validate([path]) == []
    assert "# " in path.read_text()
    with pytest.raises(UsageError, match="already exists"):
        api.init("demo-team", tmp_path)
    api.init("demo-team", tmp_path, force=True)
