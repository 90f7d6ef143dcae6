"""Trustworthy sync in memory: matching, ambiguous holds, the deletion guard, decisions,
ignored ids, the ledger."""

from __future__ import annotations

import pytest

from tests.support.sync_world import World, contact, person
from wess_core.sync.itemtypes import CalendarType, EmailType, TasksType
from wess_core.sync.review import NO_GUARD, DeletionGuard, match

#: Each test with the state in memory and in PostgreSQL (the service's shared store).
pytestmark = pytest.mark.usefixtures("world_state")


class ListLedger:
    def __init__(self) -> None:
        self.writes: list[list[dict]] = []

    def write(self, entries):
        self.writes.append(list(entries))

    @property
    def entries(self):
        return [e for batch in self.writes for e in batch]


def _decide(w: World, decision: dict, name: str = "contacts") -> None:
    state = w.state.load(name)
    for entry in state.held.values():
        entry["decision"] = decision
    w.state.save(state)


# -- matching ---------------------------------------------------------------------------


def test_match_pairs_levels_ambiguity_and_veto():
    items = {"i1": ["a", "x"], "i2": ["b", "y"], "i3": [None, "z"], "i4": ["c", "w"]}
    records = {
        "r1": ["a", "q"],
        "r2": [None, "y"],
        "r3": [None, "z"],
        "r4": [None, "z"],
        "r5": ["d", "w"],
    }
    pairs, groups = match(items, records)
    assert sorted(pairs) == [("i1", "r1"), ("i2", "r2")]
    assert [(g.items, g.records) for g in groups] == [(["i3"], ["r3", "r4"])]
    # i4 / r5 share "w" but hold different first keys: vetoed, not matched


def test_first_sync_links_the_same_people_instead_of_duplicating():
    w = World()
    for n in range(5):
        w.crm.add("people", person(n))
        w.mb.add("contacts", w.t.to_item(person(n)))
    w.crm.add("people", person("crm-only"))
    w.mb.add("contacts", contact("outlook-only"))
    ledger = ListLedger()
    r = w.sync(ledger=ledger)
    assert (r.to_exchange.created, r.to_crm.created) == (1, 1)
    assert r.to_exchange.updated == r.to_crm.updated == 0 and not r.conflicts
    assert len(w.items()) == len(w.records()) == 7
    assert w.mb.calls["create"] == 1 and w.mb.calls["update"] == 0
    assert sorted(e["op"] for e in ledger.entries) == ["create"] * 2 + ["link"] * 5
    w.assert_converged()


def test_matching_normalises_and_follows_the_policy_when_contents_differ():
    w = World()
    w.crm.add("people", person(1, job_title="CTO"))
    w.mb.add(
        "contacts",
        {
            **w.t.to_item(person(1)),
            "job_title": "Boss",
            "email_addresses": [{"label": "EmailAddress1", "email": " ANN1@Example.com"}],
        },
    )
    w.crm.add("people", {"first_name": "Cleo", "last_name": "Ray", "company": "Acme"})
    w.mb.add("contacts", {"given_name": "cleo", "surname": "RAY ", "company_name": "acme"})
    r = w.sync()
    assert r.to_exchange.created == r.to_crm.created == 0
    assert sorted(c.kind for c in r.conflicts) == ["match", "match"]
    assert next(iter(w.records().values())).fields["job_title"] == "CTO"  # crm-wins
    w.assert_converged()


def test_meetings_match_by_uid_then_by_subject_and_time_and_tasks_by_subject_and_due():
    cal = World(CalendarType())
    cal.crm.add(
        "meetings",
        {
            "subject": "Review",
            "start": "2024-05-06T10:00:00+02:00",
            "end": "2024-05-06T11:00:00+02:00",
        },
    )
    cal.mb.add(
        "calendar",
        {
            "subject": "Review",
            "start": "2024-05-06T08:00:00+00:00",
            "end": "2024-05-06T09:00:00+00:00",
            "uid": "U1",
        },
    )
    cal.crm.add(
        "meetings", {"subject": "Old name", "uid": "U2", "start": "2024-05-07T10:00:00+00:00"}
    )
    cal.mb.add(
        "calendar", {"subject": "New name", "uid": "U2", "start": "2024-05-07T10:00:00+00:00"}
    )
    # same subject and time, different UIDs: two different meetings
    cal.crm.add("meetings", {"subject": "Standup", "uid": "U3", "start": "2024-05-08T09:00"})
    cal.mb.add("calendar", {"subject": "Standup", "uid": "U4", "start": "2024-05-08T09:00"})
    r = cal.sync()
    assert (r.to_exchange.created, r.to_crm.created) == (1, 1)
    assert len(cal.items()) == len(cal.records()) == 4

    tasks = World(TasksType())
    tasks.crm.add("tasks", {"subject": "Send quote", "due_date": "2024-06-01"})
    tasks.mb.add("tasks", {"subject": "send quote", "due_date": "2024-06-01T00:00:00+00:00"})
    tasks.crm.add("tasks", {"subject": "Send quote", "due_date": "2024-07-01"})
    r = tasks.sync()
    assert (r.to_exchange.created, r.to_crm.created) == (1, 0)
    tasks.assert_converged()


def test_an_item_type_without_match_keys_creates_as_before():
    w = World(EmailType("email-inbox", "inbox", "in"))
    w.mb.add("inbox", {"subject": "Hi", "message_id": "<1@x>"})
    w.crm.add("emails", {"subject": "Hi", "message_id": "<1@x>"})
    r = w.sync()
    assert r.to_crm.created == 1 and not r.held


# -- ambiguous matches ----------------------------------------------------------------------


def _ambiguous_world() -> World:
    w = World()
    w.crm.add("people", person(1))
    w.crm.add("people", {**person(1), "first_name": "Annie"})  # same e-mail address
    w.mb.add("contacts", w.t.to_item(person(1)))
    w.crm.add("people", person(2))
    return w


def test_an_ambiguous_match_is_held_never_guessed_nor_duplicated():
    w = _ambiguous_world()
    r = w.sync()
    assert r.to_exchange.created == 1 and r.to_crm.created == 0  # only person 2
    ((rid, entry),) = w.state.load("contacts").held.items()
    assert r.held == [{"id": rid, "kind": "ambiguous", "side": None, "reason": entry["reason"]}]
    assert len(entry["records"]) == 2 and len(entry["items"]) == 1
    assert "email ann1@example.com" in entry["reason"]
    assert w.sync().total_changes == 0  # held stays held, quietly
    assert len(w.items()) == 2 and len(w.records()) == 3


def test_approving_an_ambiguous_match_links_the_chosen_pair_and_creates_the_rest():
    w = _ambiguous_world()
    w.sync()
    entry = next(iter(w.state.load("contacts").held.values()))
    annie = next(c for c in entry["records"] if w.records()[c].fields["first_name"] == "Annie")
    _decide(w, {"action": "link", "crm_id": annie, "item_id": entry["items"][0]})
    r = w.sync()
    assert r.to_exchange.created == 1 and r.conflicts[0].kind == "relink"
    assert w.state.load("contacts").held == {}
    assert w.state.load("contacts").by_crm(annie).item_id == entry["items"][0]
    w.assert_converged()


def test_rejecting_an_ambiguous_match_creates_each_on_the_other_side():
    w = _ambiguous_world()
    w.sync()
    _decide(w, {"action": "reject"})
    r = w.sync()
    assert (r.to_exchange.created, r.to_crm.created) == (2, 1)
    assert len(w.items()) == len(w.records()) == 4
    w.assert_converged()


# -- the deletion guard --------------------------------------------------------------------


def _twenty() -> World:
    w = World()
    for n in range(20):
        w.crm.add("people", person(n))
    w.sync()
    return w


def test_the_guard_rule():
    guard = DeletionGuard()  # 20 %, 50, at most 5 always fine
    assert guard.reason(5, 5, False, "crm") is None
    assert guard.reason(6, 20, False, "crm") and guard.reason(4, 20, False, "crm") is None
    assert guard.reason(6, 100, False, "crm") is None
    assert guard.reason(51, 10_000, False, "crm")
    assert "empty" in guard.reason(1, 1, True, "crm")
    assert NO_GUARD.reason(10**6, 10**6, True, "crm") is None


def test_mass_crm_deletes_are_held_the_rest_syncs_then_approved():
    w = _twenty()
    records = sorted(w.records(), key=int)
    for rid in records[:12]:
        w.crm.remove("people", rid)
    w.crm.edit("people", records[15], {"job_title": "still synced"})
    ledger = ListLedger()
    r = w.sync(ledger=ledger)
    assert r.to_exchange.deleted == 0 and len(r.held) == 12 and r.to_exchange.updated == 1
    assert {h["side"] for h in r.held} == {"exchange"}
    assert len(w.items()) == 20
    assert [e["op"] for e in ledger.entries].count("hold") == 12
    held = w.state.load("contacts").held
    assert all(e["summaries"] for e in held.values())  # what would be deleted, readable
    # the survivor is edited while held: no error, nothing moves
    iid = next(iter(held.values()))["items"][0]
    w.mb.edit("contacts", iid, {"job_title": "edited while held"})
    r = w.sync()
    assert r.total_changes == 0 and not r.errors
    _decide(w, {"action": "approve"})
    r = w.sync()
    assert r.to_exchange.deleted == 12 and not r.held
    assert w.state.load("contacts").held == {}
    w.assert_converged()


def test_mass_mailbox_deletes_rejected_are_restored():
    w = _twenty()
    for iid in sorted(w.items())[:15]:
        w.mb.remove("contacts", iid)
    r = w.sync()
    assert r.to_crm.deleted == 0 and len(r.held) == 15
    _decide(w, {"action": "reject"})
    r = w.sync()
    assert r.to_exchange.created == 15 and r.to_crm.deleted == 0
    assert len(w.items()) == len(w.records()) == 20
    w.assert_converged()


def test_a_held_crm_delete_rejected_restores_the_record():
    w = _twenty()
    for rid in sorted(w.records(), key=int)[:10]:
        w.crm.remove("people", rid)
    w.sync()
    _decide(w, {"action": "reject"})
    r = w.sync()
    assert r.to_crm.created == 10 and r.to_exchange.deleted == 0
    assert len(w.records()) == 20
    w.assert_converged()


def test_a_few_deletes_go_ahead():
    w = _twenty()
    for rid in sorted(w.records(), key=int)[:4]:
        w.crm.remove("people", rid)
    r = w.sync()
    assert r.to_exchange.deleted == 4 and not r.held


# -- ignore and the ledger ------------------------------------------------------------------


def test_an_ignored_pair_is_frozen_until_resumed():
    w = World()
    rid = w.crm.add("people", person(1))
    w.sync()
    state = w.state.load("contacts")
    state.ignored[rid] = "2024-01-01T00:00:00+00:00 crm"
    w.state.save(state)
    w.crm.edit("people", rid, {"job_title": "not synced"})
    ledger = ListLedger()
    r = w.sync(ledger=ledger)
    assert r.total_changes == 0
    assert [e["op"] for e in ledger.entries] == ["skip"]
    state = w.state.load("contacts")
    del state.ignored[rid]
    state.retry_records[rid] = "ignore undone"
    w.state.save(state)
    r = w.sync()
    assert r.to_exchange.updated == 1
    w.assert_converged()


def test_the_ledger_gets_every_operation_once_per_batch_with_errors():
    w = World(batch_size=2)
    for n in range(5):
        w.crm.add("people", person(n))
    w.mb.faults.fail_items(
        "create", lambda new: new.fields["given_name"] == "Ann3", ValueError("refused")
    )
    ledger = ListLedger()
    w.sync(ledger=ledger)
    ops = [(e["op"], e["direction"], e["error"]) for e in ledger.entries]
    assert ops.count(("create", "to-exchange", None)) == 4
    assert ops.count(("error", "to-exchange", "ValueError")) == 1
    assert len(ledger.writes) == 3  # one write per batch of 2
    assert all(e["type"] == "contacts" and e["time"] for e in ledger.entries)
    ledger.writes.clear()
    w.sync(ledger=ledger)  # the retry succeeds
    w.mb.faults.clear()
    w.sync(ledger=ledger)
    assert ("create", "to-exchange", None) in [
        (e["op"], e["direction"], e["error"]) for e in ledger.entries
    ]
    ledger.writes.clear()
    w.sync(ledger=ledger)
    assert ledger.writes == []  # an idle run writes no ledger


def test_an_unreadable_item_is_waited_for_not_duplicated():
    """Found by the state machine: the same person on both sides, the item's content
    unreadable this run; the record must not be created in the mailbox meanwhile."""
    from wess_core.sync.memory import MemoryMailbox

    w = World(mailbox=MemoryMailbox(inline=False))
    w.crm.add("people", person(1))
    w.mb.add("contacts", w.t.to_item(person(1)))
    w.mb.faults.fail_call("get", error=ConnectionError("timed out"))
    r = w.sync()
    assert r.to_exchange.created == 0 and r.errors
    r = w.sync()
    assert r.total_changes == 0 and not r.errors
    assert len(w.items()) == len(w.records()) == 1
    w.assert_converged()
