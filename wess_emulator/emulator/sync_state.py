"""SyncState tokens: a change sequence number bound to one folder (or hierarchy scope)
and to the server that issued it, so a garbled or foreign token is refused."""

from __future__ import annotations

import zlib

from .errors import EwsError
from .model import b64, unb64


def encode_sync_state(secret: str, scope: str, seq: int) -> str:
    body = f"{scope}|{seq}"
    crc = zlib.crc32(f"{secret}|{body}".encode())
    return b64(f"WESS1|{body}|{crc:08x}")


def decode_sync_state(secret: str, scope: str, state: str) -> int:
    """Return the seq in ``state``; raise ErrorInvalidSyncStateData when garbled or foreign."""
    bad = EwsError(
        "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid."
    )
    text = unb64(state.strip())
    if not text:
        raise bad
    head, _, rest = text.partition("|")
    body, _, crc = rest.rpartition("|")
    got_scope, _, seq = body.rpartition("|")  # the scope itself may hold "|"
    if head != "WESS1" or got_scope != scope or not seq.isdigit():
        raise bad
    if f"{zlib.crc32(f'{secret}|{body}'.encode()):08x}" != crc:
        raise bad
    return int(seq)
