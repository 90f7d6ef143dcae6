"""``POST /users/{u}/translateExchangeIds``: EWS ids to Graph ids (REST or immutable).

Microsoft documents no Application permission for this call, so an app-only token gets
``403 ErrorAccessDenied`` unless a test sets ``server.graph.translate_for_apps``."""

from __future__ import annotations

from . import ids
from .router import USER, Answer, GraphError, GraphRequest, bad_request, route

MAX_IDS = 1000
TARGETS = ("restId", "restImmutableEntryId", "ewsId", "entryId", "immutableEntryId")


@route("POST", USER + r"/translateExchangeIds", "translateExchangeIds")
def translate_exchange_ids(ctx: GraphRequest, match) -> Answer:
    if not ctx.server.graph.translate_for_apps:
        raise GraphError(
            403,
            "ErrorAccessDenied",
            "Access is denied: translateExchangeIds does not support application permissions.",
        )
    body = ctx.body or {}
    inputs = body.get("inputIds")
    if not isinstance(inputs, list) or not all(isinstance(v, str) for v in inputs):
        raise bad_request("inputIds must be a list of strings.")
    if len(inputs) > MAX_IDS:
        raise bad_request(f"At most {MAX_IDS} ids per request; got {len(inputs)}.")
    if body.get("sourceIdType") != "ewsId":
        raise bad_request("Only sourceIdType ewsId is supported.")
    target = body.get("targetIdType")
    if target not in TARGETS:
        raise bad_request(f"Unsupported targetIdType {target!r}.")
    mailbox = ctx.require_mailbox()
    values = []
    with mailbox.lock:
        for source in inputs:
            translated = ids.translate_ews_id(mailbox, source, target)
            if translated is not None:
                values.append({"sourceId": source, "targetId": translated})
    return 200, {"value": values}, {}
