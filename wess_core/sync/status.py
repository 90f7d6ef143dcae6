"""The status table and per-user sync state (vdirsyncer's "status").

One ``StatusRow`` per linked pair (a CRM record and a mailbox item that are the same
thing), keyed by a stable pair id. A row remembers what each side looked like when
the two last agreed: the CRM id, revision and content hash, the item id, changekey and
content hash. Comparing a side's current version with its row is how the engine tells
"changed" from "unchanged" and "our own write coming back" from "someone else's".

``FolderState`` is the state of one item type: the mailbox sync token, the CRM cursor,
the rows, and the ids whose last attempt failed (retried on the next run). A
``SyncState`` loads and saves folder states: ``StoreSyncState`` keeps them in the
user's store file ``state/<login>`` (one write per batch), ``MemorySyncState`` in memory.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tinydb import Query

from wess_core.store import Store, check_name_part

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
        self._by_crm[row.crm_id] = row
        self._by_item[row.item_id] = row

    def drop(self, pid: str) -> None:
        old = self.rows.pop(pid, None)
        if old is not None:
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
            "token": self.token,
            "cursor": self.cursor,
            # a flat copy: rows hold scalars only (dataclasses.asdict deep-copies, ~10x slower)
            "rows": {pid: dict(vars(r)) for pid, r in self.rows.items()},
            "retry_items": dict(self.retry_items),
            "retry_records": dict(self.retry_records),
            "held": copy.deepcopy(self.held),
            "ignored": dict(self.ignored),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FolderState:
        return cls(
            item_type=data["type"],
            token=data.get("token"),
            cursor=data.get("cursor"),
            rows={pid: StatusRow(**r) for pid, r in (data.get("rows") or {}).items()},
            retry_items=dict(data.get("retry_items") or {}),
            retry_records=dict(data.get("retry_records") or {}),
            held=copy.deepcopy(dict(data.get("held") or {})),
            ignored=dict(data.get("ignored") or {}),
        )

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
    document per item type). Each ``save`` is one atomic write of the file."""

    TABLE = "folders"

    def __init__(self, store: Store, login: str) -> None:
        self.store = store
        self.name = f"state/{check_name_part(login, 'login')}"

    def load(self, item_type: str) -> FolderState:
        if not self.store.exists(self.name):
            return FolderState(item_type)
        doc = self.store.read(self.name).table(self.TABLE).get(Query().type == item_type)
        return FolderState.from_dict(doc) if doc else FolderState(item_type)

    def save(self, state: FolderState) -> None:
        with self.store.write(self.name) as db:
            db.table(self.TABLE).upsert(state.to_dict(), Query().type == state.item_type)

    def item_types(self) -> list[str]:
        """Item types that have state."""
        if not self.store.exists(self.name):
            return []
        return sorted(d["type"] for d in self.store.read(self.name).table(self.TABLE).all())

    def reset(self, item_type: str | None = None) -> None:
        """Forget the state of one item type (or all): the next run lists both sides in
        full and re-links through the stored ids, without duplicating."""
        if not self.store.exists(self.name):
            return
        with self.store.write(self.name) as db:
            table = db.table(self.TABLE)
            if item_type is None:
                table.truncate()
            else:
                table.remove(Query().type == item_type)
