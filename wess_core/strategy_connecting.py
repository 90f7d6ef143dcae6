"""What connecting strategies declare and produce: settings, credentials, storage, and the
auth and discovery method interfaces.

Part of the plugin contract (``wess_core.strategies`` re-exports every name; import them
from there). An auth method turns its settings into a transport-neutral ``Credential``;
each transport turns that into its own login (EWS: exchangelib credentials; a Graph
transport: a bearer token for its scope).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "AccessToken",
    "AuthMethod",
    "BearerToken",
    "Credential",
    "DiscoveryMethod",
    "PluginStorage",
    "ServiceAccount",
    "Setting",
    "TokenProvider",
    "UserPassword",
    "settings_of",
]


# -- connecting: auth and discovery methods ----------------------------------------


@dataclass(frozen=True)
class Setting:
    """One setting an auth, discovery or transport strategy declares (``settings``).

    The core stores it per strategy on the account (``wess connection set --option
    KEY=VALUE``) or a user's profile (``wess users set LOGIN --option ...``), encrypts a
    ``secret`` one (given only through ``--secret-stdin KEY``, never on argv) and hands the
    strategy the merged values as ``connection.settings[name]`` (secrets decrypted).
    ``validate(value)`` returns the value to store or raises ``ValueError`` /
    ``wess_core.errors.ValidationError`` with a one-line reason. ``help`` is listed by
    ``wess plugins --json``."""

    name: str
    secret: bool = False
    help: str = ""
    validate: Callable[[str], str] | None = None
    required: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "secret": self.secret,
            "help": self.help,
            "required": self.required,
        }


def settings_of(strategy: Any) -> tuple[Setting, ...]:
    """The settings a strategy declares (none when it declares no ``settings``)."""
    return tuple(getattr(strategy, "settings", None) or ())


# -- credentials: what an auth method produces, what a transport consumes ------------


@dataclass(frozen=True)
class AccessToken:
    """A bearer token as a token provider hands it out (never logged, never in ``repr``)."""

    value: str = field(repr=False)
    #: Seconds the token stays valid, as the issuer said.
    expires_in: int = 3600
    token_type: str = "Bearer"


@runtime_checkable
class TokenProvider(Protocol):
    """Gives a fresh access token for a resource; a transport asks it, the auth method
    owns it (MSAL client credentials for ``oauth``).

    ``scope`` is the transport's resource (EWS: ``https://outlook.office365.com/.default``;
    Microsoft Graph: ``https://graph.microsoft.com/.default``). ``fresh=True`` skips any
    cache: a transport asks once more with it after the server refused a token (HTTP 401)
    and gives up if that one is refused too. Raise
    ``wess_core.errors.CredentialsRejected`` with a readable reason when no token comes."""

    def token(self, scope: str, *, fresh: bool = False) -> AccessToken: ...


@dataclass(frozen=True, kw_only=True)
class Credential:
    """What an auth method produces for one mailbox: transport-neutral, each transport
    turns it into its own (the EWS transport into exchangelib credentials and an access
    type; a Graph transport into an ``Authorization: Bearer`` header).

    ``principal`` names who logs in, for messages (never a secret)."""

    principal: str

    @property
    def uses_service_credentials(self) -> bool:
        """Whether the credential reaches other users' mailboxes (see ``AuthMethod``)."""
        return True


@dataclass(frozen=True, kw_only=True)
class UserPassword(Credential):
    """The mailbox's own user logs in (delegate access) with a username and password.

    ``scheme``: ``"basic"`` insists on HTTP Basic (app passwords); ``None`` lets the
    transport take what the server offers (NTLM, Basic)."""

    username: str
    password: str = field(repr=False)
    scheme: str | None = None

    @property
    def uses_service_credentials(self) -> bool:
        return False


@dataclass(frozen=True, kw_only=True)
class ServiceAccount(Credential):
    """A service account logs in with a username and password and acts for the mailbox
    ``acts_for`` (EWS: the ExchangeImpersonation header)."""

    username: str
    password: str = field(repr=False)
    acts_for: str


@dataclass(frozen=True, kw_only=True)
class BearerToken(Credential):
    """An app-only token from ``provider`` (OAuth client credentials), acting for the
    mailbox ``acts_for``. The transport asks the provider for a token for its own scope
    each time it needs one, so the provider's cache decides when a request is made."""

    provider: TokenProvider = field(repr=False)
    acts_for: str


# -- storage the core keeps for a strategy --------------------------------------------


@runtime_checkable
class PluginStorage(Protocol):
    """Small values a strategy keeps between runs (a token cache), kept by the core.

    ``connection.storage(plugin, per_user=False)`` gives one bound to the plugin's name
    and to the account (or, with ``per_user=True``, to the connection's user). A value
    set with ``secret=True`` is encrypted with the home's key (and re-encrypted by ``wess
    keys rotate``); a secret the keys cannot open any more reads as missing. Values are
    bytes (``json.dumps(...).encode()`` for JSON). A plugin never opens the core's files
    itself: the backend behind this interface may change (a SQL table)."""

    def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or ``None``."""
        ...

    def set(self, key: str, value: bytes, *, secret: bool = False) -> None:
        """Store ``value`` under ``key`` (atomically; the last writer wins)."""
        ...

    def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens when it is not stored)."""
        ...


@runtime_checkable
class AuthMethod(Protocol):
    """How a mailbox is logged into; registered through ``wess_register_auth_methods``.

    ``connection`` is a ``wess_core.connection.Connection``: the user's effective settings
    with their secrets decrypted (never log them). An auth method knows nothing of the
    transport: ``credential(connection)`` returns a ``Credential`` (``UserPassword``,
    ``ServiceAccount``, ``BearerToken``) and the user's transport turns it into its own
    login. The built-in methods are ``direct``, ``impersonation``, ``app_password`` and
    ``oauth``.

    Declare ``uses_service_credentials`` (a class attribute): ``True`` when the method
    logs in with credentials that reach other users' mailboxes (an impersonation service
    account, an app-only OAuth token), ``False`` when it uses the user's own (``direct``,
    ``app_password``: Exchange itself keeps them to the user's mailbox). The core
    enforces the policy: under service credentials a user may not set their own Exchange
    e-mail or EWS URL, and service credentials are never used with such a value that no
    admin approved. A method that does not declare it is treated as ``True``. Not part of
    the protocol check, so existing plugins keep loading.

    Declare ``settings`` (a tuple of ``Setting``, also on discovery methods and transport
    factories) for what the method needs configured: the core stores and encrypts them and
    the method reads ``connection.settings[name]``. ``principal_setting`` names the one
    that says who logs in (the scheduler's per-principal connection cap).

    Optional wording a transport uses when the server refuses (the method knows how its
    settings are fixed): ``unauthorized_reason(connection) -> str`` (the login was
    refused, HTTP 401) and ``access_denied_reason(connection, credential) -> str`` (the
    login worked, the mailbox was refused).
    """

    def validate(self, connection: Any) -> None:
        """Check the settings this method needs, without any network call; raise
        ``wess_core.errors.UsageError`` naming the command that fixes what is missing."""
        ...

    def credential(self, connection: Any) -> Credential:
        """The credential for ``connection``'s mailbox (validated first; no network call:
        a ``BearerToken``'s provider fetches its token when the transport asks)."""
        ...


@runtime_checkable
class DiscoveryMethod(Protocol):
    """How a user's EWS URL is found; registered through
    ``wess_register_discovery_methods``."""

    def discover(self, connection: Any) -> str:
        """The EWS URL for ``connection.exchange_email``; raise
        ``wess_core.errors.DiscoveryError(code, message)`` with the name users look up
        (AutoDiscoverFailed, Unauthorized, ErrorNonExistentMailbox) and what to do next."""
        ...
