"""Graph's ``singleValueExtendedProperties`` over the EWS ``t:ExtendedProperty`` elements the
store keeps, so a property written over one protocol reads over the other.

A Graph property id is ``"<Type> {<guid>} Name <name>"``, ``"<Type> {<guid>} Id 0x<id>"`` or
``"<Type> 0x<tag>"``; EWS names the same property with ``ExtendedFieldURI`` attributes, using
a distinguished set name (``PublicStrings``...) for the well-known GUIDs. Also here:
``$expand=singleValueExtendedProperties($filter=id eq '...')`` and the
``singleValueExtendedProperties/Any(...)`` list filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .. import mapi
from ..model import Item
from ..render import ext_key
from ..xmlutil import el, insert_ordered, sub, tq
from .router import GraphError, bad_request

#: Property-set GUIDs EWS names by a distinguished id (upper case, as Graph writes them).
DISTINGUISHED_SETS = {
    "00020329-0000-0000-C000-000000000046": "PublicStrings",
    "00062008-0000-0000-C000-000000000046": "Common",
    "00062003-0000-0000-C000-000000000046": "Task",
    "00062004-0000-0000-C000-000000000046": "Address",
    "00062002-0000-0000-C000-000000000046": "Appointment",
    "6ED8DA90-450B-101B-98DA-00AA003F1305": "Meeting",
    "00020386-0000-0000-C000-000000000046": "InternetHeaders",
    "11000E07-B51B-40D6-AF21-CAA85EDAB1D0": "CalendarAssistant",
    "4442858E-A9E3-4E80-B900-317A210CC15B": "UnifiedMessaging",
}
GUID_OF_SET = {name: guid for guid, name in DISTINGUISHED_SETS.items()}

#: PidLidPercentComplete: a task's EWS ``PercentComplete`` (0-100) as a 0.0-1.0 double.
PERCENT_COMPLETE = "Double {00062003-0000-0000-C000-000000000046} Id 0x8102"
_PERCENT_KEY = ("Task", None, None, None, 0x8102)

_ID = re.compile(
    r"^\s*(?P<type>\w+)\s+(?:\{(?P<guid>[0-9a-fA-F-]{36})\}\s+"
    r"(?:Name\s+(?P<name>.+?)|Id\s+(?P<id>0x[0-9a-fA-F]+|\d+))|(?P<tag>0x[0-9a-fA-F]+))\s*$",
    re.IGNORECASE,
)
#: Graph property types, any case -> the EWS PropertyType spelling.
TYPES = {
    name.lower(): name
    for name in (
        "String",
        "Double",
        "Integer",
        "Long",
        "Short",
        "Float",
        "Boolean",
        "SystemTime",
        "Binary",
        "CLSID",
        "Currency",
        "ApplicationTime",
    )
}


def ews_attrs(prop_id: str) -> dict[str, str]:
    """The ``ExtendedFieldURI`` attributes naming Graph property ``prop_id``."""
    m = _ID.match(prop_id or "")
    if m is None:
        raise GraphError(400, "ErrorInvalidProperty", f"Invalid extended property id {prop_id!r}.")
    attrs = {}
    if m["tag"]:
        attrs["PropertyTag"] = f"0x{int(m['tag'], 16):04X}"
    else:
        guid = m["guid"].upper()
        if guid in DISTINGUISHED_SETS:
            attrs["DistinguishedPropertySetId"] = DISTINGUISHED_SETS[guid]
        else:
            attrs["PropertySetId"] = guid.lower()
        if m["name"]:
            attrs["PropertyName"] = m["name"]
        else:
            attrs["PropertyId"] = str(int(m["id"], 0))
    kind = TYPES.get(m["type"].lower())
    if kind is None:
        raise GraphError(400, "ErrorInvalidProperty", f"Unknown property type in {prop_id!r}.")
    attrs["PropertyType"] = kind
    return attrs


def canonical_key(attrs) -> tuple:
    """``render.ext_key`` with a well-known GUID written as its distinguished set name, so
    the two spellings of one property compare equal."""
    dist, set_id, tag, name, pid = ext_key(attrs)
    if set_id and set_id.upper() in DISTINGUISHED_SETS:
        dist, set_id = DISTINGUISHED_SETS[set_id.upper()], None
    return dist, set_id, tag, name, pid


def graph_id(attrs) -> str:
    """The Graph id of the property an ``ExtendedFieldURI`` names."""
    dist, set_id, tag, name, pid = canonical_key(attrs)
    kind = attrs.get("PropertyType", "String")
    if isinstance(tag, int):
        return f"{kind} 0x{tag:04x}"
    guid = GUID_OF_SET.get(dist or "", (set_id or "").upper())
    if name is not None:
        return f"{kind} {{{guid}}} Name {name}"
    return f"{kind} {{{guid}}} Id 0x{int(pid):04x}"


def _find(elem, key: tuple):
    for ep in elem.findall(tq("ExtendedProperty")):
        uri = ep.find(tq("ExtendedFieldURI"))
        if uri is not None and canonical_key(uri.attrib) == key:
            return ep
    return None


def read(item: Item, prop_id: str) -> str | None:
    """The value of property ``prop_id`` on ``item`` (None: not set)."""
    attrs = ews_attrs(prop_id)
    key = canonical_key(attrs)
    if key == _PERCENT_KEY and item.kind == "Task":
        percent = item.field_text("PercentComplete")
        return None if percent is None else _double_text(float(percent) / 100)
    aliased, value = mapi.item_value(item, key)  # a MAPI tag kept as a first-class field
    if aliased:
        return value
    ep = _find(item.elem, key)
    return None if ep is None else ep.findtext(tq("Value"))


def write(elem, kind: str, type_name: str, prop_id: str, value: str | None) -> None:
    """Set (or with None remove) property ``prop_id`` on an item element."""
    attrs = ews_attrs(prop_id)
    key = canonical_key(attrs)
    if key == _PERCENT_KEY and kind == "Task":
        for old in elem.findall(tq("PercentComplete")):
            elem.remove(old)
        if value is not None:
            insert_ordered(elem, el("t:PercentComplete", _percent_text(value)), type_name)
        return
    old = _find(elem, key)
    if old is not None:
        elem.remove(old)
    if value is None:
        return
    ep = el("t:ExtendedProperty")
    ep.append(el("t:ExtendedFieldURI", attrib=attrs))
    sub(ep, "t:Value", value)
    insert_ordered(elem, ep, type_name)


def write_all(elem, kind: str, type_name: str, props) -> None:
    """Apply a request's ``singleValueExtendedProperties`` list to an item element."""
    if props is None:
        return
    if not isinstance(props, list):
        raise bad_request("singleValueExtendedProperties must be a list.")
    for prop in props:
        if not isinstance(prop, dict) or "id" not in prop:
            raise bad_request("Each extended property needs an id and a value.")
        value = prop.get("value")
        write(elem, kind, type_name, prop["id"], None if value is None else str(value))


def _double_text(value: float) -> str:
    return repr(float(value))


def _percent_text(value: str) -> str:
    try:
        fraction = float(value)
    except ValueError:
        raise GraphError(400, "ErrorInvalidProperty", f"Not a number: {value!r}.") from None
    percent = fraction * 100
    return str(int(round(percent))) if abs(percent - round(percent)) < 1e-9 else repr(percent)


# ------------------------------------------------------------------ query options

_EXPAND = re.compile(
    r"^\s*singleValueExtendedProperties\s*\(\s*\$filter\s*=\s*(?P<filter>.*)\)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ID_EQ = re.compile(r"\bid\s+eq\s+'((?:[^']|'')*)'", re.IGNORECASE)
_ANY = re.compile(
    r"^\s*singleValueExtendedProperties/any\(\s*(?P<v>\w+)\s*:\s*(?P=v)/id\s+eq\s+"
    r"'(?P<id>(?:[^']|'')*)'\s+and\s+(?P=v)/value\s+eq\s+'(?P<value>(?:[^']|'')*)'\s*\)\s*$",
    re.IGNORECASE,
)


def parse_expand(query: dict[str, str]) -> list[str]:
    """The property ids ``$expand`` asks for (empty: no expansion)."""
    expand = query.get("$expand")
    if not expand:
        return []
    m = _EXPAND.match(expand)
    if m is None:
        raise bad_request(f"Unsupported $expand: {expand!r}.")
    wanted = [v.replace("''", "'") for v in _ID_EQ.findall(m["filter"])]
    if not wanted:
        raise bad_request("$expand of extended properties needs a $filter on id.")
    for prop_id in wanted:
        ews_attrs(prop_id)  # 400 for a malformed id
    return wanted


def expanded(item: Item, wanted: list[str]) -> dict:
    """The ``singleValueExtendedProperties`` member for ``item`` (only set properties)."""
    if not wanted:
        return {}
    values = []
    for prop_id in wanted:
        value = read(item, prop_id)
        if value is not None:
            values.append({"id": graph_id(ews_attrs(prop_id)), "value": value})
    return {"singleValueExtendedProperties": values}


def parse_filter(query: dict[str, str]) -> Callable[[Item], bool] | None:
    """A predicate for ``$filter=singleValueExtendedProperties/Any(ep: ep/id eq '..' and
    ep/value eq '..')`` (None: no filter); any other filter is 400."""
    text = query.get("$filter")
    if not text:
        return None
    m = _ANY.match(text)
    if m is None:
        raise bad_request(f"Unsupported $filter: {text!r}.")
    prop_id = m["id"].replace("''", "'")
    value = m["value"].replace("''", "'")
    ews_attrs(prop_id)
    return lambda item: read(item, prop_id) == value


#: Members every item keeps under ``$select`` (as Graph answers).
ALWAYS_SELECTED = frozenset({"id", "@odata.etag", "singleValueExtendedProperties"})


@dataclass
class Shape:
    """What a request asks of each item: the properties to expand and the members to keep
    (``$select``; None: all)."""

    expand: list[str]
    select: list[str] | None = None

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Shape:
        select = query.get("$select")
        fields = [f.strip() for f in select.split(",") if f.strip()] if select else None
        return cls(parse_expand(query), fields)

    def apply(self, doc: dict) -> dict:
        if self.select is None:
            return doc
        keep = ALWAYS_SELECTED.union(self.select)
        return {k: v for k, v in doc.items() if k in keep}
