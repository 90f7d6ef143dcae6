"""The sync engine: one function per folder over a status table (vdirsyncer style).

``sync_folder`` runs in four steps:

1. **Read.** Mailbox changes since the stored token (page after page; an
   ``InvalidSyncState`` restarts from ``None``, a *full resync*), then CRM changes since
   the stored cursor, plus a re-read of the ids that failed last run. Content is fetched
   with ``get`` only for changes that are not our own writes coming back, and only when
   the transport did not send it along. An idle folder costs one ``changes`` call.
2. **Plan** (``wess_core.sync.plan``): a truth table per pair → actions.
3. **Act** in batches of at most ``batch_size`` (and the transport's ``max_batch``;
   CRM writes in bigger ones when the connector sets ``preferred_batch``):
   mailbox creates, updates, deletes, then CRM creates, updates, deletes. An item that
   fails is recorded in the result and in the state's retry list; its status row is left
   as it was. A batch's status rows are saved right after the batch.
4. **Commit** the token, the cursor and the retry lists, with the last batch.

Trust (``wess_core.sync.review``): unlinked sides are *matched* by the item type's keys
before anything is created; ambiguous matches and deletes over the *deletion guard* are
held for review (``FolderState.held``) and the rest of the folder syncs; a reviewer's
decision is carried out by the next run. Ids a person ignores (``FolderState.ignored``)
and undecided held ids are frozen: their changes are skipped. Every operation goes to the
per-item *ledger* (``ledger``), written once per batch like the state.

Crash safety: state is saved only after the writes it describes, so a run killed at any
point re-reads the same changes next time. Every item the engine creates carries its
CRM id and every record it creates carries the item id, so those changes re-link
(``plan.Planner.unlinked``) instead of duplicating.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from wess_core.errors import WessError
from wess_core.strategies import (
    CrmBackend,
    CrmRecord,
    Direction,
    InvalidSyncState,
    ItemNotFound,
    ItemRef,
    ItemType,
    ItemUpdate,
    MailboxChange,
    MailboxItem,
    MailboxUnavailable,
    NewItem,
    NewRecord,
    RecordNotFound,
    RecordUpdate,
    Transport,
)
from wess_core.sync.plan import (
    CRM_WRITES,
    DEFAULT_POLICY,
    MAILBOX_WRITES,
    Action,
    Kind,
    Views,
    check_policy,
    plan_folder,
)
from wess_core.sync.result import FolderResult, ItemError, SyncResult
from wess_core.sync.review import DeletionGuard, match_keys_of, review_id, summary
from wess_core.sync.status import FolderState, StatusRow, SyncState

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100
#: Refuse to follow a transport that never says ``done`` (a bug, not a big folder).
MAX_PAGES = 100_000

T = TypeVar("T")


class Ledger(Protocol):
    """Where the engine appends its per-item operations (``wess_core.sync.ledger``)."""

    def write(self, entries: list[dict[str, Any]]) -> None: ...


#: Ledger operation per action kind.
_OPS = {
    Kind.CREATE_ITEM: "create", Kind.UPDATE_ITEM: "update", Kind.DELETE_ITEM: "delete",
    Kind.CREATE_RECORD: "create", Kind.UPDATE_RECORD: "update", Kind.DELETE_RECORD: "delete",
    Kind.LINK: "link", Kind.UNLINK: "unlink", Kind.HOLD: "hold",
}  # fmt: skip


class MappingFailed(WessError):
    """The item type's mapping raised on one record or item (a number where it expects
    text, a value it cannot read): that one fails and is retried next run, never its
    batch or its folder."""

    code = "MappingFailed"

    @classmethod
    def of(cls, exc: BaseException) -> MappingFailed:
        if isinstance(exc, MappingFailed):
            return exc
        return cls(f"cannot map it: {type(exc).__name__}: {_message(exc)}")


def _chunks(seq: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _decision_allowed(entry: dict[str, Any]) -> bool:
    """Approving a held delete of CRM records (a database other users share) takes an
    admin (``wess_core.service.review.decide`` records ``admin``); a user's approval
    stored before that rule (``by`` a login, no ``admin`` flag) is not carried out.
    A decision without ``by`` comes from code, not a reviewer, and stands."""
    decision = entry.get("decision") or {}
    if entry.get("kind") != "delete" or entry.get("side") != "crm":
        return True
    if decision.get("action") != "approve":
        return True
    if "admin" in decision:
        return bool(decision["admin"])
    return decision.get("by", "admin") == "admin"


class _FolderRun:
    """The state of one ``sync_folder`` call."""

    def __init__(
        self,
        item_type: ItemType,
        crm: CrmBackend,
        mailbox: Transport,
        state_store: SyncState,
        policy: str,
        dry_run: bool,
        batch_size: int,
        guard: DeletionGuard,
        ledger: Ledger | None,
    ) -> None:
        self.t = item_type
        self.crm = crm
        self.mailbox = mailbox
        self.store = state_store
        self.policy = check_policy(policy)
        self.dry_run = dry_run
        self.batch = max(1, min(batch_size, getattr(mailbox, "max_batch", batch_size)))
        #: CRM writes come in batches of at least ``self.batch``, bigger when the connector
        #: prefers (the local CRM rewrites its file per batch, and the state is saved per batch).
        self.crm_batch = max(self.batch, int(getattr(crm, "preferred_batch", 0) or 0))
        self.guard = guard
        self.ledger = ledger
        self.events: list[dict[str, Any]] = []
        #: Which side's full listing came back empty while pairs were linked.
        self.emptied = {"mailbox": False, "crm": False}
        self.views = Views(item_type)
        self.two_way = item_type.direction == Direction.TWO_WAY
        self.result = FolderResult(item_type.name, item_type.folder, dry_run=dry_run)
        self.state: FolderState = state_store.load(item_type.name)
        self.retry_items: dict[str, str] = {}
        self.retry_records: dict[str, str] = {}
        self.linked_before = len(self.state.rows)
        #: Unlinked ids whose content could not be read this run: what they might match
        #: on the other side waits for them (created next run, or matched).
        self.unread_items: set[str] = set()
        self.unread_records: set[str] = set()
        #: For streaming (``_stream``): ids it leaves to the whole-folder steps (set when
        #: the listing starts), and the unlinked CRM records' traits (set by ``read_crm``).
        self._special: set[str] = set()
        self._any_loose_record = False
        self._loose_exchange_ids: set[str] = set()

    # -- 1. read ---------------------------------------------------------------

    def read_mailbox(self, cch: dict[str, CrmRecord]) -> tuple[dict[str, MailboxChange], str]:
        """All pages since the stored token; a full listing when it is refused.

        Plain changes (see ``_plain``) are planned and carried out while the listing goes
        on, a CRM batch at a time, so memory holds a batch of items, not the folder; the
        rest is returned for the whole-folder steps. ``cch`` (the CRM changes, read
        first) gives up the changes of pairs whose items are carried out here.
        """
        token = self.state.token
        full = token is None
        stream = not self.dry_run
        if stream:
            frozen, _ = self.state.frozen_ids()
            held = {i for e in self.state.held.values() for i in e.get("items") or ()}
            self._special = frozen | set(self.state.retry_items) | held
        while True:
            changes: dict[str, MailboxChange] = {}
            #: ids of a full listing, for the sweep (only when there are pairs to sweep).
            listed: set[str] = set()
            pending: list[str] = []
            try:
                for _ in range(MAX_PAGES):
                    page = self.mailbox.changes(self.t.folder, token)
                    for change in page.changes:
                        changes[change.item_id] = change
                        pending.append(change.item_id)
                        if full and self.linked_before:
                            listed.add(change.item_id)
                    token = page.token
                    if stream and (page.done or len(pending) >= self.crm_batch):
                        self._stream(changes, pending, cch)
                        pending = []
                    if page.done:
                        break
                else:
                    raise WessError(f"the mailbox never finished listing {self.t.folder}")
            except InvalidSyncState:
                if full:
                    raise
                log.info("%s: sync state refused, resyncing in full", self.t.folder)
                token, full = None, True
                continue
            break
        self.result.full_resync = full
        if full and self.linked_before:
            self._sweep(changes, listed)
        assert token is not None
        return changes, token

    def _sweep(self, changes: dict[str, MailboxChange], listed: set[str]) -> None:
        """In a full listing, a linked item that is not listed was deleted."""
        gone = [row for row in self.state if row.item_id not in listed]
        if gone and len(gone) == self.linked_before:
            self.emptied["mailbox"] = True  # the guard holds the deletes this implies
        for row in gone:
            changes[row.item_id] = MailboxChange(row.item_id, None, deleted=True)

    # -- 1b. carry out plain changes while listing ------------------------------

    def _stream(
        self, changes: dict[str, MailboxChange], ids: list[str], cch: dict[str, CrmRecord]
    ) -> None:
        """Plan and carry out the plain ones of ``ids`` now; they leave ``changes``.

        Plain changes are planned exactly as the whole-folder plan would plan them (they
        never delete, match or re-link), so doing them early changes nothing but memory.
        """
        batch = {i: changes[i] for i in dict.fromkeys(ids) if self._may_stream(i, changes[i])}
        self._fetch_content(batch, changes)
        plain = {i: mc for i, mc in batch.items() if i in changes and self._plain(i, mc, cch)}
        if not plain:
            return
        page_cch: dict[str, CrmRecord] = {}
        for iid in plain:
            del changes[iid]
            row = self.state.by_item(iid)
            if row is not None and row.crm_id in cch:
                page_cch[row.crm_id] = cch.pop(row.crm_id)
        self.screen(plain, page_cch)
        actions = plan_folder(self.t, self.state, plain, page_cch, self.policy)
        actions = self.defer_unmatched(actions)
        assert not any(a.kind in (Kind.DELETE_ITEM, Kind.DELETE_RECORD, Kind.HOLD,
                                  Kind.UNLINK) for a in actions), actions  # fmt: skip
        if actions:
            self.act(actions)
            if self.state.rows.pending() or self.events:  # status-only steps: no batch saved them
                self._save()

    def _may_stream(self, iid: str, mc: MailboxChange) -> bool:
        """Worth a look before its content is read: not a delete, not a special id."""
        return not mc.deleted and iid not in self._special

    def _plain(self, iid: str, mc: MailboxChange, cch: dict[str, CrmRecord]) -> bool:
        """A change the whole-folder plan would treat on its own: a linked item whose
        CRM side was not deleted, or a new item no CRM record could name or match."""
        if iid in self._loose_exchange_ids:
            return False
        row = self.state.by_item(iid)
        if row is not None:
            cc = cch.get(row.crm_id)
            return cc is None or not cc.deleted
        if mc.item is None or mc.item.crm_id:
            return False  # a re-link after a crash: the whole-folder steps read its record
        matchable = self.two_way and match_keys_of(self.t) is not None
        return not (matchable and (self._any_loose_record or self.unread_records))

    def read_crm(self) -> tuple[dict[str, CrmRecord], str | None]:
        """CRM changes since the cursor; with no cursor, a full listing whose missing
        linked records count as deleted (a run that died before its first commit)."""
        records, cursor = self.crm.changes(self.t.record_type, self.state.cursor)
        full = self.state.cursor is None
        changes: dict[str, CrmRecord] = {}
        listed: set[str] = set()  # a full listing's ids, to tell which linked ones are gone
        for record in records:  # may be read lazily: keep only what is not our own echo
            if full and self.linked_before:
                listed.add(record.id)
            row = self.state.by_crm(record.id)
            if row is not None and not record.deleted and record.revision == row.crm_rev:
                continue  # our own write coming back (or nothing new): the plan skips it
            if row is None and not record.deleted:  # unlinked: what streaming must respect
                self._any_loose_record = True
                if record.exchange_id:
                    self._loose_exchange_ids.add(record.exchange_id)
            changes[record.id] = record
        if full and self.linked_before:
            gone = [row for row in self.state if row.crm_id not in listed]
            if gone and len(gone) == self.linked_before:
                self.emptied["crm"] = True
            for row in gone:
                changes[row.crm_id] = CrmRecord(row.crm_id, "", deleted=True)
        return changes, cursor

    def reread_failed(self, mch: dict[str, MailboxChange], cch: dict[str, CrmRecord]) -> None:
        """Ids whose change failed last run are read again, as if they changed."""
        items = [i for i in self.state.retry_items if i not in mch]
        for iid, got in self._get_items(items).items():
            mch[iid] = (
                MailboxChange(iid, None, deleted=True)
                if got is None
                else MailboxChange(iid, got.changekey, item=got)
            )
        records = [r for r in self.state.retry_records if r not in cch]
        for cid, rec in self._get_records(records).items():
            cch[cid] = rec if rec is not None else CrmRecord(cid, "", deleted=True)

    def _get_items(self, ids: Sequence[str]) -> dict[str, MailboxItem | None]:
        """Current items by id (``None``: gone); failures go to the retry list."""
        return self._fetch(
            ids, lambda chunk: self.mailbox.get(self.t.folder, chunk), ItemNotFound,
            "get-item", "item_id",
        )  # fmt: skip

    def _get_records(self, ids: Sequence[str]) -> dict[str, CrmRecord | None]:
        """Current records by id (``None``: gone); failures go to the retry list."""
        return self._fetch(
            ids, lambda chunk: self.crm.get(self.t.record_type, chunk), RecordNotFound,
            "get-record", "crm_id",
        )  # fmt: skip

    def _fetch(
        self,
        ids: Sequence[str],
        get: Callable[[Sequence[str]], list[Any]],
        missing: type[Exception],
        action: str,
        id_key: str,
    ) -> dict[str, Any]:
        """Batched reads of one side: ``missing`` answers mean gone, other errors fail alone."""
        found: dict[str, Any] = {}
        for chunk in _chunks(list(ids), self.batch):
            try:
                answers: list[Any] = get(chunk)
            except Exception as exc:
                answers = [exc] * len(chunk)
            for ident, got in zip(chunk, answers, strict=True):
                if isinstance(got, missing):
                    found[ident] = None
                elif isinstance(got, Exception):
                    self._fail("read", action, got, **{id_key: ident})
                else:
                    found[ident] = got
        return found

    def _fetch_content(self, some: dict[str, MailboxChange], mch: dict[str, MailboxChange]) -> None:
        """Read the content of ``some``'s changes that are not echoes and came without
        it; both ``some`` and ``mch`` get the answers (an unreadable one leaves both:
        it is retried next run)."""
        need = []
        for iid, mc in some.items():
            if mc.deleted or mc.item is not None:
                continue
            row = self.state.by_item(iid)
            if row is None or mc.changekey is None or mc.changekey != row.changekey:
                need.append(iid)
        got_items = self._get_items(need)
        for iid in need:
            got = got_items.get(iid)
            if iid not in got_items:  # could not read it: retried next run
                some.pop(iid, None)
                mch.pop(iid, None)
                continue
            change = (
                MailboxChange(iid, None, deleted=True)
                if got is None
                else MailboxChange(iid, got.changekey, item=got)
            )
            some[iid] = mch[iid] = change

    def fill_content(self, mch: dict[str, MailboxChange], cch: dict[str, CrmRecord]) -> None:
        """Fetch what the plan needs and the changes did not carry.

        * content of mailbox changes that are not echoes of a stored changekey;
        * a record an unlinked item names by CRM id (re-link after a crash);
        * an item an unlinked record names by ``exchange_id`` (same, other way).
        """
        self._fetch_content(mch, mch)

        def item_gone(row: StatusRow | None) -> bool:
            return row is None or (row.item_id in mch and mch[row.item_id].deleted)

        def record_gone(row: StatusRow | None) -> bool:
            return row is None or (row.crm_id in cch and cch[row.crm_id].deleted)

        want_records = {
            mc.item.crm_id
            for iid, mc in mch.items()
            if mc.item is not None
            and mc.item.crm_id
            and self.state.by_item(iid) is None
            and item_gone(self.state.by_crm(mc.item.crm_id))
            and mc.item.crm_id not in cch
        }
        for cid, rec in self._get_records(sorted(want_records)).items():
            if rec is not None:
                cch[cid] = rec
        if self.two_way:
            want_items = {
                rec.exchange_id
                for cid, rec in cch.items()
                if not rec.deleted
                and rec.exchange_id
                and self.state.by_crm(cid) is None
                and record_gone(self.state.by_item(rec.exchange_id))
                and rec.exchange_id not in mch
            }
            for iid, got in self._get_items(sorted(want_items)).items():
                if got is not None:
                    mch[iid] = MailboxChange(iid, got.changekey, item=got)

    # -- 2b. screen: what cannot be mapped fails alone ----------------------------

    def screen(self, mch: dict[str, MailboxChange], cch: dict[str, CrmRecord]) -> None:
        """Map every change's content once before it is planned.

        The plan hashes both sides through the item type's mapping and the writes map
        them again; a record or item the mapping raises on would otherwise fail the whole
        plan or batch, run after run. Such a change leaves ``mch`` / ``cch`` (with the
        change of its pair's other side, so no side overwrites a version never compared)
        and fails alone: a ledger entry, and both ids are retried next run.
        """
        bad: list[tuple[str, str | None, str | None, BaseException]] = []
        if self.two_way:
            for cid, rec in cch.items():
                if rec.deleted:
                    continue
                try:
                    self.views.record_view(rec.fields)
                except Exception as exc:
                    row = self.state.by_crm(cid)
                    bad.append(("to-exchange", cid, row.item_id if row else None, exc))
        for iid, mc in mch.items():
            if mc.deleted or mc.item is None:
                continue
            try:
                self.views.item_view(mc.item.fields)
            except Exception as exc:
                row = self.state.by_item(iid)
                bad.append(("to-crm", row.crm_id if row else None, iid, exc))
        for direction, cid, iid, exc in bad:
            if cid is not None:
                cch.pop(cid, None)
            if iid is not None:
                mch.pop(iid, None)
            action = "map-record" if direction == "to-exchange" else "map-item"
            self._fail(direction, action, MappingFailed.of(exc), crm_id=cid, item_id=iid)
            # unlinked, it might match the other side: nothing is created in its place
            if direction == "to-exchange" and iid is None and cid is not None:
                self.unread_records.add(cid)
            elif direction == "to-crm" and cid is None and iid is not None:
                self.unread_items.add(iid)

    # -- 3. act ----------------------------------------------------------------

    def _fail(self, direction: str, action: str, exc: BaseException, *,
              crm_id: str | None = None, item_id: str | None = None) -> None:  # fmt: skip
        self.result.errors.append(
            ItemError(direction, action, _message(exc), crm_id, item_id, type(exc).__name__)
        )
        code = getattr(exc, "code", None) or type(exc).__name__
        self._log("error", direction, crm_id, item_id, error=str(code),
                  message=_message(exc))  # fmt: skip
        if crm_id:
            self.retry_records[crm_id] = _message(exc)
        if item_id:
            self.retry_items[item_id] = _message(exc)
        if action == "get-item" and item_id and self.state.by_item(item_id) is None:
            self.unread_items.add(item_id)
        if action == "get-record" and crm_id and self.state.by_crm(crm_id) is None:
            self.unread_records.add(crm_id)

    def _fail_action(self, action: Action, exc: BaseException) -> None:
        direction = "to-exchange" if action.kind in MAILBOX_WRITES else "to-crm"
        self._fail(direction, action.kind.value, exc, crm_id=action.crm_id,
                   item_id=action.item_id)  # fmt: skip

    def _log(self, op: str, direction: str, crm_id: str | None, item_id: str | None,
             **extra: Any) -> None:  # fmt: skip
        """One ledger entry; written with the next state save."""
        if self.dry_run or self.ledger is None:
            return
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "op": op,
                 "direction": direction, "type": self.t.name, "crm_id": crm_id,
                 "item_id": item_id, "error": None}  # fmt: skip
        entry.update(extra)
        self.events.append(entry)

    def _log_action(self, action: Action, answer: Any = None) -> None:
        direction = "to-exchange" if action.kind in MAILBOX_WRITES else "to-crm"
        if action.kind in (Kind.LINK, Kind.UNLINK, Kind.HOLD):
            direction = "-"
        extra: dict[str, Any] = {}
        if action.entry is not None:
            extra = {"review_id": action.pair_id, "message": action.entry.get("reason")}
            if action.entry.get("kind") == "ambiguous":  # one entry per side held
                for cid in action.entry["records"]:
                    self._log("hold", "-", cid, None, **extra)
                for iid in action.entry["items"]:
                    self._log("hold", "-", None, iid, **extra)
                return
        # a create learns the new side's id from its answer (ItemRef / CrmRecord)
        crm_id = action.crm_id or getattr(answer, "id", None)
        item_id = action.item_id or getattr(answer, "item_id", None)
        self._log(_OPS[action.kind], direction, crm_id, item_id, **extra)

    def _save(self) -> None:
        if not self.dry_run:
            self.store.save(self.state)
            self._flush()

    def _flush(self) -> None:
        if self.events and self.ledger is not None:
            events, self.events = self.events, []
            self.ledger.write(events)

    def _run_batches(
        self,
        actions: list[Action],
        prepare: Callable[[Action], Any],
        call: Callable[[list[Any]], list[Any]],
        done: Callable[[Action, Any], None],
        size: int | None = None,
    ) -> None:
        """``prepare`` each action's input, ``call`` per batch, ``done`` per success; save
        the rows per batch. An input that cannot be prepared (the mapping raised on this
        one record) fails that action alone: the rest of its batch is still sent."""
        for chunk in _chunks(actions, size or self.batch):
            answers: list[Any] = [None] * len(chunk)
            ready: list[int] = []
            inputs: list[Any] = []
            for index, action in enumerate(chunk):
                try:
                    inputs.append(prepare(action))
                    ready.append(index)
                except Exception as exc:
                    answers[index] = MappingFailed.of(exc)
            try:
                got = call(inputs) if inputs else []
                if len(got) != len(inputs):
                    raise WessError(
                        f"a bulk call answered {len(got)} results for {len(inputs)} inputs"
                    )
            except Exception as exc:  # the whole call failed: every item in it did
                got = [exc] * len(inputs)
            for index, answer in zip(ready, got, strict=True):
                answers[index] = answer
            for action, answer in zip(chunk, answers, strict=True):
                if isinstance(answer, RecordNotFound) and action.kind is Kind.DELETE_RECORD:
                    answer = None  # already gone: the delete is done
                if isinstance(answer, Exception):
                    self._fail_action(action, answer)
                else:
                    done(action, answer)
                    self._log_action(action, answer)
                    self._settle(action)
                    if action.conflict is not None:
                        self.result.conflicts.append(action.conflict)
            self._save()

    def _record_of(self, action: Action) -> CrmRecord:
        """The CRM version a mailbox write copies (always known for those kinds)."""
        assert action.record is not None, action
        return action.record

    def _item_fields(self, action: Action) -> dict[str, Any]:
        return self.t.to_item(self._record_of(action).fields)

    def _item_row(self, action: Action, ref: ItemRef) -> StatusRow:
        """The row after writing the CRM version into the mailbox: both sides agree."""
        rec = self._record_of(action)
        fields = self._item_fields(action)
        return self.views.row(action.pair_id, rec, MailboxItem(ref.item_id, ref.changekey, fields))

    def act(self, actions: list[Action]) -> None:
        by_kind: dict[Kind, list[Action]] = {k: [] for k in Kind}
        for action in actions:
            by_kind[action.kind].append(action)
        # Status-only steps first: they need no request and are saved with the first batch.
        # In plan order: a re-link after a killed restore unlinks the old pair and links
        # the re-created side under the same pair id (both first seen as ``crm:ID``), so
        # an unlink applied after the link would drop the new row.
        for action in actions:
            if action.kind is Kind.LINK:
                assert action.row is not None
                if action.pair_id not in self.state.rows:  # a new pair, not a refreshed row
                    self._log_action(action)
                self.state.put(action.row)
            elif action.kind is Kind.UNLINK:
                self.state.drop(action.pair_id)
                self._log_action(action)
                self._settle(action)
        for action in by_kind[Kind.HOLD]:
            self.hold(action)
        folder, rtype = self.t.folder, self.t.record_type
        counts_x, counts_c = self.result.to_exchange, self.result.to_crm

        def created_item(a: Action, ref: ItemRef) -> None:
            self.state.put(self._item_row(a, ref))
            counts_x.created += 1

        def updated_item(a: Action, ref: ItemRef) -> None:
            self.state.put(self._item_row(a, ref))
            counts_x.updated += 1

        def deleted_item(a: Action, _: None) -> None:
            self.state.drop(a.pair_id)
            counts_x.deleted += 1

        def created_record(a: Action, rec: CrmRecord) -> None:
            assert a.item is not None
            self.state.put(self.views.row(a.pair_id, rec, a.item))
            counts_c.created += 1

        def updated_record(a: Action, rec: CrmRecord) -> None:
            item = a.item
            if item is None:  # no mailbox change this run: the row's side stands
                assert a.row is not None
                row = self.views.row(a.pair_id, rec, MailboxItem(a.row.item_id, "", {}))
                row.changekey, row.item_hash = a.row.changekey, a.row.item_hash
            else:
                row = self.views.row(a.pair_id, rec, item)
            self.state.put(row)
            counts_c.updated += 1

        def deleted_record(a: Action, _: Any) -> None:
            self.state.drop(a.pair_id)
            counts_c.deleted += 1

        def item_ref(a: Action) -> tuple[str, str | None]:
            if a.item is not None:
                return a.item.item_id, a.item.changekey
            assert a.row is not None
            return a.row.item_id, a.row.changekey

        def record_rev(a: Action) -> tuple[str, Any]:
            if a.record is not None:
                return a.record.id, a.record.revision
            assert a.row is not None
            return a.row.crm_id, a.row.crm_rev

        mb = self.mailbox
        self._run_batches(
            by_kind[Kind.CREATE_ITEM],
            lambda a: NewItem(self._item_fields(a), self._record_of(a).id),
            lambda inputs: mb.create(folder, inputs),
            created_item,
        )
        self._run_batches(
            by_kind[Kind.UPDATE_ITEM],
            lambda a: ItemUpdate(item_ref(a)[0], self._item_fields(a), item_ref(a)[1]),
            lambda inputs: mb.update(folder, inputs),
            updated_item,
        )
        self._run_batches(
            by_kind[Kind.DELETE_ITEM],
            lambda a: ItemRef(*item_ref(a)),
            lambda inputs: mb.delete(folder, inputs),
            deleted_item,
        )

        def record_update(a: Action) -> RecordUpdate:
            assert a.item is not None
            cid, rev = record_rev(a)
            expected = rev if self.two_way else None
            return RecordUpdate(cid, self.t.to_record(a.item.fields), expected)

        def new_record(a: Action) -> NewRecord:
            assert a.item is not None
            return NewRecord(self.t.to_record(a.item.fields), a.item.item_id)

        self._run_batches(
            by_kind[Kind.CREATE_RECORD],
            new_record,
            lambda inputs: self.crm.create(rtype, inputs),
            created_record,
            self.crm_batch,
        )
        self._run_batches(
            by_kind[Kind.UPDATE_RECORD],
            record_update,
            lambda inputs: self.crm.update(rtype, inputs),
            updated_record,
            self.crm_batch,
        )
        self._run_batches(
            by_kind[Kind.DELETE_RECORD],
            lambda a: record_rev(a)[0],
            lambda inputs: self.crm.delete(rtype, inputs),
            deleted_record,
            self.crm_batch,
        )

    def dry(self, actions: list[Action]) -> None:
        """Count what would happen; write nothing."""
        for action in actions:
            if action.kind is Kind.HOLD:
                self.result.held.append(self._held_summary(action))
            if action.kind in (Kind.LINK, Kind.UNLINK, Kind.HOLD):
                continue
            self.result.planned.append(action.describe())
            mailbox_side = action.kind in MAILBOX_WRITES
            counts = self.result.to_exchange if mailbox_side else self.result.to_crm
            verb = action.kind.value.split("-")[0]
            setattr(counts, verb + "d", getattr(counts, verb + "d") + 1)
            if action.conflict is not None:
                self.result.conflicts.append(action.conflict)

    # -- trust: frozen ids, decisions, the guard ---------------------------------

    def freeze(self, mch: dict[str, MailboxChange], cch: dict[str, CrmRecord]) -> None:
        """Skip changes of ignored ids and of ids held without a decision."""
        items, records = self.state.frozen_ids()
        for iid in [i for i in mch if i in items]:
            change, row = mch.pop(iid), self.state.by_item(iid)
            echo = row is not None and change.changekey == row.changekey
            if not echo and (iid in self.state.ignored or self._row_ignored(row)):
                self._log("skip", "-", row.crm_id if row else None, iid, message="ignored")
        for cid in [c for c in cch if c in records]:
            record, row = cch.pop(cid), self.state.by_crm(cid)
            echo = row is not None and record.revision == row.crm_rev
            if not echo and (cid in self.state.ignored or self._row_ignored(row)):
                self._log("skip", "-", cid, row.item_id if row else None, message="ignored")

    def _row_ignored(self, row: StatusRow | None) -> bool:
        return row is not None and bool({row.item_id, row.crm_id} & set(self.state.ignored))

    def release(
        self, mch: dict[str, MailboxChange], cch: dict[str, CrmRecord]
    ) -> tuple[dict[str, str], set[str], list[Action]]:
        """Carry out reviewers' decisions on held entries.

        Ambiguous matches come back as changes (re-read now): with a chosen link, as a
        forced pair (``links``); rejected, as "never match" (``no_match``, so created on
        the other side). Held deletes become actions the guard does not count: approved,
        the delete; rejected, a restore (the deleted side re-created from the survivor).
        """
        links: dict[str, str] = {}
        no_match: set[str] = set()
        extra: list[Action] = []
        for entry in self.state.held.values():
            if entry.get("decision") and not _decision_allowed(entry):
                entry["decision"] = None  # a user's approval of CRM deletes: held again
        decided = [e for e in self.state.held.values() if e.get("decision")]
        if not decided:
            return links, no_match, extra
        want_items = {i for e in decided for i in e.get("items") or ()}
        want_records = {r for e in decided for r in e.get("records") or ()}
        got_items = self._get_items(sorted(want_items))
        got_records = self._get_records(sorted(want_records))
        for entry in decided:
            decision = entry["decision"]
            if entry["kind"] == "ambiguous":
                self.state.held.pop(entry["id"], None)
                for iid in entry["items"]:
                    item = got_items.get(iid)
                    if item is not None:
                        mch[iid] = MailboxChange(iid, item.changekey, item=item)
                for cid in entry["records"]:
                    rec = got_records.get(cid)
                    if rec is not None:
                        cch[cid] = rec
                if decision.get("action") == "link":
                    links[decision["item_id"]] = decision["crm_id"]
                else:
                    no_match.update(entry["items"])
                    no_match.update(entry["records"])
                continue
            row = self.state.rows.get(entry["pair_id"])
            (iid,), (cid,) = entry["items"], entry["records"]
            mch.pop(iid, None)
            cch.pop(cid, None)
            item, rec = got_items.get(iid), got_records.get(cid)
            pid = entry["pair_id"]
            if decision.get("action") == "approve":
                if entry["side"] == "exchange":
                    ref = item or MailboxItem(iid, row.changekey if row else "", {})
                    extra.append(Action(Kind.DELETE_ITEM, pid, row=row, item=ref, entry=entry))
                else:
                    extra.append(Action(Kind.DELETE_RECORD, pid, row=row,
                                        record=rec or CrmRecord(cid, ""), entry=entry))  # fmt: skip
            elif self._restored(entry, item, rec, mch, cch):
                self.state.held.pop(entry["id"], None)  # done by a run killed after it
            elif entry["side"] == "exchange" and item is not None:  # restore the record
                extra.append(Action(Kind.CREATE_RECORD, pid, row=row, item=item, entry=entry))
            elif entry["side"] == "crm" and rec is not None:  # restore the item
                extra.append(Action(Kind.CREATE_ITEM, pid, row=row, record=rec, entry=entry))
            else:  # the survivor is gone too: nothing to restore
                extra.append(Action(Kind.UNLINK, pid, row=row, entry=entry))
        return links, no_match, extra

    def _restored(
        self,
        entry: dict[str, Any],
        item: MailboxItem | None,
        rec: CrmRecord | None,
        mch: dict[str, MailboxChange],
        cch: dict[str, CrmRecord],
    ) -> bool:
        """A rejected held delete whose restore already landed in a run killed before
        its status row was saved: the re-created side names the survivor (its CRM id
        or exchange id) and is still unlinked. Hand the pair to the plan as "deleted,
        and re-created" (its re-link step) instead of restoring a second time."""
        (iid,), (cid,) = entry["items"], entry["records"]
        if entry["side"] == "crm" and rec is not None:  # deleted in Exchange: item restored?
            self._fetch_content(mch, mch)  # the re-created item's CRM id rides in its content
            if not any(
                mc.item is not None and mc.item.crm_id == cid and self.state.by_item(i) is None
                for i, mc in mch.items()
            ):
                return False
            mch[iid] = MailboxChange(iid, None, deleted=True)
            cch[cid] = rec
            return True
        if entry["side"] == "exchange" and item is not None:  # deleted in the CRM: restored?
            if not any(
                not r.deleted and r.exchange_id == iid and self.state.by_crm(c) is None
                for c, r in cch.items()
            ):
                return False
            cch[cid] = CrmRecord(cid, "", deleted=True)
            mch[iid] = MailboxChange(iid, item.changekey, item=item)
            return True
        return False

    def _settle(self, action: Action) -> None:
        """A decided held entry whose action succeeded is done."""
        if action.entry is not None and action.kind is not Kind.HOLD:
            self.state.held.pop(action.entry["id"], None)

    def defer_unmatched(self, actions: list[Action]) -> list[Action]:
        """Don't create what might match an unlinked side that could not be read this run
        (that would duplicate it): re-read both next run instead."""
        if match_keys_of(self.t) is None:
            return actions
        waits = {Kind.CREATE_ITEM: bool(self.unread_items),
                 Kind.CREATE_RECORD: bool(self.unread_records)}  # fmt: skip
        out = []
        for a in actions:
            if waits.get(a.kind) and a.row is None and a.entry is None:
                why = "waiting for unread items to match against"
                if a.kind is Kind.CREATE_ITEM and a.crm_id:
                    self.retry_records[a.crm_id] = why
                elif a.item_id:
                    self.retry_items[a.item_id] = why
                continue
            out.append(a)
        return out

    def apply_guard(self, actions: list[Action]) -> list[Action]:
        """Hold a side's deletes when they trip the guard; everything else goes ahead."""
        sides = (("exchange", Kind.DELETE_ITEM, "crm"), ("crm", Kind.DELETE_RECORD, "mailbox"))
        out = actions
        for side, kind, source in sides:
            deletes = [a for a in out if a.kind is kind]
            reason = self.guard.reason(len(deletes), self.linked_before, self.emptied[source], side)
            if reason is None:
                continue
            out = [a for a in out if a.kind is not kind]
            out.extend(self._held_delete(a, side, reason) for a in deletes)
        return out

    def _held_delete(self, action: Action, side: str, reason: str) -> Action:
        iid, cid = action.item_id, action.crm_id
        assert iid is not None and cid is not None, action
        entry = {
            "id": review_id("delete", self.t.name, [iid, cid]),
            "kind": "delete",
            "item_type": self.t.name,
            "side": side,
            "pair_id": action.pair_id,
            "items": [iid],
            "records": [cid],
            "summaries": {},
            "reason": reason,
            "decision": None,
        }
        return Action(Kind.HOLD, entry["id"], row=action.row, record=action.record,
                      item=action.item, entry=entry)  # fmt: skip

    def hold(self, action: Action) -> None:
        """Keep a held entry (with summaries of what survives) and report it."""
        entry = action.entry
        assert entry is not None
        old = self.state.held.get(entry["id"])
        entry["since"] = old["since"] if old else datetime.now(UTC).isoformat(timespec="seconds")
        if entry["kind"] == "delete" and not entry["summaries"]:
            if action.item is not None and action.item.fields:
                view = self.t.to_record(action.item.fields)
                entry["summaries"][entry["items"][0]] = summary(view)
            if action.record is not None and action.record.fields:
                entry["summaries"][entry["records"][0]] = summary(action.record.fields)
        self.state.held[entry["id"]] = entry
        self.result.held.append(self._held_summary(action))
        if old is None:
            self._log_action(action)

    def _fill_summaries(self, actions: list[Action]) -> None:
        """Held deletes show what would be deleted: read the survivors' content."""
        held = [a for a in actions if a.kind is Kind.HOLD and a.entry["kind"] == "delete"]  # type: ignore[index]
        need_items = [a.item_id for a in held if a.entry["side"] == "exchange"  # type: ignore[index]
                      and (a.item is None or not a.item.fields)]  # fmt: skip
        need_records = [a.crm_id for a in held if a.entry["side"] == "crm"  # type: ignore[index]
                        and (a.record is None or a.record.deleted)]  # fmt: skip
        items = self._get_items([i for i in need_items if i])
        records = self._get_records([c for c in need_records if c])
        for a in held:
            if a.item_id in items and items[a.item_id] is not None:
                a.item = items[a.item_id]
            if a.crm_id in records and records[a.crm_id] is not None:
                a.record = records[a.crm_id]

    def _held_summary(self, action: Action) -> dict[str, Any]:
        entry = action.entry or {}
        return {"id": action.pair_id, "kind": entry.get("kind"), "side": entry.get("side"),
                "reason": entry.get("reason")}  # fmt: skip

    def past_own_writes(self, cursor: str | None) -> str | None:
        """The CRM cursor moved past this run's own writes when they are all that was
        written since ``cursor``, so the next run does not read them back (an idle run
        after an import then reads and writes nothing). Anything else written meanwhile
        keeps ``cursor``: the next run reads it."""
        if cursor is None or not self.result.to_crm.total:
            return cursor
        records, head = self.crm.changes(self.t.record_type, cursor)
        for record in records:
            row = self.state.by_crm(record.id)
            if row is None or record.deleted or record.revision != row.crm_rev:
                return cursor
        return head

    def run(self) -> FolderResult:
        cch, cursor = self.read_crm()
        mch, token = self.read_mailbox(cch)
        self.reread_failed(mch, cch)
        self.freeze(mch, cch)
        links, no_match, extra = self.release(mch, cch)
        self.fill_content(mch, cch)
        self.freeze(mch, cch)
        self.screen(mch, cch)
        actions = plan_folder(self.t, self.state, mch, cch, self.policy, links=links,
                              no_match=no_match)  # fmt: skip
        actions = self.apply_guard(self.defer_unmatched(actions)) + extra
        self._fill_summaries(actions)
        if self.dry_run:
            self.dry(actions)
            return self.result
        held_before = len(self.state.held)
        self.act(actions)
        cursor = self.past_own_writes(cursor)
        before = (self.state.token, self.state.cursor, self.state.retry_items,
                  self.state.retry_records)  # fmt: skip
        self.state.token = token
        self.state.cursor = cursor
        self.state.retry_items = self.retry_items
        self.state.retry_records = self.retry_records
        after = (token, cursor, self.retry_items, self.retry_records)
        changed = after != before or len(self.state.held) != held_before
        if actions or changed or self.events:  # an idle run writes no file
            self.store.save(self.state)
        self._flush()
        return self.result


assert set(MAILBOX_WRITES) | set(CRM_WRITES) | {Kind.LINK, Kind.UNLINK, Kind.HOLD} == set(Kind)


def sync_folder(
    item_type: ItemType,
    crm: CrmBackend,
    mailbox: Transport,
    state: SyncState,
    policy: str = DEFAULT_POLICY,
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    guard: DeletionGuard | None = None,
    ledger: Ledger | None = None,
) -> FolderResult:
    """Bring one item type's folder and CRM record type in step; return what was done.

    ``state`` loads and saves this folder's ``FolderState`` (``StoreSyncState(store,
    login)`` in production). Per-item failures are in ``result.errors`` and are retried
    next run. A failure of a whole read (``changes``) raises: nothing after it was done,
    and state saved so far is consistent (an empty side is no longer refused: the guard
    holds the deletes it implies, see ``wess_core.sync.review``). ``dry_run`` reads both
    sides and plans, but writes nothing anywhere.
    ``guard`` (default ``DeletionGuard()``) decides when deletes are held for review;
    ``ledger`` receives every item operation, once per batch.
    """
    run = _FolderRun(item_type, crm, mailbox, state, policy, dry_run, batch_size,
                     guard or DeletionGuard(), ledger)  # fmt: skip
    return run.run()


#: Called with a whole-mailbox failure; returns a transport to retry the failed folder
#: with (a rediscovered URL), or ``None`` to end the run with the failure.
Recover = Callable[[MailboxUnavailable], Transport | None]


def sync_all(
    item_types: Iterable[ItemType],
    crm: CrmBackend,
    mailbox: Transport,
    state: SyncState,
    policy: str = DEFAULT_POLICY,
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    guard: DeletionGuard | None = None,
    ledger: Ledger | None = None,
    progress: Callable[[str], None] | None = None,
    recover: Recover | None = None,
) -> SyncResult:
    """Sync every item type in turn; a folder that fails is reported, the others go on.

    ``progress(folder)`` is called once per mailbox folder, as its sync begins.

    A ``MailboxUnavailable`` is handled here and nowhere else: ``recover(error)`` (the
    caller's policy) may return a fresh transport, and the folder that failed is tried
    again with it; otherwise that folder and every one after it fail with the error
    without asking the mailbox again, and ``result.unavailable`` holds it.
    """
    check_policy(policy)
    result = SyncResult(dry_run=dry_run)
    begun: set[str] = set()
    for item_type in item_types:
        if progress is not None and item_type.folder not in begun:
            begun.add(item_type.folder)
            progress(item_type.folder)
        while result.unavailable is None:
            try:
                result.folders[item_type.name] = sync_folder(
                    item_type, crm, mailbox, state, policy,
                    dry_run=dry_run, batch_size=batch_size, guard=guard, ledger=ledger,
                )  # fmt: skip
            except MailboxUnavailable as exc:
                fresh = recover(exc) if recover is not None else None
                if fresh is not None:
                    mailbox = fresh
                    continue
                result.unavailable = exc
            except Exception as exc:
                result.folders[item_type.name] = _failed_folder(item_type, exc, dry_run)
            break
        if result.unavailable is not None:
            result.folders[item_type.name] = _failed_folder(item_type, result.unavailable, dry_run)
    return result


def _failed_folder(item_type: ItemType, exc: BaseException, dry_run: bool) -> FolderResult:
    log.warning("sync of %s failed: %s", item_type.name, _message(exc))
    folder = FolderResult(item_type.name, item_type.folder, dry_run=dry_run)
    folder.failed = f"{type(exc).__name__}: {_message(exc)}"
    return folder
