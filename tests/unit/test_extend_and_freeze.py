"""Extending rewrites only the dates; freezing leaves the team view rights and no deployer."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from labsctl import load_spec, render
from labsctl.apply import is_past_end
from labsctl.errors import UsageError
from labsctl.extend import extend

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _copy(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copy(EXAMPLES / name, target)
    return target


def test_extend_changes_only_the_end_date_line(tmp_path: Path) -> None:
    spec = _copy(tmp_path, "small-team.yaml")
    before = spec.read_text().splitlines()
    result = extend(spec, dt.date(2027, 2, 26))
    after = spec.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [("    end: 2026-12-24", "    end: 2027-02-26")]
    assert result.new_archive == dt.date(2027, 3, 28)  # end + the 30-day grace period
    assert load_spec(spec).spec.dates.end == dt.date(2027, 2, 26)


def test_extend_moves_an_explicit_archive_by_the_same_days_and_keeps_comments(
    tmp_path: Path,
) -> None:
    spec = _copy(tmp_path, "openshift-platform.yaml")
    spec.write_text(
        spec.read_text().replace("    end: 2026-12-18", '    end: "2026-12-18"  # last day')
    )
    extend(spec, dt.date(2027, 1, 15))
    text = spec.read_text()
    assert '    end: "2027-01-15"  # last day' in text
    assert "    archive: 2027-02-28" in text  # 2027-01-31 moved by 28 days
    assert "# A larger residency on OpenShift" in text


def test_extend_refuses_an_end_before_the_start_and_leaves_the_file(tmp_path: Path) -> None:
    spec = _copy(tmp_path, "small-team.yaml")
    original = spec.read_bytes()
    with pytest.raises(UsageError, match="before the residency's start"):
        extend(spec, dt.date(2020, 1, 1))
    assert spec.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small-team.yaml"]


def test_frozen_rendering_gives_the_team_view_only_and_the_pipeline_no_deploy_rights() -> None:
    residency = load_spec(EXAMPLES / "openshift-platform.yaml")
    objects = render(residency, frozen=True).objects(lambda _c: True)
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    team = [b for b in bindings if b["metadata"]["name"].startswith("team-")]
    assert {b["roleRef"]["name"] for b in team} == {"view"}
    # The pipeline keeps building (its listener, its pushes to its own registry), deploys nowhere.
    assert {b["metadata"]["name"] for b in bindings} == {
        "team-view",
        "image-pullers",
        "image-builder",
        "event-listener",
    }
    assert {o["kind"] for o in objects} >= {"Pipeline", "Application", "AppProject"}  # tools stay
    assert not [
        o for o in objects if o["kind"] == "Task" and o["metadata"]["name"] == "deploy-image"
    ]
    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    assert all(n["metadata"]["annotations"]["labsctl.dev/frozen"] == "true" for n in namespaces)


def test_a_residency_is_frozen_from_the_day_after_its_end() -> None:
    residency = load_spec(EXAMPLES / "small-team.yaml")
    assert not is_past_end(residency, dt.date(2026, 12, 24))
    assert is_past_end(residency, dt.date(2026, 12, 25))
