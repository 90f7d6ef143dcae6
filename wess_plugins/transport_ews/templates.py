"""Whole SyncFolderItems requests from per-process templates.

A scheduler pass over idle users is one SyncFolderItems per folder per user, and those
requests differ only in the mailbox address and the sync state, yet building each with
lxml (payload, envelope, serialization) is much of the client CPU an idle request
costs. So the first request of a kind is built and serialized by
exchangelib as always, and cut into a template: the envelope (by server version,
impersonated identity and time zone) and the body with the address and the state cut
out (by folder kind, fields, page size). Later requests of that kind are the template
with their address and state filled in: byte for byte what exchangelib would send
(``tests/ews/test_patches.py`` compares them). A value lxml would escape (anything
but printable ASCII without ``&<>``), an ``Ignore`` list or a sync scope takes
exchangelib's path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_PLAIN = re.compile(r"[\x20-\x25\x27-\x3b\x3d\x3f-\x7e]*")  # printable ASCII but & < >
_BODY_START, _BODY_END = b"<s:Body>", b"</s:Body>"
#: Kept envelopes (one per server version and time zone; one per user when impersonating)
#: and bodies (one per folder kind): bounded, a cache.
_ENVELOPES_MAX = 4096
_ENVELOPES: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
_BODIES: dict[tuple[Any, ...], tuple[bytes, ...] | None] = {}


def plain(text: str | None) -> bool:
    """Text that lxml writes as it is (so it can be filled into a template)."""
    return text is None or _PLAIN.fullmatch(text) is not None


class Prepared:
    """A payload to be written from a template: what varies, and how to build it the
    usual way (the first time, or when no template can be cut)."""

    __slots__ = ("body_key", "email", "state", "build")

    def __init__(
        self, body_key: tuple[Any, ...], email: str, state: str | None, build: Callable[[], Any]
    ) -> None:
        self.body_key, self.email, self.state, self.build = body_key, email, state, build


def _cut_body(body: bytes, email: str, state: str | None) -> tuple[bytes, ...] | None:
    """The body around the address and the state, or None when either is not found
    exactly once (then this kind of request is always built by exchangelib)."""
    values = [email.encode()] + ([state.encode()] if state is not None else [])
    parts: list[bytes] = []
    rest = body
    for value in values:
        if rest.count(value) != 1 or body.count(value) != 1:
            return None
        before, rest = rest.split(value)
        parts.append(before)
    return (*parts, rest)


def write(
    env_key: tuple[Any, ...],
    prepared: Prepared,
    api_version: str | None,
    wrap: Callable[[Any, str | None], bytes],
) -> bytes:
    """The request bytes for ``prepared``: from the templates when both are known
    (``env_key``: what its envelope depends on), else exchangelib's own (``wrap``), from
    which the templates are then cut."""
    envelope = _ENVELOPES.get(env_key)
    body = _BODIES.get(prepared.body_key, ())
    if envelope is not None and body:
        values = [prepared.email]
        if prepared.state is not None:
            values.append(prepared.state)
        out = [envelope[0]]
        for part, value in zip(body, values, strict=False):
            out += (part, value.encode())
        out += (body[-1], envelope[1])
        return b"".join(out)
    full = wrap(prepared.build(), api_version)
    start, end = full.find(_BODY_START), full.rfind(_BODY_END)
    if start < 0 or end < start or full.count(_BODY_START) != 1:
        return full
    start += len(_BODY_START)
    if len(_ENVELOPES) >= _ENVELOPES_MAX:
        _ENVELOPES.clear()
    _ENVELOPES[env_key] = (full[:start], full[end:])
    if body == ():
        _BODIES[prepared.body_key] = _cut_body(full[start:end], prepared.email, prepared.state)
    return full
