"""Graph's answers as the plugin contract's errors (``wess_core.strategy_errors``).

One table for a whole request and for one answer of a ``$batch``: the engine acts on
the class (resync, skip the folder, pause the user), the ledger keeps Graph's own code.
Every message names the mailbox and what fixes it; none carries a token or a body.
"""

from __future__ import annotations

from typing import Any

from wess_core.strategies import (
    FolderUnavailable,
    InvalidSyncState,
    ItemChanged,
    ItemNotFound,
    MailboxBusy,
    MailboxError,
    MailboxUnavailable,
)

__all__ = [
    "BUSY_STATUSES",
    "access_denied",
    "error_for",
    "graph_code",
    "graph_message",
    "retry_after",
    "unauthorized",
]

#: Statuses that mean "back off and ask again" (throttled, unavailable, gateway timeout).
BUSY_STATUSES = frozenset({429, 503, 504})
#: The wait when a busy answer names none (seconds).
DEFAULT_RETRY_AFTER = 1.0


def graph_code(body: Any) -> str | None:
    """The ``error.code`` of a Graph error body, if it has one."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code else None


def graph_message(body: Any) -> str:
    """The ``error.message`` of a Graph error body: one line, bounded."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    text = str(message or "").strip().splitlines()
    return text[0][:200] if text else ""


def retry_after(headers: Any) -> float:
    """The ``Retry-After`` of an answer in seconds (Graph sends seconds), default 1 s."""
    for key, value in (headers or {}).items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER


def access_denied(mailbox: str, code: str | None = "ErrorAccessDenied") -> MailboxUnavailable:
    """403: the app may not open this mailbox (RBAC for Applications): the user is paused
    with this reason until an admin widens the scope and saves the settings again."""
    return MailboxUnavailable(
        f"Microsoft Graph refused the mailbox {mailbox} ({code or 'HTTP 403'}): it is outside "
        "the app's RBAC management scope; an admin adds it to the scope of the app's role "
        "assignment (New-ManagementScope / New-ManagementRoleAssignment, see 'wess checklist')",
        credentials=True,
        rediscover=False,
        gone=True,
        code=code or "ErrorAccessDenied",
    )


def unauthorized(reason: str, code: str | None = None) -> MailboxUnavailable:
    """401 even with a fresh token: only fixing the app or its authority helps."""
    return MailboxUnavailable(
        reason, credentials=True, rediscover=False, code=code or "InvalidAuthenticationToken"
    )


def error_for(
    status: int,
    body: Any,
    *,
    mailbox: str = "the mailbox",
    headers: Any = None,
    unauthorized_reason: str | None = None,
) -> Exception:
    """The WESS error for a failed Graph answer (a request's or one ``$batch`` answer's):
    404 ``ItemNotFound``, 410 ``InvalidSyncState``, 409/412 ``ItemChanged``, 403
    ``MailboxUnavailable`` (RBAC scope), 401 ``MailboxUnavailable`` (credentials),
    429/503/504 ``MailboxBusy``, anything else ``FolderUnavailable`` with Graph's code."""
    code = graph_code(body)
    text = graph_message(body) or f"HTTP {status}"
    if status == 404 and code == "Request_ResourceNotFound":
        return MailboxUnavailable(
            f"Microsoft Graph has no user {mailbox} (Request_ResourceNotFound): check the "
            "Exchange e-mail (wess users set LOGIN --exchange-email ADDRESS)",
            credentials=True,
            rediscover=False,
            gone=True,
            code=code,
        )
    if status == 404:
        return ItemNotFound(text, code=code or "ErrorItemNotFound")
    if status == 410:
        return InvalidSyncState(text, code=code or "syncStateNotFound")
    if status in (409, 412):
        return ItemChanged(text, code=code or "ErrorIrresolvableConflict")
    if status == 403:
        return access_denied(mailbox, code)
    if status == 401:
        reason = unauthorized_reason or (
            f"Microsoft Graph refused the access token for {mailbox} (HTTP 401): check the "
            "app registration's permissions and admin consent"
        )
        return unauthorized(reason, code)
    if status in BUSY_STATUSES:
        return MailboxBusy(
            f"Microsoft Graph is busy ({code or f'HTTP {status}'}) for {mailbox}; "
            "tried again next run",
            code=code or f"HTTP{status}",
            retry_after=retry_after(headers),
        )
    if status == 424:
        return MailboxError(
            "not done: a request it depended on failed", code=code or "FailedDependency"
        )
    return FolderUnavailable(
        f"Microsoft Graph answered {code or f'HTTP {status}'} for {mailbox}: {text}",
        code=code or f"HTTP{status}",
    )
