"""Folder operations: GetFolder, FindFolder, SyncFolderHierarchy, CreateFolder, DeleteFolder."""

from __future__ import annotations

from .. import mapi
from ..model import iter_folder_tree
from ..render import Shape, matches_folder, render_folder
from ..store import EwsError
from ..sync_state import decode_sync_state, encode_sync_state
from ..xmlutil import el, local, mq, sub
from .base import Operation, find_required


def folder_shape(request) -> Shape:
    return Shape(request.find(mq("FolderShape")), default_base="Default")


class GetFolder(Operation):
    NAME = "GetFolder"

    def handle(self, request):
        shape = folder_shape(request)
        ids = find_required(request, "FolderIds")

        def one(ref):
            folder = self.ctx.folder(ref)
            return self.ok(el("m:Folders", children=[render_folder(folder, shape)]))

        return self.each(list(ids), one)


class FindFolder(Operation):
    NAME = "FindFolder"

    def handle(self, request):
        shape = folder_shape(request)
        deep = request.get("Traversal", "Shallow") == "Deep"
        view = request.find(mq("IndexedPageFolderView"))
        restriction = request.find(mq("Restriction"))
        parents = find_required(request, "ParentFolderIds")

        def one(ref):
            parent = self.ctx.folder(ref)
            folders = list(iter_folder_tree(parent, deep))
            if restriction is not None and len(restriction):
                folders = [f for f in folders if matches_folder(f, restriction[0])]
            total = len(folders)
            offset, page = 0, folders
            if view is not None:
                max_entries = int(view.get("MaxEntriesReturned") or total or 1)
                offset = int(view.get("Offset") or 0)
                if view.get("BasePoint") == "End":
                    offset = max(0, total - offset - max_entries)
                page = folders[offset : offset + max_entries]
            end = offset + len(page)
            root = el(
                "m:RootFolder",
                attrib={
                    "IndexedPagingOffset": end,
                    "TotalItemsInView": total,
                    "IncludesLastItemInRange": "true" if end >= total else "false",
                },
            )
            root.append(el("t:Folders", children=[render_folder(f, shape) for f in page]))
            return self.ok(root)

        return self.each(list(parents), one)


class SyncFolderHierarchy(Operation):
    NAME = "SyncFolderHierarchy"

    def handle(self, request):
        shape = folder_shape(request)
        ref = request.find(mq("SyncFolderId"))
        state_text = request.findtext(mq("SyncState"))
        try:
            top = self.ctx.folder(ref[0]) if ref is not None and len(ref) else None
            mailbox = top.mailbox if top is not None else self.ctx.mailbox
            if top is None:
                top = mailbox.distinguished["msgfolderroot"]
            scope = f"H:{top.id}"
            since = (
                decode_sync_state(self.ctx.server.secret, scope, state_text) if state_text else 0
            )
            with mailbox.lock:
                changes = el("m:Changes")
                for f in iter_folder_tree(top, deep=True):
                    if f.seq > since:
                        sub(changes, "t:Create").append(render_folder(f, shape))
                if since:
                    for fid, seq in mailbox.hierarchy_tombstones.items():
                        if seq > since:
                            d = sub(changes, "t:Delete")
                            sub(d, "t:FolderId", attrib={"Id": fid})
                state = encode_sync_state(self.ctx.server.secret, scope, mailbox.seq)
            msg = self.ok(el("m:SyncState", state), el("m:IncludesLastFolderInRange", "true"))
            msg.append(changes)
            return self.response([msg])
        except EwsError as exc:
            if exc.fault:
                raise
            last = el("m:IncludesLastFolderInRange", "true")
            return self.response([self.error(exc, el("m:SyncState"), last)])


class CreateFolder(Operation):
    NAME = "CreateFolder"

    def handle(self, request):
        parent = self.ctx.folder(find_required(request, "ParentFolderId")[0])
        folders = find_required(request, "Folders")

        def one(fe):
            kind = local(fe.tag)
            if kind not in ("Folder", "CalendarFolder", "ContactsFolder", "TasksFolder"):
                raise EwsError("ErrorInvalidRequest", f"Cannot create {kind}")
            kind, name, folder_class, extended = mapi.absorb_folder_extended(fe, kind)
            default_class = {
                "CalendarFolder": "IPF.Appointment",
                "ContactsFolder": "IPF.Contact",
                "TasksFolder": "IPF.Task",
            }.get(kind, "IPF.Note")
            folder = parent.mailbox.create_folder(
                parent, name or "New Folder", folder_class or default_class, kind
            )
            folder.extended = extended
            out = el(f"t:{kind}")
            sub(out, "t:FolderId", attrib={"Id": folder.id, "ChangeKey": folder.change_key})
            return self.ok(el("m:Folders", children=[out]))

        return self.each(list(folders), one)


class DeleteFolder(Operation):
    NAME = "DeleteFolder"

    def handle(self, request):
        ids = find_required(request, "FolderIds")

        def one(ref):
            folder = self.ctx.folder(ref)
            folder.mailbox.delete_folder(folder)
            return self.ok()

        return self.each(list(ids), one)
