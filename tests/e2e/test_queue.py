"""The scheduler's throttling budget: at most ``throttle_cap`` users of one Exchange server
sync at once, and ``wess status`` shows who is running and who is waiting."""

from __future__ import annotations

import threading
import time

from tests.support import QUEUE_LOGINS, throttled_home
from wess_core import hookimpl, plugins
from wess_core.service import sync


class Concurrency:
    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    @hookimpl
    def wess_sync_started(self, user, item_types):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    @hookimpl
    def wess_sync_finished(self, user, result):
        with self.lock:
            self.now -= 1


def test_cap_per_server_and_status_shows_the_queue(home, ews_server):
    ctx = throttled_home(home, ews_server)
    ews_server.set_latency(0.03)  # each user takes long enough to overlap and be seen
    counter = Concurrency()
    seen = set()
    with plugins.registered(counter):
        worker = threading.Thread(
            target=lambda: seen.add(tuple(sorted(sync.run_once(ctx, workers=6)["synced"])))
        )
        worker.start()
        queue_states = set()
        deadline = time.monotonic() + 60
        while worker.is_alive() and time.monotonic() < deadline:
            queue_states |= {row["queue"] for row in sync.status(ctx)}
            time.sleep(0.02)
        worker.join(timeout=60)
    assert seen == {tuple(QUEUE_LOGINS)}
    assert counter.peak == 2  # six workers, but two at a time on this server
    assert {"running", "waiting"} <= queue_states
    assert {row["queue"] for row in sync.status(ctx)} == {None}  # the pass is over
