"""Pull and streaming notification subscriptions: what Subscribe creates and GetEvents /
GetStreamingEvents read.

A mailbox hands every item change to the subscriptions watching it (``Mailbox.watchers``),
so every write path (EWS, Graph, the seeding helpers) produces events. Each subscription
keeps its own queue; event ``n`` of a subscription carries watermark ``n``. Watermark rule
(simpler than Exchange's, same for a well-behaved client): GetEvents accepts any watermark
from the last one it acknowledged (the one the previous GetEvents was called with) up to
the newest one it returned; events up to the watermark it is called with are dropped.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
import zlib
from dataclasses import dataclass, field

from .errors import EwsError
from .model import b64, now_text, unb64

#: Events in one GetEvents answer (Exchange: 50); more → MoreEvents=true.
MAX_EVENTS_PER_NOTIFICATION = 50
#: Subscription ids one GetStreamingEvents connection may carry.
MAX_STREAMING_SUBSCRIPTIONS = 200
#: Minutes a streaming subscription lives without a connection reading it (Exchange: 30).
STREAMING_IDLE_MINUTES = 30


@dataclass(frozen=True)
class Event:
    """One change seen by a subscription (``kind`` is the element name, e.g. CreatedEvent)."""

    kind: str
    item_id: str
    item_change_key: str | None
    folder_id: str
    folder_change_key: str
    old_item_id: str | None = None
    old_folder_id: str | None = None
    old_folder_change_key: str | None = None
    timestamp: str = field(default_factory=now_text)


class Subscription:
    """One mailbox's subscription: which folders and event types, and its event queue."""

    def __init__(self, *, sub_id, owner, mailbox, folder_ids, event_types, timeout, streaming):
        self.id = sub_id
        self.owner = owner  # who subscribed (the authenticated principal's key)
        self.mailbox = mailbox
        self.folder_ids: frozenset[str] | None = folder_ids  # None: every folder
        self.event_types = event_types
        self.timeout_minutes = timeout if timeout is not None else STREAMING_IDLE_MINUTES
        self.streaming = streaming
        self.polled = time.monotonic()
        self.expired = False
        self.floor = 0  # the oldest watermark still accepted
        self.issued = 0  # the newest watermark handed out
        self._numbers = itertools.count(1)
        self.events: list[tuple[int, Event]] = []

    def timed_out(self) -> bool:
        return time.monotonic() - self.polled > self.timeout_minutes * 60

    def offer(self, event: Event) -> bool:
        """Queue ``event`` when this subscription watches it (and is not past its
        timeout: its next use is refused anyway); True when queued."""
        if event.kind not in self.event_types or self.timed_out():
            return False
        ids = self.folder_ids
        if ids is not None and event.folder_id not in ids and event.old_folder_id not in ids:
            return False
        self.events.append((next(self._numbers), event))
        return True


class Subscriptions:
    """Every subscription on one server, by id (``server.subscriptions``)."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._by_id: dict[str, Subscription] = {}
        self.lock = threading.Lock()
        #: Woken on every queued event (streaming connections wait on it).
        self.changed = threading.Condition(self.lock)

    # ------------------------------------------------------------- life cycle
    def subscribe(self, *, owner, mailbox, folder_ids, event_types, timeout, streaming):
        sub = Subscription(
            sub_id=b64(f"SUB:{secrets.token_hex(12)}"),
            owner=owner,
            mailbox=mailbox,
            folder_ids=folder_ids,
            event_types=frozenset(event_types),
            timeout=timeout,
            streaming=streaming,
        )
        with self.lock:
            self._by_id[sub.id] = sub
        with mailbox.lock:
            mailbox.watchers.append(self._watcher(sub))
        return sub

    def _watcher(self, sub: Subscription):
        def watch(event: Event) -> None:
            with self.changed:
                if sub.offer(event):
                    self.changed.notify_all()

        watch.subscription = sub  # type: ignore[attr-defined]
        return watch

    def _drop(self, sub: Subscription) -> None:
        with sub.mailbox.lock:
            sub.mailbox.watchers[:] = [
                w for w in sub.mailbox.watchers if getattr(w, "subscription", None) is not sub
            ]

    def unsubscribe(self, sub: Subscription) -> None:
        with self.lock:
            self._by_id.pop(sub.id, None)
        self._drop(sub)

    def find(self, sub_id: str, owner, live: bool = True) -> Subscription:
        """The live subscription ``sub_id`` of ``owner`` (an expired one too unless
        ``live``); the EWS error otherwise."""
        with self.lock:
            sub = self._by_id.get(sub_id)
        if sub is None:
            raise EwsError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
        if sub.owner != owner:
            raise EwsError(
                "ErrorSubscriptionAccessDenied",
                "A subscription can only be used by the account that created it.",
            )
        if not sub.expired and sub.timed_out():
            self.expire_one(sub)
        if sub.expired and live:
            raise EwsError(
                "ErrorExpiredSubscription", "The subscription has expired and cannot be used."
            )
        return sub

    def expire_one(self, sub: Subscription) -> None:
        sub.expired = True
        sub.events.clear()
        self._drop(sub)

    def expire(self, mailbox=None) -> int:
        """Expire every subscription (of ``mailbox`` only, when given); how many."""
        with self.lock:
            subs = [s for s in self._by_id.values() if mailbox is None or s.mailbox is mailbox]
        for sub in subs:
            self.expire_one(sub)
        return len(subs)

    def count(self) -> int:
        with self.lock:
            return sum(1 for s in self._by_id.values() if not s.expired)

    # ------------------------------------------------------------- watermarks
    def watermark(self, sub: Subscription, number: int) -> str:
        body = f"{sub.id}|{number}"
        return b64(f"WM1|{body}|{zlib.crc32(f'{self._secret}|{body}'.encode()):08x}")

    def parse_watermark(self, sub: Subscription, text: str) -> int:
        """The number in ``text``: refused unless this subscription issued it and it is
        not older than the last one acknowledged."""
        bad = EwsError("ErrorInvalidWatermark", "The watermark used for this request is invalid.")
        raw = unb64((text or "").strip()) or ""
        head, _, rest = raw.partition("|")
        body, _, crc = rest.rpartition("|")
        sub_id, _, number = body.rpartition("|")
        if head != "WM1" or sub_id != sub.id or not number.isdigit():
            raise bad
        if f"{zlib.crc32(f'{self._secret}|{body}'.encode()):08x}" != crc:
            raise bad
        n = int(number)
        if not sub.floor <= n <= sub.issued:
            raise bad
        return n

    # ------------------------------------------------------------- reading
    def take(self, sub: Subscription, since: int, limit: int = MAX_EVENTS_PER_NOTIFICATION):
        """Events after watermark ``since`` (at most ``limit``) and whether more wait;
        everything up to ``since`` is acknowledged (dropped)."""
        with self.lock:
            sub.polled = time.monotonic()
            sub.floor = max(sub.floor, since)
            sub.events = [(n, e) for n, e in sub.events if n > since]
            page = sub.events[:limit]
            if page:
                sub.issued = max(sub.issued, page[-1][0])
            return page, len(sub.events) > len(page)

    def touch(self, subs: list[Subscription]) -> None:
        """Streaming subscriptions read by an open connection do not time out."""
        now = time.monotonic()
        for sub in subs:
            sub.polled = now

    def drain(self, sub: Subscription, limit: int = MAX_EVENTS_PER_NOTIFICATION):
        """A streaming subscription's queued events (delivered = gone); at most ``limit``."""
        with self.lock:
            sub.polled = time.monotonic()
            page, sub.events = sub.events[:limit], sub.events[limit:]
            if page:
                sub.issued = sub.floor = page[-1][0]
            return page
