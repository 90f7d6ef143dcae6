"""Items as the engine sees them and as exchangelib does: the CRM id property every item
WESS creates carries, the folders it syncs, and the conversions through the field maps
(``fields``)."""

from __future__ import annotations

import re
from typing import Any

from exchangelib import CalendarItem, Contact, ExtendedProperty, Message, Task
from exchangelib.folders import Calendar, Contacts, Inbox, SentItems, Tasks

from wess_core.strategies import MailboxError, MailboxItem
from wess_plugins.transport_ews.fields import FOLDER_FIELDS, FOLDER_FROM_EWS, FOLDER_TO_EWS

__all__ = ["CRM_ID_FIELD", "FOLDERS", "CrmIdProperty", "to_ews_values", "to_mailbox_item"]

CRM_ID_FIELD = "wess_crm_id"


class CrmIdProperty(ExtendedProperty):
    """The CRM record id WESS stores on every item it creates (re-linking after a crash)."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "WessCrmId"
    property_type = "String"


_ITEM_CLASSES = (Contact, CalendarItem, Task, Message)
for _cls in _ITEM_CLASSES:
    if CRM_ID_FIELD not in {f.name for f in _cls.FIELDS}:
        _cls.register(CRM_ID_FIELD, CrmIdProperty)

#: Folder name -> (exchangelib folder class, item class).
FOLDERS = {
    "contacts": (Contacts, Contact),
    "calendar": (Calendar, CalendarItem),
    "tasks": (Tasks, Task),
    "inbox": (Inbox, Message),
    "sentitems": (SentItems, Message),
}


# What exchangelib would silently turn into "?" (XML 1.0's forbidden and discouraged code
# points: its ``_ILLEGAL_XML_CHARS_RE``), plus lone surrogates.
_NOT_XML = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufdd0-\ufddf\ufffe\uffff]"
)


def _refuse_unstorable(value: Any, name: str = "") -> None:
    """Refuse a value Exchange cannot store, rather than let it be altered on the way."""
    if isinstance(value, str):
        bad = _NOT_XML.search(value)
        if bad:
            raise MailboxError(
                f"field {name or 'value'} contains U+{ord(bad.group()):04X}, a character "
                "Exchange cannot store; remove it in the CRM"
            )
    elif isinstance(value, dict):
        for key, sub in value.items():
            _refuse_unstorable(sub, f"{name}.{key}" if name else str(key))
    elif isinstance(value, list | tuple):
        for sub in value:
            _refuse_unstorable(sub, name)


_NAME_FIELDS = {"given_name", "surname", "company_name", "email_addresses", "display_name"}


def _display_name(fields: dict[str, Any]) -> str | None:
    """Exchange requires a contact's display name; derive it as Outlook does."""
    name = " ".join(p for p in (fields.get("given_name"), fields.get("surname")) if p)
    if name:
        return name
    if fields.get("company_name"):
        return fields["company_name"]
    emails = fields.get("email_addresses") or []
    return emails[0].get("email") if emails else None


def to_mailbox_item(folder: str, item: Any) -> MailboxItem:
    """An exchangelib item as the engine's neutral item."""
    fields = {}
    for m in FOLDER_FIELDS[folder]:
        value = m.from_ews(getattr(item, m.attribute, None))
        if value not in (None, "", []):
            fields[m.name] = value
    if folder in FOLDER_FROM_EWS:
        FOLDER_FROM_EWS[folder](item, fields)
    modified = getattr(item, "last_modified_time", None)
    return MailboxItem(
        item_id=item.id,
        changekey=item.changekey,
        fields=fields,
        crm_id=getattr(item, CRM_ID_FIELD, None),
        modified=modified.isoformat() if modified else None,
    )


def to_ews_values(folder: str, fields: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The exchangelib attribute values for neutral ``fields`` (``creating``: a new item)."""
    _refuse_unstorable(fields)
    values = {}
    for m in FOLDER_FIELDS[folder]:
        if m.name in fields and m.to_ews is not None and (creating or not m.create_only):
            values[m.attribute] = m.to_ews(fields[m.name])
    if folder in FOLDER_TO_EWS:
        FOLDER_TO_EWS[folder](fields, values)
    if (
        folder == "contacts"
        and not fields.get("display_name")
        and (creating or _NAME_FIELDS & set(fields))
    ):
        values["display_name"] = _display_name(fields) or "(no name)"
    return values
