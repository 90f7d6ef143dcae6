"""Item operations: GetItem, CreateItem, UpdateItem, DeleteItem, MoveItem, SendItem."""

from __future__ import annotations

import copy

from lxml import etree

from .. import mapi, recurrence
from ..records import utc_times
from ..render import INDEXED_CONTAINERS, Shape, ext_key, field_name, find_ext, render_item
from ..store import ITEM_KINDS, EwsError, Item
from ..xmlutil import (
    el,
    element_order,
    insert_ordered,
    local,
    mq,
    normalize_booleans,
    sort_children,
    sub,
    tq,
)
from .base import Operation, find_required

DEFAULT_FOLDER_FOR_KIND = {
    "Contact": "contacts",
    "DistributionList": "contacts",
    "CalendarItem": "calendar",
    "Task": "tasks",
}


#: Parsed ItemShapes by their XML: clients send the same few shapes over and over (a sync
#: asks for the same 40 fields every time), and parsing one is most of an idle request's
#: server work. Shapes are read-only once built. Bounded: cleared when full.
_SHAPES: dict[tuple[str, bytes], Shape] = {}
_SHAPES_MAX = 256


def item_shape(request, default="Default") -> Shape:
    elem = request.find(mq("ItemShape"))
    if elem is None:
        return Shape(None, default_base=default)
    key = (default, etree.tostring(elem, with_tail=False))
    shape = _SHAPES.get(key)
    if shape is None:
        if len(_SHAPES) >= _SHAPES_MAX:
            _SHAPES.clear()
        shape = _SHAPES[key] = Shape(elem, default_base=default)
    return shape


def id_only(item: Item) -> object:
    out = el(f"t:{item.kind}")
    sub(out, "t:ItemId", attrib={"Id": item.id, "ChangeKey": item.change_key})
    return out


class GetItem(Operation):
    NAME = "GetItem"

    def handle(self, request):
        shape = item_shape(request)
        ids = find_required(request, "ItemIds")
        mailbox = self.ctx.mailbox

        def one(ref):
            with mailbox.lock:
                item, _ = self.ctx.item(ref)
                return self.ok(el("m:Items", children=[render_item(item, shape, mailbox)]))

        return self.each(list(ids), one, lambda: el("m:Items"))


class CreateItem(Operation):
    NAME = "CreateItem"

    def handle(self, request):
        disposition = request.get("MessageDisposition", "SaveOnly")
        saved = request.find(mq("SavedItemFolderId"))
        target = self.ctx.folder(saved[0]) if saved is not None and len(saved) else None
        items = find_required(request, "Items")
        mailbox = self.ctx.mailbox

        def one(elem):
            kind = local(elem.tag)
            if kind not in ITEM_KINDS:
                raise EwsError("ErrorInvalidRequest", f"Unsupported item type {kind}")
            elem = mapi.absorb_extended(copy.deepcopy(elem))
            kind = local(elem.tag)
            if kind == "Message" and disposition in ("SendOnly", "SendAndSaveCopy"):
                self.ctx.server.deliver(self.ctx.mailbox, elem)
                if disposition == "SendOnly":
                    return self.ok(el("m:Items"))
                folder = target or mailbox.distinguished["sentitems"]
                insert_ordered(elem, el("t:IsRead", "true"), "MessageType")
            else:
                folder = (
                    target or mailbox.distinguished[DEFAULT_FOLDER_FOR_KIND.get(kind, "drafts")]
                )
            item = folder.mailbox.create_item(folder, elem)
            return self.ok(el("m:Items", children=[id_only(item)]))

        return self.each(list(items), one, lambda: el("m:Items"))


# --------------------------------------------------------------------------- updates


def _entry_key(entry):
    return entry.get("Key")


def _merge_indexed(stored_elem, type_name, container_name, src_container, subfield=None):
    stored = stored_elem.find(tq(container_name))
    if stored is None:
        stored = el(f"t:{container_name}")
        insert_ordered(stored_elem, stored, type_name)
    for src_entry in src_container:
        key = _entry_key(src_entry)
        existing = next((e for e in stored if _entry_key(e) == key), None)
        if subfield is None or existing is None:
            if existing is not None:
                stored.replace(existing, copy.deepcopy(src_entry))
            else:
                stored.append(copy.deepcopy(src_entry))
            continue
        for child in src_entry:
            insert_ordered(existing, copy.deepcopy(child), "PhysicalAddressDictionaryEntryType")


def _delete_indexed(stored_elem, container_name, key, subfield=None):
    stored = stored_elem.find(tq(container_name))
    if stored is None:
        return
    for entry in list(stored):
        if _entry_key(entry) != key:
            continue
        if subfield:
            for child in entry.findall(tq(subfield)):
                entry.remove(child)
            if len(entry):
                continue
        stored.remove(entry)
    if not len(stored):
        stored_elem.remove(stored)


def _path(update):
    for child in update:
        if local(child.tag) in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI"):
            return child
    raise EwsError("ErrorInvalidPropertyRequest", "Update without a property path")


def _source_item(update):
    for child in update:
        if local(child.tag) in ITEM_KINDS:
            return child
    raise EwsError("ErrorInvalidPropertySet", "SetItemField without an item element")


def apply_update(item: Item, update) -> bool:
    """Apply one SetItemField/AppendToItemField/DeleteItemField. Returns True for a read-flag-only
    change (IsRead)."""
    op = local(update.tag)
    path = _path(update)
    kind = local(path.tag)
    elem, type_name = item.elem, item.type_name
    normalize_booleans(update)
    uri = path.get("FieldURI", "")
    name = field_name(uri)
    if kind == "ExtendedFieldURI":
        if mapi.apply_extended_update(item, op, path, update):
            return False
        key = ext_key(path.attrib)
        existing = find_ext(elem, key)
        if existing is not None:
            elem.remove(existing)
        if op != "DeleteItemField":
            src = _source_item(update).find(tq("ExtendedProperty"))
            if src is None:
                raise EwsError("ErrorInvalidPropertySet", "Missing ExtendedProperty value")
            insert_ordered(elem, copy.deepcopy(src), type_name)
        return False
    if kind == "IndexedFieldURI":
        parts = uri.split(":")
        container = INDEXED_CONTAINERS.get(name, name)
        subfield = parts[2] if len(parts) > 2 else None
        if op == "DeleteItemField":
            _delete_indexed(elem, container, path.get("FieldIndex"), subfield)
        else:
            src = _source_item(update).find(tq(container))
            if src is None:
                raise EwsError("ErrorInvalidPropertySet", f"Missing {container} value")
            _merge_indexed(elem, type_name, container, src, subfield)
        return False
    if name not in element_order(type_name):
        raise EwsError(
            "ErrorInvalidPropertyRequest", f"Property {uri} is not valid for {item.kind}"
        )
    if op == "DeleteItemField":
        for child in elem.findall(tq(name)):
            elem.remove(child)
    else:
        src_item = _source_item(update)
        src = src_item.find(tq(name))
        if src is None and len(src_item) == 1:
            src = src_item[0]
        if src is None:
            raise EwsError("ErrorInvalidPropertySet", f"Missing value for {uri}")
        existing = elem.find(tq(src.tag.rpartition("}")[2]))
        if op == "AppendToItemField" and existing is not None:
            if len(src):
                for child in src:
                    existing.append(copy.deepcopy(child))
            else:
                existing.text = (existing.text or "") + (src.text or "")
        else:
            insert_ordered(elem, copy.deepcopy(src), type_name)
    if name == "Recurrence" and item.kind == "CalendarItem" and item.master is None:
        has = elem.find(tq("Recurrence")) is not None
        insert_ordered(
            elem, el("t:CalendarItemType", "RecurringMaster" if has else "Single"), type_name
        )
    return name == "IsRead"


class UpdateItem(Operation):
    NAME = "UpdateItem"

    def handle(self, request):
        resolution = request.get("ConflictResolution", "AutoResolve")
        changes = find_required(request, "ItemChanges")
        mailbox = self.ctx.mailbox

        def one(change):
            with mailbox.lock:
                ref = next(
                    (
                        c
                        for c in change
                        if local(c.tag) in ("ItemId", "OccurrenceItemId", "RecurringMasterItemId")
                    ),
                    None,
                )
                if ref is None:
                    raise EwsError("ErrorInvalidIdMalformed", "ItemChange without an item id")
                item, change_key = self.ctx.item(ref)
                if change_key and change_key != item.change_key and resolution == "NeverOverwrite":
                    raise EwsError(
                        "ErrorIrresolvableConflict",
                        "The send or update operation could not be performed because the change "
                        "key passed in the request does not match the current change key for the "
                        "item.",
                    )
                updates = change.find(tq("Updates"))
                if updates is None:
                    raise EwsError("ErrorInvalidRequest", "ItemChange without Updates")
                if item.master is not None:
                    item = item.folder.mailbox.materialize_exception(item)
                master = item.kind == "CalendarItem" and item.is_recurring_master
                series = recurrence.series_signature(item.elem) if master else None
                # Apply on a copy so a bad update leaves the item untouched.
                backup = copy.deepcopy(item.elem)
                read_only = True
                try:
                    for update in updates:
                        read_only = apply_update(item, update) and read_only
                    if item.kind == "CalendarItem":
                        utc_times(item.elem)
                    sort_children(item.elem, item.type_name)
                except EwsError:
                    item.elem = backup
                    raise
                if master and recurrence.series_signature(item.elem) != series:
                    # A new pattern or series time: Exchange deletes the exceptions.
                    item.folder.mailbox.drop_exceptions(item)
                item.folder.mailbox.update_item(item, read_only_change=read_only and len(updates))
                conflicts = el("m:ConflictResults")
                sub(conflicts, "t:Count", 0)
                return self.ok(el("m:Items", children=[id_only(item)]), conflicts)

        return self.each(list(changes), one, lambda: el("m:Items"))


class DeleteItem(Operation):
    NAME = "DeleteItem"

    def handle(self, request):
        delete_type = request.get("DeleteType", "MoveToDeletedItems")
        ids = find_required(request, "ItemIds")
        mailbox = self.ctx.mailbox

        def one(ref):
            with mailbox.lock:
                item, _ = self.ctx.item(ref)
                owner = item.folder.mailbox
                if item.master is not None and item.id not in owner.items:
                    owner.delete_occurrence(item.master, item.index)
                elif delete_type == "MoveToDeletedItems" and item.master is None:
                    trash = owner.distinguished["deleteditems"]
                    if item.folder is trash:
                        owner.delete_item(item)
                    else:
                        owner.move_item(item, trash)
                else:
                    owner.delete_item(item)
                return self.ok()

        return self.each(list(ids), one)


class MoveItem(Operation):
    NAME = "MoveItem"

    def handle(self, request):
        target = self.ctx.folder(find_required(request, "ToFolderId")[0])
        ids = find_required(request, "ItemIds")

        def one(ref):
            item, _ = self.ctx.item(ref)
            moved = item.folder.mailbox.move_item(item, target)
            return self.ok(el("m:Items", children=[id_only(moved)]))

        return self.each(list(ids), one, lambda: el("m:Items"))


class SendItem(Operation):
    NAME = "SendItem"

    def handle(self, request):
        save = request.get("SaveItemToFolder", "true") == "true"
        ids = find_required(request, "ItemIds")
        saved = request.find(mq("SavedItemFolderId"))

        def one(ref):
            item, _ = self.ctx.item(ref)
            owner = item.folder.mailbox
            self.ctx.server.deliver(owner, copy.deepcopy(item.elem))
            if save:
                target = self.ctx.folder(saved[0]) if saved is not None else None
                owner.move_item(item, target or owner.distinguished["sentitems"])
            else:
                owner.delete_item(item)
            return self.ok()

        return self.each(list(ids), one)
