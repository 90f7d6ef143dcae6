"""Plan: from both sides' changes and the status table to a list of actions.

Pure: no I/O. The engine gathers the changes (and fetches content it lacks), calls
``plan_folder``, then carries out the actions in batches.

Both sides are compared in *CRM-record space*: a record's view is
``to_record(to_item(fields))`` and an item's view is ``to_record(fields)``, so a field
one side cannot hold never counts as a change, and "the two sides agree" is simply
"their view hashes are equal". A side counts as changed only when its view hash differs
from the one in its status row; a new changekey or revision alone (a flag, a category,
our own write coming back) only refreshes the row.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from wess_core.errors import UsageError
from wess_core.strategies import CrmRecord, Direction, ItemType, MailboxChange, MailboxItem
from wess_core.sync.held import AMBIGUOUS, HeldEntry
from wess_core.sync.result import Conflict
from wess_core.sync.review import match, match_keys_of, review_id, summary
from wess_core.sync.status import FolderState, StatusRow, content_hash
from wess_core.sync.status import pair_id as new_pair_id

#: Conflict policies (both sides changed the same pair since the last sync).
#: ``crm-wins`` is the default: the CRM is the shared system of record (a contact or a
#: meeting there is team data; the mailbox copy is one person's), the result is
#: deterministic and does not depend on two servers' clocks agreeing, and the losing
#: Exchange version is kept in the sync result (history), so nothing is lost silently.
POLICIES = ("crm-wins", "exchange-wins", "newest-wins")
DEFAULT_POLICY = "crm-wins"


def check_policy(policy: str) -> str:
    """Refuse an unknown policy name with the choices."""
    if policy not in POLICIES:
        raise UsageError(f"unknown conflict policy {policy!r}; choose one of {', '.join(POLICIES)}")
    return policy


class Seen(enum.Enum):
    """How one side of a pair looks compared with its status row."""

    NONE = "none"  # no change reported
    ECHO = "echo"  # same changekey / revision as stored: our own write, or nothing new
    TOUCHED = "touched"  # new changekey / revision, same content: refresh the row only
    CHANGED = "changed"  # content differs from the row
    DELETED = "deleted"


class Kind(enum.StrEnum):
    CREATE_ITEM = "create-item"
    UPDATE_ITEM = "update-item"
    DELETE_ITEM = "delete-item"
    CREATE_RECORD = "create-record"
    UPDATE_RECORD = "update-record"
    DELETE_RECORD = "delete-record"
    LINK = "link"  # status only: write ``row``
    UNLINK = "unlink"  # status only: drop the pair
    HOLD = "hold"  # status only: keep ``entry`` for review (``pair_id`` is its review id)


#: Kinds that write to the mailbox, and to the CRM.
MAILBOX_WRITES = (Kind.CREATE_ITEM, Kind.UPDATE_ITEM, Kind.DELETE_ITEM)
CRM_WRITES = (Kind.CREATE_RECORD, Kind.UPDATE_RECORD, Kind.DELETE_RECORD)


@dataclass
class Action:
    """One step. ``record`` / ``item`` are the sides' current versions when known;
    ``row`` the status row before the step (LINK: the row to write)."""

    kind: Kind
    pair_id: str
    row: StatusRow | None = None
    record: CrmRecord | None = None
    item: MailboxItem | None = None
    conflict: Conflict | None = None
    #: HOLD, and the actions a reviewer's decision leads to: the entry held for review.
    entry: HeldEntry | None = None

    @property
    def crm_id(self) -> str | None:
        if self.record is not None:
            return self.record.id
        return self.row.crm_id if self.row else None

    @property
    def item_id(self) -> str | None:
        if self.item is not None:
            return self.item.item_id
        return self.row.item_id if self.row else None

    def describe(self) -> dict[str, Any]:
        """Short, JSON-ready (dry-run output)."""
        out: dict[str, Any] = {"action": self.kind.value, "crm_id": self.crm_id}
        out["item_id"] = self.item_id
        if self.conflict is not None:
            out["conflict"] = self.conflict.kind
            out["winner"] = self.conflict.winner
        if self.entry is not None:
            out["review_id"] = self.pair_id
            out["reason"] = self.entry.reason
        return out


class Views:
    """Hashes and views of both sides through one item type's mapping."""

    def __init__(self, item_type: ItemType) -> None:
        self.item_type = item_type

    def record_view(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self.item_type.to_record(self.item_type.to_item(fields))

    def item_view(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self.item_type.to_record(fields)

    def record_hash(self, record: CrmRecord) -> str:
        return content_hash(self.record_view(record.fields))

    def item_hash(self, item: MailboxItem) -> str:
        return content_hash(self.item_view(item.fields))

    def row(self, pair_id: str, record: CrmRecord, item: MailboxItem) -> StatusRow:
        return StatusRow(
            pair_id=pair_id,
            crm_id=record.id,
            crm_rev=record.revision,
            crm_hash=self.record_hash(record),
            item_id=item.item_id,
            changekey=item.changekey,
            item_hash=self.item_hash(item),
        )


def _seen_item(views: Views, row: StatusRow, change: MailboxChange | None) -> Seen:
    if change is None:
        return Seen.NONE
    if change.deleted:
        return Seen.DELETED
    if change.changekey is not None and change.changekey == row.changekey:
        return Seen.ECHO
    assert change.item is not None, "the engine fetches content for non-echo changes"
    if views.item_hash(change.item) == row.item_hash:
        return Seen.TOUCHED
    return Seen.CHANGED


def _seen_record(views: Views, row: StatusRow, change: CrmRecord | None) -> Seen:
    if change is None:
        return Seen.NONE
    if change.deleted:
        return Seen.DELETED
    if change.revision == row.crm_rev:
        return Seen.ECHO
    if views.record_hash(change) == row.crm_hash:
        return Seen.TOUCHED
    return Seen.CHANGED


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None


def winner(policy: str, record: CrmRecord, item: MailboxItem) -> str:
    """'crm' or 'exchange' for a pair both sides changed."""
    if policy == "exchange-wins":
        return "exchange"
    if policy == "newest-wins":
        crm_time, item_time = _parse_time(record.modified), _parse_time(item.modified)
        if crm_time is not None and item_time is not None and item_time > crm_time:
            return "exchange"
    return "crm"  # crm-wins, and newest-wins on a tie or a missing timestamp


class Planner:
    """Turns the changes of one folder into actions, following the truth tables below."""

    def __init__(self, item_type: ItemType, state: FolderState, policy: str) -> None:
        self.item_type = item_type
        self.views = Views(item_type)
        self.state = state
        self.policy = check_policy(policy)
        self.two_way = item_type.direction == Direction.TWO_WAY
        self.actions: list[Action] = []

    # -- helpers ---------------------------------------------------------------

    def _add(self, kind: Kind, pair_id: str, **kw: Any) -> None:
        self.actions.append(Action(kind, pair_id, **kw))

    def _conflict(
        self, pair_id: str, kind: str, won: str, record: CrmRecord | None, item: MailboxItem | None
    ) -> Conflict:
        return Conflict(
            pair_id=pair_id,
            crm_id=record.id if record else None,
            item_id=item.item_id if item else None,
            kind=kind,
            winner=won,
            crm_version=self.views.record_view(record.fields) if record else None,
            exchange_version=self.views.item_view(item.fields) if item else None,
        )

    def _refresh(self, row: StatusRow, record: CrmRecord | None, item: MailboxItem | None) -> None:
        """Same content, new changekey and/or revision: rewrite the row, write nothing."""
        new = replace(row)
        if record is not None and not record.deleted:
            new.crm_rev = record.revision
        if item is not None:
            new.item_id, new.changekey = item.item_id, item.changekey
        if new != row:
            self._add(Kind.LINK, row.pair_id, row=new)

    def _resolve(
        self, pair_id: str, kind: str, row: StatusRow | None, record: CrmRecord, item: MailboxItem
    ) -> None:
        """Both sides hold a version and no common base says which is new."""
        if self.views.record_hash(record) == self.views.item_hash(item):
            self._add(Kind.LINK, pair_id, row=self.views.row(pair_id, record, item))
            return
        if not self.two_way:  # the mailbox is the source; not a conflict
            self._add(Kind.UPDATE_RECORD, pair_id, row=row, record=record, item=item)
            return
        won = winner(self.policy, record, item)
        conflict = self._conflict(pair_id, kind, won, record, item)
        step = Kind.UPDATE_ITEM if won == "crm" else Kind.UPDATE_RECORD
        self._add(step, pair_id, row=row, record=record, item=item, conflict=conflict)

    # -- the tables --------------------------------------------------------------

    def linked(
        self, row: StatusRow, item_change: MailboxChange | None, record_change: CrmRecord | None
    ) -> None:
        """A pair with a status row.

        Two-way (rows: mailbox side, columns: CRM side; SAME = no change / echo /
        touched, i.e. the content hash equals the row's)::

                     SAME             CHANGED               DELETED
          SAME       refresh row      update item           delete item
          CHANGED    update record    conflict → policy     restore: re-create record
          DELETED    delete record    restore: re-create    drop row
                                      item

        "Restore" is edit-beats-delete: losing an edit is worse than bringing back an
        item someone deleted; it is reported as an ``edit-vs-delete`` conflict.

        Exchange-to-CRM: mailbox CHANGED → update record; mailbox or CRM DELETED → drop
        the row (the CRM keeps its archived copy; moving a mail out of the folder is a
        delete too); CRM edits are ignored.
        """
        mailbox_seen = _seen_item(self.views, row, item_change)
        crm_seen = _seen_record(self.views, row, record_change)
        item = item_change.item if item_change is not None and not item_change.deleted else None
        record = record_change if record_change is not None and not record_change.deleted else None
        pair_id = row.pair_id
        if not self.two_way:
            if crm_seen is Seen.DELETED or mailbox_seen is Seen.DELETED:
                self._add(Kind.UNLINK, pair_id, row=row)
            elif mailbox_seen is Seen.CHANGED:
                self._add(Kind.UPDATE_RECORD, pair_id, row=row, item=item)
            elif mailbox_seen is Seen.TOUCHED:
                self._refresh(row, None, item)
            return
        same = (Seen.NONE, Seen.ECHO, Seen.TOUCHED)
        if mailbox_seen in same and crm_seen in same:
            self._refresh(row, record, item)
        elif mailbox_seen in same and crm_seen is Seen.CHANGED:
            self._add(Kind.UPDATE_ITEM, pair_id, row=row, record=record, item=item)
        elif mailbox_seen in same and crm_seen is Seen.DELETED:
            self._add(Kind.DELETE_ITEM, pair_id, row=row, item=item)
        elif mailbox_seen is Seen.CHANGED and crm_seen in same:
            self._add(Kind.UPDATE_RECORD, pair_id, row=row, record=record, item=item)
        elif mailbox_seen is Seen.CHANGED and crm_seen is Seen.CHANGED:
            assert record is not None and item is not None
            self._resolve(pair_id, "both-changed", row, record, item)
        elif mailbox_seen is Seen.CHANGED and crm_seen is Seen.DELETED:
            conflict = self._conflict(pair_id, "edit-vs-delete", "exchange", None, item)
            self._add(Kind.CREATE_RECORD, pair_id, row=row, item=item, conflict=conflict)
        elif mailbox_seen is Seen.DELETED and crm_seen in same:
            self._add(Kind.DELETE_RECORD, pair_id, row=row, record=record)
        elif mailbox_seen is Seen.DELETED and crm_seen is Seen.CHANGED:
            conflict = self._conflict(pair_id, "edit-vs-delete", "crm", record, None)
            self._add(Kind.CREATE_ITEM, pair_id, row=row, record=record, conflict=conflict)
        else:  # both deleted
            self._add(Kind.UNLINK, pair_id, row=row)

    def unlinked(
        self,
        item_change: MailboxChange | None,
        record_change: CrmRecord | None,
        kind: str = "relink",
    ) -> None:
        """No status row (new on a side, or found again after a crash or a reset).

        ``item_change`` and ``record_change`` come together when they name each other (the record's
        ``exchange_id`` is the item, or the item's stored CRM id is the record)::

          item new,  record new      → the same thing, linked: equal → link row;
                                       different → conflict "relink" → policy
                                       ("match" when paired by match keys)
          item new,  record deleted  → the item was made from a record since deleted
                                       → delete item
          item new alone             → create record (carrying the item id)
          record new alone           → create item (carrying the CRM id); two-way only
          deletions alone            → nothing (we never had the pair)
        """
        item = item_change.item if item_change is not None and not item_change.deleted else None
        record = record_change if record_change is not None and not record_change.deleted else None
        if item is not None and record is not None:
            self._resolve(new_pair_id("crm", record.id), kind, None, record, item)
        elif item is not None and record_change is not None:  # record deleted
            if self.two_way:
                self._add(
                    Kind.DELETE_ITEM,
                    new_pair_id("crm", record_change.id),
                    record=record_change,
                    item=item,
                )
        elif item is not None:
            self._add(Kind.CREATE_RECORD, new_pair_id("item", item.item_id), item=item)
        elif record is not None and self.two_way:
            self._add(Kind.CREATE_ITEM, new_pair_id("crm", record.id), record=record)


def plan_folder(
    item_type: ItemType,
    state: FolderState,
    item_changes: Mapping[str, MailboxChange],
    record_changes: Mapping[str, CrmRecord],
    policy: str = DEFAULT_POLICY,
    *,
    links: Mapping[str, str] | None = None,
    no_match: set[str] | frozenset[str] = frozenset(),
) -> list[Action]:
    """Actions for one folder, given each side's changes keyed by item id / CRM id.

    Mailbox changes that are not echoes must carry their content (``change.item``).
    ``links`` (item id → CRM id) pairs unlinked sides a reviewer said are the same
    thing; ids in ``no_match`` are never matched by keys (a reviewer said "different").
    """
    planner = Planner(item_type, state, policy)
    state.prefetch(item_ids=item_changes, crm_ids=record_changes)
    groups: dict[str, tuple[StatusRow, MailboxChange | None, CrmRecord | None]] = {}
    loose_items: dict[str, MailboxChange] = {}
    loose_records: dict[str, CrmRecord] = {}
    for item_id, item_change in item_changes.items():
        row = state.by_item(item_id)
        if row is not None:
            groups[row.pair_id] = (row, item_change, None)
        elif not item_change.deleted:
            loose_items[item_id] = item_change
    for crm_id, record_change in record_changes.items():
        row = state.by_crm(crm_id)
        if row is not None:
            old = groups.get(row.pair_id)
            groups[row.pair_id] = (row, old[1] if old else None, record_change)
        else:
            loose_records[crm_id] = record_change
    # A restore (edit beats delete) that a killed run already did: the pair's deleted
    # side was re-created, carrying the surviving side's id, but the row was not saved.
    # Re-link the survivor to the re-created side instead of restoring once more.
    by_exchange_id = {
        record_change.exchange_id: crm_id
        for crm_id, record_change in loose_records.items()
        if record_change.exchange_id and not record_change.deleted
    }
    by_crm_id = {
        item_change.item.crm_id: item_id
        for item_id, item_change in loose_items.items()
        if item_change.item and item_change.item.crm_id
    }
    for pair_id, (row, item_change, record_change) in list(groups.items()):
        if record_change is not None and record_change.deleted and row.item_id in by_exchange_id:
            if item_change is not None and item_change.item is not None:
                planner.actions.append(Action(Kind.UNLINK, pair_id, row=row))
                loose_items[row.item_id] = item_change
                del groups[pair_id]
        elif item_change is not None and item_change.deleted and row.crm_id in by_crm_id:
            if record_change is not None and not record_change.deleted:
                planner.actions.append(Action(Kind.UNLINK, pair_id, row=row))
                loose_records[row.crm_id] = record_change
                del groups[pair_id]
    for row, item_change, record_change in groups.values():
        planner.linked(row, item_change, record_change)

    # Re-link loose sides that name each other: first by the record's exchange_id,
    # then by the CRM id stored on the item (a copy of a linked item carries a CRM id
    # that is already taken: it is a new item).
    paired: list[tuple[MailboxChange | None, CrmRecord | None]] = []
    for crm_id, record_change in list(loose_records.items()):
        if (
            record_change.deleted
            or not record_change.exchange_id
            or record_change.exchange_id not in loose_items
        ):
            continue
        paired.append((loose_items.pop(record_change.exchange_id), loose_records.pop(crm_id)))
    for item_id, item_change in list(loose_items.items()):
        crm_id = item_change.item.crm_id if item_change.item is not None else None
        if crm_id and crm_id in loose_records:
            paired.append((loose_items.pop(item_id), loose_records.pop(crm_id)))
    for item_id, crm_id in (links or {}).items():
        if item_id in loose_items and crm_id in loose_records and not loose_records[crm_id].deleted:
            paired.append((loose_items.pop(item_id), loose_records.pop(crm_id)))
    for item_change, record_change in paired:
        planner.unlinked(item_change, record_change)
    _match(planner, loose_items, loose_records, no_match)
    for item_change in loose_items.values():
        planner.unlinked(item_change, None)
    for record_change in loose_records.values():
        if not record_change.deleted:
            planner.unlinked(None, record_change)
    return planner.actions


def _match(
    planner: Planner,
    loose_items: dict[str, MailboxChange],
    loose_records: dict[str, CrmRecord],
    no_match: set[str] | frozenset[str],
) -> None:
    """Link unlinked items and records by the item type's match keys (first sync, lost
    state); hold ambiguous ones for review. Matched and held sides leave the loose sets."""
    keys_of = match_keys_of(planner.item_type)
    if keys_of is None or not planner.two_way or not loose_items or not loose_records:
        return
    item_type = planner.item_type
    item_fields = {  # the CRM view over the raw item fields: keys may use both (a "uid")
        item_id: {**item_change.item.fields, **item_type.to_record(item_change.item.fields)}
        for item_id, item_change in loose_items.items()
        if item_change.item is not None and item_id not in no_match
    }
    record_fields = {
        crm_id: record_change.fields
        for crm_id, record_change in loose_records.items()
        if not record_change.deleted and crm_id not in no_match
    }
    pairs, groups = match(
        {item_id: list(keys_of(f)) for item_id, f in item_fields.items()},
        {crm_id: list(keys_of(f)) for crm_id, f in record_fields.items()},
    )
    for item_id, crm_id in pairs:
        planner.unlinked(loose_items.pop(item_id), loose_records.pop(crm_id), "match")
    for group in groups:
        for item_id in group.items:
            del loose_items[item_id]
        for crm_id in group.records:
            del loose_records[crm_id]
        rid = review_id("ambiguous", item_type.name, [*group.items, *group.records])
        entry = HeldEntry(
            id=rid,
            kind=AMBIGUOUS,
            item_type=item_type.name,
            key=group.key,
            items=group.items,
            records=group.records,
            summaries={
                **{i: summary(item_fields[i]) for i in group.items},
                **{r: summary(record_fields[r]) for r in group.records},
            },
            reason=(
                f"{len(group.records)} CRM record(s) and {len(group.items)} Exchange item(s) "
                f"share {group.key}"
            ),
        )
        planner.actions.append(Action(Kind.HOLD, rid, entry=entry))
