"""ResolveNames and ConvertId."""

from __future__ import annotations

import base64
import binascii

from ..store import EwsError
from ..xmlutil import XSI, el, local, mq, sub
from .base import Operation, find_required

ID_FORMATS = ("EwsLegacyId", "EwsId", "EntryId", "HexEntryId", "StoreId", "OwaId")
_ENTRY_PREFIX = b"WESSID\x00"


class ResolveNames(Operation):
    NAME = "ResolveNames"

    def handle(self, request):
        entry = (request.findtext(mq("UnresolvedEntry")) or "").strip()
        query = entry.lower()
        if query.startswith("smtp:"):
            query = query[5:]
        matches = []
        for user in self.ctx.server.users_snapshot():
            names = (user.email, user.display_name.lower(), user.username.lower())
            if query and any(n == query or n.startswith(query) for n in names):
                matches.append(user)
        if not matches:
            exc = EwsError("ErrorNameResolutionNoResults", "No results were found.")
            return self.response([self.error(exc)])
        resolution_set = el(
            "m:ResolutionSet",
            attrib={"TotalItemsInView": len(matches), "IncludesLastItemInRange": "true"},
        )
        for user in matches:
            res = sub(resolution_set, "t:Resolution")
            mbx = sub(res, "t:Mailbox")
            sub(mbx, "t:Name", user.display_name)
            sub(mbx, "t:EmailAddress", user.email)
            sub(mbx, "t:RoutingType", "SMTP")
            sub(mbx, "t:MailboxType", "Mailbox")
        if len(matches) > 1:
            msg = self.ok(
                resolution_set,
                response_class="Warning",
                code="ErrorNameResolutionMultipleResults",
                text="Multiple results were found.",
            )
        else:
            msg = self.ok(resolution_set)
        return self.response([msg])


def _to_canonical(fmt: str, value: str) -> str:
    if fmt in ("EwsId", "EwsLegacyId", "OwaId"):
        raw = value
    else:
        try:
            data = binascii.unhexlify(value) if fmt == "HexEntryId" else base64.b64decode(value)
        except (binascii.Error, ValueError):
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.") from None
        if not data.startswith(_ENTRY_PREFIX):
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
        raw = data[len(_ENTRY_PREFIX) :].decode("ascii", "replace")
    try:
        text = base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.") from None
    if text[:2] not in ("I:", "F:", "O:"):
        raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
    return raw


def _from_canonical(fmt: str, raw: str) -> str:
    if fmt in ("EwsId", "EwsLegacyId", "OwaId"):
        return raw
    data = _ENTRY_PREFIX + raw.encode()
    if fmt == "HexEntryId":
        return binascii.hexlify(data).decode().upper()
    return base64.b64encode(data).decode()


class ConvertId(Operation):
    """Converts ids between formats. The answer's ``Mailbox`` is the primary SMTP address of
    the mailbox the id belongs to, whatever the request's ``Mailbox`` said: Exchange decodes
    it from the id, and clients rely on that to learn the current user's real address (they
    convert their own root folder's id with a placeholder mailbox)."""

    NAME = "ConvertId"

    def handle(self, request):
        dest = request.get("DestinationFormat", "EwsId")
        if dest not in ID_FORMATS:
            raise EwsError("ErrorInvalidRequest", f"Unknown format {dest}", fault=True)
        sources = find_required(request, "SourceIds")

        def one(src):
            if local(src.tag) != "AlternateId":
                raise EwsError("ErrorInvalidRequest", "Only AlternateId is supported")
            raw = _to_canonical(src.get("Format", ""), src.get("Id", ""))
            owner = self.ctx.server.owner_of_id(raw)
            if owner is None:
                raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
            out = el(
                "m:AlternateId",
                attrib={
                    f"{{{XSI}}}type": "t:AlternateIdType",
                    "Format": dest,
                    "Id": _from_canonical(dest, raw),
                    "Mailbox": owner.email,
                },
            )
            return self.ok(out)

        return self.each(list(sources), one)
