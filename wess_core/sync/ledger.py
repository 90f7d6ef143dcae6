"""The per-item ledger: every item operation of a user's syncs, kept for a while.

One entry per operation (create / update / delete / link / unlink / skip / hold / error)
with its time, direction, item type, CRM id, item id and error code. It answers "what
happened to this contact?" long after the run's history line scrolled away.

``StoreLedger`` keeps a user's ledger in the store file ``ledger/<login>`` (table
``ledger``) and its journal, appended once per batch by the engine. Folding the journal
into the file prunes entries older than the retention (``ledger_retention_days``) and
keeps at most ``max_entries`` (newest), and the journal is folded once it outgrows the
file, so both stay bounded whatever the traffic; readers apply the same limits.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from wess_core.errors import UsageError, quote
from wess_core.store import Store, check_name_part

TABLE = "ledger"
DEFAULT_RETENTION_DAYS = 90
#: At most this many entries per user (the newest are kept).
MAX_ENTRIES = 10_000
OPS = ("create", "update", "delete", "link", "unlink", "skip", "hold", "error")

_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def ledger_name(login: str) -> str:
    return f"ledger/{check_name_part(login, 'login')}"


def _time(value: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``7d`` / ``12h`` / ``30m`` / ``2w`` ago, or an ISO date or date-time (UTC if no
    offset). Anything else is a usage error."""
    now = now or datetime.now(UTC)
    rel = _RELATIVE.match(value)
    if rel:
        return now - timedelta(**{_UNITS[rel.group(2)]: int(rel.group(1))})
    stamp = _time(value.strip())
    if stamp is None:
        raise UsageError(
            f"bad --since {quote(value)}: give an ISO date or time (2024-05-06, "
            "2024-05-06T10:00) or a relative time (30m, 12h, 7d, 2w)"
        )
    return stamp


class StoreLedger:
    """A user's ledger in the store file ``ledger/<login>`` and its journal.

    ``write`` appends one journal line (fsynced, under the file's lock): a batch costs
    its own entries, not the ledger's size (the object remembers the oldest time and the
    count it saw, so it does not re-read the file to decide about pruning). Both are
    folded into a new snapshot (a new generation; see ``wess_core.store``), pruned by
    age and count, when an entry is past the retention, when the file holds more than
    twice ``max_entries``, or when the journal outgrows the snapshot (and
    ``JOURNAL_MIN_BYTES``). Readers apply the retention and ``max_entries`` to what they
    read, so what they see does not depend on when the last fold was.
    """

    JOURNAL_MIN_BYTES = 256 * 1024

    def __init__(
        self,
        store: Store,
        login: str,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.store = store
        self.name = ledger_name(login)
        self.retention = timedelta(days=retention_days)
        self.max_entries = max_entries
        self._known: _Known | None = None

    def _signature(self) -> tuple[int, int, int] | None:
        return self.store.signature(self.name)

    def _journal_size(self) -> int:
        try:
            return os.stat(self.store.journal_path(self.name)).st_size
        except FileNotFoundError:
            return 0

    def _all(self) -> tuple[list[dict[str, Any]], str]:
        """Every stored entry (snapshot, then the journal's lines of its generation)."""
        out, gen, lines = self.store.read_generation(self.name, TABLE)
        for line in lines:
            out.extend(line["e"])
        return out, gen

    def _kept(self, docs: list[dict[str, Any]], now: datetime | None) -> list[dict[str, Any]]:
        """Within the retention, and at most ``max_entries`` (the newest)."""
        cutoff = (now or datetime.now(UTC)) - self.retention
        live = []
        for doc in docs:
            stamp = _time(doc.get("time", ""))
            if stamp is not None and stamp >= cutoff:
                live.append(doc)
        return live[-self.max_entries :] if len(live) > self.max_entries else live

    def _fold(self, docs: list[dict[str, Any]], now: datetime | None) -> None:
        """A new pruned snapshot with a new generation; the journal is dropped."""
        kept = self._kept(docs, now)
        gen = self.store.write_generation(self.name, TABLE, kept)
        sig = self._signature()
        self._known = None if sig is None else _Known(sig, gen, 0, len(kept), _oldest(kept))

    def write(self, entries: list[dict[str, Any]], now: datetime | None = None) -> None:
        """Append ``entries`` (one journal line); prune in the same write whenever an
        entry is past the retention or the file holds too many."""
        with self.store.lock(self.name):
            sig = self._signature()
            known = self._known
            if known is None or known.sig != sig or known.journal != self._journal_size():
                docs, gen = self._all()  # first write of this ledger object, or another wrote
                if sig is None or not gen:  # no snapshot yet, or one without a generation
                    self._fold(docs + entries, now)
                    return
                known = self._known = _Known(sig, gen, self._journal_size(), len(docs),
                                             _oldest(docs))  # fmt: skip
            if not entries:
                return
            cutoff = (now or datetime.now(UTC)) - self.retention
            oldest = min(known.oldest, _oldest(entries))
            if oldest < cutoff or known.count + len(entries) > 2 * self.max_entries:
                self._fold(self._all()[0] + entries, now)
                return
            known.journal = self.store.append_journal(self.name, [{"g": known.gen, "e": entries}])
            known.count += len(entries)
            known.oldest = oldest
            if known.journal > max(self.JOURNAL_MIN_BYTES, known.sig[2]):
                self._fold(self._all()[0], now)

    def prune(self, now: datetime | None = None) -> None:
        """Drop what is past the retention or over the count, now."""
        if self.store.exists(self.name):
            with self.store.lock(self.name):
                self._fold(self._all()[0], now)

    def entries(
        self, item: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Entries oldest first; ``item`` matches the CRM id or the item id."""
        if not self.store.exists(self.name):
            return []
        with self.store.lock(self.name):
            rows: Iterable[dict[str, Any]] = self._kept(self._all()[0], None)
        out = []
        for row in rows:
            if item is not None and item not in _ids(row):
                continue
            if since is not None:
                stamp = _time(row.get("time", ""))
                if stamp is None or stamp < since:
                    continue
            out.append(dict(row))
        return out


@dataclass
class _Known:
    """What a ledger object knows of the stored ledger, valid while the snapshot's stat
    signature and the journal's size are what it left them."""

    sig: tuple[int, int, int]
    gen: str
    journal: int
    count: int
    oldest: datetime


_NEVER = datetime.min.replace(tzinfo=UTC)
_FUTURE = datetime.max.replace(tzinfo=UTC)


def _oldest(docs: Iterable[dict[str, Any]]) -> datetime:
    """The oldest entry's time (an unreadable one counts as oldest of all)."""
    oldest = _FUTURE
    for doc in docs:
        stamp = _time(doc.get("time", ""))
        if stamp is None:
            return _NEVER
        oldest = min(oldest, stamp)
    return oldest


def _ids(row: dict[str, Any]) -> set[str]:
    return {str(row[k]) for k in ("crm_id", "item_id") if row.get(k)}
