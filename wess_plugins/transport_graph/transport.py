"""The Graph transport: the engine's mailbox interface over Microsoft Graph v1.0.

Contacts (the default contact folder), tasks (To Do's default list: Outlook tasks
stopped returning data over Graph in 2022), and mail in the inbox and sent items (read
only). Reads are delta queries (``delta.py``), one page per ``changes`` call, the
whole deltaLink kept as the token; an idle folder costs one request. Writes and reads
of given ids go in ``$batch`` requests (``batch.py``). The CRM id is the same named
property the EWS transport writes, sent in the create's body. The calendar is
``calendar.GraphCalendar``'s, over the same client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from wess_core import validation
from wess_core.strategies import (
    ChangesPage,
    FolderUnavailable,
    ItemRef,
    ItemUpdate,
    MailboxError,
    MailboxItem,
    NewItem,
    Setting,
)
from wess_plugins.transport_graph import delta
from wess_plugins.transport_graph.client import GraphClient, query_string
from wess_plugins.transport_graph.connect import (
    DEFAULT_GRAPH_URL,
    GRAPH_SCOPE,
    check_mailbox,
    open_client,
    valid_graph_url,
)
from wess_plugins.transport_graph.fields import CRM_ID_PROPERTY, EXPAND, TO_GRAPH

__all__ = ["GraphTransport"]

log = logging.getLogger(__name__)

#: Folders whose items WESS never writes (mail is synced from Exchange to the CRM only).
READ_ONLY = frozenset({"inbox", "sentitems"})
#: Why the calendar is skipped by an installation without the Graph calendar module.
NO_CALENDAR = "this installation of the graph transport has no calendar (calendar.py)"
#: Ids per translateExchangeIds call (Graph's limit).
TRANSLATE_BATCH = 1000
#: Inputs per bulk call: five ``$batch`` requests of 20.
BATCH_SIZE = 100


def _segment(value: str) -> str:
    """An id as one path segment (base64's ``/`` encoded; ``=`` and ``+`` kept)."""
    return quote(value, safe="=+")


def if_match(changekey: str) -> str:
    """``If-Match`` for a version the engine holds: an etag as it is, a change key as
    the weak etag Graph makes of it (``W/"<changeKey>"``)."""
    if changekey.startswith(('W/"', '"')):
        return changekey
    return f'W/"{changekey}"'


class GraphTransport:
    """One user's mailbox over Microsoft Graph. Built per sync run from a freshly
    resolved connection (no request until the engine asks for something)."""

    #: What an admin may configure for Graph (``--option graph_url=...``).
    settings = (
        Setting(
            "graph_url",
            help=f"Microsoft Graph's URL (default: {DEFAULT_GRAPH_URL}; a national cloud "
            "has its own, e.g. https://graph.microsoft.us/v1.0)",
            validate=valid_graph_url,
        ),
        Setting(
            "token_scope",
            help=f"OAuth scope of the Graph tokens (default: {GRAPH_SCOPE})",
            validate=validation.token_scope,
        ),
    )
    max_batch = BATCH_SIZE
    #: Stored item ids are Graph's immutable ids (EWS ids are converted on a switch).
    id_space = "graph"

    @staticmethod
    def check(connection: Any) -> None:
        """The credential check on save: read the user and their contacts folder."""
        check_mailbox(connection)

    @staticmethod
    def checklist_steps(account: Any) -> list[str]:
        """The IT checklist's lines for an account on Graph."""
        from wess_plugins.transport_graph.checklist import checklist_steps

        return checklist_steps(account)

    def __init__(
        self, connection: Any, client: GraphClient | None = None, page_size: int = delta.PAGE_SIZE
    ) -> None:
        self.connection = connection
        self.page_size = page_size
        self.client = client or open_client(connection)
        self.user = self.client.user_path
        #: Folder ids: the default contact folder's, To Do's default list's.
        self._folder_ids: dict[str, str] = {}
        self._calendar: Any = None

    # -- folders ---------------------------------------------------------------------

    def _folder_id(self, folder: str) -> str:
        """The id of ``folder`` (one request the first time, unless a token named it)."""
        if folder not in self._folder_ids:
            if folder == "contacts":
                found = self.client.get(f"{self.user}/contactFolders/contacts")
                self._folder_ids[folder] = str(found["id"])
            else:
                self._folder_ids[folder] = self._default_task_list()
        return self._folder_ids[folder]

    def _default_task_list(self) -> str:
        lists = self.client.get(f"{self.user}/todo/lists").get("value") or []
        for entry in lists:
            if entry.get("wellknownListName") == "defaultList":
                return str(entry["id"])
        raise MailboxError(f"{self.client.mailbox} has no default To Do list", code="NoTaskList")

    def _collection(self, folder: str) -> str:
        """Where ``folder``'s items are listed and created."""
        if folder == "contacts":
            return f"{self.user}/contactFolders/{_segment(self._folder_id(folder))}/contacts"
        if folder == "tasks":
            return f"{self.user}/todo/lists/{_segment(self._folder_id(folder))}/tasks"
        if folder in READ_ONLY:
            return f"{self.user}/mailFolders/{folder}/messages"
        raise MailboxError(f"unknown folder {folder!r} for the graph transport")

    def _item_path(self, folder: str, item_id: str) -> str:
        if folder == "contacts":
            return f"{self.user}/contacts/{_segment(item_id)}"
        if folder == "tasks":
            return f"{self._collection(folder)}/{_segment(item_id)}"
        return f"{self.user}/messages/{_segment(item_id)}"

    def _calendar_part(self) -> Any:
        """The calendar's own part (``calendar.py``), over the same client."""
        if self._calendar is None:
            try:
                from wess_plugins.transport_graph.calendar import GraphCalendar
            except ModuleNotFoundError as exc:
                if exc.name != f"{__package__}.calendar":
                    raise
                raise FolderUnavailable(NO_CALENDAR, code="NoCalendar") from None
            self._calendar = GraphCalendar(self.client, self.user)
        return self._calendar

    # -- the Transport protocol ----------------------------------------------------------

    def changes(self, folder: str, token: str | None) -> ChangesPage:
        if folder == "calendar":
            return self._calendar_part().changes(token)
        if token:
            link = delta.check_token(self.client, folder, token)
            named = delta.folder_id_in(folder, link)
            if named and folder not in self._folder_ids:
                self._folder_ids[folder] = named
            return delta.page(self.client, folder, link, page_size=self.page_size)
        self._collection(folder)  # unknown folders refused before any request
        start = f"{self._collection(folder)}/delta"
        params = {"$expand": EXPAND[folder]}
        return delta.page(self.client, folder, start, params, self.page_size)

    def get(self, folder: str, item_ids: Sequence[str]) -> list[Any]:
        if folder == "calendar":
            return self._calendar_part().get(item_ids)
        if not item_ids:
            return []
        self._collection(folder)
        query = query_string({"$expand": EXPAND[folder]})
        requests = [
            {"id": str(n), "method": "GET", "url": self._item_path(folder, i) + query}
            for n, i in enumerate(item_ids)
        ]
        return self._answers(requests, lambda answer, _: delta.to_mailbox_item(folder, answer))

    def create(self, folder: str, items: Sequence[NewItem]) -> list[Any]:
        if folder == "calendar":
            return self._calendar_part().create(items)
        return self._writes(folder, items, self._create_request)

    def update(self, folder: str, updates: Sequence[ItemUpdate]) -> list[Any]:
        if folder == "calendar":
            return self._calendar_part().update(updates)
        return self._writes(folder, updates, self._update_request)

    def delete(self, folder: str, refs: Sequence[ItemRef]) -> list[Any]:
        if folder == "calendar":
            return self._calendar_part().delete(refs)
        if not refs:
            return []
        if folder in READ_ONLY:
            return [_read_only(folder) for _ in refs]
        self._collection(folder)
        requests = [
            {"id": str(n), "method": "DELETE", "url": self._item_path(folder, r.item_id)}
            for n, r in enumerate(refs)
        ]
        return self._answers(requests, lambda answer, _: None, missing_is_done=True)

    def adopt_ids(self, folder: str, item_ids: Sequence[str], from_space: str) -> dict[str, str]:
        """EWS ids of a user switched to Graph, as immutable ids (``translateExchangeIds``,
        1000 a call); ids it does not know are left out. Microsoft refuses the call to
        app-only tokens (403): then nothing is converted and the engine links the items
        again by the CRM id WESS stored on them or by match keys."""
        if from_space != "ews" or not item_ids:
            return {}
        out: dict[str, str] = {}
        ids = list(dict.fromkeys(item_ids))
        for start in range(0, len(ids), TRANSLATE_BATCH):
            body = {
                "inputIds": ids[start : start + TRANSLATE_BATCH],
                "sourceIdType": "ewsId",
                "targetIdType": "restImmutableEntryId",
            }
            answer = self.client.send("POST", f"{self.user}/translateExchangeIds", body=body)
            if answer.status == 403:
                log.info("%s: translateExchangeIds refused; links are found again", folder)
                return {}
            if not answer.ok:
                raise self.client.error_for(answer.status, answer.body, answer.headers)
            for pair in (answer.body or {}).get("value") or ():
                if isinstance(pair, dict) and pair.get("sourceId") and pair.get("targetId"):
                    out[str(pair["sourceId"])] = str(pair["targetId"])
        return out

    # -- writes --------------------------------------------------------------------------

    def _create_request(self, folder: str, new: NewItem) -> dict[str, Any]:
        body = TO_GRAPH[folder](new.fields, True)
        crm_id = {"id": CRM_ID_PROPERTY, "value": new.crm_id}
        body["singleValueExtendedProperties"] = [
            *body.get("singleValueExtendedProperties", []),
            crm_id,
        ]
        return {"method": "POST", "url": self._collection(folder), "body": body}

    def _update_request(self, folder: str, update: ItemUpdate) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if update.changekey:
            headers["If-Match"] = if_match(update.changekey)
        return {
            "method": "PATCH",
            "url": self._item_path(folder, update.item_id),
            "headers": headers,
            "body": TO_GRAPH[folder](update.fields, False),
        }

    def _writes(
        self,
        folder: str,
        inputs: Sequence[Any],
        build: Callable[[str, Any], dict[str, Any]],
    ) -> list[Any]:
        """Creates or updates in ``$batch``: one result per input, in input order; an
        input its field maps refuse fails alone."""
        if not inputs:
            return []
        if folder in READ_ONLY:
            return [_read_only(folder) for _ in inputs]
        self._collection(folder)  # the folder's id: its failure is the whole call's
        out: list[Any] = [None] * len(inputs)
        requests = []
        for n, given in enumerate(inputs):
            try:
                request = build(folder, given)
            except Exception as exc:
                out[n] = _refused(exc)
                continue
            request.setdefault("headers", {"Content-Type": "application/json"})
            requests.append({"id": str(n), **request})
        done = self._answers(requests, self._ref)
        for request, result in zip(requests, done, strict=True):
            out[int(request["id"])] = result
        return self._fill_refs(folder, inputs, out)

    def _ref(self, answer: dict[str, Any], request: dict[str, Any]) -> ItemRef:
        return ItemRef(str(answer.get("id") or ""), delta.changekey_of(answer))

    def _fill_refs(self, folder: str, inputs: Sequence[Any], out: list[Any]) -> list[Any]:
        """An answer without the new version (a PATCH answered 204): read it."""
        blanks = [
            n
            for n, r in enumerate(out)
            if isinstance(r, ItemRef) and not (r.item_id and r.changekey)
        ]
        if not blanks:
            return out
        ids = [out[n].item_id or getattr(inputs[n], "item_id", "") for n in blanks]
        for n, got in zip(blanks, self.get(folder, ids), strict=True):
            out[n] = got.ref if isinstance(got, MailboxItem) else got
        return out

    def _answers(
        self,
        requests: list[dict[str, Any]],
        convert: Callable[[dict[str, Any], dict[str, Any]], Any],
        *,
        missing_is_done: bool = False,
    ) -> list[Any]:
        """Send ``requests`` in batches; per request, ``convert(body, request)`` of a
        success or the mapped error of a failure, in request order."""
        if not requests:
            return []
        answers = self.client.batch(requests)
        out: list[Any] = []
        for request in requests:
            answer = answers[request["id"]]
            status, body = answer["status"], answer.get("body")
            if 200 <= status < 300:
                try:
                    out.append(convert(body if isinstance(body, dict) else {}, request))
                except Exception as exc:
                    out.append(_refused(exc))
            elif status == 404 and missing_is_done:
                out.append(None)
            else:
                out.append(self.client.error_for(status, body, answer.get("headers")))
        return out


def _read_only(folder: str) -> MailboxError:
    return MailboxError(f"{folder} is read only: WESS never writes mail", code="ReadOnly")


def _refused(exc: Exception) -> Exception:
    """An input the field maps refused (or an answer they cannot read): that item's error."""
    if isinstance(exc, MailboxError):
        return exc
    return MailboxError(f"{type(exc).__name__}: {str(exc)[:200]}", code="InvalidValue")
