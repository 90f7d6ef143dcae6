"""Account-wide operations: init, module activation, seat pool, connection defaults,
settings and key rotation. All admin-only."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

from wess_core import validation
from wess_core.account_settings import SETTINGS, setting_of
from wess_core.errors import (
    SecretKeyError,
    StoreError,
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
from wess_core.profiles import ProfileStore
from wess_core.safefile import WriteFailed
from wess_core.secrets import (
    SecretBox,
    ensure_key_file,
    load_keys,
    register_encrypted_store,
    secret_writer,
    write_key_file,
)
from wess_core.service.context import Context
from wess_core.service.profiles import (  # registers the users' secrets
    list_profiles,
    user_profiles,
)

ACCOUNT = "account"
register_encrypted_store(ACCOUNT, "account", SECRET_FIELDS_ACCOUNT)


class NotInitialised(WessError):
    pass


def _account(ctx: Context) -> ProfileStore:
    return ProfileStore(ctx.store, ACCOUNT, "account", None)


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
    return {**show_account(ctx), "checked_with": checked_with}


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


# -- keys -------------------------------------------------------------------


def rotate_value(box: SecretBox, value: Any) -> Any:
    """A token re-encrypted, or every token of a map of them (``strategy_secrets``)."""
    if isinstance(value, dict):
        return {k: rotate_value(box, v) for k, v in value.items() if v}
    return box.rotate(value)


class KeyRotationFailed(WessError):
    """``wess keys rotate`` stopped; the message says what is where (every secret still
    decrypts with the keys in force)."""


def rotate_keys(ctx: Context) -> dict[str, Any]:
    """Re-encrypt every stored secret with a new key (or the newest of ``WESS_SECRET_KEY``),
    all or nothing, under the home's secrets lock (so no secret write runs meanwhile).

    1. Every re-encrypted value is computed in memory first; one that no key decrypts
       stops the rotation before anything is written.
    2. The key file gets [new, old...]; 3. each encrypted store is rewritten; 4. the key
       file keeps only [new]. A crash or a failed write between any two steps leaves every
       secret decryptable with the key file's keys, and a second run completes the job.
    """
    from cryptography.fernet import Fernet

    from wess_core import plugins
    from wess_core.secrets import ENCRYPTED_STORES, ENV_VAR, key_file, secrets_lock
    from wess_core.store import load_json_file

    ctx.require_admin()
    plugins.get_plugin_manager()  # plugins that store secrets register them on import
    from_env = bool(os.environ.get(ENV_VAR))
    with secrets_lock(ctx.home):
        old_keys = load_keys(ctx.home)
        keys = old_keys if from_env else [Fernet.generate_key(), *old_keys]
        box = SecretBox(keys)
        # 1. in memory: {store: {doc id: {field: (old token, new token)}}}
        plan: dict[str, dict[str, dict[str, tuple[Any, Any]]]] = {}
        for name, (table, fields) in sorted(ENCRYPTED_STORES.items()):
            path = ctx.store.path(name)
            raw = load_json_file(path)
            docs = (raw.get(table) or {}) if isinstance(raw, dict) else {}
            for doc_id, doc in docs.items():
                for field in fields:
                    token = doc.get(field) if isinstance(doc, dict) else None
                    if not token:
                        continue
                    try:
                        new = rotate_value(box, token)
                    except SecretKeyError:
                        raise SecretKeyError(
                            f"cannot decrypt the {field} of {table} document {doc_id} in "
                            f"{path} with any configured key; nothing was rotated (restore "
                            f"the key that encrypted it, or set that value again)"
                        ) from None
                    plan.setdefault(name, {}).setdefault(doc_id, {})[field] = (token, new)
        # 2. the new key beside the old ones
        if not from_env:
            try:
                write_key_file(ctx.home, keys)
            except WriteFailed as exc:
                raise KeyRotationFailed(
                    f"could not save {exc.path}: {exc.reason}; nothing was rotated"
                ) from None
        keep = f"{ENV_VAR} still holds" if from_env else f"{key_file(ctx.home)} keeps"
        # 3. every store, re-read under its lock (other fields may have changed meanwhile;
        # secret fields cannot: their writers wait for the secrets lock)
        for name, changes in plan.items():
            table, _ = ENCRYPTED_STORES[name]
            try:
                with ctx.store.edit(name, table) as docs:
                    for doc_id, doc in docs.items():
                        for field, (old, new) in changes.get(doc_id, {}).items():
                            if doc.get(field):
                                doc[field] = (
                                    new if doc[field] == old else rotate_value(box, doc[field])
                                )
            except StoreError as exc:
                raise KeyRotationFailed(
                    f"key rotation stopped: {exc} ({keep} the old key too, so every secret "
                    "still decrypts); fix that and run 'wess keys rotate' again"
                ) from None
        # 4. the old keys go
        if not from_env:
            try:
                write_key_file(ctx.home, keys[:1])
            except WriteFailed as exc:
                raise KeyRotationFailed(
                    f"every secret is re-encrypted with the new key, but {exc.path} could not "
                    f"be saved without the old key ({exc.reason}); it keeps both, which "
                    "works: run 'wess keys rotate' again to drop the old one"
                ) from None
    ctx._box = None
    count = sum(len(fields) for fields in plan.get("users", {}).values())
    return {"rotated_user_secrets": count, "key_source": ENV_VAR if from_env else "key file"}
