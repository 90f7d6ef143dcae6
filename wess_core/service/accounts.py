"""Account-wide operations: init, module activation, seat pool, connection defaults,
settings and key rotation. All admin-only."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wess_core import endpoints, validation
from wess_core.errors import UsageError, ValidationError, WessError, quote
from wess_core.models import (
    CONFLICT_POLICIES,
    DEFAULT_CONFLICT_POLICY,
    SECRET_FIELDS_ACCOUNT,
    Account,
    redact,
)
from wess_core.secrets import SecretBox, ensure_key_file, load_keys, write_key_file
from wess_core.service.context import Context

ACCOUNT = "account"


class NotInitialised(WessError):
    pass


def load_account(ctx: Context) -> Account:
    """The account, or a clear error when ``wess init`` has not run."""
    with ctx.store.read(ACCOUNT) as db:
        rows = db.table("account").all()
    if not rows:
        raise NotInitialised(f"{ctx.home} is not a WESS home yet; run 'wess init' first")
    return Account.from_dict(rows[0])


def save_account(db: Any, account: Account) -> None:
    table = db.table("account")
    table.truncate()
    table.insert(account.to_dict())


def edit_account(ctx: Context, change: Callable[[Account], None]) -> Account:
    """Apply ``change`` to the account under its lock; nothing is written if it raises."""
    with ctx.store.write(ACCOUNT) as db:
        rows = db.table("account").all()
        if not rows:
            raise NotInitialised(f"{ctx.home} is not a WESS home yet; run 'wess init' first")
        account = Account.from_dict(rows[0])
        change(account)
        save_account(db, account)
    return account


def init(ctx: Context) -> dict[str, Any]:
    """Create the home, the key file and the account; idempotent."""
    ctx.require_admin()
    ctx.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    new_key = ensure_key_file(ctx.home)
    load_keys(ctx.home)  # a wrong or loose key file is reported now, not at first use
    created = False
    with ctx.store.write(ACCOUNT) as db:
        if not db.table("account").all():
            save_account(db, Account())
            created = True
    from wess_core.crm.local import create_database

    create_database(ctx.home, "main")  # the default CRM database
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
    from wess_core.service.users import list_profiles

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
    auth: str | None = None,
    ews_url: str | None = None,
    autodiscover_url: str | None = None,
    impersonation_user: str | None = None,
    impersonation_password: str | None = None,
    ca_bundle: str | None = None,
    oauth_tenant: str | None = None,
    oauth_client_id: str | None = None,
    oauth_client_secret: str | None = None,
    oauth_authority: str | None = None,
    verify: bool = True,
) -> dict[str, Any]:
    """Change the account's connection defaults; with ``verify``, only if Exchange accepts them."""
    from wess_core import plugins
    from wess_core.connection import verify_account_connection

    ctx.require_admin()
    if discovery is not None:
        plugins.discovery_methods().get(discovery)
    if auth is not None:
        plugins.auth_methods().get(auth)
    if ews_url is not None:
        ews_url = validation.ews_url(ews_url)
        if discovery is None:
            discovery = "manual"
    if autodiscover_url is not None:
        autodiscover_url = validation.autodiscover_url(autodiscover_url)
    if impersonation_user is not None:
        impersonation_user = validation.exchange_username(impersonation_user)
        if impersonation_password is None:
            raise UsageError("--impersonation-user needs the password: add --password-stdin")
    if ca_bundle is not None:
        ca_bundle = _check_ca_bundle(ca_bundle)
    if oauth_tenant is not None:
        oauth_tenant = validation.plain_text(oauth_tenant, "OAuth tenant")
    if oauth_client_id is not None:
        oauth_client_id = validation.plain_text(oauth_client_id, "OAuth client id")
    if oauth_authority is not None:
        oauth_authority = validation.plain_text(oauth_authority, "OAuth authority")
    if impersonation_password is not None:
        validation.secret(impersonation_password, "service account's password")
    if oauth_client_secret is not None:
        validation.secret(oauth_client_secret, "client secret")
    box = ctx.secrets
    account = load_account(ctx)
    updates: dict[str, Any] = {
        "discovery": discovery,
        "auth": auth,
        "ews_url": ews_url,
        "autodiscover_url": autodiscover_url,
        "impersonation_user": impersonation_user,
        "ca_bundle": ca_bundle,
        "oauth_tenant": oauth_tenant,
        "oauth_client_id": oauth_client_id,
        "oauth_authority": oauth_authority,
    }
    if impersonation_password is not None:
        updates["impersonation_password"] = box.encrypt(impersonation_password)
    if oauth_client_secret is not None:
        updates["oauth_client_secret"] = box.encrypt(oauth_client_secret)
    updates = {k: v for k, v in updates.items() if v is not None}
    candidate = Account.from_dict({**account.to_dict(), **updates})
    checked_with = verify_account_connection(ctx, candidate) if verify and updates else None
    verified = checked_with is not None

    def change(acc: Account) -> None:
        for key, value in updates.items():
            setattr(acc, key, value)

    edit_account(ctx, change)
    if verified:
        _resume_everyone(ctx)
    return {**show_account(ctx), "checked_with": checked_with}


def _resume_everyone(ctx: Context) -> None:
    """Connection settings that pass the check resume users paused for credentials."""
    from wess_core.service.users import USERS

    with ctx.store.write(USERS) as db:
        table = db.table("users")
        paused = [row.doc_id for row in table.all() if row.get("paused_reason")]
        if paused:
            table.update({"paused_reason": None}, doc_ids=paused)


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


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    parse: Callable[[str], Any]
    help: str


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return number

    return parse


def _addresses(value: str) -> list[str]:
    out = []
    for part in value.split(","):
        part = part.strip()
        if part:
            out.append(str(ipaddress.ip_network(part, strict=False)))
    return out


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in [
        Setting(
            "conflict_policy",
            DEFAULT_CONFLICT_POLICY,
            _choice(*CONFLICT_POLICIES),
            "who wins when both sides changed the same item",
        ),
        Setting(
            "deletion_guard_percent",
            20,
            _int_range(0, 100),
            "hold a run's deletes above this share of a folder",
        ),
        Setting(
            "deletion_guard_max", 50, _int_range(0, 10**9), "hold a run's deletes above this count"
        ),
        Setting(
            "deletion_guard_min",
            5,
            _int_range(0, 10**9),
            "never hold this many deletes or fewer by the percent rule",
        ),
        Setting(
            "ledger_retention_days", 90, _int_range(1, 3650), "days the per-item ledger is kept"
        ),
        Setting(
            "throttle_cap",
            8,
            _int_range(1, 1000),
            "concurrent connections per Exchange server / service account",
        ),
        Setting("sync_interval", 300, _int_range(10, 86400), "seconds between scheduled runs"),
        Setting(
            "request_deadline_seconds",
            120,
            _int_range(1, 3600),
            "the longest one request to Exchange may take, answer included",
        ),
        Setting(
            "run_deadline_seconds",
            900,
            _int_range(5, 86400),
            "the longest one user's sync run may take; then it is cut off",
        ),
        Setting(
            "max_response_mib",
            64,
            _int_range(1, 4096),
            "the largest answer (MiB) accepted from Exchange",
        ),
        Setting(
            "source_addresses",
            [],
            _addresses,
            "the sync service's outgoing addresses (comma-separated), for the IT checklist",
        ),
        Setting(
            endpoints.SETTING,
            [],
            endpoints.parse_domains,
            "domains (comma-separated) whose hosts may receive credentials through an "
            "Autodiscover redirect; empty: those of the configured URLs and the users' e-mail",
        ),
    ]
}


def settings(ctx: Context) -> dict[str, Any]:
    """Every setting with its value in force (defaults filled in)."""
    ctx.require_admin()
    stored = load_account(ctx).settings
    return {key: stored.get(key, s.default) for key, s in SETTINGS.items()}


def setting(ctx: Context, key: str) -> Any:
    """One setting's value in force (no role check: the engine reads these)."""
    return setting_of(load_account(ctx), key)


def setting_of(account: Account, key: str) -> Any:
    """One setting's value in force in an account already read (a sync reads it once)."""
    return account.settings.get(key, SETTINGS[key].default)


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


def rotate_keys(ctx: Context) -> dict[str, Any]:
    """Re-encrypt every stored secret with a new key (or the newest of ``WESS_SECRET_KEY``).

    The key file keeps the old key until every secret is re-encrypted, so a crash
    half-way leaves everything readable.
    """
    import os

    from cryptography.fernet import Fernet

    from wess_core.secrets import ENV_VAR
    from wess_core.service.users import rotate_user_secrets

    ctx.require_admin()
    old_keys = load_keys(ctx.home)
    from_env = bool(os.environ.get(ENV_VAR))
    if from_env:
        keys = old_keys
    else:
        keys = [Fernet.generate_key(), *old_keys]
        write_key_file(ctx.home, keys)
    box = SecretBox(keys)

    def change(account: Account) -> None:
        for name in SECRET_FIELDS_ACCOUNT:
            if getattr(account, name):
                setattr(account, name, box.rotate(getattr(account, name)))

    edit_account(ctx, change)
    count = rotate_user_secrets(ctx, box)
    if not from_env:
        write_key_file(ctx.home, keys[:1])
    ctx._box = None
    return {"rotated_user_secrets": count, "key_source": ENV_VAR if from_env else "key file"}
