"""FindItem (incl. CalendarView) and SyncFolderItems."""

from __future__ import annotations

from .. import recurrence
from ..render import matches, render_item, sort_key_for
from ..store import EwsError
from ..sync_state import decode_sync_state, encode_sync_state
from ..xmlutil import el, mq, sub
from .base import Operation, find_required
from .items import item_shape

MAX_SYNC_CHANGES = 512


class FindItem(Operation):
    NAME = "FindItem"

    def handle(self, request):
        shape = item_shape(request)
        traversal = request.get("Traversal", "Shallow")
        restriction = request.find(mq("Restriction"))
        sort = request.find(mq("SortOrder"))
        parents = find_required(request, "ParentFolderIds")
        indexed = request.find(mq("IndexedPageItemView"))
        calendar_view = request.find(mq("CalendarView"))
        fractional = request.find(mq("FractionalPageItemView"))
        if traversal not in ("Shallow", "Associated"):
            raise EwsError(
                "ErrorInvalidRequest", f"Traversal {traversal} not supported", fault=True
            )

        def one(ref):
            folder = self.ctx.folder(ref)
            mailbox = folder.mailbox
            with mailbox.lock:
                if traversal == "Associated":
                    candidates = []
                elif calendar_view is not None:
                    candidates = self._expand(folder, calendar_view)
                else:
                    candidates = list(folder.items.values())
                if restriction is not None and len(restriction):
                    candidates = [i for i in candidates if matches(i, restriction[0])]
                if sort is not None:
                    for field_order in reversed(list(sort)):
                        candidates.sort(
                            key=sort_key_for(field_order),
                            reverse=field_order.get("Order") == "Descending",
                        )
                total = len(candidates)
                attrs = {}
                if calendar_view is not None:
                    max_entries = int(calendar_view.get("MaxEntriesReturned") or total or 1)
                    page = candidates[:max_entries]
                    end = len(page)
                elif fractional is not None:
                    max_entries = int(fractional.get("MaxEntriesReturned") or total or 1)
                    num = int(fractional.get("Numerator") or 0)
                    den = max(1, int(fractional.get("Denominator") or 1))
                    start = total * num // den
                    page = candidates[start : start + max_entries]
                    end = start + len(page)
                    attrs = {"NumeratorOffset": end, "AbsoluteDenominator": total}
                else:
                    offset = 0
                    page = candidates
                    if indexed is not None:
                        max_entries = int(indexed.get("MaxEntriesReturned") or total or 1)
                        offset = int(indexed.get("Offset") or 0)
                        if indexed.get("BasePoint") == "End":
                            offset = max(0, total - offset - max_entries)
                        page = candidates[offset : offset + max_entries]
                    end = offset + len(page)
                    attrs = {"IndexedPagingOffset": end}
                attrs["TotalItemsInView"] = total
                attrs["IncludesLastItemInRange"] = "true" if end >= total else "false"
                root = el("m:RootFolder", attrib=attrs)
                items = sub(root, "t:Items")
                for item in page:
                    items.append(render_item(item, shape, mailbox))
                return self.ok(root)

        return self.each(list(parents), one)

    @staticmethod
    def _expand(folder, view):
        start = recurrence.parse_dt(view.get("StartDate"))
        end = recurrence.parse_dt(view.get("EndDate"))
        mailbox = folder.mailbox
        out = []
        for item in folder.items.values():
            if item.kind != "CalendarItem":
                continue
            if not item.is_recurring_master:
                s, e = item.field_text("Start"), item.field_text("End")
                if s and e and recurrence.parse_dt(s) < end and recurrence.parse_dt(e) > start:
                    out.append(item)
                continue
            for idx, occ_start, occ_end in mailbox.occurrences(item):
                if occ_start >= end:
                    break
                if idx in item.deleted_indexes:
                    continue
                if idx in item.exceptions:
                    exc = item.exceptions[idx]
                    es, ee = (
                        recurrence.parse_dt(exc.field_text("Start")),
                        recurrence.parse_dt(exc.field_text("End")),
                    )
                    if es < end and ee > start:
                        out.append(exc)
                    continue
                if occ_end > start:
                    out.append(mailbox.synthesize_occurrence(item, idx, occ_start, occ_end))
        out.sort(key=lambda i: i.field_text("Start") or "")
        return out


class SyncFolderItems(Operation):
    NAME = "SyncFolderItems"

    def handle(self, request):
        shape = item_shape(request, default="IdOnly")
        try:
            ref = find_required(request, "SyncFolderId")
            folder = self.ctx.folder(ref[0])
            mailbox = folder.mailbox
            scope = f"I:{folder.id}"
            state_text = request.findtext(mq("SyncState"))
            server = self.ctx.server
            if server.faults.take(self.NAME, "invalid_sync_state"):
                raise EwsError(
                    "ErrorInvalidSyncStateData",
                    "Synchronization state data is corrupt or otherwise invalid.",
                )
            since = decode_sync_state(server.secret, scope, state_text) if state_text else 0
            limit = int(request.findtext(mq("MaxChangesReturned")) or MAX_SYNC_CHANGES)
            if not 1 <= limit <= MAX_SYNC_CHANGES:
                raise EwsError("ErrorInvalidArgument", "MaxChangesReturned must be 1-512")
            ignore_elem = request.find(mq("Ignore"))
            ignore = frozenset(i.get("Id") for i in ignore_elem) if ignore_elem is not None else ()
            with mailbox.lock:
                found, last_seq, includes_last = folder.changes_since(
                    since, limit, include_deletes=bool(state_text), ignore=ignore
                )
                if includes_last:
                    last_seq = max(last_seq, mailbox.seq)
                changes = el("m:Changes")
                for kind, obj in found:
                    node = sub(changes, f"t:{kind}")
                    if kind == "Delete":
                        sub(node, "t:ItemId", attrib={"Id": obj})
                    elif kind == "ReadFlagChange":
                        sub(node, "t:ItemId", attrib={"Id": obj.id, "ChangeKey": obj.change_key})
                        sub(node, "t:IsRead", obj.field_text("IsRead", "false"))
                    else:
                        node.append(render_item(obj, shape, mailbox))
                state = encode_sync_state(server.secret, scope, last_seq)
            msg = self.ok(
                el("m:SyncState", state),
                el("m:IncludesLastItemInRange", "true" if includes_last else "false"),
                changes,
            )
            return self.response([msg])
        except EwsError as exc:
            if exc.fault:
                raise
            # Like Exchange, error messages still carry (empty) sync elements.
            last = el("m:IncludesLastItemInRange", "true")
            return self.response([self.error(exc, el("m:SyncState"), last)])
