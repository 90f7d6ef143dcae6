"""Items as the engine sees them and as exchangelib does: the CRM id property every item
WESS creates carries, the folders it syncs, and the conversions through the field maps
(``fields``)."""

from __future__ import annotations

from typing import Any

from exchangelib import CalendarItem, Contact, ExtendedProperty, Message, Task
from exchangelib.folders import Calendar, Contacts, Inbox, SentItems, Tasks

from wess_core.strategies import MailboxItem
from wess_core.sync.neutral import contact_display_name, needs_display_name, refuse_unstorable
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
    refuse_unstorable(fields)
    values = {}
    for m in FOLDER_FIELDS[folder]:
        if m.name in fields and m.to_ews is not None and (creating or not m.create_only):
            values[m.attribute] = m.to_ews(fields[m.name])
    if folder in FOLDER_TO_EWS:
        FOLDER_TO_EWS[folder](fields, values)
    if folder == "contacts" and needs_display_name(fields, creating):
        values["display_name"] = contact_display_name(fields) or "(no name)"
    return values
