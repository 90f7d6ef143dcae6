"""The calendar over Microsoft Graph: one engine item per meeting, a series included.

Reading. ``calendarView/delta`` reports instances inside the window (``calendar_window``):
single events, occurrences and exceptions, never series masters. A page's single events
are read again with their CRM id (which a calendar delta cannot expand), and each
occurrence or exception stands for its master, read with its instances
(``calendar_series``): the engine sees the master's id only. ``@removed`` with reason
``deleted`` is a delete (of a single event, or of a series whose master id the server
names); ``changed`` means the instance left the window: it is read again, and what
still exists is reported as it is now, never as deleted. A full listing (no token)
must name every meeting, inside the window or not, or the engine would take those
outside for deleted: it first runs a delta round to its deltaLink, ignoring its content,
then lists ``/events`` page by page (masters and single events, all time) and ends with
that deltaLink, so nothing changed during the listing is missed next time.

Writing. Masters and single events are created, changed and deleted in ``$batch``
requests; a series' exceptions and cancelled occurrences then follow (``calendar_writes``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from wess_core.strategies import (
    ChangesPage,
    InvalidSyncState,
    ItemNotFound,
    ItemRef,
    ItemUpdate,
    MailboxChange,
    MailboxError,
    MailboxItem,
    NewItem,
)
from wess_plugins.transport_graph import calendar_writes
from wess_plugins.transport_graph.calendar_series import EXPAND, segment, to_item
from wess_plugins.transport_graph.calendar_window import (
    Window,
    is_delta,
    listing_token,
    parse_listing,
    split,
)
from wess_plugins.transport_graph.client import GraphClient, is_under, query_string

__all__ = ["GraphCalendar"]

log = logging.getLogger(__name__)

#: Instances per calendarView delta page, and events per listing page.
PAGE_SIZE = 200
#: Instances per page of the delta round a full listing only needs the deltaLink of.
SKIM_PAGE_SIZE = 1000


class GraphCalendar:
    """The calendar part of ``GraphTransport`` (the ``Transport`` protocol minus the
    folder argument)."""

    def __init__(self, client: GraphClient, user_path: str) -> None:
        self.client = client
        self.user = user_path

    # -- reading ------------------------------------------------------------------------

    def changes(self, token: str | None) -> ChangesPage:
        if token is None:
            return self._start_listing()
        listing = parse_listing(token)
        if listing is not None:
            return self._listing_page(*listing)
        link, window = split(token)
        self._check_link(link)
        if is_delta(link) and window.stale():
            log.info("calendar: the window moves forward (a new round over the new window)")
            window = Window.around()
            return self._delta_page(f"{self.user}/calendarView/delta", window, window.params())
        return self._delta_page(link, window, None)

    def _check_link(self, link: str) -> None:
        if not is_under(self.client.base_url, link):
            raise InvalidSyncState(
                f"the stored calendar sync token is not a link of {self.client.base_url}; "
                "the calendar is read again in full",
                code="ForeignToken",
            )

    def _delta_answer(
        self, link: str, params: dict[str, Any] | None, page_size: int = PAGE_SIZE
    ) -> dict[str, Any]:
        return self.client.get(link, params, prefer=f"odata.maxpagesize={page_size}")

    def _delta_page(self, link: str, window: Window, params: dict[str, Any] | None) -> ChangesPage:
        answer = self._delta_answer(link, params)
        changes = self._page_changes(answer.get("value") or [], window)
        next_link, delta_link = answer.get("@odata.nextLink"), answer.get("@odata.deltaLink")
        following = next_link or delta_link
        if not isinstance(following, str):
            raise InvalidSyncState("calendarView delta answered without a link", code="NoLink")
        self._check_link(following)
        return ChangesPage(changes=changes, token=window.tag(following), done=not next_link)

    def _page_changes(self, values: list[Any], window: Window) -> list[MailboxChange]:
        """One delta page's instances as changes of engine items (masters, singles)."""
        deleted: list[str] = []
        reread: dict[str, None] = {}
        for entry in values:
            if not isinstance(entry, dict) or not entry.get("id"):
                continue
            removed = entry.get("@removed")
            if removed is not None:
                if (removed or {}).get("reason") == "deleted":
                    deleted.append(str(entry["id"]))
                else:  # left the window: read it again, it may still exist
                    reread[str(entry["id"])] = None
                continue
            reread[str(entry.get("seriesMasterId") or entry["id"])] = None
        out: dict[str, MailboxChange] = {i: MailboxChange(i, deleted=True) for i in deleted}
        for item_id, got in zip(reread, self._read(list(reread), window), strict=True):
            if isinstance(got, MailboxItem):
                out[got.item_id] = MailboxChange(got.item_id, got.changekey, item=got)
            elif not isinstance(got, ItemNotFound):
                out[item_id] = MailboxChange(item_id, None)  # the engine's get retries it
        return list(out.values())

    def _read(self, ids: Sequence[str], window: Window) -> list[Any]:
        """Events by id (an occurrence's or exception's id: its master) as items, or the
        error of each."""
        if not ids:
            return []
        query = query_string({"$expand": EXPAND})
        requests = [
            {"id": str(n), "method": "GET", "url": f"{self.user}/events/{segment(i)}{query}"}
            for n, i in enumerate(ids)
        ]
        answers = self.client.batch(requests)
        out: list[Any] = []
        masters: dict[int, str] = {}
        for n, request in enumerate(requests):
            answer = answers[request["id"]]
            body = answer.get("body") if isinstance(answer.get("body"), dict) else {}
            if not 200 <= answer["status"] < 300:
                out.append(self.client.error_for(answer["status"], body, answer.get("headers")))
            elif body.get("seriesMasterId"):
                masters[n] = str(body["seriesMasterId"])
                out.append(None)
            else:
                out.append(self._item(body, window))
        if masters:
            unique = list(dict.fromkeys(masters.values()))
            read = dict(zip(unique, self._read(unique, window), strict=True))
            for n, master_id in masters.items():
                out[n] = read[master_id]
        return out

    def _item(self, event: dict[str, Any], window: Window) -> Any:
        try:
            return to_item(self.client, self.user, event, window.end)
        except ItemNotFound as exc:  # the series went while it was read
            return exc
        except MailboxError:  # the mailbox's own trouble (busy, denied...): the run's
            raise
        except Exception as exc:  # a value the field maps cannot read: that item fails
            log.info("calendar: event unreadable (%s)", type(exc).__name__)
            return calendar_writes.refused(exc)

    def _start_listing(self) -> ChangesPage:
        """A full listing: a delta round to its deltaLink (content not needed), then the
        first page of ``/events``."""
        window = Window.around()
        start = f"{self.user}/calendarView/delta"
        answer = self._delta_answer(start, window.params(), SKIM_PAGE_SIZE)
        while "@odata.deltaLink" not in answer:
            following = answer.get("@odata.nextLink")
            if not isinstance(following, str):
                raise InvalidSyncState("calendarView delta answered without a link", code="NoLink")
            self._check_link(following)
            answer = self._delta_answer(following, None, SKIM_PAGE_SIZE)
        delta = answer["@odata.deltaLink"]
        self._check_link(delta)
        first = f"{self.user}/events" + query_string({"$expand": EXPAND})
        return self._listing_page(first, window.tag(delta))

    def _listing_page(self, link: str, delta_token: str) -> ChangesPage:
        if "://" in link:
            self._check_link(link)
        _, window = split(delta_token)
        answer = self.client.get(link, prefer=f"odata.maxpagesize={PAGE_SIZE}")
        changes = []
        for event in answer.get("value") or ():
            if not isinstance(event, dict) or not event.get("id"):
                continue
            got = self._item(event, window)
            item_id = str(event["id"])
            if isinstance(got, MailboxItem):
                changes.append(MailboxChange(item_id, got.changekey, item=got))
            elif not isinstance(got, ItemNotFound):
                changes.append(MailboxChange(item_id, None))
        following = answer.get("@odata.nextLink")
        if isinstance(following, str):
            return ChangesPage(changes, listing_token(following, delta_token), done=False)
        return ChangesPage(changes, delta_token, done=True)

    def get(self, ids: Sequence[str]) -> list[Any]:
        return self._read(ids, Window.around())

    # -- writing ------------------------------------------------------------------------

    def create(self, items: Sequence[NewItem]) -> list[Any]:
        return calendar_writes.create(self, items)

    def update(self, updates: Sequence[ItemUpdate]) -> list[Any]:
        return calendar_writes.update(self, updates)

    def delete(self, refs: Sequence[ItemRef]) -> list[Any]:
        return calendar_writes.delete(self, refs)
