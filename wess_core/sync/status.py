"""The status table and per-user sync state (vdirsyncer's "status").

One ``StatusRow`` per linked pair (a CRM record and a mailbox item that are the same
thing), keyed by a stable pair id. A row remembers what each side looked like when
the two last agreed: the CRM id, revision and content hash, the item id, changekey and
content hash. Comparing a side's current version with its row is how the engine tells
"changed" from "unchanged" and "our own write coming back" from "someone else's".

``FolderState`` is the state of one item type: the mailbox sync token, the CRM cursor,
the rows, and the ids whose last attempt failed (retried on the next run). A
``SyncState`` loads and saves folder states: ``StoreSyncState`` keeps them in the
user's store file ``state/<login>`` (one journal append per batch), ``MemorySyncState`` in memory.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from wess_core.store import Store, check_name_part, load_json_file, write_json_atomic

STATE_VERSION = 1


def _clean(value: Any) -> Any:
    """Drop ``None`` values from dicts so "absent" and "empty" hash the same."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def content_hash(fields: Mapping[str, Any]) -> str:
    """A stable hash of field values (key order and ``None`` values don't matter)."""
    raw = json.dumps(_clean(fields), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def pair_id(side: str, ident: str) -> str:
    """A stable pair id derived from the id the pair was first seen under."""
    return "p" + hashlib.sha256(f"{side}:{ident}".encode()).hexdigest()[:20]


@dataclass
class StatusRow:
    """What both sides of one pair looked like when they last agreed."""

    pair_id: str
    crm_id: str
    crm_rev: int | str
    crm_hash: str
    item_id: str
    changekey: str
    item_hash: str


@dataclass
class FolderState:
    """Sync state of one item type; saved whole, once per batch."""

    item_type: str
    token: str | None = None
    cursor: str | None = None
    rows: dict[str, StatusRow] = field(default_factory=dict)
    #: Mailbox item ids / CRM ids whose change failed last run → re-read next run.
    retry_items: dict[str, str] = field(default_factory=dict)
    retry_records: dict[str, str] = field(default_factory=dict)
    #: Entries held for review (held deletes, ambiguous matches), by review id; see
    #: ``wess_core.sync.review``. Their items and records are not synced until decided.
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Mailbox item ids / CRM ids a person asked not to sync (``wess ignore``) → since.
    ignored: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reindex()
        #: Pair ids put or dropped since the last load or save (what a save must write).
        self.dirty: set[str] = set(self.rows)
        #: The stored generation this state was loaded from or saved to (``None``: not
        #: from a store; its first save writes it whole).
        self.base: str | None = None

    def reindex(self) -> None:
        self._by_crm = {r.crm_id: r for r in self.rows.values()}
        self._by_item = {r.item_id: r for r in self.rows.values()}

    def by_crm(self, crm_id: str) -> StatusRow | None:
        return self._by_crm.get(crm_id)

    def by_item(self, item_id: str) -> StatusRow | None:
        return self._by_item.get(item_id)

    def put(self, row: StatusRow) -> None:
        """Insert or replace a row (ids may have changed)."""
        self.drop(row.pair_id)
        self.rows[row.pair_id] = row
        self.dirty.add(row.pair_id)
        self._by_crm[row.crm_id] = row
        self._by_item[row.item_id] = row

    def drop(self, pid: str) -> None:
        old = self.rows.pop(pid, None)
        if old is not None:
            self.dirty.add(pid)
            if self._by_crm.get(old.crm_id) is old:
                del self._by_crm[old.crm_id]
            if self._by_item.get(old.item_id) is old:
                del self._by_item[old.item_id]

    def __iter__(self) -> Iterator[StatusRow]:
        return iter(list(self.rows.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.item_type,
            "version": STATE_VERSION,
            **self.meta(),
            # a flat copy: rows hold scalars only (dataclasses.asdict deep-copies, ~10x slower)
            "rows": {pid: dict(vars(r)) for pid, r in self.rows.items()},
        }

    def meta(self) -> dict[str, Any]:
        """Everything but the rows (small: saved whole with every change)."""
        return {
            "token": self.token,
            "cursor": self.cursor,
            "retry_items": dict(self.retry_items),
            "retry_records": dict(self.retry_records),
            "held": copy.deepcopy(self.held),
            "ignored": dict(self.ignored),
        }

    def changes(self) -> dict[str, dict[str, Any] | None]:
        """The rows put (their values) or dropped (``None``) since the last load or save."""
        out: dict[str, dict[str, Any] | None] = {}
        for pid in self.dirty:
            row = self.rows.get(pid)
            out[pid] = dict(vars(row)) if row is not None else None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FolderState:
        state = cls(
            item_type=data["type"],
            token=data.get("token"),
            cursor=data.get("cursor"),
            rows={pid: StatusRow(**r) for pid, r in (data.get("rows") or {}).items()},
            retry_items=dict(data.get("retry_items") or {}),
            retry_records=dict(data.get("retry_records") or {}),
            held=copy.deepcopy(dict(data.get("held") or {})),
            ignored=dict(data.get("ignored") or {}),
        )
        state.dirty.clear()
        return state

    def frozen_ids(self) -> tuple[set[str], set[str]]:
        """Item ids and CRM ids not synced now: ignored, or held without a decision.

        Ignoring or holding one side of a linked pair freezes the whole pair.
        """
        items: set[str] = set()
        records: set[str] = set()
        for entry in self.held.values():
            if entry.get("decision"):
                continue
            items.update(entry.get("items") or ())
            records.update(entry.get("records") or ())
        for ident in self.ignored:
            items.add(ident)
            records.add(ident)
            for row in (self.by_item(ident), self.by_crm(ident)):
                if row is not None:
                    items.add(row.item_id)
                    records.add(row.crm_id)
        return items, records


class SyncState(Protocol):
    """Where the engine loads and saves folder states."""

    def load(self, item_type: str) -> FolderState: ...

    def save(self, state: FolderState) -> None: ...


class MemorySyncState:
    """Folder states kept in memory (tests, dry runs). ``save`` stores a deep copy, so a
    run that dies keeps only what it saved, as with a file."""

    def __init__(self) -> None:
        self.saved: dict[str, dict[str, Any]] = {}
        self.saves = 0

    def load(self, item_type: str) -> FolderState:
        data = self.saved.get(item_type)
        return FolderState.from_dict(data) if data else FolderState(item_type)

    def save(self, state: FolderState) -> None:
        self.saved[state.item_type] = copy.deepcopy(state.to_dict())
        self.saves += 1


class StoreSyncState:
    """A user's sync state in the store file ``state/<login>`` (table ``folders``, one
    document per item type) and its journal ``state/<login>.journal``.

    A ``save`` appends one journal line (under the file's lock, fsynced) with the rows
    put or dropped since the last load or save and the folder's small fields (token,
    cursor, retry lists, held, ignored), so saving after every batch costs what the
    batch changed, not the whole status table. When the journal outgrows the snapshot
    (and ``JOURNAL_MIN_BYTES``) it is folded into a new snapshot: amortised, every byte
    is rewritten a bounded number of times. A state that did not come from this store
    (or from an older snapshot generation) is saved whole, the same way.
    """

    TABLE = "folders"
    GEN_TABLE = "journal"
    #: A journal smaller than this is never folded (small states stay one append a save).
    JOURNAL_MIN_BYTES = 256 * 1024

    def __init__(self, store: Store, login: str) -> None:
        self.store = store
        self.name = f"state/{check_name_part(login, 'login')}"
        #: (the snapshot's stat signature, its generation): no re-read to learn the gen.
        self._known: tuple[tuple[int, int, int], str] | None = None

    # -- the snapshot and its generation -------------------------------------------

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.store.path(self.name))
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _snapshot(self) -> tuple[dict[str, Any], str]:
        """The snapshot's raw tables and generation (``{}``, "" when there is none)."""
        sig = self._signature()
        raw = load_json_file(self.store.path(self.name)) if sig else None
        if not isinstance(raw, dict):
            return {}, ""
        gen_doc = (raw.get(self.GEN_TABLE) or {}).get("1") or {}
        gen = str(gen_doc.get("gen", ""))
        if sig is not None:
            self._known = (sig, gen)
        return raw, gen

    def _gen(self) -> str | None:
        """The current snapshot's generation, cheaply (``None``: no snapshot)."""
        sig = self._signature()
        if sig is None:
            return None
        if self._known is not None and self._known[0] == sig:
            return self._known[1]
        return self._snapshot()[1]

    def _folders(self) -> tuple[dict[str, dict[str, Any]], str]:
        """Every item type's stored document, journal applied; and the generation.

        Needs no lock: a fold replaces the snapshot before it drops the journal, so if
        the snapshot is the same after the journal was read, they belong together (lines
        appended meanwhile are only newer); otherwise it reads again.
        """
        while True:
            before = self._signature()
            raw, gen = self._snapshot()
            lines = self.store.read_journal(self.name) if raw else []
            if self._signature() == before:
                break
        docs = {d["type"]: d for d in (raw.get(self.TABLE) or {}).values() if "type" in d}
        for line in lines:
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
        return docs, gen

    def _write(self, docs: dict[str, dict[str, Any]]) -> str:
        """A new snapshot of ``docs`` with a new generation; the journal is dropped."""
        gen = secrets.token_hex(6)
        raw = {
            self.TABLE: {str(n): doc for n, doc in enumerate(docs.values(), 1)},
            self.GEN_TABLE: {"1": {"gen": gen}},
        }
        write_json_atomic(self.store.path(self.name), raw)
        self.store.drop_journal(self.name)
        sig = self._signature()
        self._known = (sig, gen) if sig else None
        return gen

    # -- SyncState ------------------------------------------------------------------

    def load(self, item_type: str) -> FolderState:
        docs, gen = self._folders()
        doc = docs.get(item_type)
        state = FolderState.from_dict(doc) if doc else FolderState(item_type)
        state.base = gen or None
        return state

    def save(self, state: FolderState) -> None:
        with self.store.lock(self.name):
            gen = self._gen()
            if gen is None or state.base != gen:  # not a change of what is stored: whole
                docs, _ = self._folders()
                docs[state.item_type] = state.to_dict()
                state.base = self._write(docs)
                state.dirty.clear()
                return
            line = {"g": gen, "type": state.item_type, "rows": state.changes(),
                    "meta": state.meta()}  # fmt: skip
            size = self.store.append_journal(self.name, [line])
            state.dirty.clear()
            assert self._known is not None
            if size > max(self.JOURNAL_MIN_BYTES, self._known[0][2]):
                docs, _ = self._folders()
                state.base = self._write(docs)

    def item_types(self) -> list[str]:
        """Item types that have state."""
        if not self.store.exists(self.name):
            return []
        docs, _ = self._folders()
        return sorted(docs)

    def reset(self, item_type: str | None = None) -> None:
        """Forget the state of one item type (or all): the next run lists both sides in
        full and re-links through the stored ids, without duplicating."""
        if not self.store.exists(self.name):
            return
        with self.store.lock(self.name):
            docs, _ = self._folders()
            if item_type is None:
                docs.clear()
            else:
                docs.pop(item_type, None)
            self._write(docs)
