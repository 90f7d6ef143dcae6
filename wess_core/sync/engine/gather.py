"""Stage 1, gather: what changed on each side since the last run, with the content the
plan needs.

CRM changes since the stored cursor come first, then mailbox changes since the stored
token (page after page; an ``InvalidSyncState`` restarts from ``None``, a *full
resync*), then the ids that failed last run are read again. A full listing's missing
linked ids count as deleted. Content is fetched with ``get`` only for changes that are
not our own writes coming back and came without it. An idle folder costs one
``changes`` call, and none when the user's subscription saw no event in it
(``FolderRun.mailbox_quiet``: an empty page at the stored token).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from wess_core.errors import WessError
from wess_core.strategies import CrmRecord, InvalidSyncState, MailboxChange, MailboxItem
from wess_core.sync.engine.context import FolderRun, read_ahead
from wess_core.sync.status import StatusRow

log = logging.getLogger(__name__)

#: Refuse to follow a transport that never says ``done`` (a bug, not a big folder).
MAX_PAGES = 100_000


@dataclass
class Changes:
    """Both sides' changes, by id, and where the next run starts reading."""

    #: Mailbox changes by item id.
    items: dict[str, MailboxChange]
    #: CRM changes (records and tombstones) by record id.
    records: dict[str, CrmRecord]
    #: The mailbox token and the CRM cursor after these changes.
    token: str
    cursor: str | None


#: Called with the changes so far, the ids a listing just added and the CRM changes:
#: carries out the plain ones now (``stream.Streamer``); they leave the changes.
OnPage = Callable[[dict[str, MailboxChange], list[str], dict[str, CrmRecord]], None]


def gather(run: FolderRun, on_page: OnPage | None) -> Changes:
    """Read both sides, and re-read what failed last run."""
    records, cursor = read_crm(run)
    items, token = read_mailbox(run, records, on_page)
    reread_failed(run, items, records)
    return Changes(items, records, token, cursor)


def read_crm(run: FolderRun) -> tuple[dict[str, CrmRecord], str | None]:
    """CRM changes since the cursor; with no cursor, a full listing whose missing
    linked records count as deleted (a run that died before its first commit)."""
    state = run.state
    listing, cursor = run.crm.changes(run.item_type.record_type, state.cursor)
    full = state.cursor is None and run.linked_before
    changes: dict[str, CrmRecord] = {}
    listed: set[str] = set()  # a full listing's ids, to tell which linked ones are gone
    for record in read_ahead(run, listing):  # may be lazy: keep what is not our own echo
        if full:
            listed.add(record.id)
        row = state.by_crm(record.id)
        if row is not None and not record.deleted and record.revision == row.crm_rev:
            continue  # our own write coming back (or nothing new): the plan skips it
        if row is None and not record.deleted:  # unlinked: what streaming must respect
            run.any_unlinked_record = True
            if record.exchange_id:
                run.named_by_unlinked_records.add(record.exchange_id)
        changes[record.id] = record
    if full:
        gone = [row for row in state if row.crm_id not in listed]
        if gone and len(gone) == run.linked_before:
            run.emptied["crm"] = True
        for row in gone:
            changes[row.crm_id] = CrmRecord(row.crm_id, "", deleted=True)
    return changes, cursor


def read_mailbox(
    run: FolderRun, records: dict[str, CrmRecord], on_page: OnPage | None
) -> tuple[dict[str, MailboxChange], str]:
    """All pages since the stored token; a full listing when it is refused.

    With ``on_page`` (not in a dry run), every CRM batch's worth of listed ids is handed
    over while the listing goes on, so memory holds a batch of items, not the folder.
    """
    folder = run.item_type.folder
    token = run.state.token
    if run.mailbox_quiet:
        assert token is not None
        return {}, token
    full = token is None
    while True:
        changes: dict[str, MailboxChange] = {}
        #: ids of a full listing, for the sweep (only when there are pairs to sweep).
        listed: set[str] = set()
        pending: list[str] = []
        try:
            for _ in range(MAX_PAGES):
                page = run.mailbox.changes(folder, token)
                for change in page.changes:
                    changes[change.item_id] = change
                    pending.append(change.item_id)
                    if full and run.linked_before:
                        listed.add(change.item_id)
                token = page.token
                if on_page is not None and (page.done or len(pending) >= run.crm_batch):
                    on_page(changes, pending, records)
                    pending = []
                if page.done:
                    break
            else:
                raise WessError(f"the mailbox never finished listing {folder}")
        except InvalidSyncState:
            if full:
                raise
            log.info("%s: sync state refused, resyncing in full", folder)
            token, full = None, True
            continue
        break
    run.result.full_resync = full
    if full and run.linked_before:
        _sweep(run, changes, listed)
    assert token is not None
    return changes, token


def _sweep(run: FolderRun, changes: dict[str, MailboxChange], listed: set[str]) -> None:
    """In a full listing, a linked item that is not listed was deleted."""
    gone = [row for row in run.state if row.item_id not in listed]
    if gone and len(gone) == run.linked_before:
        run.emptied["mailbox"] = True  # the guard holds the deletes this implies
    for row in gone:
        changes[row.item_id] = MailboxChange(row.item_id, None, deleted=True)


def as_change(item_id: str, item: MailboxItem | None) -> MailboxChange:
    """A change for an item as read now (``None``: it is gone)."""
    if item is None:
        return MailboxChange(item_id, None, deleted=True)
    return MailboxChange(item_id, item.changekey, item=item)


def reread_failed(
    run: FolderRun, items: dict[str, MailboxChange], records: dict[str, CrmRecord]
) -> None:
    """Ids whose change failed last run are read again, as if they changed."""
    state = run.state
    for item_id, item in run.get_items([i for i in state.retry_items if i not in items]).items():
        items[item_id] = as_change(item_id, item)
    retry = [r for r in state.retry_records if r not in records]
    for crm_id, record in run.get_records(retry).items():
        records[crm_id] = record if record is not None else CrmRecord(crm_id, "", deleted=True)


def fetch_content(
    run: FolderRun, some: dict[str, MailboxChange], items: dict[str, MailboxChange]
) -> None:
    """Read the content of ``some``'s changes that are not echoes and came without it;
    both ``some`` and ``items`` get the answers (an unreadable one leaves both: it is
    retried next run)."""
    need = []
    for item_id, change in some.items():
        if change.deleted or change.item is not None:
            continue
        row = run.state.by_item(item_id)
        if row is None or change.changekey is None or change.changekey != row.changekey:
            need.append(item_id)
    got = run.get_items(need)
    for item_id in need:
        if item_id not in got:  # could not read it: retried next run
            some.pop(item_id, None)
            items.pop(item_id, None)
            continue
        some[item_id] = items[item_id] = as_change(item_id, got[item_id])


def fill_content(run: FolderRun, changes: Changes) -> None:
    """Fetch what the plan needs and the changes did not carry.

    * content of mailbox changes that are not echoes of a stored changekey;
    * a record an unlinked item names by CRM id (re-link after a crash);
    * an item an unlinked record names by ``exchange_id`` (same, other way).
    """
    items, records, state = changes.items, changes.records, run.state
    fetch_content(run, items, items)

    def item_gone(row: StatusRow | None) -> bool:
        return row is None or (row.item_id in items and items[row.item_id].deleted)

    def record_gone(row: StatusRow | None) -> bool:
        return row is None or (row.crm_id in records and records[row.crm_id].deleted)

    want_records = {
        change.item.crm_id
        for item_id, change in items.items()
        if change.item is not None
        and change.item.crm_id
        and state.by_item(item_id) is None
        and item_gone(state.by_crm(change.item.crm_id))
        and change.item.crm_id not in records
    }
    for crm_id, record in run.get_records(sorted(want_records)).items():
        if record is not None:
            records[crm_id] = record
    if not run.two_way or run.result.full_resync:
        return  # a full listing listed every item there is: one it did not is gone
    want_items = {
        record.exchange_id
        for crm_id, record in records.items()
        if not record.deleted
        and record.exchange_id
        and state.by_crm(crm_id) is None
        and record_gone(state.by_item(record.exchange_id))
        and record.exchange_id not in items
    }
    for item_id, item in run.get_items(sorted(want_items)).items():
        if item is not None:
            items[item_id] = as_change(item_id, item)
