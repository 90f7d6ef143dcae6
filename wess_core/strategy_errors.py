"""The errors a transport or a CRM connector returns (per item) or raises (per call).

Part of the plugin contract (``wess_core.strategies`` re-exports every one; import them
from there). A bulk call answers one of these *instances* for an input that failed; a
call raises one only when nothing was done. ``MailboxUnavailable`` is the one error for
a failure of the whole mailbox; the core acts on its meanings alone.
"""

from __future__ import annotations

from typing import Any

from wess_core.errors import WessError

__all__ = [
    "CrmError",
    "FolderUnavailable",
    "InvalidSyncState",
    "ItemChanged",
    "ItemNotFound",
    "MailboxBusy",
    "MailboxError",
    "MailboxUnavailable",
    "RecordChanged",
    "RecordNotFound",
]


class MailboxError(WessError):
    """Base class for errors a transport reports.

    ``code`` is the server's own name for the error when it gave one (an EWS
    ResponseCode, a Graph error code): it goes to the ledger and history as it is, so a
    failure nobody classified can still be looked up."""

    #: A subclass may name its own code here; ``code=`` on one error overrides it.
    code: str | None = None

    def __init__(self, *args: Any, code: str | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code


class FolderUnavailable(MailboxError):
    """This folder cannot be read or written this run (the folder is missing, its answer
    was not understood, the server refused it with a code no other class covers).

    Raised by ``Transport.changes``; the engine skips the folder for this run (its sync
    state is kept) and the other folders go on. The next run tries again; the user is
    never paused for it."""


class MailboxBusy(MailboxError):
    """The server asked to back off (EWS ErrorServerBusy and friends, Graph 429).

    Raised by ``Transport.changes`` (the folder is skipped this run) or returned for
    one item; ``retry_after`` is the wait the server asked for, in seconds, when known.
    Nobody is paused: the next run tries again."""

    def __init__(self, *args: Any, code: str | None = None, retry_after: float | None = None):
        super().__init__(*args, code=code)
        self.retry_after = retry_after


class MailboxUnavailable(MailboxError):
    """The whole mailbox cannot be used now: the one error a transport raises for a
    failure that is not one folder's (credentials refused, the mailbox gone, the server
    not answering). Any transport raises it from ``Transport.changes``; the engine
    handles it in one place (``wess_core.sync.engine.sync_all``): it never asks the
    mailbox again for the run's other folders, and its caller
    (``wess_core.service.sync``) decides from these meanings alone:

    ``credentials``: only a change by a person helps (new credentials, a fixed e-mail,
    access granted again): the user is paused with ``str(error)`` as the reason and one
    history entry, until the setting changes. ``rediscover``: a fresh discovery of the
    mailbox's URL may help (it moved, the server did not answer): the core discovers it
    once more and retries the folder that failed, then goes on with the others.
    ``retry_after``: neither helps, the mailbox may be asked again after this many
    seconds (``None``: the next run); the run ends and nobody is paused.
    ``endpoint``: the URL did not answer as a trusted server (refused, timed out, TLS;
    for a URL a user set, the core says so in one message that reveals nothing more).
    ``gone``: the mailbox no longer exists or access to it was removed (a pause whose
    reason says so, not a password problem)."""

    def __init__(
        self,
        message: str,
        *,
        credentials: bool,
        rediscover: bool,
        retry_after: float | None = None,
        endpoint: bool = False,
        gone: bool = False,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.credentials = credentials
        self.rediscover = rediscover
        self.retry_after = retry_after
        self.endpoint = endpoint
        self.gone = gone


class InvalidSyncState(MailboxError):
    """The sync token is no longer accepted (EWS ErrorInvalidSyncStateData, Graph 410 Gone).

    Raised by ``Transport.changes``; the engine answers with a full resync that
    re-links items through the stored ids and never duplicates.
    """


class ItemNotFound(MailboxError):
    """The item does not exist (any more). Per item, from get / update / delete."""


class ItemChanged(MailboxError):
    """The item changed since the changekey given (EWS ErrorIrresolvableConflict).

    Per item, from ``update``; the engine retries the pair on the next run with
    both sides' current content.
    """


class CrmError(WessError):
    """Base class for errors a CRM connector reports."""


class RecordNotFound(CrmError):
    """No live record with that id (never existed, or deleted). Per item."""


class RecordChanged(CrmError):
    """The record's revision is not the one expected (someone else wrote it). Per item."""
