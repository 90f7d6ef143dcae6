"""The transport's own pattern expansion (instance indexes for OccurrenceItemId) agrees
with the server's (the emulator's CalendarView), across DST changes and in other zones."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from exchangelib import EWSDateTime, EWSTimeZone

from wess_core.strategies import NewItem
from wess_core.sync.occurrence_slots import instance_index, slots
from wess_plugins.transport_ews.transport import EwsTransport

UTC = EWSTimeZone("UTC")
PATTERNS = {
    "daily-2": {"type": "daily", "interval": 2},
    "weekly-mon-thu": {"type": "weekly", "interval": 1, "weekdays": ["Monday", "Thursday"]},
    "monthly-31": {"type": "absolute_monthly", "interval": 1, "day_of_month": 31},
    "yearly": {"type": "absolute_yearly", "day_of_month": 29, "month": "February"},
}


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York", "Australia/Sydney"])
@pytest.mark.parametrize("pattern", list(PATTERNS), ids=list(PATTERNS))
def test_client_slots_match_the_server(ews_account, zone, pattern):
    start = dt.datetime(2026, 10, 1, 23, 30, tzinfo=ZoneInfo(zone))  # late: dates may shift
    fields = {
        "subject": "s",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=45)).isoformat(),
        "timezone": zone,
        "recurrence": {
            "pattern": PATTERNS[pattern],
            "boundary": {"type": "numbered", "start": "2026-10-01", "number": 6},
        },
    }
    transport = EwsTransport(connection=None, account=ews_account)
    (ref,) = transport.create("calendar", [NewItem(fields, crm_id="x")])
    assert not isinstance(ref, Exception), ref
    view = ews_account.calendar.view(
        start=EWSDateTime(2026, 9, 1, tzinfo=UTC), end=EWSDateTime(2040, 1, 1, tzinfo=UTC)
    ).only("start")
    server = [o.start.astimezone(ZoneInfo(zone)).replace(tzinfo=None) for o in view]
    client = [local for _, local in slots(fields)]
    assert client == server and len(client) == 6
    for index, local in enumerate(client, start=1):
        assert instance_index(fields, local.replace(tzinfo=ZoneInfo(zone)).isoformat()) == index
    assert instance_index(fields, "2026-10-02T09:00:00+00:00") is None
