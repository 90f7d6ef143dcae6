"""Throttling is per Exchange server: one back-off for every user of that server, and
batches shrink while the server is busy, then grow back."""

from __future__ import annotations

import threading
import time

import pytest

from wess_core.connection import Connection
from wess_core.strategies import NewItem
from wess_plugins.transport_ews import throttle
from wess_plugins.transport_ews.transport import EwsTransport


def _connection(server, email, password):
    return Connection(
        login=email.split("@")[0],
        exchange_email=email,
        username=email,
        auth="direct",
        discovery="manual",
        ews_url=server.ews_url,
        discovered_ews_url=None,
        autodiscover_url=None,
        ca_bundle=server.ca_cert,
        password=password,
    )


@pytest.fixture
def two_users(ews_server):
    ews_server.add_user("bob@example.com", "Bob-Pass-1")
    throttle._throttles.clear()
    alice = EwsTransport(_connection(ews_server, "alice@example.com", "Secret-1"))
    bob = EwsTransport(_connection(ews_server, "bob@example.com", "Bob-Pass-1"))
    yield alice, bob
    throttle._throttles.clear()


def test_one_back_off_for_every_user_of_the_server(two_users, ews_server):
    alice, bob = two_users
    assert alice.throttle is bob.throttle
    alice.changes("contacts", None)
    bob.changes("contacts", None)
    ews_server.inject("server_busy", operation="SyncFolderItems", back_off_ms=800, times=1)
    worker = threading.Thread(target=alice.changes, args=("contacts", None))
    worker.start()
    deadline = time.monotonic() + 5
    while alice.throttle.busy_count == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert alice.throttle.busy_count == 1  # the server asked alice's request to back off
    started = time.monotonic()
    bob.changes("contacts", None)  # bob, same server, waits out the same window
    waited = time.monotonic() - started
    worker.join(timeout=10)
    assert waited >= 0.5, f"bob did not wait for the server's back-off ({waited:.2f} s)"
    assert ews_server.counts["SyncFolderItems"] == 5


def test_batches_shrink_while_busy_and_grow_back(two_users, ews_server):
    alice, _ = two_users
    assert alice.max_batch == throttle.MAX_BATCH
    ews_server.inject("server_busy", operation="CreateItem", back_off_ms=10, times=2)
    refs = alice.create(
        "contacts", [NewItem(fields={"given_name": f"P{i}"}, crm_id=f"c{i}") for i in range(30)]
    )
    assert all(not isinstance(r, Exception) for r in refs)
    assert alice.throttle.busy_count == 2
    assert alice.max_batch < throttle.MAX_BATCH
    shrunk = alice.max_batch
    for i in range(5):
        alice.create("contacts", [NewItem({"given_name": f"Q{i}"}, crm_id=f"q{i}")])
    assert alice.max_batch > shrunk


def test_refused_password_fails_at_once_instead_of_waiting(ews_server):
    throttle._throttles.clear()
    wrong = EwsTransport(_connection(ews_server, "alice@example.com", "wrong"))
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        wrong.changes("contacts", None)
    assert time.monotonic() - started < 5
    assert getattr(caught.value, "credentials", False) is True


def test_unreachable_server_fails_in_seconds_not_minutes(ews_server):
    """No HTTP answer at all is not throttling: no minutes of back-off for a dead server."""
    from wess_core.strategies import MailboxError

    dead = _connection(ews_server, "alice@example.com", "Secret-1")
    dead = dead.__class__(**{**dead.__dict__, "ews_url": "https://127.0.0.1:9/EWS/Exchange.asmx"})
    started = time.monotonic()
    with pytest.raises(MailboxError) as caught:
        EwsTransport(dead).changes("contacts", None)
    assert time.monotonic() - started < 5
    assert caught.value.rediscover is True
    assert "cannot reach Exchange" in str(caught.value)
