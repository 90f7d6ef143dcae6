"""What contacts, To Do tasks and messages share: a folder of items with list (``$filter``,
``$expand``, ``$top``/``$skip`` paging), GET, POST, PATCH with ``If-Match``, DELETE and
delta. Each resource module describes itself with a :class:`Resource`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from ..model import Folder, Item
from ..xmlutil import tq
from . import delta, props
from .router import Answer, GraphError, GraphRequest, bad_request, not_found

Render = Callable[[GraphRequest, Item, list[str]], dict]


@dataclass(frozen=True)
class Resource:
    """One Graph item type over one EWS item kind."""

    item_kind: str  # the EWS kind of its items ("Contact"...)
    folder_kinds: tuple[str, ...]  # EWS folder kinds holding them
    render: Render
    #: writes a request's JSON members onto an item element (None: read only)
    apply: Callable[[object, dict], None] | None = None
    #: Graph well-known folder names -> EWS distinguished names
    well_known: dict[str, str] | None = None


def folder_of(ctx: GraphRequest, resource: Resource, ref: str) -> Folder:
    folder = ctx.resolve_folder(ref, resource.well_known or {})
    if folder.kind not in resource.folder_kinds:
        raise GraphError(404, "ErrorItemNotFound", "The specified folder was not found.")
    return folder


def item_of(ctx: GraphRequest, resource: Resource, graph_id: str, folder: Folder | None = None):
    item = ctx.resolve_item(graph_id)
    if item.kind != resource.item_kind or (folder is not None and item.folder is not folder):
        raise not_found()
    return item


def render(ctx: GraphRequest, resource: Resource, item: Item, shape: props.Shape) -> dict:
    """``item`` as JSON, shaped by the request's ``$expand`` and ``$select``."""
    return shape.apply(resource.render(ctx, item, shape.expand))


def list_items(ctx: GraphRequest, resource: Resource, folder: Folder) -> Answer:
    shape = props.Shape.from_query(ctx.query)
    wanted = props.parse_filter(ctx.query)
    top = _int_option(ctx, "$top", ctx.page_size)
    skip = _int_option(ctx, "$skip", 0)
    mailbox = ctx.require_mailbox()
    with mailbox.lock:
        items = sorted(folder.items.values(), key=lambda i: i.created_seq)
        if wanted is not None:
            items = [item for item in items if wanted(item)]
        page = items[skip : skip + top]
        values = [render(ctx, resource, item, shape) for item in page]
    doc: dict = {"value": values}
    if skip + top < len(items):
        query = {k: v for k, v in ctx.query.items() if k != "$skip"}
        query["$skip"] = str(skip + top)
        doc["@odata.nextLink"] = ctx.link(query)
    return 200, doc, {}


def _int_option(ctx: GraphRequest, name: str, default: int) -> int:
    value = ctx.query.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise bad_request(f"{name} must be a non-negative integer.")
    return min(int(value), 1000) if name == "$top" else int(value)


def get_item(ctx: GraphRequest, resource: Resource, item: Item) -> Answer:
    shape = props.Shape.from_query(ctx.query)
    with ctx.require_mailbox().lock:
        return 200, render(ctx, resource, item, shape), {}


def create_item(ctx: GraphRequest, resource: Resource, folder: Folder) -> Answer:
    if resource.apply is None:
        raise GraphError(405, "BadRequest", "This collection is read only.")
    if ctx.body is None:
        raise bad_request("A request body is required.")
    elem = etree.Element(tq(resource.item_kind))
    _apply(resource, elem, ctx.body)
    item = ctx.require_mailbox().create_item(folder, elem)
    with ctx.require_mailbox().lock:
        return 201, resource.render(ctx, item, []), {}


def _apply(resource: Resource, elem, body: dict) -> None:
    """``resource.apply``, with text XML cannot hold (NUL, control characters) refused."""
    try:
        resource.apply(elem, body)
    except ValueError as e:  # lxml: "All strings must be XML compatible"
        raise GraphError(400, "ErrorInvalidProperty", f"Invalid property value: {e}") from None


def check_if_match(ctx: GraphRequest, item: Item) -> None:
    """412 ErrorIrresolvableConflict when ``If-Match`` names another version."""
    wanted = ctx.headers.get("if-match")
    if wanted is None or wanted.strip() == "*":
        return
    tag = wanted.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    if tag.strip('"') != item.change_key:
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The change key passed in the request does not match the current change key.",
        )


def update_item(ctx: GraphRequest, resource: Resource, item: Item) -> Answer:
    if resource.apply is None:
        raise GraphError(405, "BadRequest", "This collection is read only.")
    if ctx.body is None:
        raise bad_request("A request body is required.")
    mailbox = ctx.require_mailbox()
    with mailbox.lock:
        check_if_match(ctx, item)
        changed = copy.deepcopy(item.elem)  # all of the request or none of it
        _apply(resource, changed, ctx.body)
        item.elem = changed
        mailbox.update_item(item)
        return 200, resource.render(ctx, item, []), {}


def delete_item(ctx: GraphRequest, resource: Resource, item: Item) -> Answer:
    if resource.apply is None:
        raise GraphError(405, "BadRequest", "This collection is read only.")
    mailbox = ctx.require_mailbox()
    with mailbox.lock:
        check_if_match(ctx, item)
        mailbox.delete_item(item)
    return 204, None, {}


def delta_items(ctx: GraphRequest, resource: Resource, folder: Folder) -> Answer:
    def one(ctx: GraphRequest, item: Item, shape: props.Shape) -> dict:
        return render(ctx, resource, item, shape)

    return delta.delta_page(ctx, folder, one, props.Shape.from_query(ctx.query))
