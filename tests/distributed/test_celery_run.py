"""The distributed executor end to end: ``wess worker`` processes and the beat
(``wess run --executor celery``) on a real redis-server, syncing users of the EWS
emulator; a worker killed mid-run and Redis restarted mid-run lose nobody and sync
nobody twice at once."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.support import scheduled_home
from tests.support.distributed import assert_converged, overlapping, sync_entries
from wess_core.service import accounts

pytestmark = pytest.mark.slow

PEOPLE = 3


def test_two_workers_sync_200_users_once_each(home, ews_server, cluster):
    logins = [f"u{i}" for i in range(200)]
    scheduled_home(home, ews_server, logins, cap=32, people=PEOPLE)
    cluster.start_worker()
    cluster.start_worker()
    started = time.monotonic()
    outcome = cluster.run_once()
    seconds = time.monotonic() - started
    assert outcome["synced"] == sorted(logins), (outcome, cluster.worker_log())
    assert outcome["failed"] == {} and outcome["skipped"] == {}
    assert_converged(home, ews_server, logins, PEOPLE)
    for login in logins:
        assert len(sync_entries(home, login)) == 1, login  # one sync per user, no more
        assert ews_server.peak_in_flight(f"{login}@example.com") == 1, login
    print(f"200 users, 2 workers x 8 threads: {seconds:.1f} s, {200 / seconds:.1f} users/s")


def _pass_with_a_blow_mid_run(home, ews_server, cluster, logins, blow) -> None:
    """A --once pass on two workers, ``blow()`` once syncs are under way; then every
    user synced, converged, never two syncs of one user at once."""
    cluster.start_worker(concurrency=4)
    cluster.start_worker(concurrency=4)
    beat = cluster.spawn("run", "--executor", "celery", "--once", "--json")
    deadline = time.monotonic() + 60
    while not ews_server.counts.get("SyncFolderItems") and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.4)
    blow()
    out, err = beat.communicate(timeout=240)
    assert beat.returncode == 0, err
    outcome = json.loads(out)
    assert outcome["synced"] == sorted(logins), (outcome, cluster.worker_log())
    ews_server.set_latency(0)
    assert_converged(home, ews_server, logins, PEOPLE)
    for login in logins:
        assert ews_server.peak_in_flight(f"{login}@example.com") == 1, login
        assert not overlapping(sync_entries(home, login)), login


def test_a_worker_killed_mid_run_loses_nobody(home, ews_server, cluster):
    logins = [f"u{i}" for i in range(40)]
    ctx = scheduled_home(home, ews_server, logins, cap=32, people=PEOPLE)
    accounts.set_setting(ctx, "worker_lost_seconds", "4")
    ews_server.set_latency(0.05)  # a sync takes about a second: the kill lands mid-sync

    def kill_the_first_worker() -> None:
        cluster.workers[0].send_signal(signal.SIGKILL)

    _pass_with_a_blow_mid_run(home, ews_server, cluster, logins, kill_the_first_worker)


def test_a_redis_restart_mid_run_completes_the_run(home, ews_server, cluster, redis_server):
    logins = [f"u{i}" for i in range(40)]
    scheduled_home(home, ews_server, logins, cap=32, people=PEOPLE)
    ews_server.set_latency(0.03)
    # its memory is gone: queued tasks, markers, outcomes
    _pass_with_a_blow_mid_run(home, ews_server, cluster, logins, redis_server.restart)


def test_sigterm_lets_the_syncs_under_way_end_then_exits_0(home, ews_server, cluster):
    logins = ["u0", "u1"]
    scheduled_home(home, ews_server, logins, cap=32, people=PEOPLE)
    ews_server.set_latency(0.1)  # a sync takes a couple of seconds
    worker = cluster.start_worker(concurrency=2)
    beat = cluster.spawn("run", "--executor", "celery", "--once", "--json")
    deadline = time.monotonic() + 60
    while ews_server.counts.get("SyncFolderItems", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.send_signal(signal.SIGTERM)  # both syncs are under way
    assert worker.wait(timeout=120) == 0, cluster.worker_log()
    out, err = beat.communicate(timeout=60)
    assert beat.returncode == 0, err
    assert json.loads(out)["synced"] == logins  # finished, not cut
    ews_server.set_latency(0)
    assert_converged(home, ews_server, logins, PEOPLE)


def test_a_worker_serves_its_syncs_as_prometheus_metrics(home, ews_server, cluster):
    import re

    import httpx

    logins = ["u0", "u1", "u2"]
    scheduled_home(home, ews_server, logins, cap=32, people=PEOPLE)
    cluster.start_worker(2, "threads", "--metrics-port", "0")
    url = json.loads(re.search(r'\{"metrics_url".*\}', cluster.worker_log()).group(0))
    assert cluster.run_once()["synced"] == logins
    text = httpx.get(url["metrics_url"], timeout=10).text
    assert re.search(r'^wess_syncs_total\{outcome="synced"\} 3\.0$', text, re.M), text
