"""In-memory mailboxes: folders, items, change logs and incremental sync bookkeeping.

Every change gets a mailbox-wide sequence number, logged in the changed item's folder (see
``model``), so SyncFolderItems can resume from any sequence number.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterable

from lxml import etree

from . import recurrence
from .errors import EwsError
from .model import DEFAULT_FOLDERS, ITEM_KINDS, Folder, Item, b64, now_text, unb64
from .records import build_item_elem, utc_times
from .xmlutil import el, insert_ordered, local, normalize_booleans, sort_children, tq

__all__ = ["EwsError", "Folder", "Item", "Mailbox", "ITEM_KINDS", "now_text"]


_SERVER_MANAGED = frozenset({"ItemId", "ParentFolderId", "ChangeKey"})


class Mailbox:
    """One user's mailbox. All mutation goes through methods that hold ``lock``."""

    def __init__(self, server_key: str, number: int, email: str, display_name: str | None = None):
        self.email = email.lower()
        self.display_name = display_name or email.split("@")[0].title()
        self.number = number
        self._key = server_key
        self.lock = threading.RLock()
        self.seq = 0
        self._counter = itertools.count(1)
        self.folders: dict[str, Folder] = {}
        self.distinguished: dict[str, Folder] = {}
        self.items: dict[str, Item] = {}  # all live items by id (incl. calendar exceptions)
        self.hierarchy_tombstones: dict[str, int] = {}
        #: An item's first id, for ids that survive moves (Graph's immutable ids): item id
        #: -> first id, and first id -> current id, kept only for items that moved.
        self.origins: dict[str, str] = {}
        self.by_origin: dict[str, str] = {}
        #: Ids that left their folder by a move (not a delete).
        self.moved_out: set[str] = set()
        #: Callables handed each item change as a ``subscriptions.Event`` (Subscribe).
        self.watchers: list = []
        for dist, name, cls, kind, parent in DEFAULT_FOLDERS:
            self._add_folder(name, cls, kind, self.distinguished.get(parent), dist)

    # ---------------------------------------------------------------- ids
    def _new_id(self, prefix: str) -> str:
        return b64(f"{prefix}:{self._key}:{self.number}:{next(self._counter):010d}")

    def occurrence_id(self, master: Item, index: int) -> str:
        return b64(f"O:{self._key}:{self.number}:{master.id}:{index}")

    def parse_occurrence_id(self, item_id: str) -> tuple[Item, int] | None:
        text = unb64(item_id)
        if not text or not text.startswith("O:"):
            return None
        parts = text.split(":")
        if len(parts) != 5 or parts[1] != self._key or parts[2] != str(self.number):
            return None
        master = self.items.get(parts[3])
        if master is None or not parts[4].isdigit():
            return None
        return master, int(parts[4])

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # ---------------------------------------------------------------- folders
    def _add_folder(self, name, folder_class, kind, parent, distinguished=None) -> Folder:
        folder = Folder(self, self._new_id("F"), parent, name, folder_class, kind, distinguished)
        folder.seq = self.next_seq()
        self.folders[folder.id] = folder
        if distinguished:
            self.distinguished[distinguished] = folder
        if parent is not None:
            parent.version += 1
        return folder

    def create_folder(self, parent: Folder, name: str, folder_class="IPF.Note", kind="Folder"):
        with self.lock:
            if any(c.display_name.lower() == name.lower() for c in parent.children()):
                raise EwsError("ErrorFolderExists", f"A folder named {name!r} already exists")
            return self._add_folder(name, folder_class, kind, parent)

    def folder(self, ref: str) -> Folder:
        """Look a folder up by id or distinguished name."""
        f = self.folders.get(ref) or self.distinguished.get(ref)
        if f is None:
            raise EwsError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        return f

    def delete_folder(self, folder: Folder) -> None:
        with self.lock:
            if folder.distinguished:
                raise EwsError(
                    "ErrorDeleteDistinguishedFolder", "Cannot delete distinguished folders"
                )
            for child in folder.children():
                self.delete_folder(child)
            for item in list(folder.items.values()):
                self.delete_item(item)
            del self.folders[folder.id]
            self.hierarchy_tombstones[folder.id] = self.next_seq()

    # ---------------------------------------------------------------- items
    def get_item(self, item_id: str) -> Item:
        item = self.items.get(item_id)
        if item is None:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        return item

    def create_item(self, folder: Folder, elem, notify: bool = True) -> Item:
        """Store a client-sent item element (``t:Contact``...) in ``folder``."""
        kind = local(elem.tag)
        if kind not in ITEM_KINDS:
            raise EwsError("ErrorInvalidRequest", f"Unsupported item type {kind}")
        with self.lock:
            item = Item(self._new_id("I"), folder, kind, elem)
            self._prepare_new(item)
            seq = self.next_seq()
            item.created_seq = item.content_seq = seq
            folder.items[item.id] = item
            folder.log_change(item.id, seq)
            self.items[item.id] = item
            if notify and self.watchers:
                self._notify("CreatedEvent", item, folder)
                if kind == "Message" and folder.distinguished == "inbox":
                    self._notify("NewMailEvent", item, folder)
            return item

    def _notify(self, kind: str, item: Item, folder: Folder, old: Item | None = None) -> None:
        """Hand one change to the subscriptions watching this mailbox."""
        from .subscriptions import Event

        deleted = kind == "DeletedEvent"
        event = Event(
            kind=kind,
            item_id=item.id,
            item_change_key=None if deleted else item.change_key,
            folder_id=folder.id,
            folder_change_key=folder.change_key,
            old_item_id=None if old is None else old.id,
            old_folder_id=None if old is None else old.folder.id,
            old_folder_change_key=None if old is None else old.folder.change_key,
        )
        for watcher in list(self.watchers):
            watcher(event)

    def _prepare_new(self, item: Item) -> None:
        elem = item.elem
        normalize_booleans(elem)
        ts = now_text()
        item.created = item.modified = ts
        present = {}
        for child in list(elem):
            name = local(child.tag)
            if name in _SERVER_MANAGED:
                elem.remove(child)
            else:
                present[name] = child
        wanted = {"DateTimeReceived": ts, "DateTimeCreated": ts, "LastModifiedTime": ts}
        if "ItemClass" not in present:
            wanted["ItemClass"] = ITEM_KINDS[item.kind][1]
        if item.kind == "Message" and "IsRead" not in present:
            wanted["IsRead"] = "false"
        if item.kind == "CalendarItem":
            utc_times(elem)
            if "UID" not in present:
                wanted["UID"] = item.id[-24:]
            recurring = "Recurrence" in present
            cal_type = "RecurringMaster" if recurring else "Single"
            if item.master is not None:
                cal_type = "Exception"
            wanted["CalendarItemType"] = cal_type
            wanted["IsRecurring"] = "false"
        for name, text in wanted.items():
            if name in present and name not in (
                "LastModifiedTime",
                "CalendarItemType",
                "IsRecurring",
            ):
                continue
            if name in present:
                elem.remove(present[name])
            etree.SubElement(elem, tq(name)).text = text
        sort_children(elem, item.type_name)

    def _touch(self, item: Item) -> None:
        item.modified = now_text()
        insert_ordered(item.elem, el("t:LastModifiedTime", item.modified), item.type_name)

    def add_items(self, folder: Folder | str, records: Iterable[dict]) -> list[str]:
        """Bulk-seed items without HTTP. Each record is a dict of simple fields (element local
        name -> text), plus optional ``kind`` (Contact/CalendarItem/Task/Message), ``xml``
        (a serialized ``t:<Kind>`` element used as the base), ``email_addresses``
        ({"EmailAddress1": "x@y"}) and ``extended_properties`` (list of dicts with the
        ExtendedFieldURI attributes, e.g. ``{"DistinguishedPropertySetId": "PublicStrings",
        "PropertyName": "crm_id", "PropertyType": "String", "Value": "42"}``) and ``quirks``
        (names from ``render.DEVIATIONS``: how real Exchange departs from its schema on
        this item). Returns the new item ids in order."""
        from .render import DEVIATIONS

        if isinstance(folder, str):
            folder = self.folder(folder)
        ids = []
        with self.lock:
            for record in records:
                quirks = frozenset(record.get("quirks") or ())
                if quirks - DEVIATIONS.keys():
                    raise ValueError(f"unknown quirks {sorted(quirks - DEVIATIONS.keys())}")
                item = self.create_item(folder, build_item_elem(record, folder))
                item.quirks = quirks
                ids.append(item.id)
        return ids

    def update_item(self, item: Item, read_only_change: bool = False) -> None:
        """Record that ``item`` changed (bumps ChangeKey and the folder change log)."""
        with self.lock:
            item.version += 1
            self._touch(item)
            if item.master is not None:
                # An exception changed: the master (which lists it) changed as well.
                self.update_item(item.master)
                return
            folder = item.folder
            if item.seq:
                folder.note_superseded()
            seq = self.next_seq()
            if read_only_change:
                item.read_seq = seq
            else:
                item.content_seq = seq
            folder.log_change(item.id, seq)
            if self.watchers:
                self._notify("ModifiedEvent", item, folder)

    def delete_item(self, item: Item, notify: bool = True) -> None:
        with self.lock:
            self.items.pop(item.id, None)
            for exc in item.exceptions.values():
                self.items.pop(exc.id, None)
            if item.master is not None:
                item.master.exceptions.pop(item.index, None)
                item.master.deleted_indexes.add(item.index)
                self.update_item(item.master)
                return
            folder = item.folder
            if folder.items.pop(item.id, None) is not None:
                folder.note_superseded()
                seq = self.next_seq()
                folder.tombstones[item.id] = seq
                folder.log_change(item.id, seq)
                if notify and self.watchers:
                    self._notify("DeletedEvent", item, folder)

    def move_item(self, item: Item, target: Folder) -> Item:
        with self.lock:
            elem = item.elem
            self.delete_item(item, notify=False)
            self.moved_out.add(item.id)
            moved = self.create_item(target, elem, notify=False)
            if self.watchers:
                self._notify("MovedEvent", moved, target, old=item)
            origin = self.origin_of(item.id)
            self.origins[moved.id] = origin
            self.by_origin[origin] = moved.id
            return moved

    def origin_of(self, item_id: str) -> str:
        """The id the item had when it was created (the same across moves)."""
        return self.origins.get(item_id, item_id)

    def current_id(self, origin: str) -> str:
        """The id now held by the item first created with id ``origin``."""
        return self.by_origin.get(origin, origin)

    # ---------------------------------------------------------------- calendar
    def occurrences(self, master: Item, limit: int = recurrence.MAX_OCCURRENCES):
        """Yield (index, start, end) per occurrence of a recurring master (deleted included)."""
        return recurrence.occurrences(master.elem, limit=limit)

    def occurrence(self, master: Item, index: int) -> Item:
        """Return the exception item or a synthesized occurrence item for instance ``index``."""
        if not master.is_recurring_master:
            raise EwsError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "Not recurring")
        if index in master.deleted_indexes:
            raise EwsError(
                "ErrorCalendarOccurrenceIsDeletedFromRecurrence", "The occurrence was deleted"
            )
        if index in master.exceptions:
            return master.exceptions[index]
        for idx, start, end in self.occurrences(master, limit=index):
            if idx == index:
                return self.synthesize_occurrence(master, index, start, end)
        raise EwsError(
            "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
            "Occurrence index is out of recurrence range.",
        )

    def synthesize_occurrence(self, master: Item, index: int, start, end) -> Item:
        elem = copy.deepcopy(master.elem)
        for name in ("Recurrence", "ModifiedOccurrences", "DeletedOccurrences"):
            for child in elem.findall(tq(name)):
                elem.remove(child)
        occ = Item(self.occurrence_id(master, index), master.folder, "CalendarItem", elem)
        occ.master = master
        occ.index = index
        occ.version = master.version
        type_name = occ.type_name
        insert_ordered(elem, el("t:Start", now_text(start)), type_name)
        insert_ordered(elem, el("t:End", now_text(end)), type_name)
        insert_ordered(elem, el("t:OriginalStart", now_text(start)), type_name)
        insert_ordered(elem, el("t:CalendarItemType", "Occurrence"), type_name)
        insert_ordered(elem, el("t:IsRecurring", "true"), type_name)
        return occ

    def materialize_exception(self, occ: Item) -> Item:
        """Turn a synthesized occurrence into a stored exception (before modifying it)."""
        if occ.id in self.items:
            return occ
        with self.lock:
            master = occ.master
            insert_ordered(occ.elem, el("t:CalendarItemType", "Exception"), occ.type_name)
            master.exceptions[occ.index] = occ
            self.items[occ.id] = occ
            return occ

    def drop_exceptions(self, master: Item) -> None:
        """The series' pattern or time changed: Exchange deletes its exceptions and brings
        its deleted occurrences back (instance indexes now mean other occurrences)."""
        with self.lock:
            for exc in master.exceptions.values():
                self.items.pop(exc.id, None)
            master.exceptions.clear()
            master.deleted_indexes.clear()

    def delete_occurrence(self, master: Item, index: int) -> None:
        with self.lock:
            exc = master.exceptions.pop(index, None)
            if exc is not None:
                self.items.pop(exc.id, None)
            master.deleted_indexes.add(index)
            self.update_item(master)
