"""An entry held for review: what the engine would not do without a person's say.

Two kinds (see ``wess_core.sync.review``): ``delete``, a pair whose delete the deletion
guard held (``side`` is where the delete would happen, ``pair_id`` the pair), and
``ambiguous``, items and records that share a match ``key`` with no clear partner. A
reviewer sets ``decision`` (``wess review``); the next sync carries it out.

Entries live in ``FolderState.held`` by review id and are stored as plain JSON objects
with the field names below, as WESS always stored them: an entry written by an older
WESS loads unchanged (``from_dict``), and ``to_dict`` writes the same shape back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

DELETE = "delete"
AMBIGUOUS = "ambiguous"


@dataclass
class HeldEntry:
    """One held delete or ambiguous match."""

    #: The review id (``review.review_id``): stable for the same held thing across runs.
    id: str = ""
    #: ``DELETE`` or ``AMBIGUOUS``.
    kind: str = DELETE
    #: The item type's name ("contacts").
    item_type: str = ""
    #: Mailbox item ids and CRM record ids it holds (frozen until decided).
    items: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    #: Why it is held, one line.
    reason: str | None = None
    #: A one-line summary per id, so a reviewer sees what is at stake.
    summaries: dict[str, str] = field(default_factory=dict)
    #: The reviewer's decision: ``{"action": "approve" | "reject" | "link", ...}`` with
    #: ``crm_id`` / ``item_id`` for a link, and ``by``, ``admin``, ``time``.
    decision: dict[str, Any] | None = None
    #: DELETE: "exchange" or "crm", where the delete would happen; and the pair's id.
    side: str | None = None
    pair_id: str | None = None
    #: AMBIGUOUS: the match key the candidates share.
    key: str | None = None
    #: When it was first held (ISO 8601).
    since: str | None = None

    @property
    def action(self) -> str | None:
        """The decided action, or ``None`` while undecided."""
        return (self.decision or {}).get("action")

    @property
    def item_id(self) -> str:
        """DELETE: the one item of the pair."""
        (item_id,) = self.items
        return item_id

    @property
    def crm_id(self) -> str:
        """DELETE: the one record of the pair."""
        (crm_id,) = self.records
        return crm_id

    def to_dict(self) -> dict[str, Any]:
        """The stored shape: a delete has ``side`` and ``pair_id``, a match ``key``."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "item_type": self.item_type,
            "items": list(self.items),
            "records": list(self.records),
            "summaries": dict(self.summaries),
            "reason": self.reason,
            "decision": dict(self.decision) if self.decision is not None else None,
        }
        if self.kind == DELETE:
            data["side"] = self.side
            data["pair_id"] = self.pair_id
        else:
            data["key"] = self.key
        if self.since is not None:
            data["since"] = self.since
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HeldEntry:
        """An entry as stored (unknown keys from a newer WESS are left out)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        entry = cls(**values)
        entry.items = list(entry.items)
        entry.records = list(entry.records)
        entry.summaries = dict(entry.summaries)
        if entry.decision is not None:
            entry.decision = dict(entry.decision)
        return entry

    # The stored spelling, ``entry["decision"]``, for code and tests written when
    # entries were plain dicts: reads and writes the field of that name.

    def __getitem__(self, name: str) -> Any:
        if name not in _FIELDS:
            raise KeyError(name)
        return getattr(self, name)

    def __setitem__(self, name: str, value: Any) -> None:
        if name not in _FIELDS:
            raise KeyError(name)
        setattr(self, name, value)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name) if name in _FIELDS else default


_FIELDS = frozenset(f.name for f in fields(HeldEntry))


def held_entries(data: Mapping[str, Any] | None) -> dict[str, HeldEntry]:
    """``FolderState.held`` from its stored form (entries as dicts or already typed)."""
    return {
        rid: entry if isinstance(entry, HeldEntry) else HeldEntry.from_dict(entry)
        for rid, entry in (data or {}).items()
    }
