"""Reading a user's sync state as WESS stored it before the state database.

Up to then ``state/<login>.json`` (a TinyDB file, table ``folders``: one document per item
type) held the state, with its changes appended to ``state/<login>.journal``, each line
tagged with the snapshot's generation (table ``journal``). ``StoreSyncState`` moves such a
state into its database once, then removes both files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wess_core.store import Store, load_json_file

STATE_VERSION = 1
_TABLE, _GEN_TABLE = "folders", "journal"


def read_legacy_state(store: Store, name: str) -> dict[str, dict[str, Any]]:
    """Every item type's document (journal applied), keyed by item type; ``{}`` if none."""
    raw = load_json_file(store.path(name))
    if not isinstance(raw, dict):
        return {}
    gen = str(((raw.get(_GEN_TABLE) or {}).get("1") or {}).get("gen", ""))
    docs = {d["type"]: d for d in (raw.get(_TABLE) or {}).values() if "type" in d}
    for line in store.read_journal(name):
        if line.get("g") != gen:
            continue  # left by a crash between a fold and the journal's removal
        doc = docs.get(line["type"])
        if doc is None:
            doc = docs[line["type"]] = {"type": line["type"], "version": STATE_VERSION,
                                        "rows": {}}  # fmt: skip
        rows = doc.setdefault("rows", {})
        for pid, row in line["rows"].items():
            if row is None:
                rows.pop(pid, None)
            else:
                rows[pid] = row
        doc.update(line["meta"])
    return docs


def legacy_files(store: Store, name: str) -> list[Path]:
    return [store.path(name), store.journal_path(name)]
