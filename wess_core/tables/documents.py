"""The account, profiles and web admins in a shared database (``WESS_DATABASE_URL``):
``DatabaseProfileStore`` is ``wess_core.profiles.ProfileStore`` over the ``documents``
table (``wess_core.tables.store_schema``), the same interface and the same documents
(secret fields encrypted as they were in the files).

A read is one query for the document(s) asked for. A ``transaction`` takes the lock of
its store file's table (an advisory lock: other tables' and the sync state's writers do
not wait), reads the documents it is asked for (``list``: all of them), and at the end
writes, in the same transaction, the documents put, deleted or changed in place; nothing
if the body raises. Writers of one table queue as they did on its file's lock, so a rule
across documents (licences allocated, unique names) holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from wess_core.tables.engine import Database
from wess_core.tables.postgresql import LockKey, lock_key
from wess_core.tables.store_schema import documents

Doc = dict[str, Any]
#: The advisory lock space of the documents' tables ("DOCS" in ASCII).
LOCK_SPACE = 0x444F4353


def _text(doc: Doc) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)


class DatabaseProfiles:
    """A table's documents inside a write transaction: ``wess_core.profiles.Profiles``'
    interface, read as asked, written back when the transaction ends."""

    def __init__(self, conn: Connection, where: sa.ColumnElement[bool], key: str | None) -> None:
        self._conn = conn
        self._where = where
        self._key = key
        #: Documents handed out or put, by key, with their text as read (None: new).
        self._docs: dict[str, tuple[str | None, Doc]] = {}
        self._deleted: set[str] = set()
        self._listed = False

    def _key_of(self, doc: Doc) -> str:
        return _db_key(doc.get(self._key) if self._key else None)

    def _read(self, query: sa.Select) -> None:
        for key, doc in self._conn.execute(query):
            if key not in self._docs and key not in self._deleted:
                self._docs[key] = (_text(doc), doc)

    def get(self, key: Any = None) -> Doc | None:
        """The document with ``key`` (a one-document table: that document), or None."""
        k = _db_key(key)
        if k in self._deleted:
            return None
        if k not in self._docs and not self._listed:
            self._read(
                sa.select(documents.c.key, documents.c.doc).where(self._where, documents.c.key == k)
            )
        found = self._docs.get(k)
        return None if found is None else found[1]

    def list(self) -> list[Doc]:
        if not self._listed:
            self._read(
                sa.select(documents.c.key, documents.c.doc)
                .where(self._where)
                .order_by(documents.c.id)
            )
            self._listed = True
        return [doc for _, doc in self._docs.values()]

    def put(self, doc: Doc) -> None:
        """Replace the document with the same key, or add it."""
        k = self._key_of(doc)
        self._deleted.discard(k)
        before = self._docs.get(k)
        self._docs[k] = (before[0] if before else None, doc)

    def delete(self, key: Any) -> None:
        """Remove the document with ``key`` (nothing if there is none)."""
        k = _db_key(key)
        self._docs.pop(k, None)
        self._deleted.add(k)

    def changes(self) -> tuple[list[tuple[str, Doc]], set[str]]:
        """Documents to write (new or changed) and keys to delete."""
        written = [(k, doc) for k, (text, doc) in self._docs.items() if text != _text(doc)]
        return written, self._deleted


def _db_key(key: Any) -> str:
    return "" if key is None else str(key)


class DatabaseProfileStore:
    """One table of a store file, as documents in the ``documents`` table, keyed by
    ``key`` (None: one document); ``database`` gives the database when first needed."""

    def __init__(
        self, database: Callable[[], Database], name: str, table: str, key: str | None
    ) -> None:
        self._database = database
        self.name = name
        self.table = table
        self.key = key
        self._where = sa.and_(documents.c.store == name, documents.c.tbl == table)

    def get(self, key: Any = None) -> Doc | None:
        """The document with ``key`` as stored now, or None."""
        query = sa.select(documents.c.doc).where(self._where, documents.c.key == _db_key(key))
        with self._database().read() as conn:
            return conn.scalar(query)

    def list(self) -> list[Doc]:
        """Every document as stored now, in stored order."""
        query = sa.select(documents.c.doc).where(self._where).order_by(documents.c.id)
        with self._database().read() as conn:
            return list(conn.scalars(query))

    def by_key(self) -> dict[str, Doc]:
        """Every document by its key as stored (key rotation's plan)."""
        query = sa.select(documents.c.key, documents.c.doc).where(self._where)
        with self._database().read() as conn:
            return dict(conn.execute(query).all())

    @contextmanager
    def transaction(self) -> Iterator[DatabaseProfiles]:
        """Read under the table's lock, change, write once; nothing if it raises."""
        with self._database().write(self._lock()) as conn:
            docs = DatabaseProfiles(conn, self._where, self.key)
            yield docs
            written, deleted = docs.changes()
            self._write(conn, written, deleted)

    @contextmanager
    def edit(self) -> Iterator[dict[str, Doc]]:
        """Every document by key, under the table's lock, to change in place (``Store.edit``'s
        counterpart: key rotation); changed ones written at the end, nothing if it raises."""
        with self._database().write(self._lock()) as conn:
            query = sa.select(documents.c.key, documents.c.doc).where(self._where)
            docs = dict(conn.execute(query).all())
            before = {key: _text(doc) for key, doc in docs.items()}
            yield docs
            written = [(k, doc) for k, doc in docs.items() if before.get(k) != _text(doc)]
            self._write(conn, written, set(before) - set(docs))

    def _lock(self) -> LockKey:
        return lock_key(LOCK_SPACE, f"{self.name}/{self.table}")

    def _write(self, conn: Connection, written: list[tuple[str, Doc]], deleted: set[str]) -> None:
        if deleted:
            conn.execute(sa.delete(documents).where(self._where, documents.c.key.in_(deleted)))
        for key, doc in written:
            row = {"store": self.name, "tbl": self.table, "key": key, "doc": doc}
            upsert = pg_insert(documents).values(**row)
            conn.execute(
                upsert.on_conflict_do_update(
                    constraint="documents_by_key", set_={"doc": upsert.excluded.doc}
                )
            )
