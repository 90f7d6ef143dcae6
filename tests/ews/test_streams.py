"""The EWS transport's streaming notifications (``EwsTransport.watch_streams``, what
``wess run --push`` runs): unmodified exchangelib over HTTPS against the emulator."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.support import impersonated_home, resolved_connections, scheduled_home
from wess_core.service import users
from wess_plugins.transport_ews.transport import EwsTransport

WATCHED = ["calendar", "contacts", "tasks"]


class Watching:
    """``watch_streams`` in a thread; what ``on_change`` was called with, in order."""

    def __init__(self, connections, **options) -> None:
        self.changed: list[str] = []
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=EwsTransport.watch_streams,
            args=(connections, self._on_change, self.stop),
            kwargs={"folders": WATCHED, **options},
            daemon=True,
        )
        self.thread.start()

    def _on_change(self, login: str) -> None:
        with self._lock:
            self.changed.append(login)

    def calls(self) -> Counter:
        with self._lock:
            return Counter(self.changed)

    def wait_for(self, login: str, times: int = 1, timeout: float = 15.0) -> float:
        """Seconds until ``on_change(login)`` was called ``times`` times in all."""
        started = time.monotonic()
        while self.calls()[login] < times:
            assert time.monotonic() - started < timeout, f"{login} not reported: {self.changed}"
            time.sleep(0.02)
        return time.monotonic() - started

    def close(self) -> float:
        started = time.monotonic()
        self.stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "watch_streams did not return after stop"
        return time.monotonic() - started


def wait_until(check, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def watching():
    opened: list[Watching] = []

    def start(connections, **options) -> Watching:
        opened.append(Watching(connections, **options))
        return opened[-1]

    yield start
    for one in opened:
        one.stop.set()
        one.thread.join(timeout=15)


def test_250_users_of_one_server_share_two_anchored_connections(home, ews_server, watching):
    logins = [f"p{i:03d}" for i in range(250)]
    ctx = impersonated_home(home, ews_server, logins, cap=8)
    watch = watching(resolved_connections(ctx, logins))
    wait_until(lambda: ews_server.streams_open == 2, timeout=120, what="two streams")
    requests = ews_server.stream_requests
    assert sorted(len(r["ids"]) for r in requests) == [50, 200]
    assert sorted(r["anchor"] for r in requests) == ["p000@example.com", "p200@example.com"]
    assert all(r["affinity"] == "True" and r["cookie"] for r in requests)
    assert ews_server.counts["Subscribe"] == 250

    ews_server.mailbox("p123@example.com").add_items("contacts", [{"DisplayName": "New"}])
    ews_server.mailbox("p234@example.com").add_items("tasks", [{"Subject": "Do"}])
    ews_server.mailbox("p001@example.com").add_items("inbox", [{"Subject": "not watched"}])
    assert watch.wait_for("p123") < 5
    assert watch.wait_for("p234") < 5
    assert watch.close() < 5
    assert set(watch.calls()) == {"p123", "p234"}


def test_a_closed_stream_is_opened_again_and_delivers(home, ews_server, watching):
    ews_server.streaming_timeout_seconds = 1
    ctx = impersonated_home(home, ews_server, ["a", "b"], cap=8)
    watch = watching(resolved_connections(ctx, ["a", "b"]))
    wait_until(lambda: len(ews_server.stream_requests) >= 3, what="the stream reopened")
    assert ews_server.counts["Subscribe"] == 2  # the subscriptions outlive the connections
    ews_server.mailbox("b@example.com").add_items("calendar", [{"Subject": "Meet"}])
    watch.wait_for("b")
    assert watch.calls() == Counter({"b": 1})


def test_an_expired_subscription_is_renewed_and_reported_once(home, ews_server, watching):
    ews_server.streaming_timeout_seconds = 1
    ctx = impersonated_home(home, ews_server, ["a", "b"], cap=8)
    watch = watching(resolved_connections(ctx, ["a", "b"]))
    wait_until(lambda: ews_server.streams_open == 1, what="the stream")
    assert ews_server.expire_subscriptions("a@example.com") == 1
    # made while the subscription is gone: no event will tell, the renewal must
    ews_server.mailbox("a@example.com").add_items("contacts", [{"DisplayName": "Lost"}])
    watch.wait_for("a")
    assert ews_server.counts["Subscribe"] == 3  # a again, b kept its subscription
    ews_server.mailbox("a@example.com").add_items("contacts", [{"DisplayName": "Later"}])
    ews_server.mailbox("b@example.com").add_items("contacts", [{"DisplayName": "B"}])
    watch.wait_for("a", times=2)
    watch.wait_for("b")
    assert watch.calls() == Counter({"a": 2, "b": 1})


def test_a_user_whose_login_fails_is_left_out_not_the_others(home, ews_server, watching):
    ctx = scheduled_home(home, ews_server, ["good", "bad"], cap=4, people=0)
    users.update_user(ctx, "bad", password="Wrong-pw-1", verify=False)
    watch = watching(resolved_connections(ctx, ["good", "bad"]))
    wait_until(lambda: ews_server.streams_open == 1, what="good's stream")
    ews_server.mailbox("good@example.com").add_items("tasks", [{"Subject": "Do"}])
    ews_server.mailbox("bad@example.com").add_items("tasks", [{"Subject": "Do"}])
    watch.wait_for("good")
    assert [r["anchor"] for r in ews_server.stream_requests] == ["good@example.com"]
    assert "bad" not in watch.calls()


def test_a_server_gone_is_retried_with_back_off_and_stop_still_ends_it(home, ews_server, watching):
    ctx = impersonated_home(home, ews_server, ["a"], cap=8)
    connections = resolved_connections(ctx, ["a"])
    ews_server.stop()
    watch = watching(connections)
    time.sleep(1.5)  # a few refused attempts (back-off 1 s, then 2 s)
    assert watch.close() < 5


def test_streams_never_hold_the_syncs_sessions(home, ews_server, watching):
    """Two streams on one service account (250 users) with throttle_cap 1: the syncs of
    that account still get their session, also after busy answers shrink the pool
    (exchangelib's decrease_poolsize waits for a free session: were the streams holding
    the pool's sessions, the sync would wait forever)."""
    from wess_core.service.sync import sync_one

    logins = [f"p{i:03d}" for i in range(250)]
    ctx = impersonated_home(home, ews_server, logins, cap=1)
    watch = watching(resolved_connections(ctx, logins))
    wait_until(lambda: ews_server.streams_open == 2, timeout=120, what="two streams")
    ews_server.inject("server_busy", operation="SyncFolderItems", times=2, back_off_ms=10)
    outcome: list[tuple[str, str]] = []
    for _ in range(2):  # busy answers fail their folders (next run); then it syncs
        syncing = threading.Thread(target=lambda: outcome.append(sync_one(ctx, "p007")))
        syncing.start()
        syncing.join(timeout=60)
        assert not syncing.is_alive(), "the sync never got an HTTP session"
    assert "busy" in outcome[0][1] and outcome[1][0] == "synced", outcome
    assert ews_server.streams_open == 2  # the streams carried on meanwhile
    assert watch.close() < 5
