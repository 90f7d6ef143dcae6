"""The admin's side of the API (account, users) and background discovery."""

from __future__ import annotations

import time

from tests.support import ALICE_PW
from tests.support.web import ADMIN_WEB_PW, ALICE_WEB_PW, autodiscover_on_emulator


def test_the_admin_runs_the_account(serve, emu):
    server = serve()
    admin, session = server.login("root", ADMIN_WEB_PW)
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    account = admin.get("/api/account").json()
    assert account["licences"] == {"total": 3, "allocated": 1, "remaining": 2}
    assert account["account"]["ews_url"] == emu.ews_url
    change = {
        "add_licences": 2,
        "module_active": False,
        "settings": {"conflict_policy": "exchange-wins"},
        "connection": {"discovery": "autodiscover", "skip_check": True},
    }
    r = admin.patch("/api/account", json=change, headers=csrf)
    assert r.status_code == 200, r.text
    account = r.json()
    assert account["licences"]["total"] == 5
    assert account["account"]["module_active"] is False
    assert account["account"]["discovery"] == "autodiscover"
    assert account["settings"]["conflict_policy"] == "exchange-wins"
    r = admin.patch("/api/account", json={"settings": {"no_such": "1"}}, headers=csrf)
    assert r.status_code == 422 and "unknown setting" in r.json()["error"]

    r = admin.post(
        "/api/users", json={"login": "carol", "email": "carol@example.com"}, headers=csrf
    )
    assert r.status_code == 201 and r.json()["has_web_password"] is False
    r = admin.post(
        "/api/users", json={"login": "carol", "email": "carol@example.com"}, headers=csrf
    )
    assert r.status_code == 422 and "already exists" in r.json()["error"]
    logins = [u["login"] for u in admin.get("/api/users").json()]
    assert logins == ["alice", "bob", "carol"]
    assert all("password" not in u for u in admin.get("/api/users").json())
    lines = admin.get("/api/checklist").json()["lines"]
    assert lines and all(isinstance(line, str) for line in lines)


def test_a_user_starts_discovery_in_the_background_and_reads_its_state(serve, web_home, emu):
    autodiscover_on_emulator(web_home, emu, ALICE_PW)
    server = serve()
    client, session = server.login("alice", ALICE_WEB_PW)
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    r = client.post("/api/users/alice/discover", headers=csrf)
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "running"
    deadline = time.monotonic() + 60
    state = client.get("/api/users/alice/discover").json()
    while state["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
        state = client.get("/api/users/alice/discover").json()
    assert state["state"] == "idle"
    assert state["last"]["kind"] == "discovery"
    assert state["ews_url"] == emu.ews_url, state
