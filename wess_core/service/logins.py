"""Web logins: users' web passwords, web admin accounts, and the password check.

Passwords are kept only as argon2 hashes (argon2-cffi, imported when one is hashed or
checked, so ``wess --help`` stays light). A user's hash lives on their profile
(``web_password_hash``, never shown: ``has_web_password`` instead); admin accounts
live in their own store file, ``admins.json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wess_core import validation
from wess_core.errors import NotFound, UsageError, quote
from wess_core.models import UserProfile
from wess_core.profiles import Profiles
from wess_core.service.context import Context
from wess_core.service.profiles import edit_profile, user_profiles

if TYPE_CHECKING:
    from wess_core.home_stores import DocumentStore

ADMINS = "admins"
ROLE_ADMIN = "admin"
ROLE_USER = "user"
#: The shortest web password accepted: a login boundary, not a PIN.
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class Identity:
    """Who a web session acts as: an admin account (the CLI's admin) or a WESS user."""

    login: str
    role: str

    @property
    def actor(self) -> str | None:
        """The ``Context.actor`` this identity acts with (None: the admin)."""
        return None if self.role == ROLE_ADMIN else self.login


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` after the length check."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsageError(f"a web password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher().hash(validation.secret(password))


def _matches(stored: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    if not stored:
        return False
    try:
        return bool(_hasher().verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


#: A hash to verify against when the login is unknown, so an unknown login costs as
#: long as a known one (no login enumeration by timing).
_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(_hasher().hash("not a password of anyone"))
    return _DUMMY[0]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _admins(ctx: Context) -> DocumentStore:
    return ctx.stores.documents(ADMINS, "admins", "name")


def set_web_password(ctx: Context, login: str, password: str) -> dict[str, Any]:
    """Set the web login password of user ``login`` (the user themselves, or an admin)."""
    ctx.require_self_or_admin(login)
    hashed = hash_password(password)

    def change(profile: UserProfile, db: Profiles) -> None:
        profile.web_password_hash = hashed

    edit_profile(ctx, login, change)
    return {"login": login, "has_web_password": True}


def add_admin(ctx: Context, name: str, password: str) -> dict[str, Any]:
    """Create (or reset the password of) the web admin account ``name``."""
    ctx.require_admin()
    name = validation.login(name)
    hashed = hash_password(password)
    if user_profiles(ctx).get(name) is not None:
        raise UsageError(f"{quote(name)} is a user's login; pick another admin name")
    with _admins(ctx).transaction() as admins:
        row = admins.get(name) or {"name": name, "created": _now()}
        admins.put({**row, "password_hash": hashed})
    return {"name": name, "has_web_password": True}


def list_admins(ctx: Context) -> list[dict[str, Any]]:
    ctx.require_admin()
    rows = sorted(_admins(ctx).list(), key=lambda r: r["name"])
    return [{"name": r["name"], "created": r.get("created")} for r in rows]


def remove_admin(ctx: Context, name: str) -> dict[str, Any]:
    ctx.require_admin()
    with _admins(ctx).transaction() as admins:
        if admins.get(name) is None:
            raise NotFound(f"no web admin {quote(name)}; see 'wess admins list'")
        admins.delete(name)
    return {"name": name, "removed": True}


def check_password(ctx: Context, login: str, password: str) -> Identity | None:
    """The identity ``login`` + ``password`` log in as, or None (no role check: this is
    the log-in itself). Admin accounts first; a user's login and an admin's name never
    coincide (``add_admin`` refuses it)."""
    admin = _admins(ctx).get(login)
    if admin is not None:
        ok = _matches(admin.get("password_hash"), password)
        return Identity(login, ROLE_ADMIN) if ok else None
    row = user_profiles(ctx).get(login)
    if row is None or not row.get("web_password_hash"):
        _matches(_dummy_hash(), password)
        return None
    if _matches(row["web_password_hash"], password):
        return Identity(login, ROLE_USER)
    return None


def user_identity(ctx: Context, login: str) -> Identity | None:
    """The identity of an existing WESS user (a plugin's log-in names one), else None."""
    if not isinstance(login, str) or user_profiles(ctx).get(login) is None:
        return None
    return Identity(login, ROLE_USER)


def credential_stamp(ctx: Context, identity: Identity) -> str | None:
    """A short fingerprint of ``identity``'s stored web password hash, kept in its
    sessions: a new password (or a removed account: None) ends the sessions made before."""
    if identity.role == ROLE_ADMIN:
        row = _admins(ctx).get(identity.login)
        stored = row.get("password_hash") if row else None
    else:
        row = user_profiles(ctx).get(identity.login)
        stored = row.get("web_password_hash") if row else None
    if row is None:
        return None
    return hashlib.sha256((stored or "").encode()).hexdigest()[:16]
