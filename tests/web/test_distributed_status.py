"""The web's status of a distributed deployment (``WESS_BROKER_URL`` set): the same data
as ``wess status`` — workers, queue, dead-letter list — for admins only."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support import ALICE_PW
from tests.support.web import ADMIN_WEB_PW, ALICE_WEB_PW
from wess_core.distributed import budgets, keys
from wess_core.distributed.broker import redis_client


def test_admins_see_the_dead_letter_list_and_the_queue(serve, monkeypatch, redis_server):
    monkeypatch.setenv("WESS_BROKER_URL", redis_server.url)
    budgets.record(
        redis_client(redis_server.url), "bob", "failed", "it broke", interval=10, limit=1
    )
    server = serve()
    admin, _ = server.login("root", ADMIN_WEB_PW)
    doc = admin.get("/api/status/distributed").json()["distributed"]
    assert doc["broker"] == redis_server.url
    assert doc["dead_letter"]["bob"]["error"] == "it broke"
    page = admin.get("/admin").text
    assert "Workers and queue" in page and "Dead letter bob: 1 failed syncs" in page
    user, _ = server.login("alice", ALICE_WEB_PW)
    assert user.get("/api/status/distributed").status_code == 403


def test_without_a_broker_there_is_no_distributed_status(serve, monkeypatch):
    monkeypatch.delenv("WESS_BROKER_URL", raising=False)
    server = serve()
    admin, _ = server.login("root", ADMIN_WEB_PW)
    assert admin.get("/api/status/distributed").json() == {"distributed": None}
    assert "Workers and queue" not in admin.get("/admin").text


@pytest.mark.slow  # a real worker process
def test_sync_now_on_the_web_goes_through_a_worker(serve, web_home, monkeypatch, cluster):
    r = web_home("users", "set", "alice", "--password-stdin", "--skip-check", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    monkeypatch.setenv("WESS_BROKER_URL", cluster.broker_url)
    server = serve()
    client, session = server.login("alice", ALICE_WEB_PW)
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    answers = []
    waiting = threading.Thread(
        target=lambda: answers.append(
            client.post("/api/users/alice/sync", headers=csrf, timeout=120)
        )
    )
    waiting.start()
    now_list = keys.queue_lists()[0]
    deadline = time.monotonic() + 30
    while not cluster.redis().llen(now_list) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cluster.redis().llen(now_list) == 1 and not answers  # queued for a worker
    cluster.start_worker(concurrency=1)
    waiting.join(timeout=120)
    assert answers and answers[0].status_code == 200, answers
    assert answers[0].json()["login"] == "alice" and "folders" in answers[0].json()
