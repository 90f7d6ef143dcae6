"""The per-item ledger: every item operation of a user's syncs, kept for a while.

One entry per operation (create / update / delete / link / unlink / skip / hold / error)
with its time, direction, item type, CRM id, item id and error code. It answers "what
happened to this contact?" long after the run's history line scrolled away.

``StoreLedger`` keeps a user's ledger in the home's ``ledger`` table
(``wess_core.tables``), written once per batch by the engine. Each write also removes
the user's entries older than the retention (``ledger_retention_days``) and beyond the
newest ``max_entries``, so the table stays bounded whatever the traffic; readers apply
the same limits.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from wess_core.errors import UsageError, quote
from wess_core.store import Store, check_name_part
from wess_core.tables import core_tables
from wess_core.tables.postgresql import LockKey, sync_state_lock
from wess_core.tables.rows import ledger_row, parse_time
from wess_core.tables.schema import ledger as table

DEFAULT_RETENTION_DAYS = 90
#: At most this many entries per user (the newest are kept).
MAX_ENTRIES = 10_000
OPS = ("create", "update", "delete", "link", "unlink", "skip", "hold", "error")

_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``7d`` / ``12h`` / ``30m`` / ``2w`` ago, or an ISO date or date-time (UTC if no
    offset). Anything else is a usage error."""
    now = now or datetime.now(UTC)
    rel = _RELATIVE.match(value)
    if rel:
        return now - timedelta(**{_UNITS[rel.group(2)]: int(rel.group(1))})
    stamp = parse_time(value.strip())
    if stamp is None:
        raise UsageError(
            f"bad --since {quote(value)}: give an ISO date or time (2024-05-06, "
            "2024-05-06T10:00) or a relative time (30m, 12h, 7d, 2w)"
        )
    return stamp


class StoreLedger:
    """A user's ledger in the home's ``ledger`` table.

    ``write`` inserts a batch's entries and prunes that user's entries past the
    retention or beyond ``max_entries`` (the newest are kept), in one transaction.
    """

    def __init__(
        self,
        store: Store,
        login: str,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.home = store.home
        self.login = check_name_part(login, "login")
        self.retention = timedelta(days=retention_days)
        self.max_entries = max_entries

    def _lock(self) -> LockKey:
        """Only this user's writers wait (their sync state's lock: the two commit
        together, ``wess_core.sync.state_tables``)."""
        return sync_state_lock(self.login)

    def _cutoff(self, now: datetime | None) -> float:
        return ((now or datetime.now(UTC)) - self.retention).timestamp()

    def _mine(self) -> sa.ColumnElement[bool]:
        return table.c.login == self.login

    def _prune(self, conn: sa.Connection, now: datetime | None) -> None:
        conn.execute(sa.delete(table).where(self._mine(), table.c.at < self._cutoff(now)))
        beyond = (
            sa.select(table.c.id)
            .where(self._mine())
            .order_by(table.c.id.desc())
            .offset(self.max_entries)
            .limit(1)
            .scalar_subquery()
        )
        conn.execute(sa.delete(table).where(self._mine(), table.c.id <= beyond))

    def write(self, entries: list[dict[str, Any]], now: datetime | None = None) -> None:
        """Add ``entries`` (oldest first) and prune, in one transaction."""
        if not entries:
            return
        with core_tables(self.home).write(self._lock()) as conn:
            self.write_in(conn, entries, now)

    def write_in(
        self, conn: sa.Connection, entries: list[dict[str, Any]], now: datetime | None = None
    ) -> None:
        """``write`` inside the caller's transaction (a user's state and its ledger
        entries commit together: ``wess_core.sync.state_tables``)."""
        conn.execute(sa.insert(table), [ledger_row(self.login, e) for e in entries])
        self._prune(conn, now)

    def prune(self, now: datetime | None = None) -> None:
        """Drop what is past the retention or over the count, now."""
        with core_tables(self.home).write(self._lock()) as conn:
            self._prune(conn, now)

    def entries(
        self, item: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Entries oldest first; ``item`` matches the CRM id or the item id."""
        newest = (
            sa.select(table)
            .where(self._mine(), table.c.at >= self._cutoff(None))
            .order_by(table.c.id.desc())
            .limit(self.max_entries)
            .subquery()
        )
        query = sa.select(newest.c.entry).order_by(newest.c.id)
        if item is not None:
            query = query.where(sa.or_(newest.c.crm_id == item, newest.c.item_id == item))
        if since is not None:
            query = query.where(newest.c.at >= since.timestamp())
        with core_tables(self.home).read() as conn:
            return [dict(row) for row in conn.scalars(query)]
