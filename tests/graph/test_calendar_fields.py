"""Neutral calendar fields ↔ Graph event JSON: what a meeting looks like on the wire and
that a meeting survives the round trip unchanged (times in its own zone, all-day ends,
every recurrence pattern, exceptions)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from wess_plugins.transport_graph.calendar_fields import (
    event_from_fields,
    fields_from_event,
    occurrence_entry,
    occurrence_patch,
    recurrence_from_graph,
    recurrence_to_graph,
    zone_name,
)

WEEKLY = {
    "pattern": {"type": "weekly", "interval": 1, "weekdays": ["Monday"]},
    "boundary": {"type": "end_date", "start": "2026-10-12", "end": "2026-12-28"},
}
SERIES = {
    "subject": "Standup",
    "body": "notes",
    "location": "Room 1",
    "start": "2026-10-12T09:00:00+01:00",
    "end": "2026-10-12T09:30:00+01:00",
    "is_all_day": False,
    "timezone": "Europe/London",
    "uid": None,
    "required_attendees": ["bob@example.com"],
    "reminder_is_set": True,
    "reminder_minutes_before_start": 15,
    "recurrence": WEEKLY,
}


def test_a_series_goes_out_as_local_wall_clock_time_in_its_zone():
    event = event_from_fields(SERIES)
    assert event["start"] == {
        "dateTime": "2026-10-12T09:00:00.0000000",
        "timeZone": "Europe/London",
    }
    assert event["end"]["dateTime"] == "2026-10-12T09:30:00.0000000"
    assert event["recurrence"] == {
        "pattern": {
            "type": "weekly",
            "interval": 1,
            "daysOfWeek": ["monday"],
            "firstDayOfWeek": "monday",
        },
        "range": {
            "type": "endDate",
            "startDate": "2026-10-12",
            "endDate": "2026-12-28",
            "recurrenceTimeZone": "Europe/London",
        },
    }
    assert event["attendees"] == [
        {"emailAddress": {"address": "bob@example.com"}, "type": "required"}
    ]
    assert event["isReminderOn"] is True and event["reminderMinutesBeforeStart"] == 15
    assert fields_from_event(event) == SERIES


def test_a_time_given_in_utc_is_sent_in_the_meetings_zone():
    event = event_from_fields({**SERIES, "start": "2026-11-02T09:00:00+00:00"})
    # London is back on GMT in November: 09:00Z is 09:00 local
    assert event["start"]["dateTime"] == "2026-11-02T09:00:00.0000000"
    event = event_from_fields({**SERIES, "start": "2026-10-12T08:00:00Z"})
    assert event["start"]["dateTime"] == "2026-10-12T09:00:00.0000000"


def test_an_all_day_event_ends_at_the_next_midnight_on_the_wire_and_inclusive_here():
    fields = {**SERIES, "is_all_day": True, "start": "2026-10-12", "end": "2026-10-13"}
    fields["recurrence"] = None
    event = event_from_fields(fields)
    assert event["start"]["dateTime"] == "2026-10-12T00:00:00.0000000"
    assert event["end"]["dateTime"] == "2026-10-14T00:00:00.0000000"
    assert event["isAllDay"] is True
    assert fields_from_event(event) == fields


def test_a_windows_zone_from_outlook_reads_as_its_iana_zone():
    assert zone_name("GMT Standard Time") == "Europe/London"
    assert zone_name("UTC") is None and zone_name("Not A Zone") is None
    event = event_from_fields(SERIES)
    event["start"]["timeZone"] = event["end"]["timeZone"] = "GMT Standard Time"
    assert fields_from_event(event)["start"] == "2026-10-12T09:00:00+01:00"


def test_a_meeting_in_utc_has_no_zone():
    fields = {**SERIES, "timezone": None, "start": "2026-10-12T08:00:00+00:00"}
    fields["end"] = "2026-10-12T08:30:00+00:00"
    event = event_from_fields(fields)
    assert event["start"]["timeZone"] == "UTC"
    assert fields_from_event(event) == fields


def test_graph_defaults_for_fields_a_pattern_does_not_use_are_ignored():
    sent = {
        "pattern": {
            "type": "absoluteMonthly",
            "interval": 2,
            "month": 0,
            "dayOfMonth": 15,
            "daysOfWeek": [],
            "firstDayOfWeek": "sunday",
            "index": "first",
        },
        "range": {
            "type": "numbered",
            "startDate": "2026-10-15",
            "endDate": "0001-01-01",
            "recurrenceTimeZone": "Europe/London",
            "numberOfOccurrences": 6,
        },
    }
    assert recurrence_from_graph(sent) == {
        "pattern": {"type": "absolute_monthly", "interval": 2, "day_of_month": 15},
        "boundary": {"type": "numbered", "start": "2026-10-15", "number": 6},
    }


def test_relative_patterns_name_days_weekday_groups_and_weeks():
    neutral = {
        "pattern": {
            "type": "relative_yearly",
            "weekday": "Weekday",
            "week_number": "Last",
            "month": "March",
        },
        "boundary": {"type": "no_end", "start": "2026-03-31"},
    }
    graph = recurrence_to_graph(neutral, "Europe/Berlin")
    assert graph["pattern"] == {
        "type": "relativeYearly",
        "interval": 1,
        "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
        "index": "last",
        "month": 3,
    }
    assert recurrence_from_graph(graph) == neutral


_DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@st.composite
def recurrences(draw):
    kind = draw(
        st.sampled_from(
            [
                "daily",
                "weekly",
                "absolute_monthly",
                "relative_monthly",
                "absolute_yearly",
                "relative_yearly",
            ]
        )
    )
    pattern: dict = {"type": kind}
    if not kind.endswith("yearly"):
        pattern["interval"] = draw(st.integers(1, 5))
    if kind == "weekly":
        pattern["weekdays"] = draw(st.lists(st.sampled_from(_DAY_NAMES), min_size=1, unique=True))
        first = draw(st.sampled_from(_DAY_NAMES))
        if first != "Monday":
            pattern["first_day_of_week"] = first
    if kind.startswith("absolute"):
        pattern["day_of_month"] = draw(st.integers(1, 31))
    if kind.startswith("relative"):
        pattern["weekday"] = draw(st.sampled_from([*_DAY_NAMES, "Day", "Weekday", "WeekendDay"]))
        pattern["week_number"] = draw(
            st.sampled_from(["First", "Second", "Third", "Fourth", "Last"])
        )
    if kind.endswith("yearly"):
        pattern["month"] = draw(st.sampled_from(["January", "June", "December"]))
    start = draw(st.dates()).isoformat()
    boundary: dict = {"type": draw(st.sampled_from(["end_date", "no_end", "numbered"]))}
    boundary["start"] = start
    if boundary["type"] == "end_date":
        boundary["end"] = draw(st.dates()).isoformat()
    if boundary["type"] == "numbered":
        boundary["number"] = draw(st.integers(1, 999))
    return {"pattern": pattern, "boundary": boundary}


@given(recurrences(), st.sampled_from([None, "Europe/London", "America/New_York"]))
def test_every_recurrence_survives_the_round_trip(recurrence, zone):
    graph = recurrence_to_graph(recurrence, zone)
    assert graph["range"]["recurrenceTimeZone"] == (zone or "UTC")
    assert recurrence_from_graph(graph) == recurrence


@given(
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2040, 1, 1),
    ),
    st.integers(0, 3 * 24 * 60),
    st.sampled_from([None, "Europe/London", "Asia/Kolkata", "America/New_York"]),
    st.text(max_size=20),
)
def test_any_timed_meeting_survives_the_round_trip(start, minutes, zone, subject):
    tz = ZoneInfo(zone or "UTC")
    start = start.replace(second=0, microsecond=0, tzinfo=tz)
    # a local time a DST gap skips does not exist: Graph and Outlook move it, so do we
    start = start.astimezone(ZoneInfo("UTC")).astimezone(tz)
    end = (start + dt.timedelta(minutes=minutes)).astimezone(tz)
    fields = {
        **SERIES,
        "subject": subject or None,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "timezone": zone,
        "recurrence": None,
        "reminder_is_set": False,
        "reminder_minutes_before_start": None,
        "required_attendees": None,
    }
    back = fields_from_event(event_from_fields(fields))
    assert back == fields


def _graph_instance(master_fields, original_utc, **changes):
    """What Graph answers for an instance of the series: the master's JSON at the slot."""
    event = event_from_fields({**master_fields, **changes})
    event.pop("recurrence")
    event["type"] = "exception" if changes else "occurrence"
    event["originalStart"] = original_utc
    return event


def test_an_unchanged_occurrence_is_no_exception():
    occurrence = _graph_instance(
        SERIES,
        "2026-10-19T08:00:00Z",
        start="2026-10-19T09:00:00+01:00",
        end="2026-10-19T09:30:00+01:00",
    )
    assert occurrence_entry(SERIES, occurrence) is None


def test_a_moved_and_renamed_occurrence_is_an_exception_named_by_its_slot():
    moved = _graph_instance(
        SERIES,
        "2026-10-26T09:00:00Z",  # after the clocks went back: 09:00 GMT
        start="2026-10-27T10:00:00+00:00",
        end="2026-10-27T11:00:00+00:00",
        subject="Standup (Tuesday)",
    )
    entry = occurrence_entry(SERIES, moved)
    assert entry == {
        "original_start": "2026-10-26T09:00:00+00:00",
        "start": "2026-10-27T10:00:00+00:00",
        "end": "2026-10-27T11:00:00+00:00",
        "subject": "Standup (Tuesday)",
    }
    patch = occurrence_patch(SERIES, entry)
    assert patch["start"] == {
        "dateTime": "2026-10-27T10:00:00.0000000",
        "timeZone": "Europe/London",
    }
    assert patch["subject"] == "Standup (Tuesday)" and patch["location"]["displayName"] == "Room 1"
    assert "recurrence" not in patch and "isAllDay" not in patch
    # the occurrence as that PATCH leaves it reads back as the same exception
    assert occurrence_entry(SERIES, {**moved, **patch}) == entry


def test_an_exception_put_back_to_its_slot_takes_the_series_times():
    patch = occurrence_patch(SERIES, {"original_start": "2026-10-19T09:00:00+01:00"})
    assert patch["start"]["dateTime"] == "2026-10-19T09:00:00.0000000"
    assert patch["end"]["dateTime"] == "2026-10-19T09:30:00.0000000"
    assert patch["subject"] == "Standup"


def test_the_module_needs_no_ews_transport():
    code = (
        "import sys, wess_plugins.transport_graph.calendar_fields as m; "
        "m.zone_name('GMT Standard Time'); "
        "assert 'wess_plugins.transport_ews' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_times_graph_answers_in_utc_read_in_the_zone_the_meeting_was_made_in():
    event = event_from_fields(SERIES)
    event["originalStartTimeZone"] = "GMT Standard Time"  # as Outlook sets it
    event["start"] = {"dateTime": "2026-10-12T08:00:00.0000000", "timeZone": "UTC"}
    event["end"] = {"dateTime": "2026-10-12T08:30:00.0000000", "timeZone": "UTC"}
    fields = fields_from_event(event)
    assert fields["timezone"] == "Europe/London"
    assert (fields["start"], fields["end"]) == (SERIES["start"], SERIES["end"])
    event["originalStartTimeZone"] = "tzone://Microsoft/Custom"  # unknown: the next one
    assert fields_from_event(event)["timezone"] == "Europe/London"  # the series' zone
