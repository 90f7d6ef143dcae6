"""Messages, read only: ``/users/{u}/mailFolders/{inbox|sentitems|...|id}`` with its
``messages`` collection and delta, and ``/users/{u}/messages/{id}``."""

from __future__ import annotations

from . import collection, json_items
from .collection import Resource
from .router import USER, Answer, GraphRequest, route

MAIL_FOLDERS = {
    name: name for name in ("inbox", "sentitems", "drafts", "deleteditems", "junkemail", "outbox")
}
MESSAGES = Resource(
    item_kind="Message",
    folder_kinds=("Folder",),
    render=json_items.message_json,
    well_known=MAIL_FOLDERS,
)
FOLDER = USER + r"/mailFolders/(?P<folder>[^/]+)"


def _folder(ctx: GraphRequest, match):
    return collection.folder_of(ctx, MESSAGES, match["folder"])


@route("GET", FOLDER + r"/messages/delta", "messages.delta")
def messages_delta(ctx: GraphRequest, match) -> Answer:
    return collection.delta_items(ctx, MESSAGES, _folder(ctx, match))


@route("GET", FOLDER, "messages.folder")
def mail_folder(ctx: GraphRequest, match) -> Answer:
    folder = _folder(ctx, match)
    with ctx.require_mailbox().lock:
        doc = {
            "id": ctx.folder_id_out(folder),
            "displayName": folder.display_name,
            "parentFolderId": ctx.folder_id_out(folder.parent) if folder.parent else None,
            "totalItemCount": len(folder.items),
            "unreadItemCount": folder.unread_count(),
        }
    return 200, doc, {}


@route("GET", FOLDER + r"/messages", "messages.list")
def list_messages(ctx: GraphRequest, match) -> Answer:
    return collection.list_items(ctx, MESSAGES, _folder(ctx, match))


@route("GET", USER + r"/messages/(?P<id>[^/]+)", "messages.get")
def get_message(ctx: GraphRequest, match) -> Answer:
    return collection.get_item(ctx, MESSAGES, collection.item_of(ctx, MESSAGES, match["id"]))


@route("GET", FOLDER + r"/messages/(?P<id>[^/]+)", "messages.get")
def get_folder_message(ctx: GraphRequest, match) -> Answer:
    item = collection.item_of(ctx, MESSAGES, match["id"], _folder(ctx, match))
    return collection.get_item(ctx, MESSAGES, item)
