"""MAPI property aliasing, as Exchange does it.

Exchange keeps one MAPI property per value; EWS names some of them twice: as a first-class
field (``contacts:GivenName``) and as a tagged extended property
(``<t:ExtendedFieldURI PropertyTag="0x3A06" PropertyType="String"/>``). Clients that speak
MAPI (Java gateways, Outlook-style tools) read and write only the tags, so the emulator maps
well-known tags onto the fields it stores, both ways, and computes the tags Exchange computes
(article number, URL name, last modification time).

Nothing here runs unless a request names an extended property: a shape, an update, a
restriction or an item carrying ``t:ExtendedProperty``. The sync hot path never gets here.
"""

from __future__ import annotations

import copy

from lxml import etree

from .store import EwsError, Folder, Item
from .xmlutil import el, insert_ordered, local, sub, tq

_CONTACT = frozenset({"Contact"})
_NAMED = frozenset({"Contact", "DistributionList"})

#: Tag -> (first-class element, item kinds it applies to or None for every kind).
FIELD_TAGS: dict[int, tuple[str, frozenset[str] | None]] = {
    0x0037: ("Subject", None),  # PR_SUBJECT
    0x001A: ("ItemClass", None),  # PR_MESSAGE_CLASS
    0x3001: ("DisplayName", _NAMED),  # PR_DISPLAY_NAME
    0x3A06: ("GivenName", _CONTACT),  # PR_GIVEN_NAME
    0x3A11: ("Surname", _CONTACT),  # PR_SURNAME
    0x3A44: ("MiddleName", _CONTACT),  # PR_MIDDLE_NAME
    0x3A0A: ("Initials", _CONTACT),  # PR_INITIALS
    0x3A05: ("Generation", _CONTACT),  # PR_GENERATION
    0x3A4F: ("Nickname", _CONTACT),  # PR_NICKNAME
    0x3A16: ("CompanyName", _CONTACT),  # PR_COMPANY_NAME
    0x3A17: ("JobTitle", _CONTACT),  # PR_TITLE
    0x3A18: ("Department", _CONTACT),  # PR_DEPARTMENT_NAME
    0x3A19: ("OfficeLocation", _CONTACT),  # PR_OFFICE_LOCATION
    0x3A46: ("Profession", _CONTACT),  # PR_PROFESSION
    0x3A48: ("SpouseName", _CONTACT),  # PR_SPOUSE_NAME
    0x3A30: ("AssistantName", _CONTACT),  # PR_ASSISTANT
    0x3A4E: ("Manager", _CONTACT),  # PR_MANAGER_NAME
    0x3A51: ("BusinessHomePage", _CONTACT),  # PR_BUSINESS_HOME_PAGE
}

#: Contact phone tags -> PhoneNumbers entry key.
PHONE_TAGS: dict[int, str] = {
    0x3A08: "BusinessPhone",
    0x3A1B: "BusinessPhone2",
    0x3A09: "HomePhone",
    0x3A2F: "HomePhone2",
    0x3A1C: "MobilePhone",
    0x3A1A: "PrimaryPhone",
    0x3A24: "BusinessFax",
    0x3A25: "HomeFax",
    0x3A23: "OtherFax",
    0x3A1F: "OtherTelephone",
    0x3A21: "Pager",
    0x3A1E: "CarPhone",
    0x3A2E: "AssistantPhone",
    0x3A57: "CompanyMainPhone",
    0x3A02: "Callback",
    0x3A2D: "Isdn",
    0x3A1D: "RadioPhone",
    0x3A2C: "Telex",
    0x3A4B: "TtyTddPhone",
}

#: Tags the store computes; a client's value is dropped (Exchange recomputes them on save).
COMPUTED_TAGS = frozenset(
    {
        0x3008,  # PR_LAST_MODIFICATION_TIME
        0x3007,  # PR_CREATION_TIME
        0x0E06,  # PR_MESSAGE_DELIVERY_TIME
        0x0E23,  # PR_INTERNET_ARTICLE_NUMBER
        0x0E08,  # PR_MESSAGE_SIZE
    }
)
URL_NAME_TAG = 0x10F3  # PR_URL_COMP_NAME: stored when a client sets it, else computed

#: Folder tags -> BaseFolderType attribute reader.
FOLDER_TAGS = {
    0x3613: lambda f: f.folder_class or None,  # PR_CONTAINER_CLASS
    0x3001: lambda f: f.display_name,  # PR_DISPLAY_NAME
    0x3602: lambda f: str(len(f.items)),  # PR_CONTENT_COUNT
    0x3603: lambda f: str(f.unread_count()),  # PR_CONTENT_UNREAD
    0x360A: lambda f: "true" if f.children() else "false",  # PR_SUBFOLDERS
}

#: Folder class -> folder kind Exchange reports for a plain ``t:Folder`` of that class.
FOLDER_KIND_FOR_CLASS = {
    "IPF.Contact": "ContactsFolder",
    "IPF.Appointment": "CalendarFolder",
    "IPF.Task": "TasksFolder",
}

#: ItemClass prefix -> the item kind Exchange returns (a generic ``t:Item`` takes its class).
KIND_FOR_CLASS = (
    ("IPM.Contact", "Contact"),
    ("IPM.DistList", "DistributionList"),
    ("IPM.Appointment", "CalendarItem"),
    ("IPM.Task", "Task"),
    ("IPM.Post", "PostItem"),
    ("IPM.Note", "Message"),
)


def plain_tag(key: tuple) -> int | None:
    """The tag of a ``render.ext_key`` naming a tagged property (no property set), else None."""
    tag = key[2]
    if isinstance(tag, int) and not (key[0] or key[1] or key[3] or key[4]):
        return tag
    return None


def is_alias_tag(tag: int | None) -> bool:
    """Whether writes to ``tag`` go to a first-class field or are dropped (computed)."""
    return tag in FIELD_TAGS or tag in PHONE_TAGS or tag in COMPUTED_TAGS


def _tag_of_uri(uri) -> int | None:
    from .render import ext_key

    return plain_tag(ext_key(uri.attrib))


def url_name(item: Item) -> str:
    """PR_URL_COMP_NAME as Exchange derives it: ``<subject>.EML`` (a contact's display name
    when it has no subject; ``No Subject.EML`` when it has neither)."""
    name = item.field_text("Subject") or item.field_text("DisplayName") or "No Subject"
    return f"{name.replace('/', '_')}.EML"


def article_number(item: Item) -> int:
    """PR_INTERNET_ARTICLE_NUMBER: positive, increasing in creation order (an occurrence
    or exception shares its series')."""
    return item.created_seq or (item.master.created_seq if item.master is not None else 0) or 1


def item_value(item: Item, key: tuple) -> tuple[bool, str | None]:
    """``(True, value or None)`` when ``key`` is a tag Exchange keeps as a first-class field of
    this item's kind or computes; ``(False, None)`` for a plain extended property."""
    tag = plain_tag(key)
    if tag is None:
        return False, None
    alias = FIELD_TAGS.get(tag)
    if alias is not None and (alias[1] is None or item.kind in alias[1]):
        return True, item.field_text(alias[0])
    if tag in PHONE_TAGS and item.kind == "Contact":
        phones = item.elem.find(tq("PhoneNumbers"))
        for entry in phones if phones is not None else ():
            if entry.get("Key") == PHONE_TAGS[tag]:
                return True, entry.text
        return True, None
    if tag == 0x3008:
        return True, item.modified
    if tag == 0x3007:
        return True, item.created
    if tag == 0x0E06:
        return True, item.field_text("DateTimeReceived", item.created)
    if tag == 0x0E23:
        return True, str(article_number(item))
    if tag == 0x0E08:
        return True, str(len(etree.tostring(item.elem)))
    if tag == URL_NAME_TAG:
        from .render import find_ext

        stored = find_ext(item.elem, key)
        if stored is not None:
            return True, stored.findtext(tq("Value"))
        return True, url_name(item)
    return False, None


def folder_value(folder: Folder, key: tuple) -> tuple[bool, str | None]:
    """Like :func:`item_value`, for folder tags (0x3613 container class...)."""
    tag = plain_tag(key)
    reader = FOLDER_TAGS.get(tag) if tag is not None else None
    if reader is None:
        return False, None
    return True, reader(folder)


def ext_property(attrs: dict, value: str) -> object:
    """A ``t:ExtendedProperty`` answering the path ``attrs`` with ``value``."""
    ep = el("t:ExtendedProperty")
    ep.append(el("t:ExtendedFieldURI", attrib=dict(attrs)))
    sub(ep, "t:Value", value)
    return ep


def _single_value(ep) -> str:
    value = ep.find(tq("Value"))
    if value is None:
        raise EwsError(
            "ErrorInvalidExtendedPropertyValue", "A single-valued property needs a Value."
        )
    return value.text or ""


def _set_phone(elem, type_name: str, key: str, value: str | None) -> None:
    phones = elem.find(tq("PhoneNumbers"))
    if phones is None:
        if value is None:
            return
        phones = el("t:PhoneNumbers")
        insert_ordered(elem, phones, type_name)
    for entry in phones:
        if entry.get("Key") == key:
            phones.remove(entry)
            break
    if value is not None:
        sub(phones, "t:Entry", value, {"Key": key})
    if not len(phones):
        elem.remove(phones)


def set_alias(elem, kind: str, type_name: str, tag: int | None, value: str | None) -> bool:
    """Write (``value``) or delete (``None``) tag ``tag`` on an item element as Exchange
    does: into its first-class field. Returns False when the tag is a plain extended
    property for this kind (the caller stores it as one)."""
    if tag is None:
        return False
    alias = FIELD_TAGS.get(tag)
    if alias is not None and (alias[1] is None or kind in alias[1]):
        for old in elem.findall(tq(alias[0])):
            elem.remove(old)
        if value is not None:
            insert_ordered(elem, el(f"t:{alias[0]}", value), type_name)
        return True
    if tag in PHONE_TAGS and kind == "Contact":
        _set_phone(elem, type_name, PHONE_TAGS[tag], value)
        return True
    return tag in COMPUTED_TAGS


def kind_for_class(item_class: str | None) -> str | None:
    """The item kind Exchange gives an item of this ItemClass (``IPM.Contact.X`` -> Contact)."""
    for prefix, kind in KIND_FOR_CLASS:
        if item_class and (item_class == prefix or item_class.startswith(prefix + ".")):
            return kind
    return None


def absorb_extended(elem) -> object:
    """Move a new item's aliased extended properties into its first-class fields.

    A generic ``t:Item`` whose ItemClass (field or 0x001A) names a known class becomes that
    kind (Exchange types items by class). Returns the (possibly re-tagged) element."""
    from .store import ITEM_KINDS

    props = elem.findall(tq("ExtendedProperty"))
    kind = local(elem.tag)
    if kind == "Item":
        item_class = elem.findtext(tq("ItemClass"))
        for ep in props:
            uri = ep.find(tq("ExtendedFieldURI"))
            if uri is not None and _tag_of_uri(uri) == 0x001A:
                item_class = ep.findtext(tq("Value"))
        new_kind = kind_for_class(item_class)
        if new_kind is not None:
            elem.tag = tq(new_kind)
            kind = new_kind
    if not props:
        return elem
    type_name = ITEM_KINDS[kind][0]
    for ep in props:
        uri = ep.find(tq("ExtendedFieldURI"))
        if uri is None:
            continue
        tag = _tag_of_uri(uri)
        if not is_alias_tag(tag):
            continue
        value = _single_value(ep)
        if set_alias(elem, kind, type_name, tag, value):
            elem.remove(ep)
    return elem


def apply_extended_update(item: Item, op: str, path, update) -> bool:
    """Apply a Set/Append/DeleteItemField on a tagged path that Exchange aliases. Returns
    False when the path is a plain extended property (the caller stores it)."""
    tag = _tag_of_uri(path)
    if not is_alias_tag(tag):
        return False
    if op == "DeleteItemField":
        return set_alias(item.elem, item.kind, item.type_name, tag, None)
    src = None
    for child in update:
        if local(child.tag) not in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI"):
            src = child.find(tq("ExtendedProperty"))
            break
    if src is None:
        raise EwsError("ErrorInvalidPropertySet", "Missing ExtendedProperty value")
    return set_alias(item.elem, item.kind, item.type_name, tag, _single_value(src))


def absorb_folder_extended(fe, kind: str) -> tuple[str, str | None, str | None, list]:
    """Read a CreateFolder ``t:*Folder``: ``(kind, display name, folder class, other
    extended properties)``, with 0x3001 / 0x3613 taken as the name and class, and a plain
    ``t:Folder`` of a contacts/calendar/tasks class reported as that kind, as Exchange does."""
    name = fe.findtext(tq("DisplayName"))
    folder_class = fe.findtext(tq("FolderClass"))
    others = []
    for ep in fe.findall(tq("ExtendedProperty")):
        uri = ep.find(tq("ExtendedFieldURI"))
        tag = _tag_of_uri(uri) if uri is not None else None
        if tag == 0x3613:
            folder_class = _single_value(ep)
        elif tag == 0x3001:
            name = _single_value(ep)
        elif tag not in FOLDER_TAGS:
            others.append(copy.deepcopy(ep))
    if kind == "Folder":
        kind = FOLDER_KIND_FOR_CLASS.get(folder_class or "", kind)
    return kind, name, folder_class, others
