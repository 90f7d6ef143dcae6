"""A user's effective connection: account defaults plus the user's own overrides.

Resolved fresh for every operation (never cached across runs), so a changed URL
or password takes effect on the next sync. Secrets are decrypted only here, into
fields that are left out of ``repr``.

Trust: service credentials (an impersonation account, an OAuth app: auth methods that
declare ``uses_service_credentials``) reach every mailbox, so they are only ever used
with the mailbox address and URL an admin set or approved. The profile records which of
those fields the user set themselves (``UserProfile.user_set_fields``); every use of a
connection (the check on save, ``test-connection``, discovery, the sync) goes through
:func:`require_trusted` first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wess_core import endpoints, plugins, strategy_settings
from wess_core.account_settings import SETTINGS, setting_of
from wess_core.errors import (
    CredentialsRejected,
    DiscoveryError,
    EndpointFailed,
    PermissionDenied,
    UntrustedSetting,
    UsageError,
    WessError,
)
from wess_core.models import Account, UserProfile
from wess_core.strategies import PluginStorage

#: Connection fields a user may set on their own profile whose provenance is kept,
#: with the admin command's flag that sets (and so approves) each.
TRACKED_FIELDS = {"exchange_email": "--exchange-email", "ews_url": "--ews-url"}
FIELD_LABELS = {"exchange_email": "Exchange e-mail", "ews_url": "EWS URL"}


@dataclass(frozen=True)
class Connection:
    """Everything a transport needs to reach one user's mailbox."""

    login: str
    exchange_email: str
    username: str | None
    auth: str
    discovery: str
    ews_url: str | None  # explicit: the user's override, else the account's manual URL
    discovered_ews_url: str | None
    autodiscover_url: str | None
    ca_bundle: str | None
    home: Path | None = None
    #: The mailbox transport's registered name (``wess_register_transports``).
    transport: str = "ews"
    #: Every URL an admin configured for this user (the account's EWS and Autodiscover
    #: URLs, the user's own EWS URL), in force or not: their hosts are trusted.
    configured_urls: tuple[str, ...] = ()
    #: The ``autodiscover_allowed_domains`` setting (``None``: the default).
    allowed_domains: tuple[str, ...] | None = None
    #: Fields in force that the user set and no admin approved (see ``TRACKED_FIELDS``).
    user_set: tuple[str, ...] = ()
    #: The ``throttle_cap`` setting: requests a worker process may have in flight to
    #: one server (the scheduler never runs more users of one server at once).
    throttle_cap: int = SETTINGS["throttle_cap"].default
    password: str | None = field(default=None, repr=False)
    #: The settings the chosen auth, discovery and transport strategies declared
    #: (``wess_core.strategies.Setting``), the user's over the account's, the auth
    #: method's winning a name two share; secret ones decrypted. Never in ``repr``.
    settings: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: Which of ``settings`` are secrets (to keep them out of messages and logs).
    secret_settings: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret in this connection, for scrubbing messages."""
        found = [self.password, *(self.settings.get(k) for k in self.secret_settings)]
        return tuple(s for s in found if s)

    @property
    def url(self) -> str | None:
        """The EWS URL to use now: explicit first, then the one discovery cached."""
        return self.ews_url or self.discovered_ews_url

    def with_url(self, url: str) -> Connection:
        return replace(self, discovered_ews_url=url)

    def storage(self, plugin: str, *, per_user: bool = False) -> PluginStorage:
        """Where strategy ``plugin`` keeps values between runs (a token cache): the
        account's, or this user's with ``per_user`` (``strategies.PluginStorage``)."""
        from wess_core import plugin_storage

        return plugin_storage.for_connection(self.home, plugin, self.login if per_user else None)


def resolve(
    account: Account, profile: UserProfile, decrypt=None, home: Path | None = None
) -> Connection:
    """Merge account defaults and the profile; ``decrypt`` turns stored tokens into secrets."""

    def clear(token: str | None) -> str | None:
        return decrypt(token) if (token and decrypt) else None

    auth = profile.auth or account.auth
    discovery = profile.discovery or ("manual" if profile.ews_url else account.discovery)
    transport = profile.transport or account.transport
    settings, secret_settings = strategy_settings.merged(
        (account, profile), (transport, discovery, auth), decrypt
    )
    return Connection(
        login=profile.login,
        exchange_email=profile.effective_exchange_email,
        username=profile.exchange_username,
        auth=auth,
        discovery=discovery,
        transport=transport,
        ews_url=profile.ews_url or (account.ews_url if account.discovery == "manual" else None),
        discovered_ews_url=profile.discovered_ews_url,
        autodiscover_url=account.autodiscover_url,
        ca_bundle=account.ca_bundle,
        home=home,
        configured_urls=tuple(
            u for u in (account.ews_url, account.autodiscover_url, profile.ews_url) if u
        ),
        allowed_domains=tuple(account.settings.get(endpoints.SETTING) or ()) or None,
        user_set=tuple(
            name
            for name in TRACKED_FIELDS
            if name in (profile.user_set_fields or ()) and getattr(profile, name)
        ),
        throttle_cap=int(setting_of(account, "throttle_cap")),
        password=clear(profile.password),
        settings=settings,
        secret_settings=secret_settings,
    )


def uses_service_credentials(auth: str) -> bool:
    """Whether the auth method logs in with credentials that reach other users' mailboxes.

    Auth methods declare it (``uses_service_credentials``, see
    ``wess_core.strategies.AuthMethod``); one that does not say is treated as using
    service credentials, the safe side."""
    method = plugins.auth_methods().get(auth)
    return bool(getattr(method, "uses_service_credentials", True))


def untrusted_fields(connection: Connection) -> list[str]:
    """The user-set fields service credentials would be used with ([] = none)."""
    if not connection.user_set or not uses_service_credentials(connection.auth):
        return []
    return list(connection.user_set)


def require_trusted(connection: Connection) -> None:
    """Refuse (``UntrustedSetting``) to use service credentials with a user-set address or
    URL: an admin approves it by setting it (``wess users set LOGIN --exchange-email A``).

    Profiles stored before provenance was kept have no ``user_set_fields``: their values
    count as admin-set (they were, or were set before this rule existed)."""
    names = untrusted_fields(connection)
    if not names:
        return
    name = names[0]
    value = connection.exchange_email if name == "exchange_email" else connection.ews_url
    login = connection.login
    raise UntrustedSetting(
        f"the {FIELD_LABELS[name]} {value} of {login} was set by {login}, not by an admin; the "
        f"{connection.auth} service credentials are used only with addresses and URLs an "
        f"admin set: an admin approves it with: wess users set {login} "
        f"{TRACKED_FIELDS[name]} {value}"
    )


def user_url_failure(connection: Connection) -> EndpointFailed:
    """One message for every way a user-set URL can fail to answer (refused, timed out,
    no TLS, untrusted certificate, not EWS): telling them apart would turn the check into
    a port scanner for whoever may set the URL."""
    return EndpointFailed(
        f"the EWS URL {connection.ews_url} set by {connection.login} did not answer as a "
        "trusted Exchange server; check it (wess users set "
        f"{connection.login} --ews-url URL) or ask an admin"
    )


def discover_url(connection: Connection) -> str:
    """Run the connection's discovery method (raises DiscoveryError by name).

    Whatever the method, the URL it finds must be one the credentials may go to
    (``wess_core.endpoints``) before anyone caches or uses it."""
    require_trusted(connection)
    method = plugins.discovery_methods().get(connection.discovery)
    url = method.discover(connection)
    reason = endpoints.boundary(connection).refusal(url, "the EWS URL found")
    if reason:
        raise DiscoveryError("AutoDiscoverFailed", reason)
    return url


def check(connection: Connection) -> str | None:
    """Test the connection as the credential check on save does; returns the EWS URL used
    (``None`` for a transport that finds its mailbox without one).

    The auth method validates its settings first (no network); for a transport that
    needs the EWS URL, discovery finds it when none is known; then the user's transport
    checks the mailbox (its ``check``: the ``ews`` transport reads the inbox with the auth
    method's credential). A URL cached by an earlier discovery that no longer answers
    (``exc.rediscover``) is discovered once more and tried again.
    """
    require_trusted(connection)
    auth = plugins.auth_methods().get(connection.auth)
    auth.validate(connection)
    factory = plugins.transports().get(connection.transport)
    if not getattr(factory, "needs_ews_url", False):
        _test(factory, auth, connection)
        return None
    url = connection.url or discover_url(connection)
    try:
        _test(factory, auth, connection.with_url(url))
    except CredentialsRejected as exc:
        if not getattr(exc, "rediscover", False) or connection.ews_url:
            raise
        if not connection.discovered_ews_url:
            raise
        fresh = discover_url(connection)
        if fresh == url:
            raise
        url = fresh
        _test(factory, auth, connection.with_url(url))
    return url


def _test(factory: Any, auth: Any, connection: Connection) -> None:
    """The transport's check, with one message for any failure of a user-set URL.

    A transport without ``check`` is checked by building it; an auth method written
    before auth methods returned credentials (its own ``test_connection``, no
    ``credential``) keeps doing its own check."""
    try:
        legacy = getattr(auth, "test_connection", None)
        transport_check = getattr(factory, "check", None)
        if legacy is not None and not hasattr(auth, "credential"):
            legacy(connection)
        elif transport_check is not None:
            transport_check(connection)
        else:
            factory(connection)
    except EndpointFailed:
        if "ews_url" in connection.user_set:
            raise user_url_failure(connection) from None
        raise


def verify(connection: Connection) -> str | None:
    """The credential check on save: ``CredentialsRejected`` unless Exchange accepts the
    connection; a newly discovered URL (None when the URL is explicit). The caller holds
    the account's deadlines (``deadlines.account_scope``)."""
    try:
        url = check(connection)
    except (CredentialsRejected, UsageError, PermissionDenied):
        raise
    except WessError as exc:
        raise CredentialsRejected(str(exc)) from None
    return None if connection.ews_url else url


def checkable(
    account: Account, profiles: list[UserProfile], decrypt: Callable[[str], str], home: Path
) -> Connection | None:
    """The connection that checks candidate account settings: the first user's whose
    settings are complete (sync-enabled users first), or None when nobody can be checked
    yet (e.g. no user has a password, no service account): the settings are then saved
    unchecked, and ``wess test-connection`` checks them later."""
    for profile in sorted(profiles, key=lambda p: not p.sync_enabled):
        connection = resolve(account, profile, decrypt, home)
        try:
            plugins.auth_methods().get(connection.auth).validate(connection)
        except UsageError:
            continue  # this user's own settings are incomplete: try the next one
        if untrusted_fields(connection):
            continue  # never check service credentials against a user-set address or URL
        return connection
    return None
