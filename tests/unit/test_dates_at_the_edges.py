"""Every date the spec accepts works in every command, and no date on the cluster stops the fleet.

The accepted range is `spec.DATE_MIN` to `spec.DATE_MAX` (2000-01-01 to 2999-12-31) for start,
end and archive, with start <= end <= archive; the default archive date (end plus up to 365
days of gracePeriodDays) may reach `spec.ARCHIVE_MAX` (3000-12-31), which every command
computes with too. A spec inside it goes through validate, render, phase and
days left, `status` in every output format, `teardown --expired` and `extend` without an error;
a spec outside it is refused. The dates `status` reads back from a namespace's annotations may
be anything (hand edits): an unreadable one makes that residency `unknown`, reported as a
problem, never `expired`, and leaves every other residency as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families

import labsctl
from labsctl import naming
from labsctl.cli import main
from labsctl.cluster import Target
from labsctl.errors import UsageError
from labsctl.extend import extend
from labsctl.fleet import fleet_report
from labsctl.lifecycle import Phase, days_left, phase
from labsctl.report import render_html, render_openmetrics
from labsctl.report.timeline import timeline
from labsctl.spec import ARCHIVE_MAX, DATE_MAX, DATE_MIN, Dates
from labsctl.status import AnnotatedDates, read_dates, residencies_on
from labsctl.teardown import expired

ORDER = [p.value for p in Phase]  # upcoming, active, ending-soon, ended, expired
D = dt.date
# The whole accepted range, and a little on either side of it.
ACCEPTED = st.dates(DATE_MIN, DATE_MAX)
NEAR_EDGES = st.one_of(
    ACCEPTED,
    st.dates(DATE_MIN - dt.timedelta(days=400), DATE_MIN),
    st.dates(DATE_MAX, DATE_MAX + dt.timedelta(days=400)),
    st.sampled_from([dt.date.min, dt.date.max, D(1999, 12, 31), D(3000, 1, 1)]),
)
HOSTILE_DATES = [
    "9999-12-31",
    "0001-01-01",
    "2027-02-30",
    "not-a-date",
    "",
    "x" * 10240,
    "1999-12-31",
    "3001-01-01",  # after ARCHIVE_MAX
    "20270101",  # accepted by date.fromisoformat, never written by labsctl
    "2027-W01-1",
    "2027-01-01T00:00:00",
    "\uff12\uff10\uff12\uff17-\uff10\uff11-\uff10\uff11",  # full-width digits
    " 2027-01-01",
]
SPEC = """\
apiVersion: labsctl.dev/v1alpha1
kind: Residency
metadata:
  name: {name}
spec:
  organisation: Example Bank
  dates:
    start: {start}
    end: {end}
{extra}  team:
    members:
      - user: alice@example.com
"""


def _spec_text(
    name: str,
    *,
    start: dt.date,
    end: dt.date,
    archive: dt.date | None = None,
    grace: int | None = None,
    ending_soon: int | None = None,
) -> str:
    extra = ""
    if archive is not None:
        extra += f"    archive: {archive.isoformat()}\n"
    if grace is not None:
        extra += f"    gracePeriodDays: {grace}\n"
    if ending_soon is not None:
        extra += f"    endingSoonDays: {ending_soon}\n"
    return SPEC.format(name=name, start=start.isoformat(), end=end.isoformat(), extra=extra)


def _accepted(start: dt.date, end: dt.date, archive: dt.date | None, grace: int) -> bool:
    """The documented range, written out independently of the model."""
    written = (start, end) if archive is None else (start, end, archive)
    in_range = all(DATE_MIN <= day <= DATE_MAX for day in written)
    return in_range and start <= end <= (archive or end) and 0 <= grace <= 365


def _expected_phase(dates: Dates, today: dt.date) -> str:
    """The phase, from the definition in docs/spec.md rather than from lifecycle.py."""
    if today < dates.start:
        return "upcoming"
    if today <= dates.end:
        soon = (dates.end - today).days < dates.ending_soon_days
        return "ending-soon" if soon else "active"
    return "expired" if today >= dates.archive_date else "ended"


def _expected_days_left(dates: Dates, today: dt.date) -> int:
    return (dates.end - today).days + (1 if today <= dates.end else 0)


class FakeCluster:
    """What status, the fleet report and teardown --expired read: objects found by selector."""

    server = "https://127.0.0.1:6443"

    def __init__(self, namespaces: list[dict[str, Any]]) -> None:
        self.namespaces = namespaces
        self.target = Target()

    def list_owned(self, api_version: str, kind: str, selector: str) -> list[dict[str, Any]]:
        if kind != "Namespace":
            return []
        wanted = dict(part.split("=", 1) for part in selector.split(","))
        return [
            ns
            for ns in self.namespaces
            if wanted.items() <= (ns["metadata"].get("labels") or {}).items()
        ]

    def served(self, api_version: str, kind: str) -> None:
        return None

    def prefetch_owned(self, kinds: list[tuple[str, str]]) -> None:
        """Answers come from memory here already."""

    @contextlib.contextmanager
    def calls(self, what: str) -> Iterator[None]:
        yield


def _namespace(residency: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": f"{residency}-dev",
            "labels": {
                naming.LABEL_MANAGED_BY: "labsctl",
                naming.LABEL_RESIDENCY: residency,
                naming.LABEL_STAGE: "dev",
            },
            "annotations": annotations,
        },
        "status": {"phase": "Active"},
    }


def _dates_of(start: str, end: str, archive: str) -> dict[str, str]:
    return {
        naming.ANNOTATION_START: start,
        naming.ANNOTATION_END: end,
        naming.ANNOTATION_ARCHIVE: archive,
        naming.ANNOTATION_ORGANISATION: "Example Bank",
    }


def _status_cli(cluster: FakeCluster, fmt: str) -> str:
    """`labsctl status --all -o FMT` as the CLI runs it (today being today), on `cluster`."""
    out = io.StringIO()
    with (
        mock.patch("labsctl.cli.status.target_from", return_value=cluster.target),
        mock.patch("labsctl.status.Cluster", return_value=cluster),
        mock.patch("labsctl.fleet.Cluster", return_value=cluster),
        contextlib.redirect_stdout(out),
        pytest.raises(SystemExit) as exit_info,
    ):
        main(["status", "--all", "-o", fmt])
    assert exit_info.value.code == 0, out.getvalue()
    return out.getvalue()


def _renderings(cluster: FakeCluster, today: dt.date | None) -> dict[str, str]:
    """The status report in every format: through the CLI when `today` is None (the real
    today), else from the library's functions and renderers on `today`."""
    if today is None:
        return {fmt: _status_cli(cluster, fmt) for fmt in ("json", "table", "openmetrics", "html")}
    found = residencies_on(cluster, today=today)  # type: ignore[arg-type]
    with mock.patch("labsctl.fleet.Cluster", return_value=cluster):
        report = fleet_report(found, today=today)
    return {
        "json": json.dumps({"residencies": [s.as_dict() for s in found]}),
        "openmetrics": render_openmetrics(report),
        "html": render_html(report),
    }


def _check_status_outputs(
    cluster: FakeCluster, today: dt.date | None, expected: dict[str, dict[str, Any]]
) -> None:
    """Every output format of `status --all` shows each residency's phase, days left and
    dates as `expected` (by name); teardown --expired selects exactly the expired ones."""
    shown = _renderings(cluster, today)
    entries = {r["name"]: r for r in json.loads(shown["json"])["residencies"]}
    metrics = {
        (s.name, s.labels.get("residency"), s.labels.get("phase")): s.value
        for family in text_string_to_metric_families(shown["openmetrics"])
        for s in family.samples
    }
    assert shown["html"].rstrip().endswith("</html>")
    selected = expired(cluster, today)  # type: ignore[arg-type]
    for name, want in expected.items():
        assert {key: entries[name][key] for key in want} == want
        if "table" in shown:
            rows = [line.split() for line in shown["table"].splitlines()]
            (row,) = [row for row in rows if row[0] == name]
            assert row[1] == want["phase"]
            if want["daysLeft"] is not None:
                assert row[2:5] == [str(want["daysLeft"]), want["end"], want["archive"]]
        assert metrics[("labsctl_residency_phase", name, want["phase"])] == 1
        if want["daysLeft"] is not None:
            assert metrics[("labsctl_residency_days_left", name, None)] == want["daysLeft"]
            end = dt.datetime.fromisoformat(want["end"]).replace(tzinfo=dt.UTC)
            key = ("labsctl_residency_end_timestamp_seconds", name, None)
            assert metrics[key] == end.timestamp()
        if "start" in want:
            dates = f"{want['start']} to {want['end']}, archive {want['archive']}"
            assert dates in shown["html"]
        assert (name in selected) == (want["phase"] == "expired")


# -- What the model accepts ---------------------------------------------------------------


@settings(max_examples=250, deadline=None)
@given(
    start=NEAR_EDGES,
    end=NEAR_EDGES,
    archive=st.none() | NEAR_EDGES,
    grace=st.integers(0, 365),
)
@example(start=D(2000, 1, 1), end=D(2000, 1, 1), archive=None, grace=0)
@example(start=D(2999, 12, 31), end=D(2999, 12, 31), archive=None, grace=0)
@example(start=D(2999, 12, 1), end=D(2999, 12, 31), archive=None, grace=1)
@example(start=D(2999, 12, 1), end=D(2999, 12, 2), archive=None, grace=30)
@example(start=D(1, 1, 1), end=D(9999, 12, 31), archive=None, grace=30)
@example(start=D(2026, 1, 1), end=D(9999, 12, 31), archive=None, grace=30)
def test_the_model_accepts_exactly_the_documented_date_range(
    start: dt.date, end: dt.date, archive: dt.date | None, grace: int
) -> None:
    spec = _spec_text("payments", start=start, end=end, archive=archive, grace=grace)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "spec.yaml"
        path.write_text(spec, encoding="utf-8")
        problems = labsctl.validate([path])
    assert (not problems) == _accepted(start, end, archive, grace), problems
    for problem in problems:
        assert problem.path.startswith("spec.dates"), problem
        if "range" in problem.message or "compute" in problem.message:
            assert problem.allowed == "a date from 2000-01-01 to 2999-12-31"


def test_the_latest_default_archive_date_is_written_and_read_back() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "spec.yaml"
        path.write_text(
            _spec_text("payments", start=DATE_MAX, end=DATE_MAX, grace=365), encoding="utf-8"
        )
        assert labsctl.validate([path]) == []
        dates = labsctl.load_spec(path).spec.dates
    assert dates.archive_date == ARCHIVE_MAX == D(3000, 12, 31)
    read = read_dates(_annotations(dates))
    assert (read.archive, read.problems) == (ARCHIVE_MAX, ())
    assert read.lifecycle(ARCHIVE_MAX) == ("expired", -365)


# -- Phase and days left --------------------------------------------------------------------


@st.composite
def accepted_dates(draw: st.DrawFn) -> Dates:
    """Any start, end and archive the model accepts, edges, leap days and equal days included."""
    edges = st.sampled_from(
        [DATE_MIN, DATE_MAX, D(2000, 2, 29), D(2024, 2, 29), D(2996, 2, 29), D(2999, 12, 30)]
    )
    start = draw(ACCEPTED | edges)
    end = draw(st.just(start) | st.dates(start, DATE_MAX))
    explicit = draw(st.booleans())
    if explicit:
        archive = draw(st.just(end) | st.dates(end, DATE_MAX))
        grace = draw(st.integers(0, 365))
    else:
        archive = None
        grace = draw(st.integers(0, 365) | st.just(365))
    ending_soon = draw(st.integers(0, 90))
    return Dates(
        start=start,
        end=end,
        archive=archive,
        grace_period_days=grace,
        ending_soon_days=ending_soon,
    )


ANCHORS = st.sampled_from([None, "start", "end", "archive"])
NEAR = st.integers(-2, 2)


def _today(dates: Dates, free: dt.date, anchor: str | None, delta: int) -> dt.date:
    """Today anywhere in the range (`free`), or `delta` days from one of the residency's dates
    (where the phase changes)."""
    if anchor is None:
        return free
    day = {"start": dates.start, "end": dates.end, "archive": dates.archive_date}[anchor]
    return day + dt.timedelta(days=delta)


@settings(max_examples=500, deadline=None)
@given(
    dates=accepted_dates(),
    days=st.lists(st.tuples(ACCEPTED, ANCHORS, NEAR), min_size=2, max_size=2),
)
def test_phase_and_days_left_follow_the_dates_in_order_for_every_accepted_date(
    dates: Dates, days: list[tuple[dt.date, str | None, int]]
) -> None:
    first, second = sorted(_today(dates, *day) for day in days)
    for today in (first, second):
        assert phase(dates, today).value == _expected_phase(dates, today)
        assert days_left(dates, today) == _expected_days_left(dates, today)
    # The phase never goes back, and days left never grow, as days pass.
    assert ORDER.index(phase(dates, first)) <= ORDER.index(phase(dates, second))
    assert days_left(dates, first) >= days_left(dates, second)


def _annotations(dates: Dates) -> dict[str, str]:
    """The date annotations apply writes on every namespace (render.ownership_annotations)."""
    return _dates_of(dates.start.isoformat(), dates.end.isoformat(), dates.archive_date.isoformat())


def _shown(dates: Dates, today: dt.date) -> dict[str, Any]:
    """What `status` must show for `dates` on `today`; the cluster does not know
    endingSoonDays, so status uses the default."""
    on_cluster = dates.model_copy(update={"ending_soon_days": 14})
    return {
        "phase": _expected_phase(on_cluster, today),
        "daysLeft": _expected_days_left(dates, today),
        "start": dates.start.isoformat(),
        "end": dates.end.isoformat(),
        "archive": dates.archive_date.isoformat(),
    }


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dates=accepted_dates(), free=ACCEPTED, anchor=ANCHORS, delta=NEAR)
def test_status_reads_back_and_reports_every_accepted_date(
    dates: Dates, free: dt.date, anchor: str | None, delta: int
) -> None:
    today = _today(dates, free, anchor, delta)
    read = read_dates(_annotations(dates))
    assert read == AnnotatedDates(dates.start, dates.end, dates.archive_date)
    expected = _shown(dates, today)
    assert read.lifecycle(today) == (expected["phase"], expected["daysLeft"])
    other = Dates(start=D(2026, 11, 2), end=D(2026, 12, 24))
    cluster = FakeCluster(
        [_namespace("payments", _annotations(dates)), _namespace("other", _annotations(other))]
    )
    _check_status_outputs(cluster, today, {"payments": expected})
    layout = timeline(residencies_on(cluster, today=today), today)  # type: ignore[arg-type]
    for bar in layout.bars:
        assert layout.chart_left <= bar.active_x <= bar.after_x <= layout.chart_right
        assert bar.after_x + bar.after_width <= layout.chart_right + 0.1
    assert layout.chart_left <= layout.today_x <= layout.chart_right


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dates=accepted_dates(),
    until=ACCEPTED | st.sampled_from([DATE_MIN, DATE_MAX, D(2999, 12, 30)]),
    new_archive=st.none() | ACCEPTED | st.just(DATE_MAX),
)
@example(dates=Dates(start=DATE_MIN, end=DATE_MIN), until=DATE_MAX, new_archive=None)
@example(
    dates=Dates(start=DATE_MIN, end=DATE_MIN, archive=DATE_MAX), until=DATE_MAX, new_archive=None
)
@example(dates=Dates(start=DATE_MIN, end=DATE_MIN), until=D(2999, 12, 1), new_archive=None)
@example(
    dates=Dates(start=DATE_MIN, end=DATE_MIN, archive=DATE_MIN),
    until=DATE_MAX,
    new_archive=DATE_MAX,
)
def test_extend_to_any_accepted_date_writes_valid_dates_or_refuses_and_leaves_the_file(
    dates: Dates, until: dt.date, new_archive: dt.date | None
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "payments.yaml"
        path.write_text(_spec(dates), encoding="utf-8")
        _check_extend(path, dates, until, new_archive)


def _spec(dates: Dates) -> str:
    return _spec_text(
        "payments",
        start=dates.start,
        end=dates.end,
        archive=dates.archive,
        grace=dates.grace_period_days,
        ending_soon=dates.ending_soon_days,
    )


# -- The whole way: validate, render, status, teardown --expired, extend ---------------------

EDGES = [
    Dates(start=DATE_MIN, end=DATE_MIN, grace_period_days=0),
    Dates(start=DATE_MIN, end=DATE_MIN, archive=DATE_MIN),
    Dates(start=DATE_MAX, end=DATE_MAX, grace_period_days=0, ending_soon_days=90),
    Dates(start=DATE_MAX, end=DATE_MAX, archive=DATE_MAX),
    Dates(start=D(2000, 2, 29), end=D(2996, 2, 29), archive=D(2999, 12, 31)),
    Dates(start=D(2024, 2, 29), end=D(2024, 2, 29), grace_period_days=365),
    Dates(start=D(2999, 1, 1), end=D(2999, 1, 1), grace_period_days=364),
    Dates(start=DATE_MAX, end=DATE_MAX, grace_period_days=365),
]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    dates=accepted_dates(),
    when=st.tuples(ACCEPTED, ANCHORS, NEAR),
    until=ACCEPTED,
    new_archive=st.none() | ACCEPTED,
)
@example(dates=EDGES[0], when=(DATE_MIN, "end", 1), until=DATE_MAX, new_archive=None)
@example(dates=EDGES[1], when=(DATE_MIN, "start", 0), until=DATE_MAX, new_archive=None)
@example(dates=EDGES[2], when=(DATE_MIN, "end", 0), until=DATE_MAX, new_archive=None)
@example(dates=EDGES[3], when=(DATE_MAX, None, 0), until=DATE_MAX, new_archive=DATE_MAX)
@example(dates=EDGES[4], when=(DATE_MIN, "archive", 0), until=DATE_MIN, new_archive=None)
@example(dates=EDGES[5], when=(DATE_MIN, "archive", -1), until=D(2999, 12, 1), new_archive=None)
@example(dates=EDGES[6], when=(DATE_MIN, "end", -2), until=DATE_MAX, new_archive=None)
@example(dates=EDGES[7], when=(DATE_MIN, "archive", 0), until=DATE_MAX, new_archive=None)
def test_every_accepted_date_goes_through_every_command(
    dates: Dates,
    when: tuple[dt.date, str | None, int],
    until: dt.date,
    new_archive: dt.date | None,
) -> None:
    today = _today(dates, *when)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "payments.yaml"
        path.write_text(_spec(dates), encoding="utf-8")
        assert labsctl.validate([path]) == []
        rendered = labsctl.render_spec(path, Path(scratch) / "out", "manifests")
        namespaces = [
            doc
            for doc in yaml.safe_load_all((rendered.directory / "10-namespaces.yaml").read_text())
            if doc and doc["kind"] == "Namespace"
        ]
        assert namespaces
        for namespace in namespaces:  # what apply writes is what status reads back
            assert read_dates(namespace["metadata"]["annotations"]) == read_dates(
                _annotations(dates)
            )
        cluster = FakeCluster([{**ns, "status": {"phase": "Active"}} for ns in namespaces])
        _check_status_outputs(cluster, today, {"payments": _shown(dates, today)})
        _check_status_outputs(cluster, None, {"payments": _shown(dates, dt.date.today())})  # CLI
        _check_extend(path, dates, until, new_archive)


def _check_extend(path: Path, dates: Dates, until: dt.date, new_archive: dt.date | None) -> None:
    """extend either writes dates the model accepts, or refuses with exit 2 and no change."""
    before = path.read_bytes()
    if new_archive is not None:
        archive_field: dt.date | None = new_archive
    elif dates.archive is not None:
        archive_field = until + (dates.archive - dates.end)
    else:
        archive_field = None
    possible = (new_archive is None or dates.archive is not None) and (
        new_archive is None or new_archive >= until
    )
    expected = possible and _accepted(dates.start, until, archive_field, dates.grace_period_days)
    try:
        extension = extend(path, until, new_archive)
    except UsageError as exc:
        assert exc.exit_code == 2
        assert not expected, exc.message
        assert path.read_bytes() == before
        return
    assert expected
    after = labsctl.load_spec(path).spec.dates
    assert (after.start, after.end, after.archive) == (dates.start, until, archive_field)
    assert (extension.new_end, extension.new_archive) == (until, after.archive_date)
    assert labsctl.validate([path]) == []


# -- Dates on the cluster that labsctl did not write ------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param(key, value, id=f"{key}={value[:20]!r}")
        for key in ("start", "end", "archive")
        # 3000-01-01 is a possible archive date (end plus gracePeriodDays), never a start or end
        for value in [*HOSTILE_DATES, *(["3000-01-01"] if key != "archive" else [])]
    ],
)
def test_an_unreadable_date_annotation_makes_that_residency_unknown_and_no_other(
    key: str, value: str
) -> None:
    today = dt.date.today()  # the CLI's today

    def days(*offsets: int) -> dict[str, str]:
        return _dates_of(*((today + dt.timedelta(days=n)).isoformat() for n in offsets))

    hostile = days(-400, -370, -340)  # expired, if it were read
    hostile[getattr(naming, f"ANNOTATION_{key.upper()}")] = value
    cluster = FakeCluster(
        [
            _namespace("hostile", hostile),
            _namespace("old", days(-400, -370, -340)),
            _namespace("current", days(-10, 100, 130)),
            _namespace("far", _dates_of("2999-12-01", "2999-12-31", "2999-12-31")),
        ]
    )
    found = {s.name: s for s in residencies_on(cluster, today=today)}  # type: ignore[arg-type]
    assert {name: s.phase for name, s in found.items()} == {
        "hostile": "unknown",
        "old": "expired",
        "current": "active",
        "far": "upcoming",
    }
    assert found["hostile"].days_left is None
    assert getattr(found["hostile"], key) is None
    (problem,) = found["hostile"].problems
    assert problem.startswith(f"annotation labsctl.dev/{key} is ")
    last = "3000-12-31" if key == "archive" else "2999-12-31"
    assert problem.endswith(
        f", not a date YYYY-MM-DD from 2000-01-01 to {last}: the phase is unknown"
    )
    assert len(problem) < 300  # a 10 KB value is quoted cut, with its length
    assert not found["hostile"].healthy
    # Never delete on a guess: only the residency whose dates say so is expired.
    assert expired(cluster, today) == ["old"]  # type: ignore[arg-type]
    for when in (today, None):  # the library's renderers, then the CLI
        _check_status_outputs(
            cluster,
            when,
            {
                "hostile": {
                    "phase": "unknown",
                    "daysLeft": None,
                    "healthy": False,
                    "problems": [problem],
                },
                "old": {
                    "phase": "expired",
                    "daysLeft": -370,
                    "end": (today - dt.timedelta(days=370)).isoformat(),
                    "archive": (today - dt.timedelta(days=340)).isoformat(),
                },
                "current": {
                    "phase": "active",
                    "daysLeft": 101,
                    "end": (today + dt.timedelta(days=100)).isoformat(),
                    "archive": (today + dt.timedelta(days=130)).isoformat(),
                },
                "far": {
                    "phase": "upcoming",
                    "daysLeft": (D(2999, 12, 31) - today).days + 1,
                    "start": "2999-12-01",
                    "end": "2999-12-31",
                    "archive": "2999-12-31",
                },
            },
        )


@pytest.mark.parametrize(
    ("annotations", "problem"),
    [
        pytest.param(
            {naming.ANNOTATION_START: "2026-01-01", naming.ANNOTATION_END: "2026-02-01"},
            "annotation labsctl.dev/archive is missing, not a date YYYY-MM-DD from 2000-01-01 "
            "to 3000-12-31: the phase is unknown",
            id="archive-missing",
        ),
        pytest.param(
            _dates_of("2026-03-01", "2026-02-01", "2026-04-01"),
            "annotation labsctl.dev/end is before the start date",
            id="end-before-start",
        ),
        pytest.param(
            _dates_of("2026-01-01", "2026-02-01", "2026-01-15"),
            "annotation labsctl.dev/archive is before the end date",
            id="archive-before-end",
        ),
    ],
)
def test_dates_out_of_order_or_missing_are_unknown_and_never_expired(
    annotations: dict[str, str], problem: str
) -> None:
    read = read_dates(annotations)
    assert read.problems == (problem,)
    assert read.dates is None
    assert read.lifecycle(D(2030, 1, 1)) == ("unknown", None)
    cluster = FakeCluster([_namespace("edited", annotations)])
    assert expired(cluster, D(2030, 1, 1)) == []  # type: ignore[arg-type]


def test_a_long_unreadable_annotation_is_quoted_cut_with_its_length() -> None:
    read = read_dates(_dates_of("2026-01-01", "2026-02-01", "9" * 10240))
    assert read.problems == (
        f"annotation labsctl.dev/archive is {'9' * 40!r}... (10240 characters), not a date "
        "YYYY-MM-DD from 2000-01-01 to 3000-12-31: the phase is unknown",
    )
