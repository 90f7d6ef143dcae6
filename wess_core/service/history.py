"""Sync history: one entry per run, error or discovery, per user (bounded).

The user sees their own history; the admin sees everyone's. Entries live in the
home's ``history`` table (``wess_core.tables``): a record is one insert and the removal
of what falls beyond the newest ``MAX_ENTRIES`` of that user, in one transaction, so
concurrent records (a scheduler's workers, ``wess sync`` beside it) all land.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from wess_core.service.context import Context
from wess_core.tables import core_tables
from wess_core.tables.schema import HISTORY_MAX_ENTRIES
from wess_core.tables.schema import history as table

MAX_ENTRIES = HISTORY_MAX_ENTRIES

#: Statements built once (every run records an entry; building one costs more than
#: running it).
_INSERT = sa.insert(table).values(
    login=sa.bindparam("login"), kind=sa.bindparam("kind"), entry=sa.bindparam("entry")
)
_PRUNE = sa.delete(table).where(
    table.c.login == sa.bindparam("login"),
    table.c.id
    <= sa.select(table.c.id)
    .where(table.c.login == sa.bindparam("login"))
    .order_by(table.c.id.desc())
    .offset(sa.bindparam("keep"))
    .limit(1)
    .scalar_subquery(),
)


def record(ctx: Context, login: str, kind: str, message: str, **details: Any) -> dict[str, Any]:
    """Append one entry (kinds: sync, error, skipped, discovery, conflict, ...)."""
    entry = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "kind": kind,
        "message": message,
        **details,
    }
    with core_tables(ctx.home).write() as conn:
        conn.execute(_INSERT, {"login": login, "kind": kind, "entry": entry})
        conn.execute(_PRUNE, {"login": login, "keep": MAX_ENTRIES})
    return entry


def _newest(ctx: Context, login: str, kind: str | None, limit: int) -> list[dict[str, Any]]:
    query = sa.select(table.c.entry).where(table.c.login == login)
    if kind is not None:
        query = query.where(table.c.kind == kind)
    query = query.order_by(table.c.id.desc()).limit(limit)
    with core_tables(ctx.home).read() as conn:
        return [dict(row) for row in conn.scalars(query)]


def entries(ctx: Context, login: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Newest first."""
    from wess_core.service.users import get_profile

    ctx.require_self_or_admin(login)
    get_profile(ctx, login)
    return _newest(ctx, login, None, min(limit or MAX_ENTRIES, MAX_ENTRIES))


def last_entry(ctx: Context, login: str, kind: str | None = None) -> dict[str, Any] | None:
    found = _newest(ctx, login, kind, 1)
    return found[0] if found else None
