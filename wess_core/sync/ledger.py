"""The per-item ledger: every item operation of a user's syncs, kept for a while.

One entry per operation (create / update / delete / link / unlink / skip / hold / error)
with its time, direction, item type, CRM id, item id and error code. It answers "what
happened to this contact?" long after the run's history line scrolled away.

``StoreLedger`` keeps a user's ledger in the store file ``ledger/<login>`` (table
``ledger``), appended once per batch by the engine. Every write prunes entries older than
the retention (``ledger_retention_days``) and keeps at most ``max_entries`` (newest), so
the file stays bounded whatever the traffic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
    """A user's ledger in the store file ``ledger/<login>``; one atomic write per call."""

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

    def write(self, entries: list[dict[str, Any]], now: datetime | None = None) -> None:
        """Append ``entries`` and prune by age and count, in one write of the file."""
        cutoff = (now or datetime.now(UTC)) - self.retention
        with self.store.write(self.name) as db:
            table = db.table(TABLE)
            if entries:
                table.insert_multiple(entries)
            old = []
            docs = table.all()
            for doc in docs:
                stamp = _time(doc.get("time", ""))
                if stamp is None or stamp < cutoff:
                    old.append(doc.doc_id)
            keep = len(docs) - len(old)
            if keep > self.max_entries:
                gone = set(old)
                live = [d.doc_id for d in docs if d.doc_id not in gone]
                old.extend(live[: keep - self.max_entries])
            if old:
                table.remove(doc_ids=old)

    def prune(self, now: datetime | None = None) -> None:
        """Drop what is past the retention (also done by every write)."""
        if self.store.exists(self.name):
            self.write([], now)

    def entries(
        self, item: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Entries oldest first; ``item`` matches the CRM id or the item id."""
        if not self.store.exists(self.name):
            return []
        rows: Iterable[dict[str, Any]] = self.store.read(self.name).table(TABLE).all()
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


def _ids(row: dict[str, Any]) -> set[str]:
    return {str(row[k]) for k in ("crm_id", "item_id") if row.get(k)}
