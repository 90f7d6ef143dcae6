"""Rows of the core's tables built from the entries their writers hand over."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """An ISO time as an aware datetime (UTC when it has no offset); None if unreadable."""
    try:
        stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, TypeError):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def ledger_row(login: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A ledger entry as a row: its time in epoch seconds (0 when unreadable: the
    oldest of all, pruned first), its ids as text for lookups."""
    stamp = parse_time(entry.get("time"))
    crm_id, item_id = entry.get("crm_id"), entry.get("item_id")
    return {
        "login": login,
        "at": stamp.timestamp() if stamp else 0.0,
        "crm_id": str(crm_id) if crm_id else None,
        "item_id": str(item_id) if item_id else None,
        "entry": entry,
    }
