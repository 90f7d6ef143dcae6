"""The state database: each user's folder states in ``state/<login>.sqlite``.

Table ``folders`` holds each item type's small fields (token, cursor, retry lists, held
and ignored entries) as JSON; table ``rows`` the status rows, indexed by CRM id and item
id, so a run looks rows up a batch at a time (``status.SqliteRows``) and never holds the
table; table ``watch`` the user's pull-subscription record (``watch_record``). Why a
database and not a TinyDB file: see ``wess_core.sync.status``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from wess_core import safefile
from wess_core.errors import StoreError
from wess_core.store import LOCK_TIMEOUT_SECONDS, Store, check_name_part
from wess_core.sync.legacy_state import legacy_files, read_legacy_state
from wess_core.sync.status import ROW_FIELDS, FolderState, SqliteRows, StatusRow
from wess_core.sync.watch_record import WatchRecord
from wess_core.tables import sqlite_error

_INSERT_ROW = (
    f"INSERT OR REPLACE INTO rows (type, {', '.join(ROW_FIELDS)}) "
    f"VALUES ({', '.join('?' * (1 + len(ROW_FIELDS)))})"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS folders (type TEXT PRIMARY KEY, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    type TEXT NOT NULL, pair_id TEXT NOT NULL, crm_id TEXT NOT NULL, crm_rev,
    crm_hash TEXT, item_id TEXT NOT NULL, changekey TEXT, item_hash TEXT,
    PRIMARY KEY (type, pair_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rows_by_crm ON rows (type, crm_id);
CREATE INDEX IF NOT EXISTS rows_by_item ON rows (type, item_id);
PRAGMA user_version = 1;
"""

#: Each schema version's script, applied in order from the database's ``user_version``.
_MIGRATIONS = [
    _SCHEMA,
    """
CREATE TABLE IF NOT EXISTS watch (id INTEGER PRIMARY KEY CHECK (id = 1), record TEXT NOT NULL);
PRAGMA user_version = 2;
""",
]


class StateDb:
    """One connection to a state database; errors become one-line ``StoreError``s."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # SQLite opens by name: refuse a link (or another user's file) first; a new file
        # is created private (0600) from the start
        safefile.check_database(path)
        try:
            self.conn = sqlite3.connect(
                path, timeout=LOCK_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self.error(exc) from None
        with self.guard():
            self.conn.execute("PRAGMA synchronous = FULL")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            for script in _MIGRATIONS[version:]:
                self.conn.executescript(script)

    def error(self, exc: sqlite3.Error) -> StoreError:
        return sqlite_error(self.path, exc)

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self.error(exc) from None

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.guard():
            return self.conn.execute(sql, args).fetchall()

    def stream(self, sql: str, args: Sequence[Any] = (), size: int = 1000) -> Iterator[tuple]:
        """Rows of a query a chunk at a time (memory: one chunk)."""
        with self.guard():
            cursor = self.conn.execute(sql, args)
        while True:
            with self.guard():
                chunk = cursor.fetchmany(size)
            if not chunk:
                return
            yield from chunk

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All of it, durably, or nothing."""
        with self.guard():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    def __del__(self) -> None:  # the last state or rows object using it is gone
        if hasattr(self, "conn"):
            self.close()


class StoreSyncState:
    """A user's sync state in the database ``state/<login>.sqlite`` under the WESS home:
    table ``folders`` (each item type's token, cursor, retry lists, held and ignored
    entries, as JSON) and table ``rows`` (the status rows, indexed by CRM id and item id).

    A ``save`` is one transaction with the rows put or dropped since the last save and
    the folder's small fields, so saving after every batch costs what the batch changed.
    Loading never creates the file (a dry run writes nothing). A state kept in the older
    TinyDB file ``state/<login>.json`` (and its journal) is moved in on first use.
    """

    def __init__(self, store: Store, login: str) -> None:
        self.store = store
        self.name = f"state/{check_name_part(login, 'login')}"
        self.path = store.home / "state" / f"{login}.sqlite"
        self._db: StateDb | None = None
        #: Each item type's stored meta and row count, read for all types by the first
        #: load (a run loads every type: one query instead of two per type); a type's
        #: entry is used once, so a later load reads the database again.
        self._first_loads: dict[str, tuple[str | None, int]] | None = None

    def _open(self, create: bool) -> StateDb | None:
        if self._db is not None:
            return self._db
        legacy = [p for p in legacy_files(self.store, self.name) if p.exists()]
        if not (create or legacy or os.path.lexists(self.path)):
            return None
        self._db = StateDb(self.path)
        if legacy:
            self._move_legacy_in(self._db)
        return self._db

    def _move_legacy_in(self, db: StateDb) -> None:
        with self.store.lock(self.name):
            if not db.query("SELECT 1 FROM folders LIMIT 1"):
                docs = read_legacy_state(self.store, self.name)
                with db.transaction() as conn:
                    for doc in docs.values():
                        state = FolderState.from_dict(doc)
                        self._write(conn, state, whole=True)
            for path in legacy_files(self.store, self.name):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def close(self) -> None:
        """Close the database now (states loaded from it can no longer be used)."""
        if self._db is not None:
            self._db.close()
            self._db = None
        self._first_loads = None

    # -- SyncState ------------------------------------------------------------------

    def load(self, item_type: str) -> FolderState:
        db = self._open(create=False)
        if db is None:
            return FolderState(item_type)
        if self._first_loads is None:
            metas = dict(db.query("SELECT type, meta FROM folders"))
            counts = dict(db.query("SELECT type, COUNT(*) FROM rows GROUP BY type"))
            self._first_loads = {
                name: (metas.get(name), int(counts.get(name, 0))) for name in {*metas, *counts}
            }
            first = self._first_loads.pop(item_type, (None, 0))
        elif item_type in self._first_loads:
            first = self._first_loads.pop(item_type)
        else:
            found = db.query("SELECT meta FROM folders WHERE type = ?", (item_type,))
            first = (found[0][0] if found else None, None)
        text, count = first
        meta = json.loads(text) if text else {}
        rows = SqliteRows(db, item_type, count=count)
        return FolderState.from_dict({**meta, "type": item_type}, rows=rows)

    def save(self, state: FolderState) -> None:
        db = self._open(create=True)
        assert db is not None
        bound = isinstance(state.rows, SqliteRows) and state.rows.db is db
        with db.transaction() as conn:
            self._write(conn, state, whole=not bound)
        if bound:
            state.rows.saved()
        else:  # now in the database: look rows up there from here on
            state.rows = SqliteRows(db, state.item_type)

    @staticmethod
    def _write(conn: sqlite3.Connection, state: FolderState, whole: bool) -> None:
        item_type = state.item_type
        conn.execute(
            "INSERT OR REPLACE INTO folders (type, meta) VALUES (?, ?)",
            (item_type, json.dumps(state.meta(), separators=(",", ":"))),
        )
        if whole:
            conn.execute("DELETE FROM rows WHERE type = ?", (item_type,))
            rows: Iterator[StatusRow] = state.rows.all()
            conn.executemany(_INSERT_ROW, ((item_type, *vars(r).values()) for r in rows))
            return
        pending = state.rows.pending()
        gone = [(item_type, pid) for pid, row in pending.items() if row is None]
        conn.executemany("DELETE FROM rows WHERE type = ? AND pair_id = ?", gone)
        written = ((item_type, *vars(r).values()) for r in pending.values() if r)
        conn.executemany(_INSERT_ROW, written)

    def load_watch(self) -> WatchRecord:
        """The pull-subscription record (none yet: an empty one; no file is created)."""
        db = self._open(create=False)
        if db is None:
            return WatchRecord()
        found = db.query("SELECT record FROM watch WHERE id = 1")
        return WatchRecord.from_json(found[0][0] if found else None)

    def save_watch(self, record: WatchRecord) -> None:
        db = self._open(create=True)
        assert db is not None
        with db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO watch (id, record) VALUES (1, ?)", (record.to_json(),)
            )

    def item_types(self) -> list[str]:
        """Item types that have state."""
        db = self._open(create=False)
        if db is None:
            return []
        return [r[0] for r in db.query("SELECT type FROM folders ORDER BY type")]

    def reset(self, item_type: str | None = None) -> None:
        """Forget the state of one item type (or all): the next run lists both sides in
        full and re-links through the stored ids, without duplicating."""
        db = self._open(create=False)
        if db is None:
            return
        with db.transaction() as conn:
            if item_type is None:
                conn.execute("DELETE FROM rows")
                conn.execute("DELETE FROM folders")
                conn.execute("DELETE FROM watch")
            else:
                conn.execute("DELETE FROM rows WHERE type = ?", (item_type,))
                conn.execute("DELETE FROM folders WHERE type = ?", (item_type,))
