"""Failures the state machines found, pinned as the exact steps that showed them.

Each test replays one failing run (``Draws`` gives the values the run drew) through the
same machine, so it checks the same invariant at the end. Explore with
``pytest tests/sync/test_state_machine.py --hypothesis-profile=explore``; add what it
finds here.
"""

from __future__ import annotations

import pytest

from tests.support.sync_machines import LocalSyncMachine, SyncMachine
from tests.support.sync_world import Draws


@pytest.fixture(params=[SyncMachine, LocalSyncMachine], ids=["memory", "local"])
def state(request: pytest.FixtureRequest):
    """A fresh machine (in-memory fakes, or the local CRM and a store file)."""
    machine = request.param()
    yield machine


def record_of(state, key: str) -> str:
    """The id of the CRM record made for thing ``key`` (ids differ between CRMs)."""
    (rid,) = [r for r, rec in state.w.records().items() if rec.fields.get("company") == key]
    return rid


def item_of(state, key: str) -> str:
    (iid,) = [i for i, it in state.w.items().items() if it.fields.get("company_name") == key]
    return iid


def _restore_killed_after_create(state) -> None:
    state.setup(policy="crm-wins", inline=False, page_size=1, batch=1)
    state.both_create()
    state.both_create()
    state.sync(fault=None)
    state.mailbox_delete(Draws(item_of(state, "E1")))  # 'AAMk000001'
    state.crm_edit(Draws(record_of(state, "E1"), "a"), field="job_title")  # record '1'
    state.sync(fault=("mailbox", "create", 1, "kill-after"))


def test_restore_killed_after_create_relinks(state) -> None:
    """Issue 14: deleted in Exchange + edited in the CRM re-uploads the record; the run
    dies right after the create lands. The next runs must link record 1 to the new item
    (it carries the CRM id in its extended property), not leave both unlinked."""
    _restore_killed_after_create(state)
    state.teardown()  # -> every live record is linked, nothing else


def test_restore_killed_after_create_later_edits_travel(state) -> None:
    """What a user sees of the same bug: after the re-link, an edit reaches the item."""
    _restore_killed_after_create(state)
    state.sync(fault=None)
    state.crm_edit(Draws(record_of(state, "E1"), "b"), field="job_title")
    state.sync(fault=None)
    items = [i for i in state.w.items().values() if i.fields.get("company_name") == "E1"]
    assert [i.fields.get("job_title") for i in items] == ["b"], "one item, edited"
    state.teardown()
