"""Sync history: one entry per run, error or discovery, per user (own file, bounded).

The user sees their own history; the admin sees everyone's.

Every run adds an entry, so ``record`` appends one fsynced line to the file's journal
``history/<login>.journal`` (see ``wess_core.store``) instead of rewriting a file of up
to ``MAX_ENTRIES`` entries: a scheduler pass costs each user one small append. The
journal is folded into the file (a new snapshot with a new generation, keeping the
newest ``MAX_ENTRIES``) once it outgrows it; readers show at most ``MAX_ENTRIES``.
The snapshot starts with its generation, so an append learns it from the file's
first bytes without parsing the file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any

from wess_core import safefile
from wess_core.errors import StoreError
from wess_core.service.context import Context

MAX_ENTRIES = 1000
TABLE = "history"
#: A journal smaller than this is never folded.
JOURNAL_MIN_BYTES = 64 * 1024
#: The first bytes of a snapshot ``Store.write_generation`` wrote (generation first).
_HEAD = re.compile(rb'^\{"journal":\{"1":\{"gen":"([0-9a-f]+)"\}\}')


def _name(login: str) -> str:
    return f"history/{login}"


def _head_gen(ctx: Context, name: str) -> str | None:
    """The snapshot's generation from its first bytes (None: no snapshot, or one not
    written by a fold, e.g. by an older WESS)."""
    path = ctx.store.path(name)
    try:
        fd = safefile.open_checked(path, os.O_RDONLY)  # no link, not another user's file
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        found = _HEAD.match(os.read(fd, 64))
    finally:
        os.close(fd)
    return found.group(1).decode() if found else None


def _all(ctx: Context, name: str) -> list[dict[str, Any]]:
    """Every stored entry, oldest first: the snapshot, then its journal's lines."""
    while True:  # no lock: a fold replaces the snapshot before it drops the journal
        before = ctx.store.signature(name)
        rows, _, lines = ctx.store.read_generation(name, TABLE) if before else ([], "", [])
        if ctx.store.signature(name) == before:
            break
    rows.extend(line["e"] for line in lines)
    return rows


def _fold(ctx: Context, name: str, rows: list[dict[str, Any]]) -> None:
    """A new snapshot of the newest ``MAX_ENTRIES`` (generation first); drop the journal."""
    ctx.store.write_generation(name, TABLE, rows[-MAX_ENTRIES:])


def record(ctx: Context, login: str, kind: str, message: str, **details: Any) -> dict[str, Any]:
    """Append one entry (kinds: sync, error, skipped, discovery, conflict, ...)."""
    entry = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "kind": kind,
        "message": message,
        **details,
    }
    name = _name(login)
    with ctx.store.lock(name):
        gen = _head_gen(ctx, name)
        if gen is None:  # no snapshot yet (or an older one): write one now
            _fold(ctx, name, [*_all(ctx, name), entry])
            return entry
        size = ctx.store.append_journal(name, [{"g": gen, "e": entry}])
        sig = ctx.store.signature(name)
        if sig is not None and size > max(JOURNAL_MIN_BYTES, sig[2]):
            _fold(ctx, name, _all(ctx, name))
    return entry


def entries(ctx: Context, login: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Newest first."""
    from wess_core.service.users import get_profile

    ctx.require_self_or_admin(login)
    get_profile(ctx, login)
    rows = [dict(r) for r in _all(ctx, _name(login))[-MAX_ENTRIES:]]
    rows.reverse()
    return rows[:limit] if limit else rows


def last_entry(ctx: Context, login: str, kind: str | None = None) -> dict[str, Any] | None:
    for row in reversed(_all(ctx, _name(login))[-MAX_ENTRIES:]):
        if kind is None or row.get("kind") == kind:
            return dict(row)
    return None
