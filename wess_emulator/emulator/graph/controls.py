"""The Graph endpoint's state and test controls (``server.graph``): mailboxes outside the
app's RBAC scope, whether apps may translate ids, the requests in flight per mailbox and
the generation that expires every delta token."""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..server import EmulatorServer
    from ..store import Mailbox

#: Outlook's limit of concurrent requests per mailbox and app.
MAX_CONCURRENT = 4


class GraphControls:
    """``server.graph``: what a test changes about the Graph endpoint."""

    def __init__(self, server: EmulatorServer) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._denied: set[str] = set()
        self._in_flight: dict[str, int] = {}
        #: ``translateExchangeIds`` with an app-only token: Microsoft documents it as not
        #: supported (403); tests turn this on to exercise the translate path.
        self.translate_for_apps = False
        #: Delta tokens name the generation they were issued in; a new one expires them all.
        self.generation = 1
        #: Highest number of requests seen in flight at once for one mailbox.
        self.peak_in_flight = 0
        self._ids: dict[str, str] = {}  # user id -> e-mail, for the users seen so far

    # ---------------------------------------------------------------- RBAC scope
    def deny(self, email: str) -> None:
        """Put ``email``'s mailbox outside the app's management scope (403 until allowed)."""
        with self._lock:
            self._denied.add(email.lower())

    def allow(self, email: str) -> None:
        with self._lock:
            self._denied.discard(email.lower())

    def denied(self, email: str) -> bool:
        return email.lower() in self._denied

    # ---------------------------------------------------------------- delta tokens
    def expire_delta_tokens(self) -> None:
        """Make every delta/skip token issued so far answer 410 syncStateNotFound."""
        with self._lock:
            self.generation += 1

    # ---------------------------------------------------------------- concurrency
    def enter(self, email: str) -> bool:
        """Count one more request in flight on ``email``; False (not counted) past the limit."""
        with self._lock:
            now = self._in_flight.get(email, 0)
            if now >= MAX_CONCURRENT:
                return False
            self._in_flight[email] = now + 1
            self.peak_in_flight = max(self.peak_in_flight, now + 1)
            return True

    def leave(self, email: str) -> None:
        with self._lock:
            left = self._in_flight.get(email, 1) - 1
            if left > 0:
                self._in_flight[email] = left
            else:
                self._in_flight.pop(email, None)

    # ---------------------------------------------------------------- users
    def user_id(self, mailbox: Mailbox) -> str:
        """The directory object id Graph gives the mailbox's user (stable per server)."""
        return str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"wess-emulator:{self._server.secret}:{mailbox.email}")
        )

    def mailbox_for(self, ref: str) -> Mailbox | None:
        """The mailbox named by ``/users/{ref}``: a userPrincipalName / address or a user id."""
        mailbox = self._server.mailbox(ref)
        if mailbox is not None:
            return mailbox
        users = self._server.users_snapshot()
        if len(self._ids) != len(users):
            self._ids = {self.user_id(u.mailbox): u.email for u in users}
        email = self._ids.get(ref.lower())
        return self._server.mailbox(email) if email else None
