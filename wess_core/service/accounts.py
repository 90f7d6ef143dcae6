"""Account-wide operations: init, module activation, seat pool, connection defaults,
settings and key rotation. All admin-only."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wess_core import validation
from wess_core.account_settings import SETTINGS, setting_of
from wess_core.errors import (
    UsageError,
    ValidationError,
    WessError,
    quote,
)
from wess_core.models import (
    LEGACY_FIELDS,
    SECRET_FIELDS_ACCOUNT,
    Account,
    redact,
)
from wess_core.secrets import (
    ensure_key_file,
    load_keys,
    register_encrypted_store,
    secret_writer,
)
from wess_core.service.context import Context
from wess_core.service.profiles import (  # registers the users' secrets
    list_profiles,
    user_profiles,
)

if TYPE_CHECKING:
    from wess_core.home_stores import DocumentStore

ACCOUNT = "account"
register_encrypted_store(ACCOUNT, "account", SECRET_FIELDS_ACCOUNT)


class NotInitialised(WessError):
    pass


def _account(ctx: Context) -> DocumentStore:
    return ctx.stores.documents(ACCOUNT, "account", None)


def load_account(ctx: Context) -> Account:
    """The account, or a clear error when ``wess init`` has not run."""
    doc = _account(ctx).get()
    if doc is None:
        raise NotInitialised(f"{ctx.home} is not a WESS home yet; run 'wess init' first")
    return Account.from_dict(doc)


def edit_account(ctx: Context, change: Callable[[Account], None]) -> Account:
    """Apply ``change`` to the account under its lock; nothing is written if it raises."""
    with _account(ctx).transaction() as docs:
        doc = docs.get()
        if doc is None:
            raise NotInitialised(f"{ctx.home} is not a WESS home yet; run 'wess init' first")
        account = Account.from_dict(copy.deepcopy(doc))
        change(account)
        docs.put(account.to_dict())
    return account


def init(ctx: Context) -> dict[str, Any]:
    """Create the home, the key file and the account; idempotent."""
    ctx.require_admin()
    ctx.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    ctx.store.check_home()  # an existing home others could write is refused, as ssh does
    new_key = ensure_key_file(ctx.home)
    load_keys(ctx.home)  # a wrong or loose key file is reported now, not at first use
    created = False
    with _account(ctx).transaction() as docs:
        if docs.get() is None:
            docs.put(Account().to_dict())
            created = True
    from wess_core.plugins import get_plugin_manager

    get_plugin_manager().hook.wess_home_initialised(home=ctx.home)  # e.g. the CRM's database
    return {"home": str(ctx.home), "created": created, "key_created": new_key}


# -- module -----------------------------------------------------------------


def module_status(ctx: Context) -> dict[str, Any]:
    ctx.require_admin()
    return {"module": "exchange-sync", "active": load_account(ctx).module_active}


def set_module(ctx: Context, active: bool) -> dict[str, Any]:
    ctx.require_admin()

    def change(account: Account) -> None:
        account.module_active = active

    edit_account(ctx, change)
    return {"module": "exchange-sync", "active": active}


# -- licences ---------------------------------------------------------------


def licence_summary(ctx: Context) -> dict[str, int]:
    ctx.require_admin()
    total = load_account(ctx).licences_total
    allocated = sum(1 for u in list_profiles(ctx) if u.licence_allocated)
    return {"total": total, "allocated": allocated, "remaining": total - allocated}


def add_licences(ctx: Context, count: int) -> dict[str, int]:
    ctx.require_admin()
    if count < 1:
        raise UsageError("the number of licences to add must be 1 or more")

    def change(account: Account) -> None:
        account.licences_total += count

    edit_account(ctx, change)
    return licence_summary(ctx)


# -- connection defaults ----------------------------------------------------


def show_account(ctx: Context) -> dict[str, Any]:
    ctx.require_admin()
    return redact(load_account(ctx).to_dict(), SECRET_FIELDS_ACCOUNT)


def set_connection(
    ctx: Context,
    *,
    discovery: str | None = None,
    transport: str | None = None,
    auth: str | None = None,
    ews_url: str | None = None,
    autodiscover_url: str | None = None,
    ca_bundle: str | None = None,
    options: list[tuple[str, str]] | None = None,
    secret_options: list[tuple[str, str]] | None = None,
    verify: bool = True,
    **aliases: str | None,
) -> dict[str, Any]:
    """Change the account's connection defaults; with ``verify``, only if Exchange accepts them.

    ``options`` / ``secret_options`` are (KEY, value) pairs for the settings the chosen
    strategies declare (``--option``, ``--secret-stdin``); ``aliases`` the old keywords
    (``impersonation_user=``, ``oauth_client_secret=`` ...), the same settings by their
    former names."""
    from wess_core import connection as conn
    from wess_core import deadlines, plugins, strategy_settings

    ctx.require_admin()
    unknown = set(aliases) - set(LEGACY_FIELDS)
    if unknown:
        raise TypeError(f"set_connection() got unexpected keyword {sorted(unknown)[0]!r}")
    given_aliases = {k: v for k, v in aliases.items() if v is not None}
    if "impersonation_user" in given_aliases and "impersonation_password" not in given_aliases:
        raise UsageError("--impersonation-user needs the password: add --password-stdin")
    if discovery is not None:
        plugins.discovery_methods().get(discovery)
    if auth is not None:
        plugins.auth_methods().get(auth)
    if transport is not None:
        plugins.transports().get(transport)
    if ews_url is not None:
        ews_url = validation.ews_url(ews_url)
        if discovery is None:
            discovery = "manual"
    if autodiscover_url is not None:
        autodiscover_url = validation.autodiscover_url(autodiscover_url)
    if ca_bundle is not None:
        ca_bundle = _check_ca_bundle(ca_bundle)
    account = load_account(ctx)
    chosen = {
        "auth method": auth or account.auth,
        "discovery method": discovery or account.discovery,
        "transport": transport or account.transport,
    }
    explicit = [
        (LEGACY_FIELDS[name][0], LEGACY_FIELDS[name][1], value, LEGACY_FIELDS[name][2])
        for name, value in given_aliases.items()
    ]
    changes = strategy_settings.changes(chosen, options or (), secret_options or (), explicit)
    updates: dict[str, Any] = {
        "discovery": discovery,
        "transport": transport,
        "auth": auth,
        "ews_url": ews_url,
        "autodiscover_url": autodiscover_url,
        "ca_bundle": ca_bundle,
    }
    updates = {k: v for k, v in updates.items() if v is not None}
    box = ctx.secrets  # for the check; what is stored is encrypted again under the lock
    candidate = Account.from_dict({**account.to_dict(), **updates})
    strategy_settings.apply(candidate, changes, box.encrypt)
    checked_with = None
    if verify and (updates or changes):
        connection = conn.checkable(candidate, list_profiles(ctx), box.decrypt, ctx.home)
        if connection is not None:
            with deadlines.account_scope(candidate):
                conn.verify(connection)
            checked_with = connection.login
    verified = checked_with is not None
    has_secrets = any(c.setting.secret and c.value for c in changes)

    def change(acc: Account, encrypt: Any = box.encrypt) -> None:
        for key, value in updates.items():
            setattr(acc, key, value)
        strategy_settings.apply(acc, changes, encrypt)

    if has_secrets:  # encrypted with the keys in force under the lock: none stranded
        with secret_writer(ctx.home) as writer:
            edit_account(ctx, lambda acc: change(acc, writer.encrypt))
    else:
        edit_account(ctx, change)
    if verified:
        _resume_everyone(ctx)
    data = {**show_account(ctx), "checked_with": checked_with}
    if transport is None and data.get("transport", "ews") == "ews":
        if _on_exchange_online(ctx, data.get("ews_url")):
            data["suggestion"] = GRAPH_SUGGESTION
    return data


def connection_saved_text(data: dict[str, Any], *, skipped: str | None) -> str:
    """What ``connection set`` (and the admin page) says of a save: checked with whom,
    skipped on purpose (``skipped`` names how: ``--skip-check``), or not checkable yet."""
    if data.get("checked_with"):
        who = data["checked_with"]
        return f"Connection settings saved; Exchange accepted them (checked as {who})."
    if skipped:
        return f"Connection settings saved without a check ({skipped})."
    return (
        "Connection settings saved; not checked yet: no user has complete credentials. "
        "Check later with: wess test-connection LOGIN"
    )


#: What ``connection set`` adds when the account's EWS URL is Exchange Online's.
GRAPH_SUGGESTION = (
    "This is Exchange Online, where EWS is blocked from October 2026 (switched off in "
    "April 2027): sync over Microsoft Graph with 'wess connection set --transport graph' "
    "(OAuth; see 'wess checklist')."
)


def _on_exchange_online(ctx: Context, account_url: str | None) -> bool:
    """The account's URL, or a URL Autodiscover found for a user, is Exchange Online's."""
    if validation.is_exchange_online(account_url):
        return True
    return any(validation.is_exchange_online(p.discovered_ews_url) for p in list_profiles(ctx))


def _resume_everyone(ctx: Context) -> None:
    """Connection settings that pass the check resume users paused for credentials."""
    with user_profiles(ctx).transaction() as profiles:
        for doc in profiles.list():
            if doc.get("paused_reason"):
                doc["paused_reason"] = None


def _check_ca_bundle(path: str) -> str:
    from pathlib import Path

    p = Path(path).expanduser().resolve()
    try:
        text = p.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise ValidationError(
            f"CA bundle {path}: {exc.strerror}; give a readable PEM file"
        ) from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ValidationError(f"CA bundle {path} holds no PEM certificate")
    return str(p)


# -- settings (``wess config``) --------------------------------------------


def settings(ctx: Context) -> dict[str, Any]:
    """Every setting with its value in force (defaults filled in)."""
    ctx.require_admin()
    stored = load_account(ctx).settings
    return {key: stored.get(key, s.default) for key, s in SETTINGS.items()}


def setting(ctx: Context, key: str) -> Any:
    """One setting's value in force (no role check: the engine reads these)."""
    return setting_of(load_account(ctx), key)


def set_setting(ctx: Context, key: str, raw: str) -> dict[str, Any]:
    ctx.require_admin()
    key = key.replace("-", "_")
    if key not in SETTINGS:
        raise UsageError(f"unknown setting {quote(key)}; known: {', '.join(SETTINGS)}")
    try:
        value = SETTINGS[key].parse(raw)
    except ValueError as exc:
        raise UsageError(f"bad value {quote(raw)} for {key}: {exc}") from None

    def change(account: Account) -> None:
        account.settings = {**account.settings, key: value}

    edit_account(ctx, change)
    return settings(ctx)
