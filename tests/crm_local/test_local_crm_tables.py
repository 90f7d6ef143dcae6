"""The local CRM's storage: rows in the home's database, so a big database costs the
rows a lookup or a write touches, every write is all or nothing, and the change feed
reads only what is newer than its cursor, a page at a time."""

from __future__ import annotations

import pytest

from wess_core.errors import StoreCorrupt
from wess_core.strategies import NewRecord, RecordUpdate
from wess_core.tables import DB_FILE
from wess_core.tables.engine import close_databases
from wess_plugins.crm_local import local, tables
from wess_plugins.crm_local.local import LocalCrm


def _people(n: int) -> list[NewRecord]:
    return [NewRecord({"first_name": f"P{i}", "email": f"p{i}@x.org"}, None) for i in range(n)]


@pytest.mark.usefixtures("database")
def test_the_change_feed_reads_only_newer_revisions_a_page_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "CHUNK", 7)
    crm = LocalCrm(tmp_path, "main")
    crm.create("people", _people(50))
    [updated] = crm.update("people", [RecordUpdate("15", {"job_title": "CEO"}, None)])
    changes, head = crm.changes("people", str(updated.revision - 1))
    assert [c.id for c in changes] == ["15"] and head == str(updated.revision)
    everything, _ = crm.changes("people", "0")
    assert sorted(int(c.id) for c in everything) == list(range(1, 51))
    assert [r["id"] for r in crm.list("people")[:3]] == ["1", "2", "3"]
    assert len(crm.list("people")) == 50


@pytest.mark.usefixtures("database")
def test_a_feed_overtaken_by_a_writer_leaves_the_new_write_to_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "CHUNK", 10)
    crm = LocalCrm(tmp_path, "main")
    crm.create("people", _people(30))
    feed, head = crm.changes("people", "0")
    seen = [next(iter(feed))]  # the first page is read
    [moved] = crm.update("people", [RecordUpdate("25", {"job_title": "new"}, None)])
    seen += list(feed)
    assert len(seen) == 29 and "25" not in {c.id for c in seen}
    again, _ = crm.changes("people", head)
    assert [(c.id, c.revision) for c in again] == [("25", moved.revision)]


@pytest.mark.usefixtures("database")
def test_a_write_that_fails_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "CHUNK", 5)  # rows are sent before the failure
    crm = LocalCrm(tmp_path, "main")
    crm.create("people", _people(10))
    before = crm.list("people")
    with pytest.raises(RuntimeError), crm.transaction() as tx:
        for n in range(20):
            tx.create("people", {"first_name": f"new {n}"}, None)
        tx.update("people", "3", {"job_title": "x"})
        raise RuntimeError("killed mid-write")
    assert crm.list("people") == before
    assert local.add_record(tmp_path, "main", "people", {"first_name": "next"})["id"] == "11"
    assert local.add_record(tmp_path, "main", "people", {"a": "b"})["revision"] == 12


@pytest.mark.usefixtures("database")
def test_records_created_and_changed_in_one_transaction(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "CHUNK", 3)
    crm = LocalCrm(tmp_path, "main")
    with crm.transaction() as tx:
        made = [tx.create("people", {"first_name": f"P{n}"}, None)[0] for n in range(7)]
        tx.update("people", str(made[1]), {"job_title": "CEO"})  # already sent
        tx.update("people", str(made[6]), {"job_title": "CFO"})  # not yet sent
        tx.delete("people", str(made[0]))
    listed = {r["id"]: r["fields"] for r in crm.list("people")}
    assert sorted(listed, key=int) == [str(n) for n in made[1:]]
    assert listed["2"]["job_title"] == "CEO" and listed["7"]["job_title"] == "CFO"


def test_a_corrupt_database_names_its_file_and_is_not_overwritten(tmp_path):
    crm = LocalCrm(tmp_path, "main")
    crm.create("people", _people(3))
    close_databases()
    path = tmp_path / DB_FILE
    path.write_bytes(b"not a database, and long enough to be read as one" * 100)
    with pytest.raises(StoreCorrupt, match=DB_FILE) as err:
        LocalCrm(tmp_path, "main").list("people")
    assert "\n" not in str(err.value)
    assert path.read_bytes().startswith(b"not a database")
