"""Meetings over Microsoft Graph through real syncs (``wess sync``, ``--transport graph``,
the emulator's Graph endpoint): a weekly series with one changed and one cancelled
occurrence goes both ways as one record, a second run changes nothing, and a series
edited in Exchange reaches the CRM."""

from __future__ import annotations

import datetime as dt

from tests.support.graph_sync import graph_sync
from wess_emulator.emulator.recurrence import parse_dt

ALICE = "alice@example.com"

#: Mondays 09:00-09:30 London from 11 Jan 2027 (inside the calendar window: today is
#: before it, and it ends within the year ahead), six times; the 18th moved to 10:00 and
#: renamed, the 25th cancelled.
SERIES = {
    "subject": "Standup",
    "description": "notes",
    "location": "Room 1",
    "start": "2027-01-11T09:00:00+00:00",
    "end": "2027-01-11T09:30:00+00:00",
    "timezone": "Europe/London",
    "recurrence": {
        "pattern": {"type": "weekly", "interval": 1, "weekdays": ["Monday"]},
        "boundary": {"type": "numbered", "start": "2027-01-11", "number": 6},
    },
    "modified_occurrences": [
        {
            "original_start": "2027-01-18T09:00:00+00:00",
            "start": "2027-01-18T10:00:00+00:00",
            "end": "2027-01-18T10:30:00+00:00",
            "subject": "Standup (late)",
        }
    ],
    "deleted_occurrences": ["2027-01-25T09:00:00+00:00"],
}


def _calendar(emu):
    return emu.mailbox(ALICE).folder("calendar")


def _series_in_exchange(emu):
    (master,) = _calendar(emu).items.values()
    assert master.is_recurring_master
    return master


def _calendar_counts(data: dict) -> tuple[dict, dict]:
    folder = data["folders"]["calendar"]
    return folder["to_exchange"], folder["to_crm"]


def test_a_series_from_the_crm_reaches_exchange_and_a_second_run_changes_nothing(
    graph_site, emu, crm
):
    crm.add("meetings", **SERIES)
    to_exchange, _ = _calendar_counts(graph_sync(graph_site))
    assert to_exchange["created"] == 1
    master = _series_in_exchange(emu)
    assert master.field_text("Subject") == "Standup"
    assert master.field_text("Start") == "2027-01-11T09:00:00Z"
    (exception,) = master.exceptions.values()
    assert exception.field_text("Subject") == "Standup (late)"
    assert exception.field_text("Start") == "2027-01-18T10:00:00Z"
    assert master.deleted_indexes == {3}

    again = graph_sync(graph_site)
    assert again["total_changes"] == 0, again["folders"]["calendar"]
    (record,) = crm.list("meetings")
    assert record["fields"]["deleted_occurrences"] == SERIES["deleted_occurrences"]
    assert record["fields"]["modified_occurrences"] == SERIES["modified_occurrences"]


def test_a_series_made_in_exchange_arrives_as_one_record_with_its_occurrences(graph_site, emu, crm):
    # a series written in Exchange (Outlook over EWS, as the emulator stores it)
    mailbox = emu.mailbox(ALICE)
    xml = (
        '<t:CalendarItem xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        "<t:Subject>Review</t:Subject><t:Body BodyType='Text'>agenda</t:Body>"
        "<t:Start>2027-01-12T14:00:00Z</t:Start><t:End>2027-01-12T15:00:00Z</t:End>"
        "<t:Location>Room 2</t:Location>"
        "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval>"
        "<t:DaysOfWeek>Tuesday</t:DaysOfWeek><t:FirstDayOfWeek>Monday</t:FirstDayOfWeek>"
        "</t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>2027-01-12</t:StartDate>"
        "<t:NumberOfOccurrences>4</t:NumberOfOccurrences></t:NumberedRecurrence>"
        "</t:Recurrence><t:StartTimeZone Id='GMT Standard Time'/>"
        "<t:EndTimeZone Id='GMT Standard Time'/></t:CalendarItem>"
    )
    (master_id,) = mailbox.add_items("calendar", [{"xml": xml}])
    master = mailbox.items[master_id]
    moved = mailbox.materialize_exception(mailbox.occurrence(master, 2))
    moved.set_field("Start", "2027-01-19T16:00:00Z")
    moved.set_field("End", "2027-01-19T17:00:00Z")
    mailbox.update_item(moved)
    mailbox.delete_occurrence(master, 3)

    _, to_crm = _calendar_counts(graph_sync(graph_site))
    assert to_crm["created"] == 1
    (record,) = crm.list("meetings")
    fields = record["fields"]
    assert fields["subject"] == "Review" and fields["timezone"] == "Europe/London"
    assert fields["start"] == "2027-01-12T14:00:00+00:00"
    assert fields["modified_occurrences"] == [
        {
            "original_start": "2027-01-19T14:00:00+00:00",
            "start": "2027-01-19T16:00:00+00:00",
            "end": "2027-01-19T17:00:00+00:00",
        }
    ]
    assert fields["deleted_occurrences"] == ["2027-01-26T14:00:00+00:00"]
    assert graph_sync(graph_site)["total_changes"] == 0

    # an occurrence cancelled later in Outlook reaches the CRM record
    mailbox.delete_occurrence(master, 4)
    _, to_crm = _calendar_counts(graph_sync(graph_site))
    assert to_crm["updated"] == 1
    (record,) = crm.list("meetings")
    assert record["fields"]["deleted_occurrences"] == [
        "2027-01-26T14:00:00+00:00",
        "2027-02-02T14:00:00+00:00",
    ]


def test_a_meeting_deleted_in_exchange_is_deleted_in_the_crm(graph_site, emu, crm):
    crm.add(
        "meetings",
        subject="Lunch",
        start="2027-01-13T12:00:00+00:00",
        end="2027-01-13T13:00:00+00:00",
        timezone="Europe/London",
    )
    graph_sync(graph_site)
    (item,) = _calendar(emu).items.values()
    assert parse_dt(item.field_text("Start")) == dt.datetime(2027, 1, 13, 12, tzinfo=dt.UTC)
    emu.mailbox(ALICE).delete_item(item)
    _, to_crm = _calendar_counts(graph_sync(graph_site))
    assert to_crm["deleted"] == 1
    assert crm.list("meetings") == []
