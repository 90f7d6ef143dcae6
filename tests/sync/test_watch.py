"""Pull subscriptions: a run reads only the folders whose subscription saw events, and
never misses a change (expiry, failed folders, killed runs, dry runs)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.sync_world import contact, person
from wess_core.store import Store
from wess_core.sync.engine import WatchRecord, sync_all
from wess_core.sync.itemtypes import ContactsType, TasksType
from wess_core.sync.memory import Killed, MemoryCrm, MemoryMailbox
from wess_core.sync.result import SyncResult
from wess_core.sync.state_db import StoreSyncState
from wess_core.sync.status import MemorySyncState

FOLDERS = ("contacts", "tasks")


class Watched:
    """One user's mailbox, CRM and state, synced over contacts and tasks with a
    subscription (``watch=False``: without one)."""

    def __init__(self, state: Any = None) -> None:
        self.types = [ContactsType(), TasksType()]
        self.crm = MemoryCrm()
        self.mb = MemoryMailbox()
        self.state = state if state is not None else MemorySyncState()

    def sync(self, *, watch: bool = True, dry_run: bool = False) -> SyncResult:
        self.mb.calls.clear()
        return sync_all(
            self.types,
            self.crm,
            self.mb,
            self.state,
            dry_run=dry_run,
            watch=self.state if watch else None,
        )

    def record(self) -> WatchRecord:
        return self.state.load_watch()

    def settled(self) -> Watched:
        """Synced until a run does nothing (the engine's own writes are events once)."""
        for _ in range(3):
            result = self.sync()
            assert result.ok, result.to_dict()
        assert self.sync().total_changes == 0 and self.mb.calls["changes"] == 0
        return self


def count_folders(mb: MemoryMailbox) -> list[str]:
    """Wrap ``mb.changes`` to record which folders were read (once per folder)."""
    read: list[str] = []
    real = mb.changes

    def changes(folder: str, token: str | None) -> Any:
        if not read or read[-1] != folder:
            read.append(folder)
        return real(folder, token)

    mb.changes = changes  # type: ignore[method-assign]
    return read


def world() -> Watched:
    w = Watched()
    w.mb.add("contacts", contact(1))
    w.crm.add("tasks", {"subject": "T1", "due_date": "2024-06-01"})
    return w


def test_the_first_run_subscribes_and_reads_every_folder():
    w = world()
    read = count_folders(w.mb)
    result = w.sync()
    assert w.mb.calls["watch"] == 1 and read == list(FOLDERS)
    assert result.folders["contacts"].to_crm.created == 1
    assert result.folders["tasks"].to_exchange.created == 1
    assert w.record().state is not None and w.record().pending == frozenset()


def test_an_idle_run_costs_one_watch_and_no_changes_call():
    w = world().settled()
    result = w.sync()
    assert w.mb.calls == {"watch": 1}
    assert all(f.mailbox_quiet for f in result.folders.values())
    assert result.total_changes == 0


def test_an_edit_in_one_folder_reads_only_that_folder():
    w = world().settled()
    (iid,) = w.mb.items("contacts")
    w.mb.edit("contacts", iid, {"surname": "Roe"})
    read = count_folders(w.mb)
    result = w.sync()
    assert read == ["contacts"] and w.mb.calls["watch"] == 1
    assert result.folders["contacts"].to_crm.updated == 1
    assert result.folders["tasks"].mailbox_quiet
    (record,) = w.crm.live("people").values()
    assert record.fields["last_name"] == "Roe"


def test_a_crm_change_reaches_a_folder_with_no_event():
    w = world().settled()
    (rid,) = w.crm.live("tasks")
    w.crm.edit("tasks", rid, {"description": "from the CRM"})
    w.crm.add("people", person(2))
    read = count_folders(w.mb)
    result = w.sync()
    assert read == [] and w.mb.calls["watch"] == 1
    assert result.folders["tasks"].to_exchange.updated == 1
    assert result.folders["contacts"].to_exchange.created == 1
    (task,) = w.mb.items("tasks").values()
    assert task.fields["body"] == "from the CRM"
    assert len(w.mb.items("contacts")) == 2


def test_an_expired_subscription_reads_every_folder_from_its_stored_token():
    w = world().settled()
    (iid,) = w.mb.items("contacts")
    w.mb.expire_watch()
    w.mb.edit("contacts", iid, {"surname": "Roe"})  # no subscription saw it
    read = count_folders(w.mb)
    result = w.sync()
    assert read == list(FOLDERS) and w.mb.calls["watch"] == 1
    assert not any(f.full_resync for f in result.folders.values())
    assert result.folders["contacts"].to_crm.updated == 1
    assert result.total_changes == 1  # from the stored tokens: nothing listed again
    assert [r.fields["last_name"] for r in w.crm.live("people").values()] == ["Roe"]
    assert len(w.mb.items("tasks")) == len(w.crm.live("tasks")) == 1
    w.sync()
    assert w.sync().total_changes == 0 and w.mb.calls == {"watch": 1}


def test_a_failed_folder_stays_pending_and_is_read_next_run_without_an_event():
    w = world().settled()
    (iid,) = w.mb.items("contacts")
    w.mb.edit("contacts", iid, {"surname": "Roe"})
    w.mb.calls.clear()  # the fault counts calls from here
    w.mb.faults.fail_call("changes", error=ConnectionError("dropped"))
    result = w.sync()
    assert result.folders["contacts"].failed and not result.folders["tasks"].failed
    assert w.record().pending == {"contacts"}
    read = count_folders(w.mb)
    result = w.sync()  # no new event in contacts
    assert read == ["contacts"] and result.folders["contacts"].to_crm.updated == 1
    assert w.record().pending == frozenset()


def test_a_run_killed_after_the_poll_reads_the_folder_next_run():
    w = world().settled()
    (iid,) = w.mb.items("contacts")
    w.mb.edit("contacts", iid, {"surname": "Roe"})
    w.mb.calls.clear()  # the fault counts calls from here
    w.mb.faults.fail_call("changes", error=Killed())
    with pytest.raises(Killed):
        w.sync()
    result = w.sync()
    assert result.folders["contacts"].to_crm.updated == 1


def test_a_failing_poll_fails_the_run_and_keeps_the_record():
    w = world().settled()
    before = w.record()
    (iid,) = w.mb.items("contacts")
    w.mb.edit("contacts", iid, {"surname": "Roe"})
    w.mb.calls.clear()  # the fault counts calls from here
    w.mb.faults.fail_call("watch", error=ConnectionError("unreachable"))
    result = w.sync()
    assert all("unreachable" in (f.failed or "") for f in result.folders.values())
    assert w.mb.calls["changes"] == 0 and w.record() == before
    result = w.sync()
    assert result.folders["contacts"].to_crm.updated == 1


def test_a_dry_run_does_not_poll_nor_advance_the_subscription():
    w = world().settled()
    before = w.record()
    (iid,) = w.mb.items("contacts")
    w.mb.edit("contacts", iid, {"surname": "Roe"})
    result = w.sync(dry_run=True)
    assert w.mb.calls["watch"] == 0 and w.record() == before
    assert result.folders["contacts"].to_crm.updated == 1  # planned, not done
    read = count_folders(w.mb)
    w.sync()
    assert read == ["contacts"]
    assert [r.fields["last_name"] for r in w.crm.live("people").values()] == ["Roe"]


def test_without_a_watch_store_every_folder_is_read():
    w = world().settled()
    read = count_folders(w.mb)
    w.sync(watch=False)
    assert w.mb.calls["watch"] == 0 and read == list(FOLDERS)


def test_a_folder_never_listed_is_read_whatever_the_subscription_says():
    """A new item type (no stored token) is listed although no event named it."""
    w = world().settled()
    w.state.saved.pop("tasks")
    read = count_folders(w.mb)
    result = w.sync()
    assert read == ["tasks"] and result.folders["tasks"].full_resync
    assert len(w.mb.items("tasks")) == len(w.crm.live("tasks")) == 1


def test_the_record_is_kept_in_the_state_database(tmp_path):
    w = Watched(StoreSyncState(Store(tmp_path), "alice"))
    w.mb.add("contacts", contact(1))
    w.settled()
    again = StoreSyncState(Store(tmp_path), "alice")
    assert again.load_watch() == w.record() and w.record().state
    w.sync()
    assert w.mb.calls == {"watch": 1}
