"""Whole-mailbox failures of the EWS transport, as the plugin contract's
``MailboxUnavailable``: no EWS answer at all, a refused login, a mailbox gone, a cut."""

from __future__ import annotations

from typing import Any

from exchangelib.errors import (
    MalformedResponseError,
    RedirectError,
    ResponseMessageError,
    SOAPError,
    TransportError,
    UnauthorizedError,
)

from wess_core.strategies import MailboxUnavailable
from wess_plugins.transport_ews.response_codes import Consequence, code_of

__all__ = ["mailbox_unavailable", "no_ews_answer"]


def no_ews_answer(exc: BaseException) -> bool:
    """No EWS answer at all: refused login, no connection, a redirect, an HTTP status
    that is not EWS's, no EWS version headers (by exception class; a SOAP answer that
    exchangelib could not read is the folder's failure, not this)."""
    import requests
    from oauthlib.oauth2 import OAuth2Error

    if isinstance(exc, UnauthorizedError | OAuth2Error | RedirectError):
        return True
    from wess_plugins.transport_ews.connect import _caused_by

    if _caused_by(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if isinstance(exc, SOAPError | MalformedResponseError):  # an answer, but not EWS's own
        return getattr(exc, "http_answer", False)
    return isinstance(exc, TransportError) and not isinstance(exc, ResponseMessageError)


def mailbox_unavailable(
    exc: BaseException, connection: Any, what: Consequence | None = None
) -> MailboxUnavailable:
    """A whole-mailbox failure, described as the credential check describes it."""
    from wess_core import deadlines

    code = code_of(exc)
    gone = what is Consequence.MAILBOX_GONE
    cut = deadlines.cut_in(exc)
    if cut is not None:  # cut by WESS: never a credentials problem
        return MailboxUnavailable(str(cut), credentials=False, rediscover=not cut.run_level)
    if connection is None:
        pause = what in (Consequence.CREDENTIALS, Consequence.MAILBOX_GONE)
        return MailboxUnavailable(
            f"{type(exc).__name__}: {str(exc)[:200]}",
            credentials=pause,
            rediscover=what is Consequence.REDISCOVER,
            gone=gone,
            code=code,
        )
    from wess_core.errors import EndpointFailed
    from wess_plugins.transport_ews.connect import auth_method, describe_failure

    described = describe_failure(exc, connection, auth_method(connection))
    rediscover = bool(getattr(described, "rediscover", False))
    endpoint = isinstance(described, EndpointFailed)
    return MailboxUnavailable(
        getattr(described, "reason", str(described)),
        credentials=not endpoint,
        rediscover=rediscover,
        endpoint=endpoint,
        gone=gone,
        code=code,
    )
