"""The distributed commands' contract: a broker password never on the command line and
never shown, the beat's one-task-per-user rule, the dead-letter list, Sync Now ahead of
the beat's tasks and --no-wait, and ``wess status`` with a broker."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time

import pytest

from tests.support import scheduled_home
from tests.support.distributed import sync_entries
from wess_core.distributed import budgets, keys
from wess_core.distributed.beat import ALREADY_QUEUED, Beat
from wess_core.distributed.broker import redis_client
from wess_core.distributed.budgets import BUSY_DEFAULT_SECONDS
from wess_core.service import Context, accounts, history, users
from wess_emulator.redis_server import free_port

SECRET = "Br0ker-s3cret"

COMMANDS = [
    ("worker",),
    ("run", "--executor", "celery", "--once"),
    ("sync", "alice"),
    ("status",),
    ("dead-letter", "list"),
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_broker_password_on_the_command_line_is_refused(admin_home, argv):
    result = admin_home(*argv, "--broker", f"redis://:{SECRET}@127.0.0.1:6379/0")
    assert result.exit_code == 2
    assert "put it in WESS_BROKER_URL" in result.stderr
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "argv",
    [("status", "--json"), ("sync", "alice", "--json"), ("run", "--executor", "celery", "--once")],
    ids=lambda a: a[0],
)
def test_a_broker_that_does_not_answer_is_one_line_with_the_url_masked(
    admin_home, monkeypatch, argv
):
    url = f"redis://wess:{SECRET}@127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("WESS_BROKER_URL", url)
    result = admin_home(*argv)
    assert result.exit_code == 1, result.stderr
    line = f"redis://wess:***@127.0.0.1:{url.split(':')[-1]}"
    assert line in result.stderr and "did not answer" in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_wait_needs_a_broker(admin_home, monkeypatch):
    monkeypatch.delenv("WESS_BROKER_URL", raising=False)
    result = admin_home("sync", "alice", "--no-wait")
    assert result.exit_code == 2 and "--no-wait needs a broker" in result.stderr


def test_the_beat_never_queues_a_second_task_for_a_queued_user(home, ews_server, redis_server):
    logins = [f"u{i}" for i in range(5)]
    ctx = scheduled_home(home, ews_server, logins, cap=4)
    beat = Beat(ctx, redis_server.url)
    try:
        first = beat.enqueue_pass(hold_failing=True)
        second = beat.enqueue_pass(hold_failing=True)
    finally:
        beat.close()
    assert sorted(first.queued) == logins and not first.skipped
    assert not second.queued and second.skipped == dict.fromkeys(logins, ALREADY_QUEUED)
    from wess_core.distributed.status import overview

    view = overview(ctx, redis_server.url)
    assert view["queue"]["waiting"] == 5 and view["queue"]["sync_now"] == 0


@pytest.mark.slow  # real worker processes
def test_status_shows_the_broker_masked_the_queue_and_the_workers(
    home, ews_server, cluster, monkeypatch
):
    logins = [f"u{i}" for i in range(3)]
    scheduled_home(home, ews_server, logins, cap=4)
    cluster.start_worker(concurrency=2)
    done = cluster.wess("status", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [row["login"] for row in doc["users"]] == logins
    view = doc["distributed"]
    assert view["broker"] == cluster.broker_url
    assert len(view["workers"]) == 1 and view["workers"][0]["concurrency"] == 2
    assert view["dead_letter"] == {} and view["queue"]["waiting"] == 0
    text = cluster.wess("status")
    assert "Workers alive: 1" in text.stdout


@pytest.mark.slow  # real worker processes
def test_a_user_failing_n_times_is_dead_lettered_until_a_sync_succeeds(home, ews_server, cluster):
    logins = ["u0", "u1"]
    ctx = scheduled_home(home, ews_server, logins, cap=4)
    accounts.set_setting(ctx, "dead_letter_after", "2")
    dead_end = f"https://127.0.0.1:{free_port()}/EWS/Exchange.asmx"  # nobody answers
    users.update_user(ctx, "u1", ews_url=dead_end, verify=False)
    cluster.start_worker(concurrency=2)
    for _ in range(2):
        outcome = cluster.run_once()
        assert outcome["synced"] == ["u0"] and list(outcome["failed"]) == ["u1"]
    status = json.loads(cluster.wess("status", "--json").stdout)["distributed"]
    assert list(status["dead_letter"]) == ["u1"] and status["dead_letter"]["u1"]["failures"] == 2
    outcome = cluster.run_once()  # the beat skips it now
    assert outcome["synced"] == ["u0"] and "dead-lettered" in outcome["skipped"]["u1"]
    users.update_user(ctx, "u1", ews_url=ews_server.ews_url, verify=False)
    done = cluster.wess("sync", "u1", "--json")  # Sync Now through the broker
    assert done.returncode == 0, done.stderr
    status = json.loads(cluster.wess("status", "--json").stdout)["distributed"]
    assert status["dead_letter"] == {}
    assert cluster.run_once()["synced"] == ["u0", "u1"]


@pytest.mark.slow  # real worker processes
def test_sync_now_goes_ahead_of_the_beat_and_prints_what_wess_sync_prints(
    home, ews_server, cluster
):
    logins = [f"u{i}" for i in range(12)]
    ctx = scheduled_home(home, ews_server, logins, cap=4)
    beat = Beat(ctx, cluster.broker_url)
    try:
        beat.enqueue_pass(hold_failing=True)  # no worker yet: 12 tasks wait
    finally:
        beat.close()
    queued = cluster.wess("sync", "u11", "--no-wait", "--json")
    assert queued.returncode == 0, queued.stderr
    doc = json.loads(queued.stdout)
    assert doc["login"] == "u11" and doc["queued"] is True and doc["task_id"]
    text = cluster.wess("sync", "u10", "--no-wait")
    assert text.stdout.startswith("Sync of u10 queued (task ")
    r = cluster.redis()
    now_list, beat_list = keys.queue_lists()
    assert r.llen(now_list) == 2 and r.llen(beat_list) == 12
    cluster.start_worker(concurrency=1)
    deadline = time.monotonic() + 120
    while any(not sync_entries(home, x) for x in logins) and time.monotonic() < deadline:
        time.sleep(0.1)
    firsts = {x: sync_entries(home, x)[0]["time"] for x in logins}
    assert max(firsts["u11"], firsts["u10"]) < min(
        t for x, t in firsts.items() if x not in ("u10", "u11")
    )
    # waiting: the document 'wess sync --json' prints, from a worker
    done = cluster.wess("sync", "u3", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    local = Context(home=home)
    assert data["login"] == "u3" and set(data) >= {"seconds", "folders", "ok"}
    assert sync_entries(local.home, "u3")[-1]["time"] >= firsts["u3"]
    text = cluster.wess("sync", "u3")
    assert text.returncode == 0 and "Synced u3 in" in text.stdout


@pytest.mark.slow  # real worker processes
def test_a_busy_server_holds_its_users_on_every_worker(home, ews_server, cluster):
    logins = ["u0", "u1", "u2"]
    ctx = scheduled_home(home, ews_server, logins, cap=4)
    ews_server.inject(
        "response_code", operation="SyncFolderItems", code="ErrorMailboxStoreUnavailable"
    )
    cluster.start_worker(concurrency=1)
    outcome = cluster.run_once()
    (busy,) = outcome["failed"]
    assert "Exchange is busy (ErrorMailboxStoreUnavailable)" in outcome["failed"][busy]
    assert sorted(outcome["synced"]) == sorted(set(logins) - {busy})
    refused = history.entries(ctx, busy, None)[0]
    at = dt.datetime.fromisoformat(refused["time"]).timestamp()
    for login in outcome["synced"]:  # held for the back-off, though a worker was free
        synced = dt.datetime.fromisoformat(sync_entries(home, login)[0]["time"]).timestamp()
        assert synced - at >= BUSY_DEFAULT_SECONDS - 1, login
    view = json.loads(cluster.wess("status", "--json").stdout)["distributed"]
    assert view["dead_letter"] == {}  # a busy server is nobody's failure
    assert cluster.redis().hget(keys.FAILURES, busy) is None


@pytest.mark.slow  # real worker processes
def test_the_running_beat_queues_a_user_once_until_its_task_ends(home, ews_server, cluster):
    logins = ["u0", "u1"]
    scheduled_home(home, ews_server, logins, cap=4)
    beat = cluster.spawn("run", "--executor", "celery", "--interval", "0.5", "--json")
    first, second = json.loads(beat.stdout.readline()), json.loads(beat.stdout.readline())
    assert first == {"queued": logins, "skipped": {}}
    assert second == {"queued": [], "skipped": dict.fromkeys(logins, ALREADY_QUEUED)}
    cluster.start_worker(concurrency=2)
    deadline = time.monotonic() + 60
    again = None
    while again is None and time.monotonic() < deadline:  # a pass line every 0.5 s
        doc = json.loads(beat.stdout.readline())
        if doc["queued"]:
            again = doc
    # queued again only once their tasks ended (synced by the worker)
    assert again == {"queued": logins, "skipped": {}}
    assert all(sync_entries(home, x) for x in logins)
    beat.send_signal(signal.SIGTERM)
    _, err = beat.communicate(timeout=30)
    assert beat.returncode == 0, err


def test_the_running_beat_holds_a_failing_user_back_and_once_does_not(
    home, ews_server, redis_server
):
    ctx = scheduled_home(home, ews_server, ["u0", "u1"], cap=4)
    r = redis_client(redis_server.url)
    budgets.record(r, "u1", "failed", "boom", interval=300, limit=5)
    beat = Beat(ctx, redis_server.url)
    try:
        held = beat.enqueue_pass(hold_failing=True)
        assert list(held.queued) == ["u0"] and "held back" in held.skipped["u1"]
        r.delete(keys.queued("u0"))
        once = beat.enqueue_pass(hold_failing=False)  # --once: every user not dead-lettered
        assert sorted(once.queued) == ["u0", "u1"]
    finally:
        beat.close()
