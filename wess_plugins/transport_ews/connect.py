"""Reaching one user's mailbox over EWS: the login an auth method builds, the exchangelib
``Account`` opened from it, and the connection test behind the credential check on save.

The auth plugins (``wess_plugins.auth_*``) subclass :class:`EwsAuthMethod`; the EWS
transport calls :func:`open_account` for its data; the core's credential check
(``wess_core.connection.check``) calls ``auth_method.test_connection(connection)``,
which is :func:`test_connection` here.

Nothing is cached between calls that could outlive a changed setting: every call
resolves the URL, the credentials and the CA from the connection it is given.
exchangelib shares one ``Protocol`` (session pool) per (EWS URL, credentials), so a
new URL or password always gets a new one; a cached *failure* for a URL is dropped
before each use, so a server that comes back is tried again.

Secrets: passwords and tokens live only in exchangelib credential objects and in the
``Connection`` (repr-free fields). exchangelib and requests-oauthlib log request
headers and tokens at DEBUG; :func:`scrub_library_logs` installs a filter on those
loggers that blanks them, and WESS never turns that logging on itself.
"""

from __future__ import annotations

import logging
import re
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
)
from exchangelib import errors as ews_errors
from exchangelib.protocol import Protocol, RetryPolicy

from wess_core import deadlines, endpoints
from wess_core.errors import (
    ConnectionFailed,
    CredentialsRejected,
    EndpointFailed,
    UsageError,
    find_cause,
)
from wess_plugins.transport_ews import adapter
from wess_plugins.transport_ews.patches import forget_cached_failure

__all__ = [
    "BASIC",
    "DELEGATE",
    "IMPERSONATION",
    "NTLM",
    "OAUTH2",
    "EndpointUnreachable",
    "EndpointUntrusted",
    "EwsAuthMethod",
    "EwsLogin",
    "ExchangeCutOff",
    "describe_failure",
    "open_account",
    "scrub_library_logs",
    "test_connection",
]

TLS_HINT = (
    "the Exchange server's certificate is not trusted: set the CA with "
    "wess connection set --ca-bundle CA.pem"
)


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
    """What an auth method hands exchangelib for one mailbox.

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


class EwsAuthMethod:
    """Base of the built-in auth methods (``wess_core.strategies`` describes the protocol).

    Subclasses implement :meth:`validate` and :meth:`ews_login`, and may override the
    messages for the failures users meet most: a refused login (HTTP 401) and a refused
    impersonation.
    """

    #: Registered name, used in messages.
    name = "ews"
    #: Whether the credentials reach other users' mailboxes (a service account, an app).
    #: ``False`` only for the user's own credentials; see ``wess_core.strategies.AuthMethod``.
    uses_service_credentials = True

    def validate(self, connection) -> None:
        """Check the settings this method needs, without network; raise ``UsageError``."""
        raise NotImplementedError

    def ews_login(self, connection) -> EwsLogin:
        """Build the exchangelib login for ``connection`` (may fetch a token)."""
        raise NotImplementedError

    def unauthorized_reason(self, connection) -> str:
        """Why Exchange answered 401, in this method's words."""
        who = connection.username or connection.exchange_email
        return (
            f"Exchange refused the login of {who} (HTTP 401): check the username and password "
            f"(wess users set {connection.login} --exchange-username U --password-stdin)"
        )

    def impersonation_denied_reason(self, connection, login: EwsLogin) -> str:
        return (
            f"{login.principal} may not impersonate the mailbox {connection.exchange_email} "
            "(ErrorImpersonateUserDenied)"
        )

    def test_connection(self, connection) -> None:
        """Read the target mailbox's inbox (the credential check on save)."""
        test_connection(connection, method=self)


def require(value: Any, message: str) -> None:
    """Raise a ``UsageError`` with ``message`` when a needed setting is missing."""
    if not value:
        raise UsageError(message)


# -- opening an account ---------------------------------------------------------


def open_account(
    connection,
    *,
    method: EwsAuthMethod | None = None,
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
    method = method or auth_method(connection)
    login = login or method.ews_login(connection)
    prepare_endpoint(url, connection, limits)
    config = Configuration(
        service_endpoint=url,
        credentials=login.credentials,
        auth_type=login.auth_type,
        retry_policy=retry_policy or FailFast(),
    )
    forget_cached_failure(config)
    return Account(
        primary_smtp_address=connection.exchange_email,
        access_type=login.access_type,
        config=config,
        autodiscover=False,
        default_timezone=UTC,
    )


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


def auth_method(connection) -> EwsAuthMethod:
    from wess_core import plugins

    return plugins.auth_methods().get(connection.auth)


# -- the connection test --------------------------------------------------------


def test_connection(connection, *, method: EwsAuthMethod | None = None) -> None:
    """GetFolder on the mailbox's inbox (impersonated where configured).

    Raises ``CredentialsRejected`` with a readable reason (``EndpointUnreachable`` when
    the URL does not answer); never with a secret in it.
    """
    from exchangelib.folders import Inbox, Root

    method = method or auth_method(connection)
    method.validate(connection)
    login = None
    account = None
    try:
        login = method.ews_login(connection)
        account = open_account(connection, method=method, login=login)
        Inbox.get_distinguished(root=Root(account=account))
    except (CredentialsRejected, UsageError, endpoints.CredentialRefused):
        raise
    except Exception as exc:
        if account is not None and isinstance(exc, ews_errors.UnauthorizedError):
            forget_protocol(account)
        raise describe_failure(exc, connection, method, login) from None


def describe_failure(
    exc: BaseException, connection, method: EwsAuthMethod, login: EwsLogin | None = None
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
        reason = method.unauthorized_reason(connection)
    elif isinstance(
        exc, ews_errors.ErrorImpersonateUserDenied | ews_errors.ErrorImpersonationDenied
    ):
        principal = login.principal if login else "the service account"
        login = login or EwsLogin(None, IMPERSONATION, None, principal)
        reason = method.impersonation_denied_reason(connection, login)
    elif isinstance(exc, ews_errors.ErrorNonExistentMailbox):
        reason = (
            f"Exchange at {url} has no mailbox {email} (ErrorNonExistentMailbox): check the "
            f"Exchange e-mail (wess users set {connection.login} --exchange-email ADDRESS)"
        )
    elif isinstance(exc, ews_errors.ErrorAccessDenied):
        who = login.principal if login else "the account"
        reason = f"{who} has no access to the mailbox {email} (ErrorAccessDenied)"
    elif _is_tls_failure(exc):
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


def _caused_by(exc: BaseException | None, types: Any) -> bool:
    """``exc`` or an exception it was raised from is one of ``types`` (exchangelib
    re-raises connection failures as ErrorTimeoutExpired)."""
    return find_cause(exc, types) is not None


def _is_tls_failure(exc: BaseException) -> bool:
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return True
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text


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


# -- keeping secrets out of library logs -----------------------------------------

_SECRET_PATTERNS = [
    # Authorization headers: Basic / Bearer / NTLM / Negotiate values
    (
        re.compile(
            r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(basic|bearer|ntlm|negotiate)\s+[^'\",}\s]+"
        ),
        r"\1\2 ********",
    ),
    # token dicts and form bodies: access_token, refresh_token, id_token, client_secret, password
    (
        re.compile(
            r"(?i)(['\"]?(?:access_token|refresh_token|id_token|client_secret|client_assertion|"
            r"password)['\"]?\s*[:=]\s*['\"]?)[^'\"&,}\s]+"
        ),
        r"\1********",
    ),
]
_LOGGERS = (
    "exchangelib",
    "requests_oauthlib",
    "oauthlib",
    "msal",
    "urllib3",
)


def scrub(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class _ScrubSecrets(logging.Filter):
    """Blank Authorization headers, tokens and passwords in a library's log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record: drop its arguments rather than risk a leak
            message = str(record.msg)
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, ()
        return True


_FILTER = _ScrubSecrets()


#: The library loggers found by the last full scan, and how many loggers existed then.
_scrubbed: tuple[int, list[logging.Logger]] = (-1, [])


def scrub_library_logs() -> None:
    """Attach the scrubbing filter to every logger of exchangelib, requests-oauthlib,
    oauthlib, msal and urllib3 (logger filters apply where a record is created, so each
    module's logger gets one). Idempotent; cheap enough to call before each connection:
    the logger tree is scanned again only when loggers were added since the last scan
    (they are never removed), and every library logger's filter is checked each call."""
    global _scrubbed
    manager = logging.Logger.manager
    count, loggers = _scrubbed
    if count != len(manager.loggerDict):
        names = [n for n in list(manager.loggerDict) if n.split(".")[0] in _LOGGERS]
        loggers = [logging.getLogger(n) for n in [*names, *_LOGGERS]]
        _scrubbed = (len(manager.loggerDict), loggers)
    for logger in loggers:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
