"""The built-in CRM's tables in the home's database (``wess_core.tables``).

``crm_databases`` holds each CRM database's revision counter; ``crm_records`` every
record of every database and type, tombstones included, as the document the CRM keeps
(revision, fields, exchange id, deleted, modified, linked people), indexed by revision
so ``changes`` reads only what is newer than a cursor, a page at a time.

``Transaction`` is one write transaction on a CRM database: writes are buffered and sent
in batches of ``CHUNK`` (an import of any size holds one batch in memory), and the
counter is stored at the end, all in the database's one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wess_core import safefile
from wess_core.store import load_json_file
from wess_core.tables import Database, plugin_tables

Doc = dict[str, Any]
#: Rows sent or read per statement.
CHUNK = 1000

metadata = sa.MetaData()
databases = sa.Table(
    "crm_databases",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
)
records = sa.Table(
    "crm_records",
    metadata,
    sa.Column("db", sa.String(128), sa.ForeignKey("crm_databases.name"), primary_key=True),
    sa.Column("type", sa.String(32), primary_key=True),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("doc", sa.JSON, nullable=False),
    sa.Index("crm_records_by_revision", "db", "type", "revision"),
    sqlite_with_rowid=False,
)


def _create(conn: Connection, _home: Path | None) -> None:
    metadata.create_all(conn)


def _legacy_docs(manifest: Path) -> tuple[int, dict[str, dict[str, Doc]], list[Path]]:
    """A database as the shard engine stored it: its counter, its documents by table and
    id, and the files read (the manifest, its shard files, their folder)."""
    raw = load_json_file(manifest) or {}
    folder = manifest.with_name(manifest.stem + ".d")
    safefile.check_existing(folder)  # its files are opened by name: not through a link
    revision = int(((raw.get("meta") or {}).get("1") or {}).get("revision") or 0)
    tables: dict[str, dict[str, Doc]] = {}
    read = [manifest]
    if "shards" in raw or "tables" in raw:
        for entry in (raw.get("shards") or {}).values():
            path = folder / entry["file"]
            tables.setdefault(entry["table"], {}).update(
                (load_json_file(path) or {}).get("records") or {}
            )
            read.append(path)
    else:  # from before shards: the tables inline
        for table, docs in raw.items():
            if table != "meta" and isinstance(docs, dict):
                tables[table] = docs
    return revision, tables, [*read, folder]


def _import_legacy(conn: Connection, home: Path | None) -> list[Path]:
    """Every database under ``crm/`` as an older WESS stored it, into the tables."""
    folder = home / "crm" if home is not None else None
    if folder is None or not folder.is_dir():
        return []
    read: list[Path] = []
    for manifest in sorted(folder.glob("*.json")):
        revision, tables, files = _legacy_docs(manifest)
        conn.execute(sa.insert(databases).values(name=manifest.stem, revision=revision))
        rows = [
            _row(manifest.stem, table, int(key), doc)
            for table, docs in tables.items()
            for key, doc in docs.items()
        ]
        for start in range(0, len(rows), CHUNK):
            conn.execute(sa.insert(records), rows[start : start + CHUNK])
        read += files
    return [*read, folder]


STEPS = (_create, _import_legacy)


def crm_tables(home: str | Path) -> Database:
    return plugin_tables(home, "crm_local", STEPS)


def _row(database: str, table: str, doc_id: int, doc: Doc) -> dict[str, Any]:
    return {
        "db": database,
        "type": table,
        "id": doc_id,
        "revision": int(doc.get("revision") or 0),
        "deleted": bool(doc.get("deleted")),
        "doc": doc,
    }


def _of(database: str, table: str) -> sa.ColumnElement[bool]:
    return sa.and_(records.c.db == database, records.c.type == table)


_HEADS = sa.select(
    sa.select(databases.c.revision).where(databases.c.name == sa.bindparam("db")).scalar_subquery(),
    sa.select(sa.func.max(records.c.revision))
    .where(records.c.db == sa.bindparam("db"), records.c.type == sa.bindparam("type"))
    .scalar_subquery(),
)


class View:
    """Reads of one CRM database over an open connection."""

    def __init__(self, conn: Connection, database: str) -> None:
        self.conn = conn
        self.database = database

    def revision(self) -> int | None:
        """The database's counter; None when the database does not exist."""
        query = sa.select(databases.c.revision).where(databases.c.name == self.database)
        return self.conn.scalar(query)

    def heads(self, table: str) -> tuple[int | None, int]:
        """The database's counter (None: no such database) and the newest revision of
        ``table``'s records (0: none), in one statement built once (an idle sync asks
        per folder, and building a statement costs more than running it)."""
        found = self.conn.execute(_HEADS, {"db": self.database, "type": table}).one()
        return found[0], int(found[1] or 0)

    def get_many(self, table: str, doc_ids: Sequence[int]) -> dict[int, Doc]:
        found: dict[int, Doc] = {}
        for start in range(0, len(doc_ids), CHUNK):
            chunk = doc_ids[start : start + CHUNK]
            query = sa.select(records.c.id, records.c.doc).where(
                _of(self.database, table), records.c.id.in_(chunk)
            )
            found.update((doc_id, doc) for doc_id, doc in self.conn.execute(query))
        return found

    def page(
        self, table: str, after: int = 0, live: bool = False, stop: int | None = None
    ) -> list[tuple[int, Doc]]:
        """Up to ``CHUNK`` ``(id, document)`` with ids after ``after`` (and before
        ``stop``), in id order; ``live``: no tombstones."""
        query = sa.select(records.c.id, records.c.doc).where(
            _of(self.database, table), records.c.id > after
        )
        if live:
            query = query.where(records.c.deleted.is_(False))
        if stop is not None:
            query = query.where(records.c.id < stop)
        return list(self.conn.execute(query.order_by(records.c.id).limit(CHUNK)))

    def docs(self, table: str, live: bool = False) -> Iterator[tuple[int, Doc]]:
        """Every ``(id, document)`` in id order, read ``CHUNK`` at a time."""
        after = 0
        while True:
            page = self.page(table, after, live)
            yield from page
            if len(page) < CHUNK:
                return
            after = page[-1][0]

    def newer(self, table: str, start: int, upto: int) -> list[tuple[int, Doc]]:
        """Up to ``CHUNK`` documents with a revision in (start, upto], oldest first."""
        query = (
            sa.select(records.c.id, records.c.doc)
            .where(_of(self.database, table), records.c.revision > start)
            .where(records.c.revision <= upto)
            .order_by(records.c.revision)
            .limit(CHUNK)
        )
        return list(self.conn.execute(query))


class Transaction(View):
    """One write transaction on a CRM database (created when missing)."""

    def __init__(self, conn: Connection, database: str) -> None:
        super().__init__(conn, database)
        found = self.revision()
        if found is None:
            conn.execute(sa.insert(databases).values(name=database, revision=0))
        self.meta: Doc = {"revision": found or 0}
        self._next: dict[str, int] = {}
        #: Per table: the first id this transaction gave, and the highest one inserted
        #: so far (a later put of an id between the two is an update).
        self._first_new: dict[str, int] = {}
        self._inserted: dict[str, int] = {}
        self._new: dict[tuple[str, int], Doc] = {}
        self._changed: dict[tuple[str, int], Doc] = {}

    def next_id(self, table: str) -> int:
        if table not in self._next:
            query = sa.select(sa.func.max(records.c.id)).where(_of(self.database, table))
            self._next[table] = int(self.conn.scalar(query) or 0) + 1
        doc_id = self._next[table]
        self._next[table] = doc_id + 1
        self._first_new.setdefault(table, doc_id)
        return doc_id

    def get(self, table: str, doc_id: int) -> Doc | None:
        key = (table, doc_id)
        found = self._new.get(key) or self._changed.get(key)
        if found is None and doc_id > 0:
            found = self.get_many(table, [doc_id]).get(doc_id)
        return found

    def put(self, table: str, doc_id: int, doc: Doc) -> None:
        key = (table, doc_id)
        first = self._first_new.get(table)
        if first is not None and doc_id >= first and doc_id > self._inserted.get(table, 0):
            self._new[key] = doc
        else:
            self._changed[key] = doc
        if len(self._new) + len(self._changed) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._new:
            rows = [_row(self.database, t, i, d) for (t, i), d in self._new.items()]
            self.conn.execute(sa.insert(records), rows)
            for table, doc_id in self._new:
                self._inserted[table] = max(self._inserted.get(table, 0), doc_id)
        if self._changed:
            key = sa.and_(
                records.c.db == sa.bindparam("k_db"),
                records.c.type == sa.bindparam("k_type"),
                records.c.id == sa.bindparam("k_id"),
            )
            change = (
                sa.update(records)
                .where(key)
                .values(
                    revision=sa.bindparam("k_rev"),
                    deleted=sa.bindparam("k_del"),
                    doc=sa.bindparam("k_doc"),
                )
            )
            self.conn.execute(
                change,
                [
                    {
                        "k_db": self.database,
                        "k_type": t,
                        "k_id": i,
                        "k_rev": int(d.get("revision") or 0),
                        "k_del": bool(d.get("deleted")),
                        "k_doc": d,
                    }
                    for (t, i), d in self._changed.items()
                ],
            )
        self._new, self._changed = {}, {}

    def docs(self, table: str, live: bool = False) -> Iterator[tuple[int, Doc]]:
        self.flush()
        return super().docs(table, live)

    def commit(self) -> None:
        self.flush()
        self.conn.execute(
            sa.update(databases)
            .where(databases.c.name == self.database)
            .values(revision=int(self.meta["revision"]))
        )
