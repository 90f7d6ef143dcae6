"""All-day dates never depend on the machine's time zone (issue 14, section 3).

Exchange sends an all-day event's start and end as instants: local midnights in the
event's zone. Some answers carry no usable StartTimeZone (older request shapes, a
"Customized Time Zone" id exchangelib cannot map, only the legacy ``TimeZone`` name);
exchangelib then reads the dates in the process's local zone. Each case here is synced
for real (over HTTPS to the emulator, over EWS and over Graph: ``site``) with the
process's zone set to zones on both sides of UTC, as a machine in that zone would have
it.
"""

from __future__ import annotations

import os
import time
from xml.sax.saxutils import escape

import pytest

from tests.support import sync_ok

#: exchangelib warns that it cannot map "Customized Time Zone": what these tests are about.
pytestmark = pytest.mark.filterwarnings("ignore:Cannot convert value:UserWarning")
T = "http://schemas.microsoft.com/exchange/services/2006/types"
MACHINE_ZONES = ["UTC", "America/Los_Angeles", "Pacific/Kiritimati", "Asia/Kolkata"]


@pytest.fixture(params=MACHINE_ZONES)
def machine_zone(request, monkeypatch):
    """The process's local zone, as ``TZ`` sets it (tzlocal's cache dropped both ways)."""
    import tzlocal

    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    tzlocal.reload_localzone()
    yield request.param
    monkeypatch.undo()
    time.tzset()
    tzlocal.reload_localzone()


def _event(subject, start, end, zone_xml="", **fields):
    xml = f'<t:CalendarItem xmlns:t="{T}">{zone_xml}</t:CalendarItem>'
    return {
        "xml": xml,
        "Subject": subject,
        "Start": start,
        "End": end,
        "IsAllDayEvent": True,
        **fields,
    }


#: A two-day event on 7-8 December 2026, organised in Los Angeles (UTC-8: local midnights
#: at 08:00 UTC) and in Tokyo (UTC+9: at 15:00 UTC the day before): Windows id, the
#: legacy display name, the raw start and end.
EVENT_ZONES = {
    "los-angeles": (
        "Pacific Standard Time",
        "(UTC-08:00) Pacific Time (US & Canada)",
        "2026-12-07T08:00:00Z",
        "2026-12-09T08:00:00Z",
    ),
    "tokyo": (
        "Tokyo Standard Time",
        "(UTC+09:00) Osaka, Sapporo, Tokyo",
        "2026-12-06T15:00:00Z",
        "2026-12-08T15:00:00Z",
    ),
}


def _case(case: str, where: str) -> dict:
    ms_id, display, start, end = EVENT_ZONES[where]
    if case == "start-time-zone":
        return _event(case, start, end, f'<t:StartTimeZone Id="{ms_id}"/>')
    if case == "legacy-name-only":
        return _event(case, start, end, TimeZone=display)
    if case == "customized-zone":  # exchangelib cannot map the id: the legacy name says
        return _event(
            case, start, end, '<t:StartTimeZone Id="Customized Time Zone"/>', TimeZone=ms_id
        )
    if case == "customized-zone-named":  # ... or the definition's own name
        zone = f'<t:StartTimeZone Id="Customized Time Zone" Name="{escape(display)}"/>'
        return _event(case, start, end, zone)
    raise AssertionError(case)


CASES = ["start-time-zone", "legacy-name-only", "customized-zone", "customized-zone-named"]


@pytest.mark.parametrize("where", list(EVENT_ZONES))
@pytest.mark.parametrize("case", CASES)
def test_an_all_day_event_keeps_its_days_whatever_the_machine_zone(
    site, ews_mailbox, crm, machine_zone, case, where
):
    ews_mailbox.add_items("calendar", [_case(case, where)])
    sync_ok(site.wess)
    (meeting,) = crm.list("meetings")
    fields = meeting["fields"]
    days = (fields["start"], fields["end"], fields["all_day"])
    assert days == ("2026-12-07", "2026-12-08", True), (machine_zone, case, where)


def test_an_all_day_event_without_any_zone_is_read_in_the_mailbox_zone(
    site, ews_mailbox, crm, machine_zone
):
    """No zone at all: the mailbox's zone from the account (WESS opens it in UTC)."""
    ews_mailbox.add_items(
        "calendar", [_event("no zone", "2026-12-07T00:00:00Z", "2026-12-09T00:00:00Z")]
    )
    sync_ok(site.wess)
    (meeting,) = crm.list("meetings")
    assert (meeting["fields"]["start"], meeting["fields"]["end"]) == ("2026-12-07", "2026-12-08")


def test_an_all_day_event_written_from_the_crm_comes_back_the_same(site, crm, machine_zone):
    crm.add(
        "meetings",
        subject="Offsite",
        start="2026-12-07",
        end="2026-12-08",
        all_day=True,
        timezone="America/Los_Angeles",
    )
    sync_ok(site.wess)
    again = sync_ok(site.wess)
    assert again["folders"]["calendar"]["to_crm"]["updated"] == 0
    (meeting,) = crm.list("meetings")
    assert (meeting["fields"]["start"], meeting["fields"]["end"]) == ("2026-12-07", "2026-12-08")
    assert os.environ["TZ"] == machine_zone
