"""Meetings keep their links when a user switches from EWS to Graph: a series with a
changed and a cancelled occurrence and a single meeting, synced over EWS, read the same
over Graph (field for field: nothing updated on either side), whether the stored EWS
ids are translated or found again by the CRM id."""

from __future__ import annotations

import pytest

from tests.support.graph_calendar import at, later_day, weekly_series
from tests.support.graph_sync import graph_sync

ALICE = "alice@example.com"
IDLE = {"created": 0, "deleted": 0, "updated": 0}


@pytest.mark.parametrize("translate", [True, False], ids=["translated", "refused"])
def test_a_switch_to_graph_keeps_every_meeting_link(graph_site, emu, crm, translate):
    ews = ("--transport", "ews", "--discovery", "manual", "--ews-url", emu.ews_url)
    assert graph_site("connection", "set", *ews).exit_code == 0
    crm.add("meetings", **weekly_series())
    crm.add(
        "meetings",
        subject="Lunch",
        start=at(later_day(0, 2), 12),
        end=at(later_day(0, 2), 13),
        timezone="Europe/London",
        attendees=["bob@example.com"],
        reminder_minutes=10,
    )
    r = graph_site("sync", "alice", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["folders"]["calendar"]["to_exchange"]["created"] == 2
    assert graph_site("sync", "alice", "--json").json["total_changes"] == 0
    records = {m["id"]: m["fields"] for m in crm.list("meetings")}

    emu.graph.translate_for_apps = translate
    assert graph_site("connection", "set", "--transport", "graph").exit_code == 0
    data = graph_sync(graph_site)
    calendar = data["folders"]["calendar"]
    assert calendar["to_crm"] == IDLE and calendar["to_exchange"] == IDLE, calendar
    assert calendar["held"] == []
    assert len(emu.mailbox(ALICE).folder("calendar").items) == 2
    assert {m["id"]: m["fields"] for m in crm.list("meetings")} == records
    assert graph_sync(graph_site)["total_changes"] == 0
