"""Reaching one user's mailbox over EWS: the exchangelib login made from an auth
method's ``Credential``, the exchangelib ``Account`` opened with it, and the connection
test behind the credential check on save.

Auth methods are transport-neutral (``wess_core.strategies.Credential``): this module
turns a ``UserPassword`` into delegate access, a ``ServiceAccount`` into impersonation
with its password, a ``BearerToken`` into OAuth 2.0 with impersonation, asking the
token provider for the EWS scope. The EWS transport calls :func:`open_account` for its
data; the core's credential check (``wess_core.connection.check``) calls the transport's
``check``, which is :func:`test_connection` here.

Nothing is cached between calls that could outlive a changed setting: every call
resolves the URL, the credentials and the CA from the connection it is given.
exchangelib shares one ``Protocol`` (session pool) per (EWS URL, credentials), so a
new URL or password always gets a new one; a cached *failure* for a URL is dropped
before each use, so a server that comes back is tried again. The pool holds up to
``throttle_cap`` connections: under impersonation every user of a worker process
shares the service account's one Protocol, and exchangelib's default pool of one
would let a process have a single request in flight whatever its worker threads.

Secrets: passwords and tokens live only in exchangelib credential objects and in the
``Connection`` (repr-free fields); library logs are scrubbed
(``wess_core.library_logs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    UTC,
    Account,
    Configuration,
    FailFast,
    OAuth2AuthorizationCodeCredentials,
)
from exchangelib import errors as ews_errors
from exchangelib.protocol import Protocol, RetryPolicy
from oauthlib.oauth2 import OAuth2Token

from wess_core import deadlines, endpoints
from wess_core.errors import (
    ConnectionFailed,
    CredentialsRejected,
    EndpointFailed,
    UsageError,
    find_cause,
)
from wess_core.library_logs import TLS_HINT, is_tls_failure, scrub_library_logs
from wess_core.strategies import BearerToken, Credential, ServiceAccount, UserPassword
from wess_plugins.transport_ews import adapter
from wess_plugins.transport_ews.patches import forget_cached_failure

__all__ = [
    "BASIC",
    "DELEGATE",
    "EWS_SCOPE",
    "IMPERSONATION",
    "NTLM",
    "OAUTH2",
    "EndpointUnreachable",
    "EndpointUntrusted",
    "EwsLogin",
    "ExchangeCutOff",
    "describe_failure",
    "ews_login",
    "open_account",
    "prepare_endpoint",
    "scrub_library_logs",
    "test_connection",
]

#: The token scope of Exchange Online's EWS (the ``ews`` transport's ``token_scope``
#: setting changes it, e.g. for a sovereign cloud).
EWS_SCOPE = "https://outlook.office365.com/.default"


class EndpointUnreachable(EndpointFailed):
    """The EWS URL did not answer as an EWS endpoint (refused, timed out, HTTP 404).

    Discovery caches the URL it finds; this failure (and only this one) is the signal
    to discover it again.
    """

    rediscover = True


class EndpointUntrusted(EndpointFailed):
    """The EWS URL answered without TLS or with a certificate the account does not trust."""


class ExchangeCutOff(EndpointUnreachable):
    """A request cut by WESS: no complete answer within the deadline, an answer over the
    size cap, or the service stopping. Its line is the reason alone (nothing was
    rejected); a fresh discovery may help unless the whole run is over."""

    def __init__(self, cut: Exception) -> None:
        self.reason = str(cut)
        self.rediscover = not getattr(cut, "run_level", False)
        ConnectionFailed.__init__(self, self.reason)


@dataclass
class EwsLogin:
    """What exchangelib gets for one mailbox, made from a ``Credential``.

    ``credentials``: an exchangelib credentials object; ``access_type``: ``DELEGATE``
    (the credentials own the mailbox) or ``IMPERSONATION`` (a service account or app
    acts as the mailbox's user through the ExchangeImpersonation header);
    ``auth_type``: ``BASIC``, ``NTLM`` or ``OAUTH2`` (``None``: let exchangelib read it
    from the server's WWW-Authenticate header). ``principal`` names who logs in, for
    messages (never a secret).
    """

    credentials: Any = field(repr=False)
    access_type: str
    auth_type: str | None
    principal: str
    #: The credential it was made from (a token credential can be asked again).
    source: Credential | None = field(default=None, repr=False)


def token_scope(connection) -> str:
    """The scope the EWS transport asks a token provider for."""
    return (getattr(connection, "settings", None) or {}).get("token_scope") or EWS_SCOPE


def ews_login(credential: Credential, connection, *, fresh: bool = False) -> EwsLogin:
    """The exchangelib login for a transport-neutral credential.

    A ``BearerToken``'s provider is asked for a token now (``fresh``: past its cache,
    after Exchange refused the cached one); when exchangelib finds the token expired it
    asks the provider again through :class:`_ProviderCredentials`."""
    if isinstance(credential, UserPassword | ServiceAccount):
        from exchangelib import Credentials

        own = isinstance(credential, UserPassword)  # a service account impersonates
        scheme = (credential.scheme or "").lower() if own else ""
        return EwsLogin(
            credentials=Credentials(credential.username, credential.password),
            access_type=DELEGATE if own else IMPERSONATION,
            auth_type=BASIC if scheme == "basic" else None,
            principal=credential.principal,
            source=credential,
        )
    if isinstance(credential, BearerToken):
        scope = token_scope(connection)
        credentials = _ProviderCredentials(credential.provider, scope, fresh=fresh)
        return EwsLogin(
            credentials=credentials,
            access_type=IMPERSONATION,
            auth_type=OAUTH2,
            principal=credential.principal,
            source=credential,
        )
    raise UsageError(
        f"the EWS transport cannot log in with a {type(credential).__name__} credential "
        f"(auth method {connection.auth}); choose another transport or auth method"
    )


class _ProviderCredentials(OAuth2AuthorizationCodeCredentials):
    """A token from a ``TokenProvider``; when exchangelib finds it expired it calls
    ``refresh()`` (its documented override point), which asks the provider again."""

    def __init__(self, provider: Any, scope: str, *, fresh: bool = False) -> None:
        super().__init__(access_token=_oauth_token(provider.token(scope, fresh=fresh)))
        self.provider, self.token_scope = provider, scope

    def refresh(self, session: Any) -> None:
        self.access_token = _oauth_token(self.provider.token(self.token_scope, fresh=True))


def _oauth_token(token: Any) -> OAuth2Token:
    """The provider's ``AccessToken`` as requests-oauthlib wants it."""
    return OAuth2Token(
        {
            "access_token": token.value,
            "token_type": token.token_type,
            "expires_in": token.expires_in,
        }
    )


def require(value: Any, message: str) -> None:
    """Raise a ``UsageError`` with ``message`` when a needed setting is missing."""
    if not value:
        raise UsageError(message)


# -- opening an account ---------------------------------------------------------


def open_account(
    connection,
    *,
    retry_policy: RetryPolicy | None = None,
    login: EwsLogin | None = None,
) -> Account:
    """An exchangelib ``Account`` for the connection's mailbox at ``connection.url``.

    ``retry_policy`` defaults to ``FailFast`` (a check should answer now; a sync may pass
    ``FaultTolerance`` to ride out throttling). ``autodiscover`` is always off: the URL
    comes from the connection (discovery is a separate, cached step).
    """
    url = connection.url
    if not url:
        raise UsageError(
            f"no EWS URL known for {connection.login}; run 'wess discover {connection.login}' "
            "or set one with 'wess connection set --ews-url URL'"
        )
    limits = endpoints.boundary(connection)
    reason = limits.refusal(url, "the EWS URL")
    if reason:
        raise endpoints.CredentialRefused(
            f"{reason}; find it again with 'wess discover {connection.login}' or set it by "
            "hand: wess connection set --ews-url https://HOST/EWS/Exchange.asmx"
        )
    login = login or ews_login(auth_method(connection).credential(connection), connection)
    prepare_endpoint(url, connection, limits)
    config = Configuration(
        service_endpoint=url,
        credentials=login.credentials,
        auth_type=login.auth_type,
        retry_policy=retry_policy or FailFast(),
        max_connections=connection.throttle_cap,
    )
    forget_cached_failure(config)
    account = Account(
        primary_smtp_address=connection.exchange_email,
        access_type=login.access_type,
        config=config,
        autodiscover=False,
        default_timezone=UTC,
    )
    # the Protocol is cached per (URL, credentials) with the pool size it was made
    # with: a changed throttle_cap resizes it here
    account.protocol.max_connections = connection.throttle_cap
    return account


def prepare_endpoint(url: str, connection, limits: endpoints.Boundary | None = None) -> None:
    """Before credentials go to ``url``: trust the account's CA for it when its host is
    inside the connection's trust boundary (the system store otherwise: the private CA
    never vouches for a host the account does not trust), and scrub library logs."""
    scrub_library_logs()
    limits = limits or endpoints.boundary(connection)
    inside = limits.allows_host(urlsplit(url).hostname or "")
    adapter.trust(url, connection.ca_bundle if inside else None)


def forget_protocol(account: Account) -> None:
    """Close and drop the account's cached Protocol (e.g. after its credentials failed)."""
    try:
        del Protocol[account.protocol.config]
    except KeyError:
        pass
    account.protocol.close()


def auth_method(connection) -> Any:
    from wess_core import plugins

    return plugins.auth_methods().get(connection.auth)


# -- the connection test --------------------------------------------------------


def test_connection(connection) -> None:
    """GetFolder on the mailbox's inbox (impersonated where configured): the ``ews``
    transport's ``check``.

    Raises ``CredentialsRejected`` with a readable reason (``EndpointUnreachable`` when
    the URL does not answer); never with a secret in it. A refused token is asked for
    once more past the provider's cache before the refusal counts.
    """
    method = auth_method(connection)
    method.validate(connection)
    credential = method.credential(connection)
    try:
        _read_inbox(connection, method, credential, fresh=False)
    except CredentialsRejected as exc:
        if not isinstance(credential, BearerToken) or not getattr(exc, "unauthorized", False):
            raise
        _read_inbox(connection, method, credential, fresh=True)


def _read_inbox(connection, method, credential: Credential, *, fresh: bool) -> None:
    from exchangelib.folders import Inbox, Root

    login = None
    account = None
    try:
        login = ews_login(credential, connection, fresh=fresh)
        account = open_account(connection, login=login)
        Inbox.get_distinguished(root=Root(account=account))
    except (CredentialsRejected, UsageError, endpoints.CredentialRefused):
        raise
    except Exception as exc:
        if account is not None and isinstance(exc, ews_errors.UnauthorizedError):
            forget_protocol(account)
        raise describe_failure(exc, connection, method, login) from None


def describe_failure(
    exc: BaseException, connection, method: Any = None, login: EwsLogin | None = None
) -> CredentialsRejected:
    """Turn an exchangelib / requests / oauthlib failure into ``CredentialsRejected``.

    Classified by exception class and, for an EWS answer, by its ResponseCode through
    ``response_codes`` (never by words in messages): only no answer at all, an answer
    that is not EWS, or a code meaning "served elsewhere" is an ``EndpointUnreachable``
    (which makes the caller discover the URL again); any other EWS answer is the
    server's refusal, with its code.
    """
    import requests
    from oauthlib.oauth2 import OAuth2Error

    from wess_plugins.transport_ews.response_codes import Consequence, code_of, consequence

    cut = deadlines.cut_in(exc)
    if cut is not None:
        return ExchangeCutOff(cut)
    url = connection.url
    email = connection.exchange_email
    code = code_of(exc)
    what = consequence(code) if code else None
    if isinstance(exc, ews_errors.UnauthorizedError) or isinstance(exc, OAuth2Error):
        refused = CredentialsRejected(
            _without_secrets(unauthorized_reason(method, connection), connection)
        )
        refused.unauthorized = True  # a token credential is asked once more, past its cache
        return refused
    elif isinstance(
        exc, ews_errors.ErrorImpersonateUserDenied | ews_errors.ErrorImpersonationDenied
    ):
        reason = access_denied_reason(method, connection, login)
    elif isinstance(exc, ews_errors.ErrorNonExistentMailbox):
        reason = (
            f"Exchange at {url} has no mailbox {email} (ErrorNonExistentMailbox): check the "
            f"Exchange e-mail (wess users set {connection.login} --exchange-email ADDRESS)"
        )
    elif isinstance(exc, ews_errors.ErrorAccessDenied):
        who = login.principal if login else "the account"
        reason = f"{who} has no access to the mailbox {email} (ErrorAccessDenied)"
    elif is_tls_failure(exc):
        return EndpointUntrusted(TLS_HINT)
    elif _caused_by(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return EndpointUnreachable(f"cannot reach Exchange at {url} ({_short(exc)})")
    elif isinstance(exc, ews_errors.RedirectError):
        return EndpointUnreachable(
            f"{url} redirects to {exc.url}; it is not an EWS endpoint (check the EWS URL)"
        )
    elif what is Consequence.REDISCOVER:
        return EndpointUnreachable(
            f"Exchange at {url} cannot serve the mailbox {email} now ({code}): its URL is "
            "discovered again"
        )
    elif code is not None:
        reason = f"Exchange answered {code}: {_short(exc)}"
    elif isinstance(exc, ews_errors.CASError):
        reason = f"Exchange answered {type(exc).__name__}: {_short(exc)}"
    elif isinstance(exc, ews_errors.TransportError):
        return EndpointUnreachable(f"{url} did not answer as an EWS endpoint ({_short(exc)})")
    else:
        reason = f"unexpected failure talking to {url} ({type(exc).__name__})"
    return CredentialsRejected(_without_secrets(reason, connection))


def unauthorized_reason(method: Any, connection) -> str:
    """Why Exchange answered 401, in the auth method's words when it has some."""
    own = getattr(method, "unauthorized_reason", None)
    if own is not None:
        return own(connection)
    who = connection.username or connection.exchange_email
    return (
        f"Exchange refused the login of {who} (HTTP 401): check the credentials of auth "
        f"method {connection.auth} (wess plugins --json lists its settings)"
    )


def access_denied_reason(method: Any, connection, login: EwsLogin | None) -> str:
    """Why Exchange refused to let the login open the mailbox, in the method's words."""
    source = login.source if login else None
    own = getattr(method, "access_denied_reason", None)
    if own is not None and source is not None:
        return own(connection, source)
    principal = login.principal if login else "the service account"
    return (
        f"{principal} may not impersonate the mailbox {connection.exchange_email} "
        "(ErrorImpersonateUserDenied)"
    )


def _caused_by(exc: BaseException | None, types: Any) -> bool:
    """``exc`` or an exception it was raised from is one of ``types`` (exchangelib
    re-raises connection failures as ErrorTimeoutExpired)."""
    return find_cause(exc, types) is not None


def _short(exc: BaseException) -> str:
    """The first line of an error, bounded; exchangelib appends whole responses."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "Connection refused" in str(exc):
        return "connection refused"
    if "timed out" in str(exc).lower() or isinstance(exc, ews_errors.ErrorTimeoutExpired):
        if "refused" not in str(exc):
            return "timed out" if "timed out" in str(exc).lower() else text[:200]
    return text[:200]


def _without_secrets(text: str, connection) -> str:
    secrets = getattr(connection, "secret_values", None)
    for secret in secrets if secrets is not None else (connection.password,):
        if not secret:
            continue
        text = text.replace(secret, "********")
    return text
