"""Sync history: one entry per run, error or discovery, per user (own file, bounded).

The user sees their own history; the admin sees everyone's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from wess_core.service.context import Context

MAX_ENTRIES = 1000


def _name(login: str) -> str:
    return f"history/{login}"


def record(ctx: Context, login: str, kind: str, message: str, **details: Any) -> dict[str, Any]:
    """Append one entry (kinds: sync, error, skipped, discovery, conflict, ...)."""
    entry = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "kind": kind,
        "message": message,
        **details,
    }
    with ctx.store.write(_name(login)) as db:
        table = db.table("history")
        table.insert(entry)
        if len(table) > MAX_ENTRIES:
            ids = sorted(doc.doc_id for doc in table.all())
            table.remove(doc_ids=ids[: len(ids) - MAX_ENTRIES])
    return entry


def entries(ctx: Context, login: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Newest first."""
    from wess_core.service.users import get_profile

    ctx.require_self_or_admin(login)
    get_profile(ctx, login)
    with ctx.store.read(_name(login)) as db:
        rows = [dict(r) for r in db.table("history").all()]
    rows.reverse()
    return rows[:limit] if limit else rows


def last_entry(ctx: Context, login: str, kind: str | None = None) -> dict[str, Any] | None:
    with ctx.store.read(_name(login)) as db:
        rows = db.table("history").all()
    for row in reversed(rows):
        if kind is None or row.get("kind") == kind:
            return dict(row)
    return None
