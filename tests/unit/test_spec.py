"""The residency model: defaults, derived values, phases and what it refuses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from labsctl import load_spec
from labsctl.errors import SpecError
from labsctl.lifecycle import Phase, days_left, phase
from labsctl.spec import Dates, Residency, Role
from labsctl.validation import allowed_fields

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def minimal(**spec: object) -> dict[str, object]:
    return {
        "apiVersion": "labsctl.dev/v1alpha1",
        "kind": "Residency",
        "metadata": {"name": "demo"},
        "spec": {
            "organisation": "Org",
            "dates": {"start": dt.date(2026, 1, 5), "end": dt.date(2026, 2, 27)},
            "team": {"members": [{"user": "alice"}]},
            **spec,
        },
    }


def test_defaults_come_from_the_model() -> None:
    residency = Residency.model_validate(minimal())
    assert residency.stage_names() == ["ci-cd", "dev", "test"]
    assert residency.spec.team.members[0].role is Role.EDIT
    assert residency.spec.network.isolation is True
    assert residency.spec.pipelines.enabled == "auto"
    assert residency.spec.dates.archive_date == dt.date(2026, 3, 29)
    assert residency.spec.quota.effective_hard()["requests.cpu"] == "2"


def test_mutable_defaults_are_not_shared_between_residencies() -> None:
    first = Residency.model_validate(minimal())
    second = Residency.model_validate(minimal())
    assert first.spec.stages == second.spec.stages
    assert first.spec.stages is not second.spec.stages


def test_explicit_quota_values_override_the_profile() -> None:
    residency = Residency.model_validate(
        minimal(quota={"profile": "medium", "hard": {"pods": "7"}})
    )
    hard = residency.spec.quota.effective_hard()
    assert hard["pods"] == "7"
    assert hard["requests.memory"] == "8Gi"


def test_custom_quota_profile_holds_only_explicit_values() -> None:
    residency = Residency.model_validate(
        minimal(quota={"profile": "custom", "hard": {"pods": "3"}})
    )
    assert residency.spec.quota.effective_hard() == {"pods": "3"}


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (dt.date(2026, 1, 4), Phase.UPCOMING),
        (dt.date(2026, 1, 5), Phase.ACTIVE),
        (dt.date(2026, 2, 13), Phase.ACTIVE),
        (dt.date(2026, 2, 14), Phase.ENDING_SOON),
        (dt.date(2026, 2, 27), Phase.ENDING_SOON),
        (dt.date(2026, 2, 28), Phase.ENDED),
        (dt.date(2026, 3, 28), Phase.ENDED),
        (dt.date(2026, 3, 29), Phase.EXPIRED),
    ],
)
def test_phase_follows_the_dates(today: dt.date, expected: Phase) -> None:
    dates = Dates(start=dt.date(2026, 1, 5), end=dt.date(2026, 2, 27))
    assert phase(dates, today) is expected


def test_days_left_counts_the_last_day_and_goes_negative_after_it() -> None:
    dates = Dates(start=dt.date(2026, 1, 5), end=dt.date(2026, 2, 27))
    assert days_left(dates, dt.date(2026, 2, 27)) == 1
    assert days_left(dates, dt.date(2026, 2, 20)) == 8
    assert days_left(dates, dt.date(2026, 3, 1)) == -2


def test_strict_types_refuse_coercion() -> None:
    with pytest.raises(ValueError, match="bool"):
        Residency.model_validate(minimal(network={"isolation": "true"}))


def test_examples_are_valid() -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        assert load_spec(path).name


def test_load_spec_reports_every_problem_of_a_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: labsctl.dev/v1alpha1\nkind: Residency\nmetadata:\n  name: Bad\n"
        "spec:\n  organisation: 1\n  dates: {start: 2026-01-01, end: 2026-02-01}\n"
        "  team: {members: [{user: a, role: boss}]}\n  colour: red\n"
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    paths = [p.path for p in caught.value.problems]
    assert paths == [
        "metadata.name",
        "spec.organisation",
        "spec.team.members[0].role",
        "spec.colour",
    ]
    assert [p.line for p in caught.value.problems] == [4, 6, 8, 9]


def test_allowed_fields_name_the_yaml_keys_of_a_nested_model() -> None:
    assert allowed_fields(("spec", "tooling", "applications", 0)) == [
        "name",
        "stage",
        "repoURL",
        "path",
        "chart",
        "targetRevision",
        "values",
        "credentialsSecret",
        "credentialsUsername",
    ]
