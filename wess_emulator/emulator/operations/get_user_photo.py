"""GetUserPhoto (Exchange 2013+): a user's photo from the directory."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse

from ..store import EwsError
from ..xmlutil import el, sub
from .base import Operation, find_required


def photo_etag(photo: bytes) -> str:
    """The quoted ETag of a photo (the SOAP and the REST form answer the same one)."""
    return '"' + hashlib.sha256(photo).hexdigest()[:32] + '"'


def photo_type(photo: bytes) -> str:
    """The image type of a photo's bytes (Exchange stores JPEGs; PNG is sniffed too)."""
    if photo.startswith(b"\x89PNG"):
        return "image/png"
    return "image/jpeg"


def rest_user_photo(server, handler) -> tuple[int, bytes, dict[str, str]]:
    """GetUserPhoto's REST form (Exchange 2013+), ``GET /EWS/Exchange.asmx/s/
    GetUserPhoto?email=...&size=HR48x48``: the image itself, 304 when ``If-None-Match``
    still matches, 404 when the user has no photo or does not exist."""
    auth_header = handler.headers.get("Authorization")
    if server.authenticate(auth_header) is None:
        raise server.unauthorized(bearer_error=bool(auth_header and "earer" in auth_header[:7]))
    server.count_request("GetUserPhoto")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query)
    email = (query.get("email") or [""])[0]
    user = server.user(email) if email else None
    photo = user.photo if user is not None else None
    if not photo:
        return 404, b"", {}
    etag = photo_etag(photo)
    if handler.headers.get("If-None-Match") == etag:
        return 304, b"", {"ETag": etag}
    return 200, photo, {"Content-Type": photo_type(photo), "ETag": etag}


class GetUserPhoto(Operation):
    """Answers as Exchange 2013+ does: the photo as ``PictureData`` with an ``ETag``
    header; ``HasChanged`` false (no data) when the client's ``If-None-Match`` still
    matches; and HTTP 404 when the user has no photo or does not exist - 404 is the
    documented "no photo" answer, which the EWS Managed API turns into
    ``PhotoOrUserNotFound`` (the body is an ``ErrorItemNotFound`` message, for clients
    that read it). ``SizeRequested`` is not applied: the stored bytes come back as set
    with ``EmulatorServer.set_photo``."""

    NAME = "GetUserPhoto"
    MESSAGE_NAME = "GetUserPhotoResponse"
    MIN_VERSION = "Exchange2013"

    def handle(self, request):
        email = (find_required(request, "Email").text or "").strip()
        user = self.ctx.server.user(email) if email else None
        photo = user.photo if user is not None else None
        if not photo:
            self.http_status = 404
            exc = EwsError("ErrorItemNotFound", "The photo or user was not found.")
            return self.error(exc, el("m:HasChanged", "false"))
        etag = photo_etag(photo)
        self.http_headers["ETag"] = etag
        sent = (v for k, v in self.ctx.headers.items() if k.lower() == "if-none-match")
        if next(sent, None) == etag:
            return self.ok(el("m:HasChanged", "false"))
        msg = self.ok(el("m:HasChanged", "true"))
        sub(msg, "m:PictureData", base64.b64encode(photo).decode())
        return msg
