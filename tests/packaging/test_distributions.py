"""What we publish works on its own: the wheel carries everything labsctl reads at run time and
a fresh venv from it runs the main job; the collection tarball carries the collection and none
of a checkout's leftovers, and the playbooks run with nothing but that installed tarball."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from kubernetes import client

from labsctl import naming
from labsctl.inventory import VARS_PLUGINS
from tests.integration.playbooks import REPO, PlaybookRun, write_inventory, write_spec
from tests.packaging.conftest import BIN, COLLECTION, Dist, build_collection, run

GO_MODULES = [
    f"labsctl/sandbox/gomod/{module}/{name}"
    for module in ("k8s", "etcd")
    for name in ("go.mod", "go.sum")
]


def source_files(*under: str) -> list[str]:
    """The files git would publish under these paths (tracked or new, never ignored ones)."""
    listed = run(
        "git",
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
        "--deduplicate",
        "--",
        *under,
    )
    return [path for path in listed.splitlines() if (REPO / path).is_file()]


def test_the_wheel_ships_every_template_role_playbook_and_control_plane_build_file(
    dist: Dist,
) -> None:
    with zipfile.ZipFile(dist.wheel) as wheel:
        shipped = set(wheel.namelist())
    expected = {
        f"labsctl/_bundle/{path}" for path in source_files("templates", "roles", "playbooks")
    }
    expected |= set(source_files("labsctl"))  # the package, with its CRDs and Go modules

    assert {f"labsctl/_bundle/{p}" for p in ("templates", "roles", "playbooks")} <= {
        "/".join(path.split("/")[:3]) for path in expected
    }
    assert set(GO_MODULES) <= expected
    assert sorted(expected - shipped) == []


def test_the_collection_tarball_leaves_out_test_outputs_and_caches(tmp_path: Path) -> None:
    copy = tmp_path / "ansible_collections" / "labsctl" / "residency"
    shutil.copytree(COLLECTION, copy)
    leftovers = [
        "tests/output/junit/python3.11.xml",
        "plugins/modules/__pycache__/k8s_apply.cpython-311.pyc",
        ".pytest_cache/v/cache/lastfailed",
        "plugins/.mypy_cache/3.11/cache.db",
        ".ruff_cache/0.17.6/cache",
        "labsctl-residency-0.0.1.tar.gz",
    ]
    for leftover in leftovers:
        (copy / leftover).parent.mkdir(parents=True, exist_ok=True)
        (copy / leftover).write_text("left over")

    tarball = build_collection(copy, tmp_path / "dist")

    listed = run("tar", "tzf", tarball).splitlines()
    files = {path for path in listed if not path.endswith("/")}
    expected = {
        path.removeprefix(f"{COLLECTION.relative_to(REPO)}/")
        for path in source_files(str(COLLECTION.relative_to(REPO)))
    }
    assert files == (expected - {"galaxy.yml"}) | {"MANIFEST.json", "FILES.json"}
    assert not [path for path in listed if "cache" in path or "tests/output" in path]


def ansible_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A neutral Ansible configuration: no ansible.cfg, nothing from the checkout."""
    config = tmp_path / "ansible.cfg"
    config.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K8S_AUTH_"))}
    env.pop("KUBECONFIG", None)
    return (
        env
        | {"ANSIBLE_CONFIG": str(config), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
        | settings
    )


@pytest.mark.integration
def test_the_playbooks_run_with_only_the_collection_installed_from_its_tarball(
    tmp_path: Path, dist: Dist, residency_name: str, admin_kubeconfig: Path, k8s: client.ApiClient
) -> None:
    installed = tmp_path / "installed"
    # With the checkout's ansible.cfg, ansible-galaxy would find the collection already installed
    # (in playbooks/collections) and install nothing.
    done = subprocess.run(
        [
            *(str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps"),
            *(str(dist.collection), "-p", str(installed)),
        ],
        cwd=tmp_path,
        env=ansible_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(installed)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (installed / "ansible_collections" / "labsctl" / "residency" / "MANIFEST.json").is_file()
    # The playbooks and roles without the checkout's playbooks/collections next to them.
    project = tmp_path / "project"
    (project / "playbooks").mkdir(parents=True)
    for playbook in (REPO / "playbooks").glob("*.yml"):
        shutil.copy(playbook, project / "playbooks")
    shutil.copytree(REPO / "roles", project / "roles")
    inventory = write_inventory(tmp_path, [write_spec(tmp_path, residency_name)])

    def bootstrap(collections: Path) -> PlaybookRun:
        env = ansible_env(
            tmp_path,
            ANSIBLE_COLLECTIONS_PATH=str(collections),
            ANSIBLE_ROLES_PATH=str(project / "roles"),
            # No playbooks/vars_plugins shim here: the collection's own vars plugin reads the
            # objects files, enabled the way docs/awx.md tells an inventory source to.
            ANSIBLE_VARS_ENABLED=VARS_PLUGINS,
            K8S_AUTH_KUBECONFIG=str(admin_kubeconfig),
        )
        done = subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/bootstrap.yml"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return PlaybookRun(done.returncode, done.stdout, done.stderr)

    without = bootstrap(tmp_path / "empty")
    assert without.rc != 0
    assert "labsctl.residency" in without.stdout + without.stderr  # the group or a module

    applied = bootstrap(installed)
    assert applied.rc == 0, applied.stdout[-3000:] + applied.stderr
    assert applied.stats(residency_name)["failures"] == 0
    namespaces = client.CoreV1Api(k8s).list_namespace(
        label_selector=naming.owner_selector(residency_name)
    )
    assert sorted(ns.metadata.name for ns in namespaces.items) == [
        f"{residency_name}-{stage}" for stage in ("ci-cd", "dev", "test")
    ]


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_a_fresh_venv_from_the_wheel_applies_the_small_team_on_its_own_sandbox(
    tmp_path: Path, dist: Dist
) -> None:
    """As `pipx install labsctl` would: the wheel alone, outside the checkout, with its own sandbox
    (its own state directory and free ports, next to the test session's control planes; the
    binaries built in the cache are reused)."""
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",  # compiling the ansible bundle's 20,000 files would double the time
        "--constraint",
        REPO / "requirements" / "constraints.txt",
        dist.wheel,
    )
    work = tmp_path / "work"
    work.mkdir()
    spec = shutil.copy(REPO / "examples" / "small-team.yaml", work)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LABSCTL_", "K8S_AUTH_", "ANSIBLE_", "VIRTUAL_ENV", "PYTHON"))
        and k not in ("KUBECONFIG", "PATH")
    }
    env |= {
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "LABSCTL_STATE_DIR": str(tmp_path / "state"),
    }
    if "LABSCTL_CACHE_DIR" in os.environ:
        env["LABSCTL_CACHE_DIR"] = os.environ["LABSCTL_CACHE_DIR"]

    def labsctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / "labsctl"), *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    bundle = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from labsctl import paths; print(paths.templates_dir())",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(bundle).is_relative_to(venv) and Path(bundle).parent.name == "_bundle", bundle
    try:
        applied = labsctl("apply", "--sandbox", str(spec), "-o", "json")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        result = json.loads(applied.stdout)
        assert [r["name"] for r in result["residencies"]] == ["payments"]
        assert result["residencies"][0]["counts"]["created"] > 10
        status = labsctl("status", "--sandbox", str(spec), "-o", "json")
        assert status.returncode == 0, status.stderr
    finally:
        down = labsctl("sandbox", "down")
        assert down.returncode == 0, down.stderr
