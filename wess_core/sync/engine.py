"""The sync engine: one function per folder over a status table (vdirsyncer style).

``sync_folder`` runs in four steps:

1. **Read.** Mailbox changes since the stored token (page after page; an
   ``InvalidSyncState`` restarts from ``None``, a *full resync*), then CRM changes since
   the stored cursor, plus a re-read of the ids that failed last run. Content is fetched
   with ``get`` only for changes that are not our own writes coming back, and only when
   the transport did not send it along. An idle folder costs one ``changes`` call.
2. **Plan** (``wess_core.sync.plan``): a truth table per pair → actions.
3. **Act** in batches of at most ``batch_size`` (and the transport's ``max_batch``):
   mailbox creates, updates, deletes, then CRM creates, updates, deletes. An item that
   fails is recorded in the result and in the state's retry list; its status row is left
   as it was. A batch's status rows are saved right after the batch.
4. **Commit** the token, the cursor and the retry lists, with the last batch.

Crash safety: state is saved only after the writes it describes, so a run killed at any
point re-reads the same changes next time. Every item the engine creates carries its
CRM id and every record it creates carries the item id, so those changes re-link
(``plan.Planner.unlinked``) instead of duplicating.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

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
from wess_core.sync.status import FolderState, StatusRow, SyncState

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100
#: Refuse to follow a transport that never says ``done`` (a bug, not a big folder).
MAX_PAGES = 100_000

T = TypeVar("T")


class SideEmpty(WessError):
    """A full listing of one side came back empty while the status table links items.

    Following it would delete every linked CRM record (vdirsyncer's ``StorageEmpty``,
    after a changed path once wiped a server). Nothing was changed. If the folder really
    was emptied on purpose, sync again with ``allow_empty=True``.
    """


def _chunks(seq: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


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
        allow_empty: bool,
    ) -> None:
        self.t = item_type
        self.crm = crm
        self.mailbox = mailbox
        self.store = state_store
        self.policy = check_policy(policy)
        self.dry_run = dry_run
        self.batch = max(1, min(batch_size, getattr(mailbox, "max_batch", batch_size)))
        self.allow_empty = allow_empty
        self.views = Views(item_type)
        self.two_way = item_type.direction == Direction.TWO_WAY
        self.result = FolderResult(item_type.name, item_type.folder, dry_run=dry_run)
        self.state: FolderState = state_store.load(item_type.name)
        self.retry_items: dict[str, str] = {}
        self.retry_records: dict[str, str] = {}

    # -- 1. read ---------------------------------------------------------------

    def read_mailbox(self) -> tuple[dict[str, MailboxChange], str]:
        """All pages since the stored token; a full listing when it is refused."""
        token = self.state.token
        full = token is None
        while True:
            changes: dict[str, MailboxChange] = {}
            try:
                for _ in range(MAX_PAGES):
                    page = self.mailbox.changes(self.t.folder, token)
                    for change in page.changes:
                        changes[change.item_id] = change
                    token = page.token
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
        if full:
            self._sweep(changes)
        assert token is not None
        return changes, token

    def _sweep(self, changes: dict[str, MailboxChange]) -> None:
        """In a full listing, a linked item that is not listed was deleted."""
        gone = [row for row in self.state if row.item_id not in changes]
        if gone and len(gone) == len(self.state.rows) and not self.allow_empty:
            raise SideEmpty(
                f"the mailbox folder {self.t.folder!r} came back empty, but {len(gone)} "
                "item(s) were linked; nothing was changed. If it was emptied on purpose, "
                "sync again allowing an empty folder."
            )
        for row in gone:
            changes[row.item_id] = MailboxChange(row.item_id, None, deleted=True)

    def read_crm(self) -> tuple[dict[str, CrmRecord], str | None]:
        """CRM changes since the cursor; with no cursor, a full listing whose missing
        linked records count as deleted (a run that died before its first commit)."""
        records, cursor = self.crm.changes(self.t.record_type, self.state.cursor)
        changes = {r.id: r for r in records}
        if self.state.cursor is None:
            gone = [row for row in self.state if row.crm_id not in changes]
            if gone and len(gone) == len(self.state.rows) and not self.allow_empty:
                raise SideEmpty(
                    f"the CRM's {self.t.record_type} came back empty, but {len(gone)} "
                    "record(s) were linked; nothing was changed. If they were deleted on "
                    "purpose, sync again allowing an empty side."
                )
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
        found: dict[str, MailboxItem | None] = {}
        for chunk in _chunks(list(ids), self.batch):
            try:
                answers: list[Any] = self.mailbox.get(self.t.folder, chunk)
            except Exception as exc:
                answers = [exc] * len(chunk)
            for iid, got in zip(chunk, answers, strict=True):
                if isinstance(got, ItemNotFound):
                    found[iid] = None
                elif isinstance(got, Exception):
                    self._fail("read", "get-item", got, item_id=iid)
                else:
                    found[iid] = got
        return found

    def _get_records(self, ids: Sequence[str]) -> dict[str, CrmRecord | None]:
        found: dict[str, CrmRecord | None] = {}
        for chunk in _chunks(list(ids), self.batch):
            try:
                answers: list[Any] = self.crm.get(self.t.record_type, chunk)
            except Exception as exc:
                answers = [exc] * len(chunk)
            for cid, got in zip(chunk, answers, strict=True):
                if isinstance(got, RecordNotFound):
                    found[cid] = None
                elif isinstance(got, Exception):
                    self._fail("read", "get-record", got, crm_id=cid)
                else:
                    found[cid] = got
        return found

    def fill_content(self, mch: dict[str, MailboxChange], cch: dict[str, CrmRecord]) -> None:
        """Fetch what the plan needs and the changes did not carry.

        * content of mailbox changes that are not echoes of a stored changekey;
        * a record an unlinked item names by CRM id (re-link after a crash);
        * an item an unlinked record names by ``exchange_id`` (same, other way).
        """
        need = []
        for iid, mc in mch.items():
            if mc.deleted or mc.item is not None:
                continue
            row = self.state.by_item(iid)
            if row is None or mc.changekey is None or mc.changekey != row.changekey:
                need.append(iid)
        for iid, got in self._get_items(need).items():
            mch[iid] = (
                MailboxChange(iid, None, deleted=True)
                if got is None
                else MailboxChange(iid, got.changekey, item=got)
            )
        for iid in [i for i in need if i not in mch or mch[i].item is None]:
            if iid in mch and not mch[iid].deleted:
                del mch[iid]  # could not read it: retried next run

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

    # -- 3. act ----------------------------------------------------------------

    def _fail(self, direction: str, action: str, exc: BaseException, *,
              crm_id: str | None = None, item_id: str | None = None) -> None:  # fmt: skip
        self.result.errors.append(
            ItemError(direction, action, _message(exc), crm_id, item_id, type(exc).__name__)
        )
        if crm_id:
            self.retry_records[crm_id] = _message(exc)
        if item_id:
            self.retry_items[item_id] = _message(exc)

    def _fail_action(self, action: Action, exc: BaseException) -> None:
        direction = "to-exchange" if action.kind in MAILBOX_WRITES else "to-crm"
        self._fail(direction, action.kind.value, exc, crm_id=action.crm_id,
                   item_id=action.item_id)  # fmt: skip

    def _save(self) -> None:
        if not self.dry_run:
            self.store.save(self.state)

    def _run_batches(
        self,
        actions: list[Action],
        call: Callable[[Sequence[Action]], list[Any]],
        done: Callable[[Action, Any], None],
    ) -> None:
        """Call ``call`` per batch; ``done`` per success; save the rows per batch."""
        for chunk in _chunks(actions, self.batch):
            try:
                answers = call(chunk)
                if len(answers) != len(chunk):
                    raise WessError(
                        f"a bulk call answered {len(answers)} results for {len(chunk)} inputs"
                    )
            except Exception as exc:  # the whole call failed: every item in it did
                answers = [exc] * len(chunk)
            for action, answer in zip(chunk, answers, strict=True):
                if isinstance(answer, RecordNotFound) and action.kind is Kind.DELETE_RECORD:
                    answer = None  # already gone: the delete is done
                if isinstance(answer, Exception):
                    self._fail_action(action, answer)
                else:
                    done(action, answer)
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
        for action in by_kind[Kind.LINK]:
            assert action.row is not None
            self.state.put(action.row)
        for action in by_kind[Kind.UNLINK]:
            self.state.drop(action.pair_id)
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
            lambda ch: mb.create(
                folder, [NewItem(self._item_fields(a), self._record_of(a).id) for a in ch]
            ),
            created_item,
        )
        self._run_batches(
            by_kind[Kind.UPDATE_ITEM],
            lambda ch: mb.update(
                folder,
                [ItemUpdate(item_ref(a)[0], self._item_fields(a), item_ref(a)[1]) for a in ch],
            ),
            updated_item,
        )
        self._run_batches(
            by_kind[Kind.DELETE_ITEM],
            lambda ch: mb.delete(folder, [ItemRef(*item_ref(a)) for a in ch]),  # type: ignore[arg-type]
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
            lambda ch: self.crm.create(rtype, [new_record(a) for a in ch]),
            created_record,
        )
        self._run_batches(
            by_kind[Kind.UPDATE_RECORD],
            lambda ch: self.crm.update(rtype, [record_update(a) for a in ch]),
            updated_record,
        )
        self._run_batches(
            by_kind[Kind.DELETE_RECORD],
            lambda ch: self.crm.delete(rtype, [record_rev(a)[0] for a in ch]),
            deleted_record,
        )

    def dry(self, actions: list[Action]) -> None:
        """Count what would happen; write nothing."""
        for action in actions:
            if action.kind in (Kind.LINK, Kind.UNLINK):
                continue
            self.result.planned.append(action.describe())
            mailbox_side = action.kind in MAILBOX_WRITES
            counts = self.result.to_exchange if mailbox_side else self.result.to_crm
            verb = action.kind.value.split("-")[0]
            setattr(counts, verb + "d", getattr(counts, verb + "d") + 1)
            if action.conflict is not None:
                self.result.conflicts.append(action.conflict)

    def run(self) -> FolderResult:
        mch, token = self.read_mailbox()
        cch, cursor = self.read_crm()
        self.reread_failed(mch, cch)
        self.fill_content(mch, cch)
        actions = plan_folder(self.t, self.state, mch, cch, self.policy)
        if self.dry_run:
            self.dry(actions)
            return self.result
        self.act(actions)
        before = (self.state.token, self.state.cursor, self.state.retry_items,
                  self.state.retry_records)  # fmt: skip
        self.state.token = token
        self.state.cursor = cursor
        self.state.retry_items = self.retry_items
        self.state.retry_records = self.retry_records
        after = (token, cursor, self.retry_items, self.retry_records)
        if actions or after != before:  # an idle run writes no file
            self.store.save(self.state)
        return self.result


assert set(MAILBOX_WRITES) | set(CRM_WRITES) | {Kind.LINK, Kind.UNLINK} == set(Kind)


def sync_folder(
    item_type: ItemType,
    crm: CrmBackend,
    mailbox: Transport,
    state: SyncState,
    policy: str = DEFAULT_POLICY,
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    allow_empty: bool = False,
) -> FolderResult:
    """Bring one item type's folder and CRM record type in step; return what was done.

    ``state`` loads and saves this folder's ``FolderState`` (``StoreSyncState(store,
    login)`` in production). Per-item failures are in ``result.errors`` and are retried
    next run. A failure of a whole read (``changes``) or a refused empty folder
    (``SideEmpty``) raises: nothing after it was done, and state saved so far is
    consistent. ``dry_run`` reads both sides and plans, but writes nothing anywhere.
    """
    run = _FolderRun(item_type, crm, mailbox, state, policy, dry_run, batch_size, allow_empty)
    return run.run()


def sync_all(
    item_types: Iterable[ItemType],
    crm: CrmBackend,
    mailbox: Transport,
    state: SyncState,
    policy: str = DEFAULT_POLICY,
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    allow_empty: bool | Mapping[str, bool] = False,
) -> SyncResult:
    """Sync every item type in turn; a folder that fails is reported, the others go on.

    ``allow_empty`` may be a mapping item type name → bool.
    """
    check_policy(policy)
    result = SyncResult(dry_run=dry_run)
    for item_type in item_types:
        empty_ok = (
            allow_empty.get(item_type.name, False)
            if isinstance(allow_empty, Mapping)
            else allow_empty
        )
        try:
            result.folders[item_type.name] = sync_folder(
                item_type, crm, mailbox, state, policy,
                dry_run=dry_run, batch_size=batch_size, allow_empty=empty_ok,
            )  # fmt: skip
        except Exception as exc:
            log.warning("sync of %s failed: %s", item_type.name, _message(exc))
            folder = FolderResult(item_type.name, item_type.folder, dry_run=dry_run)
            folder.failed = f"{type(exc).__name__}: {_message(exc)}"
            result.folders[item_type.name] = folder
    return result
