"""In-memory mailboxes: folders, items, change logs and incremental sync bookkeeping.

Items are kept as the XML elements the client sent (``t:Contact``, ``t:CalendarItem``...), so
whatever CreateItem/UpdateItem set comes back unchanged from GetItem. Server-managed fields
(ItemId, ParentFolderId, timestamps...) are inserted at their schema position when rendering.

Every change gets a mailbox-wide sequence number. Each folder keeps an append-only log of
``(seq, item_id)`` pairs sorted by ``seq``; an entry is live while it is the item's (or its
tombstone's) latest change. SyncFolderItems resumes with a bisect on the log, so a page costs
O(page) no matter how large the folder is. Stale entries are compacted lazily.
"""

from __future__ import annotations

import base64
import bisect
import copy
import datetime as dt
import itertools
import threading
import time
import zlib
from collections.abc import Iterable, Iterator

from lxml import etree

from . import recurrence
from .xmlutil import el, insert_ordered, local, normalize_booleans, sort_children, sub, tq

__all__ = ["EwsError", "Folder", "Item", "Mailbox", "ITEM_KINDS", "now_text"]


class EwsError(Exception):
    """An EWS response code (``ErrorItemNotFound``...) raised by the store or an operation."""

    def __init__(self, code: str, text: str = "", message_xml=None, fault: bool = False):
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text or code
        self.message_xml = message_xml
        self.fault = fault


# kind -> (complex type name, default ItemClass)
ITEM_KINDS = {
    "Item": ("ItemType", "IPM"),
    "Message": ("MessageType", "IPM.Note"),
    "Contact": ("ContactItemType", "IPM.Contact"),
    "DistributionList": ("DistributionListType", "IPM.DistList"),
    "CalendarItem": ("CalendarItemType", "IPM.Appointment"),
    "Task": ("TaskType", "IPM.Task"),
    "PostItem": ("PostItemType", "IPM.Post"),
}

FOLDER_KINDS = {
    "Folder": "FolderType",
    "CalendarFolder": "CalendarFolderType",
    "ContactsFolder": "ContactsFolderType",
    "TasksFolder": "TasksFolderType",
    "SearchFolder": "SearchFolderType",
}

# distinguished id -> (display name, folder class, kind, parent distinguished id)
DEFAULT_FOLDERS = [
    ("root", "", None, "Folder", None),
    ("msgfolderroot", "Top of Information Store", "IPF.Note", "Folder", "root"),
    ("inbox", "Inbox", "IPF.Note", "Folder", "msgfolderroot"),
    ("sentitems", "Sent Items", "IPF.Note", "Folder", "msgfolderroot"),
    ("drafts", "Drafts", "IPF.Note", "Folder", "msgfolderroot"),
    ("deleteditems", "Deleted Items", "IPF.Note", "Folder", "msgfolderroot"),
    ("outbox", "Outbox", "IPF.Note", "Folder", "msgfolderroot"),
    ("junkemail", "Junk Email", "IPF.Note", "Folder", "msgfolderroot"),
    ("calendar", "Calendar", "IPF.Appointment", "CalendarFolder", "msgfolderroot"),
    ("contacts", "Contacts", "IPF.Contact", "ContactsFolder", "msgfolderroot"),
    ("tasks", "Tasks", "IPF.Task", "TasksFolder", "msgfolderroot"),
    ("notes", "Notes", "IPF.StickyNote", "Folder", "msgfolderroot"),
    ("journal", "Journal", "IPF.Journal", "Folder", "msgfolderroot"),
    ("conversationhistory", "Conversation History", "IPF.Note", "Folder", "msgfolderroot"),
]

DEFAULT_KIND_FOR_CLASS = {
    "IPF.Appointment": "CalendarItem",
    "IPF.Contact": "Contact",
    "IPF.Task": "Task",
}


_SERVER_MANAGED = frozenset({"ItemId", "ParentFolderId", "ChangeKey"})
_NOW_CACHE: list = [0, ""]


def now_text(when: dt.datetime | None = None) -> str:
    """An xs:dateTime in UTC (second precision); the current time when ``when`` is None."""
    if when is None:
        second = int(time.time())
        if _NOW_CACHE[0] != second:
            stamp = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            _NOW_CACHE[:] = [second, stamp]
        return _NOW_CACHE[1]
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(value: str) -> str | None:
    try:
        return base64.b64decode(value.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None


class Item:
    """One stored item. ``elem`` holds client-visible fields (no ItemId/ParentFolderId)."""

    __slots__ = (
        "id",
        "folder",
        "kind",
        "elem",
        "version",
        "created_seq",
        "content_seq",
        "read_seq",
        "created",
        "modified",
        "master",
        "index",
        "exceptions",
        "deleted_indexes",
        "quirks",
    )

    def __init__(self, item_id: str, folder: Folder, kind: str, elem):
        self.id = item_id
        self.folder = folder
        self.kind = kind
        self.elem = elem
        self.version = 1
        self.created_seq = self.content_seq = self.read_seq = 0
        self.created = self.modified = now_text()
        self.master: Item | None = None  # set on calendar exceptions
        self.index = 0  # instance index of an exception
        self.exceptions: dict[int, Item] = {}
        self.deleted_indexes: set[int] = set()
        #: Deviations from the EWS schema real Exchange makes on this item, rendered
        #: after validation (see ``render.DEVIATIONS``), e.g. ``{"body_without_type"}``.
        self.quirks: frozenset[str] = frozenset()

    @property
    def seq(self) -> int:
        return max(self.content_seq, self.read_seq)

    @property
    def type_name(self) -> str:
        return ITEM_KINDS[self.kind][0]

    @property
    def change_key(self) -> str:
        return _b64(f"CK:{self.id[-8:]}:{self.version}")

    def field(self, name: str):
        return self.elem.find(tq(name))

    def field_text(self, name: str, default=None):
        f = self.elem.find(tq(name))
        return default if f is None or f.text is None else f.text

    def set_field(self, name: str, text) -> None:
        insert_ordered(self.elem, el(f"t:{name}", text), self.type_name)

    @property
    def is_recurring_master(self) -> bool:
        return self.kind == "CalendarItem" and self.elem.find(tq("Recurrence")) is not None


class Folder:
    __slots__ = (
        "id",
        "mailbox",
        "parent",
        "display_name",
        "folder_class",
        "kind",
        "distinguished",
        "items",
        "log",
        "log_seqs",
        "tombstones",
        "stale",
        "version",
        "seq",
        "extended",
    )

    def __init__(self, mailbox, folder_id, parent, display_name, folder_class, kind, distinguished):
        self.id = folder_id
        self.mailbox = mailbox
        self.parent: Folder | None = parent
        self.display_name = display_name
        self.folder_class = folder_class
        self.kind = kind
        self.distinguished = distinguished
        self.items: dict[str, Item] = {}
        self.log: list[str] = []  # item ids, parallel to log_seqs
        self.log_seqs: list[int] = []
        self.tombstones: dict[str, int] = {}
        self.stale = 0
        self.version = 1
        self.seq = 0
        self.extended: list = []

    @property
    def change_key(self) -> str:
        return _b64(f"FCK:{self.id[-6:]}:{self.version}")

    @property
    def type_name(self) -> str:
        return FOLDER_KINDS[self.kind]

    @property
    def default_item_kind(self) -> str:
        return DEFAULT_KIND_FOR_CLASS.get(self.folder_class or "", "Message")

    def children(self) -> list[Folder]:
        return [f for f in self.mailbox.folders.values() if f.parent is self]

    def unread_count(self) -> int:
        return sum(1 for i in self.items.values() if i.field_text("IsRead") == "false")

    # ---------------------------------------------------------------- change log
    def _log(self, item_id: str, seq: int) -> None:
        self.log.append(item_id)
        self.log_seqs.append(seq)

    def note_superseded(self) -> None:
        self.stale += 1
        if self.stale > 1024 and self.stale * 2 > len(self.log):
            self.compact()

    def compact(self) -> None:
        ids, seqs = [], []
        for item_id, seq in zip(self.log, self.log_seqs, strict=True):
            if self._entry(item_id, seq) is not None:
                ids.append(item_id)
                seqs.append(seq)
        self.log, self.log_seqs, self.stale = ids, seqs, 0

    def _entry(self, item_id: str, seq: int):
        item = self.items.get(item_id)
        if item is not None:
            return item if item.seq == seq else None
        if self.tombstones.get(item_id) == seq:
            return "deleted"
        return None

    def changes_since(self, since: int, limit: int, include_deletes: bool, ignore=frozenset()):
        """Return ``(changes, last_seq, includes_last)``; changes are (kind, item_or_id)."""
        pos = bisect.bisect_right(self.log_seqs, since)
        out = []
        last_seq = since
        n = len(self.log)
        while pos < n and len(out) < limit:
            item_id, seq = self.log[pos], self.log_seqs[pos]
            pos += 1
            entry = self._entry(item_id, seq)
            if entry is None:
                continue
            last_seq = seq
            if item_id in ignore:
                continue
            if entry == "deleted":
                if include_deletes:
                    out.append(("Delete", item_id))
                continue
            if entry.created_seq > since:
                out.append(("Create", entry))
            elif entry.content_seq > since:
                out.append(("Update", entry))
            else:
                out.append(("ReadFlagChange", entry))
        # Skip trailing stale entries so includes_last is exact.
        while pos < n and self._entry(self.log[pos], self.log_seqs[pos]) is None:
            pos += 1
        return out, last_seq, pos >= n


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
        for dist, name, cls, kind, parent in DEFAULT_FOLDERS:
            self._add_folder(name, cls, kind, self.distinguished.get(parent), dist)

    # ---------------------------------------------------------------- ids
    def _new_id(self, prefix: str) -> str:
        return _b64(f"{prefix}:{self._key}:{self.number}:{next(self._counter):010d}")

    def occurrence_id(self, master: Item, index: int) -> str:
        return _b64(f"O:{self._key}:{self.number}:{master.id}:{index}")

    def parse_occurrence_id(self, item_id: str) -> tuple[Item, int] | None:
        text = _unb64(item_id)
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

    def create_item(self, folder: Folder, elem) -> Item:
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
            folder._log(item.id, seq)
            self.items[item.id] = item
            return item

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
            folder._log(item.id, seq)

    def delete_item(self, item: Item) -> None:
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
                folder._log(item.id, seq)

    def move_item(self, item: Item, target: Folder) -> Item:
        with self.lock:
            elem = item.elem
            self.delete_item(item)
            return self.create_item(target, elem)

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
                return self._synth_occurrence(master, index, start, end)
        raise EwsError(
            "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
            "Occurrence index is out of recurrence range.",
        )

    def _synth_occurrence(self, master: Item, index: int, start, end) -> Item:
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


def utc_times(elem) -> None:
    """Store a calendar item's times as Exchange returns them: Start/End in UTC ("...Z")
    whatever offset the client sent (exchangelib sends local times with their offset on
    update), and the recurrence range's dates with the series zone's offset on that day
    ("2026-10-12+01:00"; a bare date would be read as the client's local midnight)."""
    for name in ("Start", "End"):
        node = elem.find(tq(name))
        if node is not None and node.text:
            try:
                node.text = now_text(recurrence.parse_dt(node.text))
            except ValueError:
                raise EwsError("ErrorInvalidPropertySet", f"Invalid {name}: {node.text}") from None
    rec = elem.find(tq("Recurrence"))
    if rec is None or len(rec) < 2:
        return
    zone = recurrence.item_zone(elem)
    for name in ("StartDate", "EndDate"):
        node = rec[1].find(tq(name))
        if node is not None and node.text:
            try:
                day = recurrence.parse_date(node.text)
            except ValueError:
                raise EwsError("ErrorInvalidPropertySet", f"Invalid {name}: {node.text}") from None
            offset = dt.datetime.combine(day, dt.time(), tzinfo=zone).strftime("%z")
            suffix = "Z" if offset in ("", "+0000") else f"{offset[:3]}:{offset[3:]}"
            node.text = day.isoformat() + suffix


def build_item_elem(record: dict, folder: Folder):
    """Build a ``t:<Kind>`` element from a bulk-seeding record (see ``Mailbox.add_items``)."""
    if "xml" in record:
        from .xmlutil import parse_xml

        elem = parse_xml(
            record["xml"].encode() if isinstance(record["xml"], str) else record["xml"]
        )
    else:
        kind = record.get("kind") or folder.default_item_kind
        if kind not in ITEM_KINDS:
            raise ValueError(f"Unknown item kind {kind!r}")
        elem = etree.Element(tq(kind))
    type_name = ITEM_KINDS[local(elem.tag)][0]
    for key, value in record.items():
        if key in ("kind", "xml", "email_addresses", "extended_properties", "quirks"):
            continue
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        node = etree.SubElement(elem, tq(key))
        node.text = str(value)
        if key == "Body":  # plain text, unless the record's "xml" says otherwise
            node.set("BodyType", "Text")
    if record.get("email_addresses"):
        addrs = el("t:EmailAddresses")
        for key, addr in record["email_addresses"].items():
            sub(addrs, "t:Entry", addr, {"Key": key})
        elem.append(addrs)
    for prop in record.get("extended_properties") or ():
        attrs = {k: v for k, v in prop.items() if k not in ("Value", "Values")}
        ep = el("t:ExtendedProperty")
        sub(ep, "t:ExtendedFieldURI", attrib=attrs)
        if "Values" in prop:
            values = sub(ep, "t:Values")
            for v in prop["Values"]:
                sub(values, "t:Value", v)
        else:
            sub(ep, "t:Value", prop["Value"])
        elem.append(ep)
    sort_children(elem, type_name)
    if record.get("extended_properties"):
        from .mapi import absorb_extended  # MAPI tags seed the fields they alias, as over EWS

        elem = absorb_extended(elem)
    return elem


def encode_sync_state(secret: str, scope: str, seq: int) -> str:
    body = f"{scope}|{seq}"
    crc = zlib.crc32(f"{secret}|{body}".encode())
    return base64.b64encode(f"WESS1|{body}|{crc:08x}".encode()).decode()


def decode_sync_state(secret: str, scope: str, state: str) -> int:
    """Return the seq in ``state``; raise ErrorInvalidSyncStateData when garbled or foreign."""
    bad = EwsError(
        "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid."
    )
    text = _unb64(state.strip())
    if not text:
        raise bad
    head, _, rest = text.partition("|")
    body, _, crc = rest.rpartition("|")
    got_scope, _, seq = body.rpartition("|")  # the scope itself may hold "|"
    if head != "WESS1" or got_scope != scope or not seq.isdigit():
        raise bad
    if f"{zlib.crc32(f'{secret}|{body}'.encode()):08x}" != crc:
        raise bad
    return int(seq)


def iter_folder_tree(folder: Folder, deep: bool) -> Iterator[Folder]:
    for child in sorted(folder.children(), key=lambda f: f.seq):
        yield child
        if deep:
            yield from iter_folder_tree(child, deep)
