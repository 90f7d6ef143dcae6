"""Held entries are typed (``HeldEntry``) and stored as WESS always stored them: an
entry an older WESS wrote loads, and is written back in the same shape."""

from __future__ import annotations

import json

from wess_core.store import Store
from wess_core.sync.held import HeldEntry
from wess_core.sync.status import FolderState, StoreSyncState

OLD_DELETE = {
    "id": "d1234567",
    "kind": "delete",
    "item_type": "contacts",
    "side": "crm",
    "pair_id": "p0123",
    "items": ["AAMk1"],
    "records": ["7"],
    "summaries": {"7": "Ann Lee"},
    "reason": "12 deletions on the crm side, more than 5",
    "decision": {"action": "approve", "by": "admin", "admin": True, "time": "2026-01-01"},
    "since": "2026-01-01T10:00:00+00:00",
}
OLD_AMBIGUOUS = {
    "id": "m7654321",
    "kind": "ambiguous",
    "item_type": "contacts",
    "key": "email ann@example.com",
    "items": ["AAMk2"],
    "records": ["8", "9"],
    "summaries": {"AAMk2": "Ann", "8": "Ann", "9": "Annie"},
    "reason": "2 CRM record(s) and 1 Exchange item(s) share email ann@example.com",
    "decision": None,
    "since": "2026-01-02T10:00:00+00:00",
}


def test_entries_an_older_wess_stored_load_typed_and_save_unchanged(tmp_path):
    store = Store(tmp_path)
    old = {
        "type": "contacts",
        "token": "t",
        "held": {"d1234567": OLD_DELETE, "m7654321": OLD_AMBIGUOUS},
    }
    StoreSyncState(store, "alice").save(FolderState.from_dict(old))
    state = StoreSyncState(store, "alice").load("contacts")
    delete, ambiguous = state.held["d1234567"], state.held["m7654321"]
    assert (delete.kind, delete.side, delete.item_id, delete.crm_id) == (
        "delete",
        "crm",
        "AAMk1",
        "7",
    )
    assert delete.action == "approve" and ambiguous.action is None
    assert ambiguous.key == "email ann@example.com" and ambiguous.records == ["8", "9"]
    stored = json.loads(json.dumps(state.meta()))["held"]
    assert stored == {"d1234567": OLD_DELETE, "m7654321": OLD_AMBIGUOUS}


def test_a_decision_set_as_a_stored_field_is_kept():
    entry = HeldEntry.from_dict(OLD_AMBIGUOUS)
    entry["decision"] = {"action": "reject"}
    assert entry.action == "reject" and entry.get("decision") == {"action": "reject"}
    assert FolderState("contacts", held={entry.id: entry}).frozen_ids() == (set(), set())
