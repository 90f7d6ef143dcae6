"""Sync history: one entry per run, error or discovery, per user (bounded).

The user sees their own history; the admin sees everyone's. Entries live in the
home's ``history`` table (``wess_core.tables``): a record is one insert and the removal
of what falls beyond the newest ``MAX_ENTRIES`` of that user, in one transaction, so
concurrent records (a scheduler's workers, ``wess sync`` beside it) all land.

Idle runs (nothing changed either way, no error, nothing held) fold into one entry that
counts them (``idle_runs``, ``first``, ``last``): a scheduler polling every 5 minutes
would otherwise write 288 entries a day of "nothing changed" per user and push the runs
that did something out of the bounded history. The fold reads the newest entry and
updates it in the same write transaction (``BEGIN IMMEDIATE``) as the insert it replaces.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from wess_core.service.context import Context
from wess_core.tables import core_tables
from wess_core.tables.postgresql import HISTORY_SPACE, lock_key
from wess_core.tables.schema import HISTORY_MAX_ENTRIES
from wess_core.tables.schema import history as table

MAX_ENTRIES = HISTORY_MAX_ENTRIES

#: Statements built once (every run records an entry; building one costs more than
#: running it).
_INSERT = sa.insert(table).values(
    login=sa.bindparam("login"), kind=sa.bindparam("kind"), entry=sa.bindparam("entry")
)
_NEWEST = (
    sa.select(table.c.id, table.c.entry)
    .where(table.c.login == sa.bindparam("login"))
    .order_by(table.c.id.desc())
    .limit(1)
)
_UPDATE = (
    sa.update(table).where(table.c.id == sa.bindparam("row_id")).values(entry=sa.bindparam("entry"))
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


def record(
    ctx: Context, login: str, kind: str, message: str, *, idle: bool = False, **details: Any
) -> dict[str, Any]:
    """Append one entry (kinds: sync, error, skipped, discovery, conflict, ...).

    ``idle``: a run that changed nothing, failed nothing and held nothing; it is counted
    on the newest entry when that one is an idle run too (``message`` is then replaced by
    the count's line), else it starts a new idle entry.
    """
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    entry = {"time": now, "kind": kind, "message": message, **details}
    with core_tables(ctx.home).write(lock_key(HISTORY_SPACE, login)) as conn:
        if idle:
            newest = conn.execute(_NEWEST, {"login": login}).first()
            if newest is not None and _is_idle(newest.entry, kind):
                folded = _fold(dict(newest.entry), entry)
                conn.execute(_UPDATE, {"row_id": newest.id, "entry": folded})
                return folded
            entry.update(idle_runs=1, first=now, last=now)
            entry["message"] = idle_line(1, now, now)
        conn.execute(_INSERT, {"login": login, "kind": kind, "entry": entry})
        conn.execute(_PRUNE, {"login": login, "keep": MAX_ENTRIES})
    return entry


def _is_idle(entry: dict[str, Any], kind: str) -> bool:
    return entry.get("kind") == kind and isinstance(entry.get("idle_runs"), int)


def _fold(previous: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The newest idle entry counting one more run: the latest run's details and time."""
    count = previous["idle_runs"] + 1
    first = previous.get("first") or previous["time"]
    return {
        **run,
        "idle_runs": count,
        "first": first,
        "last": run["time"],
        "message": idle_line(count, first, run["time"]),
    }


def idle_line(count: int, first: str, last: str) -> str:
    """ "12 runs, nothing to sync, 10:00:00–11:00:00 UTC" (dates shown when they differ)."""
    runs = "1 run" if count == 1 else f"{count} runs"
    start, end = _clock(first), _clock(last)
    if first[:10] != last[:10]:
        start, end = f"{first[:10]} {start}", f"{last[:10]} {end}"
    span = start if start == end else f"{start}–{end}"
    return f"{runs}, nothing to sync, {span} UTC"


def _clock(iso: str) -> str:
    return iso[11:19]


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


def newest_by_kind(ctx: Context, logins: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each user's newest entry of each kind, ``{login: {kind: entry}}``, in one query
    (``wess status`` over every user: one query per user and kind cost ~1 ms each).
    The newest of all a user's kinds is the one with the highest ``"_id"``."""
    newest = sa.select(sa.func.max(table.c.id).label("id")).group_by(table.c.login, table.c.kind)
    if len(logins) <= _FEW_LOGINS:
        newest = newest.where(table.c.login.in_(logins))
    ids = newest.subquery()
    query = sa.select(table.c.id, table.c.login, table.c.kind, table.c.entry).join(
        ids, table.c.id == ids.c.id
    )
    wanted = set(logins)
    found: dict[str, dict[str, dict[str, Any]]] = {}
    with core_tables(ctx.home).read() as conn:
        for row in conn.execute(query):
            if row.login in wanted:
                found.setdefault(row.login, {})[row.kind] = {**row.entry, "_id": row.id}
    return found


#: Up to this many users, ``newest_by_kind`` asks for them by name; more, it reads all.
_FEW_LOGINS = 50


def last_entry(ctx: Context, login: str, kind: str | None = None) -> dict[str, Any] | None:
    found = _newest(ctx, login, kind, 1)
    return found[0] if found else None
