"""``calendarView/delta``: the instances of a mailbox's calendar inside a window, and
what changed about them since a token.

As in Graph, the window (``startDateTime``/``endDateTime`` of the first request) is frozen
into the round's tokens; the view holds single events, occurrences and exceptions that
overlap it, never series masters. A round compares the view now with the view the token
saw: new or changed instances come with their content, instances gone come as
``@removed`` — reason ``deleted`` when the event or occurrence was really deleted,
``changed`` when it only left the window (moved, or its series changed). Every event
deleted from the calendar since the token comes as ``deleted`` too, a series by its
master's id and an event the token never saw included, so a client that links items
by id learns of each delete (the EWS endpoint's SyncFolderItems does the same).

The state of each token lives on the server (as Graph's does): tokens name a snapshot;
a token of another mailbox, an unknown or expired one (``server.graph.
expire_delta_tokens``) answers 410 ``syncStateNotFound``. When the calendar folder has
not changed since the snapshot, the round costs nothing but a comparison of sequence
numbers.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..model import Item
from ..recurrence import parse_dt
from ..store import Mailbox
from .events import render_event

if TYPE_CHECKING:
    from .router import GraphRequest

#: Snapshots kept per mailbox (older tokens answer 410, as expired ones do).
KEEP = 64
_ids = itertools.count(1)
_lock = threading.Lock()
_states: weakref.WeakKeyDictionary[Mailbox, OrderedDict[str, Any]] = weakref.WeakKeyDictionary()


class SyncStateLost(Exception):
    """The token names no snapshot of this mailbox (410 syncStateNotFound)."""


@dataclass(frozen=True)
class Snapshot:
    """What a deltaLink's holder has seen: instance store id -> version signature."""

    generation: int
    start: dt.datetime
    end: dt.datetime
    folder_seq: int
    seen: dict[str, tuple]


@dataclass
class Round:
    """A round being paged: the changes to send and the snapshot its deltaLink names."""

    generation: int
    changes: list[dict]
    snapshot: Snapshot


def parse_window(start: str | None, end: str | None) -> tuple[dt.datetime, dt.datetime]:
    if not start or not end:
        raise ValueError("calendarView needs startDateTime and endDateTime")
    lo, hi = parse_dt(start), parse_dt(end)
    if hi <= lo:
        raise ValueError("endDateTime must be after startDateTime")
    return lo, hi


def _folder_seq(mailbox: Mailbox) -> int:
    folder = mailbox.distinguished["calendar"]
    return folder.log_seqs[-1] if folder.log_seqs else 0


def _overlaps(start: dt.datetime, end: dt.datetime, lo: dt.datetime, hi: dt.datetime) -> bool:
    return start < hi and (end > lo or (end == start and start >= lo))


def _times(item: Item) -> tuple[dt.datetime, dt.datetime] | None:
    start, end = item.field_text("Start"), item.field_text("End")
    if not start:
        return None
    return parse_dt(start), parse_dt(end) if end else parse_dt(start)


def instances(
    mailbox: Mailbox, master: Item, lo: dt.datetime, hi: dt.datetime
) -> list[tuple[Item, tuple]]:
    """A series' occurrences and exceptions overlapping ``[lo, hi)`` with their version
    signatures, in slot order (cancelled occurrences left out)."""
    out = []
    last_exception = max(master.exceptions, default=0)
    for index, start, end in mailbox.occurrences(master):
        if start >= hi and index > last_exception:
            break
        if index in master.deleted_indexes:
            continue
        exc = master.exceptions.get(index)
        if exc is not None:
            times = _times(exc)
            if times and _overlaps(*times, lo, hi):
                out.append((exc, ("x", exc.version, *times)))
        elif _overlaps(start, end, lo, hi):
            occ = mailbox.synthesize_occurrence(master, index, start, end)
            out.append((occ, ("o", master.version, start, end)))
    return out


def view(mailbox: Mailbox, lo: dt.datetime, hi: dt.datetime) -> dict[str, tuple[Item, tuple]]:
    """Every instance in the window: store id -> (item, signature)."""
    out: dict[str, tuple[Item, tuple]] = {}
    folder = mailbox.distinguished["calendar"]
    for item in list(folder.items.values()):
        if item.kind != "CalendarItem":
            continue
        if item.is_recurring_master:
            for inst, sig in instances(mailbox, item, lo, hi):
                out[inst.id] = (inst, sig)
            continue
        times = _times(item)
        if times and _overlaps(*times, lo, hi):
            out[item.id] = (item, ("s", item.version, *times))
    return out


def _really_deleted(mailbox: Mailbox, store_id: str) -> bool:
    if store_id in mailbox.items:
        return False
    parsed = mailbox.parse_occurrence_id(store_id)
    if parsed is None:
        return True  # a single event (or the whole series) is gone
    master, index = parsed
    return index in master.deleted_indexes


def _remember(mailbox: Mailbox, key: str, value: Any) -> None:
    with _lock:
        states = _states.setdefault(mailbox, OrderedDict())
        states[key] = value
        while len(states) > KEEP:
            states.popitem(last=False)


def _recall(mailbox: Mailbox, key: str, generation: int) -> Any:
    with _lock:
        value = (_states.get(mailbox) or {}).get(key)
    if value is None or value.generation != generation:
        raise SyncStateLost(key)
    return value


def start_round(
    mailbox: Mailbox,
    ctx: GraphRequest,
    generation: int,
    window: tuple[dt.datetime, dt.datetime] | None = None,
    token: str | None = None,
) -> Round:
    """A new round from a deltaLink's ``token`` (or the first, over ``window``); ``ctx``
    (the request) names items by their Graph ids."""
    with mailbox.lock:
        before: Snapshot | None = None
        if token is not None:
            before = _recall(mailbox, "d" + token, generation)
            lo, hi = before.start, before.end
        else:
            assert window is not None
            lo, hi = window
        seq = _folder_seq(mailbox)
        if before is not None and before.folder_seq == seq:
            return Round(generation, [], before)
        now = view(mailbox, lo, hi)
        old = before.seen if before is not None else {}
        changes = []
        for store_id, (item, sig) in now.items():
            if old.get(store_id) != sig:
                changes.append(render_event(item, ctx.item_id_out))
        gone = old.keys() - now.keys()
        for store_id in gone:
            reason = "deleted" if _really_deleted(mailbox, store_id) else "changed"
            changes.append({"id": ctx.removed_id_out(store_id), "@removed": {"reason": reason}})
        if before is not None:  # events deleted since, seen or not (a series: its master)
            folder = mailbox.distinguished["calendar"]
            for store_id, when in folder.tombstones.items():
                if when > before.folder_seq and store_id not in gone:
                    deleted = {
                        "id": ctx.removed_id_out(store_id),
                        "@removed": {"reason": "deleted"},
                    }
                    changes.append(deleted)
        seen = {store_id: sig for store_id, (_, sig) in now.items()}
        return Round(generation, changes, Snapshot(generation, lo, hi, seq, seen))


def save_round(mailbox: Mailbox, rnd: Round) -> str:
    key = str(next(_ids))
    _remember(mailbox, "r" + key, rnd)
    return key


def load_round(mailbox: Mailbox, key: str, generation: int) -> Round:
    return _recall(mailbox, "r" + key, generation)


def save_snapshot(mailbox: Mailbox, snapshot: Snapshot) -> str:
    key = str(next(_ids))
    _remember(mailbox, "d" + key, snapshot)
    return key
