"""Recurrence golden tests: exact expected values in the CRM record and in Exchange.

Every test runs twice, with the machine's local zone set to Europe/London and to
America/New_York (``TZ`` + ``time.tzset()``; exchangelib's local zone is re-read), so a
result that depended on the local zone would fail in one of them. The "Outlook" side
(``mailbox``, ``ews_account``) is an exchangelib account in the machine's local zone;
WESS's own transport works in UTC. Occurrences are checked through exchangelib's
CalendarView (``calendar.view``) as UTC instants.

Dates: the end of British Summer Time is Sunday 2026-10-25, the end of US daylight time
Sunday 2026-11-01.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
import tzlocal
from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.recurrence import Recurrence, WeeklyPattern

from tests.support import listing, sync_ok

LOCAL_ZONES = ("Europe/London", "America/New_York")
UTC = EWSTimeZone("UTC")
LONDON = EWSTimeZone("Europe/London")
NEW_YORK = EWSTimeZone("America/New_York")
BERLIN = EWSTimeZone("Europe/Berlin")
IDLE = {"created": 0, "updated": 0, "deleted": 0}


@pytest.fixture(autouse=True, params=LOCAL_ZONES)
def local_zone(request, monkeypatch):
    """The machine's local zone for this test."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    tzlocal.reload_localzone()
    yield request.param
    monkeypatch.undo()
    time.tzset()
    tzlocal.reload_localzone()


def _weekly(day: str, start: str, number: int) -> dict:
    return {
        "pattern": {"type": "weekly", "interval": 1, "weekdays": [day]},
        "boundary": {"type": "numbered", "start": start, "number": number},
    }


def _record(crm) -> dict:
    (record,) = crm.list("meetings")
    return {k: v for k, v in record["fields"].items() if v is not None}


def _golden(crm, expected: dict) -> None:
    """The CRM record has exactly these calendar fields (others: none set)."""
    fields = _record(crm)
    shown = {k: fields.get(k) for k in (*expected, "modified_occurrences", "deleted_occurrences")}
    want = {"modified_occurrences": None, "deleted_occurrences": None, **expected}
    assert shown == want


def _view(account, start: str, end: str) -> list[tuple[str, str, str]]:
    """Occurrences in Exchange as (UTC start, UTC end, type), through CalendarView."""
    items = account.calendar.view(
        start=EWSDateTime.from_string(start), end=EWSDateTime.from_string(end)
    ).only("start", "end", "type")
    return [(_utc(o.start), _utc(o.end), o.type) for o in items]


def _utc(value) -> str:
    return value.astimezone(UTC).strftime("%m-%d %H:%M")


def _master(account) -> CalendarItem:
    (item,) = [i for i in account.calendar.all() if i.type == "RecurringMaster"]
    return account.calendar.get(id=item.id)


def _idle(wess) -> None:
    again = sync_ok(wess)["folders"]["calendar"]
    assert again["to_crm"] == IDLE and again["to_exchange"] == IDLE


# -- a weekly series across the end of British Summer Time -----------------------

LONDON_WEEKLY = {
    "subject": "Stand-up",
    "start": "2026-10-12T09:00:00+01:00",
    "end": "2026-10-12T09:30:00+01:00",
    "timezone": "Europe/London",
    "recurrence": _weekly("Monday", "2026-10-12", 4),
}
LONDON_UTC = [
    ("10-12 08:00", "10-12 08:30", "Occurrence"),
    ("10-19 08:00", "10-19 08:30", "Occurrence"),
    ("10-26 09:00", "10-26 09:30", "Occurrence"),  # GMT again: 09:00 local is 09:00Z
    ("11-02 09:00", "11-02 09:30", "Occurrence"),
]


def test_weekly_series_across_dst_crm_to_exchange_and_back(
    synced_home, crm, ews_account, local_zone
):
    assert ews_account.default_timezone.key == local_zone
    crm.add("meetings", **LONDON_WEEKLY)
    sync_ok(synced_home)
    assert _view(ews_account, "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z") == LONDON_UTC
    master = _master(ews_account)
    assert master._start_timezone.key == "Europe/London"
    assert master.start.astimezone(UTC).isoformat() == "2026-10-12T08:00:00+00:00"
    _idle(synced_home)
    _golden(crm, LONDON_WEEKLY)


def test_weekly_series_across_dst_exchange_to_crm(synced_home, crm, ews_account):
    CalendarItem(
        folder=ews_account.calendar,
        subject="Stand-up",
        start=EWSDateTime(2026, 10, 12, 9, tzinfo=LONDON),
        end=EWSDateTime(2026, 10, 12, 9, 30, tzinfo=LONDON),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[1]), start=dt.date(2026, 10, 12), number=4
        ),
    ).save()
    sync_ok(synced_home)
    _golden(crm, LONDON_WEEKLY)
    _idle(synced_home)
    assert _view(ews_account, "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z") == LONDON_UTC


# -- an organiser in New York, seen by a London user ------------------------------

NEW_YORK_WEEKLY = {
    "subject": "Pipeline review",
    "start": "2026-10-20T10:00:00-04:00",
    "end": "2026-10-20T11:00:00-04:00",
    "timezone": "America/New_York",
    "recurrence": _weekly("Tuesday", "2026-10-20", 4),
}
NEW_YORK_UTC = [
    ("10-20 14:00", "10-20 15:00", "Occurrence"),
    ("10-27 14:00", "10-27 15:00", "Occurrence"),
    ("11-03 15:00", "11-03 16:00", "Occurrence"),  # EST from 2026-11-01
    ("11-10 15:00", "11-10 16:00", "Occurrence"),
]


def test_organiser_in_another_zone_keeps_its_wall_clock(synced_home, crm, ews_account):
    CalendarItem(
        folder=ews_account.calendar,
        subject="Pipeline review",
        start=EWSDateTime(2026, 10, 20, 10, tzinfo=NEW_YORK),
        end=EWSDateTime(2026, 10, 20, 11, tzinfo=NEW_YORK),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[2]), start=dt.date(2026, 10, 20), number=4
        ),
    ).save()
    sync_ok(synced_home)
    _golden(crm, NEW_YORK_WEEKLY)
    view = _view(ews_account, "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert view == NEW_YORK_UTC
    # the London user sees 15:00, then 14:00 in the week between the two DST ends
    in_london = [
        o.start.astimezone(LONDON).strftime("%m-%d %H:%M")
        for o in ews_account.calendar.view(
            start=EWSDateTime(2026, 10, 1, tzinfo=UTC), end=EWSDateTime(2026, 12, 1, tzinfo=UTC)
        ).only("start")
    ]
    assert in_london == ["10-20 15:00", "10-27 14:00", "11-03 15:00", "11-10 15:00"]

    # a CRM edit writes the series back: still New York time, same occurrences
    (record,) = crm.list("meetings")
    crm.update("meetings", record["id"], subject="Pipeline review (EMEA)")
    out = sync_ok(synced_home)["folders"]["calendar"]
    assert out["to_exchange"] == {"created": 0, "updated": 1, "deleted": 0}
    master = _master(ews_account)
    assert master._start_timezone.key == "America/New_York"
    assert master.subject == "Pipeline review (EMEA)"
    assert _view(ews_account, "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z") == NEW_YORK_UTC
    _idle(synced_home)
    _golden(crm, {**NEW_YORK_WEEKLY, "subject": "Pipeline review (EMEA)"})


def test_organiser_zone_from_the_crm(synced_home, crm, ews_account):
    crm.add("meetings", **NEW_YORK_WEEKLY)
    sync_ok(synced_home)
    assert _view(ews_account, "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z") == NEW_YORK_UTC
    assert _master(ews_account)._start_timezone.key == "America/New_York"
    _idle(synced_home)
    _golden(crm, NEW_YORK_WEEKLY)


# -- an all-day series with a moved occurrence -----------------------------------

ALL_DAY = {
    "subject": "Site visit",
    "all_day": True,
    "start": "2026-12-07",
    "end": "2026-12-07",
    "timezone": "Europe/Berlin",
    "recurrence": _weekly("Monday", "2026-12-07", 4),
}
MOVED = {
    "original_start": "2026-12-14",
    "start": "2026-12-15",
    "end": "2026-12-15",
    "location": "Plant 2",
}
ALL_DAY_UTC = [  # local midnights in Berlin (UTC+1)
    ("12-06 23:00", "12-07 23:00", "Occurrence"),
    ("12-14 23:00", "12-15 23:00", "Exception"),  # moved from Monday 14th to Tuesday 15th
    ("12-20 23:00", "12-21 23:00", "Occurrence"),
    ("12-27 23:00", "12-28 23:00", "Occurrence"),
]


def test_all_day_series_with_a_moved_occurrence_crm_to_exchange(synced_home, crm, ews_account):
    record_id = crm.add("meetings", **ALL_DAY, modified_occurrences=[MOVED])
    sync_ok(synced_home)
    assert _view(ews_account, "2026-12-01T00:00:00Z", "2027-01-05T00:00:00Z") == ALL_DAY_UTC
    master = _master(ews_account)
    (occ,) = master.modified_occurrences
    assert occ.original_start.astimezone(UTC).isoformat() == "2026-12-13T23:00:00+00:00"
    assert occ.start.astimezone(UTC).isoformat() == "2026-12-14T23:00:00+00:00"
    exception = ews_account.calendar.get(id=occ.id)
    assert (exception.subject, exception.location) == ("Site visit", "Plant 2")
    _idle(synced_home)
    _golden(crm, {**ALL_DAY, "modified_occurrences": [MOVED]})

    # moved again: found by its original start (the 14th), not by where it is now
    again = {**MOVED, "start": "2026-12-16", "end": "2026-12-16"}
    crm.update("meetings", record_id, modified_occurrences=[again])
    sync_ok(synced_home)
    (occ,) = _master(ews_account).modified_occurrences
    assert occ.original_start.astimezone(UTC).isoformat() == "2026-12-13T23:00:00+00:00"
    assert occ.start.astimezone(UTC).isoformat() == "2026-12-15T23:00:00+00:00"
    assert len(listing_ids(ews_account)) == 1
    _idle(synced_home)
    _golden(crm, {**ALL_DAY, "modified_occurrences": [again]})


def test_all_day_series_with_a_moved_occurrence_exchange_to_crm(synced_home, crm, ews_account):
    master = CalendarItem(
        folder=ews_account.calendar,
        subject="Site visit",
        is_all_day=True,
        start=EWSDate(2026, 12, 7),
        end=EWSDate(2026, 12, 7),
        _start_timezone=BERLIN,
        _end_timezone=BERLIN,
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[1]), start=dt.date(2026, 12, 7), number=4
        ),
    )
    master.save()
    second = master.occurrence(index=2)
    second.refresh()
    second.start = second.end = EWSDate(2026, 12, 15)
    second.location = "Plant 2"
    second.save(update_fields=["start", "end", "location"])
    sync_ok(synced_home)
    _golden(crm, {**ALL_DAY, "modified_occurrences": [MOVED]})
    _idle(synced_home)
    assert _view(ews_account, "2026-12-01T00:00:00Z", "2027-01-05T00:00:00Z") == ALL_DAY_UTC


def listing_ids(account) -> list[str]:
    return [i.id for i in account.calendar.all().only("subject")]


# -- deleted occurrences ----------------------------------------------------------

ONE_TO_ONE = {
    "subject": "1:1",
    "start": "2027-01-06T14:00:00+00:00",
    "end": "2027-01-06T14:30:00+00:00",
    "timezone": "Europe/London",
    "recurrence": _weekly("Wednesday", "2027-01-06", 6),
}
DELETED = ["2027-01-13T14:00:00+00:00", "2027-01-27T14:00:00+00:00"]
ONE_TO_ONE_UTC = [
    ("01-06 14:00", "01-06 14:30", "Occurrence"),
    ("01-20 14:00", "01-20 14:30", "Occurrence"),
    ("02-03 14:00", "02-03 14:30", "Occurrence"),
    ("02-10 14:00", "02-10 14:30", "Occurrence"),
]


def _deleted_in_exchange(account) -> list[str]:
    return [d.start.astimezone(UTC).isoformat() for d in _master(account).deleted_occurrences]


def test_deleted_occurrences_crm_to_exchange_stay_deleted(synced_home, crm, ews_account, mailbox):
    crm.add("meetings", **ONE_TO_ONE, deleted_occurrences=DELETED)
    sync_ok(synced_home)
    assert _view(ews_account, "2027-01-01T00:00:00Z", "2027-03-01T00:00:00Z") == ONE_TO_ONE_UTC
    assert _deleted_in_exchange(ews_account) == DELETED
    for _ in range(2):  # re-synced: still deleted, nothing duplicated
        _idle(synced_home)
    assert len(listing(mailbox, "calendar")) == 1
    assert len(crm.list("meetings")) == 1
    assert _deleted_in_exchange(ews_account) == DELETED
    _golden(crm, {**ONE_TO_ONE, "deleted_occurrences": DELETED})


def test_deleted_occurrences_exchange_to_crm(synced_home, crm, ews_account, mailbox):
    crm.add("meetings", **ONE_TO_ONE)
    sync_ok(synced_home)
    master = _master(ews_account)
    master.occurrence(index=2).delete()
    master.occurrence(index=4).delete()
    sync_ok(synced_home)
    _golden(crm, {**ONE_TO_ONE, "deleted_occurrences": DELETED})
    for _ in range(2):
        _idle(synced_home)
    assert len(listing(mailbox, "calendar")) == 1
    assert _deleted_in_exchange(ews_account) == DELETED
    assert _view(ews_account, "2027-01-01T00:00:00Z", "2027-03-01T00:00:00Z") == ONE_TO_ONE_UTC


# -- a pattern edited after exceptions exist -------------------------------------

EDITED = {
    "subject": "Stand-up",
    "start": "2026-10-12T09:00:00+01:00",
    "end": "2026-10-12T09:30:00+01:00",
    "timezone": "Europe/London",
    "recurrence": _weekly("Monday", "2026-10-12", 5),
}
EXCEPTIONS = {
    "modified_occurrences": [
        {
            "original_start": "2026-10-19T09:00:00+01:00",
            "start": "2026-10-20T11:00:00+01:00",
            "end": "2026-10-20T11:30:00+01:00",
        }
    ],
    "deleted_occurrences": ["2026-10-26T09:00:00+00:00"],
}
EDITED_UTC = [
    ("10-12 08:00", "10-12 08:30", "Occurrence"),
    ("10-19 08:00", "10-19 08:30", "Occurrence"),
    ("10-26 09:00", "10-26 09:30", "Occurrence"),
    ("11-02 09:00", "11-02 09:30", "Occurrence"),
    ("11-09 09:00", "11-09 09:30", "Occurrence"),
]


def _with_exceptions(synced_home, crm, ews_account) -> str:
    record_id = crm.add("meetings", **LONDON_WEEKLY, **EXCEPTIONS)
    sync_ok(synced_home)
    assert _view(ews_account, "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z") == [
        ("10-12 08:00", "10-12 08:30", "Occurrence"),
        ("10-20 10:00", "10-20 10:30", "Exception"),
        ("11-02 09:00", "11-02 09:30", "Occurrence"),
    ]
    _golden(crm, {**LONDON_WEEKLY, **EXCEPTIONS})
    return record_id


def test_pattern_edited_in_exchange_drops_the_exceptions(synced_home, crm, ews_account):
    _with_exceptions(synced_home, crm, ews_account)
    master = _master(ews_account)
    master.recurrence = Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[1]), start=dt.date(2026, 10, 12), number=5
    )
    master.save(update_fields=["recurrence"])
    sync_ok(synced_home)
    _golden(crm, EDITED)
    assert _view(ews_account, "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z") == EDITED_UTC
    _idle(synced_home)


def test_pattern_edited_in_the_crm_does_not_resurrect_exceptions(synced_home, crm, ews_account):
    record_id = _with_exceptions(synced_home, crm, ews_account)
    # the CRM changes the pattern and keeps the (now stale) exceptions in the record
    crm.update("meetings", record_id, recurrence=EDITED["recurrence"])
    sync_ok(synced_home)
    master = _master(ews_account)
    assert master.modified_occurrences is None and master.deleted_occurrences is None
    assert _view(ews_account, "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z") == EDITED_UTC
    # the next sync reads the series back: the record matches Exchange
    sync_ok(synced_home)
    _golden(crm, EDITED)
    _idle(synced_home)
    assert _view(ews_account, "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z") == EDITED_UTC
