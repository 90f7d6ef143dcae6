"""Recurring series over EWS: exceptions read and written by series + original start.

A CRM meeting record holds a whole series: the master's fields, ``modified_occurrences``
(``{"original_start", "start", "end"}`` plus the fields that differ from the master:
``subject``, ``location``, ``body``) and ``deleted_occurrences`` (original starts). An
occurrence is always named by its *original* start (its slot in the pattern), never by
its current start, so moving it again or moving another one onto its old time never
confuses two occurrences.

Reading. The master's ``ModifiedOccurrences`` gives each exception's ItemId, Start, End
and OriginalStart, ``DeletedOccurrences`` the deleted slots' starts. The changed fields
of the exceptions are fetched with one batched GetItem per page. An exception equal to
its slot (same times, no field differing from the master) is not reported.

Writing (after CreateItem / UpdateItem of the master), per series:

* delete an occurrence: DeleteItem on the exception's ItemId, or on an OccurrenceItemId
  (master id + instance index, computed here from the original start and the pattern);
* move or change one: UpdateItem on the same ids (start, end, subject, location, body);
* an exception the CRM no longer has is put back to its slot (master's times and fields).

Exchange rules the CRM cannot override, documented here and applied:

* Changing the pattern or the series' time (recurrence, start, end, time zone) deletes
  every exception and brings deleted occurrences back. Exceptions the record still lists
  from before such a change are stale and are not written again to the new pattern.
* A deleted occurrence cannot be restored through EWS.

When the series in Exchange ends up different from what the record asked for (those two
rules, or an original start that is not a slot of the pattern), the answer's changekey
is ``""``: the engine cannot take it for its own write, so the next sync reads the
series and brings the CRM record in line with Exchange.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exchangelib import CalendarItem
from exchangelib.items import (
    AUTO_RESOLVE,
)
from exchangelib.properties import ItemId, OccurrenceItemId

from wess_core.strategies import ItemRef, MailboxError, MailboxItem
from wess_core.sync.occurrence_slots import instance_index, local_time, zone_of
from wess_plugins.transport_ews.calendar_fields import (
    as_instant,
    when_from_ews,
    when_to_ews,
    zone_to_ews,
)
from wess_plugins.transport_ews.patches import (
    END_TIMEZONE,
    START_TIMEZONE,
    WessGetItem,
    item_with_id,
)

if TYPE_CHECKING:
    from wess_plugins.transport_ews.transport import EwsTransport

#: Fields an exception may change besides its times, compared with the master's.
OCCURRENCE_FIELDS = ("subject", "location", "body")
#: What defines the series' slots; changing any of these drops the exceptions.
SERIES_FIELDS = ("recurrence", "start", "end", "timezone", "is_all_day")


# -- comparing exceptions --------------------------------------------------------


def _slot_end(fields: dict[str, Any], original_start: str) -> str:
    """Where an unmoved occurrence at ``original_start`` ends (the master's length)."""
    zone = zone_of(fields.get("timezone"))
    length = local_time(fields["end"], zone) - local_time(fields["start"], zone)
    if len(original_start) == 10:
        return (dt.date.fromisoformat(original_start) + length).isoformat()
    return (local_time(original_start, zone) + length).replace(tzinfo=zone).isoformat()


def _same_time(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return a == b
    if (len(a) == 10) != (len(b) == 10):
        return False
    return as_instant(a) == as_instant(b)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def canonical(fields: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any] | None:
    """An exception as compared: times as instants, only fields that differ from the
    master; ``None`` when it equals its slot (nothing to keep)."""
    original = entry.get("original_start")
    if not original:
        return None
    start = entry.get("start") or original
    end = entry.get("end") or _slot_end(fields, start)
    out: dict[str, Any] = {"original_start": as_instant(original)}
    moved = not _same_time(start, original) or not _same_time(end, _slot_end(fields, original))
    if moved:
        out.update(start=as_instant(start), end=as_instant(end))
    for name in OCCURRENCE_FIELDS:
        if name in entry and _text(entry[name]) != _text(fields.get(name)):
            out[name] = _text(entry[name])
    return out if len(out) > 1 else None


def _exceptions(fields: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    out = {}
    for entry in fields.get("modified_occurrences") or ():
        if isinstance(entry, dict):
            canon = canonical(fields, entry)
            if canon is not None:
                out[canon["original_start"]] = canon
    return out


def _deleted(fields: dict[str, Any]) -> set[Any]:
    return {as_instant(d) for d in fields.get("deleted_occurrences") or () if d}


def _series(fields: dict[str, Any]) -> tuple:
    """What Exchange drops a series' exceptions for when it changes. An all-day flag
    Exchange reads back as ``False`` equals one a record leaves out (``None``); else a
    rewrite of the same series looked like a new one, its deleted occurrences were taken
    for dropped, and the write reported agreement while Exchange kept them (found by the
    state machine over EWS)."""
    return tuple(
        as_instant(fields[n])
        if n in ("start", "end") and fields.get(n)
        else bool(fields.get(n))
        if n == "is_all_day"
        else fields.get(n)
        for n in SERIES_FIELDS
    )


def wants_occurrences(fields: dict[str, Any]) -> bool:
    return bool(fields.get("recurrence")) or any(
        fields.get(n) for n in ("modified_occurrences", "deleted_occurrences")
    )


# -- reading -----------------------------------------------------------------------


def _exception_paths(transport: EwsTransport, folder: str) -> Any:
    return {
        f
        for f in transport._folder(folder).normalize_fields(fields=list(OCCURRENCE_FIELDS))
        if not f.field.is_attribute
    }


def fill(transport: EwsTransport, folder: str, pairs: Sequence[tuple[Any, MailboxItem]]) -> None:
    """Give the masters' ``modified_occurrences`` their changed fields (one GetItem for the
    exceptions of all ``pairs``) and drop exceptions equal to their slot."""
    series = [(raw, item) for raw, item in pairs if getattr(raw, "modified_occurrences", None)]
    ids = [o.id for raw, _ in series for o in raw.modified_occurrences]
    got: dict[str, Any] = {}
    if ids:
        answers = transport._call(
            WessGetItem,
            items=[(i, None) for i in ids],
            additional_fields=_exception_paths(transport, folder),
            shape="IdOnly",
        )
        got = {i: a for i, a in zip(ids, answers, strict=True) if not isinstance(a, Exception)}
    for raw, item in series:
        item.fields.pop("modified_occurrences", None)
        tz = getattr(raw, START_TIMEZONE, None)
        all_day = bool(getattr(raw, "is_all_day", False))
        entries = []
        for occ in raw.modified_occurrences:
            entry = {
                "original_start": when_from_ews(occ.original_start, tz, all_day),
                "start": when_from_ews(occ.start, tz, all_day),
                "end": when_from_ews(occ.end, tz, all_day, end=True),
            }
            exc = got.get(occ.id)
            for name in OCCURRENCE_FIELDS:
                value = getattr(exc, name, None) if exc is not None else None
                if exc is not None and _text(value) != _text(item.fields.get(name)):
                    entry[name] = None if value is None else str(value)
            if canonical(item.fields, entry) is not None:
                entries.append(entry)
        if entries:
            entries.sort(key=lambda e: as_instant(e["original_start"]))
            item.fields["modified_occurrences"] = entries


@dataclass
class Series:
    """A master as it is in Exchange before a write: its fields and its exceptions' ids."""

    item: MailboxItem
    exception_ids: dict[Any, tuple[str, str]] = field(default_factory=dict)


def read(transport: EwsTransport, folder: str, item_ids: Sequence[str]) -> dict[str, Series]:
    """The current state of recurring masters (missing or failed ones are left out)."""
    if not item_ids:
        return {}
    answers = transport._call(
        WessGetItem,
        items=[(i, None) for i in item_ids],
        additional_fields=transport._field_paths(folder),
        shape="IdOnly",
    )
    raws = [a for a in answers if not isinstance(a, Exception)]
    pairs = [(a, transport._to_mailbox_item(folder, a)) for a in raws]
    fill(transport, folder, pairs)
    out = {}
    for raw, item in pairs:
        tz = getattr(raw, START_TIMEZONE, None)
        all_day = bool(getattr(raw, "is_all_day", False))
        ids = {
            as_instant(when_from_ews(o.original_start, tz, all_day)): (o.id, o.changekey)
            for o in getattr(raw, "modified_occurrences", None) or ()
        }
        out[item.item_id] = Series(item, ids)
    return out


# -- writing -----------------------------------------------------------------------


@dataclass
class _Plan:
    master_id: str
    fields: dict[str, Any]
    deletes: list[Any] = field(default_factory=list)
    updates: list[tuple[Any, list[str]]] = field(default_factory=list)
    #: Exchange cannot end up as asked (stale exceptions, restores, unknown slots).
    diverges: bool = False


def _target(plan: _Plan, before: Series | None, original: Any, original_text: str) -> Any:
    if before is not None and original in before.exception_ids:
        return ItemId(*before.exception_ids[original])
    index = instance_index(plan.fields, original_text)
    if index is None:
        return None
    return OccurrenceItemId(id=plan.master_id, changekey=None, instance_index=index)


def _occurrence_item(
    transport: EwsTransport, folder: str, plan: _Plan, target: Any, values: dict[str, Any]
) -> tuple[Any, list[str]]:
    fields = plan.fields
    tz = zone_to_ews(fields.get("timezone"))
    all_day = bool(fields.get("is_all_day"))
    attrs = {
        "start": when_to_ews(values["start"], tz, all_day),
        "end": when_to_ews(values["end"], tz, all_day),
        START_TIMEZONE: tz,
        END_TIMEZONE: tz,
    }
    for name in OCCURRENCE_FIELDS:
        value = values.get(name, fields.get(name))
        attrs[name] = None if value in (None, "") else str(value)
    item = item_with_id(
        CalendarItem, target, account=transport.account, folder=transport._folder(folder), **attrs
    )
    return item, list(attrs)


def plan(
    transport: EwsTransport,
    folder: str,
    master_id: str,
    fields: dict[str, Any],
    before: Series | None,
) -> _Plan:
    """What to write so that the series' exceptions become those of ``fields``."""
    p = _Plan(master_id, fields)
    if not fields.get("recurrence"):
        return p
    now_exc: dict[Any, dict[str, Any]] = {}
    now_del: set[Any] = set()
    stale: set[Any] = set()
    if before is not None:
        old = before.item.fields
        if _series(old) == _series(fields):
            now_exc, now_del = _exceptions(old), _deleted(old)
        else:  # Exchange has just dropped them: the record's old ones are stale
            stale = set(_exceptions(old)) | _deleted(old)
            before = Series(before.item, {})
    texts = {
        as_instant(e["original_start"]): e
        for e in fields.get("modified_occurrences") or ()
        if isinstance(e, dict) and e.get("original_start")
    }
    want_exc = {k: v for k, v in _exceptions(fields).items() if k not in stale}
    want_del = {d for d in _deleted(fields) if d not in stale}
    p.diverges = bool(stale & (set(_exceptions(fields)) | _deleted(fields)))
    p.diverges |= bool(now_del - want_del)  # a deleted occurrence cannot come back
    del_texts = {as_instant(d): d for d in fields.get("deleted_occurrences") or () if d}
    for original in sorted(want_del - now_del):
        target = _target(p, before, original, del_texts[original])
        if target is None:
            p.diverges = True
        else:
            p.deletes.append(target)
    for original, canon in sorted(want_exc.items(), key=lambda kv: kv[0]):
        if original in want_del or now_exc.get(original) == canon:
            continue
        entry = texts[original]
        target = _target(p, before, original, entry["original_start"])
        if target is None:
            p.diverges = True
            continue
        start = entry.get("start") or entry["original_start"]
        values = {
            "start": start,
            "end": entry.get("end") or _slot_end(fields, start),
            **{n: entry[n] for n in OCCURRENCE_FIELDS if n in entry},
        }
        p.updates.append(_occurrence_item(transport, folder, p, target, values))
    for original in sorted(set(now_exc) - set(want_exc) - want_del):
        # the record no longer has this exception: back to its slot
        target = _target(p, before, original, "")
        if target is None:
            p.diverges = True
            continue
        text = _original_text(before, original)
        values = {"start": text, "end": _slot_end(fields, text)}
        p.updates.append(_occurrence_item(transport, folder, p, target, values))
    return p


def _original_text(before: Series | None, original: Any) -> str:
    assert before is not None
    for entry in before.item.fields.get("modified_occurrences") or ():
        if as_instant(entry["original_start"]) == original:
            return entry["original_start"]
    raise KeyError(original)


def apply(
    transport: EwsTransport, folder: str, jobs: Sequence[tuple[int, _Plan]], out: list[Any]
) -> None:
    """Carry out the plans of masters written successfully; ``out[i]`` (an ``ItemRef``)
    becomes the master's final ref, ``ItemRef(id, "")`` when Exchange differs from the
    record, or a ``MailboxError`` when Exchange refused an occurrence write."""
    from wess_plugins.transport_ews.results import item_error

    busy = [(i, p) for i, p in jobs if p.deletes or p.updates or p.diverges]
    if not busy:
        return
    deletes = [(i, ref) for i, p in busy for ref in p.deletes]
    updates = [(i, upd) for i, p in busy for upd in p.updates]
    failures: dict[int, list[str]] = {}
    if deletes:
        answers = transport._delete_items([ref for _, ref in deletes])
        for (i, _), answer in zip(deletes, answers, strict=True):
            if answer is not True:
                failures.setdefault(i, []).append(f"delete occurrence: {item_error(answer)}")
    if updates:
        answers = transport._update_items([upd for _, upd in updates], AUTO_RESOLVE)
        for (i, _), answer in zip(updates, answers, strict=True):
            if isinstance(answer, Exception):
                failures.setdefault(i, []).append(f"change occurrence: {item_error(answer)}")
    final = read(transport, folder, [p.master_id for _, p in busy])
    for i, p in busy:
        if failures.get(i):
            out[i] = MailboxError("; ".join(failures[i]))
            continue
        now = final.get(p.master_id)
        if now is None:
            out[i] = MailboxError("the series could not be read back after its occurrences")
            continue
        agrees = _exceptions(now.item.fields) == _exceptions(p.fields) and _deleted(
            now.item.fields
        ) == _deleted(p.fields)
        changekey = now.item.changekey if agrees and not p.diverges else ""
        out[i] = ItemRef(p.master_id, changekey)
