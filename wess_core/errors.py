"""Typed errors: each carries one readable line and the exit code the CLI uses.

Exit codes follow the command-line contract: 2 = bad input or usage, 1 = the
operation failed (Exchange refused, permission denied, nothing to sync ...).
"""

from __future__ import annotations


def quote(value: object, limit: int = 60) -> str:
    """A value as shown inside a one-line error: repr, shortened when long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


class WessError(Exception):
    """Base class: ``str(err)`` is the one line shown to the user."""

    exit_code = 1


class UsageError(WessError):
    """Bad input: nothing was stored."""

    exit_code = 2


class ValidationError(UsageError):
    """A value (e-mail, URL, username ...) is not acceptable."""


class PermissionDenied(WessError):
    def __init__(self, message: str = "permission denied") -> None:
        super().__init__(message)


class UntrustedSetting(PermissionDenied):
    """Service credentials would be used with an address or URL no admin set or approved."""


class NotFound(WessError):
    exit_code = 1


class StoreError(WessError):
    """A store file could not be read or written; the file on disk is untouched."""


class StoreCorrupt(StoreError):
    """A store file is not valid JSON; it is never overwritten silently."""


class UnsafeFile(StoreError):
    """A home file or folder another user could have planted or changed (a link, a file
    owned by someone else, writable by group or others): refused, never used."""


class SecretKeyError(WessError):
    """The secret key is missing, malformed, or does not decrypt the stored secrets."""


class LicenceError(WessError):
    """Seat pool or module state forbids the operation."""


class NotEligible(WessError):
    """A user may not sync now; ``reasons`` lists every denial."""

    def __init__(self, login: str, reasons: list[str]) -> None:
        self.login = login
        self.reasons = reasons
        super().__init__(f"{login} cannot sync: " + "; ".join(reasons))


class ConnectionFailed(WessError):
    """Exchange refused or could not be reached."""


class CredentialsRejected(ConnectionFailed):
    """The credential check on save failed; nothing was stored."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"credentials were rejected by Exchange: {reason}")


class EndpointFailed(CredentialsRejected):
    """The URL did not answer as a trusted EWS endpoint: refused, timed out, not TLS, an
    untrusted certificate, not EWS. Transports raise subclasses; the core uses the class
    to give one message for all of them when the URL was set by a user (no port scans)."""


class DiscoveryError(ConnectionFailed):
    """Autodiscover failed; ``code`` is the name users look up."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"{code}: {message}")


class SyncLocked(WessError):
    """Another process is syncing this user right now."""


class JobRunning(WessError):
    """A background job of this user is still running; one at a time per user."""


def find_cause(exc: BaseException | None, types: type | tuple[type, ...]) -> BaseException | None:
    """``exc`` or the first exception in its cause/context chain that is one of ``types``:
    libraries re-raise a lower failure as their own (exchangelib turns a cut connection into
    ErrorTimeoutExpired), and the consequence depends on the lower one."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, types):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None
