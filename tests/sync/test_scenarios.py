"""Named scenarios: the nasty cases of a two-way sync, one test each."""

from __future__ import annotations

import pytest

from tests.support.sync_world import World, contact, person
from wess_core.store import Store
from wess_core.strategies import ItemChanged, NewRecord, RecordUpdate
from wess_core.sync.engine import sync_all, sync_folder
from wess_core.sync.itemtypes import EmailType, builtin_item_types
from wess_core.sync.memory import Killed, MemoryCrm, MemoryMailbox
from wess_core.sync.state_db import StoreSyncState
from wess_plugins.crm_local.local import LocalCrm

# -- one-sided changes ----------------------------------------------------------


def test_crm_create_update_delete_reach_the_mailbox():
    w = World()
    rid = w.crm.add("people", person(1, job_title="CEO"))
    r = w.sync()
    assert (r.to_exchange.created, r.to_crm.total) == (1, 0)
    (item,) = w.items().values()
    assert item.crm_id == rid  # stored on the item, for re-linking
    assert item.fields["given_name"] == "Ann1" and item.fields["job_title"] == "CEO"
    w.assert_converged()

    w.crm.edit("people", rid, {"job_title": None, "company": "Acme"})
    r = w.sync()
    assert (r.to_exchange.updated, r.to_crm.total) == (1, 0)
    (item,) = w.items().values()
    assert "job_title" not in item.fields and item.fields["company_name"] == "Acme"
    w.assert_converged()

    w.crm.remove("people", rid)
    r = w.sync()
    assert (r.to_exchange.deleted, r.to_crm.total) == (1, 0)
    assert w.items() == {}
    w.assert_converged()


def test_mailbox_create_update_delete_reach_the_crm():
    w = World()
    iid = w.mb.add("contacts", contact(1))
    r = w.sync()
    assert (r.to_crm.created, r.to_exchange.total) == (1, 0)
    (rec,) = w.records().values()
    assert rec.exchange_id == iid  # for re-linking
    assert rec.fields == {"first_name": "Bob1", "last_name": "Ray", "email": "bob1@example.com"}

    w.mb.edit("contacts", iid, {"surname": "Roe"})
    r = w.sync()
    assert (r.to_crm.updated, r.to_exchange.total) == (1, 0)
    assert next(iter(w.records().values())).fields["last_name"] == "Roe"

    w.mb.remove("contacts", iid)
    r = w.sync()
    assert (r.to_crm.deleted, r.to_exchange.total) == (1, 0)
    assert w.records() == {}
    w.assert_converged()


def test_both_sides_deleting_the_same_pair_just_drops_it():
    w = World()
    rid = w.crm.add("people", person(1))
    w.sync()
    (iid,) = w.items()
    w.crm.remove("people", rid)
    w.mb.remove("contacts", iid)
    r = w.sync()
    assert r.total_changes == 0 and not r.errors
    assert w.state.load("contacts").rows == {}


# -- conflicts ------------------------------------------------------------------


def _both_edit(policy: str, mailbox_last: bool = True) -> tuple[World, object]:
    w = World(policy=policy)
    rid = w.crm.add("people", person(1))
    w.sync()
    (iid,) = w.items()
    if mailbox_last:
        w.crm.edit("people", rid, {"job_title": "from CRM"})
        w.mb.edit("contacts", iid, {"job_title": "from Outlook"})
    else:
        w.mb.edit("contacts", iid, {"job_title": "from Outlook"})
        w.crm.edit("people", rid, {"job_title": "from CRM"})
    return w, w.sync()


@pytest.mark.parametrize(
    ("policy", "mailbox_last", "winner", "title"),
    [
        ("crm-wins", True, "crm", "from CRM"),
        ("exchange-wins", False, "exchange", "from Outlook"),
        ("newest-wins", True, "exchange", "from Outlook"),
        ("newest-wins", False, "crm", "from CRM"),
    ],
)
def test_conflict_follows_the_policy_and_reports_both_versions(policy, mailbox_last, winner, title):
    w, r = _both_edit(policy, mailbox_last)
    (conflict,) = r.conflicts
    assert conflict.kind == "both-changed" and conflict.winner == winner
    assert conflict.crm_version["job_title"] == "from CRM"
    assert conflict.exchange_version["job_title"] == "from Outlook"
    assert next(iter(w.records().values())).fields["job_title"] == title
    assert next(iter(w.items().values())).fields["job_title"] == title
    w.assert_converged()
    w.reset_calls()
    assert w.sync().total_changes == 0 and w.mailbox_writes() == 0 and w.crm_writes() == 0


def test_the_same_edit_on_both_sides_is_no_conflict():
    w = World()
    rid = w.crm.add("people", person(1))
    w.sync()
    (iid,) = w.items()
    w.crm.edit("people", rid, {"job_title": "same"})
    w.mb.edit("contacts", iid, {"job_title": "same"})
    r = w.sync()
    assert r.total_changes == 0 and r.conflicts == []
    w.assert_converged()


def test_an_edit_beats_a_delete_in_either_direction():
    w = World()
    a = w.crm.add("people", person("a"))
    b = w.crm.add("people", person("b"))
    w.sync()
    items = {i.crm_id: iid for iid, i in w.items().items()}
    w.crm.edit("people", a, {"job_title": "edited in CRM"})
    w.mb.remove("contacts", items[a])
    w.mb.edit("contacts", items[b], {"job_title": "edited in Outlook"})
    w.crm.remove("people", b)
    r = w.sync()
    assert sorted(c.kind for c in r.conflicts) == ["edit-vs-delete"] * 2
    assert (r.to_exchange.created, r.to_crm.created) == (1, 1)
    titles = sorted(rec.fields["job_title"] for rec in w.records().values())
    assert titles == ["edited in CRM", "edited in Outlook"]
    w.assert_converged()


# -- echoes and idle --------------------------------------------------------------


def test_our_own_writes_come_back_as_echoes_that_cost_nothing():
    w = World(mailbox=MemoryMailbox(inline=False))
    for n in range(3):
        w.crm.add("people", person(n))
    w.mb.add("contacts", contact(9))
    w.sync()
    w.reset_calls()
    r = w.sync()  # sees the 3 items we created and the record we created
    assert r.total_changes == 0
    assert dict(w.mb.calls) == {"changes": 1}  # no get: the changekeys are ours
    assert w.crm_writes() == 0
    w.reset_calls()
    w.sync()
    assert dict(w.mb.calls) == {"changes": 1}


def test_an_idle_sync_is_one_changes_call_per_folder_and_writes_no_file(tmp_path):
    mb, crm = MemoryMailbox(), MemoryCrm()
    state = StoreSyncState(Store(tmp_path), "alice")
    types = builtin_item_types()
    crm.add("people", person(1))
    mb.add("calendar", {"subject": "Review", "start": "2024-05-06T10:00:00+02:00"})
    sync_all(types, crm, mb, state)
    sync_all(types, crm, mb, state)  # the echoes
    mb.calls.clear()
    before = {p.name: p.stat().st_mtime_ns for p in state.path.parent.iterdir()}
    result = sync_all(types, crm, mb, state)
    assert result.ok and result.total_changes == 0
    assert dict(mb.calls) == {"changes": len(types)}
    assert {p.name: p.stat().st_mtime_ns for p in state.path.parent.iterdir()} == before


def test_the_run_after_an_import_writes_no_file_for_any_folder(tmp_path):
    """The import wrote people; the calendar's and tasks' CRM cursors stay put."""
    mb, crm = MemoryMailbox(), LocalCrm(tmp_path, "main")
    state = StoreSyncState(Store(tmp_path), "alice")
    types = builtin_item_types()
    for n in range(5):
        mb.add("contacts", contact(n))
    first = sync_all(types, crm, mb, state)
    assert first.ok and len(list(crm.changes("people", None)[0])) == 5
    before = {p.name: p.stat().st_mtime_ns for p in state.path.parent.iterdir()}
    result = sync_all(types, crm, mb, state)
    assert result.ok and result.total_changes == 0
    assert {p.name: p.stat().st_mtime_ns for p in state.path.parent.iterdir()} == before


def test_a_new_changekey_without_new_content_only_refreshes_the_row():
    w = World()
    w.crm.add("people", person(1))
    w.sync()
    (iid,) = w.items()
    w.mb.touch("contacts", iid)  # e.g. a category or a flag
    w.reset_calls()
    r = w.sync()
    assert r.total_changes == 0 and w.crm_writes() == 0
    assert w.state.load("contacts").by_item(iid).changekey == w.items()[iid].changekey


# -- crashes, resyncs, faults -----------------------------------------------------


def test_killed_after_mailbox_create_before_status_save_does_not_duplicate():
    w = World()
    for n in range(5):
        w.crm.add("people", person(n))
    w.mb.faults.fail_call("create", error=Killed(), after=True)
    with pytest.raises(Killed):
        w.sync()
    assert len(w.items()) == 5 and w.state.load("contacts").rows == {}
    r = w.sync()
    assert r.to_exchange.created == 0 and len(w.items()) == 5
    w.assert_converged()


def test_killed_after_crm_create_before_status_save_does_not_duplicate():
    w = World()
    for n in range(4):
        w.mb.add("contacts", contact(n))
    w.crm.faults.fail_call("create", error=Killed(), after=True)
    with pytest.raises(Killed):
        w.sync()
    assert len(w.records()) == 4
    r = w.sync()
    assert r.to_crm.created == 0 and len(w.records()) == 4
    w.assert_converged()


def test_killed_between_batches_keeps_the_finished_batches():
    w = World(batch_size=2)
    for n in range(6):
        w.crm.add("people", person(n))
    w.mb.faults.fail_call("create", nth=2, error=Killed())
    with pytest.raises(Killed):
        w.sync()
    assert len(w.state.load("contacts").rows) == 2  # the first batch's rows were saved
    w.sync()
    assert len(w.items()) == 6
    w.assert_converged()


def test_invalid_sync_state_resyncs_in_full_without_duplicates():
    w = World(mailbox=MemoryMailbox(page_size=2))
    for n in range(3):
        w.crm.add("people", person(n))
    keep = w.mb.add("contacts", contact(1))
    gone = w.mb.add("contacts", contact(2))
    w.sync()
    w.mb.remove("contacts", gone)  # only a full listing can tell now
    w.mb.edit("contacts", keep, {"job_title": "new"})
    w.mb.invalidate_sync_state()
    r = w.sync()
    assert r.full_resync
    assert (r.to_crm.updated, r.to_crm.deleted, r.to_crm.created) == (1, 1, 0)
    assert r.to_exchange.total == 0
    assert len(w.records()) == 4
    w.assert_converged()


def test_a_reset_state_relinks_everything_without_duplicates(tmp_path):
    crm = LocalCrm(tmp_path, "main")
    state = StoreSyncState(Store(tmp_path), "alice")
    w = World(crm=crm, state=state)
    crm.create("people", [NewRecord(person(n)) for n in range(3)])
    w.mb.add("contacts", contact(1))
    w.sync()
    state.reset()
    r = w.sync()
    assert r.total_changes == 0 and r.conflicts == []
    assert len(w.records()) == 4 and len(w.items()) == 4
    w.assert_converged()


def test_an_empty_full_listing_holds_its_deletes_for_review():
    w = World()
    for n in range(3):
        w.crm.add("people", person(n))
    w.sync()
    for iid in list(w.items()):
        w.mb.remove("contacts", iid)
    w.mb.invalidate_sync_state()
    r = w.sync()
    assert r.to_crm.deleted == 0 and len(r.held) == 3
    assert all("came back empty" in h["reason"] for h in r.held)
    assert len(w.records()) == 3
    state = w.state.load("contacts")
    for entry in state.held.values():
        entry["decision"] = {"action": "approve"}
    w.state.save(state)
    r = w.sync()
    assert r.to_crm.deleted == 3
    w.assert_converged()


def test_one_bad_item_does_not_block_the_rest_and_is_retried():
    w = World()
    for n in range(5):
        w.crm.add("people", person(n))
    w.mb.faults.fail_items(
        "create", lambda new: new.fields["given_name"] == "Ann2", ValueError("too big")
    )
    r = w.sync()
    assert r.to_exchange.created == 4
    (err,) = r.errors
    assert err.direction == "to-exchange" and err.message == "too big" and err.crm_id
    w.mb.faults.clear()
    w.reset_calls()
    r = w.sync()  # nothing changed in the CRM: the retry list brings it back
    assert r.to_exchange.created == 1 and not r.errors
    w.assert_converged()


def test_a_failing_bulk_call_fails_its_items_only():
    w = World(batch_size=2)
    for n in range(4):
        w.mb.add("contacts", contact(n))
    w.crm.faults.fail_call("create", nth=1, error=ConnectionError("CRM timed out"))
    r = w.sync()
    assert r.to_crm.created == 2 and len(r.errors) == 2
    assert all(e.message == "CRM timed out" for e in r.errors)
    r = w.sync()
    assert r.to_crm.created == 2 and not r.errors
    w.assert_converged()


def test_an_item_changed_while_we_wrote_it_is_resolved_next_run():
    w = World()
    rid = w.crm.add("people", person(1))
    w.sync()
    w.crm.edit("people", rid, {"job_title": "CRM"})
    w.mb.faults.fail_items("update", lambda upd: True, ItemChanged("changed meanwhile"))
    r = w.sync()
    assert r.errors[0].error == "ItemChanged"
    w.mb.faults.clear()
    r = w.sync()
    assert r.to_exchange.updated == 1
    w.assert_converged()


def test_a_record_changed_while_we_wrote_it_is_not_overwritten_blindly():
    w = World()
    w.mb.add("contacts", contact(1))
    w.sync()
    (iid,) = w.items()
    (rid,) = w.records()
    w.mb.edit("contacts", iid, {"job_title": "Outlook"})
    real_update = w.crm.update

    def racing_update(record_type, updates):  # someone saves in the CRM just before us
        w.crm.edit("people", rid, {"company": "Acme"})
        return real_update(record_type, updates)

    w.crm.update = racing_update
    r = w.sync()
    assert r.errors and r.errors[0].error == "RecordChanged"
    w.crm.update = real_update
    w.sync()
    (rec,) = w.records().values()
    assert rec.fields["company"] == "Acme"  # not lost; the conflict went to the policy
    w.assert_converged()


def test_a_copied_item_carrying_a_crm_id_becomes_a_new_record():
    w = World()
    rid = w.crm.add("people", person(1))
    w.sync()
    w.mb.add("contacts", {"given_name": "Copy"}, crm_id=rid)  # Outlook copies the property
    r = w.sync()
    assert r.to_crm.created == 1
    assert len(w.records()) == 2
    w.assert_converged()


# -- one-way e-mail, dry run --------------------------------------------------------


def test_email_is_one_way_and_never_writes_to_the_mailbox():
    w = World(EmailType("email-inbox", "inbox", "in"))
    iid = w.mb.add(
        "inbox", {"subject": "Hi", "sender": "ann@example.com", "to_recipients": ["me@x.org"]}
    )
    w.crm.add("emails", {"subject": "typed in the CRM"})
    r = w.sync()
    assert (r.to_crm.created, r.to_exchange.total) == (1, 0)
    rec = next(r for r in w.records().values() if r.exchange_id == iid)
    assert rec.fields["from"] == "ann@example.com" and rec.fields["direction"] == "in"
    w.crm.edit("emails", rec.id, {"subject": "edited in the CRM"})
    w.mb.remove("inbox", iid)  # deleted or moved away: the CRM keeps its archive
    r = w.sync()
    assert r.total_changes == 0
    assert len(w.records()) == 2
    assert w.mb.calls["create"] == w.mb.calls["update"] == w.mb.calls["delete"] == 0


def test_dry_run_reads_and_plans_but_writes_nothing(tmp_path):
    state = StoreSyncState(Store(tmp_path), "alice")
    w = World(state=state)
    w.crm.add("people", person(1))
    w.mb.add("contacts", contact(2))
    r = w.sync(dry_run=True)
    assert r.dry_run and (r.to_exchange.created, r.to_crm.created) == (1, 1)
    assert {p["action"] for p in r.planned} == {"create-item", "create-record"}
    assert w.mailbox_writes() == 0 and w.crm_writes() == 0
    assert not state.path.exists() and not state.path.parent.exists()
    assert len(w.items()) == 1 and len(w.records()) == 1


# -- the CRM side being the local CRM, state in a store file ------------------------


def test_local_crm_and_store_state_end_to_end(tmp_path):
    crm = LocalCrm(tmp_path, "main")
    w = World(crm=crm, state=StoreSyncState(Store(tmp_path), "alice"), batch_size=3)
    crm.create("people", [NewRecord(person(n)) for n in range(7)])
    w.mb.add("contacts", contact(1))
    r = w.sync()
    assert (r.to_exchange.created, r.to_crm.created) == (7, 1)
    (made,) = [rec for rec in w.records().values() if rec.exchange_id]
    crm.update("people", [RecordUpdate(made.id, {"job_title": "Boss"})])
    r = w.sync()
    assert r.to_exchange.updated == 1
    w.assert_converged()
    assert sync_folder(w.t, crm, w.mb, w.state).total_changes == 0
