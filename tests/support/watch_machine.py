"""Pull subscriptions under random weather: the same person edits on both sides go to
two users' worlds, one synced with a subscription (``watch``) and one without; random
expiry, failed polls and folder failures hit the watched one. At the end both converge
and hold the same things (``tests/sync/test_state_machine_watch.py``).

Only faults both worlds see the same way are drawn for both (a CRM read failing for a
folder's record type fails that folder in both, before either reads the mailbox); a
failing poll is a run in which nothing is done, so the other world skips that run.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from tests.support.sync_machines import CONTACTS, TASKS, VALUES, Things, Value
from tests.support.sync_world import examples
from wess_core.strategies import ItemType
from wess_core.sync.engine import sync_all
from wess_core.sync.memory import MemoryCrm, MemoryMailbox
from wess_core.sync.plan import POLICIES, Views
from wess_core.sync.result import SyncResult
from wess_core.sync.review import NO_GUARD
from wess_core.sync.status import MemorySyncState

THINGS = {"contacts": CONTACTS, "tasks": TASKS}
NAMES = st.sampled_from(sorted(THINGS))


class FolderFaultCrm(MemoryCrm):
    """A CRM whose next read of ``fail_type`` raises (the folder fails as a whole)."""

    fail_type: str | None = None

    def changes(self, record_type: str, cursor: str | None) -> Any:
        if record_type == self.fail_type:
            self.fail_type = None
            raise ConnectionError(f"injected: {record_type} unreadable")
        return super().changes(record_type, cursor)


class UserWorld:
    """One user's CRM, mailbox and state over contacts and tasks."""

    def __init__(self, policy: str, page_size: int, inline: bool, watched: bool) -> None:
        self.types: dict[str, ItemType] = {n: t.item_type() for n, t in THINGS.items()}
        self.crm = FolderFaultCrm()
        self.mb = MemoryMailbox(page_size=page_size, inline=inline)
        self.state = MemorySyncState()
        self.policy = policy
        self.watched = watched

    def sync(self, fail: str | None = None) -> SyncResult:
        if fail is not None:
            self.crm.fail_type = self.types[fail].record_type
        result = sync_all(
            list(self.types.values()),
            self.crm,
            self.mb,
            self.state,
            self.policy,
            guard=NO_GUARD,
            watch=self.state if self.watched else None,
        )
        self.crm.fail_type = None
        return result

    def records(self, name: str) -> dict[str, Any]:
        return self.crm.live(self.types[name].record_type)

    def items(self, name: str) -> dict[str, Any]:
        return self.mb.items(self.types[name].folder)

    def ordered(self, name: str, side: str) -> list[str]:
        """Ids in the order of their things' names (the two worlds' ids may differ)."""
        crm_key, item_key = THINGS[name].key
        if side == "crm":
            found = self.records(name)
            return sorted(found, key=lambda i: (str(found[i].fields.get(crm_key)), i))
        items = self.items(name)
        return sorted(items, key=lambda i: (str(items[i].fields.get(item_key)), i))

    def views(self, name: str) -> tuple[Counter[str], Counter[str]]:
        views = Views(self.types[name])
        records = Counter(views.record_hash(r) for r in self.records(name).values())
        items = Counter(views.item_hash(i) for i in self.items(name).values())
        return records, items

    def assert_converged(self, name: str) -> None:
        state = self.state.load(name)
        assert {r.crm_id for r in state} == set(self.records(name)), name
        assert {r.item_id for r in state} == set(self.items(name)), name
        assert len(list(state)) == len(self.records(name)) == len(self.items(name)), name
        records, items = self.views(name)
        assert records == items, name


class WatchMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.worlds: list[UserWorld] = []
        self.keys = itertools.count(1)

    @initialize(policy=st.sampled_from(POLICIES), page_size=st.integers(1, 4), inline=st.booleans())
    def setup(self, policy: str, page_size: int, inline: bool) -> None:
        self.worlds = [UserWorld(policy, page_size, inline, watched) for watched in (True, False)]

    @property
    def watched(self) -> UserWorld:
        return self.worlds[0]

    def _both(self, side: str, name: str, data: st.DataObject) -> list[str] | None:
        """The same drawn position's id in each world (None: nothing there)."""
        ids = [w.ordered(name, side) for w in self.worlds]
        if not ids[0] or len(ids[0]) != len(ids[1]):
            return None
        at = data.draw(st.integers(0, len(ids[0]) - 1))
        return [found[at] for found in ids]

    # -- people on both sides ------------------------------------------------------

    @rule(name=NAMES, value=VALUES, side=st.sampled_from(["crm", "mailbox"]))
    def create(self, name: str, value: Value, side: str) -> None:
        things: Things = THINGS[name]
        key = f"E{next(self.keys)}"
        for w in self.worlds:
            if side == "crm":
                w.crm.add(w.types[name].record_type, things.crm_new(key, value))
            else:
                w.mb.add(w.types[name].folder, things.item_new(key, value))

    @rule(name=NAMES, data=st.data(), value=VALUES)
    def crm_edit(self, name: str, data: st.DataObject, value: Value) -> None:
        ids = self._both("crm", name, data)
        field = data.draw(st.sampled_from(THINGS[name].crm_fields()))
        make = THINGS[name].crm_edits.get(field, lambda v: v)
        for w, rid in zip(self.worlds, ids or [], strict=False):
            w.crm.edit(w.types[name].record_type, rid, {field: make(value)})

    @rule(name=NAMES, data=st.data(), value=VALUES)
    def mailbox_edit(self, name: str, data: st.DataObject, value: Value) -> None:
        ids = self._both("mailbox", name, data)
        field = data.draw(st.sampled_from([f for f in THINGS[name].item_fields() if f]))
        make = THINGS[name].item_edits.get(field, lambda v: v)
        for w, iid in zip(self.worlds, ids or [], strict=False):
            w.mb.edit(w.types[name].folder, iid, {field: make(value)})

    @rule(name=NAMES, data=st.data(), side=st.sampled_from(["crm", "mailbox"]))
    def delete(self, name: str, data: st.DataObject, side: str) -> None:
        ids = self._both(side, name, data)
        for w, ident in zip(self.worlds, ids or [], strict=False):
            if side == "crm":
                w.crm.remove(w.types[name].record_type, ident)
            else:
                w.mb.remove(w.types[name].folder, ident)

    # -- runs and weather ----------------------------------------------------------

    @rule(fail=st.none() | NAMES)
    def sync(self, fail: str | None) -> None:
        """Both users sync; ``fail``: that folder's CRM read fails in both."""
        for w in self.worlds:
            result = w.sync(fail)
            if fail is not None:
                assert result.folders[fail].failed
        self.assert_same()

    def assert_same(self) -> None:
        """After each run both users hold the same things: the watched one read every
        change the other read (a folder it did not read had nothing to read)."""
        for name in THINGS:
            assert self.watched.views(name) == self.worlds[1].views(name), name

    @rule()
    def poll_fails(self) -> None:
        """The watched user's poll fails: nothing is done (the other user skips a run)."""
        w = self.watched
        w.mb.faults.fail_call("watch", error=ConnectionError("injected: poll failed"))
        result = w.sync()
        w.mb.faults.clear()
        assert all(f.failed for f in result.folders.values())

    @rule()
    def expire(self) -> None:
        self.watched.mb.expire_watch()

    @precondition(lambda self: self.worlds)
    @rule()
    def invalidate_sync_state(self) -> None:
        for w in self.worlds:
            w.mb.invalidate_sync_state()

    # -- the end ---------------------------------------------------------------------

    def teardown(self) -> None:
        if not self.worlds:
            return
        for w in self.worlds:
            w.sync()
            w.sync()
        for name in THINGS:
            for w in self.worlds:
                w.assert_converged(name)
        self.assert_same()
        w = self.watched
        w.sync()  # the last run's own writes, read back once
        w.mb.calls.clear()
        result = w.sync()
        assert result.total_changes == 0
        assert w.mb.calls == {"watch": 1}, "an idle user costs one poll"


WatchMachine.TestCase.settings = settings(
    max_examples=examples(100),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
