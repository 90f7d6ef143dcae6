"""User profiles: add, show, licences, sync flag, preferences, login e-mail change.

Users (``--as LOGIN``) may read and change only their own preferences: the sync
flag, Exchange e-mail / username / password and the per-user EWS URL. Everything
else is for the admin.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from wess_core import validation
from wess_core.errors import LicenceError, PermissionDenied, UsageError, quote
from wess_core.models import SECRET_FIELDS_USER, USER_STATES, Account, UserProfile, redact
from wess_core.profiles import Profiles
from wess_core.secrets import secret_writer
from wess_core.service.accounts import load_account
from wess_core.service.context import Context
from wess_core.service.profiles import (
    edit_profile,
    get_profile,
    list_profiles,
    user_profiles,
)

SELF_SERVICE_FIELDS = {"exchange_email", "exchange_username", "password", "ews_url"}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def eligibility(account: Account, profile: UserProfile) -> list[str]:
    """Every reason against this user's sync: the core's own policy first
    (``wess_core.licensing``), then the denials ``wess_check_licence`` plugins add;
    [] = may sync."""
    from wess_core.licensing import core_reasons
    from wess_core.plugins import get_plugin_manager

    reasons = core_reasons(account, profile)
    for result in get_plugin_manager().hook.wess_check_licence(account=account, user=profile):
        if not result:
            continue
        reasons.extend([result] if isinstance(result, str) else list(result))
    return reasons


def scheduled(account: Account, profile: UserProfile) -> bool:
    """The scheduler syncs (and ``wess run --push`` streams) this user: eligible and not
    paused for a credential problem."""
    return not eligibility(account, profile) and not profile.paused_reason


def describe(ctx: Context, profile: UserProfile, account: Account | None = None) -> dict[str, Any]:
    """A profile as shown to people and ``--json``: secrets redacted, eligibility spelled out."""
    account = account or load_account(ctx)
    data = redact(profile.to_dict(), SECRET_FIELDS_USER)
    data["has_web_password"] = bool(data.pop("web_password_hash", None))
    data["exchange_email"] = profile.effective_exchange_email
    data["auth"] = profile.auth or account.auth
    data["discovery"] = profile.discovery or account.discovery
    data["transport"] = profile.transport or account.transport
    reasons = eligibility(account, profile)
    data["eligible"] = not reasons
    data["reasons"] = reasons
    if not profile.sync_enabled:
        data["notice"] = (
            f"Exchange sync is not enabled for {profile.login}; enable it with: "
            f"wess users enable {profile.login}"
        )
    return data


def add_user(ctx: Context, login: str, email: str) -> dict[str, Any]:
    ctx.require_admin()
    login = validation.login(login)
    email = validation.email(email)
    account = load_account(ctx)
    profile = UserProfile(login=login, email=email, created=_now())
    with user_profiles(ctx).transaction() as profiles:
        if profiles.get(login) is not None:
            raise UsageError(f"user {quote(login)} already exists; see 'wess users show {login}'")
        profiles.put(profile.to_dict())
    return describe(ctx, profile, account)


def list_users(ctx: Context) -> list[dict[str, Any]]:
    ctx.require_admin()
    account = load_account(ctx)
    return [describe(ctx, p, account) for p in list_profiles(ctx)]


def show_user(ctx: Context, login: str) -> dict[str, Any]:
    ctx.require_self_or_admin(login)
    return describe(ctx, get_profile(ctx, login))


def allocate(ctx: Context, login: str) -> dict[str, Any]:
    """Give the user a seat from the pool; fails when none are left."""
    ctx.require_admin()
    account = load_account(ctx)

    def change(profile: UserProfile, db: Profiles) -> None:
        if profile.licence_allocated:
            return
        allocated = sum(1 for r in db.list() if r.get("licence_allocated"))
        if allocated >= account.licences_total:
            raise LicenceError(
                f"no licences left ({allocated} of {account.licences_total} allocated); "
                "buy more and run 'wess licences add N', or deallocate another user"
            )
        profile.licence_allocated = True

    return describe(ctx, edit_profile(ctx, login, change), account)


def deallocate(ctx: Context, login: str) -> dict[str, Any]:
    ctx.require_admin()

    def change(profile: UserProfile, db: Profiles) -> None:
        profile.licence_allocated = False

    return describe(ctx, edit_profile(ctx, login, change))


def set_sync_enabled(ctx: Context, login: str, enabled: bool) -> dict[str, Any]:
    """The user's own switch (or the admin's)."""
    ctx.require_self_or_admin(login)

    def change(profile: UserProfile, db: Profiles) -> None:
        profile.sync_enabled = enabled

    return describe(ctx, edit_profile(ctx, login, change))


def update_user(
    ctx: Context,
    login: str,
    *,
    exchange_email: str | None = None,
    exchange_username: str | None = None,
    password: str | None = None,
    auth: str | None = None,
    discovery: str | None = None,
    transport: str | None = None,
    ews_url: str | None = None,
    database: str | None = None,
    state: str | None = None,
    email: str | None = None,
    options: list[tuple[str, str]] | None = None,
    secret_options: list[tuple[str, str]] | None = None,
    verify: bool = True,
) -> dict[str, Any]:
    """Change a profile. Credentials are checked against Exchange first unless ``verify``
    is off (admins only: a user's change is always checked); when the check fails nothing
    is stored.

    Trust: under an auth method with service credentials (impersonation, OAuth) a user
    may not set their own Exchange e-mail or EWS URL (``PermissionDenied`` naming the
    admin command); under their own credentials they may, and the profile records that
    the user set it (``user_set_fields``) until an admin sets it, which approves it.

    ``options`` / ``secret_options``: (KEY, value) settings the user's strategies declare
    (``--option``, ``--secret-stdin``), stored on the profile over the account's; admin
    only, since a strategy setting may point service credentials anywhere.
    """
    from wess_core import connection, deadlines, plugins, strategy_settings
    from wess_core.connection import FIELD_LABELS, TRACKED_FIELDS, uses_service_credentials

    given = {
        "exchange_email": exchange_email,
        "exchange_username": exchange_username,
        "password": password,
        "auth": auth,
        "discovery": discovery,
        "transport": transport,
        "ews_url": ews_url,
        "database": database,
        "state": state,
        "email": email,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if options or secret_options:
        given["strategy_settings"] = True
    ctx.require_self_or_admin(login)
    if not verify and not ctx.is_admin:
        raise PermissionDenied()  # skipping the check is the admin's
    if not given:
        raise UsageError("nothing to change; see 'wess users set --help'")
    if not ctx.is_admin and not set(given) <= SELF_SERVICE_FIELDS:
        raise PermissionDenied()
    updates: dict[str, Any] = {}
    if exchange_email is not None:
        updates["exchange_email"] = validation.email(exchange_email, "Exchange e-mail")
    if exchange_username is not None:
        updates["exchange_username"] = (  # empty: log in with the Exchange e-mail again
            validation.exchange_username(exchange_username) if exchange_username.strip() else None
        )
    if auth is not None:
        plugins.auth_methods().get(auth)
        updates["auth"] = auth
    if discovery is not None:
        plugins.discovery_methods().get(discovery)
        updates["discovery"] = discovery
    if transport is not None:
        plugins.transports().get(transport)
        updates["transport"] = transport
    if ews_url is not None:
        updates["ews_url"] = validation.ews_url(ews_url) if ews_url else None
    if database is not None:
        updates["database"] = validation.login(database)
    if state is not None:
        if state not in USER_STATES:
            raise UsageError(f"unknown state {quote(state)}; use one of {', '.join(USER_STATES)}")
        updates["state"] = state
    if email is not None:
        updates["pending_email"] = validation.email(email)
    if password is not None:
        updates["password"] = ctx.secrets.encrypt(validation.secret(password))

    current = get_profile(ctx, login)
    account = load_account(ctx)
    chosen = {
        "auth method": updates.get("auth") or current.auth or account.auth,
        "discovery method": updates.get("discovery") or current.discovery or account.discovery,
        "transport": updates.get("transport") or current.transport or account.transport,
    }
    setting_changes = strategy_settings.changes(chosen, options or (), secret_options or ())
    if not ctx.is_admin:  # the value already stored is no change (and no new provenance)
        for name in TRACKED_FIELDS:
            if name in updates and updates[name] == getattr(current, name):
                del updates[name]
    tracked = [name for name in TRACKED_FIELDS if updates.get(name)]
    if tracked and not ctx.is_admin:
        method = current.auth or account.auth
        if uses_service_credentials(method):
            name = tracked[0]
            raise PermissionDenied(
                f"permission denied: {login}'s mailbox is opened with the {method} service "
                f"credentials, so only an admin may change the {FIELD_LABELS[name]}; "
                f"ask an admin to run: wess users set {login} {TRACKED_FIELDS[name]} "
                f"{updates[name]}"
            )
    if "exchange_email" in updates and updates["exchange_email"] != current.exchange_email:
        updates["discovered_ews_url"] = None  # found for another address
    candidate = UserProfile.from_dict({**current.to_dict(), **updates})
    candidate.user_set_fields = _provenance(candidate.user_set_fields, updates, ctx.is_admin)
    strategy_settings.apply(candidate, setting_changes, ctx.secrets.encrypt)
    if verify and (
        setting_changes
        or set(updates)
        & {
            "exchange_email",
            "exchange_username",
            "password",
            "auth",
            "discovery",
            "ews_url",
        }
    ):
        account = load_account(ctx)
        with deadlines.account_scope(account):
            checked = connection.resolve(account, candidate, ctx.secrets.decrypt, ctx.home)
            found_url = connection.verify(checked)
        if found_url:
            updates["discovered_ews_url"] = found_url
        updates["paused_reason"] = None  # working credentials resume a paused user
    if "ews_url" in updates:
        updates["discovered_ews_url"] = None

    encrypt: list[Callable[[str], str]] = [ctx.secrets.encrypt]

    def change(profile: UserProfile, db: Profiles) -> None:
        for key, value in updates.items():
            setattr(profile, key, value)
        profile.user_set_fields = _provenance(profile.user_set_fields, updates, ctx.is_admin)
        strategy_settings.apply(profile, setting_changes, encrypt[0])

    has_secrets = any(c.setting.secret and c.value for c in setting_changes)
    if password is None and not has_secrets:
        return describe(ctx, edit_profile(ctx, login, change), account)
    # the check above used a value encrypted outside the lock (it may take seconds); what
    # is stored is encrypted with the keys in force under the secrets lock, so a
    # concurrent rotation cannot drop its key
    with secret_writer(ctx.home) as box:
        if password is not None:
            updates["password"] = box.encrypt(password)
        encrypt[0] = box.encrypt
        profile = edit_profile(ctx, login, change)
    return describe(ctx, profile, account)


def _provenance(user_set: list[str] | None, updates: dict[str, Any], by_admin: bool) -> list[str]:
    """``user_set_fields`` after ``updates``: a value the user sets is marked, one an admin
    sets (or a cleared one) is not: setting it is how an admin approves it."""
    from wess_core.connection import TRACKED_FIELDS

    out = set(user_set or ())
    for name in TRACKED_FIELDS:
        if name in updates:
            if by_admin or not updates[name]:
                out.discard(name)
            else:
                out.add(name)
    return sorted(out)


def confirm_email(ctx: Context, login: str) -> dict[str, Any]:
    """Complete a pending login e-mail change."""
    ctx.require_admin()

    def change(profile: UserProfile, db: Profiles) -> None:
        if not profile.pending_email:
            raise UsageError(f"{login} has no pending login e-mail change")
        if profile.exchange_email is None:
            profile.exchange_email = profile.email  # keep the mailbox the user synced with
        profile.email = profile.pending_email
        profile.pending_email = None

    return describe(ctx, edit_profile(ctx, login, change))
