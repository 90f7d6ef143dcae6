"""Scheduler worker processes: many workers run as a few long-lived processes, the
per-server cap holds across them, and every user is synced and reported once."""

from __future__ import annotations

import threading
import time

from tests.support import QUEUE_LOGINS, throttled_home
from wess_core.service import history, sync, workers


def test_workers_in_processes_sync_everyone_and_keep_their_pool(home, ews_server, monkeypatch):
    ctx = throttled_home(home, ews_server)
    monkeypatch.setattr(sync, "THREADS_PER_PROCESS", 2)
    monkeypatch.setattr(sync, "process_count", lambda n: 2)
    first = sync.run_once(ctx, workers=4)
    assert sorted(first["synced"]) == sorted(QUEUE_LOGINS) and not first["failed"]
    pools = dict(workers._pools)
    assert len(pools) == 1
    ews_server.reset_counts()
    second = sync.run_once(ctx, workers=4)
    assert sorted(second["synced"]) == sorted(QUEUE_LOGINS) and not second["failed"]
    assert workers._pools == pools  # the same processes: each user's connection reused
    # no new protocol set-up per pass (exchangelib's version guess is a ConvertId)
    assert ews_server.counts.get("ConvertId", 0) == 0
    assert ews_server.counts["SyncFolderItems"] >= len(QUEUE_LOGINS)
    for login in QUEUE_LOGINS:
        assert history.last_entry(ctx, login)["kind"] == "sync"
    workers._close_all()
    assert workers._pools == {}


def test_a_server_slot_is_held_by_at_most_cap_holders(tmp_path):
    now, peak = [0], [0]
    lock = threading.Lock()

    def one():
        with workers.server_slot(tmp_path, "host:443", 3) as held:
            assert held
            with lock:
                now[0] += 1
                peak[0] = max(peak[0], now[0])
            time.sleep(0.02)
            with lock:
                now[0] -= 1

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 3


def test_a_halted_wait_starts_nothing(tmp_path):
    halt = threading.Event()
    with workers.server_slot(tmp_path, "h", 1):
        halt.set()
        with workers.server_slot(tmp_path, "other", 1, halt) as held:
            assert held is False


def test_a_thread_tries_the_slot_it_held_last_first(tmp_path, monkeypatch):
    import os

    with workers.server_slot(tmp_path, "h", 4), workers.server_slot(tmp_path, "h", 4):
        pass  # this thread held slots 0 and then 1
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a: opened.append(path) or real_open(path, *a))
    with workers.server_slot(tmp_path, "h", 4) as held:
        assert held
    assert len(opened) == 1 and str(opened[0]).endswith(".1.lock")
