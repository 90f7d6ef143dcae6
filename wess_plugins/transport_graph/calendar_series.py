"""A series as the engine sees it: one item, the master, whose ``modified_occurrences``
and ``deleted_occurrences`` come from the master's instances.

Graph has no list of a series' exceptions or cancelled occurrences: ``/instances`` over
a range gives the occurrences and exceptions still there (each with ``originalStart``).
Exceptions become ``modified_occurrences`` entries; slots of the pattern that no
instance starts at are ``deleted_occurrences``. The range runs from the series' first
day to the end of the calendar window (or further, to cover what a write names).

A series' version is its master's ``changeKey`` and a digest of its exceptions and
cancelled occurrences (``<changeKey>|<digest>``): Exchange need not give the master a
new change key when one exception changes, and the engine must still see the change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from wess_core.strategies import MailboxItem
from wess_core.sync.occurrence_slots import slots
from wess_plugins.transport_graph.calendar_fields import (
    as_instant,
    fields_from_event,
    occurrence_entry,
    zone_of,
)
from wess_plugins.transport_graph.client import GraphClient
from wess_plugins.transport_graph.fields import CRM_ID_PROPERTY, crm_id_of, modified_of

#: How a read of an event asks for its CRM id (not allowed inside calendarView delta).
EXPAND = f"singleValueExtendedProperties($filter=id eq '{CRM_ID_PROPERTY}')"
#: Instances per page asked for.
PAGE_SIZE = 200


def segment(value: str) -> str:
    """An id as one path segment (base64's ``/`` encoded; ``=`` and ``+`` kept)."""
    return quote(value, safe="=+")


def master_changekey(changekey: str | None) -> str:
    """The master's own change key in a series version (for ``If-Match``)."""
    return (changekey or "").split("|", 1)[0]


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instance_range(fields: Mapping[str, Any], until: dt.datetime) -> tuple[str, str]:
    """From the day before the series' first day to ``until`` (UTC)."""
    boundary = (fields.get("recurrence") or {}).get("boundary") or {}
    first = str(boundary.get("start") or fields.get("start") or "")[:10]
    day = dt.date.fromisoformat(first) - dt.timedelta(days=1)
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return _utc(start), _utc(max(until, start + dt.timedelta(days=1)))


def read_instances(
    client: GraphClient, user: str, master_id: str, span: tuple[str, str]
) -> list[dict[str, Any]]:
    """Every occurrence and exception of a series within ``span`` (all pages)."""
    link = f"{user}/events/{segment(master_id)}/instances"
    params: dict[str, Any] | None = {"startDateTime": span[0], "endDateTime": span[1]}
    out: list[dict[str, Any]] = []
    while link:
        answer = client.get(link, params, prefer=f"odata.maxpagesize={PAGE_SIZE}")
        out += [v for v in answer.get("value") or () if isinstance(v, dict)]
        link, params = answer.get("@odata.nextLink"), None
    return out


def _slot_text(local: dt.datetime, fields: Mapping[str, Any]) -> str:
    if fields.get("is_all_day"):
        return local.date().isoformat()
    return local.replace(tzinfo=zone_of(fields.get("timezone"))).isoformat()


def _original(instance: Mapping[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(instance["originalStart"]).replace("Z", "+00:00"))


def occurrences_of(
    fields: dict[str, Any], instances: list[dict[str, Any]], span: tuple[str, str]
) -> dict[str, Any]:
    """``fields`` with the series' ``modified_occurrences`` and ``deleted_occurrences``."""
    entries = [
        e
        for e in (occurrence_entry(fields, i) for i in instances if i.get("type") == "exception")
        if e is not None
    ]
    zone = zone_of(fields.get("timezone"))
    all_day = bool(fields.get("is_all_day"))
    there = {_original(i) for i in instances if i.get("originalStart")}
    if all_day:
        there_days = {t.astimezone(zone).date() for t in there}
    lo, hi = (as_instant(s.replace("Z", "+00:00")) for s in span)
    deleted = []
    for _, local in slots(fields):
        instant = local.replace(tzinfo=zone)
        if instant >= hi:
            break
        if instant < lo:
            continue
        missing = local.date() not in there_days if all_day else instant not in there
        if missing:
            deleted.append(_slot_text(local, fields))
    fields["modified_occurrences"] = (
        sorted(entries, key=lambda e: as_instant(e["original_start"], fields.get("timezone")))
        or None
    )
    fields["deleted_occurrences"] = deleted or None
    return fields


def series_changekey(master: Mapping[str, Any], fields: Mapping[str, Any]) -> str:
    """``<changeKey>|<digest of the exceptions and cancelled occurrences>``."""
    own = str(master.get("changeKey") or master.get("@odata.etag") or "")
    shape = [fields.get("modified_occurrences"), fields.get("deleted_occurrences")]
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]
    return f"{own}|{digest}"


def to_item(
    client: GraphClient, user: str, event: dict[str, Any], until: dt.datetime
) -> MailboxItem:
    """A single event or a series master (with its instances read) as the engine's item."""
    fields = fields_from_event(event)
    changekey = str(event.get("changeKey") or event.get("@odata.etag") or "")
    if event.get("type") == "seriesMaster" and fields.get("recurrence"):
        span = instance_range(fields, until)
        occurrences_of(fields, read_instances(client, user, str(event["id"]), span), span)
        changekey = series_changekey(event, fields)
    else:
        fields["modified_occurrences"] = fields["deleted_occurrences"] = None
    return MailboxItem(
        item_id=str(event["id"]),
        changekey=changekey,
        fields=fields,
        crm_id=crm_id_of(event),
        modified=modified_of(event),
    )
