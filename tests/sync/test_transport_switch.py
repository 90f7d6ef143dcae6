"""A user switched transports (EWS → Graph): the stored ids are another id space's.

Whatever the new transport can convert keeps its pair; what it cannot is linked again by
the CRM id on the item or by match keys. Either way nothing is created on either side,
nothing is deleted, and the next run is idle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from tests.support.sync_world import World, contact, person
from wess_core.strategies import ChangesPage, ItemRef, MailboxChange, MailboxItem
from wess_core.sync.memory import MemoryMailbox


class OtherIdSpace:
    """The same mailbox seen through another transport whose ids are ``"G-" + id``
    (Graph's immutable ids beside EWS ids); ``convertible`` says which old ids its
    ``adopt_ids`` can translate (``None``: it has no ``adopt_ids`` at all)."""

    id_space = "other"

    def __init__(self, mailbox: MemoryMailbox, convertible: set[str] | None) -> None:
        self.mb = mailbox
        self.max_batch = mailbox.max_batch
        self.asked: list[tuple[str, list[str], str]] = []
        if convertible is not None:
            self.convertible = convertible
            self.adopt_ids = self._adopt_ids

    def _adopt_ids(self, folder: str, ids: Sequence[str], from_space: str) -> dict[str, str]:
        self.asked.append((folder, list(ids), from_space))
        return {i: "G-" + i for i in ids if i in self.convertible}

    @staticmethod
    def _out(item: MailboxItem) -> MailboxItem:
        return MailboxItem("G-" + item.item_id, item.changekey, item.fields, item.crm_id)

    @staticmethod
    def _ref(answer: Any) -> Any:
        return (
            ItemRef("G-" + answer.item_id, answer.changekey)
            if isinstance(answer, ItemRef)
            else answer
        )

    @staticmethod
    def _in(item_id: str) -> str:
        assert item_id.startswith("G-"), f"an id of the old space reached the new one: {item_id}"
        return item_id[2:]

    def changes(self, folder: str, token: str | None) -> ChangesPage:
        page = self.mb.changes(folder, token)
        out = [
            MailboxChange(
                "G-" + c.item_id, c.changekey, c.deleted, self._out(c.item) if c.item else None
            )
            for c in page.changes
        ]
        return ChangesPage(out, page.token, page.done)

    def get(self, folder: str, item_ids: Sequence[str]) -> list[Any]:
        got = self.mb.get(folder, [self._in(i) for i in item_ids])
        return [self._out(g) if isinstance(g, MailboxItem) else g for g in got]

    def create(self, folder: str, items: Sequence[Any]) -> list[Any]:
        made = self.mb.create(folder, items)
        return [self._ref(r) for r in made]

    def update(self, folder: str, updates: Sequence[Any]) -> list[Any]:
        inner = [replace(u, item_id=self._in(u.item_id)) for u in updates]
        done = self.mb.update(folder, inner)
        return [self._ref(r) for r in done]

    def delete(self, folder: str, refs: Sequence[ItemRef]) -> list[Any]:
        return self.mb.delete(folder, [ItemRef(self._in(r.item_id), r.changekey) for r in refs])

    @property
    def calls(self) -> Any:
        return self.mb.calls


def _synced_world() -> tuple[World, dict[str, str]]:
    """Two people from the CRM (their items carry the CRM id) and two contacts from the
    mailbox (no CRM id on them), all linked."""
    world = World()
    for n in (1, 2):
        world.crm.add("people", person(n))
    made = {world.mb.add("contacts", contact(n)): f"bob{n}" for n in (1, 2)}
    world.sync()
    world.assert_converged()
    return world, made


@pytest.mark.parametrize("convertible", ["all", "none", "no-adopt"])
def test_a_switch_keeps_every_link_and_writes_nothing(convertible):
    world, _ = _synced_world()
    ids = set(world.items())
    new = OtherIdSpace(world.mb, {"all": ids, "none": set(), "no-adopt": None}[convertible])
    world.mb = new  # the user's transport is now the other one
    world.reset_calls()

    result = world.sync()

    assert world.mailbox_writes() == world.crm_writes() == 0
    assert result.errors == [] and not result.held
    state = world.state.load("contacts")
    assert state.id_space == "other"
    assert sorted(row.item_id for row in state) == sorted("G-" + i for i in ids)
    assert sorted(row.crm_id for row in state) == sorted(world.records())
    if convertible != "no-adopt":
        ((folder, asked, space),) = new.asked
        assert folder == "contacts" and space == "ews" and set(asked) == ids

    world.reset_calls()
    world.sync()  # idle
    assert world.mailbox_writes() == world.crm_writes() == 0


def test_a_record_edited_before_the_first_run_after_the_switch_reaches_the_mailbox():
    world, _ = _synced_world()
    (rid, _rec), *_ = world.records().items()
    world.crm.edit("people", rid, {**world.records()[rid].fields, "job_title": "CTO"})
    world.mb = OtherIdSpace(world.mb, set(world.items()))
    world.sync()
    item = next(i for i in world.mb.mb.items("contacts").values() if i.crm_id == rid)
    assert item.fields["job_title"] == "CTO"
    assert len(world.mb.mb.items("contacts")) == 4


def test_a_transport_without_an_id_space_leaves_the_state_alone():
    world, _ = _synced_world()
    before = sorted((r.crm_id, r.item_id) for r in world.state.load("contacts"))
    world.sync()
    state = world.state.load("contacts")
    assert state.id_space is None
    assert sorted((r.crm_id, r.item_id) for r in state) == before
