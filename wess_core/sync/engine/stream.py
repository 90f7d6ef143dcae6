"""Plain changes carried out while the mailbox listing goes on (gather → plan → apply
for one page), so memory holds a CRM batch of items, not the folder.

A change is *plain* when the whole-folder plan would treat it on its own: a linked item
whose CRM side was not deleted, or a new item no CRM record could name or match. Plain
changes are planned exactly as the whole-folder plan would plan them (they never
delete, match or re-link), so doing them early changes nothing but memory. Every other
change (deletes, ids that failed last run, frozen or held ids, re-links) waits for the
whole-folder stages.
"""

from __future__ import annotations

from wess_core.strategies import CrmRecord, MailboxChange
from wess_core.sync.engine.apply import apply
from wess_core.sync.engine.context import FolderRun
from wess_core.sync.engine.gather import Changes, fetch_content
from wess_core.sync.engine.trust import defer_unmatched, screen
from wess_core.sync.plan import Kind, plan_folder
from wess_core.sync.review import match_keys_of

#: Kinds a plain change never plans.
_NEVER = (Kind.DELETE_ITEM, Kind.DELETE_RECORD, Kind.HOLD, Kind.UNLINK)


class Streamer:
    """The ``gather.OnPage`` of a run that writes (not a dry run)."""

    def __init__(self, run: FolderRun) -> None:
        self.run = run
        state = run.state
        frozen, _ = state.frozen_ids()
        held = {i for entry in state.held.values() for i in entry.items}
        #: Ids left to the whole-folder stages whatever their change.
        self.special = frozen | set(state.retry_items) | held

    def __call__(
        self,
        items: dict[str, MailboxChange],
        ids: list[str],
        records: dict[str, CrmRecord],
    ) -> None:
        """Plan and carry out the plain ones of ``ids`` now; they leave ``items``."""
        run = self.run
        batch = {i: items[i] for i in dict.fromkeys(ids) if self._may_stream(i, items[i])}
        fetch_content(run, batch, items)
        run.state.prefetch(item_ids=batch)
        plain = {
            item_id: change
            for item_id, change in batch.items()
            if item_id in items and self._plain(item_id, change, records)
        }
        if not plain:
            return
        page_records: dict[str, CrmRecord] = {}
        for item_id in plain:
            del items[item_id]
            row = run.state.by_item(item_id)
            if row is not None and row.crm_id in records:
                page_records[row.crm_id] = records.pop(row.crm_id)
        page = Changes(plain, page_records, token="", cursor=None)
        screen(run, page)
        actions = plan_folder(run.item_type, run.state, page.items, page.records, run.policy)
        actions = defer_unmatched(run, actions)
        assert not any(a.kind in _NEVER for a in actions), actions
        if actions:
            apply(run, actions)
            if run.state.rows.pending() or run.events:  # status-only steps: no batch saved them
                run.save()

    def _may_stream(self, item_id: str, change: MailboxChange) -> bool:
        """Worth a look before its content is read: not a delete, not a special id."""
        return not change.deleted and item_id not in self.special

    def _plain(self, item_id: str, change: MailboxChange, records: dict[str, CrmRecord]) -> bool:
        run = self.run
        if item_id in run.named_by_unlinked_records:
            return False
        row = run.state.by_item(item_id)
        if row is not None:
            record = records.get(row.crm_id)
            return record is None or not record.deleted
        if change.item is None or change.item.crm_id:
            return False  # a re-link after a crash: the whole-folder steps read its record
        matchable = run.two_way and match_keys_of(run.item_type) is not None
        return not (matchable and (run.any_unlinked_record or run.unread_records))
