"""Auth method ``oauth``: an Azure AD app (client credentials) reaches every mailbox.

Exchange Online needs OAuth. The account holds the app registration (``wess connection
set --oauth-tenant T --oauth-client-id C --client-secret-stdin``); MSAL gets an app-only
token (``https://outlook.office365.com/.default``, the app needs ``full_access_as_app``)
and exchangelib opens each user's mailbox with it plus the ExchangeImpersonation header.

The token cache lives in the WESS home as the store file ``oauth_cache``, encrypted with
the home's key, so a token is reused across runs until it expires and never lies on disk
in clear. The authority is ``https://login.microsoftonline.com/{tenant}`` unless the
account sets the ``authority`` setting (a sovereign cloud, or the emulator's loopback token
endpoint in tests); authority validation and instance discovery are turned off only for
such an explicitly configured authority.
"""

from __future__ import annotations

import threading

from wess_core import hookimpl, validation
from wess_core.errors import CredentialsRejected, UsageError
from wess_core.secrets import register_encrypted_store
from wess_core.strategies import Setting

SCOPE = "https://outlook.office365.com/.default"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com/{tenant}"
CACHE_STORE = "oauth_cache"
_lock = threading.Lock()
register_encrypted_store(CACHE_STORE, "cache", ("blob",))  # 'wess keys rotate' includes it


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

    def access_token(self, connection) -> dict:
        """An app-only access token from MSAL (its cache first), as exchangelib wants it."""
        import msal

        from wess_plugins.transport_ews.connect import scrub_library_logs

        self.validate(connection)
        scrub_library_logs()
        from wess_core import http

        custom = bool(connection.settings.get("authority"))
        authority = self.authority(connection)
        # A configured authority is the account's own (tests: the emulator), so the
        # account's CA applies to it; login.microsoftonline.com keeps the system store.
        http.trust(authority, connection.ca_bundle if custom else None)
        with _lock:
            cache = msal.SerializableTokenCache()
            key = self._cache_key(connection)
            blob = _load_cache(connection, key)
            if blob:
                cache.deserialize(blob)
            try:
                app = msal.ConfidentialClientApplication(
                    connection.settings.get("client_id"),
                    client_credential=connection.settings.get("client_secret"),
                    authority=authority,
                    validate_authority=not custom,
                    instance_discovery=False if custom else None,
                    token_cache=cache,
                    http_client=http.session(),
                )
                result = app.acquire_token_for_client(scopes=[SCOPE])
            except ValueError as exc:  # MSAL: authority unreachable or malformed
                raise CredentialsRejected(
                    f"cannot reach the OAuth authority {self.authority(connection)} "
                    f"({type(exc).__name__}); check --oauth-authority / --oauth-tenant"
                ) from None
            except Exception as exc:  # requests errors: unreachable, TLS
                from wess_plugins.transport_ews.connect import TLS_HINT, _is_tls_failure

                if _is_tls_failure(exc):
                    raise CredentialsRejected(TLS_HINT) from None
                raise CredentialsRejected(
                    f"cannot reach the OAuth authority {self.authority(connection)} "
                    f"({type(exc).__name__})"
                ) from None
            if cache.has_state_changed:
                _save_cache(connection, key, cache.serialize())
        if "access_token" not in result:
            raise CredentialsRejected(self._token_error(connection, result))
        return {
            "access_token": result["access_token"],
            "token_type": result.get("token_type", "Bearer"),
            "expires_in": result.get("expires_in", 3600),
        }

    def _token_error(self, connection, result: dict) -> str:
        code = result.get("error", "error")
        desc = (result.get("error_description") or "").splitlines()[0][:200]
        if code == "invalid_client":
            return (
                f"the OAuth authority refused the client secret of app "
                f"{connection.settings.get('client_id')} (invalid_client: {desc}); set the "
                "current secret with: wess connection set --client-secret-stdin"
            )
        return f"no OAuth token for app {connection.settings.get('client_id')} ({code}: {desc})"

    def _cache_key(self, connection) -> str:
        return f"{self.authority(connection)}|{connection.settings.get('client_id')}"

    def ews_login(self, connection):
        from exchangelib import OAuth2AuthorizationCodeCredentials

        from wess_plugins.transport_ews.connect import IMPERSONATION, OAUTH2, EwsLogin

        auth = self

        class _MsalCredentials(OAuth2AuthorizationCodeCredentials):
            """A pre-acquired token; on expiry exchangelib calls refresh(), which asks MSAL."""

            def refresh(self, session):  # exchangelib's documented override point
                self.access_token = auth.access_token(connection)

        token = self.access_token(connection)
        from oauthlib.oauth2 import OAuth2Token

        credentials = _MsalCredentials(access_token=OAuth2Token(token))
        return EwsLogin(
            credentials=credentials,
            access_type=IMPERSONATION,
            auth_type=OAUTH2,
            principal=f"the OAuth app {connection.settings.get('client_id')}",
        )

    def unauthorized_reason(self, connection) -> str:
        return (
            "Exchange refused the OAuth access token of app "
            f"{connection.settings.get('client_id')} "
            "(HTTP 401: expired, revoked or without the full_access_as_app permission); "
            "check the app registration's API permissions and admin consent"
        )

    def impersonation_denied_reason(self, connection, login) -> str:
        return (
            f"the OAuth app {connection.settings.get('client_id')} may not open the mailbox "
            f"{connection.exchange_email} (ErrorImpersonateUserDenied): grant it "
            "full_access_as_app (or an application access policy that includes the mailbox)"
        )

    def test_connection(self, connection) -> None:
        from wess_plugins.transport_ews.connect import test_connection

        test_connection(connection, method=self)


def _load_cache(connection, key: str) -> str | None:
    if connection.home is None:
        return None
    from tinydb import Query

    from wess_core.secrets import SecretBox
    from wess_core.store import Store

    with Store(connection.home).read(CACHE_STORE) as db:
        row = db.table("cache").get(Query().key == key)
    if not row:
        return None
    try:
        return SecretBox.for_home(connection.home).decrypt(row["blob"])
    except Exception:  # a key rotated away: start with an empty cache
        return None


def _save_cache(connection, key: str, blob: str) -> None:
    if connection.home is None:
        return
    from tinydb import Query

    from wess_core.secrets import secret_writer
    from wess_core.store import Store

    # encrypted with the keys in force under the secrets lock: a concurrent
    # 'wess keys rotate' cannot leave it under a key it drops
    with secret_writer(connection.home) as box, Store(connection.home).write(CACHE_STORE) as db:
        db.table("cache").upsert({"key": key, "blob": box.encrypt(blob)}, Query().key == key)


@hookimpl
def wess_register_auth_methods(register):
    register("oauth", OAuthAuth())
