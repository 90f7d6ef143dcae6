"""Background jobs' markers (``wess discover --background``), in the table ``jobs``.

One job per user at a time: ``claim`` refuses a second while the first one's process is
alive, or being launched, in the same transaction that writes the new marker, so two
requests at once cannot both start one.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import sqlalchemy as sa

from wess_core.errors import JobRunning
from wess_core.service.context import Context
from wess_core.tables import core_tables
from wess_core.tables.postgresql import JOBS_SPACE, LockKey, lock_key
from wess_core.tables.schema import jobs

#: A marker without a pid older than this is a launch that died half-way.
LAUNCH_GRACE_SECONDS = 60


def _lock(login: str) -> LockKey:
    """A job marker is one user's: only that user's writers wait."""
    return lock_key(JOBS_SPACE, login)


def _mine(login: str) -> sa.ColumnElement[bool]:
    return jobs.c.login == login


def claim(ctx: Context, login: str, kind: str, started: str) -> None:
    """Mark a ``kind`` job of ``login`` started at ``started`` as running, replacing
    markers of jobs that ended; ``JobRunning`` (nothing written) while one runs."""
    with core_tables(ctx.home).write(_lock(login)) as conn:
        for row in conn.execute(sa.select(jobs).where(_mine(login))).mappings():
            if is_running(row):
                raise JobRunning(
                    f"a {row['kind']} of {login} is already running "
                    f"(started {row['started']}); see 'wess history {login}' for its outcome"
                )
        conn.execute(sa.delete(jobs).where(_mine(login)))
        conn.execute(
            sa.insert(jobs).values(login=login, started=started, kind=kind, state="running")
        )


def set_pid(ctx: Context, login: str, started: str, pid: int) -> None:
    """The launched job's process id, on its marker."""
    with core_tables(ctx.home).write(_lock(login)) as conn:
        conn.execute(sa.update(jobs).where(_mine(login), jobs.c.started == started).values(pid=pid))


def clear(ctx: Context, login: str, started: str | None) -> None:
    """Remove the marker of the job started at ``started`` (None: not a job)."""
    if started is None:
        return
    with core_tables(ctx.home).write(_lock(login)) as conn:
        conn.execute(sa.delete(jobs).where(_mine(login), jobs.c.started == started))


def running_jobs(ctx: Context, login: str) -> list[dict[str, Any]]:
    """Background jobs of ``login`` still marked running (a dead process shows as stale)."""
    return jobs_by_login(ctx, _mine(login)).get(login, [])


def jobs_by_login(
    ctx: Context, where: sa.ColumnElement[bool] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Every user's job markers (or those ``where`` selects), by login, in one query."""
    query = sa.select(jobs.c.login, jobs.c.kind, jobs.c.state, jobs.c.started, jobs.c.pid)
    if where is not None:
        query = query.where(where)
    found: dict[str, list[dict[str, Any]]] = {}
    with core_tables(ctx.home).read() as conn:
        for row in conn.execute(query).mappings():
            marker = dict(row)
            login = marker.pop("login")
            if marker["pid"] is None:
                del marker["pid"]
            elif not _alive(marker["pid"]):
                marker["state"] = "stale"
            found.setdefault(login, []).append(marker)
    return found


def is_running(row: Any) -> bool:
    """A job marker whose process is alive, or whose launch is under way."""
    if row["state"] != "running":
        return False
    if row["pid"]:
        return _alive(row["pid"])
    try:
        age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(row["started"])
    except (TypeError, ValueError):
        return False
    return age.total_seconds() < LAUNCH_GRACE_SECONDS


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a finished child of this very process is a zombie until reaped
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0
