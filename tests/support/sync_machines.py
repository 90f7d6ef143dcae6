"""The engine's state machines, one per item type (``Things`` says how people make and
edit one), shared by the test modules that run them: over the in-memory fakes and the
local CRM (``tests/sync/test_state_machine.py``), over EWS and over Graph
(``test_state_machine_ews.py``, ``test_state_machine_graph.py``), and the pinned
failures (``test_state_machine_regressions.py``).

The invariant (checked after two clean syncs at the end of every run): both sides hold
the same things, each linked once, with equal contents; every thing never deleted by
a person exists exactly once on each side (nothing lost, nothing duplicated).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
)

from tests.support.sync_world import FaultyLocalCrm, World, examples
from wess_core.store import Store
from wess_core.strategies import ItemType
from wess_core.sync.itemtypes import CalendarType, ContactsType, TasksType
from wess_core.sync.memory import Killed, MemoryCrm, MemoryMailbox
from wess_core.sync.plan import POLICIES
from wess_core.sync.review import NO_GUARD
from wess_core.sync.state_db import StoreSyncState

VALUES = st.sampled_from([None, "a", "b", "c"])
#: How a machine's run is shaped: the conflict policy and the mailbox's paging/batching.
RUN_SHAPES = {
    "policy": st.sampled_from(POLICIES),
    "inline": st.booleans(),
    "page_size": st.integers(1, 4),
    "batch": st.integers(1, 3),
}
WRITES = ("create", "update", "delete")
FAULTS = st.tuples(
    st.sampled_from(["mailbox", "crm"]),
    st.sampled_from(WRITES) | st.sampled_from(["changes", "get"]),
    st.integers(1, 2),
    st.sampled_from(["kill-after", "kill", "error", "items"]),
)

Value = str | None
Make = Callable[[str, Value], dict[str, Any]]


def _some(value: object) -> bool:
    """A fixed, arbitrary third of all inputs."""
    return zlib.crc32(repr(value).encode()) % 3 == 0


def _same(value: Value) -> Any:
    return value


@dataclass(frozen=True)
class Things:
    """One item type as the machine's people see it.

    ``key`` names the CRM and item field holding a thing's name (``E1``, ``E2``...),
    which no edit changes, so the end can count every thing on each side. ``crm_new`` /
    ``item_new`` make a thing from its name and a drawn value; ``both_new`` the same
    thing entered on both sides (it must match); the edits map a field to the value it
    gets for a drawn value (``None`` clears). CRM-only ``internal`` and item-only
    ``categories`` fields and a bare touch (a new changekey) are always among the edits.
    """

    item_type: Callable[[], ItemType]
    key: tuple[str, str]
    crm_new: Make
    item_new: Make
    both_new: Callable[[str], tuple[dict[str, Any], dict[str, Any]]]
    crm_edits: dict[str, Callable[[Value], Any]] = field(default_factory=dict)
    item_edits: dict[str, Callable[[Value], Any]] = field(default_factory=dict)

    def crm_fields(self) -> list[str]:
        return [*self.crm_edits, "internal"]

    def item_fields(self) -> list[str | None]:
        return [*self.item_edits, "categories", None]


def _email(key: str) -> list[dict[str, str]]:
    return [{"label": "EmailAddress1", "email": f"{key.lower()}@example.com"}]


CONTACTS = Things(
    ContactsType,
    key=("company", "company_name"),
    crm_new=lambda k, v: {"first_name": "Ann", "company": k, "job_title": v},
    item_new=lambda k, v: {"given_name": "Bob", "company_name": k, "job_title": v},
    both_new=lambda k: (
        {"first_name": "Cy", "company": k, "email": f"{k.lower()}@example.com"},
        {"given_name": "Cy", "company_name": k, "email_addresses": _email(k)},
    ),
    crm_edits={"job_title": _same, "last_name": _same},
    item_edits={"job_title": _same, "surname": _same},
)

_REMINDER = {None: None, "a": 5, "b": 15, "c": 30}


def meetings(first: datetime) -> Things:
    """Meetings in a weekly series on Mondays from ``first`` (a Monday), five meetings;
    exceptions name their original start."""
    weekly = {
        "pattern": {"type": "weekly", "interval": 1, "weekdays": ["Monday"]},
        "boundary": {"type": "numbered", "start": first.date().isoformat(), "number": 5},
    }

    def occurrence(n: int, hours: int = 0) -> str:
        return (first + timedelta(weeks=n, hours=hours)).isoformat()

    def meeting(key: str, value: Value, recurring: bool = True) -> dict[str, Any]:
        return {
            "subject": key,
            "start": occurrence(0),
            "end": occurrence(0, 1),
            "location": value,
            "recurrence": dict(weekly) if recurring else None,
        }

    deleted = {
        None: None,
        "a": [occurrence(1)],
        "b": [occurrence(1), occurrence(2)],
        "c": [occurrence(3)],
    }

    def moved(value: Value) -> list[dict[str, Any]] | None:
        """The fourth meeting of the series moved by an hour (renamed ``value``)."""
        if value is None:
            return None
        return [
            {
                "original_start": occurrence(4),
                "start": occurrence(4, 1),
                "end": occurrence(4, 2),
                "subject": f"moved {value}",
            }
        ]

    return Things(
        CalendarType,
        key=("subject", "subject"),
        crm_new=lambda k, v: meeting(k, v, recurring=v != "c"),
        item_new=lambda k, v: meeting(k, v, recurring=v != "c"),
        both_new=lambda k: (meeting(k, None), meeting(k, None)),
        crm_edits={
            "location": _same,
            "description": _same,
            "deleted_occurrences": deleted.get,
            "modified_occurrences": moved,
            "reminder_minutes": _REMINDER.get,
        },
        item_edits={
            "location": _same,
            "body": _same,
            "deleted_occurrences": deleted.get,
            "modified_occurrences": moved,
            "reminder_minutes_before_start": _REMINDER.get,
        },
    )


MEETINGS = meetings(datetime(2024, 5, 6, 9, tzinfo=UTC))


def upcoming_meetings(today: date | None = None) -> Things:
    """``meetings`` of a series beginning five to six weeks ahead: inside the Graph
    calendar's window (90 days back, a year ahead), which a fixed date leaves."""
    today = today or date.today()
    first = today + timedelta(days=35 + (7 - today.weekday()) % 7)
    return meetings(datetime.combine(first, time(9), tzinfo=UTC))


_STATUS = {None: None, "a": "in_progress", "b": "completed", "c": "waiting"}
_ITEM_STATUS = {None: None, "a": "InProgress", "b": "Completed", "c": "WaitingOnOthers"}
_PERCENT = {None: None, "a": 10, "b": 50, "c": 100}
_DATE = {None: None, "a": "2024-05-01", "b": "2024-05-02", "c": "2024-05-03"}


def _task(key: str, value: Value) -> dict[str, Any]:
    return {"subject": key, "due_date": "2024-06-01", "body": value}


TASKS = Things(
    TasksType,
    key=("subject", "subject"),
    crm_new=lambda k, v: {"subject": k, "due_date": "2024-06-01", "description": v},
    item_new=_task,
    both_new=lambda k: ({"subject": k, "due_date": "2024-06-01"}, _task(k, None)),
    crm_edits={
        "status": _STATUS.get,
        "percent_complete": _PERCENT.get,
        "description": _same,
        "start_date": _DATE.get,
    },
    item_edits={
        "status": _ITEM_STATUS.get,
        "percent_complete": _PERCENT.get,
        "body": _same,
        "start_date": _DATE.get,
    },
)


def machine_for(things: Things) -> type[RuleBasedStateMachine]:
    """A state machine of one user's ``things``: a MemoryCrm and a MemoryMailbox under
    random weather (``setup`` builds the world; subclasses swap the sides)."""
    crm_key, item_key = things.key

    class SyncMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.w: World
            self.keys = itertools.count(1)
            self.deleted: set[str] = set()  # things a person deleted on some side
            self.made: set[str] = set()

        @initialize(**RUN_SHAPES)
        def setup(self, policy: str, inline: bool, page_size: int, batch: int) -> None:
            mailbox = MemoryMailbox(max_batch=batch, page_size=page_size, inline=inline)
            self.w = World(
                things.item_type(),
                crm=MemoryCrm(),
                mailbox=mailbox,
                policy=policy,
                batch_size=batch,
            )

        def _new_key(self) -> str:
            key = f"E{next(self.keys)}"
            self.made.add(key)
            return key

        # -- things in the CRM --------------------------------------------------------

        @rule(title=VALUES)
        def crm_create(self, title: Value) -> None:
            self.w.crm.add(self.w.rtype, things.crm_new(self._new_key(), title))

        @precondition(lambda self: self.w.records())
        @rule(data=st.data(), field=st.sampled_from(things.crm_fields()))
        def crm_edit(self, data: st.DataObject, field: str) -> None:
            rid = data.draw(st.sampled_from(sorted(self.w.records())))
            value = data.draw(VALUES)
            make = things.crm_edits.get(field, _same)
            self.w.crm.edit(self.w.rtype, rid, {field: make(value)})

        @precondition(lambda self: self.w.records())
        @rule(data=st.data())
        def crm_delete(self, data: st.DataObject) -> None:
            live = self.w.records()
            rid = data.draw(st.sampled_from(sorted(live)))
            self.deleted.add(live[rid].fields.get(crm_key, ""))
            self.w.crm.remove(self.w.rtype, rid)

        @rule()
        def both_create(self) -> None:
            """The same thing entered on both sides before a sync: matched, not duplicated."""
            record, item = things.both_new(self._new_key())
            self.w.crm.add(self.w.rtype, record)
            self.w.mb.add(self.w.folder, item)

        def _item_ids(self, items: dict[str, Any] | None = None) -> list[str]:
            """The mailbox's item ids in the order of their things' names: a mailbox's
            ids differ from run to run (the emulator numbers its users), so a drawn
            position must not depend on how they sort, or a replay picks another item."""
            items = self.w.items() if items is None else items
            return sorted(items, key=lambda iid: (str(items[iid].fields.get(item_key)), iid))

        # -- things in Outlook -----------------------------------------------------------

        @rule(title=VALUES)
        def mailbox_create(self, title: Value) -> None:
            self.w.mb.add(self.w.folder, things.item_new(self._new_key(), title))

        @precondition(lambda self: self.w.items())
        @rule(data=st.data(), field=st.sampled_from(things.item_fields()))
        def mailbox_edit(self, data: st.DataObject, field: str | None) -> None:
            iid = data.draw(st.sampled_from(self._item_ids()))
            if field is None:
                self.w.mb.touch(self.w.folder, iid)
                return
            value = data.draw(VALUES)
            make = things.item_edits.get(field, _same)
            changes = {field: make(value)}
            if field == "reminder_minutes_before_start":
                changes["reminder_is_set"] = value is not None
            self.w.mb.edit(self.w.folder, iid, changes)

        @precondition(lambda self: self.w.items())
        @rule(data=st.data())
        def mailbox_delete(self, data: st.DataObject) -> None:
            items = self.w.items()
            iid = data.draw(st.sampled_from(self._item_ids(items)))
            self.deleted.add(items[iid].fields.get(item_key, ""))
            self.w.mb.remove(self.w.folder, iid)

        # -- syncs, clean and under faults -------------------------------------------------

        @rule(fault=st.none() | FAULTS)
        def sync(self, fault: tuple[str, str, int, str] | None) -> None:
            """A sync, often with a fault: an error, a kill before or after a call's
            work, or a third of a bulk call's items failing."""
            if fault is None:
                self.w.sync(guard=NO_GUARD)
                return
            side, method, nth, kind = fault
            faults = self.w.mb.faults if side == "mailbox" else self.w.crm.faults
            if kind == "items":
                faults.fail_items(method, _some, ValueError("injected item failure"))
            else:
                error = ConnectionError("injected") if kind == "error" else Killed()
                faults.fail_call(method, nth, error, after=kind == "kill-after")
            try:
                self.w.sync(guard=NO_GUARD)
            except (Killed, ConnectionError):
                pass  # a killed run, or a read that failed: the next run picks up
            finally:
                faults.clear()

        @rule()
        def invalidate_sync_state(self) -> None:
            self.w.mb.invalidate_sync_state()

        # -- the end -------------------------------------------------------------------------

        def teardown(self) -> None:
            if not hasattr(self, "w"):
                return
            self.w.mb.faults.clear()
            self.w.crm.faults.clear()
            self.w.sync(guard=NO_GUARD)
            self.w.sync(guard=NO_GUARD)
            self.w.assert_converged()
            names = Counter(r.fields.get(crm_key) for r in self.w.records().values())
            assert max(names.values(), default=1) == 1, "a thing was duplicated"
            for key in self.made - self.deleted:
                assert names[key] == 1, f"{key} was lost"
            self.w.reset_calls()
            result = self.w.sync(guard=NO_GUARD)
            assert result.total_changes == 0 and self.w.mailbox_writes() == 0
            assert self.w.crm_writes() == 0

    SyncMachine.__name__ = SyncMachine.__qualname__ = f"{things.item_type.__name__}Machine"
    return SyncMachine


def _settings(n: int, steps: int) -> settings:
    return settings(
        max_examples=examples(n),
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


SyncMachine = machine_for(CONTACTS)
SyncMachine.TestCase.settings = _settings(200, 30)


class LocalSyncMachine(SyncMachine):  # type: ignore[misc, valid-type]
    """The same weather over the local CRM and the state in a store file."""

    @initialize(**RUN_SHAPES)
    def setup(self, policy: str, inline: bool, page_size: int, batch: int) -> None:
        self.home = tempfile.mkdtemp(prefix="wess-sync-")
        mailbox = MemoryMailbox(max_batch=batch, page_size=page_size, inline=inline)
        state = StoreSyncState(Store(self.home), "alice")
        crm = FaultyLocalCrm(self.home)
        self.w = World(crm=crm, mailbox=mailbox, state=state, policy=policy, batch_size=batch)

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            if hasattr(self, "home"):
                shutil.rmtree(self.home, ignore_errors=True)


LocalSyncMachine.TestCase.settings = _settings(40, 25)

MeetingSyncMachine = machine_for(MEETINGS)
MeetingSyncMachine.TestCase.settings = _settings(80, 25)

TaskSyncMachine = machine_for(TASKS)
TaskSyncMachine.TestCase.settings = _settings(80, 25)
