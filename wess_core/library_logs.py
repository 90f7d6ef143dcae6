"""Secrets out of the HTTP and auth libraries' logs, and TLS failures told apart.

exchangelib, requests-oauthlib, oauthlib, msal and urllib3 log request headers and
tokens at DEBUG; :func:`scrub_library_logs` installs a filter on their loggers that
blanks them (WESS never turns that logging on itself). Every strategy that sends a
credential calls it first: the EWS transport, the ``oauth`` method's MSAL calls,
discovery. :func:`is_tls_failure` tells a certificate the account does not trust apart
from other connection failures, so each says what fixes it (:data:`TLS_HINT`).
"""

from __future__ import annotations

import logging
import re

__all__ = ["TLS_HINT", "is_tls_failure", "scrub", "scrub_library_logs"]

TLS_HINT = (
    "the Exchange server's certificate is not trusted: set the CA with "
    "wess connection set --ca-bundle CA.pem"
)


def is_tls_failure(exc: BaseException) -> bool:
    """``exc`` is a TLS failure (an untrusted certificate, no TLS where it was expected)."""
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return True
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text


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
