"""Graph's two id spaces for the one stored item, and folder ids.

* REST ids (no ``Prefer: IdType="ImmutableId"``) name the item's current store id, so they
  change when the item moves to another folder, as Exchange's entry ids do;
* immutable ids name the id the item was created with (``Mailbox.origin_of``), which a move
  keeps.

Both are base64url text behind a fixed prefix, distinct from each other and from EWS ids (plain
base64), so a client that mixes them up gets 404 rather than the wrong item.
"""

from __future__ import annotations

import base64
import binascii

from ..model import Folder, Item
from ..store import EwsError, Mailbox

REST_PREFIX = "AAMkR"
IMMUTABLE_PREFIX = "AAkALg"
FOLDER_PREFIX = "AAMkF"


def _encode(prefix: str, text: str) -> str:
    return prefix + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(prefix: str, value: str) -> str | None:
    if not value.startswith(prefix):
        return None
    body = value[len(prefix) :]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def rest_id(item_id: str) -> str:
    return _encode(REST_PREFIX, item_id)


def immutable_id(mailbox: Mailbox, item_id: str) -> str:
    return _encode(IMMUTABLE_PREFIX, mailbox.origin_of(item_id))


def item_id_out(mailbox: Mailbox, item_id: str, immutable: bool) -> str:
    """The Graph id of store item ``item_id`` (live or deleted) in the wanted space."""
    return immutable_id(mailbox, item_id) if immutable else rest_id(item_id)


def store_id(mailbox: Mailbox, graph_id: str) -> str | None:
    """The store id a Graph id of either space names now (None: not a Graph item id)."""
    text = _decode(REST_PREFIX, graph_id)
    if text is not None:
        return text
    origin = _decode(IMMUTABLE_PREFIX, graph_id)
    if origin is not None:
        return mailbox.current_id(origin)
    return None


def resolve_item(mailbox: Mailbox, graph_id: str) -> Item | None:
    """The live item (an occurrence or exception too) a Graph id names, or None."""
    item_id = store_id(mailbox, graph_id)
    if item_id is None:
        return None
    item = mailbox.items.get(item_id)
    if item is not None:
        return item
    parsed = mailbox.parse_occurrence_id(item_id)
    if parsed is None:
        return None
    master, index = parsed
    try:
        return mailbox.occurrence(master, index)
    except EwsError:
        return None


def folder_id_out(folder: Folder) -> str:
    return _encode(FOLDER_PREFIX, folder.id)


def resolve_folder(mailbox: Mailbox, ref: str, well_known: dict[str, str]) -> Folder | None:
    """The folder a Graph folder id or one of the ``well_known`` names (Graph name ->
    distinguished EWS name) names, or None."""
    name = well_known.get(ref.lower())
    if name is not None:
        return mailbox.distinguished.get(name)
    folder_id = _decode(FOLDER_PREFIX, ref)
    return mailbox.folders.get(folder_id) if folder_id else None


def translate_ews_id(mailbox: Mailbox, ews_id: str, target: str) -> str | None:
    """``translateExchangeIds``: an EWS item id to ``target`` (restId / restImmutableEntryId /
    ewsId), or None when the mailbox has no such item."""
    if ews_id not in mailbox.items:
        return None
    if target in ("restImmutableEntryId", "immutableEntryId"):
        return immutable_id(mailbox, ews_id)
    if target in ("restId", "entryId"):
        return rest_id(ews_id)
    if target == "ewsId":
        return ews_id
    return None
