"""Operation base class, registry and response-message helpers."""

from __future__ import annotations

from typing import ClassVar

from ..store import EwsError, Folder, Item, Mailbox
from ..xmlutil import el, local, mq, sub, tq

REGISTRY: dict[str, type[Operation]] = {}


class Context:
    """What an operation needs to know about the request it serves."""

    def __init__(self, server, principal, mailbox: Mailbox, headers: dict, api_version: str):
        self.server = server
        self.principal = principal  # the authenticated User or App
        self.mailbox = mailbox  # effective mailbox (after impersonation)
        self.headers = headers
        self.api_version = api_version

    def mailbox_for(self, email: str | None) -> Mailbox:
        if not email or email.lower() == self.mailbox.email:
            return self.mailbox
        target = self.server.mailbox(email)
        if target is None:
            raise EwsError(
                "ErrorNonExistentMailbox", f"No mailbox with such guid or email: {email}"
            )
        if not self.server.has_full_access(self.principal, target):
            raise EwsError(
                "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        return target

    def folder(self, ref_elem) -> Folder:
        """Resolve a t:FolderId / t:DistinguishedFolderId element."""
        name = local(ref_elem.tag)
        if name == "DistinguishedFolderId":
            mailbox = self.mailbox_for(ref_elem.findtext(f"{tq('Mailbox')}/{tq('EmailAddress')}"))
            folder = mailbox.distinguished.get(ref_elem.get("Id", ""))
            if folder is None:
                raise EwsError(
                    "ErrorFolderNotFound", "The specified folder could not be found in the store."
                )
            return folder
        if name == "FolderId":
            fid = ref_elem.get("Id", "")
            folder = self.mailbox.folders.get(fid)
            if folder is None:
                for mbx in self.server.mailboxes_accessible(self.principal):
                    folder = mbx.folders.get(fid)
                    if folder is not None:
                        break
            if folder is None:
                raise EwsError(
                    "ErrorFolderNotFound", "The specified folder could not be found in the store."
                )
            return folder
        raise EwsError("ErrorInvalidRequest", f"Unsupported folder id {name}")

    def item(self, ref_elem) -> tuple[Item, str | None]:
        """Resolve t:ItemId / t:OccurrenceItemId / t:RecurringMasterItemId -> (item, changekey)."""
        name = local(ref_elem.tag)
        mbx = self.mailbox
        if name == "ItemId":
            iid = ref_elem.get("Id", "")
            item = mbx.items.get(iid)
            if item is None:
                occ = mbx.parse_occurrence_id(iid)
                if occ is None:
                    raise EwsError(
                        "ErrorItemNotFound", "The specified object was not found in the store."
                    )
                item = mbx.occurrence(*occ)
            return item, ref_elem.get("ChangeKey")
        if name == "OccurrenceItemId":
            master = mbx.get_item(ref_elem.get("RecurringMasterId", ""))
            index = int(ref_elem.get("InstanceIndex", "0"))
            return mbx.occurrence(master, index), None
        if name == "RecurringMasterItemId":
            item, _ = self.item(el("t:ItemId", attrib={"Id": ref_elem.get("OccurrenceId", "")}))
            if item.master is None:
                if item.is_recurring_master:
                    return item, ref_elem.get("ChangeKey")
                raise EwsError("ErrorItemNotFound", "The item is not a recurring item")
            return item.master, ref_elem.get("ChangeKey")
        raise EwsError("ErrorInvalidIdMalformed", f"Unsupported item id {name}")


class Operation:
    """One EWS operation. Subclasses set NAME and implement :meth:`handle`."""

    NAME: ClassVar[str] = ""
    # Bulk operations answer one message per input element, in order.
    MESSAGE_NAME: ClassVar[str | None] = None
    #: The first RequestServerVersion that has the operation (older: ErrorInvalidServerVersion).
    MIN_VERSION: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.NAME:
            REGISTRY[cls.NAME] = cls

    def __init__(self, ctx: Context):
        self.ctx = ctx
        #: HTTP status and extra headers of the answer (GetUserPhoto: 404, ETag).
        self.http_status = 200
        self.http_headers: dict[str, str] = {}

    @property
    def message_tag(self) -> str:
        return f"m:{self.MESSAGE_NAME or self.NAME + 'ResponseMessage'}"

    def handle(self, request) -> object:
        raise NotImplementedError

    # -------------------------------------------------------------- message helpers
    def response(self, messages: list) -> object:
        resp = el(f"m:{self.NAME}Response")
        container = sub(resp, "m:ResponseMessages")
        for m in messages:
            container.append(m)
        return resp

    def ok(self, *payload, response_class="Success", code="NoError", text=None) -> object:
        msg = el(self.message_tag, attrib={"ResponseClass": response_class})
        if text:
            sub(msg, "m:MessageText", text)
        sub(msg, "m:ResponseCode", code)
        if response_class != "Success":
            sub(msg, "m:DescriptiveLinkKey", 0)
        for p in payload:
            if p is not None:
                msg.append(p)
        return msg

    def error(self, exc: EwsError, *payload) -> object:
        msg = el(self.message_tag, attrib={"ResponseClass": "Error"})
        sub(msg, "m:MessageText", exc.text)
        sub(msg, "m:ResponseCode", exc.code)
        sub(msg, "m:DescriptiveLinkKey", 0)
        if exc.message_xml is not None:
            msg.append(exc.message_xml)
        for p in payload:
            if p is not None:
                msg.append(p)
        return msg

    def each(self, elems, func, empty_payload=None) -> object:
        """Run ``func`` per element; one bad element yields an error message, not a failure."""
        messages = []
        for e in elems:
            try:
                messages.append(func(e))
            except EwsError as exc:
                if exc.fault:
                    raise
                messages.append(self.error(exc, empty_payload() if empty_payload else None))
        return self.response(messages)


def find_required(parent, tag: str):
    node = parent.find(mq(tag) if not tag.startswith("{") else tag)
    if node is None:
        raise EwsError("ErrorInvalidRequest", f"Missing element {tag}", fault=True)
    return node
