"""Each role's molecule scenario (converge, idempotence, verify, cleanup) on the real cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.playbooks import REPO, write_inventory, write_spec

pytestmark = pytest.mark.integration
ROLES = sorted(
    p.parent.parent.parent.name for p in REPO.glob("roles/*/molecule/default/molecule.yml")
)


def test_every_role_has_a_molecule_scenario() -> None:
    assert sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir()) == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_role_scenario_converges_idempotently_and_verifies(
    role: str, tmp_path: Path, residency_name: str, admin_kubeconfig: Path
) -> None:
    inventory = write_inventory(
        tmp_path, [write_spec(tmp_path, residency_name, "openshift-platform")]
    )
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "K8S_AUTH_KUBECONFIG": str(admin_kubeconfig),
        "LABSCTL_MOLECULE_VARS": str(inventory / "host_vars" / f"{residency_name}.yml"),
        "MOLECULE_NO_LOG": "false",
        "ANSI_COLORS_DISABLED": "1",
        "NO_COLOR": "1",
    }
    completed = subprocess.run(
        [str(bin_dir / "molecule"), "test"],
        cwd=REPO / "roles" / role,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    for step in ("converge", "idempotence", "verify"):
        assert f"{step}: Executed: Successful" in output.replace("➜ ", ""), step
