"""In-memory mailbox and CRM with fault injection, for tests and plugin authors.

``MemoryMailbox`` implements ``wess_core.strategies.Transport`` and ``MemoryCrm``
implements ``CrmBackend``, with the same semantics a real implementation must have
(``wess_core.sync.contract`` checks both). Each also has "user" methods (``add``,
``edit``, ``remove``) that play a person editing in Outlook or in the CRM: they are not
counted as calls and never fail.

Faults (``.faults``) make a call or an item fail, the way a network, a server or a
killed process does::

    mailbox.faults.fail_call("create", error=Killed(), after=True)  # work done, answer lost
    mailbox.faults.fail_items("update", lambda upd: upd.fields.get("surname") == "X",
                              ItemChanged("changed meanwhile"))
    mailbox.invalidate_sync_state()                                  # old tokens refused
    mailbox.expire_watch()                                           # subscriptions lost

``MemoryMailbox.watch`` is a pull subscription: every add / edit / remove (and so every
create / update / delete) appends its folder to each live subscription's event log.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from wess_core import strategies
from wess_core.strategies import (
    RECORD_TYPES,
    ChangesPage,
    CrmChange,
    CrmRecord,
    FolderEvents,
    InvalidSyncState,
    ItemChanged,
    ItemNotFound,
    ItemRef,
    ItemUpdate,
    MailboxChange,
    MailboxItem,
    NewItem,
    NewRecord,
    Outcome,
    RecordChanged,
    RecordNotFound,
    RecordUpdate,
)


class Killed(BaseException):  # noqa: N818 - it plays a process being killed, not an error
    """Plays the process being killed: a ``BaseException``, so nothing catches it."""


_clock = itertools.count(1)
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def fake_now() -> str:
    """A strictly increasing timestamp shared by both fakes (newest-wins needs one clock)."""
    return (_EPOCH + timedelta(seconds=next(_clock))).isoformat()


def merge_fields(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``strategies.merge_fields`` keeping copies of the new values (a fake's storage must
    not share objects with its callers)."""
    return strategies.merge_fields(old, copy.deepcopy(new))


@dataclass
class _CallFault:
    method: str
    on_call: int
    error: BaseException
    after: bool


@dataclass
class _ItemFault:
    method: str
    match: Callable[[Any], bool]
    error: Exception


@dataclass
class Faults:
    """Fault rules of one fake; ``calls`` counts every call by method name."""

    calls: Counter[str] = field(default_factory=Counter)
    _call_faults: list[_CallFault] = field(default_factory=list)
    _item_faults: list[_ItemFault] = field(default_factory=list)

    def fail_call(
        self, method: str, nth: int = 1, error: BaseException | None = None, after: bool = False
    ) -> None:
        """Make the ``nth`` next call of ``method`` raise ``error`` (once). With ``after``
        the call does its work first and the answer is lost (a kill after the write)."""
        err = error if error is not None else ConnectionError(f"injected failure in {method}")
        self._call_faults.append(_CallFault(method, self.calls[method] + nth, err, after))

    def fail_items(self, method: str, match: Callable[[Any], bool], error: Exception) -> None:
        """Make every input of ``method`` for which ``match(input)`` is true fail with
        ``error`` in the bulk answer, until ``clear``."""
        self._item_faults.append(_ItemFault(method, match, error))

    def clear(self) -> None:
        self._call_faults.clear()
        self._item_faults.clear()

    # -- used by the fakes -------------------------------------------------------

    def enter(self, method: str) -> None:
        self.calls[method] += 1
        self._fire(method, after=False)

    def leave(self, method: str) -> None:
        self._fire(method, after=True)

    def _fire(self, method: str, after: bool) -> None:
        for fault in list(self._call_faults):
            if fault.method == method and fault.on_call == self.calls[method]:
                if fault.after == after:
                    self._call_faults.remove(fault)
                    raise fault.error

    def item_error(self, method: str, value: Any) -> Exception | None:
        for fault in self._item_faults:
            if fault.method == method and fault.match(value):
                return fault.error
        return None


@dataclass
class _Stored:
    fields: dict[str, Any]
    changekey: str
    crm_id: str | None
    modified: str
    seq: int
    exists: bool = True


class MemoryMailbox:
    """A mailbox of folders held in memory, with a change log, tokens and pages.

    ``page_size`` limits changes per page; ``inline=False`` sends changes without their
    content (as EWS SyncFolderItems with IdOnly does), so the engine has to ``get`` them.
    """

    def __init__(self, *, max_batch: int = 100, page_size: int = 100, inline: bool = True):
        self.max_batch = max_batch
        self.page_size = page_size
        self.inline = inline
        self.faults = Faults()
        self._folders: dict[str, dict[str, _Stored]] = {}
        self._seq = 0
        self._epoch = 0
        self._ids = itertools.count(1)
        #: Live pull subscriptions: id → (watched folders, event log of folder names).
        self._subscriptions: dict[str, tuple[frozenset[str], list[str]]] = {}
        self._subscription_ids = itertools.count(1)

    @property
    def calls(self) -> Counter[str]:
        return self.faults.calls

    # -- people using Outlook ------------------------------------------------------

    def _folder(self, folder: str) -> dict[str, _Stored]:
        return self._folders.setdefault(folder, {})

    def _bump(self, folder: str) -> int:
        """The next change number; an event of ``folder`` for every subscription on it."""
        for folders, log in self._subscriptions.values():
            if folder in folders:
                log.append(folder)
        self._seq += 1
        return self._seq

    def add(self, folder: str, fields: dict[str, Any], crm_id: str | None = None) -> str:
        """A person creates an item (``crm_id``: a copy of an item WESS made)."""
        item_id = f"AAMk{next(self._ids):06d}"
        seq = self._bump(folder)
        self._folder(folder)[item_id] = _Stored(
            merge_fields({}, fields), f"CK{seq}", crm_id, fake_now(), seq
        )
        return item_id

    def edit(self, folder: str, item_id: str, fields: dict[str, Any]) -> None:
        """A person edits an item (fields merged; ``None`` clears)."""
        stored = self._live(folder, item_id)
        seq = self._bump(folder)
        stored.fields = merge_fields(stored.fields, fields)
        stored.changekey, stored.seq, stored.modified = f"CK{seq}", seq, fake_now()

    def touch(self, folder: str, item_id: str) -> None:
        """A new changekey without a content change (a flag, a category, a read mark)."""
        self.edit(folder, item_id, {})

    def remove(self, folder: str, item_id: str) -> None:
        stored = self._live(folder, item_id)
        stored.exists, stored.seq, stored.fields = False, self._bump(folder), {}

    def items(self, folder: str) -> dict[str, MailboxItem]:
        """Every item in ``folder`` now, by id."""
        return {iid: self._item(iid, s) for iid, s in self._folder(folder).items() if s.exists}

    def invalidate_sync_state(self) -> None:
        """Every token handed out so far is refused from now on (InvalidSyncState)."""
        self._epoch += 1

    def expire_watch(self) -> None:
        """Every subscription is dropped (expired, or the server restarted): the next
        ``watch`` subscribes again and reports every folder."""
        self._subscriptions.clear()

    def _live(self, folder: str, item_id: str) -> _Stored:
        stored = self._folder(folder).get(item_id)
        if stored is None or not stored.exists:
            raise ItemNotFound(f"no item {item_id} in {folder}")
        return stored

    @staticmethod
    def _item(item_id: str, s: _Stored) -> MailboxItem:
        return MailboxItem(item_id, s.changekey, copy.deepcopy(s.fields), s.crm_id, s.modified)

    # -- Transport ----------------------------------------------------------------

    def changes(self, folder: str, token: str | None) -> ChangesPage:
        self.faults.enter("changes")
        if token is None:
            start, full = 0, True
        else:
            epoch, _, seq = token.partition(":")
            if not seq.isdigit() or epoch != str(self._epoch):
                raise InvalidSyncState(f"sync state {token!r} is no longer valid")
            start, full = int(seq), False
        entries = sorted(
            (s.seq, iid)
            for iid, s in self._folder(folder).items()
            if s.seq > start and (s.exists or not full)
        )
        page = entries[: self.page_size]
        done = len(entries) <= self.page_size
        changes = []
        for _, iid in page:
            s = self._folder(folder)[iid]
            if not s.exists:
                changes.append(MailboxChange(iid, None, deleted=True))
            else:
                item = self._item(iid, s) if self.inline else None
                changes.append(MailboxChange(iid, s.changekey, item=item))
        last = self._seq if done else page[-1][0]
        answer = ChangesPage(changes, f"{self._epoch}:{last}", done)
        self.faults.leave("changes")
        return answer

    def watch(self, folders: Sequence[str], state: str | None) -> FolderEvents:
        """The folders with events since ``state``'s watermark; a missing, unknown or
        other folders' subscription → a new one, every folder changed."""
        self.faults.enter("watch")
        wanted = frozenset(folders)
        known = json.loads(state) if state else {}
        live = self._subscriptions.get(known.get("id", ""))
        if live is None or live[0] != wanted:
            sub_id = f"sub{next(self._subscription_ids)}"
            self._subscriptions[sub_id] = (wanted, [])
            answer = FolderEvents(wanted, self._watch_state(sub_id, 0), renewed=True)
        else:
            log = live[1]
            changed = frozenset(log[known["watermark"] :])
            answer = FolderEvents(changed, self._watch_state(known["id"], len(log)))
        self.faults.leave("watch")
        return answer

    @staticmethod
    def _watch_state(sub_id: str, watermark: int) -> str:
        return json.dumps({"id": sub_id, "watermark": watermark})

    def get(self, folder: str, item_ids: Sequence[str]) -> list[Outcome[MailboxItem]]:
        self.faults.enter("get")
        out: list[Outcome[MailboxItem]] = []
        for iid in item_ids:
            err = self.faults.item_error("get", iid)
            try:
                if err is not None:
                    raise err
                out.append(self._item(iid, self._live(folder, iid)))
            except Exception as exc:
                out.append(exc)
        self.faults.leave("get")
        return out

    def create(self, folder: str, items: Sequence[NewItem]) -> list[Outcome[ItemRef]]:
        self.faults.enter("create")
        out: list[Outcome[ItemRef]] = []
        for new in items:
            err = self.faults.item_error("create", new)
            if err is not None:
                out.append(err)
                continue
            iid = self.add(folder, new.fields, crm_id=new.crm_id)
            out.append(ItemRef(iid, self._folder(folder)[iid].changekey))
        self.faults.leave("create")
        return out

    def update(self, folder: str, updates: Sequence[ItemUpdate]) -> list[Outcome[ItemRef]]:
        self.faults.enter("update")
        out: list[Outcome[ItemRef]] = []
        for upd in updates:
            try:
                err = self.faults.item_error("update", upd)
                if err is not None:
                    raise err
                stored = self._live(folder, upd.item_id)
                if upd.changekey is not None and upd.changekey != stored.changekey:
                    raise ItemChanged(f"{upd.item_id} changed since {upd.changekey}")
                self.edit(folder, upd.item_id, upd.fields)
                out.append(ItemRef(upd.item_id, stored.changekey))
            except Exception as exc:
                out.append(exc)
        self.faults.leave("update")
        return out

    def delete(self, folder: str, refs: Sequence[ItemRef]) -> list[Outcome[None]]:
        self.faults.enter("delete")
        out: list[Outcome[None]] = []
        for ref in refs:
            err = self.faults.item_error("delete", ref)
            if err is not None:
                out.append(err)
                continue
            stored = self._folder(folder).get(ref.item_id)
            if stored is not None and stored.exists:
                self.remove(folder, ref.item_id)
            out.append(None)
        self.faults.leave("delete")
        return out


class MemoryCrm:
    """A CRM held in memory: record types of records with revisions and tombstones.

    Revisions are one counter for the whole database; the cursor is the last revision a
    ``changes`` call covered.
    """

    def __init__(self, record_types: Sequence[str] = RECORD_TYPES) -> None:
        self.record_types = tuple(record_types)
        self.faults = Faults()
        self._records: dict[str, dict[str, CrmRecord]] = {t: {} for t in self.record_types}
        self._revision = 0
        self._ids = itertools.count(1)

    @property
    def calls(self) -> Counter[str]:
        return self.faults.calls

    def _table(self, record_type: str) -> dict[str, CrmRecord]:
        if record_type not in self._records:
            raise ValueError(f"unknown record type {record_type!r}")
        return self._records[record_type]

    def _bump(self) -> int:
        self._revision += 1
        return self._revision

    # -- people using the CRM ------------------------------------------------------

    def add(self, record_type: str, fields: dict[str, Any], exchange_id: str | None = None) -> str:
        rid = str(next(self._ids))
        self._table(record_type)[rid] = CrmRecord(
            rid, self._bump(), merge_fields({}, fields), exchange_id, False, fake_now()
        )
        return rid

    def edit(self, record_type: str, record_id: str, fields: dict[str, Any]) -> CrmRecord:
        rec = self._live(record_type, record_id)
        rec.fields = merge_fields(rec.fields, fields)
        rec.revision, rec.modified = self._bump(), fake_now()
        return rec

    def remove(self, record_type: str, record_id: str) -> CrmRecord:
        rec = self._live(record_type, record_id)
        rec.fields, rec.deleted = {}, True
        rec.revision, rec.modified = self._bump(), fake_now()
        return rec

    def live(self, record_type: str) -> dict[str, CrmRecord]:
        """Every live record of a type, by id (copies)."""
        return {
            rid: copy.deepcopy(r) for rid, r in self._table(record_type).items() if not r.deleted
        }

    def _live(self, record_type: str, record_id: str) -> CrmRecord:
        rec = self._table(record_type).get(record_id)
        if rec is None or rec.deleted:
            raise RecordNotFound(f"no {record_type} record {record_id}")
        return rec

    # -- CrmBackend -----------------------------------------------------------------

    def changes(self, record_type: str, cursor: str | None) -> tuple[list[CrmChange], str | None]:
        self.faults.enter("changes")
        start = int(cursor) if cursor else 0
        found = sorted(
            (r for r in self._table(record_type).values() if r.revision > start),
            key=lambda r: r.revision,
        )
        if cursor is None:
            found = [r for r in found if not r.deleted]
        answer = [copy.deepcopy(r) for r in found], str(self._revision)
        self.faults.leave("changes")
        return answer

    def _bulk(self, method: str, inputs: Sequence[Any], one: Callable[[Any], Any]) -> list[Any]:
        self.faults.enter(method)
        out: list[Any] = []
        for value in inputs:
            try:
                err = self.faults.item_error(method, value)
                if err is not None:
                    raise err
                out.append(copy.deepcopy(one(value)))
            except Exception as exc:
                out.append(exc)
        self.faults.leave(method)
        return out

    def get(self, record_type: str, ids: Sequence[str]) -> list[Outcome[CrmRecord]]:
        return self._bulk("get", ids, lambda rid: self._live(record_type, rid))

    def create(self, record_type: str, records: Sequence[NewRecord]) -> list[Outcome[CrmRecord]]:
        def one(new: NewRecord) -> CrmRecord:
            return self._table(record_type)[self.add(record_type, new.fields, new.exchange_id)]

        return self._bulk("create", records, one)

    def update(self, record_type: str, updates: Sequence[RecordUpdate]) -> list[Outcome[CrmRecord]]:
        def one(upd: RecordUpdate) -> CrmRecord:
            rec = self._live(record_type, upd.id)
            if upd.expected_revision is not None and upd.expected_revision != rec.revision:
                raise RecordChanged(f"{record_type} {upd.id} was changed meanwhile")
            return self.edit(record_type, upd.id, upd.fields)

        return self._bulk("update", updates, one)

    def delete(self, record_type: str, ids: Sequence[str]) -> list[Outcome[CrmRecord]]:
        return self._bulk("delete", ids, lambda rid: self.remove(record_type, rid))
