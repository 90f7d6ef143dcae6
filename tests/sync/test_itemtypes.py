"""The built-in item types: round trips, projections, and the registry."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given, settings

from wess_core.strategies import FOLDERS, RECORD_TYPES, Direction, ItemType
from wess_core.sync.itemtypes import (
    CalendarType,
    ContactsType,
    EmailType,
    TasksType,
    builtin_item_types,
)
from wess_core.sync.plan import Views

TEXT = st.text(min_size=1, max_size=8)
MAYBE = st.none() | TEXT

PEOPLE = st.fixed_dictionaries(
    {},
    optional={
        "first_name": TEXT,
        "last_name": TEXT,
        "company": TEXT,
        "job_title": TEXT,
        "notes": TEXT,
        "email": TEXT,
        "email2": TEXT,
        "phone": TEXT,
        "mobile": TEXT,
        "address": st.fixed_dictionaries({"city": TEXT}, optional={"street": TEXT, "zip": TEXT}),
        "home_address": st.fixed_dictionaries(
            {"street": TEXT}, optional={"city": TEXT, "state": TEXT, "country": TEXT}
        ),
        "other_address": st.fixed_dictionaries({"country": TEXT}, optional={"zip": TEXT}),
        "unmapped": TEXT,
    },
)
MEETINGS = st.fixed_dictionaries(
    {"subject": TEXT, "start": st.just("2024-05-06T10:00:00+02:00")},
    optional={
        "end": st.just("2024-05-06T11:00:00+02:00"),
        "all_day": st.booleans(),
        "location": TEXT,
        "attendees": st.lists(TEXT, min_size=1, max_size=3),
        "reminder_minutes": st.integers(1, 60),
        "recurrence": st.just(
            {
                "pattern": {"type": "weekly", "interval": 1, "weekdays": ["Monday"]},
                "boundary": {"type": "numbered", "start": "2024-05-06", "number": 5},
            }
        ),
        "deleted_occurrences": st.lists(st.just("2024-05-13T10:00:00+02:00"), max_size=1),
    },
)
TASKS = st.fixed_dictionaries(
    {"subject": TEXT},
    optional={
        "status": st.sampled_from(["not_started", "in_progress", "completed", "waiting"]),
        "percent_complete": st.integers(1, 100),
        "due_date": st.just("2024-06-01"),
        "description": TEXT,
    },
)
EMAILS = st.fixed_dictionaries(
    {"subject": TEXT, "from": TEXT, "direction": st.just("in")},
    optional={"to": st.lists(TEXT, min_size=1, max_size=2), "body": TEXT, "message_id": TEXT},
)


def _mapped(t: ItemType, record: dict) -> dict:
    """The record restricted to what the type maps, empty values dropped."""
    view = t.to_record(t.to_item(record))
    return {k: v for k, v in view.items() if v is not None}


def _roundtrip(t: ItemType, record: dict) -> None:
    item = t.to_item(record)
    back = {k: v for k, v in t.to_record(item).items() if v is not None}
    empty = (False, None, [], {}, "")
    expected = {k: v for k, v in record.items() if k != "unmapped" and v not in empty}
    if "recurrence" not in expected:  # occurrences exist only in a series
        expected.pop("deleted_occurrences", None)
        expected.pop("modified_occurrences", None)
    if expected.get("status") == "not_started":  # a task's empty status (as Exchange's)
        del expected["status"]
    if "status" not in expected and expected.get("percent_complete"):  # begun: in progress
        pct = expected["percent_complete"]
        expected["status"] = "completed" if pct >= 100 else "in_progress"
    if expected.get("status") == "completed":  # Exchange: a completed task is 100 % done
        expected["percent_complete"] = 100
    assert back == expected
    views = Views(t)
    assert views.record_view(record) == views.item_view(item)  # both sides agree
    assert _mapped(t, _mapped(t, record)) == _mapped(t, record)  # a projection


@settings(max_examples=60)
@given(PEOPLE)
def test_contacts_round_trip(record):
    _roundtrip(ContactsType(), record)


@settings(max_examples=60)
@given(MEETINGS)
def test_calendar_round_trip(record):
    _roundtrip(CalendarType(), record)


@settings(max_examples=60)
@given(TASKS)
def test_tasks_round_trip(record):
    _roundtrip(TasksType(), record)


@settings(max_examples=60)
@given(EMAILS)
def test_email_round_trip(record):
    _roundtrip(EmailType("email-inbox", "inbox", "in"), record)


def test_contact_item_fields_use_exchangelib_shapes():
    item = ContactsType().to_item(
        {
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@x.org",
            "mobile": "+1 555",
            "address": {"city": "Oslo", "zip": "0150"},
        }
    )
    assert item["display_name"] == "Ann Lee"
    assert item["email_addresses"] == [{"label": "EmailAddress1", "email": "ann@x.org"}]
    assert item["phone_numbers"] == [{"label": "MobilePhone", "phone_number": "+1 555"}]
    assert item["physical_addresses"] == [{"label": "Business", "city": "Oslo", "zipcode": "0150"}]
    assert item["job_title"] is None  # every mapped field is named, so updates clear it


def test_task_status_maps_to_exchange_names():
    assert TasksType().to_item({"status": "waiting"})["status"] == "WaitingOnOthers"
    assert TasksType().to_record({"status": "InProgress"})["status"] == "in_progress"


def test_builtin_types_name_valid_folders_record_types_and_directions():
    types = builtin_item_types()
    assert [t.name for t in types] == ["contacts", "calendar", "tasks", "email-inbox", "email-sent"]
    for t in types:
        assert isinstance(t, ItemType)
        assert t.folder in FOLDERS and t.record_type in RECORD_TYPES
    one_way = {t.name for t in types if t.direction == Direction.EXCHANGE_TO_CRM}
    assert one_way == {"email-inbox", "email-sent"}
    sent = next(t for t in types if t.name == "email-sent")
    assert sent.to_record({"subject": "x"})["direction"] == "out"


def test_contact_addresses_map_business_home_and_other_both_ways():
    record = {
        "first_name": "Ann",
        "address": {"street": "1 Main St", "city": "Leeds"},
        "home_address": {
            "street": "2 Elm Rd",
            "city": "York",
            "zip": "YO1 7HH",
            "state": "N Yorks",
            "country": "UK",
        },
        "other_address": {"city": "Oslo"},
    }
    item = ContactsType().to_item(record)
    assert item["physical_addresses"] == [
        {"label": "Business", "street": "1 Main St", "city": "Leeds"},
        {
            "label": "Home",
            "street": "2 Elm Rd",
            "city": "York",
            "state": "N Yorks",
            "zipcode": "YO1 7HH",
            "country": "UK",
        },
        {"label": "Other", "city": "Oslo"},
    ]
    back = ContactsType().to_record(item)
    assert {k: back[k] for k in ("address", "home_address", "other_address")} == {
        k: record[k] for k in ("address", "home_address", "other_address")
    }
    only_home = ContactsType().to_record({"physical_addresses": [{"label": "Home", "city": "X"}]})
    assert (only_home["address"], only_home["home_address"]) == (None, {"city": "X"})


def test_a_task_maps_to_what_an_exchange_task_can_hold():
    """Found by the state machine over EWS: Exchange always has a status ("not started"
    when a CRM task has none) and exchangelib resets a completed task to 100 % and a due
    date before the start date; the item view must agree, or the pair never converges."""
    t, views = TasksType(), Views(TasksType())
    assert views.record_view({"subject": "a"}) == t.to_record(
        {"subject": "a", "status": "NotStarted", "percent_complete": 0}
    )
    done = t.to_item({"subject": "a", "status": "completed"})
    assert (done["status"], done["percent_complete"]) == ("Completed", 100)
    begun = t.to_item({"subject": "a", "percent_complete": 10})
    assert (begun["status"], begun["percent_complete"]) == ("InProgress", 10)
    early = t.to_item({"subject": "a", "start_date": "2024-05-02", "due_date": "2024-05-01"})
    assert early["due_date"] == "2024-05-02"


def test_a_single_meeting_holds_no_occurrences():
    """Found by the state machine over EWS: deleted occurrences on a one-off meeting."""
    views = Views(CalendarType())
    single = {
        "subject": "a",
        "start": "2024-05-06T09:00:00+00:00",
        "deleted_occurrences": ["2024-05-13T09:00:00+00:00"],
    }
    assert views.record_view(single)["deleted_occurrences"] is None
    assert CalendarType().to_record(single)["deleted_occurrences"] is None
