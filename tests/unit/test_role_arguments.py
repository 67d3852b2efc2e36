"""Every variable labsctl writes into an inventory for a role passes that role's argument spec,
for every example: the roles' own validation (a task of Ansible's at the start of each role)
never refuses what labsctl renders.

(labsctl's runs cannot skip those validations to save their worker forks: Ansible tags them
`always` like the implicit `role_complete` task, and skipping that one makes every role's
dependency on cluster_facts run again.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from labsctl import paths
from labsctl.inventory import host_vars
from labsctl.render import render
from labsctl.validation import load_spec

# Set during the play by the cluster_facts role (its own task), not by the inventory.
FROM_THE_PLAY = {"cluster_facts_offers"}
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
ROLES = sorted(p.parent.parent for p in paths.roles_dir().glob("*/meta/argument_specs.yml"))


def _specs() -> dict[str, dict[str, Any]]:
    """Each role's `main` options, as Ansible's validator takes them."""
    specs = {}
    for role in ROLES:
        data = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
        options = data["argument_specs"]["main"]["options"]
        specs[role.name] = {
            name: _option(option) for name, option in options.items() if name not in FROM_THE_PLAY
        }
    return specs


def _option(option: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in option.items() if k not in ("description", "version_added")}
    if "options" in kept:
        kept["options"] = {name: _option(sub) for name, sub in kept["options"].items()}
    return kept


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_variable_labsctl_writes_for_a_role_passes_its_argument_spec(example: Path) -> None:
    variables = host_vars(render(load_spec(example)))
    checked = 0
    for role, spec in _specs().items():
        given = {name: value for name, value in variables.items() if name in spec}
        result = ArgumentSpecValidator(spec).validate(given)
        assert result.error_messages == [], (role, result.error_messages)
        checked += len(given)
    prefixed = [n for n in variables if n.split("_")[0] in {r.name for r in ROLES}]
    assert checked == len(prefixed) > 0  # every role variable labsctl writes was checked


def test_a_role_variable_of_the_wrong_type_is_caught_by_the_same_check() -> None:
    variables = host_vars(render(load_spec(EXAMPLES[0])))
    variables["namespaces_objects"] = "not a list of objects"
    spec = _specs()["namespaces"]
    given = {name: value for name, value in variables.items() if name in spec}
    assert ArgumentSpecValidator(spec).validate(given).error_messages
