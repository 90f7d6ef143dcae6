"""Subscribe, GetEvents, Unsubscribe and GetStreamingEvents (pull and streaming
notifications; the queues live in ``..subscriptions``)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from ..directory import App
from ..errors import EwsError
from ..subscriptions import MAX_STREAMING_SUBSCRIPTIONS, Event, Subscription
from ..xmlutil import el, mq, sub, tq
from .base import Operation, find_required

#: Seconds between checks of a streaming connection's deadline while nothing happens.
_STREAM_TICK = 1.0


def owner_key(principal) -> str:
    """Who a subscription belongs to: the authenticated user or app (not the mailbox)."""
    if isinstance(principal, App):
        return f"app:{principal.client_id}"
    return f"user:{principal.email}"


def _invalid(text: str) -> EwsError:
    return EwsError("ErrorInvalidSubscriptionRequest", text)


def event_elem(sub_obj: Subscription, number: int, event: Event, subs) -> object:
    node = el(f"t:{event.kind}")
    sub(node, "t:Watermark", subs.watermark(sub_obj, number))
    sub(node, "t:TimeStamp", event.timestamp)
    item_attrs = {"Id": event.item_id}
    if event.item_change_key:
        item_attrs["ChangeKey"] = event.item_change_key
    sub(node, "t:ItemId", attrib=item_attrs)
    sub(
        node,
        "t:ParentFolderId",
        attrib={"Id": event.folder_id, "ChangeKey": event.folder_change_key},
    )
    if event.kind in ("MovedEvent", "CopiedEvent"):
        sub(node, "t:OldItemId", attrib={"Id": event.old_item_id or ""})
        sub(
            node,
            "t:OldParentFolderId",
            attrib={
                "Id": event.old_folder_id or "",
                "ChangeKey": event.old_folder_change_key or "",
            },
        )
    return node


class Subscribe(Operation):
    """Pull (with Timeout in minutes, answered with a Watermark) or streaming subscriptions
    over FolderIds or every folder of one mailbox. A Watermark in the request is accepted
    but not replayed: events start when the subscription is made."""

    NAME = "Subscribe"

    def handle(self, request):
        try:
            return self.response([self._subscribe(request)])
        except EwsError as exc:
            if exc.fault:
                raise
            return self.response([self.error(exc)])

    def _subscribe(self, request):
        pull = request.find(mq("PullSubscriptionRequest"))
        spec = pull if pull is not None else request.find(mq("StreamingSubscriptionRequest"))
        if spec is None:
            raise _invalid("Only pull and streaming subscriptions are supported.")
        timeout = None
        if pull is not None:
            text = (pull.findtext(tq("Timeout")) or "").strip()
            if not text.isdigit() or not 1 <= int(text) <= 1440:
                raise _invalid("Timeout must be 1-1440 minutes.")
            timeout = int(text)
        types = [e.text for e in spec.iterfind(f"{tq('EventTypes')}/{tq('EventType')}")]
        if not types:
            raise _invalid("EventTypes is required.")
        folder_ids = None
        mailbox = self.ctx.mailbox
        if spec.get("SubscribeToAllFolders") not in ("true", "1"):
            refs = spec.find(tq("FolderIds"))
            folders = [self.ctx.folder(ref) for ref in (refs if refs is not None else ())]
            if not folders:
                raise _invalid("FolderIds or SubscribeToAllFolders is required.")
            mailbox = folders[0].mailbox
            if any(f.mailbox is not mailbox for f in folders):
                raise _invalid("All folders of a subscription must be in one mailbox.")
            folder_ids = frozenset(f.id for f in folders)
        subs = self.ctx.server.subscriptions
        made = subs.subscribe(
            owner=owner_key(self.ctx.principal),
            mailbox=mailbox,
            folder_ids=folder_ids,
            event_types=types,
            timeout=timeout,
            streaming=pull is None,
        )
        self.http_headers.update(affinity_cookie(self.ctx.headers))
        watermark = el("m:Watermark", subs.watermark(made, 0)) if pull is not None else None
        return self.ok(el("m:SubscriptionId", made.id), watermark)


def affinity_cookie(headers: dict) -> dict[str, str]:
    """Exchange pins a client that asks for server affinity to one back end by a cookie."""
    wanted = {k.lower(): v for k, v in headers.items()}.get("x-preferserveraffinity", "")
    if wanted.lower() != "true":
        return {}
    return {"Set-Cookie": "X-BackEndOverrideCookie=EMU1~1942062522; path=/; secure"}


class Unsubscribe(Operation):
    NAME = "Unsubscribe"

    def handle(self, request):
        subs = self.ctx.server.subscriptions
        sub_id = find_required(request, "SubscriptionId").text or ""
        try:
            found = subs.find(sub_id, owner_key(self.ctx.principal), live=False)
        except EwsError as exc:
            return self.response([self.error(exc)])
        subs.unsubscribe(found)
        return self.response([self.ok()])


class GetEvents(Operation):
    """Events since a watermark, at most ``MAX_EVENTS_PER_NOTIFICATION`` per answer
    (MoreEvents=true when more wait), or one StatusEvent when nothing happened."""

    NAME = "GetEvents"

    def handle(self, request):
        subs = self.ctx.server.subscriptions
        try:
            found = subs.find(
                find_required(request, "SubscriptionId").text or "",
                owner_key(self.ctx.principal),
            )
            if found.streaming:
                raise EwsError(
                    "ErrorInvalidPullSubscriptionId", "The subscription is not a pull subscription."
                )
            previous = find_required(request, "Watermark").text or ""
            since = subs.parse_watermark(found, previous)
            page, more = subs.take(found, since)
        except EwsError as exc:
            if exc.fault:
                raise
            return self.response([self.error(exc)])
        note = el("m:Notification")
        sub(note, "t:SubscriptionId", found.id)
        sub(note, "t:PreviousWatermark", previous)
        sub(note, "t:MoreEvents", "true" if more else "false")
        for number, event in page:
            note.append(event_elem(found, number, event, subs))
        if not page:
            status = sub(note, "t:StatusEvent")
            sub(status, "t:Watermark", subs.watermark(found, since))
        self.http_headers.update(affinity_cookie(self.ctx.headers))
        return self.response([self.ok(note)])


class GetStreamingEvents(Operation):
    """A long-running answer: one envelope with ConnectionStatus OK at once, one per batch
    of events as they happen, and a last one with ConnectionStatus Closed when
    ConnectionTimeout (or ``server.streaming_timeout_seconds``) elapsed. ``stream`` holds
    the envelopes after the first."""

    NAME = "GetStreamingEvents"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.stream: Iterator | None = None

    def handle(self, request):
        subs = self.ctx.server.subscriptions
        ids = [e.text or "" for e in find_required(request, "SubscriptionIds")]
        try:
            if len(ids) > MAX_STREAMING_SUBSCRIPTIONS:
                raise EwsError(
                    "ErrorInvalidRequest",
                    f"At most {MAX_STREAMING_SUBSCRIPTIONS} subscriptions per connection.",
                )
            minutes = (request.findtext(mq("ConnectionTimeout")) or "").strip()
            if not minutes.isdigit() or not 1 <= int(minutes) <= 30:
                raise EwsError("ErrorInvalidArgument", "ConnectionTimeout must be 1-30 minutes.")
        except EwsError as exc:
            return self.response([self.error(exc)])
        found, bad, first_error = [], [], None
        for sub_id in ids:
            try:
                one = subs.find(sub_id, owner_key(self.ctx.principal))
                if not one.streaming:
                    raise EwsError(
                        "ErrorInvalidSubscription", "The subscription is not a streaming one."
                    )
                found.append(one)
            except EwsError as exc:
                bad.append(sub_id)
                first_error = first_error or exc
        if first_error is not None:
            ids_elem = el("m:ErrorSubscriptionIds")
            for sub_id in bad:
                sub(ids_elem, "t:SubscriptionId", sub_id)
            return self.response([self.error(first_error, ids_elem)])
        self._record(ids)
        seconds = int(minutes) * 60
        cap = self.ctx.server.streaming_timeout_seconds
        if cap is not None:
            seconds = min(seconds, cap)
        self.stream = self._stream(found, time.monotonic() + seconds)
        return self._message([], "OK")

    def _record(self, ids: list[str]) -> None:
        """What tests check of a client's streaming connections."""
        headers = {k.lower(): v for k, v in self.ctx.headers.items()}
        self.ctx.server.stream_requests.append(
            {
                "ids": list(ids),
                "anchor": headers.get("x-anchormailbox"),
                "affinity": headers.get("x-preferserveraffinity"),
                "cookie": headers.get("x-backendoverridecookie"),
            }
        )

    def _message(self, batches, status: str):
        subs = self.ctx.server.subscriptions
        payload = []
        if batches:
            notes = el("m:Notifications")
            for found, page in batches:
                note = sub(notes, "t:Notification")
                sub(note, "t:SubscriptionId", found.id)
                for number, event in page:
                    note.append(event_elem(found, number, event, subs))
            payload.append(notes)
        payload.append(el("m:ConnectionStatus", status))
        return self.response([self.ok(*payload)])

    def _stream(self, found: list[Subscription], deadline: float) -> Iterator:
        subs = self.ctx.server.subscriptions
        server = self.ctx.server
        with subs.lock:
            server.streams_open += 1
        try:
            yield from self._events(found, deadline)
        finally:
            with subs.lock:
                server.streams_open -= 1

    def _events(self, found: list[Subscription], deadline: float) -> Iterator:
        subs = self.ctx.server.subscriptions
        server = self.ctx.server
        while server.serving:
            with subs.changed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                subs.touch(found)
                if not any(s.events for s in found):
                    subs.changed.wait(min(remaining, _STREAM_TICK))
            batches = [(s, page) for s in found if (page := subs.drain(s))]
            if batches:
                yield self._message(batches, "OK")
        yield self._message([], "Closed")
