"""Graph ``singleValueExtendedProperties`` of events ↔ the ``t:ExtendedProperty`` elements
EWS writes, so a CRM id written over EWS (PublicStrings ``WessCrmId``) shows over Graph
and back: property ids ``"String {GUID} Name X"``, ``"Double {GUID} Id 0x8102"`` or
``"String 0x007D"``; a well-known property set GUID is its EWS distinguished name."""

from __future__ import annotations

import re
from typing import Any

from ..render import ext_key, find_ext
from ..xmlutil import el, insert_ordered, sub, tq

_SETS = {
    "00020329-0000-0000-c000-000000000046": "PublicStrings",
    "00062002-0000-0000-c000-000000000046": "Appointment",
    "00062003-0000-0000-c000-000000000046": "Task",
    "00062004-0000-0000-c000-000000000046": "Address",
    "00062008-0000-0000-c000-000000000046": "Common",
    "00020386-0000-0000-c000-000000000046": "InternetHeaders",
}
_NAMED = re.compile(r"^(\w+)\s+\{([0-9a-fA-F-]{36})\}\s+(Name|Id)\s+(.+)$")
_TAGGED = re.compile(r"^(\w+)\s+(0x[0-9a-fA-F]{1,4})$")
_FILTER = re.compile(
    r"^singleValueExtendedProperties/Any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'([^']*)'\s+and\s+"
    r"\1/value\s+eq\s+'((?:[^']|'')*)'\s*\)$",
    re.IGNORECASE,
)
_EXPAND = re.compile(
    r"^singleValueExtendedProperties\(\s*\$filter\s*=\s*id\s+eq\s+'([^']*)'\s*\)$",
    re.IGNORECASE,
)


def uri_attrs(prop_id: str) -> dict[str, str]:
    """The ``t:ExtendedFieldURI`` attributes of a Graph property id (ValueError if bad)."""
    text = " ".join(prop_id.split())
    named = _NAMED.match(text)
    if named:
        kind, guid, how, name = named.groups()
        guid = guid.lower()
        attrs = {"PropertyType": kind}
        if guid in _SETS:
            attrs["DistinguishedPropertySetId"] = _SETS[guid]
        else:
            attrs["PropertySetId"] = guid
        if how.lower() == "name":
            attrs["PropertyName"] = name
        else:
            attrs["PropertyId"] = str(int(name, 0))
        return attrs
    tagged = _TAGGED.match(text)
    if tagged:
        return {"PropertyTag": tagged.group(2), "PropertyType": tagged.group(1)}
    raise ValueError(f"bad extended property id {prop_id!r}")


def _key(prop_id: str) -> tuple:
    return ext_key(uri_attrs(prop_id))


def value_of(elem, prop_id: str) -> str | None:
    ep = find_ext(elem, _key(prop_id))
    return None if ep is None else ep.findtext(tq("Value"))


def set_props(elem, props: Any, type_name: str) -> None:
    """Write a POST/PATCH body's ``singleValueExtendedProperties`` into ``elem``."""
    for prop in props or ():
        if not isinstance(prop, dict) or "id" not in prop:
            raise ValueError("an extended property needs id and value")
        attrs = uri_attrs(prop["id"])
        old = find_ext(elem, ext_key(attrs))
        if old is not None:
            elem.remove(old)
        if prop.get("value") is None:
            continue
        ep = el("t:ExtendedProperty")
        sub(ep, "t:ExtendedFieldURI", attrib=attrs)
        sub(ep, "t:Value", str(prop["value"]))
        insert_ordered(elem, ep, type_name)


def expanded(elem, expand: str | None) -> list[dict] | None:
    """The ``singleValueExtendedProperties`` an ``$expand`` asks for (None: not asked)."""
    if not expand:
        return None
    match = _EXPAND.match(expand.strip())
    if match is None:
        raise ValueError(f"unsupported $expand {expand!r}")
    value = value_of(elem, match.group(1))
    return [] if value is None else [{"id": match.group(1), "value": value}]


def filter_matcher(text: str | None):
    """A predicate over item elements for a ``$filter`` on an extended property."""
    if not text:
        return lambda elem: True
    match = _FILTER.match(text.strip())
    if match is None:
        raise ValueError(f"unsupported $filter {text!r}")
    key, wanted = _key(match.group(2)), match.group(3).replace("''", "'")

    def matches(elem) -> bool:
        ep = find_ext(elem, key)
        return ep is not None and ep.findtext(tq("Value")) == wanted

    return matches
