"""Trust: matching on first sync, the deletion guard, and the entries held for review.

Pure helpers the planner and the engine share (no I/O):

* **Matching.** Items and records that no status row and no stored id link are matched
  by the item type's optional ``match_keys`` (see ``wess_core.strategies.ItemType``):
  keys in priority order, compared level by level. One item and one record sharing a
  key are the same thing (linked, not duplicated). Two or more on either side sharing a
  key are *ambiguous*: held for review, never guessed. A higher-priority key both sides
  hold and that differs vetoes a lower-priority match (two meetings with the same
  subject and time but different UIDs are different meetings).
* **Deletion guard** (``DeletionGuard``): a run that would delete more than a share of
  a folder's linked pairs, or more than a count, on one side holds those deletes for
  review and syncs everything else. A full listing that comes back empty while pairs
  are linked holds every delete it implies (vdirsyncer's ``StorageEmpty``, the extreme
  case). Exchange reports an item moved out of the folder as a deletion, exactly like a
  real one; WESS treats it as a deletion, so a mass move counts towards the guard.
* **Held entries** (``wess_core.sync.held.HeldEntry``, kept in ``FolderState.held``,
  keyed by a short stable review id): ``kind`` "delete" (a pair whose delete was held;
  ``side`` is where the delete would happen) or "ambiguous" (items and records sharing a
  key). A reviewer sets ``decision``; the next sync carries it out
  (``wess_core.sync.engine.trust.release``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Fields tried, in order, for a one-line summary of a record (CRM field names).
_SUMMARY_FIELDS = ("first_name", "last_name", "email", "company", "subject", "start",
                   "due_date", "from", "date")  # fmt: skip


@dataclass(frozen=True)
class DeletionGuard:
    """When a run's deletes on one side are held for review instead of carried out.

    Held when the count is above ``maximum``, or above ``percent`` % of the folder's
    linked pairs *and* above ``minimum`` (deleting 2 of your 5 contacts is normal use,
    not a wipe). ``hold_empty``: a full listing of one side that comes back empty while
    pairs are linked holds all its deletes, whatever the numbers.
    """

    percent: int = 20
    maximum: int = 50
    minimum: int = 5
    hold_empty: bool = True

    def reason(self, deletes: int, linked: int, emptied: bool, side: str) -> str | None:
        """Why ``deletes`` deletions on ``side`` are held, or ``None`` to go ahead."""
        if not deletes:
            return None
        if emptied and self.hold_empty:
            return f"the {side} side came back empty while {linked} pair(s) were linked"
        if deletes > self.maximum:
            return f"{deletes} deletions on the {side} side, more than {self.maximum}"
        if deletes > self.minimum and deletes * 100 > self.percent * linked:
            return (
                f"{deletes} deletions on the {side} side, more than {self.percent}% "
                f"of {linked} linked"
            )
        return None


#: No guard at all (tests that want every delete carried out at once).
NO_GUARD = DeletionGuard(percent=100, maximum=10**12, minimum=10**12, hold_empty=False)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def review_id(kind: str, item_type: str, ids: Iterable[str]) -> str:
    """A short id that stays the same for the same held thing across runs."""
    raw = f"{kind}:{item_type}:" + ",".join(sorted(ids))
    prefix = "d" if kind == "delete" else "m"
    return prefix + hashlib.sha256(raw.encode()).hexdigest()[:7]


def summary(fields: Mapping[str, Any] | None) -> str:
    """A short human line for a record (CRM field names): names, e-mail, subject, time."""
    if not fields:
        return "-"
    parts = [str(fields[k]) for k in _SUMMARY_FIELDS if fields.get(k) not in (None, "", [])]
    if not parts:
        parts = [str(v) for v in fields.values() if isinstance(v, str | int | float) and v][:3]
    text = " ".join(parts[:4]) or "-"
    return text if len(text) <= 80 else text[:77] + "..."


# -- match keys --------------------------------------------------------------------


def norm_text(value: Any) -> str:
    """Case- and whitespace-insensitive text ("" for empty)."""
    if value in (None, ""):
        return ""
    return " ".join(str(value).split()).casefold()


def norm_time(value: Any) -> str:
    """An ISO 8601 time as a UTC instant (so +02:00 and Z spellings match); a date stays."""
    if value in (None, ""):
        return ""
    text = str(value)
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text.strip()
    if len(text) <= 10 or stamp.tzinfo is None:
        return stamp.isoformat()
    return stamp.astimezone(UTC).isoformat()


def match_keys_of(item_type: Any) -> Callable[[Mapping[str, Any]], list[str | None]] | None:
    """The item type's ``match_keys`` if it has one (it is optional)."""
    keys = getattr(item_type, "match_keys", None)
    return keys if callable(keys) else None


@dataclass
class Ambiguous:
    """Items and records that share a key, none clearly the other's."""

    key: str
    items: list[str]
    records: list[str]


def match(
    items: Mapping[str, list[str | None]], records: Mapping[str, list[str | None]]
) -> tuple[list[tuple[str, str]], list[Ambiguous]]:
    """Pairs (item id, record id) and ambiguous groups, from each side's keys.

    Keys are compared level by level (priority order); whatever matched or turned out
    ambiguous at one level is out of the next. Ids that match nothing are left alone.
    """
    items_left = dict(items)
    records_left = dict(records)
    pairs: list[tuple[str, str]] = []
    groups: list[Ambiguous] = []
    levels = max((len(k) for k in [*items.values(), *records.values()]), default=0)

    def vetoed(item_keys: list[str | None], record_keys: list[str | None], level: int) -> bool:
        for j in range(level):
            a = item_keys[j] if j < len(item_keys) else None
            b = record_keys[j] if j < len(record_keys) else None
            if a and b and a != b:
                return True
        return False

    for level in range(levels):
        items_by_key: dict[str, list[str]] = {}
        records_by_key: dict[str, list[str]] = {}
        for item_id, keys in items_left.items():
            if level < len(keys) and keys[level]:
                items_by_key.setdefault(keys[level], []).append(item_id)  # type: ignore[arg-type]
        for crm_id, keys in records_left.items():
            if level < len(keys) and keys[level]:
                records_by_key.setdefault(keys[level], []).append(crm_id)  # type: ignore[arg-type]
        for key in sorted(items_by_key.keys() & records_by_key.keys()):
            item_ids = sorted(i for i in items_by_key[key])
            record_ids = sorted(records_by_key[key])
            edges = {
                (i, r)
                for i in item_ids
                for r in record_ids
                if not vetoed(items_left[i], records_left[r], level)
            }
            for component_items, component_records in _components(edges):
                if len(component_items) == 1 and len(component_records) == 1:
                    pairs.append((component_items[0], component_records[0]))
                else:
                    groups.append(Ambiguous(key, component_items, component_records))
                for i in component_items:
                    items_left.pop(i, None)
                for r in component_records:
                    records_left.pop(r, None)
    return pairs, groups


def _components(edges: set[tuple[str, str]]) -> list[tuple[list[str], list[str]]]:
    """Connected components of a bipartite graph given as (item, record) edges."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(node: tuple[str, str]) -> tuple[str, str]:
        while parent.setdefault(node, node) != node:
            node = parent[node]
        return node

    for i, r in edges:
        a, b = find(("i", i)), find(("r", r))
        if a != b:
            parent[a] = b
    comps: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for node in list(parent):
        items, records = comps.setdefault(find(node), ([], []))
        (items if node[0] == "i" else records).append(node[1])
    return sorted((sorted(i), sorted(r)) for i, r in comps.values())
