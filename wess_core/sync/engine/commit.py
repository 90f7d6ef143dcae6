"""Stage 5, commit: store where the next run starts reading, after the changes it
covers are applied (exchangelib ``sync_items``): the mailbox token, the CRM cursor and
the ids to retry. An idle run writes no file."""

from __future__ import annotations

from wess_core.sync.engine.context import FolderRun, read_ahead
from wess_core.sync.engine.gather import Changes


def commit(run: FolderRun, changes: Changes, acted: bool, held_before: int) -> None:
    """Save the folder's state when this run changed anything in it (``acted``: there
    were actions), then write the last ledger entries."""
    state = run.state
    cursor = past_own_writes(run, changes.cursor)
    before = (state.token, state.cursor, state.retry_items, state.retry_records)
    state.token = changes.token
    state.cursor = cursor
    state.retry_items = run.retry_items
    state.retry_records = run.retry_records
    after = (changes.token, cursor, run.retry_items, run.retry_records)
    changed = after != before or len(state.held) != held_before
    run.persist(state if acted or changed or run.events else None)


def past_own_writes(run: FolderRun, cursor: str | None) -> str | None:
    """The CRM cursor moved past this run's own writes when they are all that was
    written since ``cursor``, so the next run does not read them back (an idle run
    after an import then reads and writes nothing). Anything else written meanwhile
    keeps ``cursor``: the next run reads it."""
    if cursor is None or not run.result.to_crm.total:
        return cursor
    records, head = run.crm.changes(run.item_type.record_type, cursor)
    for record in read_ahead(run, records):
        row = run.state.by_crm(record.id)
        if row is None or record.deleted or record.revision != row.crm_rev:
            return cursor
    return head
