"""Emulator faults during a sync: the run says what happened in the user's history, and
the next sync repairs everything (both sides equal, nothing duplicated or lost)."""

from __future__ import annotations

import json

import pytest

from tests.support import listing, sync_ok
from wess_core.strategies import NewItem
from wess_plugins.crm_local import local


def _seed(home, mailbox):
    local.import_records(
        home,
        "main",
        "people",
        [{"first_name": f"C{i}", "email": f"c{i}@crm.example"} for i in range(12)],
    )
    mailbox.create(
        "contacts",
        [
            NewItem(
                {
                    "given_name": f"E{i}",
                    "email_addresses": [{"label": "EmailAddress1", "email": f"e{i}@ex.example"}],
                },
                crm_id="",
            )
            for i in range(8)
        ],
    )


def _equal(home, mailbox):
    crm = sorted(r["fields"]["email"] for r in local.list_records(home, "main", "people"))
    ex = sorted(i.fields["email_addresses"][0]["email"] for i in listing(mailbox, "contacts"))
    assert crm == ex
    assert len(crm) == len(set(crm)) == 20


FAULTS = [
    ("http_503", "CreateItem", {}),
    ("server_busy", "SyncFolderItems", {"back_off_ms": 50}),
    ("server_busy", "CreateItem", {"back_off_ms": 50}),
    ("connection_reset", "CreateItem", {}),
    ("connection_reset", "SyncFolderItems", {}),
    ("slow", "SyncFolderItems", {"delay": 0.3}),
    ("invalid_sync_state", "SyncFolderItems", {}),
]


@pytest.mark.usefixtures("database")  # the home's files, or PostgreSQL
@pytest.mark.parametrize(
    ("kind", "operation", "options"), FAULTS, ids=[f"{k}-{o}" for k, o, _ in FAULTS]
)
def test_fault_then_repair(synced_home, home, ews_server, mailbox, kind, operation, options):
    _seed(home, mailbox)
    ews_server.inject(kind, operation=operation, times=1, **options)
    result = synced_home("sync", "alice", "--json")
    entry = synced_home("history", "alice", "--json").json[0]
    if result.exit_code == 0:  # exit 0 only for a clean run: no item in error
        assert entry["kind"] == "sync"
    else:  # a folder failed or items are in error (e.g. "1 error(s)")
        assert entry["kind"] == "error" and entry["message"]
        assert "Traceback" not in result.stderr
    sync_ok(synced_home)
    sync_ok(synced_home)
    _equal(home, mailbox)


@pytest.mark.usefixtures("database")  # the home's files, or PostgreSQL
def test_item_deleted_between_read_and_write(synced_home, home, mailbox, crm):
    """The CRM updates a contact that a person deletes in Outlook at the same time."""
    record_id = crm.add("people", first_name="Ann", email="ann@example.com")
    sync_ok(synced_home)
    (item,) = listing(mailbox, "contacts")
    crm.update("people", record_id, job_title="CEO")
    mailbox.delete("contacts", [item.ref])
    sync_ok(synced_home)
    sync_ok(synced_home)
    # an edit beats a delete: the contact is back in Exchange, with the edit
    (again,) = listing(mailbox, "contacts")
    assert again.fields["job_title"] == "CEO"
    assert len(crm.list("people")) == 1


@pytest.mark.usefixtures("database")  # the home's files, or PostgreSQL
def test_changekey_conflict_between_read_and_write(
    synced_home, ews_server, ews_mailbox, mailbox, crm
):
    """The item changes in Exchange after WESS read it and before WESS writes it: Exchange
    refuses the stale changekey (ErrorIrresolvableConflict), the item's error is in the
    result and history, and the next run settles it by the conflict policy."""
    import threading
    import time

    record_id = crm.add("people", first_name="Ann", job_title="CTO")
    sync_ok(synced_home)
    (item,) = listing(mailbox, "contacts")
    crm.update("people", record_id, job_title="CEO")
    ews_server.set_latency(0.5, operation="UpdateItem")
    ews_server.reset_counts()
    outcome = {}
    worker = threading.Thread(
        target=lambda: outcome.update(run=synced_home("sync", "alice", "--json"))
    )
    worker.start()
    deadline = time.monotonic() + 10
    while ews_server.counts.get("UpdateItem", 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.002)
    ews_mailbox.update_item(ews_mailbox.items[item.item_id])  # an edit lands meanwhile
    worker.join(timeout=30)
    ews_server.set_latency(0.0, operation="UpdateItem")
    first = outcome["run"].json["folders"]["contacts"]
    assert [e["error"] for e in first["errors"]] == ["ItemChanged"]
    assert synced_home("history", "alice", "--json").json[0]["kind"] == "error"
    sync_ok(synced_home)
    sync_ok(synced_home)
    (item,) = listing(mailbox, "contacts")
    (record,) = crm.list("people")
    assert item.fields["job_title"] == "CEO" == record["fields"]["job_title"]  # crm-wins


@pytest.mark.parametrize("damage", ["header", "truncated"])
def test_damaged_state_database_is_a_clear_error_and_kept(synced_home, home, crm, damage):
    crm.add("people", first_name="Ann")
    sync_ok(synced_home)
    state = home / "state" / "alice.sqlite"
    whole = state.read_bytes()
    if damage == "header":
        broken = b"x" * 100 + whole[100:]
    else:  # cut off after the first page: the tables' pages are gone
        broken = whole[:4096]
    state.write_bytes(broken)
    result = synced_home("sync", "alice")
    assert result.exit_code == 1
    assert str(state) in result.stderr and "corrupt" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert state.read_bytes() == broken
    assert json.loads((home / "users.json").read_text())  # everything else intact
