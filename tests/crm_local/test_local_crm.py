"""The built-in local CRM's functions (what ``wess crm`` calls) and its plugin."""

from __future__ import annotations

import json

import pytest

from wess_core.errors import ValidationError
from wess_core.strategies import CrmBackend, NewRecord, RecordNotFound
from wess_plugins.crm_local import local
from wess_plugins.crm_local.local import LocalCrm


def test_add_update_delete_get_list(tmp_path):
    home = tmp_path
    a = local.add_record(home, "main", "people", {"first_name": "Ann", "email": "ann@x.org"})
    b = local.add_record(home, "main", "people", {"first_name": "Bob"})
    assert (a["id"], b["id"]) == ("1", "2")
    upd = local.update_record(home, "main", "people", a["id"], {"email": None, "phone": "1"})
    assert upd["fields"] == {"first_name": "Ann", "phone": "1"}
    assert upd["revision"] > a["revision"]
    assert local.get_record(home, "main", "people", "1")["fields"]["phone"] == "1"
    gone = local.delete_record(home, "main", "people", b["id"])
    assert gone["id"] == "2"
    listed = local.list_records(home, "main", "people")
    assert [r["id"] for r in listed] == ["1"]  # no tombstones
    assert set(listed[0]) >= {"id", "fields"}
    json.dumps(listed)
    with pytest.raises(RecordNotFound):
        local.get_record(home, "main", "people", "2")
    with pytest.raises(RecordNotFound):
        local.delete_record(home, "main", "people", "2")
    # the deletion is still visible to the sync
    changes, _ = LocalCrm(home, "main").changes("people", "0")
    assert {c.id: c.deleted for c in changes} == {"1": False, "2": True}


def test_revisions_are_monotonic_across_the_database(tmp_path):
    revs = [
        local.add_record(tmp_path, "main", t, {"subject": "x"})["revision"]
        for t in ("people", "meetings", "tasks", "people")
    ]
    assert revs == sorted(revs) and len(set(revs)) == 4


def test_databases_are_separate(tmp_path):
    assert local.create_database(tmp_path, "main") is True
    assert local.create_database(tmp_path, "main") is False
    local.add_record(tmp_path, "other", "people", {"first_name": "Ann"})
    assert local.list_records(tmp_path, "main", "people") == []
    assert LocalCrm(tmp_path, "other").exists() and LocalCrm(tmp_path, "main").exists()
    assert [r["id"] for r in local.list_records(tmp_path, "other", "people")] == ["1"]
    assert local.list_records(tmp_path, "never-made", "tasks") == []
    assert not LocalCrm(tmp_path, "never-made").exists()


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="record type"):
        local.add_record(tmp_path, "main", "planets", {"name": "Mars"})
    with pytest.raises(ValidationError):
        local.add_record(tmp_path, "main", "people", ["not", "an", "object"])
    with pytest.raises(ValidationError):
        local.add_record(tmp_path, "main", "people", {"": "empty name"})
    with pytest.raises(ValidationError):
        LocalCrm(tmp_path, "../escape")


def test_import_is_all_or_nothing(tmp_path):
    good = tmp_path / "people.json"
    good.write_text(json.dumps([{"first_name": "Ann"}, {"id": "9", "fields": {"first_name": "B"}}]))
    made = local.import_records(tmp_path, "main", "people", good)
    assert [r["fields"]["first_name"] for r in made] == ["Ann", "B"]
    assert [r["id"] for r in made] == ["1", "2"]  # new ids, the file's ignored
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"first_name": "C"}, "not a record"]))
    with pytest.raises(ValidationError, match="record 2"):
        local.import_records(tmp_path, "main", "people", bad)
    assert len(local.list_records(tmp_path, "main", "people")) == 2
    (tmp_path / "notjson.json").write_text("[{")  # ("{" alone: "must hold a JSON list")
    with pytest.raises(ValidationError, match="not a JSON file"):
        local.import_records(tmp_path, "main", "people", tmp_path / "notjson.json")
    (tmp_path / "object.json").write_text('{"first_name": "D"}')
    with pytest.raises(ValidationError, match="JSON list"):
        local.import_records(tmp_path, "main", "people", tmp_path / "object.json")


def test_emails_are_linked_to_people_by_address(tmp_path):
    ann = local.add_record(tmp_path, "main", "people", {"first_name": "Ann", "email": "Ann@X.org"})
    bob = local.add_record(tmp_path, "main", "people", {"first_name": "Bob", "email2": "bob@y.org"})
    crm = LocalCrm(tmp_path, "main")
    (mail,) = crm.create(
        "emails",
        [NewRecord({"subject": "hi", "from": "ann@x.org", "to": ["Bob <x>", "bob@y.org"]}, "E1")],
    )
    assert local.get_record(tmp_path, "main", "emails", mail.id)["people_ids"] == [
        ann["id"],
        bob["id"],
    ]
    carl = local.add_record(tmp_path, "main", "people", {"first_name": "Carl", "email": "c@z.org"})
    local.update_record(tmp_path, "main", "emails", mail.id, {"cc": ["c@z.org"]})
    assert carl["id"] in local.get_record(tmp_path, "main", "emails", mail.id)["people_ids"]
    local.delete_record(tmp_path, "main", "people", ann["id"])
    assert local.relink_emails(tmp_path, "main") == 1
    assert ann["id"] not in local.get_record(tmp_path, "main", "emails", mail.id)["people_ids"]


def test_the_plugin_registers_local(tmp_path):
    import wess_plugins.crm_local as plugin
    from wess_core.plugins import Registry

    registry = Registry("CRM backend")
    plugin.wess_register_crm_backends(register=registry.register)
    backend = registry.get("local")(tmp_path, "main")
    assert isinstance(backend, CrmBackend) and isinstance(backend, LocalCrm)


def test_a_record_types_cursor_moves_only_with_its_own_writes(tmp_path):
    """Writing people must not move the meetings cursor: the calendar's sync state would
    be rewritten by a run that found nothing to do."""
    crm = LocalCrm(tmp_path, "main")
    local.add_record(tmp_path, "main", "meetings", {"subject": "Review"})
    found, cursor = crm.changes("meetings", None)
    assert [c.fields["subject"] for c in found] == ["Review"]
    for n in range(3):
        local.add_record(tmp_path, "main", "people", {"first_name": f"P{n}"})
    found, again = crm.changes("meetings", cursor)
    assert list(found) == [] and again == cursor
    moved = local.add_record(tmp_path, "main", "meetings", {"subject": "Retro"})
    found, after = crm.changes("meetings", cursor)
    assert [c.id for c in found] == [moved["id"]] and after == str(moved["revision"])
    # a cursor from the database-wide counter (older WESS) is never moved backwards
    found, kept = crm.changes("meetings", str(moved["revision"] + 5))
    assert list(found) == [] and kept == str(moved["revision"] + 5)
