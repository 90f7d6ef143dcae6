"""Pull subscriptions for the EWS transport (``Transport.watch``): which synced folders
changed since the last poll, for one GetEvents when nothing did.

One pull subscription per user covers every synced folder. Its state (a JSON string the
engine stores) holds the subscription id, the watermark to continue from, and the map
from the folders' real EWS ids (what events name) to the engine's folder names. A lost
subscription (not found, expired, a watermark refused, or one made by another account)
is made again and every folder reported changed: the engine then runs each folder's
SyncFolderItems from its stored token, so nothing is missed.

Timeout: ``TIMEOUT_MINUTES`` (60) without a poll before Exchange drops a subscription;
the scheduler polls every sync interval (default 5 minutes), and a user polled less often
simply gets a renewal (Subscribe + one GetFolder) and one full round.
"""

from __future__ import annotations

import json
from typing import Any

from exchangelib.errors import (
    ErrorExpiredSubscription,
    ErrorInvalidWatermark,
    ErrorSubscriptionAccessDenied,
    ErrorSubscriptionNotFound,
)
from exchangelib.services import GetEvents, GetFolder, SubscribeToPull

from wess_core.strategies import FolderEvents

#: Minutes Exchange keeps a subscription that is not polled (EWS allows 1-1440).
TIMEOUT_MINUTES = 60
#: Event types that can change what a folder's SyncFolderItems reports.
EVENT_TYPES = ("CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent", "CopiedEvent")
#: Answers that mean the subscription is gone: subscribe again, sync every folder.
LOST = (
    ErrorSubscriptionNotFound,
    ErrorExpiredSubscription,
    ErrorInvalidWatermark,
    ErrorSubscriptionAccessDenied,
)
_VERSION = 1


def watch(account: Any, folder_objects: dict[str, Any], state: str | None) -> FolderEvents:
    """Poll (or make) the subscription over ``folder_objects`` (engine name -> exchangelib
    folder) of ``account``'s mailbox."""
    names = sorted(folder_objects)
    saved = _load(state)
    if saved is None or saved.get("watched") != names:
        return _subscribe(account, folder_objects)
    try:
        changed, watermark = _poll(account, saved["id"], saved["watermark"], saved["folders"])
    except LOST:
        return _subscribe(account, folder_objects)
    return FolderEvents(changed=frozenset(changed), state=_dump({**saved, "watermark": watermark}))


def _poll(account: Any, sub_id: str, watermark: str, folders: dict[str, str]):
    """Every event since ``watermark`` (GetEvents again while MoreEvents): the folder
    names they touch and the watermark to continue from."""
    changed: set[str] = set()
    svc = GetEvents(account=account)
    while True:
        note = svc.get(subscription_id=sub_id, watermark=watermark)
        for event in note.events:
            watermark = event.watermark or watermark
            for ref in (
                getattr(event, "parent_folder_id", None),
                getattr(event, "old_parent_folder_id", None),
            ):
                name = folders.get(ref.id) if ref is not None else None
                if name is not None:  # an id of no watched folder: ignored
                    changed.add(name)
        if not note.more_events:
            return changed, watermark


def _subscribe(account: Any, folder_objects: dict[str, Any]) -> FolderEvents:
    """One Subscribe over every folder, then one GetFolder for the ids events will name
    (the folders are addressed by distinguished ids, which events do not carry)."""
    names = sorted(folder_objects)
    objects = [folder_objects[n] for n in names]
    sub_id, watermark = SubscribeToPull(account=account).get(
        folders=objects, event_types=EVENT_TYPES, watermark=None, timeout=TIMEOUT_MINUTES
    )
    found = list(
        GetFolder(account=account).call(folders=objects, additional_fields=(), shape="IdOnly")
    )
    ids: dict[str, str] = {}
    for name, folder in zip(names, found, strict=True):
        if isinstance(folder, Exception):
            raise folder
        ids[folder.id] = name
    state = {"v": _VERSION, "id": sub_id, "watermark": watermark, "folders": ids}
    state["watched"] = names
    return FolderEvents(changed=frozenset(names), state=_dump(state), renewed=True)


def _load(state: str | None) -> dict | None:
    if not state:
        return None
    try:
        saved = json.loads(state)
    except ValueError:
        return None
    if not isinstance(saved, dict) or saved.get("v") != _VERSION:
        return None
    needed = {"id": str, "watermark": str, "folders": dict, "watched": list}
    if any(not isinstance(saved.get(k), t) for k, t in needed.items()):
        return None
    return saved


def _dump(state: dict) -> str:
    return json.dumps(state, sort_keys=True, separators=(",", ":"))
