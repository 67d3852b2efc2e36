"""The distributions, built once per test session into a temporary directory.

`python -m build` makes the sdist and then the wheel from that sdist (as PyPI users get it);
`ansible-galaxy collection build` makes the collection tarball. The build backend (hatchling) is
installed in an isolated environment from PyPI, as pip does for any user.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.playbooks import REPO

BIN = Path(sys.executable).parent
COLLECTION = REPO / "playbooks" / "collections" / "ansible_collections" / "labsctl" / "residency"


@dataclass(frozen=True)
class Dist:
    directory: Path

    def only(self, pattern: str) -> Path:
        found = sorted(self.directory.glob(pattern))
        assert len(found) == 1, f"expected one {pattern} in {self.directory}: {found}"
        return found[0]

    @property
    def wheel(self) -> Path:
        return self.only("labsctl-*-py3-none-any.whl")

    @property
    def sdist(self) -> Path:
        return self.only("labsctl-[0-9]*.tar.gz")

    @property
    def collection(self) -> Path:
        return self.only("labsctl-residency-*.tar.gz")


def run(*args: str | Path, cwd: Path = REPO, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_collection(source: Path, output: Path) -> Path:
    run(BIN / "ansible-galaxy", "collection", "build", source, "--output-path", output)
    return Dist(output).collection


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """dist/ as CI makes it: sdist, wheel (built from the sdist) and the collection tarball."""
    directory = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", directory, REPO)
    build_collection(COLLECTION, directory)
    return Dist(directory)
