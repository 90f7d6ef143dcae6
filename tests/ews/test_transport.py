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
    task = {
        "subject": "Call",
        "due_date": "2026-12-01",
        "status": "InProgress",
        "percent_complete": 50,
        "body": "about the deal",
    }
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


def test_sync_request_built_from_the_process_templates_is_exchangelibs_own(
    ews_server, ews_account_factory
):
    """The SyncFolderItems request written from the per-process templates is byte for
    byte what exchangelib builds, for every mailbox; and each mailbox reads its own
    items."""
    from exchangelib.services import SyncFolderItems

    from wess_plugins.transport_ews.transport import _SyncFolderItems

    ews_server.add_user("bob@example.com", "Bob-Pass-1")
    alice = EwsTransport(connection=None, account=ews_account_factory())
    bob = EwsTransport(
        connection=None, account=ews_account_factory("bob@example.com", "Bob-Pass-1")
    )
    for transport in (alice, bob, alice):
        for folder in ("contacts", "calendar", "tasks", "inbox", "sentitems"):
            kwargs = dict(
                folder=transport._folder(folder),
                shape="IdOnly",
                additional_fields=transport._field_paths(folder),
                sync_state="c3Rh",
                ignore=None,
                max_changes_returned=512,
                sync_scope=None,
            )
            ours = _SyncFolderItems(account=transport.account)
            theirs = SyncFolderItems(account=transport.account)
            assert ours.wrap(ours.get_payload(**kwargs), "Exchange2016") == theirs.wrap(
                theirs.get_payload(**kwargs), "Exchange2016"
            )
    alice.create("contacts", [NewItem(fields=CONTACT, crm_id="crm-a")])
    assert [c.item.crm_id for c in _drain(alice, "contacts")[0]] == ["crm-a"]
    assert _drain(bob, "contacts")[0] == []


def test_sync_requests_written_from_templates_are_exchangelibs_bytes(
    ews_server, ews_account_factory
):
    """Whole SyncFolderItems requests (envelope and body) filled into the per-process
    templates are byte for byte what exchangelib sends, whichever request of a kind came
    first: other mailboxes, sync states or none, server versions, impersonation, and
    addresses that need escaping (those are built by exchangelib)."""
    from exchangelib import IMPERSONATION
    from exchangelib.services import SyncFolderItems

    from wess_plugins.transport_ews import templates
    from wess_plugins.transport_ews.transport import _SyncFolderItems

    templates._ENVELOPES.clear()
    templates._BODIES.clear()
    ews_server.add_user("bob@example.com", "Bob-Pass-1")
    accounts = [
        ews_account_factory(),
        ews_account_factory("bob@example.com", "Bob-Pass-1"),
        ews_account_factory(access_type=IMPERSONATION),
        ews_account_factory(access_type=IMPERSONATION, primary_smtp_address="bob@example.com"),
        ews_account_factory(primary_smtp_address="o'neil&co<x>@example.com"),
    ]
    written = 0
    for _ in range(2):
        for account in accounts:
            transport = EwsTransport(connection=None, account=account)
            for folder in ("contacts", "calendar", "inbox"):
                for state in (None, "", "c3RhdGUx", "c3RhdGUy+/=="):
                    for version in ("Exchange2016", "Exchange2013_SP1"):
                        kwargs = dict(
                            folder=transport._folder(folder),
                            shape="IdOnly",
                            additional_fields=transport._field_paths(folder),
                            sync_state=state,
                            ignore=None,
                            max_changes_returned=512,
                            sync_scope=None,
                        )
                        ours = _SyncFolderItems(account=account)
                        theirs = SyncFolderItems(account=account)
                        payload = ours.get_payload(**kwargs)
                        written += type(payload) is templates.Prepared
                        assert ours.wrap(payload, version) == theirs.wrap(
                            theirs.get_payload(**kwargs), version
                        )
    assert written == 2 * 4 * 3 * 4 * 2  # all but the address that needs escaping
    # shared by the mailboxes: per folder kind, with and without a state (and exchangelib's
    # mailbox element before and after it filled in its defaults)
    assert len(templates._BODIES) <= 3 * 2 * 2
    assert all(templates._BODIES.values())


def test_service_api_versions_are_exchangelibs():
    from exchangelib.services import CreateItem, DeleteItem, GetItem, SyncFolderItems, UpdateItem

    from wess_plugins.transport_ews import transport as t

    pairs = [
        (t._SyncFolderItems, SyncFolderItems),
        (t._GetItem, GetItem),
        (t._CreateItem, CreateItem),
        (t._UpdateItem, UpdateItem),
        (t._DeleteItem, DeleteItem),
    ]
    for ours, theirs in pairs:
        for _ in range(2):  # computed, then remembered
            assert ours.supported_api_versions() == theirs.supported_api_versions()
