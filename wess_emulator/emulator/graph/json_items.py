"""Graph JSON for the store's EWS items, both ways: contacts and To Do tasks (read and
write), messages (read). The store keeps one copy of each item, the ``t:Contact`` /
``t:Task`` / ``t:Message`` element EWS clients write, so JSON written here reads over EWS and
an item written over EWS reads here."""

from __future__ import annotations

import datetime as dt

import lxml.html

from ..model import ITEM_KINDS, Item
from ..xmlutil import el, insert_ordered, sub, tq
from . import props
from .router import GraphRequest, bad_request

CONTACT_TYPE = ITEM_KINDS["Contact"][0]
TASK_TYPE = ITEM_KINDS["Task"][0]

#: Graph address member -> EWS PhysicalAddresses key.
ADDRESSES = {"businessAddress": "Business", "homeAddress": "Home", "otherAddress": "Other"}
#: Graph address field -> EWS element, in the schema's order.
ADDRESS_FIELDS = {
    "street": "Street",
    "city": "City",
    "state": "State",
    "countryOrRegion": "CountryOrRegion",
    "postalCode": "PostalCode",
}
#: Graph phone list member -> EWS PhoneNumbers keys it fills, in order.
PHONE_LISTS = {
    "businessPhones": ("BusinessPhone", "BusinessPhone2"),
    "homePhones": ("HomePhone", "HomePhone2"),
}
CONTACT_TEXT = {
    "displayName": "DisplayName",
    "givenName": "GivenName",
    "surname": "Surname",
    "companyName": "CompanyName",
    "jobTitle": "JobTitle",
}
EMAIL_KEYS = ("EmailAddress1", "EmailAddress2", "EmailAddress3")

TASK_STATUS = {
    "NotStarted": "notStarted",
    "InProgress": "inProgress",
    "Completed": "completed",
    "WaitingOnOthers": "waitingOnOthers",
    "Deferred": "deferred",
}
STATUS_OF_GRAPH = {v.lower(): k for k, v in TASK_STATUS.items()}


# ------------------------------------------------------------------ shared


def _common(ctx: GraphRequest, item: Item, with_change_key: bool = True) -> dict:
    doc = {"@odata.etag": f'W/"{item.change_key}"', "id": ctx.item_id_out(item)}
    doc["createdDateTime"] = item.created
    doc["lastModifiedDateTime"] = item.modified
    if with_change_key:
        doc["changeKey"] = item.change_key
    return doc


def body_text(item: Item) -> tuple[str, str]:
    """``(content, "text"|"html")`` of the item's Body."""
    node = item.field("Body")
    if node is None or not node.text:
        return "", "text"
    kind = "html" if (node.get("BodyType") or "Text").lower() == "html" else "text"
    return node.text, kind


def plain_text(item: Item) -> str:
    content, kind = body_text(item)
    if kind == "html" and content.strip():
        return lxml.html.fromstring(content).text_content().strip()
    return content


def _set_text(elem, type_name: str, name: str, value) -> None:
    for old in elem.findall(tq(name)):
        elem.remove(old)
    if value is None or value == "":
        return
    if not isinstance(value, str | int | float):
        raise bad_request(f"{name} must be a string.")
    insert_ordered(elem, el(f"t:{name}", str(value)), type_name)


def _set_body(elem, type_name: str, text: str | None, kind: str = "Text") -> None:
    for old in elem.findall(tq("Body")):
        elem.remove(old)
    if text:
        insert_ordered(elem, el("t:Body", text, {"BodyType": kind}), type_name)


def _container(elem, type_name: str, name: str):
    node = elem.find(tq(name))
    if node is None:
        node = el(f"t:{name}")
        insert_ordered(elem, node, type_name)
    return node


def _drop_entries(elem, name: str, keys) -> None:
    node = elem.find(tq(name))
    if node is None:
        return
    for entry in list(node):
        if entry.get("Key") in keys:
            node.remove(entry)


def _prune(elem, name: str) -> None:
    node = elem.find(tq(name))
    if node is not None and not len(node):
        elem.remove(node)


def _entries(item: Item, name: str) -> dict[str, object]:
    node = item.field(name)
    return {} if node is None else {e.get("Key"): e for e in node}


# ------------------------------------------------------------------ contacts


def contact_json(ctx: GraphRequest, item: Item, expand: list[str]) -> dict:
    doc = _common(ctx, item)
    doc["parentFolderId"] = ctx.folder_id_out(item.folder)
    for member, name in CONTACT_TEXT.items():
        doc[member] = item.field_text(name)
    doc["personalNotes"] = plain_text(item)
    emails = _entries(item, "EmailAddresses")
    doc["emailAddresses"] = [
        {"name": emails[key].get("Name") or emails[key].text, "address": emails[key].text}
        for key in EMAIL_KEYS
        if key in emails and emails[key].text
    ]
    phones = _entries(item, "PhoneNumbers")
    for member, keys in PHONE_LISTS.items():
        doc[member] = [phones[k].text for k in keys if k in phones and phones[k].text]
    mobile = phones.get("MobilePhone")
    doc["mobilePhone"] = mobile.text if mobile is not None and mobile.text else None
    places = _entries(item, "PhysicalAddresses")
    for member, key in ADDRESSES.items():
        entry = places.get(key)
        doc[member] = (
            {}
            if entry is None
            else {f: entry.findtext(tq(n)) or "" for f, n in ADDRESS_FIELDS.items()}
        )
    doc.update(props.expanded(item, expand))
    return doc


def apply_contact(elem, body: dict) -> None:
    """Write the members present in ``body`` (create or PATCH) onto a ``t:Contact``."""
    for member, name in CONTACT_TEXT.items():
        if member in body:
            _set_text(elem, CONTACT_TYPE, name, body[member])
    if "personalNotes" in body:
        _set_body(elem, CONTACT_TYPE, body["personalNotes"])
    if "emailAddresses" in body:
        _set_emails(elem, body["emailAddresses"] or [])
    for member, keys in PHONE_LISTS.items():
        if member in body:
            _set_phones(elem, keys, body[member] or [])
    if "mobilePhone" in body:
        _set_phones(elem, ("MobilePhone",), [body["mobilePhone"]] if body["mobilePhone"] else [])
    for member, key in ADDRESSES.items():
        if member in body:
            _set_address(elem, key, body[member] or {})
    props.write_all(elem, "Contact", CONTACT_TYPE, body.get("singleValueExtendedProperties"))


def _set_emails(elem, emails) -> None:
    if not isinstance(emails, list) or len(emails) > len(EMAIL_KEYS):
        raise bad_request("emailAddresses must be a list of at most 3 addresses.")
    _drop_entries(elem, "EmailAddresses", EMAIL_KEYS)
    for key, email in zip(EMAIL_KEYS, emails, strict=False):
        address = (email or {}).get("address") if isinstance(email, dict) else None
        if not address:
            continue
        attrs = {"Key": key}
        if email.get("name") and email["name"] != address:
            attrs["Name"] = email["name"]
        sub(_container(elem, CONTACT_TYPE, "EmailAddresses"), "t:Entry", address, attrs)
    _sort_entries(elem, "EmailAddresses", EMAIL_KEYS)
    _prune(elem, "EmailAddresses")


def _set_phones(elem, keys, numbers) -> None:
    if not isinstance(numbers, list):
        raise bad_request("Phone numbers must be a list.")
    _drop_entries(elem, "PhoneNumbers", keys)
    for key, number in zip(keys, numbers, strict=False):
        if number:
            sub(
                _container(elem, CONTACT_TYPE, "PhoneNumbers"), "t:Entry", str(number), {"Key": key}
            )
    _prune(elem, "PhoneNumbers")


def _set_address(elem, key: str, address) -> None:
    if not isinstance(address, dict):
        raise bad_request("An address must be an object.")
    _drop_entries(elem, "PhysicalAddresses", (key,))
    values = {n: address.get(f) for f, n in ADDRESS_FIELDS.items() if address.get(f)}
    if values:
        entry = sub(
            _container(elem, CONTACT_TYPE, "PhysicalAddresses"), "t:Entry", None, {"Key": key}
        )
        for name in ADDRESS_FIELDS.values():
            if name in values:
                sub(entry, f"t:{name}", str(values[name]))
    _prune(elem, "PhysicalAddresses")


def _sort_entries(elem, name: str, order) -> None:
    node = elem.find(tq(name))
    if node is not None:
        rank = {key: i for i, key in enumerate(order)}
        node[:] = sorted(node, key=lambda e: rank.get(e.get("Key"), len(rank)))


# ------------------------------------------------------------------ To Do tasks


def _graph_date(text: str | None) -> dict | None:
    if not text:
        return None
    return {"dateTime": f"{text[:10]}T00:00:00.0000000", "timeZone": "UTC"}


def _ews_date(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise bad_request("A date must be {dateTime, timeZone}.")
    try:
        day = dt.date.fromisoformat(str(value["dateTime"])[:10])
    except ValueError:
        raise bad_request(f"Invalid dateTime {value['dateTime']!r}.") from None
    return f"{day.isoformat()}T00:00:00Z"


def task_json(ctx: GraphRequest, item: Item, expand: list[str]) -> dict:
    doc = _common(ctx, item, with_change_key=False)
    doc["title"] = item.field_text("Subject") or ""
    content, kind = body_text(item)
    doc["body"] = {"content": content, "contentType": kind}
    doc["status"] = TASK_STATUS.get(item.field_text("Status") or "NotStarted", "notStarted")
    doc["importance"] = (item.field_text("Importance") or "Normal").lower()
    doc["startDateTime"] = _graph_date(item.field_text("StartDate"))
    doc["dueDateTime"] = _graph_date(item.field_text("DueDate"))
    doc.update(props.expanded(item, expand))
    return doc


def apply_task(elem, body: dict) -> None:
    """Write the members present in ``body`` (create or PATCH) onto a ``t:Task``."""
    if "title" in body:
        _set_text(elem, TASK_TYPE, "Subject", body["title"])
    if "body" in body:
        content = (body["body"] or {}).get("content") if isinstance(body["body"], dict) else None
        html = isinstance(body["body"], dict) and body["body"].get("contentType") == "html"
        _set_body(elem, TASK_TYPE, content, "HTML" if html else "Text")
    if "importance" in body:
        value = (body["importance"] or "normal").lower()
        if value not in ("low", "normal", "high"):
            raise bad_request(f"Invalid importance {body['importance']!r}.")
        _set_text(elem, TASK_TYPE, "Importance", value.title())
    if "status" in body:
        status = STATUS_OF_GRAPH.get(str(body["status"] or "").lower())
        if status is None:
            raise bad_request(f"Invalid status {body['status']!r}.")
        _set_text(elem, TASK_TYPE, "Status", status)
    for member, name in (("startDateTime", "StartDate"), ("dueDateTime", "DueDate")):
        if member in body:
            _set_text(elem, TASK_TYPE, name, _ews_date(body[member]))
    props.write_all(elem, "Task", TASK_TYPE, body.get("singleValueExtendedProperties"))


# ------------------------------------------------------------------ messages


def _mailbox_json(node) -> dict | None:
    if node is None:
        return None
    box = node.find(tq("Mailbox"))
    if box is None:
        return None
    address = box.findtext(tq("EmailAddress")) or ""
    return {"emailAddress": {"name": box.findtext(tq("Name")) or address, "address": address}}


def _recipients(item: Item, name: str) -> list[dict]:
    node = item.field(name)
    out = []
    for box in node if node is not None else ():
        address = box.findtext(tq("EmailAddress")) or ""
        out.append(
            {"emailAddress": {"name": box.findtext(tq("Name")) or address, "address": address}}
        )
    return out


def message_json(ctx: GraphRequest, item: Item, expand: list[str]) -> dict:
    doc = _common(ctx, item)
    doc["receivedDateTime"] = item.field_text("DateTimeReceived", item.created)
    doc["sentDateTime"] = item.field_text("DateTimeSent")
    doc["subject"] = item.field_text("Subject") or ""
    content, kind = body_text(item)
    doc["body"] = {"contentType": kind, "content": content}
    doc["from"] = _mailbox_json(item.field("From"))
    doc["sender"] = _mailbox_json(item.field("Sender")) or doc["from"]
    doc["toRecipients"] = _recipients(item, "ToRecipients")
    doc["ccRecipients"] = _recipients(item, "CcRecipients")
    doc["internetMessageId"] = item.field_text("InternetMessageId")
    doc["isRead"] = item.field_text("IsRead", "true") == "true"
    doc["parentFolderId"] = ctx.folder_id_out(item.folder)
    doc.update(props.expanded(item, expand))
    return doc
