"""Item elements from what a seed or a client gives: a bulk-seeding record turned into a
``t:<Kind>`` element, and a calendar item's times stored as Exchange returns them."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from . import recurrence
from .errors import EwsError
from .model import ITEM_KINDS, Folder, now_text
from .xmlutil import el, local, sort_children, sub, tq


def utc_times(elem) -> None:
    """Store a calendar item's times as Exchange returns them: Start/End in UTC ("...Z")
    whatever offset the client sent (exchangelib sends local times with their offset on
    update), and the recurrence range's dates with the series zone's offset on that day
    ("2026-10-12+01:00"; a bare date would be read as the client's local midnight)."""
    for name in ("Start", "End"):
        node = elem.find(tq(name))
        if node is not None and node.text:
            try:
                node.text = now_text(recurrence.parse_dt(node.text))
            except ValueError:
                raise EwsError("ErrorInvalidPropertySet", f"Invalid {name}: {node.text}") from None
    rec = elem.find(tq("Recurrence"))
    if rec is None or len(rec) < 2:
        return
    zone = recurrence.item_zone(elem)
    for name in ("StartDate", "EndDate"):
        node = rec[1].find(tq(name))
        if node is not None and node.text:
            try:
                day = recurrence.parse_date(node.text)
            except ValueError:
                raise EwsError("ErrorInvalidPropertySet", f"Invalid {name}: {node.text}") from None
            offset = dt.datetime.combine(day, dt.time(), tzinfo=zone).strftime("%z")
            suffix = "Z" if offset in ("", "+0000") else f"{offset[:3]}:{offset[3:]}"
            node.text = day.isoformat() + suffix


def build_item_elem(record: dict, folder: Folder):
    """Build a ``t:<Kind>`` element from a bulk-seeding record (see ``Mailbox.add_items``)."""
    if "xml" in record:
        from .xmlutil import parse_xml

        elem = parse_xml(
            record["xml"].encode() if isinstance(record["xml"], str) else record["xml"]
        )
    else:
        kind = record.get("kind") or folder.default_item_kind
        if kind not in ITEM_KINDS:
            raise ValueError(f"Unknown item kind {kind!r}")
        elem = etree.Element(tq(kind))
    type_name = ITEM_KINDS[local(elem.tag)][0]
    for key, value in record.items():
        if key in ("kind", "xml", "email_addresses", "extended_properties", "quirks"):
            continue
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        node = etree.SubElement(elem, tq(key))
        node.text = str(value)
        if key == "Body":  # plain text, unless the record's "xml" says otherwise
            node.set("BodyType", "Text")
    if record.get("email_addresses"):
        addrs = el("t:EmailAddresses")
        for key, addr in record["email_addresses"].items():
            sub(addrs, "t:Entry", addr, {"Key": key})
        elem.append(addrs)
    for prop in record.get("extended_properties") or ():
        attrs = {k: v for k, v in prop.items() if k not in ("Value", "Values")}
        ep = el("t:ExtendedProperty")
        sub(ep, "t:ExtendedFieldURI", attrib=attrs)
        if "Values" in prop:
            values = sub(ep, "t:Values")
            for v in prop["Values"]:
                sub(values, "t:Value", v)
        else:
            sub(ep, "t:Value", prop["Value"])
        elem.append(ep)
    sort_children(elem, type_name)
    if record.get("extended_properties"):
        from .mapi import absorb_extended  # MAPI tags seed the fields they alias, as over EWS

        elem = absorb_extended(elem)
    return elem
