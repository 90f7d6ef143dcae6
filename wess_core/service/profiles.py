"""Where user profiles are stored and read: the users file (TinyDB), one profile or all,
and an edit under the file's lock. No role checks (internal use) and no account: the
account's operations (licences, connection defaults, key rotation) read profiles through
this module, and ``wess_core.service.users`` (the user operations) builds on both.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from tinydb import Query

from wess_core.errors import NotFound, quote
from wess_core.models import SECRET_FIELDS_USER, UserProfile
from wess_core.secrets import register_encrypted_store
from wess_core.service.context import Context
from wess_core.store import parse_json_bytes, read_file_bytes

USERS = "users"
register_encrypted_store(USERS, "users", SECRET_FIELDS_USER)


def list_profiles(ctx: Context) -> list[UserProfile]:
    """Every profile, sorted by login (no role check: internal use)."""
    with ctx.store.read(USERS) as db:
        rows = db.table("users").all()
    return sorted((UserProfile.from_dict(r) for r in rows), key=lambda u: u.login)


#: Per users file: its bytes when last parsed, and its rows by login (first row wins, as
#: with a TinyDB query). Parsing the users file is ~1 ms per 500 users, and every sync reads
#: one profile: a scheduler pass would cost O(users²) parsing. Reading the bytes and
#: comparing them with the last parse is ~20x cheaper and can never serve a stale profile.
_ROWS: dict[str, tuple[bytes, dict[str, dict[str, Any]]]] = {}
_ROWS_LOCK = threading.Lock()


def _rows_by_login(ctx: Context) -> dict[str, dict[str, Any]]:
    """The users file's rows by login, parsed at most once per content of the file."""
    path = ctx.store.path(USERS)
    raw = read_file_bytes(path)
    if raw is None:
        return {}
    key = str(path)
    with _ROWS_LOCK:
        cached = _ROWS.get(key)
    if cached is not None and cached[0] == raw:
        return cached[1]
    data = parse_json_bytes(raw, path)
    table = data.get("users") if isinstance(data, dict) else None
    rows: dict[str, dict[str, Any]] = {}
    for row in (table or {}).values():
        if isinstance(row, dict):
            rows.setdefault(row.get("login"), row)  # type: ignore[arg-type]
    with _ROWS_LOCK:
        _ROWS[key] = (raw, rows)
    return rows


def get_profile(ctx: Context, login: str) -> UserProfile:
    """One profile, or NotFound (no role check: internal use)."""
    row = _rows_by_login(ctx).get(login)
    if row is None:
        raise NotFound(f"no user {quote(login)}; see 'wess users list'")
    return UserProfile.from_dict(copy.deepcopy(row))  # the cached row stays as stored


def edit_profile(
    ctx: Context, login: str, change: Callable[[UserProfile, Any], None]
) -> UserProfile:
    """Apply ``change(profile, users_db)`` under the users lock; nothing written if it raises."""
    with ctx.store.write(USERS) as db:
        table = db.table("users")
        row = table.get(Query().login == login)
        if row is None:
            raise NotFound(f"no user {quote(login)}; see 'wess users list'")
        profile = UserProfile.from_dict(row)  # type: ignore[arg-type]
        change(profile, db)
        table.update(profile.to_dict(), doc_ids=[row.doc_id])  # type: ignore[union-attr]
    return profile
