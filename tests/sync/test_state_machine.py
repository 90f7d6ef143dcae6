"""Random edits on both sides, random syncs, kills and faults; then convergence.

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

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
)

from wess_core.store import Store
from wess_core.sync.memory import Killed, MemoryCrm, MemoryMailbox
from wess_core.sync.plan import POLICIES
from wess_core.sync.review import NO_GUARD
from wess_core.sync.status import StoreSyncState

from .helpers import FaultyLocalCrm, World, examples

VALUES = st.sampled_from([None, "a", "b", "c"])
WRITES = ("create", "update", "delete")
FAULTS = st.tuples(
    st.sampled_from(["mailbox", "crm"]),
    st.sampled_from(WRITES) | st.sampled_from(["changes", "get"]),
    st.integers(1, 2),
    st.sampled_from(["kill-after", "kill", "error", "items"]),
)


def _some(value: object) -> bool:
    """A fixed, arbitrary third of all inputs."""
    return zlib.crc32(repr(value).encode()) % 3 == 0


class SyncMachine(RuleBasedStateMachine):
    """One user's contacts: a MemoryCrm and a MemoryMailbox under random weather."""

    def __init__(self) -> None:
        super().__init__()
        self.w: World
        self.keys = itertools.count(1)
        self.deleted: set[str] = set()  # things a person deleted on some side
        self.made: set[str] = set()

    @initialize(
        policy=st.sampled_from(POLICIES),
        inline=st.booleans(),
        page_size=st.integers(1, 4),
        batch=st.integers(1, 3),
    )
    def setup(self, policy: str, inline: bool, page_size: int, batch: int) -> None:
        mailbox = MemoryMailbox(max_batch=batch, page_size=page_size, inline=inline)
        self.w = World(crm=MemoryCrm(), mailbox=mailbox, policy=policy, batch_size=batch)

    # -- people in the CRM ----------------------------------------------------------

    @rule(title=VALUES)
    def crm_create(self, title: str | None) -> None:
        key = f"E{next(self.keys)}"
        self.made.add(key)
        self.w.crm.add("people", {"first_name": "Ann", "company": key, "job_title": title})

    @precondition(lambda self: self.w.crm.live("people"))
    @rule(data=st.data(), field=st.sampled_from(["job_title", "last_name", "internal"]))
    def crm_edit(self, data: st.DataObject, field: str) -> None:
        rid = data.draw(st.sampled_from(sorted(self.w.crm.live("people"))))
        self.w.crm.edit("people", rid, {field: data.draw(VALUES)})

    @precondition(lambda self: self.w.crm.live("people"))
    @rule(data=st.data())
    def crm_delete(self, data: st.DataObject) -> None:
        live = self.w.crm.live("people")
        rid = data.draw(st.sampled_from(sorted(live)))
        self.deleted.add(live[rid].fields.get("company", ""))
        self.w.crm.remove("people", rid)

    @rule()
    def both_create(self) -> None:
        """The same person entered on both sides before a sync: matched, not duplicated."""
        key = f"E{next(self.keys)}"
        self.made.add(key)
        email = f"{key.lower()}@example.com"
        self.w.crm.add("people", {"first_name": "Cy", "company": key, "email": email})
        self.w.mb.add("contacts", {"given_name": "Cy", "company_name": key,
                                   "email_addresses": [{"label": "EmailAddress1",
                                                        "email": email}]})  # fmt: skip

    # -- people in Outlook -----------------------------------------------------------

    @rule(title=VALUES)
    def mailbox_create(self, title: str | None) -> None:
        key = f"E{next(self.keys)}"
        self.made.add(key)
        self.w.mb.add("contacts", {"given_name": "Bob", "company_name": key, "job_title": title})

    @precondition(lambda self: self.w.items())
    @rule(data=st.data(), field=st.sampled_from(["job_title", "surname", "categories", None]))
    def mailbox_edit(self, data: st.DataObject, field: str | None) -> None:
        iid = data.draw(st.sampled_from(sorted(self.w.items())))
        if field is None:
            self.w.mb.touch("contacts", iid)
        else:
            self.w.mb.edit("contacts", iid, {field: data.draw(VALUES)})

    @precondition(lambda self: self.w.items())
    @rule(data=st.data())
    def mailbox_delete(self, data: st.DataObject) -> None:
        items = self.w.items()
        iid = data.draw(st.sampled_from(sorted(items)))
        self.deleted.add(items[iid].fields.get("company_name", ""))
        self.w.mb.remove("contacts", iid)

    # -- syncs, clean and under faults -------------------------------------------------

    @rule(fault=st.none() | FAULTS)
    def sync(self, fault: tuple[str, str, int, str] | None) -> None:
        """A sync, often with a fault: an error, a kill before or after a call's work, or
        a third of a bulk call's items failing."""
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
        companies = Counter(r.fields.get("company") for r in self.w.records().values())
        assert max(companies.values(), default=1) == 1, "a thing was duplicated"
        for key in self.made - self.deleted:
            assert companies[key] == 1, f"{key} was lost"
        self.w.reset_calls()
        result = self.w.sync(guard=NO_GUARD)
        assert result.total_changes == 0 and self.w.mailbox_writes() == 0
        assert self.w.crm_writes() == 0


SyncMachine.TestCase.settings = settings(
    max_examples=examples(200),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSyncConverges = SyncMachine.TestCase


class LocalSyncMachine(SyncMachine):
    """The same weather over the local CRM and the state in a store file."""

    @initialize(
        policy=st.sampled_from(POLICIES),
        inline=st.booleans(),
        page_size=st.integers(1, 4),
        batch=st.integers(1, 3),
    )
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


LocalSyncMachine.TestCase.settings = settings(
    max_examples=examples(40),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLocalSyncConverges = LocalSyncMachine.TestCase
