"""Roles describe themselves truthfully: defaults, argument specs and READMEs agree."""

from __future__ import annotations

import importlib.util
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (REPO / "roles").iterdir() if p.is_dir())
# Options each role documents that the inventory always provides instead of defaults/.
INVENTORY_PROVIDED = {"cluster_facts_offers"}


def _spec(role: Path) -> dict:
    return yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"][
        "main"
    ]["options"]


def _defaults(role: Path) -> dict:
    return yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_is_a_documented_option(role: Path) -> None:
    assert set(_defaults(role)) <= set(_spec(role))


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_optional_option_has_a_default(role: Path) -> None:
    missing = {
        name
        for name, option in _spec(role).items()
        if not option.get("required")
        and name not in _defaults(role)
        and not name.endswith("_objects")
    }
    assert missing == set()


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_literal_defaults_match_the_argument_spec(role: Path) -> None:
    spec = _spec(role)
    for name, value in _defaults(role).items():
        if isinstance(value, str) and "{{" in value:
            continue  # taken from the inventory at run time
        assert spec[name].get("default") == value, name


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_inputs_are_prefixed_with_the_role_name(role: Path) -> None:
    for name in _spec(role):
        assert name.startswith(f"{role.name}_") or name in INVENTORY_PROVIDED, name


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_readme_is_generated_from_the_argument_spec(role: Path) -> None:
    path = str(REPO / "hack" / "role-docs")
    spec = importlib.util.spec_from_loader("role_docs", SourceFileLoader("role_docs", path))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (role / "README.md").read_text() == module.readme(role), "run hack/role-docs"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_defaults_meta_tasks_and_a_molecule_scenario(role: Path) -> None:
    for part in (
        "defaults/main.yml",
        "meta/main.yml",
        "meta/argument_specs.yml",
        "tasks/main.yml",
        "README.md",
        "molecule/default/molecule.yml",
        "molecule/default/converge.yml",
        "molecule/default/verify.yml",
    ):
        assert (role / part).is_file(), part
