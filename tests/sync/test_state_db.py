"""The sync state database: private, moved in from the older TinyDB file, and a run
holds the rows it works on, not the table. What holds for any store of the state runs
on the user's file and on a shared PostgreSQL database (the ``database`` fixture)."""

from __future__ import annotations

import json
import stat

import pytest

from tests.support.sync_world import World, contact
from wess_core.service import Context
from wess_core.store import Store
from wess_core.sync import status
from wess_core.sync.held import HeldEntry
from wess_core.sync.memory import MemoryMailbox
from wess_core.sync.state_db import StoreSyncState
from wess_core.sync.status import FolderState, StatusRow, StoredRows


def _row(n: int) -> StatusRow:
    return StatusRow(f"p{n}", str(n), n, "c" * 32, f"item{n}", f"ck{n}", "i" * 32)


def _state(home, login: str = "alice"):
    """The user's sync state where the home keeps it (its file, or ``WESS_DATABASE_URL``)."""
    return Context(home=home).stores.sync_state(login)


def test_the_database_is_private_and_made_only_by_a_save(tmp_path):
    state = StoreSyncState(Store(tmp_path), "alice")
    assert state.load("contacts").rows == {} and state.item_types() == []
    assert not state.path.exists()
    state.save(FolderState("contacts", token="t1", rows={"p1": _row(1)}))
    assert stat.S_IMODE(state.path.stat().st_mode) == 0o600
    again = StoreSyncState(Store(tmp_path), "alice").load("contacts")
    assert again.token == "t1" and again.by_item("item1") == _row(1)


def test_a_state_from_the_older_file_is_moved_in_once(tmp_path):
    store = Store(tmp_path)
    snapshot = {
        "folders": {
            "1": {
                "type": "contacts",
                "version": 1,
                "token": "old",
                "cursor": "3",
                "rows": {"p1": vars(_row(1))},
            }
        },
        "journal": {"1": {"gen": "g1"}},
    }
    store.path("state/alice").parent.mkdir(parents=True)
    store.path("state/alice").write_text(json.dumps(snapshot))
    lines = [
        {
            "g": "g1",
            "type": "contacts",
            "rows": {"p2": vars(_row(2)), "p1": None},
            "meta": {"token": "newer"},
        },
        {"g": "stale", "type": "contacts", "rows": {"p9": vars(_row(9))}, "meta": {}},
    ]  # the journal an older WESS appended to
    journal = tmp_path / "state" / "alice.journal"
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines))
    state = StoreSyncState(store, "alice")
    loaded = state.load("contacts")
    assert (loaded.token, loaded.cursor) == ("newer", "3")
    assert {r.pair_id for r in loaded} == {"p2"}  # journal applied, stale line ignored
    assert not store.path("state/alice").exists() and not journal.exists()
    assert StoreSyncState(store, "alice").item_types() == ["contacts"]


@pytest.mark.usefixtures("database")
def test_rows_not_saved_yet_are_seen_on_top_of_the_database(tmp_path):
    state = _state(tmp_path)
    state.save(FolderState("contacts", rows={f"p{n}": _row(n) for n in range(5)}))
    folder = state.load("contacts")
    assert isinstance(folder.rows, StoredRows) and len(folder.rows) == 5
    folder.put(StatusRow("p1", "1", 2, "x", "moved1", "ck", "y"))  # the item id changed
    folder.drop("p2")
    folder.put(_row(7))
    assert folder.by_item("item1") is None and folder.by_item("moved1").crm_rev == 2
    assert folder.by_crm("2") is None and folder.by_crm("7") == _row(7)
    assert len(folder.rows) == 5 and "p2" not in folder.rows
    assert sorted(r.pair_id for r in folder) == ["p0", "p1", "p3", "p4", "p7"]
    state.save(folder)
    assert folder.dirty == set()
    fresh = _state(tmp_path).load("contacts")
    assert sorted(fresh.rows) == ["p0", "p1", "p3", "p4", "p7"]
    assert fresh.by_item("moved1").pair_id == "p1"


@pytest.mark.usefixtures("database")
def test_a_run_holds_a_batch_of_rows_not_the_table(tmp_path, monkeypatch):
    """After each save the state keeps no rows in memory, and the rows it looked up are
    a bounded cache: what a big folder's sync holds is its batch, whatever the size of
    the status table."""
    monkeypatch.setattr(status, "_LOOKUPS_KEPT", 64)
    state = _state(tmp_path)
    w = World(mailbox=MemoryMailbox(page_size=50), state=state, batch_size=20)
    for i in range(300):
        w.mb.add("contacts", contact(i))
    held: list[int] = []

    def watching(save):
        def watching_save(folder, *rest):
            if folder is not None:
                rows = folder.rows
                held.append(len(rows.pending()) + len(getattr(rows, "_looked_up", ())))
            save(folder, *rest)

        return watching_save

    for name in ("save", "save_with_ledger"):  # the latter: state and ledger together
        if hasattr(state, name):
            setattr(state, name, watching(getattr(state, name)))
    w.sync()
    assert len(state.load("contacts").rows) == 300
    assert held and max(held) <= 100 + 64  # one CRM batch (100) of rows, 64 lookups
    w.assert_converged()


@pytest.mark.usefixtures("database")
def test_every_type_loads_its_own_meta_and_rows_and_a_reload_is_fresh(tmp_path):
    writer = _state(tmp_path)
    writer.save(
        FolderState("contacts", token="c1", cursor="5", rows={f"p{n}": _row(n) for n in range(3)})
    )
    writer.save(FolderState("tasks", token="t1", held={"p9": {"kind": "delete"}}))
    state = _state(tmp_path)
    contacts, tasks, calendar = (state.load(t) for t in ("contacts", "tasks", "calendar"))
    assert (contacts.token, contacts.cursor, len(contacts.rows)) == ("c1", "5", 3)
    assert (tasks.token, tasks.held, len(tasks.rows)) == ("t1", {"p9": HeldEntry(kind="delete")}, 0)
    assert (calendar.token, len(calendar.rows)) == (None, 0)
    writer.save(FolderState("contacts", token="c2", rows={"p7": _row(7)}))  # the whole table
    again = state.load("contacts")  # not what the first load read
    assert again.token == "c2" and len(again.rows) == 1 and again.by_item("item7") == _row(7)


def test_a_database_of_the_first_schema_gains_the_watch_table(tmp_path):
    """A state database written before pull subscriptions keeps its folders and stores
    the watch record after the upgrade; loading one writes no file."""
    import sqlite3

    from wess_core.sync.watch_record import WatchRecord

    state = StoreSyncState(Store(tmp_path), "alice")
    assert state.load_watch() == WatchRecord() and not state.path.exists()
    state.save(FolderState("contacts", token="t1", rows={"p1": _row(1)}))
    state.close()
    with sqlite3.connect(state.path) as conn:  # as the first schema left it
        conn.execute("DROP TABLE watch")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    again = StoreSyncState(Store(tmp_path), "alice")
    assert again.load("contacts").token == "t1" and again.load_watch() == WatchRecord()
    again.save_watch(WatchRecord("sub1", frozenset({"contacts"})))
    third = StoreSyncState(Store(tmp_path), "alice")
    assert third.load_watch() == WatchRecord("sub1", frozenset({"contacts"}))
    third.reset()
    assert third.load_watch() == WatchRecord()
    with sqlite3.connect(state.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()


@pytest.mark.usefixtures("database")
def test_watch_record_item_types_and_reset_per_user(tmp_path):
    """One user's watch record, item types and reset leave another user's state alone;
    a revision keeps its type (an int stays an int, a string a string)."""
    from wess_core.sync.watch_record import WatchRecord

    alice, bob = _state(tmp_path, "alice"), _state(tmp_path, "bob")
    assert alice.load_watch() == WatchRecord() and alice.item_types() == []
    alice.save(FolderState("contacts", token="a", rows={"p1": _row(1)}))
    alice.save(
        FolderState("tasks", token="t", rows={"p2": StatusRow("p2", "2", "r2", "", "i2", "", "")})
    )
    bob.save(FolderState("contacts", token="b", rows={"p1": _row(1)}))
    alice.save_watch(WatchRecord("sub1", frozenset({"contacts"})))
    assert _state(tmp_path).item_types() == ["contacts", "tasks"]
    assert _state(tmp_path).load("tasks").by_crm("2").crm_rev == "r2"
    assert _state(tmp_path).load("contacts").by_crm("1").crm_rev == 1
    assert _state(tmp_path).load_watch() == WatchRecord("sub1", frozenset({"contacts"}))
    alice.reset("tasks")
    assert _state(tmp_path).item_types() == ["contacts"]
    alice.reset()
    assert _state(tmp_path).item_types() == [] and _state(tmp_path).load_watch() == WatchRecord()
    assert _state(tmp_path, "bob").load("contacts").by_item("item1") == _row(1)


def test_on_postgresql_a_run_looks_rows_up_a_batch_per_query(
    tmp_path, postgres_server, monkeypatch
):
    """Each lookup there is a round trip: a run of 300 linked contacts that all changed
    reads their rows in a few queries, not one (or three) per contact."""
    from sqlalchemy import event

    monkeypatch.setenv("WESS_DATABASE_URL", postgres_server.create_database())
    state = _state(tmp_path)
    w = World(mailbox=MemoryMailbox(page_size=100), state=state, batch_size=100)
    for i in range(300):
        w.mb.add("contacts", contact(i))
    w.sync()
    for item_id in list(w.items()):
        w.mb.edit("contacts", item_id, {"job_title": "changed"})
    selects: list[str] = []
    engine = state.db.engine

    def count(conn, cursor, statement, *rest):
        if statement.lstrip().upper().startswith("SELECT") and "sync_rows" in statement:
            selects.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        result = w.sync()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert result.to_crm.updated == 300
    assert len(selects) <= 30, len(selects)
    w.assert_converged()
