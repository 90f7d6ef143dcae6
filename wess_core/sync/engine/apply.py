"""Stage 4, apply: carry out the planned actions in batches, saving rows per batch.

Status-only steps first (links, unlinks, held entries), then mailbox creates, updates,
deletes, then CRM creates, updates, deletes, in batches of at most the run's batch
size (CRM writes in bigger ones when the connector sets ``preferred_batch``). An
action that fails is recorded in the result and the retry lists; its status row is
left as it was. A batch's rows and ledger entries are saved right after the batch.
A dry run only counts what would happen (``count``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wess_core.errors import WessError
from wess_core.strategies import (
    CrmRecord,
    ItemRef,
    ItemUpdate,
    MailboxItem,
    NewItem,
    NewRecord,
    RecordNotFound,
    RecordUpdate,
)
from wess_core.sync.engine.context import FolderRun, MappingFailed, chunks
from wess_core.sync.held import DELETE
from wess_core.sync.plan import MAILBOX_WRITES, Action, Kind
from wess_core.sync.review import summary
from wess_core.sync.status import StatusRow


@dataclass
class Step:
    """One kind of write: how to build each action's input, the bulk call, and what a
    success changes (the status row, the counts)."""

    prepare: Callable[[Action], Any]
    call: Callable[[list[Any]], list[Any]]
    done: Callable[[Action, Any], None]
    batch: int


def apply(run: FolderRun, actions: list[Action]) -> None:
    """Carry out ``actions``; every failure stays with its own action."""
    by_kind: dict[Kind, list[Action]] = {kind: [] for kind in Kind}
    for action in actions:
        by_kind[action.kind].append(action)
    # Status-only steps first: they need no request and are saved with the first batch.
    # In plan order: a re-link after a killed restore unlinks the old pair and links
    # the re-created side under the same pair id (both first seen as ``crm:ID``), so
    # an unlink applied after the link would drop the new row.
    for action in actions:
        if action.kind is Kind.LINK:
            assert action.row is not None
            if action.pair_id not in run.state.rows:  # a new pair, not a refreshed row
                run.log_action(action)
            run.state.put(action.row)
        elif action.kind is Kind.UNLINK:
            run.state.drop(action.pair_id)
            run.log_action(action)
            run.settle(action)
    for action in by_kind[Kind.HOLD]:
        hold(run, action)
    for kind, step in _Steps(run).steps().items():
        _run_batches(run, by_kind[kind], step)


def _run_batches(run: FolderRun, actions: list[Action], step: Step) -> None:
    """``prepare`` each action's input, ``call`` per batch, ``done`` per success; save
    the rows per batch. An input that cannot be prepared (the mapping raised on this
    one record) fails that action alone: the rest of its batch is still sent."""
    for chunk in chunks(actions, step.batch):
        answers: list[Any] = [None] * len(chunk)
        ready: list[int] = []
        inputs: list[Any] = []
        for index, action in enumerate(chunk):
            try:
                inputs.append(step.prepare(action))
                ready.append(index)
            except Exception as exc:
                answers[index] = MappingFailed.of(exc)
        try:
            got = step.call(inputs) if inputs else []
            if len(got) != len(inputs):
                raise WessError(f"a bulk call answered {len(got)} results for {len(inputs)} inputs")
        except Exception as exc:  # the whole call failed: every item in it did
            got = [exc] * len(inputs)
        for index, answer in zip(ready, got, strict=True):
            answers[index] = answer
        for action, answer in zip(chunk, answers, strict=True):
            if isinstance(answer, RecordNotFound) and action.kind is Kind.DELETE_RECORD:
                answer = None  # already gone: the delete is done
            if isinstance(answer, Exception):
                run.fail_action(action, answer)
            else:
                step.done(action, answer)
                run.log_action(action, answer)
                run.settle(action)
                if action.conflict is not None:
                    run.result.conflicts.append(action.conflict)
        run.save()


class _Steps:
    """The six write steps of one run, and the status rows their successes leave."""

    def __init__(self, run: FolderRun) -> None:
        self.run = run

    def steps(self) -> dict[Kind, Step]:
        """The write steps in the order they run: the mailbox's, then the CRM's."""
        run = self.run
        folder, record_type = run.item_type.folder, run.item_type.record_type
        mailbox, crm = run.mailbox, run.crm
        return {
            Kind.CREATE_ITEM: Step(
                prepare=self.new_item,
                call=lambda inputs: mailbox.create(folder, inputs),
                done=self.created_item,
                batch=run.batch,
            ),
            Kind.UPDATE_ITEM: Step(
                prepare=self.item_update,
                call=lambda inputs: mailbox.update(folder, inputs),
                done=self.updated_item,
                batch=run.batch,
            ),
            Kind.DELETE_ITEM: Step(
                prepare=self.item_ref,
                call=lambda inputs: mailbox.delete(folder, inputs),
                done=self.deleted_item,
                batch=run.batch,
            ),
            Kind.CREATE_RECORD: Step(
                prepare=self.new_record,
                call=lambda inputs: crm.create(record_type, inputs),
                done=self.created_record,
                batch=run.crm_batch,
            ),
            Kind.UPDATE_RECORD: Step(
                prepare=self.record_update,
                call=lambda inputs: crm.update(record_type, inputs),
                done=self.updated_record,
                batch=run.crm_batch,
            ),
            Kind.DELETE_RECORD: Step(
                prepare=self.record_id,
                call=lambda inputs: crm.delete(record_type, inputs),
                done=self.deleted_record,
                batch=run.crm_batch,
            ),
        }

    # -- inputs --------------------------------------------------------------------

    @staticmethod
    def _record(action: Action) -> CrmRecord:
        """The CRM version a mailbox write copies (always known for those kinds)."""
        assert action.record is not None, action
        return action.record

    def _item_fields(self, action: Action) -> dict[str, Any]:
        return self.run.item_type.to_item(self._record(action).fields)

    @staticmethod
    def _item_version(action: Action) -> tuple[str, str | None]:
        if action.item is not None:
            return action.item.item_id, action.item.changekey
        assert action.row is not None
        return action.row.item_id, action.row.changekey

    @staticmethod
    def _record_version(action: Action) -> tuple[str, Any]:
        if action.record is not None:
            return action.record.id, action.record.revision
        assert action.row is not None
        return action.row.crm_id, action.row.crm_rev

    def new_item(self, action: Action) -> NewItem:
        return NewItem(self._item_fields(action), self._record(action).id)

    def item_update(self, action: Action) -> ItemUpdate:
        item_id, changekey = self._item_version(action)
        return ItemUpdate(item_id, self._item_fields(action), changekey)

    def item_ref(self, action: Action) -> ItemRef:
        item_id, changekey = self._item_version(action)
        return ItemRef(item_id, changekey)  # type: ignore[arg-type]

    def new_record(self, action: Action) -> NewRecord:
        assert action.item is not None
        return NewRecord(self.run.item_type.to_record(action.item.fields), action.item.item_id)

    def record_update(self, action: Action) -> RecordUpdate:
        assert action.item is not None
        crm_id, revision = self._record_version(action)
        expected = revision if self.run.two_way else None
        return RecordUpdate(crm_id, self.run.item_type.to_record(action.item.fields), expected)

    def record_id(self, action: Action) -> str:
        return self._record_version(action)[0]

    # -- successes -----------------------------------------------------------------

    def _item_row(self, action: Action, ref: ItemRef) -> StatusRow:
        """The row after writing the CRM version into the mailbox: both sides agree."""
        item = MailboxItem(ref.item_id, ref.changekey, self._item_fields(action))
        return self.run.views.row(action.pair_id, self._record(action), item)

    def created_item(self, action: Action, ref: ItemRef) -> None:
        self.run.state.put(self._item_row(action, ref))
        self.run.result.to_exchange.created += 1

    def updated_item(self, action: Action, ref: ItemRef) -> None:
        self.run.state.put(self._item_row(action, ref))
        self.run.result.to_exchange.updated += 1

    def deleted_item(self, action: Action, _: None) -> None:
        self.run.state.drop(action.pair_id)
        self.run.result.to_exchange.deleted += 1

    def created_record(self, action: Action, record: CrmRecord) -> None:
        assert action.item is not None
        self.run.state.put(self.run.views.row(action.pair_id, record, action.item))
        self.run.result.to_crm.created += 1

    def updated_record(self, action: Action, record: CrmRecord) -> None:
        views = self.run.views
        if action.item is None:  # no mailbox change this run: the row's side stands
            old = action.row
            assert old is not None
            row = views.row(action.pair_id, record, MailboxItem(old.item_id, "", {}))
            row.changekey, row.item_hash = old.changekey, old.item_hash
        else:
            row = views.row(action.pair_id, record, action.item)
        self.run.state.put(row)
        self.run.result.to_crm.updated += 1

    def deleted_record(self, action: Action, _: Any) -> None:
        self.run.state.drop(action.pair_id)
        self.run.result.to_crm.deleted += 1


def hold(run: FolderRun, action: Action) -> None:
    """Keep a held entry (with summaries of what survives) and report it."""
    entry = action.entry
    assert entry is not None
    old = run.state.held.get(entry.id)
    entry.since = old.since if old else datetime.now(UTC).isoformat(timespec="seconds")
    if entry.kind == DELETE and not entry.summaries:
        if action.item is not None and action.item.fields:
            view = run.item_type.to_record(action.item.fields)
            entry.summaries[entry.item_id] = summary(view)
        if action.record is not None and action.record.fields:
            entry.summaries[entry.crm_id] = summary(action.record.fields)
    run.state.held[entry.id] = entry
    run.result.held.append(held_summary(action))
    if old is None:
        run.log_action(action)


def held_summary(action: Action) -> dict[str, Any]:
    """What a run reports of a held entry (``FolderResult.held``)."""
    entry = action.entry
    return {
        "id": action.pair_id,
        "kind": entry.kind if entry else None,
        "side": entry.side if entry else None,
        "reason": entry.reason if entry else None,
    }


def count(run: FolderRun, actions: list[Action]) -> None:
    """A dry run: count what would happen; write nothing."""
    result = run.result
    for action in actions:
        if action.kind is Kind.HOLD:
            result.held.append(held_summary(action))
        if action.kind in (Kind.LINK, Kind.UNLINK, Kind.HOLD):
            continue
        result.planned.append(action.describe())
        counts = result.to_exchange if action.kind in MAILBOX_WRITES else result.to_crm
        verb = action.kind.value.split("-")[0]
        setattr(counts, verb + "d", getattr(counts, verb + "d") + 1)
        if action.conflict is not None:
            result.conflicts.append(action.conflict)
