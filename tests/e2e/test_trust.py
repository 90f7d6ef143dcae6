"""Trustworthy sync end to end (CLI + emulator, over EWS and over Graph: ``site``):
matching on first sync, ambiguous matches and mass deletes held for review, a poisoned
item in the ledger while the rest syncs, ledger queries and retention, retry and
ignore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support import listing, sync_ok
from wess_core import plugins
from wess_core.service import Context
from wess_core.strategies import NewItem
from wess_core.sync.ledger import StoreLedger
from wess_plugins.crm_local import local

#: Midnight UTC five to six weeks ahead: meetings inside the Graph calendar's window.
_SOON = datetime.combine(
    datetime.now(UTC).date() + timedelta(days=35), datetime.min.time(), tzinfo=UTC
) + timedelta(hours=9)


def _types():
    return {t.record_type: t for _, t in plugins.item_types().items()}


def _seed_mailbox(mailbox, folder, items):
    for start in range(0, len(items), 100):
        refs = mailbox.create(folder, items[start : start + 100])
        assert not [r for r in refs if isinstance(r, Exception)], refs


def test_first_sync_links_what_both_sides_already_share(site, home):
    synced_home, mailbox = site.wess, site.mailbox
    types = _types()
    people = [
        {"first_name": f"P{i}", "last_name": "Lee", "email": f"p{i}@example.com", "company": "Acme"}
        for i in range(500)
    ]
    meetings = [
        {
            "subject": f"Meeting {i}",
            "start": (_SOON + timedelta(days=i)).isoformat(),
            "end": (_SOON + timedelta(days=i, hours=1)).isoformat(),
        }
        for i in range(50)
    ]
    tasks = [{"subject": f"Task {i}", "due_date": f"2026-12-{i + 1:02d}"} for i in range(20)]
    for record_type, records in (("people", people), ("meetings", meetings), ("tasks", tasks)):
        local.import_records(home, "main", record_type, records)
    contacts = [NewItem(types["people"].to_item(p), crm_id="") for p in people]
    # one in ten spelt differently in Outlook: matching ignores case and spaces
    for i in range(0, 500, 10):
        contacts[i].fields["email_addresses"][0]["email"] = f" P{i}@EXAMPLE.com"
    events = [NewItem(types["meetings"].to_item(m), crm_id="") for m in meetings]
    for i in range(0, 50, 5):  # the same instant written with another offset
        start = datetime.fromisoformat(meetings[i]["start"]).astimezone(
            datetime.now().astimezone().tzinfo
        )
        events[i].fields["start"] = start.isoformat()
    _seed_mailbox(mailbox, "contacts", contacts)
    _seed_mailbox(mailbox, "calendar", events)
    _seed_mailbox(mailbox, "tasks", [NewItem(types["tasks"].to_item(t), "") for t in tasks])
    site.server.reset_counts()

    data = sync_ok(synced_home)

    assert site.created() == 0  # nothing shared was created again
    for name in ("contacts", "calendar", "tasks"):
        folder = data["folders"][name]
        assert folder["to_crm"]["created"] == folder["to_exchange"]["created"] == 0, name
        assert folder["held"] == [], name
    assert len(listing(mailbox, "contacts")) == 500
    assert len(listing(mailbox, "calendar")) == 50 and len(listing(mailbox, "tasks")) == 20
    for record_type, count in (("people", 500), ("meetings", 50), ("tasks", 20)):
        assert len(local.list_records(home, "main", record_type)) == count
    links = synced_home("ledger", "alice", "--json").json
    assert sum(1 for e in links if e["op"] in ("link", "update")) >= 570
    site.server.reset_counts()
    sync_ok(synced_home)  # and nothing moves afterwards
    assert site.created() == 0


def test_an_ambiguous_match_is_held_shown_and_decided(site, crm):
    synced_home, mailbox = site.wess, site.mailbox
    types = _types()
    ann = crm.add("people", first_name="Ann", last_name="Lee", email="ann@example.com")
    annie = crm.add("people", first_name="Annie", last_name="Lee", email="ann@example.com")
    outlook_ann = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}
    mailbox.create("contacts", [NewItem(fields=types["people"].to_item(outlook_ann), crm_id="")])
    data = sync_ok(synced_home)
    assert data["folders"]["contacts"]["to_exchange"]["created"] == 0
    assert synced_home("history", "alice", "--json").json[0]["kind"] == "review"

    (entry,) = synced_home("review", "alice", "--json", as_="alice").json
    assert entry["kind"] == "ambiguous" and entry["type"] == "contacts"
    assert sorted(c["crm_id"] for c in entry["candidates"]) == sorted([ann, annie])
    text = synced_home("review", "alice").stdout
    assert entry["id"] in text and "email ann@example.com" in text

    denied = synced_home("review", "alice", entry["id"] + "=1", "--approve", as_="bob")
    assert denied.exit_code == 1 and "permission denied" in denied.stderr
    missing = synced_home("review", "alice", entry["id"], "--approve")
    assert missing.exit_code == 2 and "pick the candidate" in missing.stderr
    pick = next(c["n"] for c in entry["candidates"] if c["crm_id"] == annie)
    done = synced_home("review", "alice", f"{entry['id']}={pick}", "--approve", as_="alice")
    assert done.exit_code == 0, done.stderr
    sync_ok(synced_home)
    assert synced_home("review", "alice", "--json").json == []
    items = listing(mailbox, "contacts")
    assert sorted(i.fields["given_name"] for i in items) == ["Ann", "Annie"]  # crm-wins
    assert ann in {i.crm_id for i in items}  # Ann was created, Annie linked to the item
    assert len(crm.list("people")) == 2
    linked = synced_home("ledger", "alice", "--item", annie, "--json").json
    # held, then linked by the reviewer's choice: the item took Annie's version (crm-wins)
    assert [e["op"] for e in linked] == ["hold", "update"]


def _twenty_people(wess, crm):
    ids = [crm.add("people", first_name=f"P{i}", email=f"p{i}@example.com") for i in range(20)]
    sync_ok(wess)
    return ids


def test_mass_crm_deletes_are_held_until_approved(site, crm):
    synced_home, mailbox = site.wess, site.mailbox
    ids = _twenty_people(synced_home, crm)
    for rid in ids[:12]:  # 60 %
        crm.delete("people", rid)
    crm.update("people", ids[15], job_title="still synced")
    data = sync_ok(synced_home)
    contacts = data["folders"]["contacts"]
    assert contacts["to_exchange"]["deleted"] == 0 and contacts["to_exchange"]["updated"] == 1
    assert len(contacts["held"]) == 12
    assert len(listing(mailbox, "contacts")) == 20
    history = synced_home("history", "alice", "--json").json
    assert history[0]["kind"] == "review"
    assert "12 deletion(s) held for review" in history[0]["message"]
    held = synced_home("review", "alice", "--json").json
    assert {h["kind"] for h in held} == {"delete"} and {h["side"] for h in held} == {"exchange"}
    assert all(h["summary"].startswith("P") for h in held)
    assert synced_home("status", "--json").json[0]["held"] == 12

    sync_ok(synced_home)  # still held: nothing deleted without a decision
    assert len(listing(mailbox, "contacts")) == 20
    result = synced_home("review", "alice", "--approve", "--all", "--json", as_="alice")
    assert result.exit_code == 0, result.stderr
    assert len(result.json["decided"]) == 12
    data = sync_ok(synced_home)
    assert data["folders"]["contacts"]["to_exchange"]["deleted"] == 12
    assert len(listing(mailbox, "contacts")) == 8
    assert synced_home("review", "alice", "--json").json == []


def test_mass_mailbox_deletes_rejected_are_restored(site, crm):
    synced_home, mailbox = site.wess, site.mailbox
    _twenty_people(synced_home, crm)
    items = listing(mailbox, "contacts")
    assert mailbox.delete("contacts", [i.ref for i in items[:12]]) == [None] * 12
    data = sync_ok(synced_home)
    assert data["folders"]["contacts"]["to_crm"]["deleted"] == 0
    held = synced_home("review", "alice", "--json").json
    assert len(held) == 12 and {h["side"] for h in held} == {"crm"}
    first = synced_home("review", "alice", held[0]["id"], "--reject")
    assert first.exit_code == 0, first.stderr
    assert synced_home("review", "alice", "--reject", "--all").exit_code == 0
    data = sync_ok(synced_home)
    assert data["folders"]["contacts"]["to_exchange"]["created"] == 12
    assert len(listing(mailbox, "contacts")) == 20 and len(crm.list("people")) == 20
    assert sync_ok(synced_home)["total_changes"] == 0


def test_a_poisoned_item_is_in_the_ledger_while_the_rest_syncs(site, crm):
    synced_home = site.wess
    tasks = [crm.add("tasks", subject=f"Task {i}", status="not_started") for i in range(5)]
    sync_ok(synced_home)
    for i, rid in enumerate(tasks):  # a value Exchange refuses (schema: TaskStatusType)
        crm.update("tasks", rid, percent_complete=50, status="bogus" if i == 2 else "in_progress")
    new = crm.add("tasks", subject="New task", status="bogus")
    crm.add("tasks", subject="Fine task")
    site.server.reset_counts()
    result = synced_home("sync", "alice", "--json")
    assert result.exit_code == 1, result.stderr  # the rest synced, but items are in error
    assert result.json["items_in_error"] == 2
    assert "2 item(s) in error (see wess ledger alice)" in result.stderr
    folder = result.json["folders"]["tasks"]
    assert folder["to_exchange"]["updated"] == 4 and folder["to_exchange"]["created"] == 1
    assert sorted(e["crm_id"] for e in folder["errors"]) == sorted([tasks[2], new])
    entries = synced_home("ledger", "alice", "--item", tasks[2], "--json").json
    assert entries[-1]["op"] == "error" and entries[-1]["error"] == "InvalidValue"
    assert synced_home("ledger", "alice", "--item", new, "--json").json[-1]["op"] == "error"
    assert synced_home("history", "alice", "--json").json[0]["kind"] == "error"

    # ignore: the bad record stops failing the runs; --undo brings it back
    assert synced_home("ignore", "alice", tasks[2], as_="alice").exit_code == 0
    assert synced_home("ignore", "alice", new).exit_code == 0
    sync_ok(synced_home)
    crm.update("tasks", tasks[2], subject="edited while ignored")
    sync_ok(synced_home)
    assert synced_home("ledger", "alice", "--item", tasks[2], "--json").json[-1]["op"] == "skip"
    assert synced_home("ignore", "alice", tasks[2], "--undo").exit_code == 0
    again = synced_home("sync", "alice", "--json").json["folders"]["tasks"]
    assert [e["crm_id"] for e in again["errors"]] == [tasks[2]]

    # fixed in the CRM: syncs; retry resumes the ignored new task at the next sync
    crm.update("tasks", tasks[2], status="completed")
    crm.update("tasks", new, status="waiting")
    sync_ok(synced_home)  # new is still ignored: not created
    assert synced_home("retry", "alice", new, as_="alice").exit_code == 0
    data = sync_ok(synced_home)
    assert data["folders"]["tasks"]["to_exchange"]["created"] == 1
    unknown = synced_home("retry", "alice", "no-such-id")
    assert unknown.exit_code == 1 and "wess ledger alice" in unknown.stderr


def test_ledger_since_and_retention(synced_home, crm, home):
    crm.add("people", first_name="Ann", email="ann@example.com")
    sync_ok(synced_home)
    ledger = synced_home("ledger", "alice", "--json").json
    assert [(e["op"], e["direction"], e["type"]) for e in ledger] == [
        ("create", "to-exchange", "contacts")
    ]
    assert synced_home("ledger", "alice", "--since", "1h", "--json").json == ledger
    assert synced_home("ledger", "alice", "--since", "2099-01-01", "--json").json == []
    bad = synced_home("ledger", "alice", "--since", "last tuesday")
    assert bad.exit_code == 2 and "relative time" in bad.stderr
    assert "create" in synced_home("ledger", "alice").stdout

    old = (datetime.now(UTC) - timedelta(days=5)).isoformat()
    store = StoreLedger(Context(home=home).store, "alice")
    entry = {
        "time": old,
        "op": "create",
        "direction": "to-crm",
        "type": "contacts",
        "crm_id": "old",
        "item_id": None,
        "error": None,
    }
    store.write([entry])
    assert synced_home("ledger", "alice", "--item", "old", "--json").json != []
    assert synced_home("config", "set", "ledger_retention_days", "3").exit_code == 0
    assert synced_home("ledger", "alice", "--item", "old", "--json").json == []  # past it
    crm.add("people", first_name="Bob")
    sync_ok(synced_home)  # the write prunes the file itself
    assert [e["crm_id"] for e in store.entries() if e["crm_id"] == "old"] == []
    denied = synced_home("ledger", "alice", as_="bob")
    assert denied.exit_code == 1 and "permission denied" in denied.stderr


def test_a_removed_licence_or_disabled_sync_never_deletes(site, crm):
    synced_home, mailbox = site.wess, site.mailbox
    for i in range(3):
        crm.add("people", first_name=f"P{i}", email=f"p{i}@example.com")
    sync_ok(synced_home)
    assert synced_home("users", "deallocate", "alice").exit_code == 0
    assert synced_home("sync", "alice").exit_code == 1  # not eligible: nothing touched
    assert synced_home("run", "--once", "--json").json["synced"] == []
    assert synced_home("users", "allocate", "alice").exit_code == 0
    assert synced_home("users", "disable", "alice").exit_code == 0
    assert synced_home("sync", "alice").exit_code == 1
    assert synced_home("users", "enable", "alice").exit_code == 0
    data = sync_ok(synced_home)
    assert data["total_changes"] == 0
    assert len(listing(mailbox, "contacts")) == 3 and len(crm.list("people")) == 3


def test_a_user_cannot_approve_mass_deletes_of_shared_crm_records(site, crm):
    """Issue 13: the CRM database is shared; alice's wiped mailbox must not take everyone's
    contacts with it on her say-so. She may approve what touches only her own mailbox."""
    synced_home, mailbox = site.wess, site.mailbox
    _twenty_people(synced_home, crm)
    items = listing(mailbox, "contacts")
    assert mailbox.delete("contacts", [i.ref for i in items[:12]]) == [None] * 12
    sync_ok(synced_home)
    held = synced_home("review", "alice", "--json").json
    assert len(held) == 12 and {h["side"] for h in held} == {"crm"}
    crm_before = crm.list("people")

    result = synced_home("review", "alice", "--approve", "--all", "--json", as_="alice")
    assert result.exit_code == 0, result.stderr
    assert result.json["decided"] == [] and len(result.json["needs_admin"]) == 12
    one = synced_home("review", "alice", held[0]["id"], "--approve", as_="alice")
    assert one.exit_code == 1
    assert one.stderr.startswith("wess: permission denied: ")
    assert f"wess review alice {held[0]['id']} --approve" in one.stderr
    sync_ok(synced_home)
    assert crm.list("people") == crm_before and len(crm_before) == 20
    assert len(synced_home("review", "alice", "--json").json) == 12

    # a decision stored without the admin's say (older WESS, another writer) is not carried out
    from wess_core.sync.state_db import StoreSyncState

    store = StoreSyncState(crm.ctx().store, "alice")
    state = store.load("contacts")
    for entry in state.held.values():
        entry["decision"] = {"action": "approve", "by": "alice"}
    store.save(state)
    sync_ok(synced_home)
    assert len(crm.list("people")) == 20

    result = synced_home("review", "alice", "--approve", "--all")  # the admin
    assert result.exit_code == 0, result.stderr
    sync_ok(synced_home)
    assert len(crm.list("people")) == 8
