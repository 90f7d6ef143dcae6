"""Neutral item fields <-> Microsoft Graph JSON (contacts, To Do tasks, messages).

The neutral fields are named after exchangelib's attributes (``wess_core.strategies``);
Graph names and shapes them its own way, so each folder has a pair of functions here:
``*_to_graph(fields, creating)`` gives the JSON body of a POST or PATCH (a neutral
field set to ``None`` clears the Graph properties it maps), ``*_from_graph(json)`` the
neutral fields of an answer (empty values left out, as the EWS transport does). Both
round-trip: ``from_graph(to_graph(f))`` is ``f`` for every value Exchange can hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from wess_core.sync.neutral import contact_display_name, needs_display_name, refuse_unstorable

__all__ = [
    "CRM_ID_PROPERTY",
    "EXPAND",
    "FROM_GRAPH",
    "PERCENT_PROPERTY",
    "TO_GRAPH",
    "crm_id_of",
    "expand_properties",
    "modified_of",
]

#: The CRM id: the named property the EWS transport writes too (PublicStrings GUID).
CRM_ID_PROPERTY = "String {00020329-0000-0000-C000-000000000046} Name WessCrmId"
#: A task's percent complete (PidLidPercentComplete, 0.0-1.0; To Do has no such field).
PERCENT_PROPERTY = "Double {00062003-0000-0000-C000-000000000046} Id 0x8102"


def expand_properties(*ids: str) -> str:
    """The ``$expand`` value that reads these single-value extended properties."""
    wanted = " or ".join(f"id eq '{i}'" for i in ids)
    return f"singleValueExtendedProperties($filter={wanted})"


#: Per folder: the ``$expand`` every read of its items sends.
EXPAND = {
    "contacts": expand_properties(CRM_ID_PROPERTY),
    "tasks": expand_properties(CRM_ID_PROPERTY, PERCENT_PROPERTY),
    "inbox": expand_properties(CRM_ID_PROPERTY),
    "sentitems": expand_properties(CRM_ID_PROPERTY),
}


def _property(item: dict[str, Any], prop_id: str) -> str | None:
    """A single-value extended property's value (ids compare case-insensitively)."""
    for entry in item.get("singleValueExtendedProperties") or ():
        if isinstance(entry, dict) and str(entry.get("id", "")).lower() == prop_id.lower():
            value = entry.get("value")
            return None if value is None else str(value)
    return None


def crm_id_of(item: dict[str, Any]) -> str | None:
    """The CRM record id WESS stored on the item (``None``: a person created it)."""
    return _property(item, CRM_ID_PROPERTY) or None


def utc_iso(value: Any) -> str | None:
    """Graph's UTC time (``2026-12-05T10:00:00Z``) as ISO 8601 with its offset."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).isoformat()


def modified_of(item: dict[str, Any]) -> str | None:
    """``lastModifiedDateTime`` as the neutral ``modified`` (ISO 8601 with offset)."""
    return utc_iso(item.get("lastModifiedDateTime"))


def _set(fields: dict[str, Any], name: str, value: Any) -> None:
    if value not in (None, "", [], {}):
        fields[name] = value


# -- contacts -------------------------------------------------------------------

#: Neutral simple field -> Graph property.
_CONTACT_TEXT = {
    "given_name": "givenName",
    "surname": "surname",
    "display_name": "displayName",
    "company_name": "companyName",
    "job_title": "jobTitle",
    "body": "personalNotes",
}
_EMAIL_LABELS = ("EmailAddress1", "EmailAddress2", "EmailAddress3")
#: Neutral address label -> Graph property.
_ADDRESSES = {"Business": "businessAddress", "Home": "homeAddress", "Other": "otherAddress"}
#: Neutral address part -> Graph address part.
_ADDRESS_PARTS = {
    "street": "street",
    "city": "city",
    "state": "state",
    "zipcode": "postalCode",
    "country": "countryOrRegion",
}


def _by_label(entries: Any, label: str, key: str) -> Any:
    for entry in entries or ():
        if isinstance(entry, dict) and entry.get("label") == label:
            return entry.get(key)
    return None


def _emails_to_graph(values: Any) -> list[dict[str, str]]:
    """Position 0/1/2 is EmailAddress1/2/3: a gap is kept as an empty entry."""
    slots = [_by_label(values, label, "email") or "" for label in _EMAIL_LABELS]
    while slots and not slots[-1]:
        slots.pop()
    return [{"name": s, "address": s} for s in slots]


def _emails_from_graph(values: Any) -> list[dict[str, str]] | None:
    out = []
    for label, entry in zip(_EMAIL_LABELS, values or (), strict=False):
        address = entry.get("address") if isinstance(entry, dict) else None
        if address:
            out.append({"label": label, "email": address})
    return out or None


def _phones_to_graph(values: Any) -> dict[str, Any]:
    business = _by_label(values, "BusinessPhone", "phone_number")
    home = _by_label(values, "HomePhone", "phone_number")
    return {
        "businessPhones": [business] if business else [],
        "mobilePhone": _by_label(values, "MobilePhone", "phone_number") or None,
        "homePhones": [home] if home else [],
    }


def _first(values: Any) -> str | None:
    return next((v for v in values or () if v), None)


def _phones_from_graph(item: dict[str, Any]) -> list[dict[str, str]] | None:
    found = (
        ("BusinessPhone", _first(item.get("businessPhones"))),
        ("MobilePhone", item.get("mobilePhone")),
        ("HomePhone", _first(item.get("homePhones"))),
    )
    return [{"label": label, "phone_number": n} for label, n in found if n] or None


def _addresses_to_graph(values: Any) -> dict[str, Any]:
    """Every address property with every part ("" = empty), so a PATCH clears what the
    neutral value no longer has."""
    out = {}
    for label, prop in _ADDRESSES.items():
        entry = next(
            (v for v in values or () if isinstance(v, dict) and v.get("label") == label), {}
        )
        out[prop] = {g: str(entry.get(n) or "") for n, g in _ADDRESS_PARTS.items()}
    return out


def _addresses_from_graph(item: dict[str, Any]) -> list[dict[str, str]] | None:
    out = []
    for label, prop in _ADDRESSES.items():
        address = item.get(prop) or {}
        parts = {n: address[g] for n, g in _ADDRESS_PARTS.items() if address.get(g)}
        if parts:
            out.append({"label": label, **parts})
    return out or None


def contact_to_graph(fields: dict[str, Any], creating: bool) -> dict[str, Any]:
    """A contact's POST / PATCH body for the neutral fields given."""
    refuse_unstorable(fields)
    body: dict[str, Any] = {}
    for name, prop in _CONTACT_TEXT.items():
        if name in fields:
            body[prop] = None if fields[name] in (None, "") else str(fields[name])
    if "email_addresses" in fields:
        body["emailAddresses"] = _emails_to_graph(fields["email_addresses"])
    if "phone_numbers" in fields:
        body.update(_phones_to_graph(fields["phone_numbers"]))
    if "physical_addresses" in fields:
        body.update(_addresses_to_graph(fields["physical_addresses"]))
    if needs_display_name(fields, creating):
        body["displayName"] = contact_display_name(fields) or "(no name)"
    return body


def contact_from_graph(item: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, prop in _CONTACT_TEXT.items():
        _set(fields, name, item.get(prop))
    _set(fields, "email_addresses", _emails_from_graph(item.get("emailAddresses")))
    _set(fields, "phone_numbers", _phones_from_graph(item))
    _set(fields, "physical_addresses", _addresses_from_graph(item))
    return fields


# -- tasks ------------------------------------------------------------------------

_STATUS = {
    "NotStarted": "notStarted",
    "InProgress": "inProgress",
    "Completed": "completed",
    "WaitingOnOthers": "waitingOnOthers",
    "Deferred": "deferred",
}
_STATUS_BACK = {v: k for k, v in _STATUS.items()}


def _date_to_graph(value: Any) -> dict[str, str] | None:
    """An ISO date as Graph's dateTimeTimeZone (midnight UTC: To Do keeps dates only)."""
    if not value:
        return None
    day = dt.date.fromisoformat(str(value)[:10])
    return {"dateTime": f"{day.isoformat()}T00:00:00.0000000", "timeZone": "UTC"}


def _date_from_graph(value: Any) -> str | None:
    if not isinstance(value, dict) or not value.get("dateTime"):
        return None
    return str(value["dateTime"])[:10]


def _percent_to_graph(value: Any) -> str:
    """0-100 as Exchange's 0.0-1.0 (decimal arithmetic: 7 % is "0.07", not 0.0700...01)."""
    if value in (None, ""):
        return "0"
    return str(Decimal(str(value)) / 100)


def _percent_from_graph(value: str | None) -> int | float | None:
    if value in (None, ""):
        return None
    try:
        percent = Decimal(str(value)) * 100
    except InvalidOperation:
        return None
    whole = percent.to_integral_value()
    if abs(percent - whole) < Decimal("1e-9"):
        return int(whole)
    return float(round(percent, 9))


def task_to_graph(fields: dict[str, Any], creating: bool) -> dict[str, Any]:
    """A To Do task's POST / PATCH body for the neutral fields given."""
    refuse_unstorable(fields)
    body: dict[str, Any] = {}
    if "subject" in fields:
        body["title"] = fields["subject"] or ""
    if "body" in fields:
        body["body"] = {"content": fields["body"] or "", "contentType": "text"}
    if "status" in fields:
        status = fields["status"] or "NotStarted"
        if status not in _STATUS:
            raise ValueError(f"unknown task status {status!r}; known: {', '.join(_STATUS)}")
        body["status"] = _STATUS[status]
    if "start_date" in fields:
        body["startDateTime"] = _date_to_graph(fields["start_date"])
    if "due_date" in fields:
        body["dueDateTime"] = _date_to_graph(fields["due_date"])
    if "percent_complete" in fields:
        value = _percent_to_graph(fields["percent_complete"])
        body["singleValueExtendedProperties"] = [{"id": PERCENT_PROPERTY, "value": value}]
    return body


def task_from_graph(item: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    _set(fields, "subject", item.get("title"))
    _set(fields, "body", (item.get("body") or {}).get("content"))
    status = item.get("status")
    _set(fields, "status", _STATUS_BACK.get(status, status))
    _set(fields, "start_date", _date_from_graph(item.get("startDateTime")))
    _set(fields, "due_date", _date_from_graph(item.get("dueDateTime")))
    percent = _percent_from_graph(_property(item, PERCENT_PROPERTY))
    if percent is not None:
        fields["percent_complete"] = percent
    return fields


# -- messages (read only) ---------------------------------------------------------


def _address(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    return (value.get("emailAddress") or {}).get("address") or None


def _addresses(values: Any) -> list[str] | None:
    return [a for a in (_address(v) for v in values or ()) if a] or None


def message_from_graph(item: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    body = item.get("body") or {}
    _set(fields, "subject", item.get("subject"))
    _set(fields, "body", body.get("content"))
    if fields.get("body"):
        html = str(body.get("contentType", "")).lower() == "html"
        fields["body_type"] = "HTML" if html else "Text"
    _set(fields, "sender", _address(item.get("from")) or _address(item.get("sender")))
    _set(fields, "to_recipients", _addresses(item.get("toRecipients")))
    _set(fields, "cc_recipients", _addresses(item.get("ccRecipients")))
    _set(fields, "datetime_received", utc_iso(item.get("receivedDateTime")))
    _set(fields, "message_id", item.get("internetMessageId"))
    return fields


def message_to_graph(fields: dict[str, Any], creating: bool) -> dict[str, Any]:
    """A message's JSON for the neutral fields (tests file mail with it; the transport
    never writes mail: WESS syncs it from Exchange to the CRM only)."""
    refuse_unstorable(fields)

    def who(address: str) -> dict[str, Any]:
        return {"emailAddress": {"address": address, "name": address}}

    body: dict[str, Any] = {}
    if "subject" in fields:
        body["subject"] = fields["subject"] or ""
    if "body" in fields:
        kind = "html" if fields.get("body_type") == "HTML" else "text"
        body["body"] = {"contentType": kind, "content": fields["body"] or ""}
    if fields.get("sender"):
        body["from"] = who(fields["sender"])
    for name, prop in (("to_recipients", "toRecipients"), ("cc_recipients", "ccRecipients")):
        if name in fields:
            body[prop] = [who(a) for a in fields[name] or ()]
    if fields.get("message_id"):
        body["internetMessageId"] = fields["message_id"]
    return body


#: Per folder: neutral fields -> Graph JSON body (``creating``: a POST), and back.
TO_GRAPH: dict[str, Callable[[dict[str, Any], bool], dict[str, Any]]] = {
    "contacts": contact_to_graph,
    "tasks": task_to_graph,
    "inbox": message_to_graph,
    "sentitems": message_to_graph,
}
FROM_GRAPH: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "contacts": contact_from_graph,
    "tasks": task_from_graph,
    "inbox": message_from_graph,
    "sentitems": message_from_graph,
}
