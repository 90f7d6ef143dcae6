"""Every endpoint under every role: the admin, the user themselves (alice), another user
(bob, on alice's resources) and nobody logged in get what the CLI's role rules give."""

from __future__ import annotations

import pytest

from tests.support.web import ADMIN_WEB_PW, ALICE_WEB_PW, BOB_WEB_PW

ROLES = ("admin", "alice", "bob", "anonymous")

#: (method, path, JSON body, expected status for admin, alice, bob, anonymous)
TABLE = [
    ("GET", "/api/users/alice", None, (200, 200, 403, 401)),
    ("PATCH", "/api/users/alice", {"sync_enabled": True}, (200, 200, 403, 401)),
    ("PATCH", "/api/users/alice", {"database": "sales"}, (200, 403, 403, 401)),
    ("PATCH", "/api/users/alice", {"ews_url": "", "skip_check": True}, (200, 403, 403, 401)),
    ("PATCH", "/api/users/alice", {"exchange_email": "nope"}, (422, 422, 403, 401)),
    ("PATCH", "/api/users/alice", {"no_such_field": 1}, (422, 422, 422, 401)),
    ("GET", "/api/users/alice/history", None, (200, 200, 403, 401)),
    ("GET", "/api/users/alice/ledger", None, (200, 200, 403, 401)),
    ("GET", "/api/users/alice/review", None, (200, 200, 403, 401)),
    ("POST", "/api/users/alice/review", {"action": "reject", "all": True}, (200, 200, 403, 401)),
    ("GET", "/api/users/alice/discover", None, (200, 200, 403, 401)),
    ("POST", "/api/users/alice/sync", None, (422, 422, 403, 401)),  # no Exchange password
    ("GET", "/api/users/nobody", None, (404, 403, 403, 401)),
    ("GET", "/api/users", None, (200, 403, 403, 401)),
    ("POST", "/api/users", {"login": "carol", "email": "c@example.com"}, (201, 403, 403, 401)),
    ("GET", "/api/account", None, (200, 403, 403, 401)),
    ("PATCH", "/api/account", {"add_licences": 1}, (200, 403, 403, 401)),
    ("GET", "/api/status", None, (200, 200, 200, 401)),  # a user: their own line
    ("GET", "/api/checklist", None, (200, 403, 403, 401)),
]


@pytest.fixture
def clients(serve):
    server = serve()
    logged = {
        "admin": server.login("root", ADMIN_WEB_PW),
        "alice": server.login("alice", ALICE_WEB_PW),
        "bob": server.login("bob", BOB_WEB_PW),
        "anonymous": (server.client(), {"csrf_token": ""}),
    }
    yield server, logged
    for client, _ in logged.values():
        client.close()


def test_endpoints_by_role(clients):
    server, logged = clients
    failures = []
    for method, path, body, expected in TABLE:
        for role, want in zip(ROLES, expected, strict=True):
            client, session = logged[role]
            headers = {"X-CSRF-Token": session["csrf_token"]}
            r = client.request(method, path, json=body, headers=headers)
            if r.status_code != want:
                failures.append(f"{role} {method} {path} {body}: {r.status_code} {r.text}")
            elif r.status_code >= 400:
                error = r.json()["error"]
                assert isinstance(error, str) and "\n" not in error and error, r.text
    assert failures == []


def test_a_user_sees_only_their_own_status_line_and_admins_all(clients):
    server, logged = clients
    lines = logged["alice"][0].get("/api/status").json()
    assert [row["login"] for row in lines] == ["alice"]
    everyone = logged["admin"][0].get("/api/status").json()
    assert {row["login"] for row in everyone} >= {"alice", "bob"}


def test_denied_changes_change_nothing(clients):
    server, logged = clients
    bob, bob_session = logged["bob"]
    headers = {"X-CSRF-Token": bob_session["csrf_token"]}
    r = bob.patch("/api/users/alice", json={"sync_enabled": False}, headers=headers)
    assert r.status_code == 403
    alice = logged["alice"][0].get("/api/users/alice").json()
    assert alice["sync_enabled"] is True
    alice_headers = {"X-CSRF-Token": logged["alice"][1]["csrf_token"]}
    r = logged["alice"][0].patch(
        "/api/users/alice", json={"sync_enabled": False, "state": "disabled"}, headers=alice_headers
    )
    assert r.status_code == 403  # one field she may not set: nothing is stored
    alice = logged["alice"][0].get("/api/users/alice").json()
    assert alice["sync_enabled"] is True and alice["state"] == "active"
