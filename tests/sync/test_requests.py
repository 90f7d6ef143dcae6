"""Request counts: what a sync costs in mailbox calls and state-file writes."""

from __future__ import annotations

import pytest

from tests.support.sync_world import World, contact, person
from wess_core.store import Store
from wess_core.sync.memory import MemoryMailbox
from wess_core.sync.state_db import StoreSyncState
from wess_core.sync.status import MemorySyncState


@pytest.mark.parametrize("n", [10, 100, 250])
def test_initial_sync_costs_about_n_over_batch_calls(n):
    batch = 25
    w = World(mailbox=MemoryMailbox(max_batch=batch, page_size=100, inline=False))
    for i in range(n):
        w.crm.add("people", person(i))
        w.mb.add("contacts", contact(i))
    w.sync(batch_size=1000)  # the transport's max_batch caps it
    calls = w.mb.calls
    pages = -(-n // 100)
    assert calls["changes"] == pages
    assert calls["get"] == -(-n // batch)  # content of the n new items, IdOnly pages
    assert calls["create"] == -(-n // batch)
    assert calls["update"] == calls["delete"] == 0
    assert w.crm.calls["create"] == -(-n // batch)
    w.assert_converged()


def test_state_is_saved_once_per_batch_not_per_item(tmp_path):
    state = MemorySyncState()
    w = World(state=state, batch_size=10)
    for i in range(35):
        w.crm.add("people", person(i))
    w.sync()
    assert state.saves == 4 + 1  # 4 batches of creates, then the token and cursor
    store_state = StoreSyncState(Store(tmp_path), "alice")
    w2 = World(state=store_state, batch_size=10)
    for i in range(35):
        w2.crm.add("people", person(i))
    w2.sync()
    assert len(store_state.load("contacts").rows) == 35
    assert store_state.item_types() == ["contacts"]


def test_a_big_folder_is_carried_out_while_it_is_listed():
    """Memory holds a batch, not the folder: the CRM receives the first items before the
    mailbox has listed the last page, and a run that dies mid-listing keeps what it did."""
    w = World(mailbox=MemoryMailbox(page_size=10), batch_size=20)
    for i in range(100):
        w.mb.add("contacts", contact(i))
    pages_at_create: list[int] = []
    create = w.crm.create

    def spying_create(record_type, records):
        pages_at_create.append(w.mb.calls["changes"])
        return create(record_type, records)

    w.crm.create = spying_create
    w.mb.faults.fail_call("changes", nth=7)  # the listing dies on page 7
    with pytest.raises(ConnectionError):
        w.sync()
    assert pages_at_create == [2, 4, 6]  # one CRM batch per 20 listed items
    assert len(w.records()) == 60
    assert len(w.state.load("contacts").rows) == 60  # saved with their batches
    w.sync()  # the next run lists from the old token again: the 60 are echoes
    assert len(w.records()) == 100
    w.assert_converged()


def test_matching_waits_for_the_whole_listing():
    """Items that might match unlinked CRM records are not created early: a record that
    matches an item on the last page is linked, not duplicated."""
    w = World(mailbox=MemoryMailbox(page_size=5), batch_size=5)
    for i in range(30):
        w.mb.add("contacts", contact(i))
    # the same person as the last item listed
    w.crm.add("people", {"first_name": "Bob29", "last_name": "Ray", "email": "bob29@example.com"})
    w.sync()
    assert len(w.records()) == 30
    assert len(w.items()) == 30
    w.assert_converged()


def test_a_connector_may_hand_its_changes_over_as_a_one_pass_generator():
    """A big CRM need not build a list: the engine reads the changes once, as they come,
    and keeps only what is not its own write coming back."""
    w = World(batch_size=10)
    for i in range(30):
        w.mb.add("contacts", contact(i))
    create = w.crm.create
    someone: list[str] = []

    def create_while_someone_writes(record_type, records):
        if not someone:  # another CRM user adds a person during the run
            someone.append(w.crm.add("people", person(99)))
        return create(record_type, records)

    w.crm.create = create_while_someone_writes
    w.sync()  # 30 CRM records written; the cursor stays before them (someone wrote too)
    w.crm.create = create
    kept: list[int] = []
    changes = w.crm.changes

    def one_pass(record_type, cursor):
        found, new_cursor = changes(record_type, cursor)
        kept.append(len(found))
        return (r for r in found), new_cursor

    w.crm.changes = one_pass
    w.reset_calls()
    w.sync()  # the 30 writes come back with the other person's record
    assert kept[0] == 31
    assert w.mb.calls["create"] == 1 and w.mb.calls["update"] == 0
    w.assert_converged()


def test_the_run_after_an_import_reads_nothing_back_and_writes_nothing(tmp_path):
    """The CRM cursor moves past a run's own writes, so the next run is idle."""
    state = StoreSyncState(Store(tmp_path), "alice")
    w = World(state=state, batch_size=10)
    for i in range(30):
        w.mb.add("contacts", contact(i))
    w.sync()
    assert len(w.records()) == 30
    seen: list[int] = []
    changes = w.crm.changes

    def counting(record_type, cursor):
        found, new_cursor = changes(record_type, cursor)
        seen.append(len(found))
        return found, new_cursor

    w.crm.changes = counting
    before = state.path.stat().st_mtime_ns
    r = w.sync()
    assert r.total_changes == 0 and seen == [0]
    assert state.path.stat().st_mtime_ns == before  # nothing to save
