"""Delta queries over a folder's change log: opaque tokens and O(page) pages.

A token binds one mailbox and folder, the change sequence number to resume after, whether
it resumes a round (``$skiptoken``, nextLink) or starts the next one (``$deltatoken``,
deltaLink), the sequence number the first round started at, the ``$expand`` and ``$select``
asked for, and
the generation of ``server.graph`` (``expire_delta_tokens`` bumps it), sealed with a CRC
over the server's secret. Anything else - another mailbox or folder, a garbled or expired
token - is ``410 syncStateNotFound``.

A page reads at most ``page`` entries of the log (plus a bounded number of superseded ones),
so it can be empty and still carry a nextLink, as Graph's can.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from ..model import Folder, Item
from .props import Shape
from .router import Answer, GraphError, GraphRequest

#: Superseded log entries a page may skip per entry it may return.
STALE_FACTOR = 4


@dataclass
class Position:
    since: int
    first_round: bool
    #: the sequence number when the first round started: deletes after it are reported
    round_start: int
    shape: Shape


def gone() -> GraphError:
    return GraphError(410, "syncStateNotFound", "The sync state is not found or has expired.")


def _scope(ctx: GraphRequest, folder: Folder) -> str:
    return f"{ctx.require_mailbox().number}|{folder.id}"


def encode_token(ctx: GraphRequest, folder: Folder, kind: str, position: Position) -> str:
    doc = {
        "g": ctx.server.graph.generation,
        "k": kind,
        "s": _scope(ctx, folder),
        "n": position.since,
        "f": position.first_round,
        "r": position.round_start,
        "e": position.shape.expand,
        "x": position.shape.select,
    }
    text = json.dumps(doc, separators=(",", ":"))
    crc = zlib.crc32(f"{ctx.server.secret}|{text}".encode())
    raw = f"{text}|{crc:08x}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(ctx: GraphRequest, folder: Folder, kind: str, token: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        text, _, crc = raw.rpartition("|")
        if f"{zlib.crc32(f'{ctx.server.secret}|{text}'.encode()):08x}" != crc:
            raise gone()
        doc = json.loads(text)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise gone() from None
    if (
        doc.get("g") != ctx.server.graph.generation
        or doc.get("k") != kind
        or doc.get("s") != _scope(ctx, folder)
    ):
        raise gone()
    shape = Shape(list(doc["e"]), doc.get("x"))
    return Position(int(doc["n"]), bool(doc["f"]), int(doc["r"]), shape)


def start_position(ctx: GraphRequest, folder: Folder, shape: Shape) -> Position:
    """Where a delta request resumes: its token's position, or a new first round."""
    skip = ctx.query.get("$skiptoken")
    if skip is not None:
        return decode_token(ctx, folder, "skip", skip)
    delta = ctx.query.get("$deltatoken")
    if delta is not None:
        return decode_token(ctx, folder, "delta", delta)
    return Position(0, True, ctx.require_mailbox().seq, shape)


def delta_page(
    ctx: GraphRequest,
    folder: Folder,
    render: Callable[[GraphRequest, Item, Shape], dict],
    shape: Shape,
) -> Answer:
    """One page of a delta round over ``folder`` (see the module docstring)."""
    mailbox = ctx.require_mailbox()
    with mailbox.lock:
        position = start_position(ctx, folder, shape)
        values, last_seq, done = _scan(ctx, folder, position, render)
    position.since = last_seq
    if done:
        after = Position(last_seq, False, position.round_start, position.shape)
        token = encode_token(ctx, folder, "delta", after)
        link = {"@odata.deltaLink": ctx.link({"$deltatoken": token})}
    else:
        token = encode_token(ctx, folder, "skip", position)
        link = {"@odata.nextLink": ctx.link({"$skiptoken": token})}
    return 200, {"value": values, **link}, {}


def _scan(ctx, folder: Folder, position: Position, render) -> tuple[list[dict], int, bool]:
    mailbox = ctx.require_mailbox()
    page = ctx.page_size
    values: list[dict] = []
    read = stale = 0
    last_seq = position.since
    entries = folder.log_entries(position.since)
    for item_id, seq, entry in entries:
        last_seq = seq  # a superseded entry's item has a later entry: safe to pass it
        if entry is None:
            stale += 1
            if stale > page * STALE_FACTOR:
                return values, last_seq, entries.at_end()
            continue
        read += 1
        if entry == "deleted":
            if not position.first_round or seq > position.round_start:
                reason = "changed" if item_id in mailbox.moved_out else "deleted"
                values.append({"id": ctx.removed_id_out(item_id), "@removed": {"reason": reason}})
        else:
            values.append(render(ctx, entry, position.shape))
        if read >= page:
            return values, last_seq, entries.at_end()
    return values, last_seq, True
