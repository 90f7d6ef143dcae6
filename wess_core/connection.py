"""A user's effective connection: account defaults plus the user's own overrides.

Resolved fresh for every operation (never cached across runs), so a changed URL
or password takes effect on the next sync. Secrets are decrypted only here, into
fields that are left out of ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from wess_core import plugins
from wess_core.errors import CredentialsRejected, UsageError, WessError
from wess_core.models import Account, UserProfile


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
    impersonation_user: str | None
    oauth_tenant: str | None
    oauth_client_id: str | None
    oauth_authority: str | None
    home: Path | None = None
    password: str | None = field(default=None, repr=False)
    impersonation_password: str | None = field(default=None, repr=False)
    oauth_client_secret: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str | None:
        """The EWS URL to use now: explicit first, then the one discovery cached."""
        return self.ews_url or self.discovered_ews_url

    def with_url(self, url: str) -> Connection:
        return replace(self, discovered_ews_url=url)


def resolve(
    account: Account, profile: UserProfile, decrypt=None, home: Path | None = None
) -> Connection:
    """Merge account defaults and the profile; ``decrypt`` turns stored tokens into secrets."""

    def clear(token: str | None) -> str | None:
        return decrypt(token) if (token and decrypt) else None

    return Connection(
        login=profile.login,
        exchange_email=profile.effective_exchange_email,
        username=profile.exchange_username,
        auth=profile.auth or account.auth,
        discovery=profile.discovery or ("manual" if profile.ews_url else account.discovery),
        ews_url=profile.ews_url or (account.ews_url if account.discovery == "manual" else None),
        discovered_ews_url=profile.discovered_ews_url,
        autodiscover_url=account.autodiscover_url,
        ca_bundle=account.ca_bundle,
        impersonation_user=account.impersonation_user,
        oauth_tenant=account.oauth_tenant,
        oauth_client_id=account.oauth_client_id,
        oauth_authority=account.oauth_authority,
        home=home,
        password=clear(profile.password),
        impersonation_password=clear(account.impersonation_password),
        oauth_client_secret=clear(account.oauth_client_secret),
    )


def discover_url(connection: Connection) -> str:
    """Run the connection's discovery method (raises DiscoveryError by name)."""
    method = plugins.discovery_methods().get(connection.discovery)
    return method.discover(connection)


def check(connection: Connection) -> str:
    """Test the connection as the credential check on save does; returns the EWS URL used.

    The auth method validates its settings first (no network), discovery finds the
    URL when none is known, then the auth method reads the target mailbox's inbox
    (``test_connection``). A URL cached by an earlier discovery that no longer answers
    (``exc.rediscover``) is discovered once more and tried again.
    """
    auth = plugins.auth_methods().get(connection.auth)
    auth.validate(connection)
    url = connection.url or discover_url(connection)
    try:
        auth.test_connection(connection.with_url(url))
    except CredentialsRejected as exc:
        if not getattr(exc, "rediscover", False) or connection.ews_url:
            raise
        if not connection.discovered_ews_url:
            raise
        fresh = discover_url(connection)
        if fresh == url:
            raise
        url = fresh
        auth.test_connection(connection.with_url(url))
    return url


def _verify(connection: Connection, account: Account) -> str | None:
    from wess_core import deadlines

    try:
        with deadlines.account_scope(account):
            url = check(connection)
    except (CredentialsRejected, UsageError):
        raise
    except WessError as exc:
        raise CredentialsRejected(str(exc)) from None
    return None if connection.ews_url else url


def verify_user_connection(ctx, profile: UserProfile) -> str | None:
    """Credential check on save for a candidate profile; returns a newly discovered URL."""
    from wess_core.service.accounts import load_account

    account = load_account(ctx)
    return _verify(resolve(account, profile, ctx.secrets.decrypt, ctx.home), account)


def verify_account_connection(ctx, account: Account) -> str | None:
    """Credential check on save for candidate account settings, with the first user whose
    settings are complete (sync-enabled users first). Returns that user's login, or None
    when nobody can be checked yet (e.g. no user has a password, no service account):
    the settings are then saved unchecked, and ``wess test-connection`` checks them later."""
    from wess_core.service.users import list_profiles

    profiles = list_profiles(ctx)
    profiles.sort(key=lambda p: not p.sync_enabled)
    for profile in profiles:
        connection = resolve(account, profile, ctx.secrets.decrypt, ctx.home)
        try:
            plugins.auth_methods().get(connection.auth).validate(connection)
        except UsageError:
            continue  # this user's own settings are incomplete: try the next one
        _verify(connection, account)
        return profile.login
    return None
