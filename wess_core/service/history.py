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
import secrets
from typing import Any

from wess_core.service.context import Context
from wess_core.store import load_json_file, write_json_atomic

MAX_ENTRIES = 1000
TABLE = "history"
GEN_TABLE = "journal"
#: A journal smaller than this is never folded.
JOURNAL_MIN_BYTES = 64 * 1024
_HEAD = re.compile(rb'^\{"journal":\{"1":\{"gen":"([0-9a-f]+)"\}\}')


def _name(login: str) -> str:
    return f"history/{login}"


def _head_gen(ctx: Context, name: str) -> str | None:
    """The snapshot's generation from its first bytes (None: no snapshot, or one not
    written by a fold, e.g. by an older WESS)."""
    try:
        with open(ctx.store.path(name), "rb") as fh:
            found = _HEAD.match(fh.read(64))
    except FileNotFoundError:
        return None
    return found.group(1).decode() if found else None


def _all(ctx: Context, name: str) -> list[dict[str, Any]]:
    """Every stored entry, oldest first: the snapshot, then its journal's lines."""
    while True:  # no lock: a fold replaces the snapshot before it drops the journal
        before = _signature(ctx, name)
        raw = load_json_file(ctx.store.path(name)) if before else None
        lines = ctx.store.read_journal(name) if isinstance(raw, dict) else []
        if _signature(ctx, name) == before:
            break
    if not isinstance(raw, dict):
        return []
    gen = str(((raw.get(GEN_TABLE) or {}).get("1") or {}).get("gen", ""))
    rows = list((raw.get(TABLE) or {}).values())
    rows.extend(line["e"] for line in lines if line.get("g") == gen)
    return rows


def _signature(ctx: Context, name: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(ctx.store.path(name))
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _fold(ctx: Context, name: str, rows: list[dict[str, Any]]) -> None:
    """A new snapshot of the newest ``MAX_ENTRIES``, generation first; drop the journal."""
    kept = rows[-MAX_ENTRIES:]
    raw = {
        GEN_TABLE: {"1": {"gen": secrets.token_hex(6)}},
        TABLE: {str(n): row for n, row in enumerate(kept, 1)},
    }
    write_json_atomic(ctx.store.path(name), raw)
    ctx.store.drop_journal(name)


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
        sig = _signature(ctx, name)
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
