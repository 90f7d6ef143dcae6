"""Auth method ``oauth``: an Azure AD app (client credentials) reaches every mailbox.

Exchange Online needs OAuth. The account holds the app registration (``wess connection
set --oauth-tenant T --oauth-client-id C --client-secret-stdin``); MSAL gets an app-only
token for the scope the transport asks (EWS: ``https://outlook.office365.com/.default``,
the app needs ``full_access_as_app``; Graph: ``https://graph.microsoft.com/.default``): the
method hands the transport a ``BearerToken`` whose provider is :class:`MsalTokens`, and
the EWS transport opens each user's mailbox with it plus the ExchangeImpersonation header.

MSAL's token cache is kept in the core's plugin storage (``connection.storage("oauth")``),
as a secret encrypted with the home's key, so a token is reused across runs until it
expires and never lies on disk in clear. The authority is
``https://login.microsoftonline.com/{tenant}`` unless the account sets the ``authority``
setting (a sovereign cloud, or the emulator's loopback token endpoint in tests); authority
validation and instance discovery are turned off only for such an explicitly configured
authority.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from wess_core import hookimpl, validation
from wess_core.errors import CredentialsRejected, UsageError
from wess_core.library_logs import TLS_HINT, is_tls_failure, scrub_library_logs
from wess_core.strategies import AccessToken, BearerToken, Setting

DEFAULT_AUTHORITY = "https://login.microsoftonline.com/{tenant}"
#: The plugin storage name of MSAL's token cache.
STORAGE = "oauth"
#: The store file of token caches written before the plugin storage (removed on save).
LEGACY_CACHE_STORE = "oauth_cache"
_lock = threading.Lock()


def _text(what: str):
    def check(value: str) -> str:
        return validation.plain_text(value, what)

    return check


class OAuthAuth:
    """App-only OAuth 2.0 (MSAL client credentials) with impersonation of the mailbox."""

    name = "oauth"
    #: The app-only token opens every mailbox: used only with addresses and URLs an
    #: admin set (the core enforces it).
    uses_service_credentials = True
    #: The app registration (old flags: --oauth-tenant, --oauth-client-id,
    #: --client-secret-stdin, --oauth-authority).
    settings = (
        Setting(
            "tenant",
            help="Azure AD tenant id or domain",
            validate=_text("OAuth tenant"),
            required=True,
        ),
        Setting(
            "client_id",
            help="the app registration's client id",
            validate=_text("OAuth client id"),
            required=True,
        ),
        Setting("client_secret", secret=True, help="the app's client secret", required=True),
        Setting(
            "authority",
            help="authority URL (default: https://login.microsoftonline.com/TENANT)",
            validate=_text("OAuth authority"),
        ),
    )
    principal_setting = "client_id"

    def validate(self, connection) -> None:
        missing = [
            flag
            for flag, value in (
                ("--oauth-tenant T", connection.settings.get("tenant")),
                ("--oauth-client-id C", connection.settings.get("client_id")),
                ("--client-secret-stdin", connection.settings.get("client_secret")),
            )
            if not value
        ]
        if missing:
            raise UsageError(
                "OAuth is not configured for this account; set it with: wess connection set "
                + " ".join(missing)
            )

    def authority(self, connection) -> str:
        return connection.settings.get("authority") or DEFAULT_AUTHORITY.format(
            tenant=connection.settings.get("tenant")
        )

    def credential(self, connection) -> BearerToken:
        """An app-only token provider, acting for the user's Exchange e-mail."""
        self.validate(connection)
        return BearerToken(
            principal=f"the OAuth app {connection.settings.get('client_id')}",
            provider=MsalTokens(self, connection),
            acts_for=connection.exchange_email,
        )

    def token_error(self, connection, result: dict) -> str:
        code = result.get("error", "error")
        desc = (result.get("error_description") or "").splitlines()[0][:200]
        if code == "invalid_client":
            return (
                f"the OAuth authority refused the client secret of app "
                f"{connection.settings.get('client_id')} (invalid_client: {desc}); set the "
                "current secret with: wess connection set --client-secret-stdin"
            )
        return f"no OAuth token for app {connection.settings.get('client_id')} ({code}: {desc})"

    def cache_key(self, connection) -> str:
        return f"{self.authority(connection)}|{connection.settings.get('client_id')}"

    def unauthorized_reason(self, connection) -> str:
        return (
            "Exchange refused the OAuth access token of app "
            f"{connection.settings.get('client_id')} "
            "(HTTP 401: expired, revoked or without the application permissions its "
            "transport needs: full_access_as_app for EWS; Contacts.ReadWrite, "
            "Tasks.ReadWrite.All, Calendars.ReadWrite and Mail.Read for Microsoft Graph); "
            "check the app registration's API permissions and admin consent"
        )

    def access_denied_reason(self, connection, credential) -> str:
        return (
            f"the OAuth app {connection.settings.get('client_id')} may not open the mailbox "
            f"{connection.exchange_email} (ErrorImpersonateUserDenied): grant it "
            "full_access_as_app (or an application access policy that includes the mailbox)"
        )


class MsalTokens:
    """The ``oauth`` method's ``TokenProvider``: MSAL client credentials for one app,
    with MSAL's cache kept (encrypted) in the core's plugin storage."""

    def __init__(self, method: OAuthAuth, connection) -> None:
        self.method = method
        self.connection = connection

    def _identity(self) -> tuple:
        settings = self.connection.settings
        return (
            self.method.cache_key(self.connection),
            settings.get("client_secret"),
            self.connection.home,
        )

    # Equal for the same app, secret and home (whichever user it was made for): the EWS
    # transport then shares one session pool between the users of one app, as before.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, MsalTokens) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def token(self, scope: str, *, fresh: bool = False) -> AccessToken:
        """An app-only access token for ``scope`` (MSAL's cache first unless ``fresh``)."""
        connection, method = self.connection, self.method
        method.validate(connection)
        scrub_library_logs()
        from wess_core import http

        custom = bool(connection.settings.get("authority"))
        authority = method.authority(connection)
        # A configured authority is the account's own (tests: the emulator), so the
        # account's CA applies to it; login.microsoftonline.com keeps the system store.
        http.trust(authority, connection.ca_bundle if custom else None)
        storage = connection.storage(STORAGE)
        key = method.cache_key(connection)
        with _lock:
            try:
                app, cache = _msal_app(connection, authority, custom)
                blob = None if fresh else storage.get(key)  # fresh: MSAL refuses force_refresh
                cache.deserialize(blob.decode("utf-8") if blob else None)  # the stored one
                result = app.acquire_token_for_client(scopes=[scope])
            except ValueError as exc:  # MSAL: authority unreachable or malformed
                raise CredentialsRejected(
                    f"cannot reach the OAuth authority {authority} "
                    f"({type(exc).__name__}); check --oauth-authority / --oauth-tenant"
                ) from None
            except Exception as exc:  # requests errors: unreachable, TLS
                if is_tls_failure(exc):
                    raise CredentialsRejected(TLS_HINT) from None
                raise CredentialsRejected(
                    f"cannot reach the OAuth authority {authority} ({type(exc).__name__})"
                ) from None
            if cache.has_state_changed:
                storage.set(key, cache.serialize().encode("utf-8"), secret=True)
                _drop_legacy_cache(connection)
        if "access_token" not in result:
            raise CredentialsRejected(method.token_error(connection, result))
        return AccessToken(
            value=result["access_token"],
            token_type=result.get("token_type", "Bearer"),
            expires_in=int(result.get("expires_in", 3600)),
        )


#: MSAL apps by (authority, client id, secret, home), most recent last: an app asks the
#: authority for its metadata once and keeps its HTTPS connections, so a run over many
#: users (or a scheduler's every round) does not pay both per token. Bounded: tests and
#: long-running schedulers see few apps, never many.
_APPS: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
_APPS_KEPT = 16


def _msal_app(connection, authority: str, custom: bool) -> tuple[Any, Any]:
    """The app (and its token cache) for this connection's app registration; call under
    ``_lock``. The cache's content is replaced from storage before each use."""
    import msal

    from wess_core import http

    settings = connection.settings
    ident = (
        authority,
        settings.get("client_id"),
        settings.get("client_secret"),
        str(connection.home),
    )
    found = _APPS.get(ident)
    if found is not None:
        _APPS.move_to_end(ident)
        return found
    cache = msal.SerializableTokenCache()
    app = msal.ConfidentialClientApplication(
        settings.get("client_id"),
        client_credential=settings.get("client_secret"),
        authority=authority,
        validate_authority=not custom,
        instance_discovery=False if custom else None,
        token_cache=cache,
        http_client=http.session(),
    )
    _APPS[ident] = (app, cache)
    while len(_APPS) > _APPS_KEPT:
        _APPS.popitem(last=False)
    return app, cache


def _drop_legacy_cache(connection) -> None:
    """Remove the token cache file older versions kept beside the plugin storage."""
    if connection.home is None:
        return
    from wess_core.store import Store

    store = Store(connection.home)
    if store.exists(LEGACY_CACHE_STORE):
        store.remove(LEGACY_CACHE_STORE)


@hookimpl
def wess_register_auth_methods(register):
    register("oauth", OAuthAuth())
