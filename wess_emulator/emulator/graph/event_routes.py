"""Graph's calendar routes over the store's calendar items: ``/events`` (list with an
extended-property ``$filter``, POST), ``/events/{id}`` (GET, PATCH, DELETE — an occurrence
PATCHed becomes an exception, an occurrence deleted a cancelled one, and a series whose
pattern or time changes loses its exceptions, as in Exchange), ``/events/{id}/instances``
and ``/calendarView/delta`` (see ``calendar_view``)."""

from __future__ import annotations

import copy

from .. import recurrence
from ..model import Item
from . import calendar_view, props
from .collection import check_if_match
from .events import TYPE_NAME, apply_event, new_event_elem, render_event
from .router import USER, GraphError, GraphRequest, bad_request, not_found, route

EVENTS = USER + r"(?:/calendar)?/events"
EVENT = USER + r"(?:/calendar)?/events/(?P<event>[^/]+)"
PROPS = "singleValueExtendedProperties"


def _invalid(error: ValueError) -> GraphError:
    return bad_request(str(error), "ErrorInvalidProperty")


def _event(ctx: GraphRequest, graph_id: str) -> Item:
    item = ctx.resolve_item(graph_id)
    folder = (item.master or item).folder
    if item.kind != "CalendarItem" or folder.kind != "CalendarFolder":
        raise not_found()  # e.g. a meeting moved to Deleted Items
    return item


def _json(ctx: GraphRequest, item: Item) -> dict:
    doc = render_event(item, ctx.item_id_out)
    doc.update(props.expanded(item, props.parse_expand(ctx.query)))
    return doc


def _page(ctx: GraphRequest, values: list[dict]) -> dict:
    """One page of a plain list (``$skip`` in the nextLink, the query kept)."""
    try:
        skip = int(ctx.query.get("$skip") or 0)
        size = min(ctx.page_size, int(ctx.query.get("$top") or ctx.page_size))
    except ValueError:
        raise bad_request("$skip and $top are numbers.") from None
    doc: dict = {"value": values[skip : skip + size]}
    if skip + size < len(values):
        query = {**ctx.query, "$skip": str(skip + size)}
        doc["@odata.nextLink"] = ctx.link(query)
    return doc


@route("GET", EVENTS, "events.list")
def list_events(ctx: GraphRequest, match) -> tuple:
    folder = ctx.require_mailbox().distinguished["calendar"]
    wanted = props.parse_filter(ctx.query) or (lambda item: True)
    with ctx.mailbox.lock:
        items = [
            i
            for i in sorted(folder.items.values(), key=lambda i: i.created_seq)
            if i.kind == "CalendarItem" and wanted(i)
        ]
        values = [_json(ctx, i) for i in items]
    return 200, _page(ctx, values), {}


@route("POST", EVENTS, "events.create")
def create_event(ctx: GraphRequest, match) -> tuple:
    mailbox = ctx.require_mailbox()
    doc = ctx.body or {}
    try:
        elem = new_event_elem(doc)
    except ValueError as e:
        raise _invalid(e) from None
    props.write_all(elem, "CalendarItem", TYPE_NAME, doc.get(PROPS))
    item = mailbox.create_item(mailbox.distinguished["calendar"], elem)
    return 201, _json(ctx, item), {}


@route("GET", EVENT, "events.get")
def get_event(ctx: GraphRequest, match) -> tuple:
    with ctx.require_mailbox().lock:
        return 200, _json(ctx, _event(ctx, match["event"])), {}


@route("PATCH", EVENT, "events.update")
def update_event(ctx: GraphRequest, match) -> tuple:
    mailbox = ctx.require_mailbox()
    doc = ctx.body or {}
    with mailbox.lock:
        item = _event(ctx, match["event"])
        check_if_match(ctx, item)
        occurrence = item.master is not None
        if occurrence:
            item = mailbox.materialize_exception(item)
        master = item.is_recurring_master
        series = recurrence.series_signature(item.elem) if master else None
        backup = copy.deepcopy(item.elem)
        try:
            apply_event(item.elem, doc, occurrence=occurrence)
            props.write_all(item.elem, "CalendarItem", TYPE_NAME, doc.get(PROPS))
        except (ValueError, GraphError) as e:
            item.elem = backup
            raise _invalid(e) if isinstance(e, ValueError) else e from None
        if master and recurrence.series_signature(item.elem) != series:
            mailbox.drop_exceptions(item)  # a new pattern or series time, as in Exchange
        mailbox.update_item(item)
        return 200, _json(ctx, item), {}


@route("DELETE", EVENT, "events.delete")
def delete_event(ctx: GraphRequest, match) -> tuple:
    mailbox = ctx.require_mailbox()
    with mailbox.lock:
        item = _event(ctx, match["event"])
        if item.master is not None:
            mailbox.delete_occurrence(item.master, item.index)
        else:
            mailbox.delete_item(item)
    return 204, None, {}


@route("GET", EVENT + "/instances", "events.instances")
def event_instances(ctx: GraphRequest, match) -> tuple:
    mailbox = ctx.require_mailbox()
    try:
        lo, hi = calendar_view.parse_window(
            ctx.query.get("startDateTime"), ctx.query.get("endDateTime")
        )
    except ValueError as e:
        raise bad_request(str(e)) from None
    with mailbox.lock:
        master = _event(ctx, match["event"])
        found = []
        if master.is_recurring_master:
            found = calendar_view.instances(mailbox, master, lo, hi)
        values = [_json(ctx, inst) for inst, _ in found]
    return 200, _page(ctx, values), {}


@route("GET", USER + r"/calendarView/delta", "events.delta")
def calendar_view_delta(ctx: GraphRequest, match) -> tuple:
    mailbox = ctx.require_mailbox()
    if ctx.query.get("$expand"):
        raise bad_request("$expand is not supported on calendarView delta.", "ErrorInvalidProperty")
    generation = ctx.server.graph.generation
    skip, delta = ctx.query.get("$skiptoken"), ctx.query.get("$deltatoken")
    try:
        if skip:
            key, _, offset = skip.partition(".")
            rnd = calendar_view.load_round(mailbox, key, generation)
            start = int(offset)
        else:
            window = None
            if not delta:
                window = calendar_view.parse_window(
                    ctx.query.get("startDateTime"), ctx.query.get("endDateTime")
                )
            rnd = calendar_view.start_round(mailbox, ctx, generation, window, delta)
            key, start = calendar_view.save_round(mailbox, rnd), 0
    except (calendar_view.SyncStateLost, ValueError) as e:
        if isinstance(e, ValueError) and not skip:
            raise bad_request(str(e)) from None
        raise GraphError(
            410, "syncStateNotFound", "The sync state is not found or has expired."
        ) from None
    end = start + ctx.page_size
    doc: dict = {"value": rnd.changes[start:end]}
    if end < len(rnd.changes):
        doc["@odata.nextLink"] = ctx.link({"$skiptoken": f"{key}.{end}"})
    else:
        token = calendar_view.save_snapshot(mailbox, rnd.snapshot)
        doc["@odata.deltaLink"] = ctx.link({"$deltatoken": token})
    return 200, doc, {}
