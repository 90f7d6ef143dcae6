"""The status table and per-user sync state (vdirsyncer's "status").

One ``StatusRow`` per linked pair (a CRM record and a mailbox item that are the same
thing), keyed by a stable pair id. A row remembers what each side looked like when
the two last agreed: the CRM id, revision and content hash, the item id, changekey and
content hash. Comparing a side's current version with its row is how the engine tells
"changed" from "unchanged" and "our own write coming back" from "someone else's".

``FolderState`` is the state of one item type: the mailbox sync token, the CRM cursor,
the rows, and the ids whose last attempt failed (retried on the next run). A
``SyncState`` loads and saves folder states: ``StoreSyncState`` keeps them in the user's
state database ``state/<login>.sqlite`` (``wess_core.sync.state_db``),
``DatabaseSyncState`` in a shared database (``wess_core.sync.state_tables``),
``MemorySyncState`` in memory.

Why a database and not a TinyDB file like the rest of the home: the engine looks rows up
by item id and by CRM id, a page at a time. A TinyDB file is read whole for any lookup,
so a 100,000-item folder would hold its whole status table in memory for every run; the
status table is an index, and SQLite (in the standard library) keeps it on disk with
two indexes, so a run holds only the rows of the batch it is working on. Each save is
one transaction (rows of the batch + the folder's small fields), durable on return.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

from wess_core.sync.held import HeldEntry, held_entries
from wess_core.sync.watch_record import WatchRecord

if TYPE_CHECKING:
    from wess_core.sync.state_db import StateDb

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


#: The rows table's columns are StatusRow's fields, in order (``StatusRow(*values)``).
#: The status row's columns, as every stored form names them.
ROW_FIELDS = [f.name for f in fields(StatusRow)]
_COLUMNS = ", ".join(ROW_FIELDS)
#: Rows looked up and kept until the next save (a cache, so memory stays a batch's worth).
_LOOKUPS_KEPT = 4096
_INDEXES = {"crm_id": "INDEXED BY rows_by_crm", "item_id": "INDEXED BY rows_by_item"}


def _row_dict(row: StatusRow) -> dict[str, Any]:
    # a flat copy: rows hold scalars only (dataclasses.asdict deep-copies, ~10x slower)
    return dict(vars(row))


class MemoryRows(Mapping[str, StatusRow]):
    """Status rows in dicts, indexed by CRM id and item id (tests, dry runs, new states)."""

    def __init__(self, rows: Mapping[str, StatusRow] | None = None) -> None:
        self._rows: dict[str, StatusRow] = dict(rows or {})
        self._by_crm = {r.crm_id: r for r in self._rows.values()}
        self._by_item = {r.item_id: r for r in self._rows.values()}
        #: Pair ids put (their row) or dropped (``None``) since the last save.
        self._pending: dict[str, StatusRow | None] = {pid: r for pid, r in self._rows.items()}

    def __getitem__(self, pid: str) -> StatusRow:
        return self._rows[pid]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._rows))

    def __len__(self) -> int:
        return len(self._rows)

    def all(self) -> Iterator[StatusRow]:
        """Every row (a snapshot: the caller may put and drop meanwhile)."""
        return iter(list(self._rows.values()))

    def by_crm(self, crm_id: str) -> StatusRow | None:
        return self._by_crm.get(crm_id)

    def by_item(self, item_id: str) -> StatusRow | None:
        return self._by_item.get(item_id)

    def put(self, row: StatusRow) -> None:
        self.drop(row.pair_id)
        self._rows[row.pair_id] = row
        self._pending[row.pair_id] = row
        self._by_crm[row.crm_id] = row
        self._by_item[row.item_id] = row

    def drop(self, pid: str) -> None:
        old = self._rows.pop(pid, None)
        if old is not None:
            self._pending[pid] = None
            if self._by_crm.get(old.crm_id) is old:
                del self._by_crm[old.crm_id]
            if self._by_item.get(old.item_id) is old:
                del self._by_item[old.item_id]

    def pending(self) -> dict[str, StatusRow | None]:
        return self._pending

    def prefetch(self, column: str, values: Sequence[str]) -> None:
        """Nothing to read ahead: every row is in memory."""

    def saved(self) -> None:
        self._pending = {}


class StoredRows(Mapping[str, StatusRow]):
    """Status rows in a database, with the changes not saved yet on top.

    Memory holds the pending changes (a batch's worth: a save clears them) and at most
    ``_LOOKUPS_KEPT`` rows looked up, never the table. Where the rows are stored is a
    subclass's four queries (``SqliteRows``: the user's state file;
    ``wess_core.sync.state_tables.DatabaseRows``: a shared database).
    """

    def __init__(self, item_type: str, count: int | None = None) -> None:
        self.item_type = item_type
        self._pending: dict[str, StatusRow | None] = {}
        self._pending_item: dict[str, str] = {}
        self._pending_crm: dict[str, str] = {}
        self._looked_up: dict[tuple[str, str], list[StatusRow]] = {}
        #: Rows stored for the type (None: count them when asked).
        self._count: int | None = count

    # -- the queries --------------------------------------------------------------------

    def _find(self, column: str, value: str) -> list[StatusRow]:
        """Stored rows whose ``column`` (pair_id, crm_id, item_id) is ``value``."""
        raise NotImplementedError

    def _count_stored(self) -> int:
        raise NotImplementedError

    def _existing(self, pids: Sequence[str]) -> set[str]:
        """Which of ``pids`` (at most 500) are stored."""
        raise NotImplementedError

    def _stream(self) -> Iterator[StatusRow]:
        """Every stored row by pair id, a chunk at a time."""
        raise NotImplementedError

    # -- the rows -----------------------------------------------------------------------

    def _stored(self, column: str, value: str) -> list[StatusRow]:
        key = (column, value)
        found = self._looked_up.get(key)
        if found is None:
            if len(self._looked_up) >= _LOOKUPS_KEPT:  # a cache: bounded, not the table
                self._looked_up.clear()
            found = self._looked_up[key] = self._find(column, value)
        return found

    def prefetch(self, column: str, values: Sequence[str]) -> None:
        """Look up the rows of a batch of ids (``crm_id``, ``item_id``) ahead: nothing
        here (a local lookup costs microseconds); a store that pays a round trip per
        query reads them in one (``remember`` puts them where the lookups read)."""

    def remember(self, column: str, found: Mapping[str, list[StatusRow]]) -> None:
        """Rows looked up ahead by ``column`` value (an empty list: none), into the
        bounded cache the single lookups read."""
        if len(self._looked_up) + len(found) > _LOOKUPS_KEPT:
            self._looked_up.clear()
        for value, rows in list(found.items())[:_LOOKUPS_KEPT]:
            self._looked_up[(column, value)] = rows

    def looked_up(self, column: str, value: str) -> bool:
        return (column, value) in self._looked_up

    def _visible(self, rows: list[StatusRow]) -> StatusRow | None:
        return next((r for r in rows if r.pair_id not in self._pending), None)

    def __getitem__(self, pid: str) -> StatusRow:
        if pid in self._pending:
            row = self._pending[pid]
        else:
            row = next(iter(self._stored("pair_id", pid)), None)
        if row is None:
            raise KeyError(pid)
        return row

    def __iter__(self) -> Iterator[str]:
        return (row.pair_id for row in self.all())

    def __len__(self) -> int:
        if self._count is None:
            self._count = self._count_stored()
        stored = self._stored_pids(list(self._pending))
        count = self._count
        for pid, row in self._pending.items():
            if row is None and pid in stored:
                count -= 1
            elif row is not None and pid not in stored:
                count += 1
        return count

    def _stored_pids(self, pids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(pids), 500):
            found.update(self._existing(pids[start : start + 500]))
        return found

    def all(self) -> Iterator[StatusRow]:
        """Every row, streamed from the database a chunk at a time."""
        pending = dict(self._pending)
        for row in pending.values():
            if row is not None:
                yield row
        for row in self._stream():
            if row.pair_id not in pending:
                yield row

    def by_crm(self, crm_id: str) -> StatusRow | None:
        row = self._pending.get(self._pending_crm.get(crm_id, ""))
        if row is not None and row.crm_id == crm_id:
            return row
        return self._visible(self._stored("crm_id", crm_id))

    def by_item(self, item_id: str) -> StatusRow | None:
        row = self._pending.get(self._pending_item.get(item_id, ""))
        if row is not None and row.item_id == item_id:
            return row
        return self._visible(self._stored("item_id", item_id))

    def put(self, row: StatusRow) -> None:
        self._pending[row.pair_id] = row
        self._pending_item[row.item_id] = row.pair_id
        self._pending_crm[row.crm_id] = row.pair_id

    def drop(self, pid: str) -> None:
        if pid in self:
            self._pending[pid] = None

    def pending(self) -> dict[str, StatusRow | None]:
        return self._pending

    def saved(self) -> None:
        self._pending, self._pending_item, self._pending_crm = {}, {}, {}
        self._looked_up.clear()
        self._count = None


class SqliteRows(StoredRows):
    """Status rows in the user's state database (``wess_core.sync.state_db``)."""

    def __init__(self, db: StateDb, item_type: str, count: int | None = None) -> None:
        super().__init__(item_type, count)
        self.db = db

    def _find(self, column: str, value: str) -> list[StatusRow]:
        # without statistics SQLite would scan the primary key's (type=?) range instead
        index = _INDEXES.get(column, "")
        sql = f"SELECT {_COLUMNS} FROM rows {index} WHERE type = ? AND {column} = ?"
        return [StatusRow(*r) for r in self.db.query(sql, (self.item_type, value))]

    def _count_stored(self) -> int:
        sql = "SELECT COUNT(*) FROM rows WHERE type = ?"
        return int(self.db.query(sql, (self.item_type,))[0][0])

    def _existing(self, pids: Sequence[str]) -> set[str]:
        marks = ",".join("?" * len(pids))
        sql = f"SELECT pair_id FROM rows WHERE type = ? AND pair_id IN ({marks})"
        return {r[0] for r in self.db.query(sql, (self.item_type, *pids))}

    def _stream(self) -> Iterator[StatusRow]:
        sql = f"SELECT {_COLUMNS} FROM rows WHERE type = ? ORDER BY pair_id"
        for values in self.db.stream(sql, (self.item_type,)):
            yield StatusRow(*values)


Rows = MemoryRows | StoredRows


@dataclass
class FolderState:
    """Sync state of one item type; saved once per batch (the rows that batch changed)."""

    item_type: str
    token: str | None = None
    cursor: str | None = None
    rows: Rows = field(default_factory=MemoryRows)
    #: Mailbox item ids / CRM ids whose change failed last run → re-read next run.
    retry_items: dict[str, str] = field(default_factory=dict)
    retry_records: dict[str, str] = field(default_factory=dict)
    #: Entries held for review (held deletes, ambiguous matches), by review id; see
    #: ``wess_core.sync.review``. Their items and records are not synced until decided.
    held: dict[str, HeldEntry] = field(default_factory=dict)
    #: Mailbox item ids / CRM ids a person asked not to sync (``wess ignore``) → since.
    ignored: dict[str, str] = field(default_factory=dict)
    #: Whose ids the rows hold: the transport's ``id_space`` ("ews", "graph") when they
    #: were written; ``None`` before transports declared one (then: EWS ids).
    id_space: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.rows, MemoryRows | StoredRows):
            self.rows = MemoryRows(self.rows)
        self.held = held_entries(self.held)

    def by_crm(self, crm_id: str) -> StatusRow | None:
        return self.rows.by_crm(crm_id)

    def by_item(self, item_id: str) -> StatusRow | None:
        return self.rows.by_item(item_id)

    def prefetch(self, item_ids: Iterable[str] = (), crm_ids: Iterable[str] = ()) -> None:
        """Read ahead the rows a batch of ids will look up (one query per batch where
        each query is a round trip; nothing in memory)."""
        items, records = list(item_ids), list(crm_ids)
        if items:
            self.rows.prefetch("item_id", items)
        if records:
            self.rows.prefetch("crm_id", records)

    def put(self, row: StatusRow) -> None:
        """Insert or replace a row (ids may have changed)."""
        self.rows.put(row)

    def drop(self, pid: str) -> None:
        self.rows.drop(pid)

    @property
    def dirty(self) -> set[str]:
        """Pair ids put or dropped since the last load or save (what a save must write)."""
        return set(self.rows.pending())

    def __iter__(self) -> Iterator[StatusRow]:
        return self.rows.all()

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.item_type,
            "version": STATE_VERSION,
            **self.meta(),
            "rows": {r.pair_id: _row_dict(r) for r in self.rows.all()},
        }

    def meta(self) -> dict[str, Any]:
        """Everything but the rows (small: saved whole with every change)."""
        return {
            "token": self.token,
            "cursor": self.cursor,
            "retry_items": dict(self.retry_items),
            "retry_records": dict(self.retry_records),
            "held": {rid: entry.to_dict() for rid, entry in self.held.items()},
            "ignored": dict(self.ignored),
            "id_space": self.id_space,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], rows: Rows | None = None) -> FolderState:
        if rows is None:
            rows = MemoryRows({pid: StatusRow(**r) for pid, r in (data.get("rows") or {}).items()})
            rows.saved()
        return cls(
            item_type=data["type"],
            token=data.get("token"),
            cursor=data.get("cursor"),
            rows=rows,
            retry_items=dict(data.get("retry_items") or {}),
            retry_records=dict(data.get("retry_records") or {}),
            held=held_entries(data.get("held")),
            ignored=dict(data.get("ignored") or {}),
            id_space=data.get("id_space"),
        )

    def frozen_ids(self) -> tuple[set[str], set[str]]:
        """Item ids and CRM ids not synced now: ignored, or held without a decision.

        Ignoring or holding one side of a linked pair freezes the whole pair.
        """
        items: set[str] = set()
        records: set[str] = set()
        for entry in self.held.values():
            if entry.decision:
                continue
            items.update(entry.items)
            records.update(entry.records)
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
        #: The pull-subscription record as stored (``WatchRecord.to_json``).
        self.watch: str | None = None

    def load(self, item_type: str) -> FolderState:
        data = self.saved.get(item_type)
        return FolderState.from_dict(data) if data else FolderState(item_type)

    def save(self, state: FolderState) -> None:
        self.saved[state.item_type] = copy.deepcopy(state.to_dict())
        state.rows.saved()
        self.saves += 1

    def load_watch(self) -> WatchRecord:
        return WatchRecord.from_json(self.watch)

    def save_watch(self, record: WatchRecord) -> None:
        self.watch = record.to_json()
