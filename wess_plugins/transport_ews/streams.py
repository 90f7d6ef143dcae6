"""Streaming notifications for the EWS transport (``wess run --push``): a user whose
mailbox changes is synced within seconds instead of at the next poll.

Exchange serves one GetStreamingEvents connection for up to 200 subscriptions of one
server and one login (a service account's impersonated mailboxes), so users are grouped
by (EWS URL, who logs in) and each group cut into connections of at most
``MAX_PER_CONNECTION``; one thread per connection (10,000 users of one service account:
50 threads). Every request of a connection carries its anchor mailbox and the server's
affinity cookie (``patches.Affinity``), as Microsoft documents for streaming groups.

A connection's life: subscribe every member (streaming, the synced folders), then
GetStreamingEvents with ``ConnectionTimeout`` minutes until the server closes it, then
again. ``on_change(login)`` is called for each notification with events. A member the
server no longer knows (expired, not found) is subscribed again and reported once (its
events in between are lost). A member whose Subscribe fails (credentials, mailbox) is
logged and left out until the connection's next round. A lost connection is opened
again after a back-off (``BACKOFF_SECONDS`` doubling up to ``BACKOFF_MAX_SECONDS``).
A stream's deadline is its ConnectionTimeout plus ``MARGIN_SECONDS`` (the normal
request deadline would cut every stream); ``stop`` cuts the open streams at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from exchangelib.errors import (
    ErrorExpiredSubscription,
    ErrorInvalidSubscription,
    ErrorSubscriptionAccessDenied,
    ErrorSubscriptionNotFound,
)
from exchangelib.folders import Root
from exchangelib.properties import Mailbox, StatusEvent

from wess_core import deadlines
from wess_plugins.transport_ews.connect import (
    _short,
    _without_secrets,
    auth_method,
    ews_login,
    open_account,
)
from wess_plugins.transport_ews.items import FOLDERS
from wess_plugins.transport_ews.patches import (
    Affinity,
    GroupStream,
    GroupSubscribe,
    distinguished_folder,
    mailbox_of,
    root_folder,
)
from wess_plugins.transport_ews.watch import EVENT_TYPES

log = logging.getLogger(__name__)

#: Subscriptions one GetStreamingEvents may carry (Exchange's limit).
MAX_PER_CONNECTION = 200
#: ConnectionTimeout of each GetStreamingEvents, in minutes (EWS allows 1-30).
CONNECTION_MINUTES = 30
#: A stream's deadline past its ConnectionTimeout (the server's last message may lag).
MARGIN_SECONDS = 60
#: Answer size cap of one stream (it carries every event of its ConnectionTimeout).
STREAM_MAX_MIB = 256
#: First wait after a lost connection; doubled per failure up to the maximum.
BACKOFF_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
#: Answers that mean "this subscription is gone": subscribe that member again.
LOST = (
    ErrorSubscriptionNotFound,
    ErrorExpiredSubscription,
    ErrorInvalidSubscription,
    ErrorSubscriptionAccessDenied,
)


@dataclass
class Member:
    """One user of a streaming connection."""

    login: str
    connection: Any
    ews: Any  # connect.EwsLogin
    account: Any = None
    sub_id: str | None = None
    #: Subscribed again after a loss: ``on_change`` once, events may have been missed.
    renewed: bool = False


def group_key(connection: Any, ews: Any) -> tuple[str, str, str]:
    """Users that may share a connection: one EWS URL, one login, one access type."""
    return (connection.url or "", ews.principal, ews.access_type)


def plan(connections: Sequence[Any]) -> list[list[Member]]:
    """The connections to open: users grouped by :func:`group_key`, at most
    ``MAX_PER_CONNECTION`` each. A user whose login cannot be made is logged and left out."""
    groups: dict[tuple[str, str, str], list[Member]] = {}
    for connection in connections:
        try:
            credential = auth_method(connection).credential(connection)
            ews = ews_login(credential, connection)
        except Exception as exc:  # noqa: BLE001 - one user's problem, logged
            _skip(connection, exc)
            continue
        member = Member(connection.login, connection, ews)
        groups.setdefault(group_key(connection, ews), []).append(member)
    chunks = []
    for _, members in sorted(groups.items()):
        members.sort(key=lambda m: m.login)
        for start in range(0, len(members), MAX_PER_CONNECTION):
            chunks.append(members[start : start + MAX_PER_CONNECTION])
    return chunks


def watch_streams(
    connections: Sequence[Any],
    on_change: Callable[[str], None],
    stop: threading.Event,
    *,
    folders: Sequence[str] | None = None,
    connection_minutes: int = CONNECTION_MINUTES,
) -> None:
    """Stream every user's ``folders`` (default: the synced ones) until ``stop``; see
    ``wess_core.strategies.StreamWatcher``."""
    from wess_core import plugins

    watched = list(folders) if folders is not None else plugins.synced_folders()
    threads = []
    for index, members in enumerate(plan(connections)):
        stream = Stream(members, watched, on_change, stop, connection_minutes)
        thread = threading.Thread(target=stream.run, name=f"wess-stream-{index}", daemon=True)
        thread.start()
        threads.append(thread)
    stop.wait()
    for thread in threads:
        thread.join(timeout=5)


class Stream:
    """One GetStreamingEvents connection and its members, kept open until ``stop``."""

    def __init__(
        self,
        members: list[Member],
        folders: list[str],
        on_change: Callable[[str], None],
        stop: threading.Event,
        minutes: int,
    ) -> None:
        self.members = members
        self.folders = folders
        self.on_change = on_change
        self.stop = stop
        self.minutes = minutes
        self.affinity = Affinity(members[0].connection.exchange_email)
        self._open: GroupStream | None = None

    def run(self) -> None:
        cutter = threading.Thread(target=self._cut_on_stop, daemon=True)
        cutter.start()
        backoff = BACKOFF_SECONDS
        while not self.stop.is_set():
            try:
                self._subscribe_missing()
                live = [m for m in self.members if m.sub_id]
                if not live:
                    raise ConnectionError("no member of this connection could subscribe")
                self._listen(live)
                backoff = BACKOFF_SECONDS
            except Exception as exc:  # noqa: BLE001 - any failure: back off and reconnect
                if self.stop.is_set():
                    break
                log.warning(
                    "streaming notifications for %s: %s; reconnecting in %.0f s",
                    self.affinity.anchor,
                    _short(exc),
                    backoff,
                )
                self.stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    def _cut_on_stop(self) -> None:
        self.stop.wait()
        stream = self._open
        if stream is not None:
            stream.cut()

    def _subscribe_missing(self) -> None:
        """Subscribe every member without a subscription; report the renewed ones."""
        with deadlines.scope(cancel=self.stop):
            for member in self.members:
                if member.sub_id is not None or self.stop.is_set():
                    continue
                try:
                    member.sub_id = self._subscribe(member)
                except Exception as exc:  # noqa: BLE001 - one user's problem, logged
                    if self.stop.is_set():
                        return
                    _skip(member.connection, exc)
                    continue
                if member.renewed:
                    member.renewed = False
                    self.on_change(member.login)

    def _subscribe(self, member: Member) -> str:
        if member.account is None:
            member.account = open_account(member.connection, login=member.ews)
        account = member.account
        root = root_folder(Root, account, Mailbox(email_address=account.primary_smtp_address))
        objects = [
            distinguished_folder(FOLDERS[name][0], root, mailbox_of(root)) for name in self.folders
        ]
        service = GroupSubscribe(account=account, affinity=self.affinity)
        return service.get(folders=objects, event_types=EVENT_TYPES)

    def _listen(self, live: list[Member]) -> None:
        """One GetStreamingEvents until the server closes it (or it fails)."""
        by_id = {m.sub_id: m for m in live}
        account = live[0].account
        stream = GroupStream(account=account, affinity=self.affinity)
        self._open = stream
        seconds = self.minutes * 60 + MARGIN_SECONDS
        try:
            with deadlines.scope(seconds, STREAM_MAX_MIB, cancel=self.stop):
                for note in stream.call(
                    subscription_ids=list(by_id), connection_timeout=self.minutes
                ):
                    if isinstance(note, Exception):
                        raise note
                    member = by_id.get(note.subscription_id)
                    if member is not None and _has_events(note):
                        self.on_change(member.login)
        except LOST:
            for sub_id in stream.refused or list(by_id):
                if sub_id in by_id:
                    by_id[sub_id].sub_id = None
                    by_id[sub_id].renewed = True
        finally:
            self._open = None
            stream.close()


def _has_events(note: Any) -> bool:
    return any(not isinstance(e, StatusEvent) for e in note.events or ())


def _skip(connection: Any, exc: BaseException) -> None:
    log.warning(
        "streaming notifications: %s left out: %s",
        connection.login,
        _without_secrets(_short(exc), connection),
    )
