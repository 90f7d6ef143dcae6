"""The data WESS keeps: the account and its users, as plain dataclasses.

Stored as dicts in TinyDB (``to_dict`` / ``from_dict``). Unknown keys in a stored
dict are kept on read and written back, so a newer WESS (or a plugin) can add
fields without an older one dropping them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

USER_STATES = ("active", "not_activated", "disabled")
CONFLICT_POLICIES = ("crm-wins", "exchange-wins", "newest-wins")
DEFAULT_CONFLICT_POLICY = "crm-wins"

T = TypeVar("T", bound="Record")


class Record:
    """Mixin: dict round-trip that keeps unknown keys."""

    def to_dict(self) -> dict[str, Any]:
        data = dict(getattr(self, "extra", {}) or {})
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.name != "extra":
                data[f.name] = getattr(self, f.name)
        return data

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        known = {k: v for k, v in data.items() if k in names and k != "extra"}
        obj = cls(**known)
        if "extra" in names:
            obj.extra = {k: v for k, v in data.items() if k not in names}  # type: ignore[attr-defined]
        return obj


@dataclass
class Account(Record):
    """Account-wide settings: module, seat pool, connection defaults, sync policy."""

    module_active: bool = False
    licences_total: int = 0
    # connection defaults
    discovery: str = "autodiscover"
    auth: str = "direct"
    transport: str = "ews"  # the mailbox transport users get unless their profile names one
    ews_url: str | None = None
    autodiscover_url: str | None = None
    ca_bundle: str | None = None
    #: Settings strategies declare (``wess_core.strategies.Setting``), per strategy name:
    #: ``{"oauth": {"tenant": "...", "client_id": "..."}}``; secret ones are not here.
    strategy_settings: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The secret ones, same shape, every value an encrypted token (never clear text).
    strategy_secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    # policy and service settings (``wess config``)
    settings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Account:
        """Also reads the account files written before strategy settings existed."""
        return super().from_dict(migrate_legacy(data))


@dataclass
class UserProfile(Record):
    """One CRM user and their Exchange sync preferences."""

    login: str
    email: str
    state: str = "active"
    pending_email: str | None = None
    licence_allocated: bool = False
    sync_enabled: bool = False
    database: str = "main"
    crm_backend: str = "local"
    exchange_email: str | None = None
    exchange_username: str | None = None
    password: str | None = None  # encrypted token, never clear text
    auth: str | None = None  # None: the account's default
    discovery: str | None = None  # None: the account's default
    transport: str | None = None  # None: the account's default
    ews_url: str | None = None  # per-user "Connection" override
    discovered_ews_url: str | None = None  # cache filled by discovery
    paused_reason: str | None = None  # credential problem: scheduler skips until fixed
    web_password_hash: str | None = None  # argon2 hash of the web login password
    created: str | None = None
    #: Provenance: connection fields (``exchange_email``, ``ews_url``) the user set
    #: themselves and no admin has set since. Service credentials are never used with
    #: them (``wess_core.connection.require_trusted``). Profiles written before this
    #: field existed have none: their values were set by an admin, or before the rule.
    user_set_fields: list[str] = field(default_factory=list)
    #: Per-user strategy settings, as on the account (they override the account's).
    strategy_settings: dict[str, dict[str, str]] = field(default_factory=dict)
    strategy_secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_exchange_email(self) -> str:
        return self.exchange_email or self.email


#: Account fields of WESS before strategy settings: field -> (strategy, setting, secret).
LEGACY_FIELDS = {
    "impersonation_user": ("impersonation", "user", False),
    "impersonation_password": ("impersonation", "password", True),
    "oauth_tenant": ("oauth", "tenant", False),
    "oauth_client_id": ("oauth", "client_id", False),
    "oauth_client_secret": ("oauth", "client_secret", True),
    "oauth_authority": ("oauth", "authority", False),
}


def migrate_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """An account dict with the old hard-wired fields moved into the strategy maps (a
    value already in the maps wins); the next write stores only the new shape."""
    if not any(name in data for name in LEGACY_FIELDS):
        return data
    out = dict(data)
    plain = {k: dict(v) for k, v in (out.get("strategy_settings") or {}).items()}
    secret = {k: dict(v) for k, v in (out.get("strategy_secrets") or {}).items()}
    for name, (strategy, key, is_secret) in LEGACY_FIELDS.items():
        value = out.pop(name, None)
        if value:
            (secret if is_secret else plain).setdefault(strategy, {}).setdefault(key, value)
    out["strategy_settings"] = plain
    out["strategy_secrets"] = secret
    return out


#: Fields holding encrypted tokens (``strategy_secrets``: a map of maps of tokens).
SECRET_FIELDS_ACCOUNT = ("strategy_secrets",)
SECRET_FIELDS_USER = ("password", "strategy_secrets")
REDACTED = "<encrypted>"


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return REDACTED if value else None


def redact(data: dict[str, Any], secret_fields: tuple[str, ...]) -> dict[str, Any]:
    """A copy fit for display or ``--json``: secrets shown only as set or not set."""
    out = dict(data)
    for name in secret_fields:
        if name in out:
            out[name] = _redacted(out[name])
    out.pop("extra", None)
    return out
