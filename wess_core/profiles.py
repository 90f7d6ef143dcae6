"""The account and the user profiles: documents in TinyDB files (the design card's choice),
behind a small interface, so the rest of WESS never touches TinyDB's tables.

A ``ProfileStore`` is one table of one store file (``users.json``, table ``users``,
documents keyed by ``login``; ``account.json``, table ``account``, one document). Reads
parse the file at most once per version of the file, and tell versions apart by one
``lstat``, whatever the number of users: every sync reads one profile. WESS writes a
store file only by replacing it (a new inode), and the last parsed file is kept open,
so its inode is never reused while it is remembered: the same inode, size, mtime and
ctime is the same file, also after another process wrote (a write in place, by hand,
changes the size or the times). ``transaction`` reads the file once under its lock,
lets the caller get, put and list documents (in place: a change costs the documents it
touches, not a copy of the table), and writes the file once, atomically, at the end.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from wess_core import safefile
from wess_core.store import Store, parse_json_bytes, read_file_bytes

Doc = dict[str, Any]

#: Per store file and table: the version last parsed and its documents by key (first
#: wins). Bounded: each entry holds its file open.
_PARSED: dict[str, _Parsed] = {}
_PARSED_LOCK = threading.Lock()
_PARSED_MAX = 64


@dataclass(frozen=True)
class _Parsed:
    stamp: tuple[int, ...]
    docs: dict[Any, Doc]
    fd: int  # the parsed file, open: its inode stays its own


def _stamp(st: os.stat_result) -> tuple[int, ...]:
    """What tells two versions of a store file apart (see the module's docstring)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _remember(cache_key: str, parsed: _Parsed) -> None:
    with _PARSED_LOCK:
        old = _PARSED.pop(cache_key, None)
        _PARSED[cache_key] = parsed
        dropped = [old] if old is not None else []
        while len(_PARSED) > _PARSED_MAX:
            dropped.append(_PARSED.pop(next(iter(_PARSED))))
    for entry in dropped:
        os.close(entry.fd)


class Profiles:
    """A table's documents inside a write transaction (see ``ProfileStore.transaction``)."""

    def __init__(self, docs: dict[str, Doc], key: str | None) -> None:
        self._docs = docs
        self._key = key
        self._ids: dict[Any, str] = {}
        for doc_id, doc in docs.items():
            self._ids.setdefault(self._key_of(doc), doc_id)
        self._next_id = max((int(i) for i in docs), default=0) + 1

    def _key_of(self, doc: Doc) -> Any:
        return doc.get(self._key) if self._key else None

    def get(self, key: Any = None) -> Doc | None:
        """The document with ``key`` (a one-document table: that document), or None."""
        doc_id = self._ids.get(key)
        return None if doc_id is None else self._docs[doc_id]

    def list(self) -> list[Doc]:
        return list(self._docs.values())

    def put(self, doc: Doc) -> None:
        """Replace the document with the same key, or add it."""
        key = self._key_of(doc)
        doc_id = self._ids.get(key)
        if doc_id is None:
            doc_id = self._ids[key] = str(self._next_id)
            self._next_id += 1
        self._docs[doc_id] = doc

    def delete(self, key: Any) -> None:
        """Remove the document with ``key`` (nothing if there is none)."""
        doc_id = self._ids.pop(key, None)
        if doc_id is not None:
            del self._docs[doc_id]


class ProfileStore:
    """One table of a TinyDB store file, documents keyed by ``key`` (None: one document)."""

    def __init__(self, store: Store, name: str, table: str, key: str | None) -> None:
        self.store = store
        self.name = name
        self.table = table
        self.key = key

    def _parsed(self) -> dict[Any, Doc]:
        path = self.store.path(self.name)
        cache_key = f"{path}\0{self.table}"
        with _PARSED_LOCK:
            cached = _PARSED.get(cache_key)
        if cached is not None:
            try:
                if _stamp(os.lstat(path)) == cached.stamp:
                    return cached.docs
            except FileNotFoundError:
                return {}
        found = safefile.read_held(path)
        if found is None:
            return {}
        raw, st, fd = found
        try:
            data = parse_json_bytes(raw, path)
        except BaseException:
            os.close(fd)
            raise
        table = data.get(self.table) if isinstance(data, dict) else None
        docs: dict[Any, Doc] = {}
        for doc in (table or {}).values():
            if isinstance(doc, dict):
                docs.setdefault(doc.get(self.key) if self.key else None, doc)
        _remember(cache_key, _Parsed(_stamp(st), docs, fd))
        return docs

    def get(self, key: Any = None) -> Doc | None:
        """A copy of the document with ``key`` as stored now, or None."""
        doc = self._parsed().get(key)
        return None if doc is None else copy.deepcopy(doc)

    def list(self) -> list[Doc]:
        """Every document as stored now, in stored order (parsed afresh: the caller's to
        keep or change, at the cost of one parse instead of a copy of each document)."""
        path = self.store.path(self.name)
        raw = read_file_bytes(path)
        data = parse_json_bytes(raw, path) if raw is not None else None
        table = data.get(self.table) if isinstance(data, dict) else None
        return [doc for doc in (table or {}).values() if isinstance(doc, dict)]

    @contextmanager
    def transaction(self) -> Iterator[Profiles]:
        """Read once under the file's lock, change, write once; nothing if it raises."""
        with self.store.edit(self.name, self.table) as docs:
            yield Profiles(docs, self.key)
