"""Writing meetings over Graph: masters and single events in ``$batch`` requests, then a
series' exceptions and cancelled occurrences.

An occurrence is found by its original start among the master's ``/instances``; making
it an exception is a PATCH of the occurrence, cancelling it a DELETE, and an exception
the record no longer has is PATCHed back to its slot. Exchange's rules hold as over EWS:
a new pattern or series time drops the exceptions and brings cancelled occurrences back,
and a cancelled occurrence cannot be restored. So an update sends the series' pattern
and times only when they changed (sending them again would drop the exceptions), and
when the series ends up other than the record asked (a restore, an original start that
is no slot), the answer's version is ``""``: the engine cannot take it for its own
write, and the next sync reads the series and brings the record in line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wess_core.strategies import (
    ItemChanged,
    ItemNotFound,
    ItemRef,
    ItemUpdate,
    MailboxError,
    MailboxItem,
    NewItem,
)
from wess_core.sync.occurrence_slots import slots
from wess_plugins.transport_graph.calendar_fields import (
    OCCURRENCE_FIELDS,
    as_instant,
    event_from_fields,
    occurrence_entry,
    occurrence_patch,
    slot_end,
    zone_of,
)
from wess_plugins.transport_graph.calendar_series import (
    instance_range,
    master_changekey,
    read_instances,
    segment,
)
from wess_plugins.transport_graph.calendar_window import Window
from wess_plugins.transport_graph.fields import CRM_ID_PROPERTY
from wess_plugins.transport_graph.transport import if_match as etag_of

if TYPE_CHECKING:
    from wess_plugins.transport_graph.calendar import GraphCalendar

#: What defines a series' slots; changing any of these drops its exceptions.
SERIES_FIELDS = ("recurrence", "start", "end", "timezone", "is_all_day")
_SERIES_JSON = ("recurrence", "start", "end", "isAllDay")
_JSON = {"Content-Type": "application/json"}


def refused(exc: Exception) -> MailboxError:
    """An input the field maps refused (or an answer they cannot read): that item's error."""
    if isinstance(exc, MailboxError):
        return exc
    return MailboxError(f"{type(exc).__name__}: {str(exc)[:200]}", code="InvalidValue")


def if_match(changekey: str) -> str:
    """``If-Match`` for a series version: its master's change key."""
    return etag_of(master_changekey(changekey))


# -- comparing a series' occurrences -------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def canonical(fields: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """An exception as compared: instants, only what differs from its slot and series;
    ``None`` when it equals its slot."""
    zone = fields.get("timezone")
    original = entry.get("original_start")
    if not original or not fields.get("start") or not fields.get("end"):
        return None
    start = entry.get("start") or original
    end = entry.get("end") or slot_end(fields, start)
    out: dict[str, Any] = {"original_start": as_instant(original, zone)}
    slot = (as_instant(original, zone), as_instant(slot_end(fields, original), zone))
    if (as_instant(start, zone), as_instant(end, zone)) != slot:
        out.update(start=as_instant(start, zone), end=as_instant(end, zone))
    for name in OCCURRENCE_FIELDS:
        if name in entry and _text(entry[name]) != _text(fields.get(name)):
            out[name] = _text(entry[name])
    return out if len(out) > 1 else None


def exceptions_of(fields: Mapping[str, Any]) -> dict[dt.datetime, dict[str, Any]]:
    out = {}
    for entry in fields.get("modified_occurrences") or ():
        if isinstance(entry, Mapping):
            canon = canonical(fields, entry)
            if canon is not None:
                out[canon["original_start"]] = canon
    return out


def deleted_of(fields: Mapping[str, Any]) -> set[dt.datetime]:
    zone = fields.get("timezone")
    return {as_instant(d, zone) for d in fields.get("deleted_occurrences") or () if d}


def series_key(fields: Mapping[str, Any]) -> tuple:
    """What Exchange drops a series' exceptions for when it changes."""
    zone = fields.get("timezone")
    times = tuple(as_instant(fields[n], zone) if fields.get(n) else None for n in ("start", "end"))
    return (fields.get("recurrence"), *times, zone or None, bool(fields.get("is_all_day")))


# -- a series' occurrence writes -----------------------------------------------------


@dataclass
class Plan:
    """The PATCHes and DELETEs that make a series' occurrences those of ``fields``."""

    master_id: str
    fields: dict[str, Any]
    requests: list[dict[str, Any]] = field(default_factory=list)
    diverges: bool = False


def _until(fields: Mapping[str, Any]) -> dt.datetime:
    zone = fields.get("timezone")
    named = [
        as_instant(e["original_start"], zone)
        for e in fields.get("modified_occurrences") or ()
        if isinstance(e, Mapping) and e.get("original_start")
    ]
    named += list(deleted_of(fields))
    return max([Window.around().end, *(n + dt.timedelta(days=2) for n in named)])


def plan(cal: GraphCalendar, master_id: str, fields: dict[str, Any]) -> Plan:
    """Read the series' instances and plan what makes its occurrences those asked."""
    out = Plan(master_id, fields)
    if not fields.get("recurrence"):
        return out
    span = instance_range(fields, _until(fields))
    instances = read_instances(cal.client, cal.user, master_id, span)
    zone = fields.get("timezone")
    by_original = {
        as_instant(str(i["originalStart"]).replace("Z", "+00:00")): i
        for i in instances
        if i.get("originalStart")
    }
    tz = zone_of(zone)
    lo, hi = (as_instant(s.replace("Z", "+00:00")) for s in span)
    slot_times = set()
    for _, local in slots(fields):
        instant = local.replace(tzinfo=tz)
        if instant >= hi:
            break
        slot_times.add(instant)
    want_exc, want_del = exceptions_of(fields), deleted_of(fields)
    texts = {
        as_instant(e["original_start"], zone): e
        for e in fields.get("modified_occurrences") or ()
        if isinstance(e, Mapping) and e.get("original_start")
    }
    for original in sorted(want_del):
        instance = by_original.get(original)
        if instance is not None:
            out.requests.append({"method": "DELETE", "url": _event(cal, instance["id"])})
        elif original not in slot_times:
            out.diverges = True  # no such occurrence in the pattern
    for original, canon in sorted(want_exc.items()):
        if original in want_del:
            continue
        instance = by_original.get(original)
        if instance is None:
            out.diverges = True  # cancelled (cannot come back) or no such slot
            continue
        have = occurrence_entry(fields, instance)
        if have is None or canonical(fields, have) != canon:
            out.requests.append(_patch(cal, instance, occurrence_patch(fields, texts[original])))
    for original, instance in by_original.items():
        if instance.get("type") != "exception" or original in want_exc or original in want_del:
            continue
        have = occurrence_entry(fields, instance)
        if have is not None:  # the record no longer has this exception: back to its slot
            back = occurrence_patch(fields, {"original_start": have["original_start"]})
            out.requests.append(_patch(cal, instance, back))
    gone = {t for t in slot_times if lo <= t and t not in by_original}
    out.diverges |= bool(gone - want_del)  # a cancelled occurrence cannot come back
    return out


def _event(cal: GraphCalendar, event_id: str) -> str:
    return f"{cal.user}/events/{segment(str(event_id))}"


def _patch(cal: GraphCalendar, instance: Mapping[str, Any], body: dict[str, Any]) -> dict:
    return {"method": "PATCH", "url": _event(cal, instance["id"]), "headers": _JSON, "body": body}


def _finish(cal: GraphCalendar, plans: Sequence[tuple[int, Plan]], out: list[Any]) -> None:
    """Send the plans' occurrence writes, then give each written series its final ref."""
    requests, owners = [], []
    for n, p in plans:
        for request in p.requests:
            requests.append({"id": str(len(requests)), **request})
            owners.append(n)
    failures: dict[int, list[str]] = {}
    if requests:
        answers = cal.client.batch(requests)
        for request, n in zip(requests, owners, strict=True):
            answer = answers[request["id"]]
            status = answer["status"]
            if not 200 <= status < 300 and not (status == 404 and request["method"] == "DELETE"):
                error = cal.client.error_for(status, answer.get("body"), answer.get("headers"))
                failures.setdefault(n, []).append(f"{request['method']} occurrence: {error}")
    done = [(n, p) for n, p in plans if not failures.get(n)]
    final = dict(zip((n for n, _ in done), cal.get([p.master_id for _, p in done]), strict=True))
    for n, p in plans:
        if failures.get(n):
            out[n] = MailboxError("; ".join(failures[n]), code="OccurrenceWrite")
            continue
        now = final[n]
        if not isinstance(now, MailboxItem):
            out[n] = now if isinstance(now, Exception) else MailboxError("series unreadable")
            continue
        agrees = exceptions_of(now.fields) == exceptions_of(p.fields) and deleted_of(
            now.fields
        ) == deleted_of(p.fields)
        out[n] = ItemRef(p.master_id, now.changekey if agrees and not p.diverges else "")


def _series_plans(cal: GraphCalendar, jobs: Sequence[tuple[int, str, dict]], out: list) -> None:
    plans = []
    for n, master_id, fields in jobs:
        try:
            plans.append((n, plan(cal, master_id, fields)))
        except ItemNotFound as exc:  # the series went meanwhile: that item's answer
            out[n] = exc
    _finish(cal, plans, out)


# -- the three writes ----------------------------------------------------------------


def _answers(cal: GraphCalendar, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return cal.client.batch(requests) if requests else {}


def _body_or_error(cal: GraphCalendar, answer: dict[str, Any]) -> Any:
    body = answer.get("body") if isinstance(answer.get("body"), dict) else {}
    if 200 <= answer["status"] < 300:
        return body
    return cal.client.error_for(answer["status"], body, answer.get("headers"))


def _single_ref(event: Mapping[str, Any]) -> ItemRef:
    return ItemRef(str(event["id"]), str(event.get("changeKey") or event.get("@odata.etag") or ""))


def create(cal: GraphCalendar, items: Sequence[NewItem]) -> list[Any]:
    out: list[Any] = [None] * len(items)
    requests = []
    for n, new in enumerate(items):
        try:
            body = event_from_fields(new.fields)
        except Exception as exc:
            out[n] = refused(exc)
            continue
        body["singleValueExtendedProperties"] = [{"id": CRM_ID_PROPERTY, "value": new.crm_id}]
        requests.append(
            {
                "id": str(n),
                "method": "POST",
                "url": f"{cal.user}/events",
                "headers": _JSON,
                "body": body,
            }
        )
    answers = _answers(cal, requests)
    series = []
    for request in requests:
        n = int(request["id"])
        got = _body_or_error(cal, answers[request["id"]])
        if isinstance(got, Exception):
            out[n] = got
        elif items[n].fields.get("recurrence"):
            series.append((n, str(got["id"]), items[n].fields))
        else:
            out[n] = _single_ref(got)
    _series_plans(cal, series, out)
    return out


def update(cal: GraphCalendar, updates: Sequence[ItemUpdate]) -> list[Any]:
    out: list[Any] = [None] * len(updates)
    current = cal.get([u.item_id for u in updates]) if updates else []
    requests = []
    for n, (upd, now) in enumerate(zip(updates, current, strict=True)):
        if isinstance(now, Exception):
            out[n] = now
            continue
        if upd.changekey and now.changekey != upd.changekey:  # an exception changed, too
            out[n] = ItemChanged(f"meeting {upd.item_id} changed since", code="ChangeKey")
            continue
        try:
            body = event_from_fields(upd.fields)
        except Exception as exc:
            out[n] = refused(exc)
            continue
        wanted = {**now.fields, **upd.fields}
        if now.fields.get("recurrence") and series_key(now.fields) == series_key(wanted):
            for name in _SERIES_JSON:  # sent again, they would drop the exceptions
                body.pop(name, None)
        headers = dict(_JSON)
        if upd.changekey:
            headers["If-Match"] = if_match(upd.changekey)
        url = f"{cal.user}/events/{segment(upd.item_id)}"
        requests.append(
            {"id": str(n), "method": "PATCH", "url": url, "headers": headers, "body": body}
        )
    answers = _answers(cal, requests)
    series = []
    for request in requests:
        n = int(request["id"])
        got = _body_or_error(cal, answers[request["id"]])
        wanted = {**current[n].fields, **updates[n].fields}
        if isinstance(got, Exception):
            out[n] = got
        elif wanted.get("recurrence"):
            series.append((n, updates[n].item_id, wanted))
        else:
            out[n] = _single_ref(got) if got.get("id") else ItemRef(updates[n].item_id, "")
    _series_plans(cal, series, out)
    return out


def delete(cal: GraphCalendar, refs: Sequence[ItemRef]) -> list[Any]:
    requests = [
        {"id": str(n), "method": "DELETE", "url": f"{cal.user}/events/{segment(r.item_id)}"}
        for n, r in enumerate(refs)
    ]
    answers = _answers(cal, requests)
    out: list[Any] = []
    for request in requests:
        got = _body_or_error(cal, answers[request["id"]])
        out.append(None if not isinstance(got, Exception) or isinstance(got, ItemNotFound) else got)
    return out
