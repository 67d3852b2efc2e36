"""The geometry of the fleet timeline: one bar per residency from start to archive date, month
ticks and today's mark, as plain numbers and strings for the page's inline SVG."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from labsctl.status import ResidencyStatus

WIDTH = 1000  # SVG user units; the SVG scales to the page
LABEL_WIDTH = 210  # left column: residency names
RIGHT_MARGIN = 20
ROW_HEIGHT = 30
TOP = 34  # room for the month ticks and today's label
BAR_HEIGHT = 16
MAX_TICKS = 12
PADDING_DAYS = 7
TICK_LABEL_ROOM = 60  # user units a month's label needs
TODAY_LABEL_ROOM = 150  # user units the label needs to the right of the line


@dataclass(frozen=True)
class Bar:
    residency: str
    phase: str
    y: float
    label_y: float
    active_x: float  # start to end: the team works
    active_width: float
    after_x: float  # end to archive: hand-over, read access
    after_width: float
    title: str  # the bar's text equivalent


@dataclass(frozen=True)
class Tick:
    x: float
    label_x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    chart_left: int
    chart_right: int
    bars: tuple[Bar, ...]
    undated: tuple[str, ...]  # residencies whose dates could not be read
    ticks: tuple[Tick, ...]
    today_x: float
    today_label_x: float
    today_label_anchor: str  # start, or end near the right edge so the label stays inside
    today_label: str
    title: str


def timeline(residencies: list[ResidencyStatus], today: dt.date) -> Timeline:
    dated = [r for r in residencies if r.start and r.end]
    first = min([r.start for r in dated if r.start] + [today]) - dt.timedelta(days=PADDING_DAYS)
    last = max([_until(r) for r in dated] + [today]) + dt.timedelta(days=PADDING_DAYS)
    left, right = LABEL_WIDTH, WIDTH - RIGHT_MARGIN
    span = max((last - first).days, 1)

    def x(day: dt.date) -> float:
        return round(left + (day - first).days / span * (right - left), 1)

    bars = []
    for row, item in enumerate(dated):
        assert item.start is not None and item.end is not None
        y = TOP + row * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2
        end_x, until_x = x(item.end), x(_until(item))
        bars.append(
            Bar(
                residency=item.name,
                phase=item.phase,
                y=y,
                label_y=y + BAR_HEIGHT - 4,
                active_x=x(item.start),
                active_width=max(end_x - x(item.start), 1.0),
                after_x=end_x,
                after_width=max(until_x - end_x, 0.0),
                title=describe(item),
            )
        )
    return Timeline(
        width=WIDTH,
        height=TOP + max(len(dated), 1) * ROW_HEIGHT + 6,
        chart_left=left,
        chart_right=right,
        bars=tuple(bars),
        undated=tuple(r.name for r in residencies if not (r.start and r.end)),
        ticks=tuple(
            Tick(x(day), x(day) + 3, day.strftime("%b %Y"))
            for day in _months(first, last)
            if x(day) <= right - TICK_LABEL_ROOM
        ),
        today_x=x(today),
        today_label_x=x(today) + 4 if x(today) < right - TODAY_LABEL_ROOM else x(today) - 4,
        today_label_anchor="start" if x(today) < right - TODAY_LABEL_ROOM else "end",
        today_label=f"today {today.isoformat()}",
        title=f"Residencies from start to archive date, {first.isoformat()} to {last.isoformat()}",
    )


def describe(item: ResidencyStatus) -> str:
    """One sentence a screen reader (or a tooltip) gives for a residency's bar."""
    parts = [f"{item.name}: {item.phase}"]
    if item.start and item.end:
        parts.append(f"from {item.start.isoformat()} to {item.end.isoformat()}")
    if item.archive:
        parts.append(f"archived {item.archive.isoformat()}")
    if item.days_left is not None:
        parts.append(f"{item.days_left} days left")
    return ", ".join(parts)


def _until(item: ResidencyStatus) -> dt.date:
    assert item.end is not None
    return max(item.archive or item.end, item.end)


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    months = []
    day = dt.date(first.year, first.month, 1)
    while day <= last:
        if day >= first:
            months.append(day)
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    step = -(-len(months) // MAX_TICKS)  # ceiling: at most MAX_TICKS labels
    return months[::step] if months else []
