"""The web's status of a distributed deployment (``WESS_BROKER_URL`` set): the same data
as ``wess status`` — workers, queue, dead-letter list — for admins only."""

from __future__ import annotations

from tests.support.web import ADMIN_WEB_PW, ALICE_WEB_PW
from wess_core.distributed import budgets
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
