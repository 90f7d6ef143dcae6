"""What a mailbox holds: items and folders (each folder with its change log), and the
kinds of both with their schema types.

Items are kept as the XML elements the client sent (``t:Contact``, ``t:CalendarItem``...), so
whatever CreateItem/UpdateItem set comes back unchanged from GetItem. Server-managed fields
(ItemId, ParentFolderId, timestamps...) are inserted at their schema position when rendering.

Each folder keeps an append-only log of ``(seq, item_id)`` pairs sorted by ``seq``; an entry
is live while it is the item's (or its tombstone's) latest change. SyncFolderItems resumes
with a bisect on the log, so a page costs O(page) no matter how large the folder is. Stale
entries are compacted lazily.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import time
from collections.abc import Iterator

from .xmlutil import el, insert_ordered, tq

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


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(value: str) -> str | None:
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
        return b64(f"CK:{self.id[-8:]}:{self.version}")

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
        return b64(f"FCK:{self.id[-6:]}:{self.version}")

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
    def log_change(self, item_id: str, seq: int) -> None:
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

    def log_entries(self, since: int) -> LogCursor:
        """A cursor over the change log after sequence number ``since``."""
        return LogCursor(self, bisect.bisect_right(self.log_seqs, since))

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


class LogCursor:
    """Walks a folder's change log from one position, yielding ``(item_id, seq, entry)``:
    entry is the live item, ``"deleted"`` for its tombstone, or None for a superseded
    entry (the item has a later one)."""

    __slots__ = ("folder", "pos")

    def __init__(self, folder: Folder, pos: int) -> None:
        self.folder = folder
        self.pos = pos

    def __iter__(self) -> LogCursor:
        return self

    def __next__(self) -> tuple[str, int, object]:
        folder = self.folder
        if self.pos >= len(folder.log):
            raise StopIteration
        item_id, seq = folder.log[self.pos], folder.log_seqs[self.pos]
        self.pos += 1
        return item_id, seq, folder._entry(item_id, seq)

    def at_end(self) -> bool:
        """Whether nothing but superseded entries is left (skipping them)."""
        folder = self.folder
        n = len(folder.log)
        while (
            self.pos < n and folder._entry(folder.log[self.pos], folder.log_seqs[self.pos]) is None
        ):
            self.pos += 1
        return self.pos >= n


def iter_folder_tree(folder: Folder, deep: bool) -> Iterator[Folder]:
    for child in sorted(folder.children(), key=lambda f: f.seq):
        yield child
        if deep:
            yield from iter_folder_tree(child, deep)
