"""Reading a user's sync state as WESS stored it before the state database.

Up to then ``state/<login>.json`` (a TinyDB file, table ``folders``: one document per item
type) held the state, with its changes appended to ``state/<login>.journal``, each line
tagged with the snapshot's generation (table ``journal``). ``StoreSyncState`` moves such a
state into its database once, then removes both files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wess_core.store import Store
from wess_core.tables.legacy import journal_path, read_generation

STATE_VERSION = 1
_TABLE = "folders"


def read_legacy_state(store: Store, name: str) -> dict[str, dict[str, Any]]:
    """Every item type's document (journal applied), keyed by item type; ``{}`` if none."""
    stored, lines = read_generation(store.path(name), _TABLE)
    docs = {d["type"]: d for d in stored if "type" in d}
    for line in lines:
        doc = docs.get(line["type"])
        if doc is None:
            doc = docs[line["type"]] = {"type": line["type"], "version": STATE_VERSION, "rows": {}}
        rows = doc.setdefault("rows", {})
        for pid, row in line["rows"].items():
            if row is None:
                rows.pop(pid, None)
            else:
                rows[pid] = row
        doc.update(line["meta"])
    return docs


def legacy_files(store: Store, name: str) -> list[Path]:
    return [store.path(name), journal_path(store.path(name))]
