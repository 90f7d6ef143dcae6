"""The local CRM's storage: shard files under a manifest, so a big database costs a
shard per lookup or write, and every write is still all or nothing."""

from __future__ import annotations

import json

import pytest

from wess_core.errors import StoreCorrupt
from wess_core.strategies import NewRecord, RecordUpdate
from wess_plugins.crm_local import local, shards
from wess_plugins.crm_local.local import LocalCrm


def _files(crm: LocalCrm) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in crm.db.folder.iterdir()}


def _people(n: int) -> list[NewRecord]:
    return [NewRecord({"first_name": f"P{i}", "email": f"p{i}@x.org"}, None) for i in range(n)]


def test_a_write_rewrites_only_the_shards_it_changed(tmp_path):
    crm = LocalCrm(tmp_path, "main")
    crm.create("people", _people(2500))
    before = _files(crm)
    assert len(before) == 3  # ids 1-1000, 1001-2000, 2001-2500
    [updated] = crm.update("people", [RecordUpdate("1500", {"job_title": "CEO"}, None)])
    after = _files(crm)
    assert len(after) == 3
    assert len(set(after) & set(before)) == 2  # shards 0 and 2 untouched
    assert crm.get("people", ["1500"])[0].fields["job_title"] == "CEO"
    changes, head = crm.changes("people", str(updated.revision - 1))
    assert [c.id for c in changes] == ["1500"] and head == str(updated.revision)
    assert len(crm.list("people")) == 2500
    assert [r["id"] for r in crm.list("people")[:3]] == ["1", "2", "3"]


def test_a_write_that_fails_changes_nothing_and_leaves_no_file(tmp_path, monkeypatch):
    crm = LocalCrm(tmp_path, "main")
    crm.create("people", _people(10))
    before, manifest = _files(crm), crm.db.manifest_path.read_bytes()
    monkeypatch.setattr(shards, "KEEP_SHARDS", 1)  # shards are written out early
    with pytest.raises(RuntimeError), crm.db.write() as tx:
        for i in range(1, 3001, 1000):
            tx.put("people", i, {"revision": 99, "fields": {}, "deleted": False})
        raise RuntimeError("killed mid-write")
    assert _files(crm) == before and crm.db.manifest_path.read_bytes() == manifest
    assert len(crm.list("people")) == 10


def test_files_left_by_a_crashed_write_are_removed_by_the_next(tmp_path):
    crm = LocalCrm(tmp_path, "main")
    crm.create("people", _people(3))
    stray = crm.db.folder / "people.0.deadbeef0000.json"
    stray.write_text('{"records": {}}')
    crm.create("people", _people(1))
    assert not stray.exists()
    assert len(crm.list("people")) == 4


def test_a_reader_overtaken_by_a_writer_starts_again(tmp_path):
    crm = LocalCrm(tmp_path, "main")
    crm.create("people", _people(5))
    attempts = []

    def read(snap):
        attempts.append(1)
        if len(attempts) == 1:  # a write finishes between the manifest and the shard
            crm.update("people", [RecordUpdate("2", {"job_title": "new"}, None)])
        return snap.get("people", 2)["fields"].get("job_title")

    assert crm.db.read(read) == "new"
    assert len(attempts) == 2


def test_a_database_from_before_shards_is_read_and_split_by_its_first_write(tmp_path):
    people = {
        str(i): {
            "revision": i,
            "fields": {"first_name": f"P{i}"},
            "exchange_id": None,
            "deleted": False,
            "modified": "2026-01-01T00:00:00+00:00",
        }
        for i in range(1, 1201)
    }
    people["7"] = {"revision": 1201, "fields": {}, "deleted": True, "modified": "x"}
    old = {"meta": {"1": {"revision": 1201}}, "people": people}
    path = tmp_path / "crm" / "main.json"
    path.parent.mkdir()
    path.write_text(json.dumps(old))
    crm = LocalCrm(tmp_path, "main")
    assert len(crm.list("people")) == 1199
    assert [c.id for c in crm.changes("people", "1200")[0]] == ["7"]  # the tombstone
    added = local.add_record(tmp_path, "main", "people", {"first_name": "New"})
    assert added["id"] == "1201" and added["revision"] == 1202
    manifest = json.loads(path.read_text())
    assert "people" not in manifest and len(manifest["shards"]) == 2
    assert len(crm.list("people")) == 1200
    assert crm.get("people", ["1200"])[0].fields == {"first_name": "P1200"}


def test_a_corrupt_shard_names_its_file_and_is_not_overwritten(tmp_path):
    crm = LocalCrm(tmp_path, "main")
    crm.create("people", _people(3))
    [shard] = crm.db.folder.iterdir()
    shard.write_text("{not json")
    with pytest.raises(StoreCorrupt, match=shard.name):
        crm.list("people")
    with pytest.raises(StoreCorrupt, match=shard.name):
        crm.update("people", [RecordUpdate("1", {"job_title": "x"}, None)])
    assert shard.read_text() == "{not json"


def test_a_change_feed_overtaken_by_a_writer_goes_on_from_the_new_files(tmp_path):
    crm = LocalCrm(tmp_path, "main")
    crm.create("people", _people(1500))
    feed, _ = crm.changes("people", "0")  # the manifest is read now, the shards lazily
    crm.update("people", [RecordUpdate("1200", {"job_title": "new"}, None)])  # shard 1 replaced
    seen = {c.id: c for c in feed}
    assert len(seen) == 1500 and seen["1200"].fields["job_title"] == "new"
