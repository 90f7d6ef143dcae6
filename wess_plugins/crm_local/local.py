"""The built-in ``local`` CRM: an embedded CRM in one TinyDB store file per database.

A database ``main`` lives under the WESS home as the TinyDB manifest ``crm/main.json``
(the ``meta`` table with the database's revision counter) and its shard files in
``crm/main.d/``: each record type's table (``people``, ``meetings``, ``tasks``,
``emails``) split by id into small TinyDB files (``wess_plugins.crm_local.shards``), so a lookup or
a write costs a shard, not the whole database. Every write bumps the counter
and stamps the record with it, so revisions are monotonic across the database and
``changes`` can answer "everything written after revision N" (the cursor is N). A
deleted record stays as a tombstone (no fields, ``deleted: true``) so ``changes`` can
report the deletion; ``list`` and ``get`` never show tombstones.

E-mail records are linked to people by address: each e-mail record carries
``people_ids``, the ids of the people whose ``email``/``email2``/``email3`` appears in
its ``from``, ``to`` or ``cc``, computed when the e-mail is written (``relink_emails``
recomputes them all, e.g. after importing people).

``LocalCrm`` is the ``CrmBackend`` the engine uses; the plain functions below
(``add_record`` ... ``import_records``) are what the ``wess crm`` commands call.
Each bulk call and each function is one atomic write of the database.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wess_core.errors import ValidationError, quote
from wess_core.store import Store, check_name_part
from wess_core.strategies import (
    RECORD_TYPES,
    CrmChange,
    CrmRecord,
    NewRecord,
    Outcome,
    RecordChanged,
    RecordNotFound,
    RecordUpdate,
    merge_fields,
)
from wess_plugins.crm_local.shards import ShardedDb, Snapshot, Transaction, shard_of

DEFAULT_DATABASE = "main"
Doc = dict[str, Any]
_EMAIL_FIELDS = ("email", "email2", "email3")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def check_record_type(record_type: str) -> str:
    """Refuse an unknown record type, listing the known ones."""
    if record_type not in RECORD_TYPES:
        raise ValidationError(
            f"unknown record type {quote(record_type)}; choose one of {', '.join(RECORD_TYPES)}"
        )
    return record_type


#: How deep a record may nest: the record object is level 1, a list in one of its fields
#: level 2. Records are flat objects of fields (a contact's addresses are the deepest, at
#: 3), so anything near this is not a record, and deeper input would cost recursion
#: (RecursionError) in every later ``json.dumps`` of it.
MAX_DEPTH = 32


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests deeper than ``MAX_DEPTH`` (walked without recursion; a
    flat record costs one look at each field)."""
    level: list[tuple[Any, int]] = [(value, 1)]
    while level:
        item, depth = level.pop()
        if depth > MAX_DEPTH:
            return True
        for child in item.values() if isinstance(item, Mapping) else item:
            if type(child) not in _SCALARS and isinstance(child, Mapping | list | tuple):
                level.append((child, depth + 1))
    return False


def check_fields(fields: Any, what: str = "fields", parsed: bool = False) -> dict[str, Any]:
    """Record fields are a JSON object with non-empty string keys, values JSON as the
    standard defines it (no NaN or Infinity, which other JSON readers refuse), nested at
    most ``MAX_DEPTH`` levels. ``parsed``: just read from JSON text by a parser that
    refuses NaN and Infinity, so JSON by construction (an import skips that check)."""
    if not isinstance(fields, Mapping):
        raise ValidationError(f"{what} must be a JSON object, got {type(fields).__name__}")
    for key in fields:
        if not isinstance(key, str) or not key.strip():
            raise ValidationError(
                f"{what}: field names must be non-empty strings, got {quote(key)}"
            )
    if _too_deep(fields):
        raise ValidationError(f"{what}: nested deeper than {MAX_DEPTH} levels")
    try:
        if not parsed:
            json.dumps(fields, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what}: values must be JSON ({exc})") from None
    return dict(fields)


def _addresses(value: Any) -> set[str]:
    """E-mail addresses in a field: a string, a list of strings, or {"email": ...} dicts."""
    if isinstance(value, str):
        return {value.strip().lower()} if "@" in value else set()
    if isinstance(value, Mapping):
        return _addresses(value.get("email") or value.get("email_address"))
    if isinstance(value, list | tuple):
        return set().union(*(_addresses(v) for v in value)) if value else set()
    return set()


def _to_record(doc_id: int, doc: Doc) -> CrmRecord:
    return CrmRecord(
        id=str(doc_id),
        revision=doc["revision"],
        fields=dict(doc.get("fields") or {}),
        exchange_id=doc.get("exchange_id"),
        deleted=bool(doc.get("deleted")),
        modified=doc.get("modified"),
    )


def _public(doc_id: int, doc: Doc, record_type: str) -> dict[str, Any]:
    """What ``wess crm list/add/...`` print for one live record."""
    out: dict[str, Any] = {
        "id": str(doc_id),
        "type": record_type,
        "revision": doc["revision"],
        "fields": dict(doc.get("fields") or {}),
        "exchange_id": doc.get("exchange_id"),
        "modified": doc.get("modified"),
    }
    if record_type == "emails":
        out["people_ids"] = list(doc.get("people_ids") or [])
    return out


def _record_id(record_id: str) -> int:
    """A record id as the shard key (0, never found, for ids that are not numbers)."""
    return int(record_id) if record_id.isdigit() else 0


class _Tx:
    """One write transaction on a CRM database: revision counter and e-mail linking."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self._people_index: dict[str, list[str]] | None = None

    def bump(self) -> int:
        revision = int(self.tx.meta.get("revision") or 0) + 1
        self.tx.meta["revision"] = revision
        return revision

    def live(self, record_type: str, record_id: str) -> tuple[int, Doc]:
        doc_id = _record_id(record_id)
        doc = self.tx.get(check_record_type(record_type), doc_id)
        if doc is None or doc.get("deleted"):
            raise RecordNotFound(f"no {record_type} record {quote(record_id)}")
        return doc_id, doc

    def people_ids(self, fields: Mapping[str, Any]) -> list[str]:
        if self._people_index is None:
            index: dict[str, list[str]] = {}
            for doc_id, doc in self.tx.docs("people"):
                if doc.get("deleted"):
                    continue
                for name in _EMAIL_FIELDS:
                    for address in _addresses((doc.get("fields") or {}).get(name)):
                        index.setdefault(address, []).append(str(doc_id))
            self._people_index = index
        found: set[str] = set()
        for name in ("from", "to", "cc"):
            for address in _addresses(fields.get(name)):
                found.update(self._people_index.get(address, ()))
        return sorted(found, key=int)

    def _extra(self, record_type: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        if record_type == "people":
            self._people_index = None  # addresses may have changed
        if record_type == "emails":
            return {"people_ids": self.people_ids(fields)}
        return {}

    def create(
        self,
        record_type: str,
        fields: Mapping[str, Any],
        exchange_id: str | None,
        checked: bool = False,
    ) -> tuple[int, Doc]:
        """A new record; ``checked``: the caller already ran ``check_fields``."""
        check_record_type(record_type)
        doc = {
            "revision": self.bump(),
            "fields": merge_fields({}, fields if checked else check_fields(fields)),
            "exchange_id": exchange_id,
            "deleted": False,
            "modified": _now(),
        }
        doc.update(self._extra(record_type, doc["fields"]))
        doc_id = self.tx.next_id(record_type)
        self.tx.put(record_type, doc_id, doc)
        return doc_id, doc

    def update(
        self, record_type: str, record_id: str, fields: Mapping[str, Any], expected: Any = None
    ) -> tuple[int, Doc]:
        doc_id, doc = self.live(record_type, record_id)
        if expected is not None and expected != doc["revision"]:
            raise RecordChanged(f"{record_type} record {record_id} was changed meanwhile")
        new_fields = merge_fields(doc.get("fields") or {}, check_fields(fields))
        new = {**doc, "revision": self.bump(), "fields": new_fields, "modified": _now()}
        new.update(self._extra(record_type, new_fields))
        self.tx.put(record_type, doc_id, new)
        return doc_id, new

    def delete(self, record_type: str, record_id: str) -> tuple[int, Doc]:
        doc_id, doc = self.live(record_type, record_id)
        tomb = {**doc, "revision": self.bump(), "fields": {}, "deleted": True,
                "modified": _now()}  # fmt: skip
        if record_type == "emails":
            tomb["people_ids"] = []
        if record_type == "people":
            self._people_index = None
        self.tx.put(record_type, doc_id, tomb)
        return doc_id, tomb


class LocalCrm:
    """The ``local`` CRM backend: ``LocalCrm(home, database)``."""

    #: Each bulk call writes the shards it touched and the manifest once: batches of a
    #: thousand (a shard) keep an import of thousands of records from writing the
    #: manifest per hundred.
    preferred_batch = 1000

    def __init__(self, home: str | Path, database: str = DEFAULT_DATABASE) -> None:
        self.store = Store(home)
        self.database = check_name_part(database, "database")
        self.name = f"crm/{self.database}"
        self.db = ShardedDb(self.store, self.name)

    def __repr__(self) -> str:
        return f"LocalCrm({str(self.store.home)!r}, {self.database!r})"

    def exists(self) -> bool:
        return self.db.exists()

    def _bulk(self, inputs: Sequence[Any], one: Callable[[_Tx, Any], tuple[int, Doc]]) -> list[Any]:
        """One write transaction for the whole batch; one result or error per input."""
        out: list[Any] = []
        with self.db.write() as tx:
            crm_tx = _Tx(tx)
            for value in inputs:
                try:
                    out.append(_to_record(*one(crm_tx, value)))
                except (RecordNotFound, RecordChanged, ValidationError) as exc:
                    out.append(exc)
        return out

    # -- CrmBackend -----------------------------------------------------------

    def changes(
        self, record_type: str, cursor: str | None
    ) -> tuple[Iterable[CrmChange], str | None]:
        """Records written after ``cursor`` (a revision number), tombstones included,
        read a shard at a time as they are consumed (only shards holding a revision
        after the cursor are read).

        The new cursor is the record type's own newest revision, so writes to other
        record types leave it where it was (and the folder's sync state unwritten)."""
        check_record_type(record_type)
        if not self.exists():  # nothing written yet: everything is after revision 0
            return [], cursor or "0"
        start = int(cursor) if cursor else 0
        snap = Snapshot(self.db)  # the manifest only: shards are read lazily below
        newest = snap.table_revision(record_type)
        if newest is None:  # a table from before shards: the database's counter
            newest = int(snap.meta.get("revision") or 0)
        head = str(max(newest, start))
        return self._changed(snap, record_type, start, live_only=cursor is None), head

    def _changed(
        self, snap: Snapshot, record_type: str, start: int, live_only: bool
    ) -> Iterator[CrmChange]:
        for doc_id, doc in self.db.read_docs(snap, record_type, newer_than=start):
            if doc["revision"] > start and not (live_only and doc.get("deleted")):
                yield _to_record(doc_id, doc)

    def get(self, record_type: str, ids: Sequence[str]) -> list[Outcome[CrmRecord]]:
        check_record_type(record_type)

        def read(snap: Snapshot) -> list[Outcome[CrmRecord]]:
            out: list[Outcome[CrmRecord]] = []
            for rid in ids:
                doc_id = _record_id(rid)
                doc = snap.get(record_type, doc_id)
                if doc is None or doc.get("deleted"):
                    out.append(RecordNotFound(f"no {record_type} record {quote(rid)}"))
                else:
                    out.append(_to_record(doc_id, doc))
            return out

        if not self.exists():
            return [RecordNotFound(f"no {record_type} record {quote(rid)}") for rid in ids]
        return self.db.read(read)

    def create(self, record_type: str, records: Sequence[NewRecord]) -> list[Outcome[CrmRecord]]:
        check_record_type(record_type)
        return self._bulk(records, lambda tx, r: tx.create(record_type, r.fields, r.exchange_id))

    def update(self, record_type: str, updates: Sequence[RecordUpdate]) -> list[Outcome[CrmRecord]]:
        check_record_type(record_type)
        return self._bulk(
            updates, lambda tx, u: tx.update(record_type, u.id, u.fields, u.expected_revision)
        )

    def delete(self, record_type: str, ids: Sequence[str]) -> list[Outcome[CrmRecord]]:
        check_record_type(record_type)
        return self._bulk(ids, lambda tx, rid: tx.delete(record_type, rid))

    # -- for people and the CLI ------------------------------------------------

    def list(self, record_type: str) -> list[dict[str, Any]]:
        """Live records, oldest first, each with id and fields (no tombstones)."""
        check_record_type(record_type)
        if not self.exists():
            return []
        return self.db.read(
            lambda snap: [
                _public(doc_id, doc, record_type)
                for doc_id, doc in snap.docs(record_type)
                if not doc.get("deleted")
            ]
        )

    def record(self, record_type: str, record_id: str) -> dict[str, Any]:
        check_record_type(record_type)
        doc_id = _record_id(str(record_id))
        doc = self.db.read(lambda snap: snap.get(record_type, doc_id)) if self.exists() else None
        if doc is None or doc.get("deleted"):
            raise RecordNotFound(
                f"no {record_type} record {quote(record_id)} in database {self.database}"
            )
        return _public(doc_id, doc, record_type)

    def write(self, record_type: str, action: Callable[[_Tx], tuple[int, Doc]]) -> dict[str, Any]:
        check_record_type(record_type)
        with self.db.write() as tx:
            doc_id, doc = action(_Tx(tx))
        return _public(doc_id, doc, record_type)


# -- plain functions the ``wess crm`` commands call ------------------------------


def create_database(home: str | Path, database: str = DEFAULT_DATABASE) -> bool:
    """Create an empty database if missing (``wess init`` makes ``main``); True if created."""
    crm = LocalCrm(home, database)
    if crm.exists():
        return False
    with crm.db.write() as tx:
        tx.meta.setdefault("revision", 0)
    return True


def add_record(
    home: str | Path, database: str, record_type: str, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """Add one record; returns it with its new id."""
    fields = check_fields(fields)
    return LocalCrm(home, database).write(
        record_type, lambda tx: tx.create(record_type, fields, None)
    )


def update_record(
    home: str | Path, database: str, record_type: str, record_id: str, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge ``fields`` into a record (a ``None`` value removes that field)."""
    fields = check_fields(fields)
    return LocalCrm(home, database).write(
        record_type, lambda tx: tx.update(record_type, str(record_id), fields)
    )


def delete_record(
    home: str | Path, database: str, record_type: str, record_id: str
) -> dict[str, Any]:
    """Delete a record (a tombstone stays, so the sync sees the deletion)."""
    crm = LocalCrm(home, database)
    gone = crm.record(record_type, str(record_id))
    crm.write(record_type, lambda tx: tx.delete(record_type, str(record_id)))
    return gone


def get_record(home: str | Path, database: str, record_type: str, record_id: str) -> dict[str, Any]:
    """One live record with its id and fields."""
    return LocalCrm(home, database).record(record_type, str(record_id))


def list_records(home: str | Path, database: str, record_type: str) -> list[dict[str, Any]]:
    """Live records with their ids and fields; no tombstones."""
    return LocalCrm(home, database).list(record_type)


def _first_line(exc: BaseException) -> str:
    """ijson's messages quote the input over three lines; the first says what is wrong."""
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def read_import_file(path: str | Path) -> Iterator[Any]:
    """The entries of a JSON list file, one at a time, never the whole file in memory.

    The file is parsed as a stream of events (ijson's ``basic_parse``; its C backend) and
    each entry built here, so memory is one entry, not the 10x the file's size that
    ``json.loads`` takes. Refused with one line naming the file and the entry: anything
    but a list at the top, invalid JSON, NaN or Infinity (not JSON, though Python's
    ``json`` reads them), a number beyond 64 bits, an entry nested deeper than
    ``MAX_DEPTH`` (refused as it is read, before it costs memory: ijson's own ``items``
    builds a prefix per level, quadratic in the depth)."""
    import ijson

    path = Path(path)
    count = 0
    try:
        with path.open("rb") as stream:
            events = ijson.basic_parse(stream, use_float=True)
            first = next(events, None)
            if first is None or first[0] != "start_array":
                raise ValidationError(f"{path}: the import file must hold a JSON list of records")
            stack: list[Any] = []  # the containers of the entry being built
            keys: list[Any] = []  # for each, the key of the value that comes next
            for event, value in events:
                if event == "map_key":
                    keys[-1] = value
                    continue
                if event in ("start_map", "start_array"):
                    if len(stack) >= MAX_DEPTH:
                        raise ValidationError(
                            f"{path}: record {count + 1}: nested deeper than {MAX_DEPTH} levels"
                        )
                    stack.append({} if event == "start_map" else [])
                    keys.append(None)
                    continue
                if event in ("end_map", "end_array"):
                    if not stack:  # the end of the list: only whitespace may follow
                        continue
                    value = stack.pop()
                    keys.pop()
                if not stack:
                    count += 1
                    yield value
                elif isinstance(stack[-1], list):
                    stack[-1].append(value)
                else:
                    stack[-1][keys[-1]] = value
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such file") from None
    except OSError as exc:
        raise ValidationError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except ijson.JSONError as exc:
        reason = _first_line(exc)
        if any(word in str(exc) for word in ("NaN", "Infinity")):
            reason += " (NaN and Infinity are not JSON)"
        raise ValidationError(f"{path} is not a JSON file: record {count + 1}: {reason}") from None


_NONE = object()


def _entries(source: str | Path | Iterable[Any]) -> Iterable[Any]:
    if isinstance(source, str | Path):
        return read_import_file(source)
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise ValidationError("the import file must hold a JSON list of records")
    return source


def import_stream(
    home: str | Path, database: str, record_type: str, source: str | Path | Iterable[Any]
) -> range:
    """Add every record of ``source`` (a JSON list file, or any iterable of entries), all
    or nothing; returns the range of the new records' ids (they are consecutive).

    Each entry is a record's fields, or an object with a ``fields`` key (the shape
    ``wess crm list --json`` prints; its ``id`` is ignored, new ids are given).

    One streaming pass in one write transaction: each entry is checked as it is read and
    written to its shard, and shards are written out as they fill (``KEEP_SHARDS`` in
    memory), so memory does not grow with the file. The first bad entry aborts the
    transaction: the shard files written so far are removed and the manifest never named
    them, so nothing of the file is imported (and readers never saw any of it).
    """
    check_record_type(record_type)
    entries = iter(_entries(source))
    # the first entry is read before the database is locked: a missing file, or one that
    # is not a list, is refused without touching the database
    head = next(entries, _NONE)
    if head is not _NONE:
        entries = itertools.chain([head], entries)
    parsed = isinstance(source, str | Path)  # read_import_file's entries are JSON
    crm = LocalCrm(home, database)
    first = last = 0
    with crm.db.write() as tx:
        crm_tx = _Tx(tx)
        for n, entry in enumerate(entries, 1):
            if isinstance(entry, Mapping) and isinstance(entry.get("fields"), Mapping):
                entry = entry["fields"]
            label = f"{source}: record {n}" if parsed else f"record {n}"
            fields = check_fields(entry, label, parsed)
            doc_id, _ = crm_tx.create(record_type, fields, None, checked=True)
            first, last = first or doc_id, doc_id
    return range(first, last + 1) if first else range(0)


def imported_records(
    home: str | Path, database: str, record_type: str, ids: range
) -> Iterator[dict[str, Any]]:
    """The live records of ``ids`` (an import's range) as ``wess crm list`` shows them,
    read a shard at a time."""
    crm = LocalCrm(home, database)
    if not ids:
        return
    for n in range(shard_of(ids.start), shard_of(ids[-1]) + 1):
        docs = crm.db.read(lambda snap, n=n: snap.shard(check_record_type(record_type), n))
        for key in sorted(docs, key=int):
            doc_id, doc = int(key), docs[key]
            if doc_id in ids and not doc.get("deleted"):
                yield _public(doc_id, doc, record_type)


def import_records(
    home: str | Path, database: str, record_type: str, source: str | Path | Iterable[Any]
) -> list[dict[str, Any]]:
    """Add every record of a JSON list, all or nothing; returns them with their ids.

    For lists a program builds (the demo, tests); a file of any size is better imported
    with ``import_stream``, which does not return every record."""
    ids = import_stream(home, database, record_type, source)
    return list(imported_records(home, database, record_type, ids))


def relink_emails(home: str | Path, database: str = DEFAULT_DATABASE) -> int:
    """Recompute every e-mail record's ``people_ids``; returns how many changed."""
    crm = LocalCrm(home, database)
    if not crm.exists():
        return 0
    changed = 0
    with crm.db.write() as tx:
        crm_tx = _Tx(tx)
        for doc_id, doc in tx.docs("emails"):  # each shard is iterated from a copy
            if doc.get("deleted"):
                continue
            ids = crm_tx.people_ids(doc.get("fields") or {})
            if ids != doc.get("people_ids"):
                tx.put("emails", doc_id, {**doc, "people_ids": ids})
                changed += 1
    return changed
