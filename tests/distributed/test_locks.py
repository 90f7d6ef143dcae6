"""What workers share in Redis: one worker per user, ``throttle_cap`` per server, both
given back when their holder stops beating (a worker killed mid-sync), kept while it
beats; a busy server's hold and a failing user's count towards the dead-letter list."""

from __future__ import annotations

import time

import pytest

from wess_core.distributed import budgets, locks
from wess_core.distributed.broker import redis_client


@pytest.fixture
def r(redis_server, monkeypatch):
    monkeypatch.setattr(locks, "HOLD_SECONDS", 0.4)
    client = redis_client(redis_server.url)
    yield client
    client.close()


def test_one_holder_per_user_until_it_stops_beating(r):
    assert locks.take_user(r, "ann", "w1")
    assert not locks.take_user(r, "ann", "w2")
    time.sleep(0.5)  # w1 died: its lock expired
    assert locks.take_user(r, "ann", "w2")
    locks.release_user(r, "ann", "w1")  # not w1's any more: nothing happens
    assert not locks.take_user(r, "ann", "w3")
    locks.release_user(r, "ann", "w2")
    assert locks.take_user(r, "ann", "w3")


def test_a_servers_cap_counts_live_holders_only(r):
    assert locks.take_slot(r, "ex1:443", "a", 2) and locks.take_slot(r, "ex1:443", "b", 2)
    assert not locks.take_slot(r, "ex1:443", "c", 2)
    assert locks.take_slot(r, "ex2:443", "c", 2)  # another server has its own cap
    with locks.Heartbeat(r, "ann", "ex1:443", "a", None) as beat:
        beat.beat()
        time.sleep(0.3)
        beat.beat()  # a keeps its slot by beating; b does not
        time.sleep(0.2)
        assert locks.slots_in_use(r, "ex1:443") == 1
        assert locks.take_slot(r, "ex1:443", "d", 2)
        assert not locks.take_slot(r, "ex1:443", "e", 2)
    locks.release_slot(r, "ex1:443", "a")
    assert locks.take_slot(r, "ex1:443", "e", 2)


def test_a_busy_server_is_held_and_failures_dead_letter_a_user(r):
    assert budgets.busy_for(r, "ex1:443") == 0
    budgets.hold_server(r, "ex1:443", 5)
    budgets.hold_server(r, "ex1:443", 1)  # never shortens a longer hold
    assert 4 < budgets.busy_for(r, "ex1:443") <= 5.01  # stored to the millisecond
    for _ in range(2):
        budgets.record(r, "ann", "failed", "boom", interval=60, limit=3)
    assert "ann" in budgets.held_until(r) and budgets.dead_letters(r) == {}
    budgets.record(r, "ann", "failed", "boom", interval=60, limit=3)
    assert budgets.dead_letters(r)["ann"]["failures"] == 3
    budgets.record(r, "ann", "synced", "", interval=60, limit=3)
    assert budgets.dead_letters(r) == {} and budgets.held_until(r) == {}
