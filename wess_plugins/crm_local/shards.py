"""Big TinyDB tables as copy-on-write shard files under a small manifest.

One TinyDB file is read whole for every lookup and rewritten whole for every write, so a
table of 100,000 documents costs its full size in memory and in disk writes each time.
Here each table's documents are split by id into shards of ``SHARD_SIZE`` (ids 1-1000 in
shard 0, 1001-2000 in shard 1, ...), each its own small TinyDB file (table ``records``),
named with a random token and never changed once written. The manifest ``<name>.json`` (a
small TinyDB file) names the current file of every shard, with its highest revision and
document count, and holds the owner's own ``meta`` document.

A write (``ShardedDb.write``, under the manifest's lock) writes each shard it changed as a
new file, then replaces the manifest atomically, then removes the files the new manifest
does not name. A crash at any point leaves the old manifest with its old files, or the
new one with its new files; files named by neither are removed by the next write. Readers
need no lock: they read the manifest, then the files it names; a file removed meanwhile
(a newer write finished) makes them start again from the new manifest.

Memory: a reader holds at most ``KEEP_SHARDS`` shards; a write too, writing changed ones
out early when it needs room (invisible to others until the manifest is replaced).

A manifest written before shards existed (the tables inline) is read as it is and split
into shards by the first write.
"""

from __future__ import annotations

import contextlib
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from wess_core import safefile
from wess_core.errors import StoreError
from wess_core.store import Store, load_json_file, write_json_atomic

SHARD_SIZE = 1000
KEEP_SHARDS = 4
_META, _SHARDS, _TABLES, _RECORDS = "meta", "shards", "tables", "records"
#: A reader restarts at most this often when writers keep replacing the files it reads.
_READ_ATTEMPTS = 20

T = TypeVar("T")
Doc = dict[str, Any]
Key = tuple[str, int]


def shard_of(doc_id: int) -> int:
    return (doc_id - 1) // SHARD_SIZE


class _Vanished(Exception):
    """A shard file named by the manifest was removed: a newer write finished."""


class Snapshot:
    """A consistent read view: the manifest as read once, shards loaded on demand."""

    def __init__(self, db: ShardedDb) -> None:
        self.db = db
        raw = load_json_file(db.manifest_path)
        raw = raw if isinstance(raw, dict) else {}
        self.meta: Doc = dict((raw.get(_META) or {}).get("1") or {})
        self._entries: dict[Key, Doc] = {}
        self._next: dict[str, int] = {}
        #: Tables kept inline in a manifest from before shards: {table: {n: docs}}.
        self._inline: dict[str, dict[int, dict[str, Doc]]] = {}
        if _SHARDS in raw or _TABLES in raw:
            for entry in (raw.get(_SHARDS) or {}).values():
                self._entries[(entry["table"], int(entry["n"]))] = dict(entry)
            for entry in (raw.get(_TABLES) or {}).values():
                self._next[entry["table"]] = int(entry["next_id"])
        else:
            for table, docs in raw.items():
                if table == _META or not isinstance(docs, dict):
                    continue
                split: dict[int, dict[str, Doc]] = {}
                for key, doc in docs.items():
                    split.setdefault(shard_of(int(key)), {})[key] = doc
                self._inline[table] = split
                self._next[table] = max((int(k) for k in docs), default=0) + 1
        self._cache: OrderedDict[Key, dict[str, Doc]] = OrderedDict()

    def shard_numbers(self, table: str) -> list[int]:
        found = {n for (t, n) in self._entries if t == table}
        found.update(self._inline.get(table, {}))
        return sorted(found)

    def max_revision(self, table: str, n: int) -> int | None:
        entry = self._entries.get((table, n))
        return None if entry is None else int(entry["max_rev"])

    def table_revision(self, table: str) -> int | None:
        """The highest revision in ``table`` (0: empty), or None when only its documents
        could tell (a table kept inline from before shards)."""
        if table in self._inline:
            return None
        return max((int(e["max_rev"]) for (t, _), e in self._entries.items() if t == table),
                   default=0)  # fmt: skip

    def _read_shard(self, key: Key) -> dict[str, Doc]:
        table, n = key
        entry = self._entries.get(key)
        if entry is None:
            return dict(self._inline.get(table, {}).get(n, {}))
        raw = load_json_file(self.db.folder / entry["file"])
        if raw is None:
            raise _Vanished(entry["file"])
        return dict(raw.get(_RECORDS) or {})

    def _shard(self, key: Key) -> dict[str, Doc]:
        docs = self._cache.get(key)
        if docs is None:
            docs = self._cache[key] = self._read_shard(key)
            self._make_room()
        else:
            self._cache.move_to_end(key)
        return docs

    def _make_room(self) -> None:
        while len(self._cache) > KEEP_SHARDS:
            self._cache.popitem(last=False)

    def shard(self, table: str, n: int) -> dict[str, Doc]:
        """Shard ``n`` of ``table`` (``{}`` when it has none)."""
        return self._shard((table, n))

    def get(self, table: str, doc_id: int) -> Doc | None:
        if doc_id < 1:
            return None
        return self._shard((table, shard_of(doc_id))).get(str(doc_id))

    def docs(self, table: str, newer_than: int | None = None) -> Iterator[tuple[int, Doc]]:
        """``(id, document)`` in id order, a shard at a time; with ``newer_than``, only
        shards that hold a revision above it are read."""
        return self.db.read_docs(self, table, newer_than)


class Transaction(Snapshot):
    """A write view: changes are kept (or written out early) until ``commit``."""

    def __init__(self, db: ShardedDb) -> None:
        super().__init__(db)
        self._dirty: set[Key] = set()
        self._written: list[Path] = []

    def next_id(self, table: str) -> int:
        doc_id = self._next.get(table, 1)
        self._next[table] = doc_id + 1
        return doc_id

    def put(self, table: str, doc_id: int, doc: Doc) -> None:
        key = (table, shard_of(doc_id))
        self._shard(key)[str(doc_id)] = doc
        self._dirty.add(key)
        self._next[table] = max(self._next.get(table, 1), doc_id + 1)

    def shard_numbers(self, table: str) -> list[int]:
        found = set(super().shard_numbers(table))
        found.update(n for (t, n) in self._cache if t == table)
        return sorted(found)

    def max_revision(self, table: str, n: int) -> int | None:
        return None  # own changes may be newer than the manifest says: read every shard

    def table_revision(self, table: str) -> int | None:
        return None  # likewise

    def _make_room(self) -> None:
        while len(self._cache) > KEEP_SHARDS:
            key, docs = self._cache.popitem(last=False)
            if key in self._dirty:
                self._write_shard(key, docs)

    def _write_shard(self, key: Key, docs: dict[str, Doc]) -> None:
        table, n = key
        name = f"{table}.{n}.{secrets.token_hex(6)}.json"
        path = self.db.folder / name
        self._written.append(path)
        write_json_atomic(path, {_RECORDS: docs})
        self._dirty.discard(key)
        if table in self._inline:
            self._inline[table][n] = {}  # now in a file: read it from there
        revs = [int(d.get("revision") or 0) for d in docs.values()]
        self._entries[key] = {"table": table, "n": n, "file": name,
                              "max_rev": max(revs, default=0), "count": len(docs)}  # fmt: skip

    def commit(self) -> None:
        for key in list(self._dirty):
            self._write_shard(key, self._cache[key])
        for table, split in list(self._inline.items()):  # from before shards: split it now
            for n, docs in split.items():
                if docs and (table, n) not in self._entries:
                    self._write_shard((table, n), docs)
        self._inline.clear()
        entries = sorted(self._entries.values(), key=lambda e: (e["table"], e["n"]))
        tables = sorted(self._next.items())
        write_json_atomic(
            self.db.manifest_path,
            {
                _META: {"1": self.meta},
                _SHARDS: {str(i): e for i, e in enumerate(entries, 1)},
                _TABLES: {str(i): {"table": t, "next_id": n} for i, (t, n) in enumerate(tables, 1)},
            },
        )
        self._written.clear()
        self.db.remove_unnamed({e["file"] for e in entries})

    def abort(self) -> None:
        for path in self._written:
            with contextlib.suppress(OSError):
                path.unlink()
        self._written.clear()


class ShardedDb:
    """The manifest ``<name>.json`` of a store and its shard folder ``<name>.d/``."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name
        self.manifest_path = store.path(name)
        self.folder = self.manifest_path.with_name(self.manifest_path.stem + ".d")
        safefile.check_existing(self.folder)  # its shard files are opened by name

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def read(self, fn: Callable[[Snapshot], T]) -> T:
        """``fn`` over a consistent snapshot (started again if a writer overtook it)."""
        for _ in range(_READ_ATTEMPTS):
            try:
                return fn(Snapshot(self))
            except _Vanished:
                continue
        raise StoreError(f"{self.manifest_path} kept changing while being read; try again")

    def read_docs(
        self, snap: Snapshot, table: str, newer_than: int | None = None
    ) -> Iterator[tuple[int, Doc]]:
        """``snap.docs(...)`` read lazily; a shard a writer removed meanwhile is read from
        a newer snapshot (which may hold newer versions: harmless for a change feed)."""
        for n in snap.shard_numbers(table):
            top = snap.max_revision(table, n)
            if newer_than is not None and top is not None and top <= newer_than:
                continue
            try:
                docs = snap.shard(table, n)
            except _Vanished:  # a writer finished meanwhile: on from a newer snapshot
                snap, docs = self.read(lambda fresh, n=n: (fresh, fresh.shard(table, n)))
            yield from sorted(((int(k), d) for k, d in docs.items()), key=lambda kv: kv[0])

    @contextlib.contextmanager
    def write(self) -> Iterator[Transaction]:
        """A write transaction under the manifest's lock: all of it or nothing."""
        with self.store.lock(self.name):
            tx = Transaction(self)
            safefile.ensure_dir(self.folder)
            try:
                yield tx
                tx.commit()
            except BaseException:
                tx.abort()
                raise

    def remove_unnamed(self, named: set[str]) -> None:
        """Files the manifest does not name: replaced shards, and a crashed write's."""
        with contextlib.suppress(FileNotFoundError):
            for path in self.folder.iterdir():
                if path.name not in named:
                    with contextlib.suppress(OSError):
                        path.unlink()
