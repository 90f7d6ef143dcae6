"""Meetings for the Graph calendar's real-sync tests, dated from today: the calendar
window runs from 90 days back to a year ahead of the day a round begins."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
#: A Monday five to six weeks ahead: the series' first day.
FIRST = dt.date.today() + dt.timedelta(days=35 + (7 - dt.date.today().weekday()) % 7)


def later_day(weeks: int, days: int = 0) -> dt.date:
    return FIRST + dt.timedelta(weeks=weeks, days=days)


def at(day: dt.date, hour: int, minute: int = 0) -> str:
    """A neutral time: London wall-clock time with its offset that day."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON).isoformat()


def utc(day: dt.date, hour: int, minute: int = 0) -> str:
    """The same time as the store keeps it (UTC, "Z")."""
    local = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON)
    return local.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def weekly_series() -> dict:
    """Mondays 09:00-09:30 London, six times; the second moved to 10:00 and renamed, the
    third cancelled."""
    return {
        "subject": "Standup",
        "description": "notes",
        "location": "Room 1",
        "start": at(FIRST, 9),
        "end": at(FIRST, 9, 30),
        "timezone": "Europe/London",
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "weekdays": ["Monday"]},
            "boundary": {"type": "numbered", "start": FIRST.isoformat(), "number": 6},
        },
        "modified_occurrences": [
            {
                "original_start": at(later_day(1), 9),
                "start": at(later_day(1), 10),
                "end": at(later_day(1), 10, 30),
                "subject": "Standup (late)",
            }
        ],
        "deleted_occurrences": [at(later_day(2), 9)],
    }
