"""The fleet report's renderers, without a cluster: the HTML page shows cluster values as text
and loads nothing, the OpenMetrics text parses, and the example alert rules use its metrics."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_format_families

from labsctl.cli import main
from labsctl.fleet import (
    FleetReport,
    PipelineRunInfo,
    QuotaUse,
    ResidencyReport,
    StageReport,
    SubjectReport,
    ToolReport,
)
from labsctl.report import render_html, render_openmetrics
from labsctl.report.html import CONTENT_SECURITY_POLICY
from labsctl.status import ResidencyStatus

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "docs" / "alerts" / "labsctl-rules.yml"
TODAY = dt.date(2026, 11, 25)
HOSTILE = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>\\ '&"


def _status(name: str, phase: str, **overrides: object) -> ResidencyStatus:
    values: dict[str, object] = {
        "name": name,
        "organisation": "Example Bank",
        "stages": ["ci-cd", "dev"],
        "start": dt.date(2026, 11, 2),
        "end": dt.date(2026, 12, 24),
        "archive": dt.date(2027, 1, 23),
        "phase": phase,
        "days_left": 30,
        "members": 1,
        "groups": 1,
        "namespaces_active": True,
        "quota_peak": 0.5,
        "pipelines": 1,
        "tools": 1,
    }
    values.update(overrides)
    return ResidencyStatus(**values)  # type: ignore[arg-type]


def _residency(status: ResidencyStatus, hostile: str = "plain") -> ResidencyReport:
    name = status.name
    return ResidencyReport(
        status=status,
        server="https://127.0.0.1:6443",
        context="sandbox",
        stages=[
            StageReport(
                name="ci-cd",
                namespace=f"{name}-ci-cd",
                description=hostile,
                quota=(
                    QuotaUse("requests.cpu", 2.0, 0.25),
                    QuotaUse("requests.memory", 4 * 2**30, 2**30),
                    QuotaUse("pods", 20.0, 20.0),
                    QuotaUse("requests.storage", 20 * 2**30, None),
                ),
                pipeline_runs=(
                    PipelineRunInfo(
                        "build-1",
                        "build",
                        "failed",
                        hostile,
                        dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
                    ),
                ),
            ),
            StageReport("dev", f"{name}-dev", "", (QuotaUse("pods", 20.0, 3.0),), ()),
        ],
        subjects=[
            SubjectReport("Group", f"{name}-engineers", (("ci-cd", "edit"), ("dev", "edit"))),
            SubjectReport("User", "alice@example.com", (("ci-cd", "admin"),)),
        ],
        tools=[ToolReport(f"{name}-nexus", "ci-cd", "OutOfSync", "Degraded")],
        labels={"cost-centre": "cc-4711"},
        annotations={"example.com/sponsor": hostile},
        last_apply=dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.UTC),
        last_apply_result="succeeded",
    )


def _fleet(hostile: str = "plain") -> FleetReport:
    return FleetReport(
        generated=dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC),
        today=TODAY,
        residencies=[
            _residency(
                _status(
                    "payments",
                    "ending-soon",
                    organisation=hostile,
                    days_left=5,
                    in_sync=False,
                    drifted=["created RoleBinding payments-dev/team-edit"],
                ),
                hostile,
            ),
            _residency(_status("mobile", "upcoming", start=dt.date(2026, 12, 1), days_left=None)),
            _residency(
                _status("legacy", "unknown", start=None, end=None, archive=None, days_left=None)
            ),
        ],
    )


class _Page(HTMLParser):
    """Elements, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.style = ""
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        else:
            self.text.append(data)

    def names(self) -> list[str]:
        return [tag for tag, _ in self.tags]


def test_html_shows_hostile_cluster_values_as_text_and_never_as_markup() -> None:
    page = _Page(render_html(_fleet(HOSTILE)))
    assert "script" not in page.names()
    assert "img" not in page.names()
    assert not [(tag, attr) for tag, attrs in page.tags for attr in attrs if attr.startswith("on")]
    text = "".join(page.text)
    # organisation (twice), stage description, annotation, PipelineRun reason
    assert text.count(HOSTILE) >= 5
    titles = [a.get("aria-label") for t, a in page.tags if t == "svg" and "aria-label" in a]
    assert titles  # the quota bars name their values


def test_html_loads_nothing_and_forbids_scripts_with_a_content_security_policy() -> None:
    page = _Page(render_html(_fleet()))
    csp = [
        a for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert [a["content"] for a in csp] == [CONTENT_SECURITY_POLICY]
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'none';")
    assert not {"script", "link", "iframe", "object", "embed", "img"} & set(page.names())
    for tag, attrs in page.tags:
        for attr in ("src", "href", "xlink:href", "action"):
            value = attrs.get(attr)
            assert value is None or value.startswith("#"), (tag, attr, value)
    assert "url(" not in page.style and "@import" not in page.style


def test_html_is_readable_on_a_phone_in_dark_mode_and_on_paper() -> None:
    page = _Page(render_html(_fleet()))
    viewport = [a for t, a in page.tags if t == "meta" and a.get("name") == "viewport"]
    assert viewport and "width=device-width" in (viewport[0]["content"] or "")
    assert "@media (prefers-color-scheme: dark)" in page.style
    assert "@media (max-width: 40rem)" in page.style  # 320px phones
    assert "@media print" in page.style and "@page" in page.style
    assert "overflow-x: auto" in page.style  # wide tables scroll instead of breaking the page


def test_html_tables_have_captions_and_every_header_a_scope() -> None:
    text = render_html(_fleet())
    page = _Page(text)
    assert page.names().count("table") == text.count("<caption>") > 5
    headers = [a for t, a in page.tags if t == "th"]
    assert headers and all(a.get("scope") in ("col", "row") for a in headers)


def test_timeline_marks_today_and_colours_each_bar_by_phase_with_a_text_equivalent() -> None:
    text = render_html(_fleet())
    page = _Page(text)
    fills = [a["class"] for t, a in page.tags if t == "rect" and "fill-" in (a.get("class") or "")]
    assert "fill-ending-soon" in fills and "fill-upcoming" in fills
    assert "today 2026-11-25" in "".join(page.text)
    assert "payments: ending-soon, from 2026-11-02 to 2026-12-24, archived 2027-01-23" in text
    assert "Without readable dates: legacy." in text
    today = next(a for t, a in page.tags if t == "line" and a.get("class") == "today")
    assert 210 < float(today["x1"] or 0) < 980


def test_html_shows_quota_pipelines_tools_team_drift_and_last_apply() -> None:
    text = "".join(_Page(render_html(_fleet())).text)
    for expected in (
        "0.25 cores of 2 cores (12%)",
        "1 GiB of 4 GiB (25%)",
        "20 of 20 (100%)",
        "not counted yet of 20 GiB",
        "build-1",
        "failed",
        "payments-nexus",
        "OutOfSync",
        "Degraded",
        "alice@example.com",
        "ci-cd: edit, dev: edit",
        "created RoleBinding payments-dev/team-edit",
        "2026-11-24 08:30 UTC, succeeded",
        "https://127.0.0.1:6443 (context sandbox)",
        "Generated 2026-11-25 09:00 UTC",
    ):
        assert expected in text, expected


def _families(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_openmetrics_parses_and_ends_with_eof() -> None:
    text = render_openmetrics(_fleet())
    assert text.endswith("\n# EOF\n")
    families = _families(text)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples  # type: ignore[attr-defined]
    }
    who = (("residency", "payments"),)
    assert samples[("labsctl_residency_days_left", who)] == 5
    assert samples[("labsctl_residency_drifted", who)] == 1
    assert samples[("labsctl_residency_drifted_objects", who)] == 1
    assert samples[("labsctl_residency_last_apply_success", who)] == 1
    assert samples[("labsctl_residency_last_apply_timestamp_seconds", who)] == (
        dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.UTC).timestamp()
    )
    phase = (("phase", "ending-soon"), ("residency", "payments"))
    assert samples[("labsctl_residency_phase", phase)] == 1
    where = {"namespace": "payments-ci-cd", "residency": "payments", "stage": "ci-cd"}

    def quota(metric: str, resource: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return metric, tuple(sorted({**where, "resource": resource}.items()))

    assert samples[quota("labsctl_quota_used", "requests.memory")] == 2**30
    assert samples[quota("labsctl_quota_hard", "requests.cpu")] == 2.0
    assert samples[quota("labsctl_quota_used", "requests.cpu")] == 0.25
    # Not counted yet, not checked: no sample rather than a made-up zero.
    assert quota("labsctl_quota_used", "requests.storage") not in samples
    assert samples[quota("labsctl_quota_hard", "requests.storage")] == 20 * 2**30
    assert ("labsctl_residency_drifted", (("residency", "mobile"),)) not in samples
    assert (
        samples[("labsctl_residency_phase", (("phase", "active"), ("residency", "payments")))] == 0
    )


def test_openmetrics_is_also_prometheus_text_format_for_the_textfile_collector() -> None:
    text = render_openmetrics(_fleet())
    families = list(text_format_families(text))
    assert {f.type for f in families} == {"gauge"}
    assert sum(len(f.samples) for f in families) == sum(
        len(f.samples) for f in text_string_to_metric_families(text)
    )


def test_openmetrics_keeps_a_hostile_value_inside_its_label() -> None:
    hostile = HOSTILE + '" } injected_metric 1\n'
    fleet = _fleet(hostile)
    fleet.residencies[0].status.organisation = hostile
    families = _families(render_openmetrics(fleet))
    assert "injected_metric" not in families
    info = families["labsctl_residency_info"].samples  # type: ignore[attr-defined]
    assert [s.labels["organisation"] for s in info if s.labels["residency"] == "payments"] == [
        hostile
    ]


def test_alert_rules_have_the_prometheus_rule_file_shape() -> None:
    document = yaml.safe_load(RULES.read_text())
    assert set(document) == {"groups"}
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert all(set(group) == {"name", "rules"} for group in document["groups"])
    assert {rule["alert"] for rule in rules} == {
        "LabsctlResidencyEndingSoon",
        "LabsctlResidencyDrifted",
    }
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        assert re.fullmatch(r"([0-9]+[smhdwy])+", rule["for"])
        assert all(isinstance(v, str) for v in rule["labels"].values())
        assert {"summary", "description"} <= set(rule["annotations"])
    drifted = next(r for r in rules if r["alert"] == "LabsctlResidencyDrifted")
    assert drifted["for"] == "1h"


def test_alert_rules_use_only_metrics_labsctl_writes() -> None:
    exported = {
        sample.name
        for family in text_string_to_metric_families(render_openmetrics(_fleet()))
        for sample in family.samples
    }
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    used = {name for rule in rules for name in re.findall(r"\blabsctl_[a-z_]+", rule["expr"])}
    assert used and used <= exported, used - exported


@pytest.mark.parametrize("output", ["html", "openmetrics"])
def test_status_report_needs_specs_or_all(output: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["status", "-o", output])
    assert exited.value.code == 2
    assert "give SPEC files or --all" in capsys.readouterr().err


def test_every_metric_is_documented() -> None:
    documented = (REPO / "docs" / "fleet-report.md").read_text()
    names = {f.name for f in text_string_to_metric_families(render_openmetrics(_fleet()))}
    assert names and not {n for n in names if f"`{n}`" not in documented}
