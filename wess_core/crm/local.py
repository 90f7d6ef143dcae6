"""The built-in ``local`` CRM: an embedded CRM in one TinyDB store file per database.

A database ``main`` lives in the store file ``crm/main`` under the WESS home. It holds
one table per record type (``people``, ``meetings``, ``tasks``, ``emails``) and a
``meta`` table with the database's revision counter. Every write bumps the counter
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
Each bulk call and each function is one atomic write of the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.table import Document, Table

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
)

DEFAULT_DATABASE = "main"
_META = "meta"
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


def check_fields(fields: Any, what: str = "fields") -> dict[str, Any]:
    """Record fields are a JSON object with non-empty string keys."""
    if not isinstance(fields, Mapping):
        raise ValidationError(f"{what} must be a JSON object, got {type(fields).__name__}")
    for key in fields:
        if not isinstance(key, str) or not key.strip():
            raise ValidationError(
                f"{what}: field names must be non-empty strings, got {quote(key)}"
            )
    try:
        json.dumps(fields)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what}: values must be JSON ({exc})") from None
    return dict(fields)


def _merge(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for key, value in new.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _addresses(value: Any) -> set[str]:
    """E-mail addresses in a field: a string, a list of strings, or {"email": ...} dicts."""
    if isinstance(value, str):
        return {value.strip().lower()} if "@" in value else set()
    if isinstance(value, Mapping):
        return _addresses(value.get("email") or value.get("email_address"))
    if isinstance(value, list | tuple):
        return set().union(*(_addresses(v) for v in value)) if value else set()
    return set()


def _to_record(doc: Document) -> CrmRecord:
    return CrmRecord(
        id=str(doc.doc_id),
        revision=doc["revision"],
        fields=dict(doc.get("fields") or {}),
        exchange_id=doc.get("exchange_id"),
        deleted=bool(doc.get("deleted")),
        modified=doc.get("modified"),
    )


def _public(doc: Document, record_type: str) -> dict[str, Any]:
    """What ``wess crm list/add/...`` print for one live record."""
    out: dict[str, Any] = {
        "id": str(doc.doc_id),
        "type": record_type,
        "revision": doc["revision"],
        "fields": dict(doc.get("fields") or {}),
        "exchange_id": doc.get("exchange_id"),
        "modified": doc.get("modified"),
    }
    if record_type == "emails":
        out["people_ids"] = list(doc.get("people_ids") or [])
    return out


class _Tx:
    """One write transaction on a CRM database: revision counter and e-mail linking."""

    def __init__(self, db: TinyDB) -> None:
        self.db = db
        self._people_index: dict[str, list[str]] | None = None

    def table(self, record_type: str) -> Table:
        return self.db.table(check_record_type(record_type))

    def bump(self) -> int:
        meta = self.db.table(_META)
        doc = meta.get(doc_id=1)
        revision = (doc["revision"] if doc else 0) + 1
        meta.upsert(Document({"revision": revision}, doc_id=1))
        return revision

    def live(self, record_type: str, record_id: str) -> Document:
        doc = self.table(record_type).get(doc_id=int(record_id)) if record_id.isdigit() else None
        if doc is None or doc.get("deleted"):
            raise RecordNotFound(f"no {record_type} record {quote(record_id)}")
        return doc

    def people_ids(self, fields: Mapping[str, Any]) -> list[str]:
        if self._people_index is None:
            index: dict[str, list[str]] = {}
            for doc in self.db.table("people").all():
                if doc.get("deleted"):
                    continue
                for name in _EMAIL_FIELDS:
                    for address in _addresses((doc.get("fields") or {}).get(name)):
                        index.setdefault(address, []).append(str(doc.doc_id))
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
        self, record_type: str, fields: Mapping[str, Any], exchange_id: str | None
    ) -> Document:
        doc = {
            "revision": self.bump(),
            "fields": _merge({}, check_fields(fields)),
            "exchange_id": exchange_id,
            "deleted": False,
            "modified": _now(),
        }
        doc.update(self._extra(record_type, doc["fields"]))
        table = self.table(record_type)
        doc_id = table.insert(doc)
        return table.get(doc_id=doc_id)  # type: ignore[return-value]

    def update(
        self, record_type: str, record_id: str, fields: Mapping[str, Any], expected: Any = None
    ) -> Document:
        doc = self.live(record_type, record_id)
        if expected is not None and expected != doc["revision"]:
            raise RecordChanged(f"{record_type} record {record_id} was changed meanwhile")
        new_fields = _merge(doc.get("fields") or {}, check_fields(fields))
        changes = {"revision": self.bump(), "fields": new_fields, "modified": _now()}
        changes.update(self._extra(record_type, new_fields))
        table = self.table(record_type)
        table.update(changes, doc_ids=[doc.doc_id])
        return table.get(doc_id=doc.doc_id)  # type: ignore[return-value]

    def delete(self, record_type: str, record_id: str) -> Document:
        doc = self.live(record_type, record_id)
        table = self.table(record_type)
        tomb = {"revision": self.bump(), "fields": {}, "deleted": True, "modified": _now()}
        if record_type == "emails":
            tomb["people_ids"] = []
        if record_type == "people":
            self._people_index = None
        table.update(tomb, doc_ids=[doc.doc_id])
        return table.get(doc_id=doc.doc_id)  # type: ignore[return-value]


class LocalCrm:
    """The ``local`` CRM backend: ``LocalCrm(home, database)``."""

    #: Each bulk call rewrites the database file once: big batches keep an import of
    #: thousands of records from rewriting it hundreds of times.
    preferred_batch = 1000

    def __init__(self, home: str | Path, database: str = DEFAULT_DATABASE) -> None:
        self.store = Store(home)
        self.database = check_name_part(database, "database")
        self.name = f"crm/{self.database}"

    def __repr__(self) -> str:
        return f"LocalCrm({str(self.store.home)!r}, {self.database!r})"

    def exists(self) -> bool:
        return self.store.exists(self.name)

    def _docs(self, record_type: str) -> list[Document]:
        check_record_type(record_type)
        if not self.exists():
            return []
        return self.store.read(self.name).table(record_type).all()

    def _bulk(self, inputs: Sequence[Any], one: Callable[[_Tx, Any], Document]) -> list[Any]:
        """One write transaction for the whole batch; one result or error per input."""
        out: list[Any] = []
        with self.store.write(self.name) as db:
            tx = _Tx(db)
            for value in inputs:
                try:
                    out.append(_to_record(one(tx, value)))
                except (RecordNotFound, RecordChanged, ValidationError) as exc:
                    out.append(exc)
        return out

    # -- CrmBackend -----------------------------------------------------------

    def changes(self, record_type: str, cursor: str | None) -> tuple[list[CrmChange], str | None]:
        """Records written after ``cursor`` (a revision number), tombstones included."""
        check_record_type(record_type)
        if not self.exists():
            return [], cursor
        db = self.store.read(self.name)
        meta = db.table(_META).get(doc_id=1)
        head = meta["revision"] if meta else 0
        start = int(cursor) if cursor else 0
        docs = [d for d in db.table(record_type).all() if d["revision"] > start]
        if cursor is None:
            docs = [d for d in docs if not d.get("deleted")]
        docs.sort(key=lambda d: d["revision"])
        return [_to_record(d) for d in docs], str(head)

    def get(self, record_type: str, ids: Sequence[str]) -> list[Outcome[CrmRecord]]:
        check_record_type(record_type)
        table = self.store.read(self.name).table(record_type) if self.exists() else None
        out: list[Outcome[CrmRecord]] = []
        for rid in ids:
            doc = table.get(doc_id=int(rid)) if table is not None and rid.isdigit() else None
            if doc is None or doc.get("deleted"):
                out.append(RecordNotFound(f"no {record_type} record {quote(rid)}"))
            else:
                out.append(_to_record(doc))
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
        return [_public(d, record_type) for d in self._docs(record_type) if not d.get("deleted")]

    def record(self, record_type: str, record_id: str) -> dict[str, Any]:
        for doc in self._docs(record_type):
            if str(doc.doc_id) == str(record_id) and not doc.get("deleted"):
                return _public(doc, record_type)
        raise RecordNotFound(
            f"no {record_type} record {quote(record_id)} in database {self.database}"
        )

    def write(self, record_type: str, action: Callable[[_Tx], Document]) -> dict[str, Any]:
        check_record_type(record_type)
        with self.store.write(self.name) as db:
            doc = action(_Tx(db))
        return _public(doc, record_type)


# -- plain functions the ``wess crm`` commands call ------------------------------


def create_database(home: str | Path, database: str = DEFAULT_DATABASE) -> bool:
    """Create an empty database if missing (``wess init`` makes ``main``); True if created."""
    crm = LocalCrm(home, database)
    if crm.exists():
        return False
    with crm.store.write(crm.name) as db:
        db.table(_META).upsert(Document({"revision": 0}, doc_id=1))
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


def _load_import(source: str | Path | Iterable[Any]) -> list[Any]:
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValidationError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ValidationError(f"{path} is not a JSON file: {exc}") from None
    else:
        data = list(source)
    if not isinstance(data, list):
        raise ValidationError("the import file must hold a JSON list of records")
    return data


def import_records(
    home: str | Path, database: str, record_type: str, source: str | Path | Iterable[Any]
) -> list[dict[str, Any]]:
    """Add every record of a JSON list, all or nothing; returns them with their ids.

    Each entry is a record's fields, or an object with a ``fields`` key (the shape
    ``wess crm list --json`` prints; its ``id`` is ignored, new ids are given).
    """
    check_record_type(record_type)
    entries = _load_import(source)
    fields_list = []
    for n, entry in enumerate(entries, 1):
        if isinstance(entry, Mapping) and isinstance(entry.get("fields"), Mapping):
            entry = entry["fields"]
        fields_list.append(check_fields(entry, f"record {n}"))
    crm = LocalCrm(home, database)
    with crm.store.write(crm.name) as db:
        tx = _Tx(db)
        docs = [tx.create(record_type, f, None) for f in fields_list]
    return [_public(d, record_type) for d in docs]


def relink_emails(home: str | Path, database: str = DEFAULT_DATABASE) -> int:
    """Recompute every e-mail record's ``people_ids``; returns how many changed."""
    crm = LocalCrm(home, database)
    if not crm.exists():
        return 0
    changed = 0
    with crm.store.write(crm.name) as db:
        tx = _Tx(db)
        table = db.table("emails")
        for doc in table.all():
            if doc.get("deleted"):
                continue
            ids = tx.people_ids(doc.get("fields") or {})
            if ids != doc.get("people_ids"):
                table.update({"people_ids": ids}, doc_ids=[doc.doc_id])
                changed += 1
    return changed
