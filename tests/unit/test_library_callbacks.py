"""The library reports through callbacks and returns results; the CLI turns them into output.

Ansible's output (`-v`) reaches the caller as progress events, `status` checks the drift of
every given residency in one dry run, `extend` moves the dates and applies them through the
same `apply` as the other verbs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import labsctl
from labsctl.apply import ApplySummary, ResidencySummary
from labsctl.cluster import Target
from labsctl.errors import ClusterError, Interrupted, LabsctlError
from labsctl.output import ProgressReporter
from labsctl.runner import Failure, Progress, run_playbook
from labsctl.status import ResidencyStatus
from tests.unit.test_runner import QUICK_PLAYBOOK, _inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMALL = EXAMPLES / "small-team.yaml"  # residency payments
PLATFORM = EXAMPLES / "openshift-platform.yaml"  # residency mobile-banking
# The modules (the package attributes of these names are the public functions).
STATUS_MODULE = importlib.import_module("labsctl.status")
EXTEND_MODULE = importlib.import_module("labsctl.extend")


def _target(tmp_path: Path) -> Target:
    return Target(kubeconfigs=(tmp_path / "no-kubeconfig",))


def test_ansible_output_asked_for_with_verbose_arrives_as_events_and_nothing_is_printed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(QUICK_PLAYBOOK.format(marker=tmp_path))
    events: list[Progress] = []
    run_playbook(
        str(playbook), _inventory(tmp_path), _target(tmp_path), verbose=1, on_event=events.append
    )
    shown = "".join(e.output for e in events if e.state == "output")
    assert "TASK [say hello]" in shown
    assert any(e.state == "ok" and e.task == "say hello" for e in events)
    assert capfd.readouterr() == ("", "")


def test_without_verbose_no_ansible_output_event_is_made(tmp_path: Path) -> None:
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(QUICK_PLAYBOOK.format(marker=tmp_path))
    events: list[Progress] = []
    run_playbook(str(playbook), _inventory(tmp_path), _target(tmp_path), on_event=events.append)
    assert events and not [e for e in events if e.state == "output"]


def test_the_cli_reporter_shows_ansible_output_on_stderr_even_for_machine_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reporter = ProgressReporter(enabled=False)  # -o json: no progress lines
    reporter(Progress("payments", "rbac", "apply", "ok"))
    reporter(Progress("payments", "rbac", "apply", "output", "TASK [rbac : apply] \x1b[31m"))
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "TASK [rbac : apply] \\x1b[31m\n"  # escaped: Ansible quotes spec values


def _found(name: str, target: Target) -> ResidencyStatus:
    return ResidencyStatus(
        name=name,
        organisation="Example Bank",
        stages=["dev"],
        start=dt.date(2026, 11, 2),
        end=dt.date(2026, 12, 24),
        archive=dt.date(2027, 1, 23),
        phase="active",
        days_left=10,
        members=1,
        groups=0,
        namespaces_active=True,
        quota_peak=None,
        pipelines=0,
        tools=0,
        target=target,
    )


def test_drift_of_every_given_residency_comes_from_one_dry_run_mapped_back_by_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _target(tmp_path)
    elsewhere = dataclasses.replace(target, context="another-cluster")
    calls: list[tuple[list[Any], dict[str, Any]]] = []

    def dry_run(spec_files: list[Any], run_target: Target, **options: Any) -> ApplySummary:
        calls.append((spec_files, {"target": run_target, **options}))
        changed = {"action": "changed", "kind": "Role", "namespace": "payments-dev", "name": "x"}
        return ApplySummary(
            True,
            1.0,
            [
                ResidencySummary("payments", counts=Counter(changed=1), changes=[changed]),
                ResidencySummary("mobile-banking", counts=Counter(unchanged=3)),
            ],
        )

    monkeypatch.setattr(STATUS_MODULE, "apply_specs", dry_run)
    found = [
        _found("payments", target),
        _found("mobile-banking", target),
        _found("payments", elsewhere),  # same name on another cluster (--all): not this spec
    ]
    events: list[Progress] = []
    labsctl.check_drift(found, [SMALL, PLATFORM], target, on_event=events.append)
    assert len(calls) == 1
    assert calls[0][0] == [SMALL, PLATFORM]
    assert calls[0][1]["dry_run"] is True and calls[0][1]["on_event"] == events.append
    assert [(s.name, s.in_sync, s.drifted) for s in found] == [
        ("payments", False, ["changed Role payments-dev/x"]),
        ("mobile-banking", True, []),
        ("payments", None, []),
    ]


def test_extend_without_a_target_only_edits_and_tells_the_change(tmp_path: Path) -> None:
    spec = tmp_path / "small-team.yaml"
    shutil.copy(SMALL, spec)
    told: list[str] = []
    extension = labsctl.extend(spec, dt.date(2027, 2, 26), on_progress=told.append)
    assert extension.summary is None and extension.ok
    assert told == [f"{spec}: end 2026-12-24 -> 2027-02-26, archive 2027-01-23 -> 2027-03-28"]
    assert extension.report() == {"extension": extension.as_dict()}


def _summary(ok: bool) -> ApplySummary:
    failures = [] if ok else [Failure("payments", "rbac", "t", "boom")]
    return ApplySummary(False, 1.0, [ResidencySummary("payments", failures=failures)])


def test_extend_applies_the_new_dates_through_apply_and_a_failure_is_a_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "small-team.yaml"
    shutil.copy(SMALL, spec)
    seen: list[str] = []

    def applied(spec_files: list[Path], target: Target, **options: Any) -> ApplySummary:
        seen.append(spec.read_text())  # the file holds the new dates when apply reads it
        return _summary(ok=False)

    monkeypatch.setattr(EXTEND_MODULE, "apply", applied)
    extension = labsctl.extend(spec, dt.date(2027, 2, 26), target=_target(tmp_path))
    assert "end: 2027-02-26" in seen[0]
    assert extension.summary is not None and not extension.ok
    assert extension.report()["apply"]["ok"] is False


def test_extend_interrupted_during_the_apply_hands_back_the_dates_and_what_was_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "small-team.yaml"
    shutil.copy(SMALL, spec)
    partial = _summary(ok=True)

    def interrupted(spec_files: list[Path], target: Target, **options: Any) -> ApplySummary:
        options["on_event"](Progress("payments", "namespaces", "apply", "started"))
        error = Interrupted()
        error.partial = partial
        raise error

    monkeypatch.setattr(EXTEND_MODULE, "apply", interrupted)
    with pytest.raises(Interrupted) as raised:
        labsctl.extend(spec, dt.date(2027, 2, 26), target=_target(tmp_path))
    extension = raised.value.partial
    assert isinstance(extension, labsctl.Extension)
    assert extension.summary is partial and extension.new_end == dt.date(2027, 2, 26)
    assert "end: 2027-02-26" in spec.read_text()  # the dates were (partly) applied: kept


@pytest.mark.parametrize("error", [ClusterError("forbidden"), Interrupted()])
def test_extend_refused_or_interrupted_before_the_ansible_run_puts_the_file_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: LabsctlError
) -> None:
    """Unreachable, forbidden, the lock held, or stopped while waiting for it: nothing was
    applied, so the file does not claim new dates either."""
    spec = tmp_path / "small-team.yaml"
    shutil.copy(SMALL, spec)
    spec.chmod(0o640)
    seen: list[str] = []

    def refused(spec_files: list[Path], target: Target, **options: Any) -> ApplySummary:
        seen.append(spec.read_text())
        raise error

    monkeypatch.setattr(EXTEND_MODULE, "apply", refused)
    with pytest.raises(type(error)):
        labsctl.extend(spec, dt.date(2027, 2, 26), target=_target(tmp_path))
    assert "end: 2027-02-26" in seen[0]
    assert spec.read_bytes() == SMALL.read_bytes()
    assert spec.stat().st_mode & 0o777 == 0o640
