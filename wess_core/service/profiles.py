"""Where user profiles are stored and read: the users store (``wess_core.profiles``,
TinyDB), one profile or all, and an edit under the store's lock. No role checks (internal
use) and no account: the account's operations (licences, connection defaults, key
rotation) read profiles through this module, and ``wess_core.service.users`` (the user
operations) builds on both.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

from wess_core.errors import NotFound, quote
from wess_core.models import SECRET_FIELDS_USER, UserProfile
from wess_core.profiles import Profiles
from wess_core.secrets import register_encrypted_store
from wess_core.service.context import Context

if TYPE_CHECKING:
    from wess_core.home_stores import DocumentStore

USERS = "users"
register_encrypted_store(USERS, "users", SECRET_FIELDS_USER)


def user_profiles(ctx: Context) -> DocumentStore:
    return ctx.stores.documents(USERS, "users", "login")


def list_profiles(ctx: Context) -> list[UserProfile]:
    """Every profile, sorted by login (no role check: internal use)."""
    return sorted(
        (UserProfile.from_dict(r) for r in user_profiles(ctx).list()), key=lambda u: u.login
    )


def get_profile(ctx: Context, login: str) -> UserProfile:
    """One profile, or NotFound (no role check: internal use)."""
    row = user_profiles(ctx).get(login)
    if row is None:
        raise NotFound(f"no user {quote(login)}; see 'wess users list'")
    return UserProfile.from_dict(row)


def edit_profile(
    ctx: Context, login: str, change: Callable[[UserProfile, Profiles], None]
) -> UserProfile:
    """Apply ``change(profile, profiles)`` under the users lock (``profiles``: every
    profile in the same transaction); nothing written if it raises."""
    with user_profiles(ctx).transaction() as profiles:
        row = profiles.get(login)
        if row is None:
            raise NotFound(f"no user {quote(login)}; see 'wess users list'")
        profile = UserProfile.from_dict(copy.deepcopy(row))
        change(profile, profiles)
        profiles.put({**row, **profile.to_dict()})
    return profile
