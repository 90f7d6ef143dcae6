"""Stage 2, trust: decide which changes may be planned and which actions may go ahead.

Before the plan: changes of ids a person ignores and of held ids still undecided are
skipped (``freeze``); reviewers' decisions on held entries become changes or actions
(``release``); a change whose content the item type cannot map fails alone
(``screen``). After the plan: nothing is created that might match an unlinked side not
read this run (``defer_unmatched``), and a side's deletes over the deletion guard are
held for review (``apply_guard``, ``wess_core.sync.review``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wess_core.strategies import CrmRecord, MailboxItem
from wess_core.sync.engine.context import FolderRun, MappingFailed
from wess_core.sync.engine.gather import Changes, as_change, fetch_content
from wess_core.sync.held import AMBIGUOUS, DELETE, HeldEntry
from wess_core.sync.plan import Action, Kind
from wess_core.sync.review import match_keys_of, review_id
from wess_core.sync.status import StatusRow


@dataclass
class Decisions:
    """Reviewers' decisions, ready for the plan."""

    #: Chosen links of ambiguous matches: item id → CRM id.
    links: dict[str, str] = field(default_factory=dict)
    #: Ids of rejected ambiguous matches: never matched, created on the other side.
    no_match: set[str] = field(default_factory=set)
    #: Decided held deletes: the delete (approved), a restore or an unlink (rejected).
    actions: list[Action] = field(default_factory=list)


def decision_allowed(entry: HeldEntry) -> bool:
    """Approving a held delete of CRM records (a database other users share) takes an
    admin (``wess_core.service.review.decide`` records ``admin``); a user's approval
    stored before that rule (``by`` a login, no ``admin`` flag) is not carried out.
    A decision without ``by`` comes from code, not a reviewer, and stands."""
    decision = entry.decision or {}
    if entry.kind != DELETE or entry.side != "crm" or entry.action != "approve":
        return True
    if "admin" in decision:
        return bool(decision["admin"])
    return decision.get("by", "admin") == "admin"


def freeze(run: FolderRun, changes: Changes) -> None:
    """Skip changes of ignored ids and of ids held without a decision."""
    state = run.state
    frozen_items, frozen_records = state.frozen_ids()
    for item_id in [i for i in changes.items if i in frozen_items]:
        change, row = changes.items.pop(item_id), state.by_item(item_id)
        echo = row is not None and change.changekey == row.changekey
        if not echo and (item_id in state.ignored or _row_ignored(run, row)):
            crm_id = row.crm_id if row else None
            run.log("skip", "-", crm_id=crm_id, item_id=item_id, message="ignored")
    for crm_id in [c for c in changes.records if c in frozen_records]:
        record, row = changes.records.pop(crm_id), state.by_crm(crm_id)
        echo = row is not None and record.revision == row.crm_rev
        if not echo and (crm_id in state.ignored or _row_ignored(run, row)):
            item_id = row.item_id if row else None
            run.log("skip", "-", crm_id=crm_id, item_id=item_id, message="ignored")


def _row_ignored(run: FolderRun, row: StatusRow | None) -> bool:
    return row is not None and bool({row.item_id, row.crm_id} & set(run.state.ignored))


def release(run: FolderRun, changes: Changes) -> Decisions:
    """Carry out reviewers' decisions on held entries.

    Ambiguous matches come back as changes (re-read now): with a chosen link, as a
    forced pair (``links``); rejected, as "never match" (``no_match``, so created on
    the other side). Held deletes become actions the guard does not count: approved,
    the delete; rejected, a restore (the deleted side re-created from the survivor).
    """
    held = run.state.held
    out = Decisions()
    for entry in held.values():
        if entry.decision and not decision_allowed(entry):
            entry.decision = None  # a user's approval of CRM deletes: held again
    decided = [e for e in held.values() if e.decision]
    if not decided:
        return out
    items = run.get_items(sorted({i for e in decided for i in e.items}))
    records = run.get_records(sorted({r for e in decided for r in e.records}))
    for entry in decided:
        if entry.kind == AMBIGUOUS:
            held.pop(entry.id, None)
            _release_match(entry, items, records, changes, out)
        else:
            _release_delete(run, entry, items, records, changes, out)
    return out


def _release_match(
    entry: HeldEntry,
    items: dict[str, MailboxItem | None],
    records: dict[str, CrmRecord | None],
    changes: Changes,
    out: Decisions,
) -> None:
    for item_id in entry.items:
        item = items.get(item_id)
        if item is not None:
            changes.items[item_id] = as_change(item_id, item)
    for crm_id in entry.records:
        record = records.get(crm_id)
        if record is not None:
            changes.records[crm_id] = record
    decision = entry.decision or {}
    if entry.action == "link":
        out.links[decision["item_id"]] = decision["crm_id"]
    else:
        out.no_match.update(entry.items)
        out.no_match.update(entry.records)


def _release_delete(
    run: FolderRun,
    entry: HeldEntry,
    items: dict[str, MailboxItem | None],
    records: dict[str, CrmRecord | None],
    changes: Changes,
    out: Decisions,
) -> None:
    assert entry.pair_id is not None
    pair_id, item_id, crm_id = entry.pair_id, entry.item_id, entry.crm_id
    row = run.state.rows.get(pair_id)
    changes.items.pop(item_id, None)
    changes.records.pop(crm_id, None)
    item, record = items.get(item_id), records.get(crm_id)

    def act(kind: Kind, **sides: MailboxItem | CrmRecord) -> None:
        out.actions.append(Action(kind, pair_id, row=row, entry=entry, **sides))  # type: ignore[arg-type]

    if entry.action == "approve":
        if entry.side == "exchange":
            act(
                Kind.DELETE_ITEM,
                item=item or MailboxItem(item_id, row.changekey if row else "", {}),
            )
        else:
            act(Kind.DELETE_RECORD, record=record or CrmRecord(crm_id, ""))
    elif _restored(run, entry, item, record, changes):
        run.state.held.pop(entry.id, None)  # done by a run killed after it
    elif entry.side == "exchange" and item is not None:  # restore the record
        act(Kind.CREATE_RECORD, item=item)
    elif entry.side == "crm" and record is not None:  # restore the item
        act(Kind.CREATE_ITEM, record=record)
    else:  # the survivor is gone too: nothing to restore
        act(Kind.UNLINK)


def _restored(
    run: FolderRun,
    entry: HeldEntry,
    item: MailboxItem | None,
    record: CrmRecord | None,
    changes: Changes,
) -> bool:
    """A rejected held delete whose restore already landed in a run killed before
    its status row was saved: the re-created side names the survivor (its CRM id
    or exchange id) and is still unlinked. Hand the pair to the plan as "deleted,
    and re-created" (its re-link step) instead of restoring a second time."""
    item_id, crm_id, state = entry.item_id, entry.crm_id, run.state
    if entry.side == "crm" and record is not None:  # deleted in Exchange: item restored?
        fetch_content(run, changes.items, changes.items)  # its CRM id rides in its content
        if not any(
            change.item is not None
            and change.item.crm_id == crm_id
            and state.by_item(other) is None
            for other, change in changes.items.items()
        ):
            return False
        changes.items[item_id] = as_change(item_id, None)
        changes.records[crm_id] = record
        return True
    if entry.side == "exchange" and item is not None:  # deleted in the CRM: restored?
        if not any(
            not other.deleted and other.exchange_id == item_id and state.by_crm(other_id) is None
            for other_id, other in changes.records.items()
        ):
            return False
        changes.records[crm_id] = CrmRecord(crm_id, "", deleted=True)
        changes.items[item_id] = as_change(item_id, item)
        return True
    return False


def screen(run: FolderRun, changes: Changes) -> None:
    """Map every change's content once before it is planned.

    The plan hashes both sides through the item type's mapping and the writes map
    them again; a record or item the mapping raises on would otherwise fail the whole
    plan or batch, run after run. Such a change leaves the changes (with the change of
    its pair's other side, so no side overwrites a version never compared) and fails
    alone: a ledger entry, and both ids are retried next run.
    """
    state = run.state
    bad: list[tuple[str, str | None, str | None, BaseException]] = []
    if run.two_way:
        for crm_id, record in changes.records.items():
            if record.deleted:
                continue
            try:
                run.views.record_view(record.fields)
            except Exception as exc:
                row = state.by_crm(crm_id)
                bad.append(("to-exchange", crm_id, row.item_id if row else None, exc))
    for item_id, change in changes.items.items():
        if change.deleted or change.item is None:
            continue
        try:
            run.views.item_view(change.item.fields)
        except Exception as exc:
            row = state.by_item(item_id)
            bad.append(("to-crm", row.crm_id if row else None, item_id, exc))
    for direction, crm_id, item_id, exc in bad:
        if crm_id is not None:
            changes.records.pop(crm_id, None)
        if item_id is not None:
            changes.items.pop(item_id, None)
        action = "map-record" if direction == "to-exchange" else "map-item"
        run.fail(direction, action, MappingFailed.of(exc), crm_id=crm_id, item_id=item_id)
        # unlinked, it might match the other side: nothing is created in its place
        if direction == "to-exchange" and item_id is None and crm_id is not None:
            run.unread_records.add(crm_id)
        elif direction == "to-crm" and crm_id is None and item_id is not None:
            run.unread_items.add(item_id)


def defer_unmatched(run: FolderRun, actions: list[Action]) -> list[Action]:
    """Don't create what might match an unlinked side that could not be read this run
    (that would duplicate it): re-read both next run instead."""
    if match_keys_of(run.item_type) is None:
        return actions
    waits = {
        Kind.CREATE_ITEM: bool(run.unread_items),
        Kind.CREATE_RECORD: bool(run.unread_records),
    }
    out = []
    for action in actions:
        if waits.get(action.kind) and action.row is None and action.entry is None:
            why = "waiting for unread items to match against"
            if action.kind is Kind.CREATE_ITEM and action.crm_id:
                run.retry_records[action.crm_id] = why
            elif action.item_id:
                run.retry_items[action.item_id] = why
            continue
        out.append(action)
    return out


def apply_guard(run: FolderRun, actions: list[Action]) -> list[Action]:
    """Hold a side's deletes when they trip the guard; everything else goes ahead."""
    sides = (("exchange", Kind.DELETE_ITEM, "crm"), ("crm", Kind.DELETE_RECORD, "mailbox"))
    out = actions
    for side, kind, source in sides:
        deletes = [a for a in out if a.kind is kind]
        emptied = run.emptied[source]
        reason = run.guard.reason(len(deletes), run.linked_before, emptied, side)
        if reason is None:
            continue
        out = [a for a in out if a.kind is not kind]
        out.extend(_held_delete(run, a, side, reason) for a in deletes)
    return out


def _held_delete(run: FolderRun, action: Action, side: str, reason: str) -> Action:
    item_id, crm_id = action.item_id, action.crm_id
    assert item_id is not None and crm_id is not None, action
    entry = HeldEntry(
        id=review_id(DELETE, run.item_type.name, [item_id, crm_id]),
        kind=DELETE,
        item_type=run.item_type.name,
        side=side,
        pair_id=action.pair_id,
        items=[item_id],
        records=[crm_id],
        reason=reason,
    )
    return Action(
        Kind.HOLD, entry.id, row=action.row, record=action.record, item=action.item, entry=entry
    )


def fill_summaries(run: FolderRun, actions: list[Action]) -> None:
    """Held deletes show what would be deleted: read the survivors' content."""
    held = [a for a in actions if a.kind is Kind.HOLD and a.entry and a.entry.kind == DELETE]
    need_items = [
        a.item_id
        for a in held
        if a.entry and a.entry.side == "exchange" and (a.item is None or not a.item.fields)
    ]
    need_records = [
        a.crm_id
        for a in held
        if a.entry and a.entry.side == "crm" and (a.record is None or a.record.deleted)
    ]
    items = run.get_items([i for i in need_items if i])
    records = run.get_records([c for c in need_records if c])
    for action in held:
        item = items.get(action.item_id) if action.item_id else None
        if item is not None:
            action.item = item
        record = records.get(action.crm_id) if action.crm_id else None
        if record is not None:
            action.record = record
