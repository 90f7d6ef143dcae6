"""The scheduler's throttling budget: at most ``throttle_cap`` users of one Exchange server
sync at once, in worker threads and in worker processes alike, and ``wess status`` shows
who is running and who is waiting."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support import QUEUE_LOGINS, throttled_home
from wess_core import hookimpl, plugins
from wess_core.service import scheduler, sync


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
    """Count the EWS requests the emulator is answering at once (a user's sync sends one
    at a time, so this is how many users sync at once, in any process)."""
    answer = server._ews

    def counted(handler, body):
        counter.enter()
        try:
            return answer(handler, body)
        finally:
            counter.leave()

    server._ews = counted


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
