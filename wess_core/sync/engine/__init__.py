"""The sync engine: one function per folder over a status table (vdirsyncer style).

``sync_folder`` runs five stages, one module each, with typed values between them
(after ``adopt``, which converts stored ids when the user switched transports):

1. **Gather** (``gather``): both sides' changes since the stored token and cursor, plus
   the ids that failed last run → ``Changes``. Plain changes are carried out while the
   mailbox listing goes on (``stream``), a CRM batch at a time.
2. **Trust** (``trust``): skip frozen ids (ignored, held undecided), turn reviewers'
   decisions into changes and actions (``Decisions``), fail alone what cannot be mapped.
3. **Plan** (``wess_core.sync.plan``, pure): a truth table per pair → ``Action`` list;
   then trust again: nothing created that might match an unread side, deletes over the
   deletion guard held for review.
4. **Apply** (``apply``) in batches, each batch's status rows and ledger entries saved
   right after it.
5. **Commit** (``commit``) the token, the cursor and the retry lists, after the changes
   they cover.

Trust (``wess_core.sync.review``): unlinked sides are *matched* by the item type's keys
before anything is created; ambiguous matches and deletes over the *deletion guard* are
held for review (``FolderState.held``, ``wess_core.sync.held.HeldEntry``) and the rest of
the folder syncs; a reviewer's decision is carried out by the next run. Every operation
goes to the per-item *ledger*, written once per batch like the state.

Pull subscriptions (``watch``): with a transport that has ``watch`` and a ``WatchStore``,
``sync_all`` polls the subscription first, and a folder with no event runs with no
mailbox read (gather takes an empty page at the stored token); its CRM changes still
go to the mailbox.

Crash safety: state is saved only after the writes it describes, so a run killed at any
point re-reads the same changes next time. Every item the engine creates carries its
CRM id and every record it creates carries the item id, so those changes re-link
(``plan.Planner.unlinked``) instead of duplicating.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import TypeVar

from wess_core.strategies import (
    CrmBackend,
    ItemType,
    MailboxBusy,
    MailboxUnavailable,
    Transport,
)
from wess_core.sync.engine import adopt, apply, commit, gather, stream, trust
from wess_core.sync.engine.context import (
    DEFAULT_BATCH_SIZE,
    FolderRun,
    Ledger,
    MappingFailed,
    Options,
    message_of,
)
from wess_core.sync.engine.gather import MAX_PAGES
from wess_core.sync.engine.watch import Watch, WatchRecord, WatchStore, can_watch
from wess_core.sync.plan import (
    CRM_WRITES,
    DEFAULT_POLICY,
    MAILBOX_WRITES,
    Kind,
    plan_folder,
)
from wess_core.sync.result import FolderResult, SyncResult
from wess_core.sync.review import DeletionGuard
from wess_core.sync.status import SyncState

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAX_PAGES",
    "Ledger",
    "MappingFailed",
    "Options",
    "Recover",
    "WatchRecord",
    "WatchStore",
    "sync_all",
    "sync_folder",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

assert set(MAILBOX_WRITES) | set(CRM_WRITES) | {Kind.LINK, Kind.UNLINK, Kind.HOLD} == set(Kind)


def run_folder(run: FolderRun) -> FolderResult:
    """The stages, in order, for one folder."""
    # 0. adopt: stored ids from another transport's id space are converted or unlinked
    adopt.adopt(run)
    # 1. gather (a run that writes carries out plain changes page by page meanwhile)
    changes = gather.gather(run, on_page=None if run.dry_run else stream.Streamer(run))
    # 2. trust: frozen ids out, decisions in, content the plan needs, unmappable out
    trust.freeze(run, changes)
    decisions = trust.release(run, changes)
    gather.fill_content(run, changes)
    trust.freeze(run, changes)  # what release and fill_content brought in may be frozen
    trust.screen(run, changes)
    # 3. plan, and trust again: what may be created or deleted now
    actions = plan_folder(
        run.item_type,
        run.state,
        changes.items,
        changes.records,
        run.policy,
        links=decisions.links,
        no_match=decisions.no_match,
    )
    actions = trust.apply_guard(run, trust.defer_unmatched(run, actions)) + decisions.actions
    trust.fill_summaries(run, actions)
    # 4. apply, 5. commit
    if run.dry_run:
        apply.count(run, actions)
        return run.result
    held_before = len(run.state.held)
    apply.apply(run, actions)
    commit.commit(run, changes, acted=bool(actions), held_before=held_before)
    return run.result


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

    ``state`` loads and saves this folder's ``FolderState`` (in production
    ``Context.stores.sync_state(login)``: the user's state file or a shared
    database). Per-item failures are in ``result.errors`` and are retried next run. A
    failure of a whole read (``changes``) raises: nothing after it was done, and state
    saved so far is consistent (an empty side is no longer refused: the guard
    holds the deletes it implies, see ``wess_core.sync.review``). ``dry_run`` reads both
    sides and plans, but writes nothing anywhere.
    ``guard`` (default ``DeletionGuard()``) decides when deletes are held for review;
    ``ledger`` receives every item operation, once per batch.
    """
    options = Options.of(policy, dry_run=dry_run, batch_size=batch_size, guard=guard, ledger=ledger)
    return run_folder(FolderRun(item_type, crm, mailbox, state, options))


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
    watch: WatchStore | None = None,
) -> SyncResult:
    """Sync every item type in turn; a folder that fails is reported, the others go on.

    ``progress(folder)`` is called once per mailbox folder, as its sync begins.

    A ``MailboxUnavailable`` is handled here and nowhere else: ``recover(error)`` (the
    caller's policy) may return a fresh transport, and the folder that failed is tried
    again with it; otherwise that folder and every one after it fail with the error
    without asking the mailbox again, and ``result.unavailable`` holds it.

    ``watch`` (where the user's ``WatchRecord`` is kept) turns on pull subscriptions
    when the transport has ``watch``: see ``wess_core.sync.engine.watch``. A dry run
    does not poll (it reads every folder and leaves the record as it is). A failing
    poll fails every folder, as a failing read does, and saves nothing.
    """
    options = Options.of(policy, dry_run=dry_run, batch_size=batch_size, guard=guard, ledger=ledger)
    result = SyncResult(dry_run=dry_run)
    item_types = list(item_types)
    watching: Watch | None = None
    if watch is not None and not dry_run and can_watch(mailbox):
        folders = [t.folder for t in item_types]
        polled, mailbox = _attempt(lambda m: Watch.begin(m, watch, folders), mailbox, recover)
        if isinstance(polled, Exception):
            if isinstance(polled, MailboxUnavailable):
                result.unavailable = polled
            return _all_failed(result, item_types, polled)
        watching = polled
    begun: set[str] = set()
    for item_type in item_types:
        if progress is not None and item_type.folder not in begun:
            begun.add(item_type.folder)
            progress(item_type.folder)
        if result.unavailable is None:
            run = partial(
                _run_one,
                item_type,
                crm,
                state,
                options,
                quiet=watching is not None and watching.quiet(item_type.folder),
            )
            done, mailbox = _attempt(run, mailbox, recover)
            if isinstance(done, MailboxUnavailable):
                result.unavailable = done
            elif isinstance(done, Exception):
                result.folders[item_type.name] = _failed_folder(item_type, done, dry_run)
                if isinstance(done, MailboxBusy):
                    result.busy = _longer_wait(result.busy, done)
            else:
                result.folders[item_type.name] = done
        if result.unavailable is not None:
            failed = _failed_folder(item_type, result.unavailable, dry_run)
            result.folders[item_type.name] = failed
        if watching is not None:
            failed_folder = result.folders[item_type.name].failed is not None
            watching.finished(item_type.folder, failed=failed_folder)
    return result


def _run_one(
    item_type: ItemType,
    crm: CrmBackend,
    state: SyncState,
    options: Options,
    mailbox: Transport,
    *,
    quiet: bool,
) -> FolderResult:
    return run_folder(FolderRun(item_type, crm, mailbox, state, options, mailbox_quiet=quiet))


def _attempt(
    call: Callable[[Transport], T], mailbox: Transport, recover: Recover | None
) -> tuple[T | Exception, Transport]:
    """``call(mailbox)``, and again with the transport ``recover`` gives after a
    ``MailboxUnavailable``; what it raised is returned (an unrecovered
    ``MailboxUnavailable`` among them), with the transport in use now."""
    while True:
        try:
            return call(mailbox), mailbox
        except MailboxUnavailable as exc:
            fresh = recover(exc) if recover is not None else None
            if fresh is None:
                return exc, mailbox
            mailbox = fresh
        except Exception as exc:
            return exc, mailbox


def _longer_wait(known: MailboxBusy | None, new: MailboxBusy) -> MailboxBusy:
    """Of two busy answers, the one asking for the longer wait (unknown counts as none)."""
    if known is None or (new.retry_after or 0) > (known.retry_after or 0):
        return new
    return known


def _all_failed(result: SyncResult, item_types: list[ItemType], exc: BaseException) -> SyncResult:
    """Every folder fails with the subscription's failure; nothing was read or written."""
    for item_type in item_types:
        result.folders[item_type.name] = _failed_folder(item_type, exc, result.dry_run)
    return result


def _failed_folder(item_type: ItemType, exc: BaseException, dry_run: bool) -> FolderResult:
    log.warning("sync of %s failed: %s", item_type.name, message_of(exc))
    folder = FolderResult(item_type.name, item_type.folder, dry_run=dry_run)
    folder.failed = f"{type(exc).__name__}: {message_of(exc)}"
    return folder
