"""A user's pull-subscription record, stored between runs next to the folder states
(``state_db.StoreSyncState``, ``status.MemorySyncState``); what the engine does with it
is in ``wess_core.sync.engine.watch``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class WatchRecord:
    """What is stored per user between runs."""

    #: The transport's ``FolderEvents.state`` from the last poll (None: never polled).
    state: str | None = None
    #: Folders that had events and whose sync has not finished since.
    pending: frozenset[str] = frozenset()

    def to_json(self) -> str:
        return json.dumps({"state": self.state, "pending": sorted(self.pending)})

    @classmethod
    def from_json(cls, text: str | None) -> WatchRecord:
        """A stored record; an unreadable one counts as none (subscribe again, read all)."""
        try:
            data: Any = json.loads(text) if text else {}
            state = data.get("state")
            pending = frozenset(str(f) for f in data.get("pending") or [])
        except (ValueError, AttributeError, TypeError):
            return cls()
        return cls(state if isinstance(state, str) else None, pending)


class WatchStore(Protocol):
    """Where a user's ``WatchRecord`` is kept (``StoreSyncState``, ``MemorySyncState``)."""

    def load_watch(self) -> WatchRecord: ...

    def save_watch(self, record: WatchRecord) -> None: ...
