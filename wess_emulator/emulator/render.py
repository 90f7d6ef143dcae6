"""Response shapes, item/folder rendering, extended properties and restriction evaluation."""

from __future__ import annotations

import contextvars
import copy

from . import mapi, recurrence
from .store import EwsError, Folder, Item, now_text
from .xmlutil import el, insert_ordered, local, sub, tq

# FieldURI local names whose element name differs, or which live under a container.
INDEXED_CONTAINERS = {
    "EmailAddress": "EmailAddresses",
    "PhoneNumber": "PhoneNumbers",
    "ImAddress": "ImAddresses",
    "PhysicalAddress": "PhysicalAddresses",
}
FIELD_ALIASES = {
    "ItemId": "ItemId",
    "FolderId": "FolderId",
}
MASTER_ONLY = ("FirstOccurrence", "LastOccurrence", "ModifiedOccurrences", "DeletedOccurrences")
ALWAYS_ID = ("ItemId",)


def field_name(field_uri: str) -> str:
    """contacts:GivenName -> GivenName; contacts:PhysicalAddress:Street -> PhysicalAddress"""
    parts = field_uri.split(":")
    name = parts[1] if len(parts) > 1 else parts[0]
    return FIELD_ALIASES.get(name, name)


# --------------------------------------------------------------------------- deviations
#
# Real Exchange does not always answer as its own schema says. The emulator plays such an
# answer for an item seeded with ``quirks``: the response is built and validated as usual
# (so everything else in it stays checked), and the deviation is applied to the item's
# element after validation, just before the response is written.


def _body_without_type(node) -> None:
    for body in node.iter(tq("Body")):
        body.attrib.pop("BodyType", None)


#: quirk name -> what it does to the rendered item element.
DEVIATIONS = {
    # "The Body element has no BodyType attribute" (exchangelib then raises KeyError)
    "body_without_type": _body_without_type,
}
_PENDING: contextvars.ContextVar[list | None] = contextvars.ContextVar("deviations", default=None)


def collect_deviations() -> contextvars.Token:
    """Start collecting this request's deviations (``apply_deviations`` ends it)."""
    return _PENDING.set([])


def apply_deviations(token: contextvars.Token, apply: bool = True) -> None:
    """Apply the deviations collected since ``collect_deviations`` (after validation)."""
    pending = _PENDING.get() or []
    _PENDING.reset(token)
    if apply:
        for node, quirk in pending:
            DEVIATIONS[quirk](node)


def _deviate(item: Item, node) -> None:
    pending = _PENDING.get()
    for quirk in sorted(item.quirks):
        if pending is None:  # rendered outside a request: apply now
            DEVIATIONS[quirk](node)
        else:
            pending.append((node, quirk))


# --------------------------------------------------------------------------- extended props


def ext_key(attrs) -> tuple:
    tag = attrs.get("PropertyTag")
    if tag:
        try:
            tag = int(tag, 16) if tag.lower().startswith("0x") else int(tag)
        except ValueError:
            pass
    pid = attrs.get("PropertyId")
    return (
        attrs.get("DistinguishedPropertySetId"),
        (attrs.get("PropertySetId") or "").lower() or None,
        tag,
        attrs.get("PropertyName"),
        int(pid) if pid and pid.isdigit() else pid,
    )


def find_ext(elem, key):
    for ep in elem.findall(tq("ExtendedProperty")):
        uri = ep.find(tq("ExtendedFieldURI"))
        if uri is not None and ext_key(uri.attrib) == key:
            return ep
    return None


def item_ext(item: Item, key, attrs):
    """The ``t:ExtendedProperty`` answering path ``key`` on ``item``: an aliased or computed
    MAPI tag (see ``mapi``), else the stored property; None when the item has no value."""
    aliased, value = mapi.item_value(item, key)
    if aliased:
        return None if value is None else mapi.ext_property(attrs, value)
    return find_ext(item.elem, key)


def folder_ext(folder: Folder, key, attrs):
    """Like :func:`item_ext`, for a folder (0x3613 container class...)."""
    aliased, value = mapi.folder_value(folder, key)
    if aliased:
        return None if value is None else mapi.ext_property(attrs, value)
    return find_ext_list(folder.extended, key)


# --------------------------------------------------------------------------- shapes


class Shape:
    """A parsed ItemShape/FolderShape."""

    def __init__(self, elem=None, default_base="Default"):
        self.base = default_base
        self.names: set[str] = set()
        self.containers: set[str] = set()
        self.extended: list[tuple[tuple, dict]] = []
        if elem is None:
            return
        self.base = elem.findtext(tq("BaseShape")) or default_base
        props = elem.find(tq("AdditionalProperties"))
        for p in props if props is not None else ():
            name = local(p.tag)
            uri = p.get("FieldURI", "")
            if name == "FieldURI":
                self.names.add(field_name(uri))
            elif name == "IndexedFieldURI":
                self.containers.add(INDEXED_CONTAINERS.get(field_name(uri), field_name(uri)))
            elif name == "ExtendedFieldURI":
                self.extended.append((ext_key(p.attrib), dict(p.attrib)))

    @property
    def everything(self) -> bool:
        return self.base in ("AllProperties", "Default")

    def wants(self, name: str) -> bool:
        return self.everything or name in self.names or name in self.containers


def render_item(item: Item, shape: Shape, mailbox) -> object:
    """Return a new ``t:<Kind>`` element for ``item`` as seen through ``shape``."""
    out = el(f"t:{item.kind}")
    type_name = item.type_name
    for child in item.elem:
        name = local(child.tag)
        if name == "ExtendedProperty":
            continue
        if shape.wants(name):
            out.append(copy.deepcopy(child))
    for key, attrs in shape.extended:
        ep = item_ext(item, key, attrs)
        if ep is not None:
            out.append(copy.deepcopy(ep))
    if item.kind == "CalendarItem" and item.is_recurring_master:
        for name in MASTER_ONLY:
            if shape.wants(name):
                for node in master_info(item, mailbox, name):
                    out.append(node)
    id_attrs = {"Id": item.id, "ChangeKey": item.change_key}
    insert_ordered(out, el("t:ItemId", attrib=id_attrs), type_name)
    if shape.wants("ParentFolderId"):
        folder = item.folder
        pf = el("t:ParentFolderId", attrib={"Id": folder.id, "ChangeKey": folder.change_key})
        insert_ordered(out, pf, type_name)
    from .xmlutil import sort_children

    sort_children(out, type_name)
    if item.quirks:
        _deviate(item, out)
    return out


def _occ_info(tag, item_id, change_key, start, end, original):
    node = el(tag)
    node.append(el("t:ItemId", attrib={"Id": item_id, "ChangeKey": change_key}))
    sub(node, "t:Start", start)
    sub(node, "t:End", end)
    sub(node, "t:OriginalStart", original)
    return node


def master_info(master: Item, mailbox, name: str) -> list:
    occs = list(recurrence.occurrences(master.elem))
    if name in ("FirstOccurrence", "LastOccurrence"):
        live = [o for o in occs if o[0] not in master.deleted_indexes]
        if not live:
            return []
        idx, start, end = live[0] if name == "FirstOccurrence" else live[-1]
        exc = master.exceptions.get(idx)
        if exc is not None:
            return [
                _occ_info(
                    f"t:{name}",
                    exc.id,
                    exc.change_key,
                    exc.field_text("Start"),
                    exc.field_text("End"),
                    now_text(start),
                )
            ]
        occ_id = mailbox.occurrence_id(master, idx)
        return [
            _occ_info(
                f"t:{name}",
                occ_id,
                master.change_key,
                now_text(start),
                now_text(end),
                now_text(start),
            )
        ]
    by_index = {o[0]: o for o in occs}
    if name == "ModifiedOccurrences":
        if not master.exceptions:
            return []
        node = el("t:ModifiedOccurrences")
        for idx in sorted(master.exceptions):
            exc = master.exceptions[idx]
            original = by_index.get(idx)
            node.append(
                _occ_info(
                    "t:Occurrence",
                    exc.id,
                    exc.change_key,
                    exc.field_text("Start"),
                    exc.field_text("End"),
                    now_text(original[1]) if original else exc.field_text("Start"),
                )
            )
        return [node]
    if name == "DeletedOccurrences":
        if not master.deleted_indexes:
            return []
        node = el("t:DeletedOccurrences")
        for idx in sorted(master.deleted_indexes):
            if idx in by_index:
                d = sub(node, "t:DeletedOccurrence")
                sub(d, "t:Start", now_text(by_index[idx][1]))
        return [node] if len(node) else []
    return []


def render_folder(folder: Folder, shape: Shape) -> object:
    out = el(f"t:{folder.kind}")
    out.append(el("t:FolderId", attrib={"Id": folder.id, "ChangeKey": folder.change_key}))
    if folder.parent is not None and shape.wants("ParentFolderId"):
        parent = folder.parent
        out.append(el("t:ParentFolderId", attrib={"Id": parent.id, "ChangeKey": parent.change_key}))
    if folder.folder_class and shape.wants("FolderClass"):
        sub(out, "t:FolderClass", folder.folder_class)
    if shape.wants("DisplayName"):
        sub(out, "t:DisplayName", folder.display_name)
    if shape.wants("TotalCount"):
        sub(out, "t:TotalCount", len(folder.items))
    if shape.wants("ChildFolderCount"):
        sub(out, "t:ChildFolderCount", len(folder.children()))
    for key, attrs in shape.extended:
        ep = folder_ext(folder, key, attrs)
        if ep is not None:
            out.append(copy.deepcopy(ep))
    if shape.base == "AllProperties" or "EffectiveRights" in shape.names:
        rights = sub(out, "t:EffectiveRights")
        for name in ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify"):
            sub(rights, f"t:{name}", "true")
        sub(rights, "t:Read", "true")
        if folder.kind in ("Folder", "CalendarFolder", "ContactsFolder", "TasksFolder"):
            sub(rights, "t:ViewPrivateItems", "true")
    if folder.distinguished and shape.wants("DistinguishedFolderId"):
        sub(out, "t:DistinguishedFolderId", folder.distinguished)
    if folder.kind == "Folder" and shape.wants("UnreadCount"):
        sub(out, "t:UnreadCount", folder.unread_count())
    return out


def find_ext_list(props, key):
    for ep in props:
        uri = ep.find(tq("ExtendedFieldURI"))
        if uri is not None and ext_key(uri.attrib) == key:
            return ep
    return None


# --------------------------------------------------------------------------- restrictions


def _leaf_texts(node) -> list[str]:
    if node is None:
        return []
    if len(node) == 0:
        return [node.text or ""]
    out = []
    for d in node.iter():
        if len(d) == 0 and d.text:
            out.append(d.text)
    return out


def field_values(item: Item, path) -> list[str]:
    """The string values of the field addressed by a FieldURI/IndexedFieldURI/ExtendedFieldURI."""
    name = local(path.tag)
    if name == "FieldURI":
        fname = field_name(path.get("FieldURI", ""))
        if fname == "ItemId":
            return [item.id]
        if fname == "ParentFolderId":
            return [item.folder.id]
        return _leaf_texts(item.elem.find(tq(fname)))
    if name == "IndexedFieldURI":
        parts = path.get("FieldURI", "").split(":")
        container = INDEXED_CONTAINERS.get(parts[1] if len(parts) > 1 else "", "")
        cnode = item.elem.find(tq(container))
        if cnode is None:
            return []
        for entry in cnode:
            if entry.get("Key") == path.get("FieldIndex"):
                if len(parts) > 2:
                    return _leaf_texts(entry.find(tq(parts[2])))
                return _leaf_texts(entry)
        return []
    if name == "ExtendedFieldURI":
        return ext_values(item_ext(item, ext_key(path.attrib), path.attrib))
    raise EwsError("ErrorInvalidRestriction", f"Unsupported path {name}")


def ext_values(ep) -> list[str]:
    """The string values of a ``t:ExtendedProperty`` (none for None)."""
    if ep is None:
        return []
    values = ep.find(tq("Values"))
    if values is not None:
        return [v.text or "" for v in values]
    return [ep.findtext(tq("Value")) or ""]


_PATHS = ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")


def _path_of(node):
    for child in node:
        if local(child.tag) in _PATHS:
            return child
    raise EwsError("ErrorInvalidRestriction", "Restriction without a property path")


def _constant_of(node) -> str:
    const = node.find(f"{tq('FieldURIOrConstant')}/{tq('Constant')}")
    if const is None:
        raise EwsError("ErrorInvalidRestriction", "Only constant comparisons are supported")
    return const.get("Value", "")


def _coerce(a: str, b: str):
    for conv in (_as_number, _as_datetime, _as_bool):
        x, y = conv(a), conv(b)
        if x is not None and y is not None:
            return x, y
    return a.casefold(), b.casefold()


def _as_number(v):
    try:
        return float(v)
    except ValueError:
        return None


def _as_datetime(v):
    if len(v) < 10 or v[4:5] != "-":
        return None
    try:
        return recurrence.parse_dt(v)
    except ValueError:
        return None


def _as_bool(v):
    return {"true": True, "false": False, "1": True, "0": False}.get(v.lower())


_COMPARE = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b,
    "IsLessThanOrEqualTo": lambda a, b: a <= b,
}


def folder_values(folder: Folder, path) -> list[str]:
    if local(path.tag) == "ExtendedFieldURI":
        return ext_values(folder_ext(folder, ext_key(path.attrib), path.attrib))
    if local(path.tag) != "FieldURI":
        return []
    fname = field_name(path.get("FieldURI", ""))
    value = {
        "DisplayName": folder.display_name,
        "FolderClass": folder.folder_class,
        "TotalCount": str(len(folder.items)),
        "ChildFolderCount": str(len(folder.children())),
        "FolderId": folder.id,
    }.get(fname)
    return [] if value is None else [value]


def matches_folder(folder: Folder, node) -> bool:
    return matches(folder, node, folder_values)


def matches(item, node, values=None) -> bool:
    """Evaluate a restriction search expression element against ``item``."""
    values_of = values or field_values
    name = local(node.tag)
    if name in ("Restriction", "And"):
        return all(matches(item, c, values_of) for c in node)
    if name == "Or":
        return any(matches(item, c, values_of) for c in node)
    if name == "Not":
        return not matches(item, node[0], values_of)
    if name == "Exists":
        return bool(values_of(item, _path_of(node)))
    if name in _COMPARE:
        constant = _constant_of(node)
        values = values_of(item, _path_of(node))
        if name == "IsNotEqualTo" and not values:
            return True
        op = _COMPARE[name]
        try:
            return any(op(*_coerce(v, constant)) for v in values)
        except TypeError:
            return False
    if name == "Contains":
        const = node.find(tq("Constant"))
        needle = const.get("Value", "") if const is not None else ""
        mode = node.get("ContainmentMode", "Substring")
        comparison = node.get("ContainmentComparison", "Exact")
        fold = "IgnoreCase" in comparison or "Loose" in comparison
        if fold:
            needle = needle.casefold()
        for v in values_of(item, _path_of(node)):
            v = v.casefold() if fold else v
            if mode == "FullString" and v == needle:
                return True
            if mode == "Prefixed" and v.startswith(needle):
                return True
            if mode in ("Substring", "ExactPhrase") and needle in v:
                return True
            if mode == "PrefixOnWords" and any(w.startswith(needle) for w in v.split()):
                return True
        return False
    if name == "Excludes":
        return False
    raise EwsError("ErrorInvalidRestriction", f"Unsupported restriction {name}")


def sort_key_for(field_order):
    path = _path_of(field_order)

    def key(item: Item):
        values = field_values(item, path)
        v = values[0] if values else ""
        number = _as_number(v) if v else None
        return (0, number, "") if number is not None else (1, 0.0, v.casefold())

    return key
