"""Scheduler worker processes: many workers run as a few long-lived processes that
outlive a pass, every user is synced and reported once, and closing the scheduler
ends them."""

from __future__ import annotations

import threading
import time

from tests.support import QUEUE_LOGINS, throttled_home
from wess_core.service import history, scheduler


def test_workers_in_processes_sync_everyone_and_keep_their_processes(home, ews_server, monkeypatch):
    ctx = throttled_home(home, ews_server)
    monkeypatch.setattr(scheduler, "process_count", lambda workers: 2)
    with scheduler.Scheduler(ctx, workers=4) as runner:
        first = runner.run_pass()
        assert sorted(first["synced"]) == sorted(QUEUE_LOGINS) and not first["failed"]
        children = list(runner._pool.children)
        assert len(children) == 2
        ews_server.reset_counts()
        second = runner.run_pass()
        assert sorted(second["synced"]) == sorted(QUEUE_LOGINS) and not second["failed"]
        assert runner._pool.children == children  # the same processes: connections reused
        # no new protocol set-up per pass (exchangelib's version guess is a ConvertId)
        assert ews_server.counts.get("ConvertId", 0) == 0
        assert ews_server.counts["SyncFolderItems"] >= len(QUEUE_LOGINS)
    assert not any(child.is_alive() for child in children)  # closed with the scheduler
    for login in QUEUE_LOGINS:
        assert history.last_entry(ctx, login)["kind"] == "sync"


def test_a_worker_process_killed_mid_pass_fails_its_users_and_is_replaced(
    home, ews_server, monkeypatch
):
    ctx = throttled_home(home, ews_server)
    monkeypatch.setattr(scheduler, "process_count", lambda workers: 2)
    with scheduler.Scheduler(ctx, workers=4) as runner:
        runner.run_pass()  # the processes are up and every user is synced once
        ews_server.set_latency(0.2)  # a user's sync takes a second: none ends before the kill
        ews_server.reset_counts()
        killed = runner._pool.children[0]
        mine = {login for login in QUEUE_LOGINS if runner._pool.lane_of(login) == 0}
        outcome = {}
        worker = threading.Thread(target=lambda: outcome.update(runner.run_pass()))
        worker.start()
        deadline = time.monotonic() + 30
        while not ews_server.counts.get("SyncFolderItems") and time.monotonic() < deadline:
            time.sleep(0.02)  # the pass is under way
        killed.kill()
        worker.join(timeout=60)
        assert not worker.is_alive()
        ended = set(outcome["failed"]) | set(outcome["skipped"])
        assert ended == mine and mine  # the killed process's users, and only those
        assert set(outcome["synced"]) == set(QUEUE_LOGINS) - mine
        for login, why in outcome["failed"].items():
            assert why == "the worker process syncing this user ended", login
        ews_server.set_latency(0)
        again = runner.run_pass()  # a new pool: nobody is lost
        assert sorted(again["synced"]) == sorted(QUEUE_LOGINS) and not again["failed"]
        assert killed not in runner._pool.children
