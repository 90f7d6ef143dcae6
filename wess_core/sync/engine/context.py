"""What every stage of one folder's sync shares: the sides, the state, the bookkeeping.

``FolderRun`` holds the run's inputs (item type, CRM connector, transport, options),
the folder's state, the result being built, and what the run learns on the way (ids to
retry, unlinked ids it could not read, ledger entries not yet written). Its methods are
the bookkeeping every stage does the same way: read ids of one side in batches, record
a failure, append a ledger entry, save.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from wess_core.errors import WessError
from wess_core.strategies import (
    CrmBackend,
    CrmRecord,
    Direction,
    ItemNotFound,
    ItemType,
    MailboxItem,
    RecordNotFound,
    Transport,
)
from wess_core.sync.plan import MAILBOX_WRITES, Action, Kind, Views, check_policy
from wess_core.sync.result import FolderResult, ItemError
from wess_core.sync.review import DeletionGuard
from wess_core.sync.status import FolderState, SyncState

DEFAULT_BATCH_SIZE = 100

T = TypeVar("T")


class Ledger(Protocol):
    """Where the engine appends its per-item operations (``wess_core.sync.ledger``)."""

    def write(self, entries: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class Options:
    """How a run goes: the conflict policy, dry or not, batch size, guard and ledger."""

    policy: str
    dry_run: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    guard: DeletionGuard = field(default_factory=DeletionGuard)
    ledger: Ledger | None = None

    @classmethod
    def of(
        cls,
        policy: str,
        *,
        dry_run: bool,
        batch_size: int,
        guard: DeletionGuard | None,
        ledger: Ledger | None,
    ) -> Options:
        """The options of ``sync_folder`` / ``sync_all``; an unknown policy is refused
        here, before any folder is read."""
        guard = guard or DeletionGuard()
        return cls(check_policy(policy), dry_run, batch_size, guard, ledger)


#: Ledger operation per action kind.
LEDGER_OPS = {
    Kind.CREATE_ITEM: "create",
    Kind.UPDATE_ITEM: "update",
    Kind.DELETE_ITEM: "delete",
    Kind.CREATE_RECORD: "create",
    Kind.UPDATE_RECORD: "update",
    Kind.DELETE_RECORD: "delete",
    Kind.LINK: "link",
    Kind.UNLINK: "unlink",
    Kind.HOLD: "hold",
}


class MappingFailed(WessError):
    """The item type's mapping raised on one record or item (a number where it expects
    text, a value it cannot read): that one fails and is retried next run, never its
    batch or its folder."""

    code = "MappingFailed"

    @classmethod
    def of(cls, exc: BaseException) -> MappingFailed:
        if isinstance(exc, MappingFailed):
            return exc
        return cls(f"cannot map it: {type(exc).__name__}: {message_of(exc)}")


def chunks(seq: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


#: CRM records read ahead together (their status rows looked up in one query).
READ_AHEAD = 500


def read_ahead(run: FolderRun, records: Iterable[CrmRecord]) -> Iterator[CrmRecord]:
    """``records`` as they come (a lazy listing stays lazy), their status rows looked
    up ``READ_AHEAD`` at a time (``FolderState.prefetch``)."""
    source = iter(records)
    while chunk := list(itertools.islice(source, READ_AHEAD)):
        run.state.prefetch(crm_ids=[record.id for record in chunk])
        yield from chunk


def message_of(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def direction_of(action: Action) -> str:
    return "to-exchange" if action.kind in MAILBOX_WRITES else "to-crm"


class FolderRun:
    """The state of one ``sync_folder`` call, shared by its stages."""

    def __init__(
        self,
        item_type: ItemType,
        crm: CrmBackend,
        mailbox: Transport,
        state_store: SyncState,
        options: Options,
        *,
        mailbox_quiet: bool = False,
    ) -> None:
        self.item_type = item_type
        self.crm = crm
        self.mailbox = mailbox
        self.store = state_store
        self.policy = check_policy(options.policy)
        self.dry_run = options.dry_run
        batch_size = options.batch_size
        self.batch = max(1, min(batch_size, getattr(mailbox, "max_batch", batch_size)))
        #: CRM writes come in batches of at least ``self.batch``, bigger when the connector
        #: prefers (the local CRM rewrites its file per batch, and the state is saved per batch).
        self.crm_batch = max(self.batch, int(getattr(crm, "preferred_batch", 0) or 0))
        self.guard = options.guard
        self.ledger = options.ledger
        self.events: list[dict[str, Any]] = []
        #: Which side's full listing came back empty while pairs were linked.
        self.emptied = {"mailbox": False, "crm": False}
        self.views = Views(item_type)
        self.two_way = item_type.direction == Direction.TWO_WAY
        self.result = FolderResult(item_type.name, item_type.folder, dry_run=self.dry_run)
        self.state: FolderState = state_store.load(item_type.name)
        self.retry_items: dict[str, str] = {}
        self.retry_records: dict[str, str] = {}
        self.linked_before = len(self.state.rows)
        #: The subscription saw no event in this folder (``engine.watch``): gather takes
        #: an empty page at the stored token instead of calling ``changes``. A folder
        #: never listed (no token) is read whatever the subscription says.
        self.mailbox_quiet = mailbox_quiet and self.state.token is not None
        self.result.mailbox_quiet = self.mailbox_quiet
        #: Unlinked ids whose content could not be read this run: what they might match
        #: on the other side waits for them (created next run, or matched).
        self.unread_items: set[str] = set()
        self.unread_records: set[str] = set()
        #: What the CRM listing showed of unlinked records (set by ``gather.read_crm``):
        #: whether there is any, and the item ids they name (streaming respects both).
        self.any_unlinked_record = False
        self.named_by_unlinked_records: set[str] = set()

    # -- reading ids of one side ---------------------------------------------------

    def get_items(self, ids: Sequence[str]) -> dict[str, MailboxItem | None]:
        """Current items by id (``None``: gone); failures go to the retry list."""
        folder = self.item_type.folder
        return self._read(
            ids,
            get=lambda chunk: self.mailbox.get(folder, chunk),
            missing=ItemNotFound,
            on_error=lambda item_id, exc: self.fail("read", "get-item", exc, item_id=item_id),
        )

    def get_records(self, ids: Sequence[str]) -> dict[str, CrmRecord | None]:
        """Current records by id (``None``: gone); failures go to the retry list."""
        record_type = self.item_type.record_type
        return self._read(
            ids,
            get=lambda chunk: self.crm.get(record_type, chunk),
            missing=RecordNotFound,
            on_error=lambda crm_id, exc: self.fail("read", "get-record", exc, crm_id=crm_id),
        )

    def _read(
        self,
        ids: Sequence[str],
        *,
        get: Callable[[Sequence[str]], list[Any]],
        missing: type[Exception],
        on_error: Callable[[str, Exception], None],
    ) -> dict[str, Any]:
        """Batched reads of one side: ``missing`` answers mean gone, other errors fail alone."""
        found: dict[str, Any] = {}
        for chunk in chunks(list(ids), self.batch):
            try:
                answers: list[Any] = get(chunk)
            except Exception as exc:
                answers = [exc] * len(chunk)
            for ident, got in zip(chunk, answers, strict=True):
                if isinstance(got, missing):
                    found[ident] = None
                elif isinstance(got, Exception):
                    on_error(ident, got)
                else:
                    found[ident] = got
        return found

    # -- failures, the ledger, saving ------------------------------------------------

    def fail(
        self,
        direction: str,
        action: str,
        exc: BaseException,
        *,
        crm_id: str | None = None,
        item_id: str | None = None,
    ) -> None:
        """One item failed: reported, logged, retried next run."""
        text = message_of(exc)
        error = ItemError(direction, action, text, crm_id, item_id, type(exc).__name__)
        self.result.errors.append(error)
        code = getattr(exc, "code", None) or type(exc).__name__
        self.log("error", direction, crm_id=crm_id, item_id=item_id, error=str(code), message=text)
        if crm_id:
            self.retry_records[crm_id] = text
        if item_id:
            self.retry_items[item_id] = text
        if action == "get-item" and item_id and self.state.by_item(item_id) is None:
            self.unread_items.add(item_id)
        if action == "get-record" and crm_id and self.state.by_crm(crm_id) is None:
            self.unread_records.add(crm_id)

    def fail_action(self, action: Action, exc: BaseException) -> None:
        self.fail(
            direction_of(action),
            action.kind.value,
            exc,
            crm_id=action.crm_id,
            item_id=action.item_id,
        )

    def log(
        self,
        op: str,
        direction: str,
        *,
        crm_id: str | None = None,
        item_id: str | None = None,
        **extra: Any,
    ) -> None:
        """One ledger entry; written with the next state save."""
        if self.dry_run or self.ledger is None:
            return
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "op": op,
            "direction": direction,
            "type": self.item_type.name,
            "crm_id": crm_id,
            "item_id": item_id,
            "error": None,
        }
        entry.update(extra)
        self.events.append(entry)

    def log_action(self, action: Action, answer: Any = None) -> None:
        direction = direction_of(action)
        if action.kind in (Kind.LINK, Kind.UNLINK, Kind.HOLD):
            direction = "-"
        extra: dict[str, Any] = {}
        if action.entry is not None:
            extra = {"review_id": action.pair_id, "message": action.entry.reason}
            if action.entry.kind == "ambiguous":  # one entry per side held
                for crm_id in action.entry.records:
                    self.log("hold", "-", crm_id=crm_id, **extra)
                for item_id in action.entry.items:
                    self.log("hold", "-", item_id=item_id, **extra)
                return
        # a create learns the new side's id from its answer (ItemRef / CrmRecord)
        crm_id = action.crm_id or getattr(answer, "id", None)
        item_id = action.item_id or getattr(answer, "item_id", None)
        self.log(LEDGER_OPS[action.kind], direction, crm_id=crm_id, item_id=item_id, **extra)

    def settle(self, action: Action) -> None:
        """A decided held entry whose action succeeded is done."""
        if action.entry is not None and action.kind is not Kind.HOLD:
            self.state.held.pop(action.entry.id, None)

    def save(self) -> None:
        if not self.dry_run:
            self.persist(self.state)

    def persist(self, state: FolderState | None) -> None:
        """Save ``state`` (None: unchanged) and write the ledger entries logged since
        the last save: in one transaction where the state store and the ledger can
        (``save_with_ledger``, ``write_in``: a shared database), else the state, then
        the entries."""
        events: list[dict[str, Any]] = []
        if self.events and self.ledger is not None:
            events, self.events = self.events, []
        together = getattr(self.store, "save_with_ledger", None)
        if together is not None and hasattr(self.ledger, "write_in"):
            together(state, self.ledger, events)
            return
        if state is not None:
            self.store.save(state)
        if events:
            self.ledger.write(events)
