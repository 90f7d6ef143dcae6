"""Fuzzed CRM records through a real sync (exchangelib + emulator): each record either
arrives in Exchange and comes back unchanged, or is refused as that item's own error
(in the result and the ledger) while the rest syncs. Never a traceback, never a lost or
duplicated item."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import listing
from wess_core import plugins
from wess_plugins.crm_local import local

pytestmark = pytest.mark.slow

NASTY_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.printable, max_size=30),
    st.sampled_from(
        [
            *("]]>", "<b>&amp;</b>", "\u202eevil\u202c", "😀👍🏽", "שלום", "a" * 3000, "\x00nul"),
            *("tab\there", "line\nbreak", "\r\n", "'\"", "\\", " leading", "trailing "),
        ]
    ),
)

PERSON = st.fixed_dictionaries(
    {"first_name": NASTY_TEXT, "last_name": NASTY_TEXT},
    optional={"company": NASTY_TEXT, "job_title": NASTY_TEXT, "notes": NASTY_TEXT},
)


def _instant(text):
    import datetime as dt

    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _contacts_type():
    return dict(plugins.item_types().items())["contacts"]


def _canon(fields):
    return {k: v for k, v in fields.items() if v not in (None, "")}


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(people=st.lists(PERSON, min_size=1, max_size=4))
def test_fuzzed_people_sync_losslessly_or_fail_alone(synced_home, home, mailbox, people):
    contacts = _contacts_type()
    before = {r["id"] for r in local.list_records(home, "main", "people")}
    added = local.import_records(home, "main", "people", people)
    result = synced_home("sync", "alice", "--json")
    # items in error (refused alone) make the run a failed one: exit 1, counted
    assert result.exit_code == (1 if result.json["items_in_error"] else 0), result.stderr
    assert "Traceback" not in result.stderr
    folder = result.json["folders"]["contacts"]
    assert not folder["failed"], folder["failed"]
    failed = {e["crm_id"] for e in folder["errors"]}
    by_crm = {i.crm_id: i for i in listing(mailbox, "contacts") if i.crm_id}
    for record in added:
        rid = record["id"]
        if rid in failed:
            assert rid not in by_crm  # refused: not half-created
            ledger = synced_home("ledger", "alice", "--item", rid, "--json").json
            assert any(e.get("error") for e in ledger), ledger
            continue
        item = by_crm[rid]  # arrived once
        expected = _canon(contacts.to_record(contacts.to_item(record["fields"])))
        got = _canon(contacts.to_record(item.fields))
        assert got == {k: v for k, v in expected.items() if k in got or v}, rid
    assert before <= {r["id"] for r in local.list_records(home, "main", "people")}
    # nothing duplicated in Exchange
    ids = [i.crm_id for i in listing(mailbox, "contacts") if i.crm_id]
    assert len(ids) == len(set(ids))


MEETING = st.fixed_dictionaries(
    {
        "subject": NASTY_TEXT,
        "start": st.sampled_from(
            [
                "2026-12-07T09:00:00+00:00",
                "2026-12-07T09:00:00+05:30",
                "2026-03-29T01:30:00+00:00",
                "not a date",
                "",
            ]
        ),
        "end": st.sampled_from(
            [
                "2026-12-07T10:00:00+00:00",
                "2026-12-07T08:00:00+00:00",
                "2026-12-07T09:00:00+05:30",
                "31/12/2026",
            ]
        ),
    },
    optional={
        "timezone": st.sampled_from(
            ["Europe/London", "America/New_York", "Mars/Olympus", "", "UTC", "Asia/Kolkata"]
        ),
        "location": NASTY_TEXT,
    },
)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(meetings=st.lists(MEETING, min_size=1, max_size=3))
def test_fuzzed_meetings_sync_or_fail_alone(synced_home, home, mailbox, meetings):
    """Invalid dates or time zones and an end before the start: refused item by item with
    a readable error, everything else synced."""
    added = local.import_records(home, "main", "meetings", meetings)
    result = synced_home("sync", "alice", "--json")
    # items in error (refused alone) make the run a failed one: exit 1, counted
    assert result.exit_code == (1 if result.json["items_in_error"] else 0), result.stderr
    folder = result.json["folders"]["calendar"]
    assert not folder["failed"], folder["failed"]
    failed = {e["crm_id"]: e for e in folder["errors"]}
    for error in failed.values():
        assert error["message"] and "\n" not in error["message"]
    items = {i.crm_id: i for i in listing(mailbox, "calendar") if i.crm_id}
    for record in added:
        rid = record["id"]
        assert (rid in failed) != (rid in items), rid  # exactly one of: refused, synced
        fields = record["fields"]
        try:
            backwards = _instant(fields["end"]) < _instant(fields["start"])
        except ValueError:
            backwards = False
        if backwards:
            assert rid in failed, "an end before the start must be refused, not synced"
        if rid in items:
            item = items[rid].fields
            assert _instant(item["start"]) == _instant(fields["start"])
            assert _instant(item["end"]) == _instant(fields["end"])
    assert len(items) == len({i.item_id for i in items.values()})
