"""Pull subscriptions: which folders a run reads from the mailbox.

With a transport that has ``watch`` (``wess_core.strategies.Transport``), a run polls
the user's subscription once and reads with ``changes`` only the folders that had
events, plus those a failed or killed run left *pending*. The record of the
subscription (the transport's state and the pending folders) is saved before any
folder syncs, so a run that dies after the poll still syncs those folders next time;
a folder leaves ``pending`` only when its sync finished without a folder-level
failure. A folder with no stored token yet is always read (its first listing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from wess_core.strategies import FolderEvents
from wess_core.sync.watch_record import WatchRecord, WatchStore


def can_watch(mailbox: Any) -> bool:
    """The transport offers pull subscriptions."""
    return callable(getattr(mailbox, "watch", None))


class Watch:
    """One run's view of the subscription: which folders to read, which are done."""

    def __init__(self, store: WatchStore, record: WatchRecord, folders: Sequence[str]) -> None:
        self.store = store
        self.record = record
        #: Item types still to run per folder (a folder may serve several item types).
        self._left = Counter(folders)
        self._failed: set[str] = set()

    @classmethod
    def begin(cls, mailbox: Any, store: WatchStore, folders: Sequence[str]) -> Watch:
        """Poll the subscription and save what must be read before reading anything.

        ``folders`` has one entry per item type. A failing poll raises and saves
        nothing: the next run polls again from the old record."""
        watched = list(dict.fromkeys(folders))
        old = store.load_watch()
        events: FolderEvents = mailbox.watch(watched, old.state)
        changed = set(events.changed) | (set(watched) if events.renewed else set())
        to_read = frozenset((changed | old.pending) & set(watched))
        record = WatchRecord(events.state, to_read)
        store.save_watch(record)
        return cls(store, record, folders)

    def quiet(self, folder: str) -> bool:
        """No event and nothing pending: the mailbox need not be read."""
        return folder not in self.record.pending

    def finished(self, folder: str, failed: bool) -> None:
        """One item type of ``folder`` ran; the folder leaves ``pending`` once all of its
        item types ran without a folder-level failure."""
        self._left[folder] -= 1
        if failed:
            self._failed.add(folder)
        if self._left[folder] > 0 or folder in self._failed or self.quiet(folder):
            return
        self.record = WatchRecord(self.record.state, self.record.pending - {folder})
        self.store.save_watch(self.record)
