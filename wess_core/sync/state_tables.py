"""Each user's sync state in a shared database (``WESS_DATABASE_URL``): what the
embedded default keeps in ``state/<login>.sqlite`` (``wess_core.sync.state_db``), in the
tables ``sync_folders``, ``sync_rows`` and ``sync_watch``
(``wess_core.tables.store_schema``), so any machine can run any user's sync.

A save is one transaction under the user's own advisory lock (users' writers never wait
for each other) with the rows put or dropped since the last save and the folder's
small fields; ``save_with_ledger`` adds the batch's ledger entries to the same
transaction, so a state is never stored without its ledger entries, nor the reverse.
Rows are looked up a batch at a time (``DatabaseRows``), never the whole table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from wess_core.store import check_name_part
from wess_core.sync.status import ROW_FIELDS, FolderState, StatusRow, StoredRows
from wess_core.sync.watch_record import WatchRecord
from wess_core.tables.engine import Database
from wess_core.tables.postgresql import sync_state_lock
from wess_core.tables.store_schema import sync_folders, sync_rows, sync_watch

if TYPE_CHECKING:
    from wess_core.sync.ledger import StoreLedger

_ROW_COLUMNS = [sync_rows.c[name] for name in ROW_FIELDS]
#: Rows read per round trip when streaming a type's rows.
STREAM_CHUNK = 1000


class DatabaseRows(StoredRows):
    """One user's and item type's status rows in ``sync_rows``."""

    def __init__(self, db: Database, login: str, item_type: str, count: int | None = None) -> None:
        super().__init__(item_type, count)
        self.db = db
        self.login = login
        self._mine = sa.and_(sync_rows.c.login == login, sync_rows.c.item_type == item_type)

    def _find(self, column: str, value: str) -> list[StatusRow]:
        query = sa.select(*_ROW_COLUMNS).where(self._mine, sync_rows.c[column] == value)
        with self.db.read() as conn:
            return [StatusRow(*r) for r in conn.execute(query)]

    def prefetch(self, column: str, values: Sequence[str]) -> None:
        """The rows of a batch of ids in one query per 500 (a lookup is a round trip)."""
        todo = [v for v in dict.fromkeys(values) if not self.looked_up(column, v)]
        for start in range(0, len(todo), 500):
            chunk = todo[start : start + 500]
            found: dict[str, list[StatusRow]] = {value: [] for value in chunk}
            query = sa.select(*_ROW_COLUMNS).where(self._mine, sync_rows.c[column].in_(chunk))
            with self.db.read() as conn:
                for stored in conn.execute(query):
                    row = StatusRow(*stored)
                    found.setdefault(getattr(row, column), []).append(row)
            self.remember(column, found)

    def _count_stored(self) -> int:
        query = sa.select(sa.func.count()).select_from(sync_rows).where(self._mine)
        with self.db.read() as conn:
            return int(conn.scalar(query) or 0)

    def _existing(self, pids: Sequence[str]) -> set[str]:
        query = sa.select(sync_rows.c.pair_id).where(self._mine, sync_rows.c.pair_id.in_(pids))
        with self.db.read() as conn:
            return set(conn.scalars(query))

    def _stream(self) -> Iterator[StatusRow]:
        """By pair id, a chunk per query (keyset pagination: no cursor held open)."""
        after = ""
        while True:
            query = (
                sa.select(*_ROW_COLUMNS)
                .where(self._mine, sync_rows.c.pair_id > after)
                .order_by(sync_rows.c.pair_id)
                .limit(STREAM_CHUNK)
            )
            with self.db.read() as conn:
                chunk = [StatusRow(*r) for r in conn.execute(query)]
            yield from chunk
            if len(chunk) < STREAM_CHUNK:
                return
            after = chunk[-1].pair_id


class DatabaseSyncState:
    """A user's sync state in the shared database: ``StoreSyncState``'s interface
    (``wess_core.sync.state_db``); ``database`` gives the database when first needed."""

    def __init__(self, database: Callable[[], Database], login: str) -> None:
        self._database = database
        self.login = check_name_part(login, "login")
        self._db: Database | None = None
        #: Each item type's stored meta and row count, read for all types by the first
        #: load (as ``StoreSyncState`` does); a type's entry is used once.
        self._first_loads: dict[str, tuple[Any, int]] | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = self._database()
        return self._db

    def _folders(self) -> sa.ColumnElement[bool]:
        return sync_folders.c.login == self.login

    def close(self) -> None:
        """Nothing held open (connections go back to the pool after each query)."""
        self._first_loads = None

    # -- SyncState ------------------------------------------------------------------

    def load(self, item_type: str) -> FolderState:
        if self._first_loads is None:
            with self.db.read() as conn:
                metas = dict(
                    conn.execute(
                        sa.select(sync_folders.c.item_type, sync_folders.c.meta).where(
                            self._folders()
                        )
                    ).all()
                )
                counts = dict(
                    conn.execute(
                        sa.select(sync_rows.c.item_type, sa.func.count())
                        .where(sync_rows.c.login == self.login)
                        .group_by(sync_rows.c.item_type)
                    ).all()
                )
            self._first_loads = {
                name: (metas.get(name), int(counts.get(name, 0))) for name in {*metas, *counts}
            }
            meta, count = self._first_loads.pop(item_type, (None, 0))
        elif item_type in self._first_loads:
            meta, count = self._first_loads.pop(item_type)
        else:
            query = sa.select(sync_folders.c.meta).where(
                self._folders(), sync_folders.c.item_type == item_type
            )
            with self.db.read() as conn:
                meta, count = conn.scalar(query), None
        rows = DatabaseRows(self.db, self.login, item_type, count=count)
        return FolderState.from_dict({**(meta or {}), "type": item_type}, rows=rows)

    def save(self, state: FolderState) -> None:
        self.save_with_ledger(state, None, [])

    def save_with_ledger(
        self,
        state: FolderState | None,
        ledger: StoreLedger | None,
        entries: list[dict[str, Any]],
    ) -> None:
        """The folder's state (None: unchanged) and ``ledger``'s ``entries``, in one
        transaction: both or neither."""
        if state is None and not (ledger is not None and entries):
            return
        bound = (
            state is not None
            and isinstance(state.rows, DatabaseRows)
            and state.rows.db is self.db
            and state.rows.login == self.login
        )
        with self.db.write(sync_state_lock(self.login)) as conn:
            if state is not None:
                self._write(conn, state, whole=not bound)
            if ledger is not None and entries:
                ledger.write_in(conn, entries)
        if state is None:
            return
        if bound:
            state.rows.saved()
        else:  # now in the database: look rows up there from here on
            state.rows = DatabaseRows(self.db, self.login, state.item_type)

    def _write(self, conn: Connection, state: FolderState, whole: bool) -> None:
        item_type = state.item_type
        upsert = pg_insert(sync_folders).values(
            login=self.login, item_type=item_type, meta=state.meta()
        )
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[sync_folders.c.login, sync_folders.c.item_type],
                set_={"meta": upsert.excluded.meta},
            )
        )
        mine = sa.and_(sync_rows.c.login == self.login, sync_rows.c.item_type == item_type)
        if whole:
            conn.execute(sa.delete(sync_rows).where(mine))
            self._insert_rows(conn, item_type, state.rows.all())
            return
        pending = state.rows.pending()
        gone = [pid for pid, row in pending.items() if row is None]
        for start in range(0, len(gone), 500):
            chunk = gone[start : start + 500]
            conn.execute(sa.delete(sync_rows).where(mine, sync_rows.c.pair_id.in_(chunk)))
        self._insert_rows(conn, item_type, (r for r in pending.values() if r))

    def _insert_rows(self, conn: Connection, item_type: str, rows: Iterator[StatusRow]) -> None:
        """Insert or replace ``rows``, a thousand per statement."""
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append({"login": self.login, "item_type": item_type, **vars(row)})
            if len(chunk) >= 1000:
                self._upsert(conn, chunk)
                chunk = []
        if chunk:
            self._upsert(conn, chunk)

    @staticmethod
    def _upsert(conn: Connection, chunk: list[dict[str, Any]]) -> None:
        upsert = pg_insert(sync_rows)
        replaced = {name: upsert.excluded[name] for name in ROW_FIELDS if name != "pair_id"}
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[sync_rows.c.login, sync_rows.c.item_type, sync_rows.c.pair_id],
                set_=replaced,
            ),
            chunk,
        )

    def load_watch(self) -> WatchRecord:
        """The pull-subscription record (none yet: an empty one)."""
        query = sa.select(sync_watch.c.record).where(sync_watch.c.login == self.login)
        with self.db.read() as conn:
            return WatchRecord.from_json(conn.scalar(query))

    def save_watch(self, record: WatchRecord) -> None:
        upsert = pg_insert(sync_watch).values(login=self.login, record=record.to_json())
        with self.db.write(sync_state_lock(self.login)) as conn:
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[sync_watch.c.login], set_={"record": upsert.excluded.record}
                )
            )

    def item_types(self) -> list[str]:
        """Item types that have state."""
        query = (
            sa.select(sync_folders.c.item_type)
            .where(self._folders())
            .order_by(sync_folders.c.item_type)
        )
        with self.db.read() as conn:
            return list(conn.scalars(query))

    def reset(self, item_type: str | None = None) -> None:
        """Forget the state of one item type (or all): the next run lists both sides in
        full and re-links through the stored ids, without duplicating."""
        rows = sync_rows.c.login == self.login
        folders = self._folders()
        if item_type is not None:
            rows = sa.and_(rows, sync_rows.c.item_type == item_type)
            folders = sa.and_(folders, sync_folders.c.item_type == item_type)
        with self.db.write(sync_state_lock(self.login)) as conn:
            conn.execute(sa.delete(sync_rows).where(rows))
            conn.execute(sa.delete(sync_folders).where(folders))
            if item_type is None:
                conn.execute(sa.delete(sync_watch).where(sync_watch.c.login == self.login))

    def replace(self, states: Iterable[FolderState], watch: WatchRecord | None) -> None:
        """The whole state, in one transaction: these folder states (rows and all) and
        watch record, nothing else (``wess migrate`` copying a user's file: a copy
        killed mid-way leaves the user as before or as the file, never half)."""
        with self.db.write(sync_state_lock(self.login)) as conn:
            conn.execute(sa.delete(sync_rows).where(sync_rows.c.login == self.login))
            conn.execute(sa.delete(sync_folders).where(self._folders()))
            conn.execute(sa.delete(sync_watch).where(sync_watch.c.login == self.login))
            states = list(states)  # their rows are read as they are written
            if states:
                folders = [
                    {"login": self.login, "item_type": s.item_type, "meta": s.meta()}
                    for s in states
                ]
                conn.execute(sa.insert(sync_folders), folders)
            for state in states:
                self._insert_rows(conn, state.item_type, state.rows.all())
            if watch is not None:
                conn.execute(sa.insert(sync_watch).values(login=self.login, record=watch.to_json()))
