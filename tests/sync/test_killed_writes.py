"""A run killed right after each kind of write lands, before its status row is saved.

Issue 14 found one such path (a restore's re-created item lost its link); this walks all
of them: every write the engine makes (create, update, delete on each side, restores,
conflicts, reviewers' decisions), for pairs first seen on either side or matched, over
the in-memory CRM (state in memory or a store file) and the local CRM. After the kill,
two clean runs must leave both sides equal, every thing once on each side and linked,
later edits travelling both ways, and an idle run writing nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.sync_world import FaultyLocalCrm, World, contact, person
from wess_core.store import Store
from wess_core.sync.memory import Killed, MemoryCrm, MemoryMailbox
from wess_core.sync.review import NO_GUARD, DeletionGuard
from wess_core.sync.status import MemorySyncState, StoreSyncState

HOLD_EVERY_DELETE = DeletionGuard(percent=0, maximum=0, minimum=0)


def _thing(w: World, origin: str, n: int) -> None:
    """Thing ``n``, first seen in the CRM, in the mailbox, or on both (then matched)."""
    if origin in ("crm", "match"):
        w.crm.add("people", person(n))
    if origin in ("mailbox", "match"):
        w.mb.add(
            "contacts",
            contact(
                n, email_addresses=[{"label": "EmailAddress1", "email": f"ann{n}@example.com"}]
            ),
        )


def _world(origin: str, policy: str, sides: str, tmp_path: Path) -> World:
    """Two linked pairs (thing 1 and 2), synced in batches of one, content not inline;
    ``sides``: the in-memory CRM and state, the same with the state in a store file, or
    the local CRM and a store file."""
    crm: Any = FaultyLocalCrm(tmp_path) if sides == "local" else MemoryCrm()
    memory = sides == "memory"
    saved = MemorySyncState() if memory else StoreSyncState(Store(tmp_path), "alice")
    w = World(
        crm=crm,
        mailbox=MemoryMailbox(max_batch=1, page_size=1, inline=False),
        state=saved,
        policy=policy,
        batch_size=1,
    )
    for n in (1, 2):
        _thing(w, origin, n)
    w.sync(guard=NO_GUARD)
    w.sync(guard=NO_GUARD)
    w.assert_converged()
    return w


def _rid(w: World) -> str:
    return min(w.records(), key=int)


def _iid(w: World) -> str:
    return w.state.load("contacts").by_crm(_rid(w)).item_id


def _decide(w: World, action: str) -> None:
    state = w.state.load("contacts")
    for entry in state.held.values():
        entry["decision"] = {"action": action}
    w.state.save(state)


def _held(side_delete: Callable[[World], None], action: str) -> Callable[[World], None]:
    """A delete held by the guard, then approved or rejected by a reviewer."""

    def change(w: World) -> None:
        side_delete(w)
        w.sync(guard=HOLD_EVERY_DELETE)
        assert w.state.load("contacts").held, "the delete was held"
        _decide(w, action)

    return change


def _crm_delete(w: World) -> None:
    w.crm.remove("people", _rid(w))


def _mailbox_delete(w: World) -> None:
    w.mb.remove("contacts", _iid(w))


def _crm_edit(w: World, title: str = "x") -> None:
    w.crm.edit("people", _rid(w), {"job_title": title})


def _mailbox_edit(w: World, title: str = "x") -> None:
    w.mb.edit("contacts", _iid(w), {"job_title": title})


def _restore_item(w: World) -> None:
    """The item is deleted in the mailbox while its record is edited in the CRM."""
    _mailbox_delete(w)
    _crm_edit(w)


def _restore_record(w: World) -> None:
    """The record is deleted in the CRM while its item is edited in the mailbox."""
    _mailbox_edit(w)
    _crm_delete(w)


def _conflict_mailbox_first(w: World) -> None:
    _mailbox_edit(w, "m")
    _crm_edit(w, "c")


def _conflict_crm_first(w: World) -> None:
    _crm_edit(w, "c")
    _mailbox_edit(w, "m")


_APPROVED_CRM_DELETE = _held(_crm_delete, "approve")
_REFUSED_CRM_DELETE = _held(_crm_delete, "reject")
_APPROVED_MAILBOX_DELETE = _held(_mailbox_delete, "approve")
_REFUSED_MAILBOX_DELETE = _held(_mailbox_delete, "reject")

#: name -> (policy, the change before the killed run, the write it makes, things left).
CHANGES: dict[str, tuple[str, Callable[[World], None], tuple[str, str], int]] = {
    "crm-new": ("crm-wins", lambda w: w.crm.add("people", person(9)), ("mailbox", "create"), 3),
    "mailbox-new": ("crm-wins", lambda w: w.mb.add("contacts", contact(9)), ("crm", "create"), 3),
    "crm-edit": ("crm-wins", _crm_edit, ("mailbox", "update"), 2),
    "mailbox-edit": ("crm-wins", _mailbox_edit, ("crm", "update"), 2),
    "crm-delete": ("crm-wins", _crm_delete, ("mailbox", "delete"), 1),
    "mailbox-delete": ("crm-wins", _mailbox_delete, ("crm", "delete"), 1),
    "restore-item": ("crm-wins", _restore_item, ("mailbox", "create"), 2),
    "restore-record": ("crm-wins", _restore_record, ("crm", "create"), 2),
    "conflict-crm-wins": ("crm-wins", _conflict_mailbox_first, ("mailbox", "update"), 2),
    "conflict-exchange-wins": ("exchange-wins", _conflict_crm_first, ("crm", "update"), 2),
    "held-crm-delete-approved": ("crm-wins", _APPROVED_CRM_DELETE, ("mailbox", "delete"), 1),
    "held-crm-delete-rejected": ("crm-wins", _REFUSED_CRM_DELETE, ("crm", "create"), 2),
    "held-mailbox-delete-approved": ("crm-wins", _APPROVED_MAILBOX_DELETE, ("crm", "delete"), 1),
    "held-mailbox-delete-rejected": ("crm-wins", _REFUSED_MAILBOX_DELETE, ("mailbox", "create"), 2),
}


@pytest.mark.parametrize("sides", ["memory", "store", "local"])
@pytest.mark.parametrize("origin", ["crm", "mailbox", "match"])
@pytest.mark.parametrize("name", list(CHANGES))
def test_a_run_killed_after_a_write_lands_relinks(name, origin, sides, tmp_path):
    policy, change, (side, method), things = CHANGES[name]
    w = _world(origin, policy, sides, tmp_path)
    change(w)
    fake = w.mb if side == "mailbox" else w.crm
    before = fake.calls[method]
    fake.faults.fail_call(method, 1, Killed(), after=True)
    with pytest.raises(Killed):
        w.sync(guard=NO_GUARD)
    fake.faults.clear()
    assert fake.calls[method] == before + 1, "the write landed, then the run died"

    w.sync(guard=NO_GUARD)
    w.sync(guard=NO_GUARD)
    w.assert_converged()  # every live record and item linked, once, contents equal
    assert len(w.records()) == len(w.items()) == things, "nothing duplicated, nothing lost"
    for rid in w.records():  # later edits travel both ways
        w.crm.edit("people", rid, {"job_title": f"crm {rid}"})
    w.sync(guard=NO_GUARD)
    assert sorted(i.fields.get("job_title") for i in w.items().values()) == sorted(
        f"crm {rid}" for rid in w.records()
    )
    for iid in w.items():
        w.mb.edit("contacts", iid, {"surname": f"mb {iid}"})
    w.sync(guard=NO_GUARD)
    assert sorted(r.fields.get("last_name") for r in w.records().values()) == sorted(
        f"mb {iid}" for iid in w.items()
    )
    w.assert_converged()
    w.reset_calls()
    assert w.sync(guard=NO_GUARD).total_changes == 0
    assert w.mailbox_writes() == 0 and w.crm_writes() == 0
