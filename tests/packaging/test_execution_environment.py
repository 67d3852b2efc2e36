"""`ansible-builder create` makes a build context that installs labsctl, its collection and their
Python requirements, from a pinned base image, fetching nothing but from PyPI.

No container engine: the generated Containerfile and context are read, not built.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from tests.integration.playbooks import REPO
from tests.packaging.conftest import BIN, COLLECTION, Dist, run

# Where the base image may come from; Python packages come from PyPI's default index only.
ALLOWED_REGISTRIES = ("registry.access.redhat.com/",)
EE_FILE = REPO / "execution-environment.yml"


def definition() -> dict[str, Any]:
    return yaml.safe_load(EE_FILE.read_text())


def constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements" / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


@pytest.fixture(scope="module")
def context(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build context, made as CI does: from a checkout whose dist/ holds the distributions
    (a copy of the files the definition names, so the repository's dist/ is left alone)."""
    root = tmp_path_factory.mktemp("ee")
    shutil.copy(EE_FILE, root)
    shutil.copytree(REPO / "requirements", root / "requirements")
    shutil.copytree(dist.directory, root / "dist")
    run(
        BIN / "ansible-builder",
        "create",
        "--file",
        root / EE_FILE.name,
        "--context",
        root / "context",
        "--output-filename",
        "Containerfile",
        cwd=root,
    )
    return root / "context"


def stages(containerfile: str) -> dict[str, list[str]]:
    """The instructions of each stage, by stage name (continuation lines joined)."""
    result: dict[str, list[str]] = {"": []}
    current = ""
    for line in containerfile.replace("\\\n", " ").splitlines():
        if match := re.match(r"FROM \S+ AS (\w+)", line):
            current = match.group(1)
            result[current] = []
        elif line.strip() and not line.startswith("#"):
            result[current].append(line.strip())
    return result


def test_the_context_holds_the_wheel_the_collection_and_their_requirements(
    context: Path, dist: Dist
) -> None:
    build = context / "_build"
    assert (build / "labsctl" / dist.wheel.name).read_bytes() == dist.wheel.read_bytes()
    assert (build / "labsctl" / dist.collection.name).read_bytes() == dist.collection.read_bytes()
    assert (build / "labsctl" / "constraints.txt").read_text() == (
        REPO / "requirements" / "constraints.txt"
    ).read_text()
    assert (build / "requirements.txt").read_text() == (
        REPO / "requirements" / "ee-python.txt"
    ).read_text()
    # The galaxy stage runs in /build, where _build/ is copied: each tarball is found there.
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    assert galaxy["collections"], "the collection must be installed"
    for entry in galaxy["collections"]:
        assert entry["type"] == "file", entry
        assert (build / entry["name"]).is_file(), f"{entry['name']} is not in the context"


def test_the_containerfile_installs_the_collection_and_labsctl_in_the_final_image(
    context: Path, dist: Dist
) -> None:
    steps = stages((context / "Containerfile").read_text())

    assert any(
        "ansible-galaxy collection install" in s and "-r requirements.yml" in s
        for s in steps["galaxy"]
    )
    assert "COPY --from=galaxy /usr/share/ansible /usr/share/ansible" in steps["final"]
    assert "RUN /output/scripts/assemble" in steps["builder"]  # ee-python.txt
    installs = [s for s in steps["final"] if "pip install" in s and "labsctl-" in s]
    assert len(installs) == 1, steps["final"]
    assert "--constraint /tmp/labsctl/constraints.txt" in installs[0]
    wheel_glob = re.search(r"/tmp/labsctl/(\S+\.whl)", installs[0])
    assert wheel_glob and Path(dist.wheel.name).match(wheel_glob.group(1))
    assert any(s.startswith("COPY _build/labsctl/ /tmp/labsctl/") for s in steps["final"])
    checks = [s for s in steps["final"] if "labsctl --version" in s]
    assert checks and "ansible-galaxy collection list labsctl.residency" in checks[0]


def test_the_base_image_is_pinned_and_from_an_allowed_registry(context: Path) -> None:
    image = definition()["images"]["base_image"]["name"]
    containerfile = (context / "Containerfile").read_text()

    assert f'ARG EE_BASE_IMAGE="{image}"' in containerfile
    assert image.startswith(ALLOWED_REGISTRIES), image
    name, _, digest = image.partition("@")
    tag = name.rpartition(":")[2] if ":" in name.rpartition("/")[2] else ""
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest) or re.fullmatch(r"\d+(\.\d+)+", tag), (
        f"pin the base image to a version tag or a digest, not {image!r}"
    )
    froms = re.findall(r"^FROM (\S+)", containerfile, re.M)
    assert set(froms) <= {"$EE_BASE_IMAGE", "base"}, froms


def test_no_build_step_fetches_from_anywhere_but_pypi(context: Path) -> None:
    containerfile = (context / "Containerfile").read_text()
    runs = [s for stage in stages(containerfile).values() for s in stage if s.startswith("RUN ")]

    assert runs
    for step in runs:
        assert not re.search(r"\b(curl|wget|git|scp|rsync)\b|://", step), step
        if "pip install" in step:  # PyPI's default index, nothing else
            assert not re.search(r"--(extra-)?index-url|--find-links|\s-[if]\s", step), step
    # ansible-galaxy never asks a Galaxy server: offline, and only tarballs in the context.
    assert re.search(r'^ARG ANSIBLE_GALAXY_CLI_COLLECTION_OPTS=".*--offline', containerfile, re.M)
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert set(galaxy) == {"collections"}
    assert {entry["type"] for entry in galaxy["collections"]} == {"file"}


def test_the_pinned_versions_are_the_ones_the_tests_run_with() -> None:
    pins = constraints()
    assert definition()["version"] == 3
    dependencies = definition()["dependencies"]

    for key in ("ansible_core", "ansible_runner"):
        requirement = Requirement(dependencies[key]["package_pip"])
        assert str(requirement.specifier) == f"=={pins[requirement.name]}", requirement
    for line in (REPO / "requirements" / "ee-python.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line.split("#")[0])
            pinned = pins[requirement.name.lower()]
            assert requirement.specifier.contains(pinned), f"{requirement} excludes {pinned}"
    galaxy = yaml.safe_load((REPO / "requirements" / "ee-galaxy.yml").read_text())
    version = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())["version"]
    assert [entry["name"] for entry in galaxy["collections"]] == [
        f"labsctl/labsctl-residency-{version}.tar.gz"
    ]
