"""The built-in item types: CRM record fields ↔ neutral mailbox item fields.

These are the canonical WESS CRM field names (what the ``local`` CRM stores and what a
connector for another CRM translates its API's names to) and the neutral item fields
(named after exchangelib's attributes; see ``wess_core.strategies``).

people (contacts folder)::

    first_name last_name company job_title notes  ↔ given_name surname company_name
                                                     job_title body (+ display_name, to Exchange)
    email email2 email3                            ↔ email_addresses [{"label": "EmailAddress1"
                                                     .. "EmailAddress3", "email"}]
    phone mobile home_phone                        ↔ phone_numbers [{"label": "BusinessPhone" |
                                                     "MobilePhone" | "HomePhone", "phone_number"}]
    address home_address other_address             ↔ physical_addresses [{"label": "Business" |
      (each {street city state zip country})          "Home" | "Other", street city state
                                                     zipcode country}]

(``address`` is the business address: the field existed before home and other did.)

meetings (calendar): subject start end timezone all_day location description attendees
(list of addresses) reminder_minutes recurrence modified_occurrences deleted_occurrences ↔
subject start end timezone is_all_day location body required_attendees reminder_is_set
reminder_minutes_before_start recurrence modified_occurrences deleted_occurrences.
``timezone`` is the meeting's IANA zone ("Europe/London"; none or "UTC": UTC), the zone
a series keeps its wall-clock time in across DST changes. ``start``/``end`` are ISO 8601
strings with an offset, shown as local times in ``timezone`` ("2026-10-12T09:00:00+01:00";
a value without offset is local time there), or dates for all-day events (``end`` is the
last day, inclusive). ``recurrence`` is passed through as a dict, e.g. ``{"pattern":
{"type": "weekly", "interval": 1, "weekdays": ["Monday"]}, "boundary": {"type":
"end_date", "start": "2024-05-06", "end": "2024-07-01"}}`` (boundary types: end_date,
no_end, numbered with "number"; dates are local dates in ``timezone``). An occurrence is
named by its *original start* (its slot in the pattern), never by its current start:
``modified_occurrences`` is a list of ``{"original_start", "start", "end"}`` plus the
fields that differ from the series (``subject``, ``location``, ``description``; ``body``
on the item side), ``deleted_occurrences`` a list of original starts; both sorted by
original start. Changing the pattern or the series' time in Exchange deletes its
exceptions (see ``wess_plugins.transport_ews.occurrences``).

tasks: subject start_date due_date status (not_started in_progress completed waiting
deferred) percent_complete description ↔ subject start_date due_date status (NotStarted
InProgress Completed WaitingOnOthers Deferred) percent_complete body.

emails (inbox, sentitems; Exchange → CRM only): subject from to cc date body body_type
message_id direction ("in"/"out", from the folder) ↔ subject sender to_recipients
cc_recipients datetime_received body body_type message_id. ``body`` is always plain
text: an HTML body (``body_type`` "HTML"; "Text" otherwise) is converted
(``wess_core.sync.htmltext``: paragraphs, line breaks, list items and table cells kept;
scripts, styles and markup dropped). The HTML itself is not kept on the record: the CRM
copy is for reading and searching, and the original stays in the mailbox (WESS never
changes or deletes mail), found again by ``message_id`` or the record's item id.

Matching on first sync (``match_keys``, in priority order): people by e-mail address,
then full name + company; meetings by iCalendar UID (the item's ``uid``, Exchange's
``UID``; a CRM record's ``uid`` when the CRM holds one; identity, not content, so it is
not a synced field), then subject + start + end (as UTC instants); tasks by subject +
due date. E-mail has none (one-way: nothing to duplicate in Exchange).

Empty values: a mapping emits every field it maps, ``None`` when empty, so an update
clears what the other side cleared. ``False`` flags, a 0 percent and a task's "not
started" status are "empty" too, because Exchange always sends them while a CRM record
may just not have them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wess_core.strategies import Direction
from wess_core.sync.htmltext import html_to_text
from wess_core.sync.review import norm_text, norm_time

_EMAIL_LABELS = (
    ("email", "EmailAddress1"),
    ("email2", "EmailAddress2"),
    ("email3", "EmailAddress3"),
)
_PHONE_LABELS = (
    ("phone", "BusinessPhone"),
    ("mobile", "MobilePhone"),
    ("home_phone", "HomePhone"),
)
_ADDRESS_KEYS = (
    ("street", "street"),
    ("city", "city"),
    ("state", "state"),
    ("zip", "zipcode"),
    ("country", "country"),
)
_ADDRESS_LABELS = (
    ("address", "Business"),
    ("home_address", "Home"),
    ("other_address", "Other"),
)


def _by_label(entries: Any, label: str, key: str) -> Any:
    for entry in entries or ():
        if isinstance(entry, Mapping) and entry.get("label") == label:
            return entry.get(key)
    return None


def _none_if_empty(value: Any) -> Any:
    return None if value in ("", [], {}, False, 0) else value


class _Simple:
    """A type whose fields map one to one, plus hooks for the rest."""

    name: str
    folder: str
    record_type: str
    direction = Direction.TWO_WAY
    #: (CRM field, item field) pairs copied as they are.
    pairs: tuple[tuple[str, str], ...] = ()

    def to_item(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {i: _none_if_empty(record.get(c)) for c, i in self.pairs}

    def to_record(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {c: _none_if_empty(item.get(i)) for c, i in self.pairs}

    def __repr__(self) -> str:
        return f"<item type {self.name}: {self.record_type} ↔ {self.folder}>"


class ContactsType(_Simple):
    """CRM people ↔ Exchange contacts."""

    name, folder, record_type = "contacts", "contacts", "people"
    pairs = (
        ("first_name", "given_name"),
        ("last_name", "surname"),
        ("company", "company_name"),
        ("job_title", "job_title"),
        ("notes", "body"),
    )

    def to_item(self, record: Mapping[str, Any]) -> dict[str, Any]:
        item = super().to_item(record)
        emails = [{"label": lab, "email": record[f]} for f, lab in _EMAIL_LABELS if record.get(f)]
        phones = [
            {"label": lab, "phone_number": record[f]} for f, lab in _PHONE_LABELS if record.get(f)
        ]
        postal = []
        for field, label in _ADDRESS_LABELS:
            address = record.get(field) or {}
            parts = {i: address[c] for c, i in _ADDRESS_KEYS if address.get(c)}
            if parts:
                postal.append({"label": label, **parts})
        item["email_addresses"] = emails or None
        item["phone_numbers"] = phones or None
        item["physical_addresses"] = postal or None
        name = " ".join(p for p in (record.get("first_name"), record.get("last_name")) if p)
        first_email = emails[0]["email"] if emails else None
        item["display_name"] = name or record.get("company") or first_email
        return item

    def to_record(self, item: Mapping[str, Any]) -> dict[str, Any]:
        record = super().to_record(item)
        for field, label in _EMAIL_LABELS:
            record[field] = _by_label(item.get("email_addresses"), label, "email") or None
        for field, label in _PHONE_LABELS:
            number = _by_label(item.get("phone_numbers"), label, "phone_number")
            record[field] = number or None
        for field, label in _ADDRESS_LABELS:
            postal: dict[str, Any] = {}
            for entry in item.get("physical_addresses") or ():
                if isinstance(entry, Mapping) and entry.get("label") == label:
                    postal = {c: entry[i] for c, i in _ADDRESS_KEYS if entry.get(i)}
            record[field] = postal or None
        return record

    def match_keys(self, record: Mapping[str, Any]) -> list[str | None]:
        """E-mail address, then full name + company (CRM field names)."""
        email = norm_text(record.get("email"))
        name = norm_text(" ".join(str(record.get(k) or "") for k in ("first_name", "last_name")))
        company = norm_text(record.get("company"))
        return [f"email {email}" if email else None, f"name {name} / {company}" if name else None]


_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Z"})
#: Fields a modified occurrence may carry besides its times (CRM name -> item name).
_OCCURRENCE_TO_ITEM = {"subject": "subject", "location": "location", "description": "body"}


def _zone(name: Any) -> tzinfo | None:
    if not isinstance(name, str) or not name or name in _UTC_ZONES:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _zoned(value: Any, zone: tzinfo | None) -> Any:
    """A date-time as local time in ``zone`` with its offset (no offset: already local);
    dates, other values and meetings without a zone stay as they are."""
    if zone is None or not isinstance(value, str) or len(value) <= 10:
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    local = parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed.astimezone(zone)
    return local.isoformat()


def _when(value: Any) -> tuple:
    """Sort key: the instant (dates at UTC midnight); unreadable values last."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return (1, str(value))
    return (0, (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


def _in_own_zone(fields: dict[str, Any], occurrence_names: dict[str, str]) -> dict[str, Any]:
    """Canonical calendar times: UTC zones are "no zone"; start, end and occurrence times
    are local times in the meeting's zone; occurrences sorted by original start, their
    changed fields renamed for this side."""
    if fields.get("timezone") in _UTC_ZONES:
        fields["timezone"] = None
    zone = _zone(fields.get("timezone"))
    for name in ("start", "end"):
        fields[name] = _zoned(fields.get(name), zone)
    deleted = fields.get("deleted_occurrences")
    if isinstance(deleted, list):
        fields["deleted_occurrences"] = sorted((_zoned(d, zone) for d in deleted), key=_when)
    modified = fields.get("modified_occurrences")
    if isinstance(modified, list):
        entries = []
        for entry in modified:
            if not isinstance(entry, Mapping):
                entries.append(entry)
                continue
            out = {
                k: _zoned(entry[k], zone) for k in ("original_start", "start", "end") if k in entry
            }
            out.update({occurrence_names.get(k, k): v for k, v in entry.items() if k not in out})
            entries.append(out)
        fields["modified_occurrences"] = sorted(
            entries, key=lambda e: _when(e.get("original_start") if isinstance(e, Mapping) else e)
        )
    return fields


def _series_only(fields: dict[str, Any]) -> dict[str, Any]:
    """Deleted and moved occurrences exist only in a series: a single meeting in Exchange
    holds none (found by the state machine over EWS: a one-off CRM meeting with deleted
    occurrences never agreed with its Exchange copy)."""
    if not fields.get("recurrence"):
        fields["deleted_occurrences"] = fields["modified_occurrences"] = None
    return fields


class CalendarType(_Simple):
    """CRM meetings ↔ Exchange calendar items, recurring series included."""

    name, folder, record_type = "calendar", "calendar", "meetings"
    pairs = (
        ("subject", "subject"),
        ("start", "start"),
        ("end", "end"),
        ("timezone", "timezone"),
        ("all_day", "is_all_day"),
        ("location", "location"),
        ("description", "body"),
        ("attendees", "required_attendees"),
        ("recurrence", "recurrence"),
        ("modified_occurrences", "modified_occurrences"),
        ("deleted_occurrences", "deleted_occurrences"),
    )

    def to_item(self, record: Mapping[str, Any]) -> dict[str, Any]:
        item = super().to_item(record)
        minutes = record.get("reminder_minutes")
        item["reminder_is_set"] = minutes is not None
        item["reminder_minutes_before_start"] = minutes
        return _in_own_zone(_series_only(item), _OCCURRENCE_TO_ITEM)

    def to_record(self, item: Mapping[str, Any]) -> dict[str, Any]:
        record = super().to_record(item)
        minutes = item.get("reminder_minutes_before_start")
        is_set = item.get("reminder_is_set", minutes is not None)
        record["reminder_minutes"] = minutes if is_set else None
        return _in_own_zone(_series_only(record), {v: k for k, v in _OCCURRENCE_TO_ITEM.items()})

    def match_keys(self, record: Mapping[str, Any]) -> list[str | None]:
        """iCalendar UID (an item's ``uid``, a record's ``uid``), then subject + start + end."""
        uid = str(record.get("uid") or "").strip()
        subject = norm_text(record.get("subject"))
        start, end = norm_time(record.get("start")), norm_time(record.get("end"))
        when = f"meeting {subject} / {start} / {end}" if subject and start else None
        return [f"uid {uid}" if uid else None, when]


_STATUS = {
    "not_started": "NotStarted",
    "in_progress": "InProgress",
    "completed": "Completed",
    "waiting": "WaitingOnOthers",
    "deferred": "Deferred",
}
_STATUS_BACK = {v: k for k, v in _STATUS.items()}
#: "Not started" is a task's empty status: Exchange always sends one, a CRM task may
#: have none (found by the state machine over EWS: a CRM task without a status never
#: agreed with its Exchange copy).
_NO_STATUS = (None, "", "not_started", "NotStarted")


def _task_rules(fields: dict[str, Any], in_progress: str, completed: str) -> dict[str, Any]:
    """What an Exchange task can hold (exchangelib resets the rest before sending, and
    Outlook and Exchange keep them so): a task begun is not "not started", a completed
    task is 100 % done, and it is due no earlier than it starts. Applied both ways, so
    both sides' views agree however lenient the server is."""
    percent = fields.get("percent_complete")
    if fields.get("status") is None and isinstance(percent, int | float) and percent > 0:
        fields["status"] = completed if percent >= 100 else in_progress
    if fields.get("status") == completed:
        fields["percent_complete"] = 100
    start, due = fields.get("start_date"), fields.get("due_date")
    if isinstance(start, str) and isinstance(due, str) and due[:10] < start[:10]:
        fields["due_date"] = start
    return fields


class TasksType(_Simple):
    """CRM tasks ↔ Exchange tasks."""

    name, folder, record_type = "tasks", "tasks", "tasks"
    pairs = (
        ("subject", "subject"),
        ("start_date", "start_date"),
        ("due_date", "due_date"),
        ("percent_complete", "percent_complete"),
        ("description", "body"),
    )

    def to_item(self, record: Mapping[str, Any]) -> dict[str, Any]:
        item = super().to_item(record)
        status = record.get("status")
        item["status"] = _STATUS.get(status, status) if status not in _NO_STATUS else None
        return _task_rules(item, "InProgress", "Completed")

    def to_record(self, item: Mapping[str, Any]) -> dict[str, Any]:
        record = super().to_record(item)
        status = item.get("status")
        record["status"] = _STATUS_BACK.get(status, status) if status not in _NO_STATUS else None
        return _task_rules(record, "in_progress", "completed")

    def match_keys(self, record: Mapping[str, Any]) -> list[str | None]:
        """Subject + due date."""
        subject = norm_text(record.get("subject"))
        due = str(record.get("due_date") or "")[:10]
        return [f"task {subject} / {due or 'no due date'}" if subject else None]


class EmailType(_Simple):
    """Exchange messages → CRM e-mail records (one-way; a folder per instance)."""

    direction = Direction.EXCHANGE_TO_CRM
    record_type = "emails"
    pairs = (
        ("subject", "subject"),
        ("from", "sender"),
        ("to", "to_recipients"),
        ("cc", "cc_recipients"),
        ("date", "datetime_received"),
        ("body", "body"),
        ("body_type", "body_type"),
        ("message_id", "message_id"),
    )

    def __init__(self, name: str, folder: str, direction_label: str) -> None:
        self.name, self.folder, self.label = name, folder, direction_label

    def to_record(self, item: Mapping[str, Any]) -> dict[str, Any]:
        record = super().to_record(item)
        body_type = item.get("body_type")
        if body_type == "HTML":
            record["body"] = html_to_text(record["body"]) or None
        record["body_type"] = body_type if record["body"] else None
        record["direction"] = self.label
        return record


def builtin_item_types() -> list[Any]:
    """Fresh instances of every built-in item type."""
    return [
        ContactsType(),
        CalendarType(),
        TasksType(),
        EmailType("email-inbox", "inbox", "in"),
        EmailType("email-sent", "sentitems", "out"),
    ]
