"""Contacts: ``/users/{u}/contactFolders/{f}`` (well-known ``contacts``), its ``contacts``
collection and delta, and ``/users/{u}/contacts/{id}``."""

from __future__ import annotations

from . import collection, json_items
from .collection import Resource
from .router import USER, Answer, GraphRequest, route

CONTACTS = Resource(
    item_kind="Contact",
    folder_kinds=("ContactsFolder",),
    render=json_items.contact_json,
    apply=json_items.apply_contact,
    well_known={"contacts": "contacts"},
)
FOLDER = USER + r"/contactFolders/(?P<folder>[^/]+)"
ITEM = r"/contacts/(?P<id>[^/]+)"


def _folder(ctx: GraphRequest, match):
    return collection.folder_of(ctx, CONTACTS, match["folder"])


@route("GET", FOLDER + r"/contacts/delta", "contacts.delta")
def contacts_delta(ctx: GraphRequest, match) -> Answer:
    return collection.delta_items(ctx, CONTACTS, _folder(ctx, match))


@route("GET", FOLDER, "contacts.folder")
def contact_folder(ctx: GraphRequest, match) -> Answer:
    folder = _folder(ctx, match)
    doc = {
        "id": ctx.folder_id_out(folder),
        "displayName": folder.display_name,
        "parentFolderId": ctx.folder_id_out(folder.parent) if folder.parent else None,
    }
    if folder.distinguished == "contacts":
        doc["wellKnownName"] = "contacts"
    return 200, doc, {}


@route("GET", FOLDER + r"/contacts", "contacts.list")
def list_contacts(ctx: GraphRequest, match) -> Answer:
    return collection.list_items(ctx, CONTACTS, _folder(ctx, match))


@route("GET", USER + r"/contacts", "contacts.list")
def list_default_contacts(ctx: GraphRequest, match) -> Answer:
    folder = ctx.require_mailbox().distinguished["contacts"]
    return collection.list_items(ctx, CONTACTS, folder)


@route("POST", FOLDER + r"/contacts", "contacts.create")
def create_contact(ctx: GraphRequest, match) -> Answer:
    return collection.create_item(ctx, CONTACTS, _folder(ctx, match))


@route("POST", USER + r"/contacts", "contacts.create")
def create_default_contact(ctx: GraphRequest, match) -> Answer:
    folder = ctx.require_mailbox().distinguished["contacts"]
    return collection.create_item(ctx, CONTACTS, folder)


def _item(ctx: GraphRequest, match):
    folder = _folder(ctx, match) if match.groupdict().get("folder") else None
    return collection.item_of(ctx, CONTACTS, match["id"], folder)


for _path in (USER + ITEM, FOLDER + ITEM):

    @route("GET", _path, "contacts.get")
    def get_contact(ctx: GraphRequest, match) -> Answer:
        return collection.get_item(ctx, CONTACTS, _item(ctx, match))

    @route("PATCH", _path, "contacts.update")
    def update_contact(ctx: GraphRequest, match) -> Answer:
        return collection.update_item(ctx, CONTACTS, _item(ctx, match))

    @route("DELETE", _path, "contacts.delete")
    def delete_contact(ctx: GraphRequest, match) -> Answer:
        return collection.delete_item(ctx, CONTACTS, _item(ctx, match))
