"""The EWS transport against the emulator, through unmodified exchangelib."""

from __future__ import annotations

import pytest

from wess_core.strategies import InvalidSyncState, ItemChanged, ItemUpdate, NewItem
from wess_plugins.transport_ews.transport import EwsTransport


@pytest.fixture
def transport(ews_account):
    return EwsTransport(connection=None, account=ews_account)


def _drain(transport, folder, token=None):
    changes, pages = [], 0
    while True:
        page = transport.changes(folder, token)
        pages += 1
        changes += page.changes
        token = page.token
        if page.done:
            return changes, token, pages


CONTACT = {
    "given_name": "Ann",
    "surname": "Lee",
    "company_name": "Acme",
    "job_title": "CTO",
    "email_addresses": [{"label": "EmailAddress1", "email": "ann@acme.example"}],
    "phone_numbers": [{"label": "MobilePhone", "phone_number": "+44 20 1234"}],
    "physical_addresses": [{"label": "Business", "street": "1 Main St", "city": "Leeds"}],
    "body": "met at the fair",
}


def test_create_then_changes_carry_fields_and_crm_id(transport, ews_server):
    refs = transport.create("contacts", [NewItem(fields=CONTACT, crm_id="crm-1")])
    assert not isinstance(refs[0], Exception), refs
    changes, token, _ = _drain(transport, "contacts")
    assert len(changes) == 1
    item = changes[0].item
    assert item.crm_id == "crm-1"
    assert item.item_id == refs[0].item_id
    for key, value in CONTACT.items():
        assert item.fields[key] == value, key
    ews_server.reset_counts()
    idle, _, pages = _drain(transport, "contacts", token)
    assert idle == [] and pages == 1
    assert dict(ews_server.counts) == {"SyncFolderItems": 1}


def test_update_delete_and_stale_changekey(transport):
    (ref,) = transport.create("contacts", [NewItem(fields=CONTACT, crm_id="crm-2")])
    (new_ref,) = transport.update(
        "contacts", [ItemUpdate(ref.item_id, {"job_title": "CEO"}, ref.changekey)]
    )
    assert new_ref.changekey != ref.changekey
    (item,) = transport.get("contacts", [ref.item_id])
    assert item.fields["job_title"] == "CEO"
    assert item.fields["given_name"] == "Ann"
    (stale,) = transport.update(
        "contacts", [ItemUpdate(ref.item_id, {"job_title": "CFO"}, ref.changekey)]
    )
    assert isinstance(stale, ItemChanged)
    assert transport.delete("contacts", [new_ref]) == [None]
    assert transport.delete("contacts", [new_ref]) == [None]  # already gone counts as deleted


def test_invalid_sync_state(transport):
    with pytest.raises(InvalidSyncState):
        transport.changes("contacts", "bm90IGEgc3RhdGU=")


def test_tasks_and_calendar_round_trip(transport):
    task = {"subject": "Call", "due_date": "2026-12-01", "status": "InProgress",
            "percent_complete": 50, "body": "about the deal"}  # fmt: skip
    meeting = {
        "subject": "Weekly",
        "start": "2026-12-07T09:00:00+00:00",
        "end": "2026-12-07T10:00:00+00:00",
        "location": "Room 1",
        "required_attendees": ["bob@example.com"],
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "weekdays": ["Monday"]},
            "boundary": {"type": "numbered", "start": "2026-12-07", "number": 5},
        },
    }
    (tref,) = transport.create("tasks", [NewItem(fields=task, crm_id="t1")])
    (mref,) = transport.create("calendar", [NewItem(fields=meeting, crm_id="m1")])
    (titem,) = transport.get("tasks", [tref.item_id])
    (mitem,) = transport.get("calendar", [mref.item_id])
    for key, value in task.items():
        assert titem.fields[key] == value, key
    for key, value in meeting.items():
        assert mitem.fields[key] == value, key
