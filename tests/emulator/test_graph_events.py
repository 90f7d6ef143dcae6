"""The emulator's Graph calendar, as a Graph client sees it over HTTPS: the same meetings
EWS serves (series, exceptions, cancelled occurrences), written either way; event CRUD;
instances; calendarView delta with its frozen window, no masters and out-of-window
``@removed``; the CRM id property."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.recurrence import EndDatePattern, Recurrence, WeeklyPattern

from tests.support.graph import CRM_ID, EXPAND_CRM, crm_filter, delta_round
from wess_emulator.pytest_plugin import EWS_PASSWORD, EWS_USER

ALICE = f"/users/{EWS_USER}"
LONDON = EWSTimeZone("Europe/London")
WINDOW = {"startDateTime": "2026-10-01T00:00:00Z", "endDateTime": "2026-11-30T00:00:00Z"}


def weekly_series_over_ews(account) -> CalendarItem:
    """Mondays 09:00-09:30 London, 12 Oct - 28 Dec 2026; the 19th moved to 10:00 and
    renamed, the 26th cancelled."""
    item = CalendarItem(
        folder=account.calendar,
        subject="Standup",
        body="daily notes",
        location="Room 1",
        start=EWSDateTime(2026, 10, 12, 9, 0, tzinfo=LONDON),
        end=EWSDateTime(2026, 10, 12, 9, 30, tzinfo=LONDON),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[1]),
            boundary=EndDatePattern(start=EWSDate(2026, 10, 12), end=EWSDate(2026, 12, 28)),
        ),
    )
    item._start_timezone = item._end_timezone = LONDON
    item.save()
    moved = item.occurrence(2)
    moved.refresh()
    moved.subject = "Standup (late)"
    moved.start = EWSDateTime(2026, 10, 19, 10, 0, tzinfo=LONDON)
    moved.end = EWSDateTime(2026, 10, 19, 10, 30, tzinfo=LONDON)
    moved.save(update_fields=["subject", "start", "end"])
    item.occurrence(3).delete()
    item.refresh()
    return item


def master_over_graph(graph_http) -> dict:
    events = graph_http.get(f"{ALICE}/events").json()["value"]
    (master,) = [e for e in events if e["type"] == "seriesMaster"]
    return master


def test_a_series_written_over_ews_reads_over_graph(ews_account, graph_http):
    weekly_series_over_ews(ews_account)
    master = master_over_graph(graph_http)
    assert master["subject"] == "Standup"
    assert master["start"] == {
        "dateTime": "2026-10-12T09:00:00.0000000",
        "timeZone": "Europe/London",
    }
    assert master["recurrence"]["pattern"]["type"] == "weekly"
    assert master["recurrence"]["pattern"]["daysOfWeek"] == ["monday"]
    assert master["recurrence"]["range"]["startDate"] == "2026-10-12"
    assert master["recurrence"]["range"]["endDate"] == "2026-12-28"
    assert master["@odata.etag"] == f'W/"{master["changeKey"]}"'
    answer = graph_http.get(f"{ALICE}/events/{master['id']}/instances", params=WINDOW).json()
    found = {e["originalStart"]: e for e in answer["value"]}
    # 12, 19 Oct (moved), 26 Oct cancelled, 2 ... 23 Nov: 6 instances in the window
    assert len(found) == 6 and "2026-10-26T09:00:00Z" not in found
    moved = found["2026-10-19T08:00:00Z"]
    assert moved["type"] == "exception" and moved["subject"] == "Standup (late)"
    assert moved["start"]["dateTime"] == "2026-10-19T10:00:00.0000000"
    assert moved["seriesMasterId"] == master["id"]
    plain = found["2026-11-02T09:00:00Z"]  # after the clocks went back: 09:00 GMT
    assert plain["type"] == "occurrence"
    assert plain["start"] == {
        "dateTime": "2026-11-02T09:00:00.0000000",
        "timeZone": "Europe/London",
    }
    assert graph_http.get(f"{ALICE}/events/{plain['id']}").json()["subject"] == "Standup"


def _new_series(graph_http, crm_id: str = "crm-1") -> dict:
    body = {
        "subject": "Review",
        "body": {"contentType": "text", "content": "agenda"},
        "start": {"dateTime": "2026-10-13T14:00:00.0000000", "timeZone": "Europe/London"},
        "end": {"dateTime": "2026-10-13T15:00:00.0000000", "timeZone": "Europe/London"},
        "location": {"displayName": "Room 2"},
        "attendees": [{"emailAddress": {"address": "bob@example.com"}, "type": "required"}],
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 10,
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]},
            "range": {"type": "numbered", "startDate": "2026-10-13", "numberOfOccurrences": 5},
        },
        "singleValueExtendedProperties": [{"id": CRM_ID, "value": crm_id}],
    }
    answer = graph_http.post(f"{ALICE}/events", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_series_created_over_graph_reads_over_ews_with_its_crm_id(
    ews_account, graph_http, ews_server
):
    created = _new_series(graph_http)
    assert created["type"] == "seriesMaster"
    assert created["start"]["timeZone"] == "Europe/London"
    (item,) = list(ews_account.calendar.all())
    assert item.subject == "Review" and item.location == "Room 2"
    assert item.start == EWSDateTime(2026, 10, 13, 13, 0, tzinfo=EWSTimeZone("UTC"))
    assert item.recurrence.boundary.number == 5
    assert [a.mailbox.email_address for a in item.required_attendees] == ["bob@example.com"]
    assert item.reminder_minutes_before_start == 10
    found = graph_http.get(
        f"{ALICE}/events",
        params={
            "$filter": crm_filter("crm-1"),
            "$expand": EXPAND_CRM,
        },
    ).json()["value"]
    assert [e["id"] for e in found] == [created["id"]]
    assert found[0]["singleValueExtendedProperties"] == [{"id": CRM_ID, "value": "crm-1"}]
    none = graph_http.get(
        f"{ALICE}/events",
        params={"$filter": crm_filter("crm-2")},
    ).json()["value"]
    assert none == []
    assert not ews_server.schema_errors


def _instances(graph_http, master_id: str) -> list[dict]:
    return graph_http.get(f"{ALICE}/events/{master_id}/instances", params=WINDOW).json()["value"]


def test_patching_and_deleting_occurrences_make_exceptions_and_cancellations(
    ews_account, graph_http
):
    master = _new_series(graph_http)
    first, second, third = _instances(graph_http, master["id"])[:3]
    assert [i["type"] for i in (first, second, third)] == ["occurrence"] * 3
    answer = graph_http.patch(
        f"{ALICE}/events/{second['id']}",
        json={
            "subject": "Review (moved)",
            "start": {"dateTime": "2026-10-21T14:00:00.0000000", "timeZone": "Europe/London"},
            "end": {"dateTime": "2026-10-21T15:00:00.0000000", "timeZone": "Europe/London"},
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["type"] == "exception"
    assert graph_http.delete(f"{ALICE}/events/{third['id']}").status_code == 204
    now = _instances(graph_http, master["id"])
    assert len(now) == 4
    assert [i["originalStart"] for i in now][:2] == [
        first["originalStart"],
        second["originalStart"],
    ]
    assert now[1]["subject"] == "Review (moved)"
    # EWS sees the same series
    (item,) = list(ews_account.calendar.all())
    item = ews_account.calendar.get(id=item.id)
    assert len(item.modified_occurrences) == 1 and len(item.deleted_occurrences) == 1
    # the master keeps a new version; a stale If-Match is refused
    stale = graph_http.patch(
        f"{ALICE}/events/{master['id']}",
        json={"subject": "x"},
        headers={"If-Match": master["@odata.etag"]},
    )
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "ErrorIrresolvableConflict"


def test_a_new_series_time_drops_its_exceptions_as_exchange_does(graph_http):
    master = _new_series(graph_http)
    _, second, third = _instances(graph_http, master["id"])[:3]
    graph_http.patch(f"{ALICE}/events/{second['id']}", json={"subject": "changed"})
    graph_http.delete(f"{ALICE}/events/{third['id']}")
    graph_http.patch(f"{ALICE}/events/{master['id']}", json={"subject": "renamed"})
    assert len(_instances(graph_http, master["id"])) == 4  # a new subject keeps them
    moved = graph_http.patch(
        f"{ALICE}/events/{master['id']}",
        json={
            "start": {"dateTime": "2026-10-13T16:00:00.0000000", "timeZone": "Europe/London"},
            "end": {"dateTime": "2026-10-13T17:00:00.0000000", "timeZone": "Europe/London"},
        },
    )
    assert moved.status_code == 200
    now = _instances(graph_http, master["id"])
    assert len(now) == 5 and {i["type"] for i in now} == {"occurrence"}
    assert {i["subject"] for i in now} == {"renamed"}


def test_calendar_view_delta_sends_instances_never_masters(ews_account, graph_http, ews_server):
    series = weekly_series_over_ews(ews_account)
    single = CalendarItem(
        folder=ews_account.calendar,
        subject="Lunch",
        start=EWSDateTime(2026, 10, 14, 12, 0, tzinfo=LONDON),
        end=EWSDateTime(2026, 10, 14, 13, 0, tzinfo=LONDON),
    )
    single.save()
    CalendarItem(  # outside the window
        folder=ews_account.calendar,
        subject="Next year",
        start=EWSDateTime(2027, 3, 1, 12, 0, tzinfo=LONDON),
        end=EWSDateTime(2027, 3, 1, 13, 0, tzinfo=LONDON),
    ).save()
    start = f"{ALICE}/calendarView/delta"
    values, delta, _ = delta_round(graph_http, start, 3, **WINDOW)
    assert ews_server.counts["graph:events.delta"] == 3  # 7 instances, 3 a page
    (lunch,) = [v["id"] for v in values if v["subject"] == "Lunch"]
    kinds = sorted(v["type"] for v in values)
    assert kinds == ["exception"] + ["occurrence"] * 5 + ["singleInstance"]
    assert delta.startswith(ews_server.graph_url + start + "?$deltatoken=")
    assert delta_round(graph_http, delta)[0] == []  # nothing changed

    # an occurrence cancelled over EWS: deleted; the lunch moved out of the window: changed
    series.occurrence(5).delete()
    single.start = EWSDateTime(2027, 1, 6, 12, 0, tzinfo=LONDON)
    single.end = EWSDateTime(2027, 1, 6, 13, 0, tzinfo=LONDON)
    single.save(update_fields=["start", "end"])
    values, delta2, _ = delta_round(graph_http, delta)
    removed = {v["id"]: v["@removed"]["reason"] for v in values if "@removed" in v}
    assert sorted(removed.values()) == ["changed", "deleted"]
    assert removed[lunch] == "changed"
    # the series' master changed: its occurrences come again (with content), its
    # unchanged exception does not
    assert {v["type"] for v in values if "@removed" not in v} == {"occurrence"}
    assert all(v["seriesMasterId"] for v in values if "@removed" not in v)
    assert delta_round(graph_http, delta2)[0] == []

    # the series moved to Deleted Items: its master's id comes as deleted, and
    # /events no longer serves it
    (master_id,) = {v["seriesMasterId"] for v in values if "@removed" not in v}
    series.move_to_trash()
    values, _, _ = delta_round(graph_http, delta2)
    removed = {v["id"]: v["@removed"]["reason"] for v in values}
    assert removed[master_id] == "deleted"
    assert graph_http.get(f"{ALICE}/events/{master_id}").status_code == 404


def test_calendar_view_delta_refuses_expand_other_mailboxes_and_lost_tokens(ews_server, graph_http):
    ews_server.add_user("bob@example.com", EWS_PASSWORD)
    expand = graph_http.get(
        f"{ALICE}/calendarView/delta",
        params={**WINDOW, "$expand": EXPAND_CRM},
    )
    assert expand.status_code == 400
    assert expand.json()["error"]["code"] == "ErrorInvalidProperty"
    assert graph_http.get(f"{ALICE}/calendarView/delta").status_code == 400  # no window
    _, delta, _ = delta_round(graph_http, f"{ALICE}/calendarView/delta", **WINDOW)
    other = delta.replace(EWS_USER, "bob@example.com")
    assert graph_http.get(other).status_code == 410
    ews_server.graph.expire_delta_tokens()
    lost = graph_http.get(delta)
    assert lost.status_code == 410 and lost.json()["error"]["code"] == "syncStateNotFound"


@pytest.mark.parametrize("all_day", [True, False])
def test_single_events_keep_their_day_and_zone(graph_http, ews_account, all_day):
    zone = "America/New_York"
    start = "2026-10-20T00:00:00.0000000" if all_day else "2026-10-20T18:30:00.0000000"
    end = "2026-10-21T00:00:00.0000000" if all_day else "2026-10-20T19:00:00.0000000"
    created = graph_http.post(
        f"{ALICE}/events",
        json={
            "subject": "Call",
            "isAllDay": all_day,
            "start": {"dateTime": start, "timeZone": zone},
            "end": {"dateTime": end, "timeZone": zone},
        },
    ).json()
    assert created["type"] == "singleInstance" and created["isAllDay"] is all_day
    assert created["start"] == {"dateTime": start, "timeZone": zone}
    assert created["end"] == {"dateTime": end, "timeZone": zone}
    (item,) = list(ews_account.calendar.all())
    if not all_day:
        assert (
            item.start.timestamp() == dt.datetime(2026, 10, 20, 22, 30, tzinfo=dt.UTC).timestamp()
        )
    assert graph_http.delete(f"{ALICE}/events/{created['id']}").status_code == 204
    assert graph_http.get(f"{ALICE}/events/{created['id']}").status_code == 404


def test_instances_page_with_next_links(graph_http):
    master = _new_series(graph_http)
    headers = {"Prefer": 'IdType="ImmutableId", odata.maxpagesize=2'}
    url, params, pages, seen = f"{ALICE}/events/{master['id']}/instances", WINDOW, 0, []
    while url:
        doc = graph_http.get(url, params=params, headers=headers).json()
        seen += [v["originalStart"] for v in doc["value"]]
        url, params, pages = doc.get("@odata.nextLink"), None, pages + 1
    assert pages == 3 and len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen)
