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
    impersonation_user: str | None = None
    impersonation_password: str | None = None  # encrypted token, never clear text
    oauth_tenant: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None  # encrypted token
    oauth_authority: str | None = None
    # policy and service settings (``wess config``)
    settings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


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
    created: str | None = None
    #: Provenance: connection fields (``exchange_email``, ``ews_url``) the user set
    #: themselves and no admin has set since. Service credentials are never used with
    #: them (``wess_core.connection.require_trusted``). Profiles written before this
    #: field existed have none: their values were set by an admin, or before the rule.
    user_set_fields: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_exchange_email(self) -> str:
        return self.exchange_email or self.email


SECRET_FIELDS_ACCOUNT = ("impersonation_password", "oauth_client_secret")
SECRET_FIELDS_USER = ("password",)
REDACTED = "<encrypted>"


def redact(data: dict[str, Any], secret_fields: tuple[str, ...]) -> dict[str, Any]:
    """A copy fit for display or ``--json``: secrets shown only as set or not set."""
    out = dict(data)
    for name in secret_fields:
        if name in out:
            out[name] = REDACTED if out[name] else None
    out.pop("extra", None)
    return out
