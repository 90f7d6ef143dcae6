"""The scheduler's throttling budget: at most ``throttle_cap`` users of one Exchange server
sync at once, in worker threads and in worker processes alike, and ``wess status`` shows
who is running and who is waiting."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support import QUEUE_LOGINS, scheduled_home, throttled_home
from wess_core import hookimpl, plugins
from wess_core.service import accounts, scheduler, sync, users


class Concurrency:
    """Peak of how many things are under way at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def enter(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self):
        with self.lock:
            self.now -= 1

    @hookimpl
    def wess_sync_started(self, user, item_types):
        self.enter()

    @hookimpl
    def wess_sync_finished(self, user, result):
        self.leave()


def _count_requests(server, counter: Concurrency) -> None:
    """Count the requests the emulator is answering at once (a user's sync sends one at a
    time, all to EWS here, so this is how many users sync at once, in any process)."""
    answer = server.dispatch

    def counted(handler, method):
        counter.enter()
        try:
            return answer(handler, method)
        finally:
            counter.leave()

    server.dispatch = counted


@pytest.mark.parametrize("processes", [1, 2], ids=["threads", "processes"])
def test_cap_per_server_and_status_shows_the_queue(home, ews_server, monkeypatch, processes):
    ctx = throttled_home(home, ews_server)
    monkeypatch.setattr(scheduler, "process_count", lambda workers: processes)
    ews_server.set_latency(0.03)  # each user takes long enough to overlap and be seen
    users, requests = Concurrency(), Concurrency()
    _count_requests(ews_server, requests)
    seen = set()

    def one_pass():
        seen.add(tuple(sorted(scheduler.run_once(ctx, workers=6)["synced"])))

    with plugins.registered(users):
        worker = threading.Thread(target=one_pass)
        worker.start()
        queue_states = set()
        deadline = time.monotonic() + 60
        while worker.is_alive() and time.monotonic() < deadline:
            queue_states |= {row["queue"] for row in sync.status(ctx)}
            time.sleep(0.02)
        worker.join(timeout=60)
    assert seen == {tuple(QUEUE_LOGINS)}
    assert requests.peak == 2  # six workers, but two users at a time on this server
    if processes == 1:  # the observer hook runs where the sync runs
        assert users.peak == 2
    assert {"running", "waiting"} <= queue_states
    assert {row["queue"] for row in sync.status(ctx)} == {None}  # the pass is over


class Order:
    """The order in which syncs start and finish."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events = []

    @hookimpl
    def wess_sync_started(self, user, item_types):
        with self.lock:
            self.events.append(("started", user.login))

    @hookimpl
    def wess_sync_finished(self, user, result):
        with self.lock:
            self.events.append(("finished", user.login))


def test_a_capped_server_does_not_hold_up_users_of_another(home, ews_server, ews_ca):
    """Two workers, cap 1: while a0 syncs, a1 and a2 (same server) wait in the queue and
    b0 (another server) takes the free worker at once, instead of a worker waiting for
    a1's turn on the capped server."""
    from wess_emulator.emulator import EmulatorServer

    other = EmulatorServer(validate=True, ca=ews_ca)
    other.start()
    order = Order()
    try:
        ctx = scheduled_home(home, ews_server, ["a0", "a1", "a2"], cap=1)
        other.add_user("b0@example.com", "Pw-b0")
        users.add_user(ctx, "b0", "b0@example.com")
        accounts.add_licences(ctx, 1)
        users.allocate(ctx, "b0")
        users.set_sync_enabled(ctx, "b0", True)
        users.update_user(ctx, "b0", password="Pw-b0", ews_url=other.ews_url, verify=False)
        for server in (ews_server, other):
            server.set_latency(0.05)  # a user's sync takes a quarter of a second
        per_server = {ews_server: Concurrency(), other: Concurrency()}
        for server, counter in per_server.items():
            _count_requests(server, counter)
        with plugins.registered(order):
            outcome = scheduler.run_once(ctx, workers=2)
    finally:
        other.stop()
    assert outcome["synced"] == ["a0", "a1", "a2", "b0"] and not outcome["failed"]
    assert [c.peak for c in per_server.values()] == [1, 1]  # the cap, per server
    first_end = next(i for i, (what, _) in enumerate(order.events) if what == "finished")
    assert ("started", "b0") in order.events[:first_end], order.events
