"""Meetings over Microsoft Graph through real syncs (``wess sync``, ``--transport graph``,
the emulator's Graph endpoint): a weekly series with one changed and one cancelled
occurrence goes both ways as one record and a second run changes nothing; edits and
deletes in Exchange reach the CRM; a lost token resyncs without deleting or doubling
the meetings outside the calendar window.

Dates are relative to today (``tests.support.graph_calendar``)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tests.support.graph_calendar import FIRST, LONDON, at, later_day, utc, weekly_series
from tests.support.graph_sync import graph_sync
from wess_core.service import Context
from wess_core.sync.state_db import StoreSyncState
from wess_plugins.transport_graph import calendar_window

ALICE = "alice@example.com"


def _calendar(emu):
    return emu.mailbox(ALICE).folder("calendar")


def _counts(data: dict) -> tuple[dict, dict]:
    folder = data["folders"]["calendar"]
    return folder["to_exchange"], folder["to_crm"]


def test_a_series_from_the_crm_reaches_exchange_and_a_second_run_changes_nothing(
    graph_site, emu, crm
):
    crm.add("meetings", **weekly_series())
    to_exchange, _ = _counts(graph_sync(graph_site))
    assert to_exchange["created"] == 1
    (master,) = _calendar(emu).items.values()
    assert master.is_recurring_master and master.field_text("Subject") == "Standup"
    assert master.field_text("Start") == utc(FIRST, 9)
    (exception,) = master.exceptions.values()
    assert exception.field_text("Subject") == "Standup (late)"
    assert exception.field_text("Start") == utc(later_day(1), 10)
    assert master.deleted_indexes == {3}

    again = graph_sync(graph_site)
    assert again["total_changes"] == 0, again["folders"]["calendar"]
    (record,) = crm.list("meetings")
    assert record["fields"]["modified_occurrences"] == weekly_series()["modified_occurrences"]
    assert record["fields"]["deleted_occurrences"] == weekly_series()["deleted_occurrences"]


def test_a_crm_edit_of_the_exceptions_reaches_the_series(graph_site, emu, crm):
    meeting = crm.add("meetings", **weekly_series())
    graph_sync(graph_site)
    series = weekly_series()
    series["modified_occurrences"] = [  # the moved one is back in its slot, another moved
        {
            "original_start": at(later_day(3), 9),
            "start": at(later_day(3, 1), 9),
            "end": at(later_day(3, 1), 9, 30),
        }
    ]
    series["deleted_occurrences"] = [at(later_day(2), 9), at(later_day(4), 9)]
    crm.update(
        "meetings",
        meeting,
        modified_occurrences=series["modified_occurrences"],
        deleted_occurrences=series["deleted_occurrences"],
    )
    assert _counts(graph_sync(graph_site))[0]["updated"] == 1
    (master,) = _calendar(emu).items.values()
    assert master.deleted_indexes == {3, 5}
    moved = {i: e.field_text("Start") for i, e in master.exceptions.items()}
    assert moved[4] == utc(later_day(3, 1), 9)
    assert moved.get(2, utc(later_day(1), 9)) == utc(later_day(1), 9)  # back in its slot
    assert graph_sync(graph_site)["total_changes"] == 0


def _review_in_exchange(emu) -> str:
    """Tuesdays 14:00-15:00 London, four times, written in Exchange (Outlook over EWS, as
    the emulator stores it); the second moved to 16:00, the third cancelled."""
    day = later_day(0, 1)
    xml = (
        '<t:CalendarItem xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        "<t:Subject>Review</t:Subject><t:Body BodyType='Text'>agenda</t:Body>"
        f"<t:Start>{utc(day, 14)}</t:Start><t:End>{utc(day, 15)}</t:End>"
        "<t:Location>Room 2</t:Location>"
        "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval>"
        "<t:DaysOfWeek>Tuesday</t:DaysOfWeek><t:FirstDayOfWeek>Monday</t:FirstDayOfWeek>"
        f"</t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>{day}</t:StartDate>"
        "<t:NumberOfOccurrences>4</t:NumberOfOccurrences></t:NumberedRecurrence>"
        "</t:Recurrence><t:StartTimeZone Id='GMT Standard Time'/>"
        "<t:EndTimeZone Id='GMT Standard Time'/></t:CalendarItem>"
    )
    mailbox = emu.mailbox(ALICE)
    (master_id,) = mailbox.add_items("calendar", [{"xml": xml}])
    master = mailbox.items[master_id]
    moved = mailbox.materialize_exception(mailbox.occurrence(master, 2))
    moved.set_field("Start", utc(later_day(1, 1), 16))
    moved.set_field("End", utc(later_day(1, 1), 17))
    mailbox.update_item(moved)
    mailbox.delete_occurrence(master, 3)
    return master_id


def test_a_series_made_in_exchange_arrives_as_one_record_with_its_occurrences(graph_site, emu, crm):
    master_id = _review_in_exchange(emu)
    assert _counts(graph_sync(graph_site))[1]["created"] == 1
    (record,) = crm.list("meetings")
    fields = record["fields"]
    assert fields["subject"] == "Review" and fields["timezone"] == "Europe/London"
    assert fields["start"] == at(later_day(0, 1), 14)
    assert fields["modified_occurrences"] == [
        {
            "original_start": at(later_day(1, 1), 14),
            "start": at(later_day(1, 1), 16),
            "end": at(later_day(1, 1), 17),
        }
    ]
    assert fields["deleted_occurrences"] == [at(later_day(2, 1), 14)]
    assert graph_sync(graph_site)["total_changes"] == 0

    # an occurrence cancelled later in Outlook reaches the record; then the whole series
    mailbox = emu.mailbox(ALICE)
    mailbox.delete_occurrence(mailbox.items[master_id], 4)
    assert _counts(graph_sync(graph_site))[1]["updated"] == 1
    (record,) = crm.list("meetings")
    assert record["fields"]["deleted_occurrences"] == [
        at(later_day(2, 1), 14),
        at(later_day(3, 1), 14),
    ]
    mailbox.delete_item(mailbox.items[master_id])
    assert _counts(graph_sync(graph_site))[1]["deleted"] == 1
    assert crm.list("meetings") == []


def test_single_meetings_moved_or_deleted_in_exchange(graph_site, emu, crm):
    for n, subject in enumerate(("Lunch", "Dinner")):
        crm.add(
            "meetings",
            subject=subject,
            start=at(later_day(0, 2 + n), 12),
            end=at(later_day(0, 2 + n), 13),
            timezone="Europe/London",
        )
    graph_sync(graph_site)
    # the next round sees them (a round only reports what its window saw change)
    assert graph_sync(graph_site)["total_changes"] == 0
    mailbox = emu.mailbox(ALICE)
    by_subject = {i.field_text("Subject"): i for i in _calendar(emu).items.values()}
    mailbox.delete_item(by_subject["Lunch"])
    later = dt.date.today() + dt.timedelta(days=500)  # out of the window: not a delete
    dinner = by_subject["Dinner"]
    dinner.set_field("Start", utc(later, 19))
    dinner.set_field("End", utc(later, 20))
    mailbox.update_item(dinner)
    _, to_crm = _counts(graph_sync(graph_site))
    assert (to_crm["deleted"], to_crm["updated"]) == (1, 1)
    (record,) = crm.list("meetings")
    assert record["fields"]["start"] == at(later, 19)


def test_a_lost_token_resyncs_in_full_keeping_meetings_outside_the_window(graph_site, emu, crm):
    old = dt.date.today() - dt.timedelta(days=200)
    crm.add(
        "meetings",
        subject="Kick-off",
        start=at(old, 10),
        end=at(old, 11),
        timezone="Europe/London",
    )
    crm.add("meetings", **weekly_series())
    graph_sync(graph_site)
    assert len(_calendar(emu).items) == 2
    emu.graph.expire_delta_tokens()
    data = graph_sync(graph_site)
    assert data["folders"]["calendar"]["full_resync"] is True
    assert data["total_changes"] == 0, data["folders"]["calendar"]
    assert len(_calendar(emu).items) == 2 and len(crm.list("meetings")) == 2
    assert graph_sync(graph_site)["total_changes"] == 0


def test_an_old_window_moves_forward_without_deleting_anything(graph_site, emu, crm, home):
    crm.add("meetings", **weekly_series())
    graph_sync(graph_site)
    graph_sync(graph_site)
    state_db = StoreSyncState(Context(home=home).store, "alice")
    state = state_db.load("calendar")
    link, window = calendar_window.split(state.token)
    aged = calendar_window.Window(window.start - dt.timedelta(days=30), window.end)
    state.token = aged.tag(link)  # the round began 30 days ago
    state_db.save(state)
    state_db.close()
    emu.reset_counts()
    data = graph_sync(graph_site)
    calendar = data["folders"]["calendar"]
    assert calendar["full_resync"] is False and data["total_changes"] == 0, calendar
    assert emu.counts["graph:events.delta"] == 1  # a new round over the new window
    state_db = StoreSyncState(Context(home=home).store, "alice")
    _, now = calendar_window.split(state_db.load("calendar").token)
    state_db.close()
    assert now == calendar_window.Window.around()


def test_an_all_day_series_keeps_its_days(graph_site, emu, crm):
    crm.add(
        "meetings",
        subject="Offsite",
        all_day=True,
        start=later_day(0, 3).isoformat(),
        end=later_day(0, 4).isoformat(),  # two days, the last one inclusive
        timezone="America/New_York",
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "weekdays": ["Thursday"]},
            "boundary": {"type": "numbered", "start": later_day(0, 3).isoformat(), "number": 3},
        },
        deleted_occurrences=[later_day(1, 3).isoformat()],
    )
    assert _counts(graph_sync(graph_site))[0]["created"] == 1
    (master,) = _calendar(emu).items.values()
    assert master.field_text("IsAllDayEvent") == "true" and master.deleted_indexes == {2}
    ny = dt.datetime.combine(later_day(0, 3), dt.time(), tzinfo=ZoneInfo("America/New_York"))
    assert master.field_text("Start") == ny.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert graph_sync(graph_site)["total_changes"] == 0
    (record,) = crm.list("meetings")
    assert (record["fields"]["start"], record["fields"]["end"]) == (
        later_day(0, 3).isoformat(),
        later_day(0, 4).isoformat(),
    )
    assert record["fields"]["deleted_occurrences"] == [later_day(1, 3).isoformat()]


def test_a_relative_monthly_series_has_only_the_cancellations_asked(graph_site, emu, crm):
    first = later_day(0)
    month = first.replace(day=1)
    seconds = []  # the second Tuesday of four months from the series' month
    for _ in range(4):
        tuesdays = [d for d in range(1, 32) if _weekday(month, d) == 1]
        seconds.append(month.replace(day=tuesdays[1]))
        month = (month + dt.timedelta(days=32)).replace(day=1)
    crm.add(
        "meetings",
        subject="Board",
        start=at(seconds[0], 15),
        end=at(seconds[0], 16),
        timezone="Europe/London",
        recurrence={
            "pattern": {
                "type": "relative_monthly",
                "interval": 1,
                "weekday": "Tuesday",
                "week_number": "Second",
            },
            "boundary": {"type": "numbered", "start": seconds[0].isoformat(), "number": 4},
        },
        deleted_occurrences=[at(seconds[2], 15)],
    )
    graph_sync(graph_site)
    (master,) = _calendar(emu).items.values()
    assert master.deleted_indexes == {3}
    starts = [s for i, s, _ in emu.mailbox(ALICE).occurrences(master)]
    assert [s.astimezone(LONDON).date() for s in starts] == seconds
    assert graph_sync(graph_site)["total_changes"] == 0
    (record,) = crm.list("meetings")
    assert record["fields"]["deleted_occurrences"] == [at(seconds[2], 15)]


def _weekday(month: dt.date, day: int) -> int:
    try:
        return month.replace(day=day).weekday()
    except ValueError:
        return -1


def test_a_calendar_outside_the_rbac_scope_pauses_the_user(graph_site, emu, crm):
    crm.add("meetings", **weekly_series())
    graph_sync(graph_site)
    emu.inject("graph_denied", operation="graph:events.instances", mailbox=ALICE, times=None)
    (record,) = crm.list("meetings")
    crm.update("meetings", record["id"], subject="Standup (new room)")
    r = graph_site("sync", "alice", "--json")
    assert r.exit_code != 0
    reason = graph_site("users", "show", "alice", "--json").json["paused_reason"]
    assert "outside the app's RBAC management scope" in reason
