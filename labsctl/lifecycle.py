"""A residency's phase, derived from its dates and today's date; nothing is stored."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from labsctl.spec import Dates


class Phase(StrEnum):
    UPCOMING = "upcoming"
    ACTIVE = "active"
    ENDING_SOON = "ending-soon"
    ENDED = "ended"
    EXPIRED = "expired"


def phase(dates: Dates, today: dt.date | None = None) -> Phase:
    """upcoming < start <= active < ending-soon <= end < ended < archive <= expired."""
    today = today or dt.date.today()
    if today < dates.start:
        return Phase.UPCOMING
    if today >= dates.archive_date and today > dates.end:
        return Phase.EXPIRED
    if today > dates.end:
        return Phase.ENDED
    if (dates.end - today).days < dates.ending_soon_days:
        return Phase.ENDING_SOON
    return Phase.ACTIVE


def days_left(dates: Dates, today: dt.date | None = None) -> int:
    """Days of access left, counting today; negative once the residency has ended."""
    today = today or dt.date.today()
    return (dates.end - today).days + 1 if today <= dates.end else (dates.end - today).days
