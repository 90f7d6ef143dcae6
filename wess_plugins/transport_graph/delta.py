"""Delta queries: one page of a folder's changes per call, its links checked.

A round starts without a token (every current item), follows ``@odata.nextLink`` page
by page (pages may be empty) and ends with ``@odata.deltaLink``, the whole of which is
the sync token stored for the next round. A link is used only when it lies under the
transport's own ``graph_url``: a stored token from another Graph service (a changed
setting, a copied home) is treated as lost, never sent anywhere with a token.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from wess_core.strategies import (
    ChangesPage,
    FolderUnavailable,
    InvalidSyncState,
    ItemNotFound,
    MailboxChange,
    MailboxItem,
)
from wess_plugins.transport_graph.client import GraphClient, is_under
from wess_plugins.transport_graph.fields import FROM_GRAPH, crm_id_of, modified_of

__all__ = [
    "PAGE_SIZE",
    "changekey_of",
    "check_token",
    "folder_id_in",
    "page",
    "to_mailbox_item",
]

log = logging.getLogger(__name__)

#: Items per delta page asked for (``Prefer: odata.maxpagesize``).
PAGE_SIZE = 200

#: Where a delta link names its folder: the contact folder's or the To Do list's id.
_FOLDER_IN_LINK = {
    "contacts": re.compile(r"/contactFolders/([^/]+)/contacts/delta$"),
    "tasks": re.compile(r"/todo/lists/([^/]+)/tasks/delta$"),
}


def folder_id_in(folder: str, link: str) -> str | None:
    """The folder id a delta link of ``folder`` names (``None``: it names none)."""
    pattern = _FOLDER_IN_LINK.get(folder)
    found = pattern.search(urlsplit(link).path) if pattern else None
    return unquote(found.group(1)) if found else None


def changekey_of(item: dict[str, Any]) -> str:
    """An item's version: ``changeKey``, or the ``@odata.etag`` (To Do tasks have no
    change key)."""
    return str(item.get("changeKey") or item.get("@odata.etag") or "")


def to_mailbox_item(folder: str, item: dict[str, Any]) -> MailboxItem:
    """A Graph item (GET or delta JSON) as the engine's neutral item."""
    return MailboxItem(
        item_id=str(item["id"]),
        changekey=changekey_of(item),
        fields=FROM_GRAPH[folder](item),
        crm_id=crm_id_of(item),
        modified=modified_of(item),
    )


def _change(folder: str, entry: dict[str, Any]) -> MailboxChange:
    item_id = str(entry["id"])
    if "@removed" in entry:  # deleted, or moved out of the folder: gone from it
        return MailboxChange(item_id=item_id, deleted=True)
    try:
        item = to_mailbox_item(folder, entry)
    except Exception as exc:  # a value the field maps cannot read: the engine's get fails it
        log.info("%s: item %s unreadable in delta (%s)", folder, item_id, type(exc).__name__)
        return MailboxChange(item_id=item_id, changekey=None)
    return MailboxChange(item_id=item_id, changekey=item.changekey, item=item)


def check_token(client: GraphClient, folder: str, token: str) -> str:
    """A stored token, if it is a link under this transport's ``graph_url``; anything
    else (another service's link, not a link at all) is a lost token: the engine reads
    the folder again in full, and the token goes nowhere."""
    if not is_under(client.base_url, token):
        raise InvalidSyncState(
            f"the stored {folder} sync token is not a link of {client.base_url}; "
            "the folder is read again in full",
            code="ForeignToken",
        )
    return token


def page(
    client: GraphClient,
    folder: str,
    link: str,
    params: dict[str, Any] | None = None,
    page_size: int = PAGE_SIZE,
) -> ChangesPage:
    """One page of a delta round at ``link`` (a start path with ``params``, or a link
    :func:`check_token` let through)."""
    try:
        answer = client.get(link, params, prefer=f"odata.maxpagesize={page_size}")
    except ItemNotFound as exc:
        raise FolderUnavailable(
            f"Microsoft Graph has no {folder} folder for {client.mailbox}: {exc}",
            code=exc.code,
        ) from None
    entries: dict[str, MailboxChange] = {}
    for entry in answer.get("value") or ():
        if isinstance(entry, dict) and entry.get("id"):
            change = _change(folder, entry)
            entries.pop(change.item_id, None)  # a replay: the last one counts
            entries[change.item_id] = change
    next_link, delta_link = answer.get("@odata.nextLink"), answer.get("@odata.deltaLink")
    token = next_link or delta_link
    if not isinstance(token, str) or not is_under(client.base_url, token):
        raise FolderUnavailable(
            f"Microsoft Graph answered the {folder} delta query without a link of "
            f"{client.base_url}; the folder is tried again next run",
            code="MalformedResponse",
        )
    return ChangesPage(changes=list(entries.values()), token=token, done=not next_link)
