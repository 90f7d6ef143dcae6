"""The built-in ``local`` CRM: an embedded CRM in the home's SQL tables.

A database (``main``, ...) is a revision counter and its records of each type
(``people``, ``meetings``, ``tasks``, ``emails``) in the tables of
``wess_plugins.crm_local.tables``, so a lookup or a write costs the rows it touches,
not the whole database. Every write bumps the counter
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

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wess_core.errors import ValidationError, quote
from wess_core.store import check_name_part
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
from wess_plugins.crm_local.checks import check_fields, read_import_file
from wess_plugins.crm_local.tables import CHUNK, Transaction, View, crm_tables

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
    """A record id as the table's key (0, never found, for ids that are not numbers)."""
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
        tomb = {**doc, "revision": self.bump(), "fields": {}, "deleted": True, "modified": _now()}
        if record_type == "emails":
            tomb["people_ids"] = []
        if record_type == "people":
            self._people_index = None
        self.tx.put(record_type, doc_id, tomb)
        return doc_id, tomb


class LocalCrm:
    """The ``local`` CRM backend: ``LocalCrm(home, database)``."""

    #: Each bulk call is one transaction: batches of a thousand keep an import of
    #: thousands of records from committing per hundred.
    preferred_batch = 1000

    def __init__(self, home: str | Path, database: str = DEFAULT_DATABASE) -> None:
        self.home = Path(home)
        self.database = check_name_part(database, "database")
        self.tables = crm_tables(self.home)

    def __repr__(self) -> str:
        return f"LocalCrm({str(self.home)!r}, {self.database!r})"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_Tx]:
        """One write transaction on the database (created when missing): all or nothing."""
        with self.tables.write() as conn:
            tx = Transaction(conn, self.database)
            yield _Tx(tx)
            tx.commit()

    @contextlib.contextmanager
    def view(self) -> Iterator[View]:
        with self.tables.read() as conn:
            yield View(conn, self.database)

    def exists(self) -> bool:
        with self.view() as view:
            return view.revision() is not None

    def _bulk(self, inputs: Sequence[Any], one: Callable[[_Tx], tuple[int, Doc]]) -> list[Any]:
        """One write transaction for the whole batch; one result or error per input."""
        out: list[Any] = []
        with self.transaction() as crm_tx:
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
        read a page at a time as they are consumed.

        The new cursor is the record type's own newest revision, so writes to other
        record types leave it where it was (and the folder's sync state unwritten)."""
        check_record_type(record_type)
        start = int(cursor) if cursor else 0
        with self.view() as view:
            counter, newest = view.heads(record_type)
        if counter is None:  # nothing written yet: all is after revision 0
            return [], cursor or "0"
        head = str(max(newest, start))
        return self._changed(record_type, start, newest, live_only=cursor is None), head

    def _changed(
        self, record_type: str, start: int, upto: int, live_only: bool
    ) -> Iterator[CrmChange]:
        """Pages of revisions in (start, upto]: a record written meanwhile (a newer
        revision) is the next run's change."""
        while start < upto:
            with self.view() as view:
                page = view.newer(record_type, start, upto)
            if not page:
                return
            for doc_id, doc in page:
                if not (live_only and doc.get("deleted")):
                    yield _to_record(doc_id, doc)
            start = page[-1][1]["revision"]

    def get(self, record_type: str, ids: Sequence[str]) -> list[Outcome[CrmRecord]]:
        check_record_type(record_type)
        with self.view() as view:
            found = view.get_many(record_type, [_record_id(rid) for rid in ids])
        out: list[Outcome[CrmRecord]] = []
        for rid in ids:
            doc_id = _record_id(rid)
            doc = found.get(doc_id)
            if doc is None or doc.get("deleted"):
                out.append(RecordNotFound(f"no {record_type} record {quote(rid)}"))
            else:
                out.append(_to_record(doc_id, doc))
        return out

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
        with self.view() as view:
            return [_public(i, doc, record_type) for i, doc in view.docs(record_type, live=True)]

    def records(self, record_type: str, ids: range) -> Iterator[dict[str, Any]]:
        """The live records of ``ids``, oldest first, read a page at a time."""
        check_record_type(record_type)
        after = ids.start - 1
        while after + 1 < ids.stop:
            with self.view() as view:
                page = view.page(record_type, after, live=True, stop=ids.stop)
            yield from (_public(doc_id, doc, record_type) for doc_id, doc in page)
            if len(page) < CHUNK:
                return
            after = page[-1][0]

    def record(self, record_type: str, record_id: str) -> dict[str, Any]:
        check_record_type(record_type)
        doc_id = _record_id(str(record_id))
        with self.view() as view:
            doc = view.get_many(record_type, [doc_id]).get(doc_id)
        if doc is None or doc.get("deleted"):
            raise RecordNotFound(
                f"no {record_type} record {quote(record_id)} in database {self.database}"
            )
        return _public(doc_id, doc, record_type)

    def write(self, record_type: str, action: Callable[[_Tx], tuple[int, Doc]]) -> dict[str, Any]:
        check_record_type(record_type)
        with self.transaction() as crm_tx:
            doc_id, doc = action(crm_tx)
        return _public(doc_id, doc, record_type)


# -- plain functions the ``wess crm`` commands call ------------------------------


def create_database(home: str | Path, database: str = DEFAULT_DATABASE) -> bool:
    """Create an empty database if missing (``wess init`` makes ``main``); True if created."""
    crm = LocalCrm(home, database)
    if crm.exists():
        return False
    with crm.transaction():
        pass
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

    One streaming pass in one write transaction: each entry is checked as it is read,
    and the records are sent to the database a batch at a time, so memory does not grow
    with the file. The first bad entry rolls the transaction back: nothing of the file is
    imported (and readers never saw any of it).
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
    with crm.transaction() as crm_tx:
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
    read a page at a time."""
    return LocalCrm(home, database).records(record_type, ids)


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
    with crm.transaction() as crm_tx:
        for doc_id, doc in crm_tx.tx.docs("emails", live=True):
            ids = crm_tx.people_ids(doc.get("fields") or {})
            if ids != doc.get("people_ids"):
                crm_tx.tx.put("emails", doc_id, {**doc, "people_ids": ids})
                changed += 1
    return changed
