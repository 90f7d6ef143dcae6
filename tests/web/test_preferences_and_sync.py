"""A user's own Exchange settings over the API: the credential check on save (nothing
stored when Exchange refuses), Sync Now's counts, and no password in any response or in
the server's log."""

from __future__ import annotations

import threading
import time

from tests.support import ALICE_PW, SECRETS
from tests.support.web import ADMIN_WEB_PW, ALICE_WEB_PW, BOB_WEB_PW, WEB_SECRETS


def test_wrong_then_right_exchange_password_then_sync_now(serve, crm, home):
    server = serve()
    client, session = server.login("alice", ALICE_WEB_PW)
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    before = (home / "users.json").read_bytes()

    r = client.patch("/api/users/alice", json={"password": "wrong-" + ALICE_PW}, headers=csrf)
    assert r.status_code == 422
    assert "rejected" in r.json()["error"] and "\n" not in r.json()["error"]
    assert (home / "users.json").read_bytes() == before  # nothing stored
    assert client.get("/api/users/alice").json()["has_password"] is False

    r = client.patch("/api/users/alice", json={"password": ALICE_PW}, headers=csrf)
    assert r.status_code == 200, r.text
    profile = r.json()
    assert profile["has_password"] is True and "password" not in profile
    assert profile["eligible"] is True

    crm.add("people", first_name="Ada", last_name="Lovelace", email="ada@example.com")
    crm.add("people", first_name="Alan", last_name="Turing", email="alan@example.com")
    r = client.post("/api/users/alice/sync", headers=csrf)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["login"] == "alice"
    created = sum(f["to_exchange"]["created"] for f in result["folders"].values())
    assert created == 2
    again = client.post("/api/users/alice/sync", headers=csrf).json()
    assert sum(f["to_exchange"]["created"] for f in again["folders"].values()) == 0

    history = client.get("/api/users/alice/history").json()
    assert history and history[0]["kind"] == "sync"
    ledger = client.get("/api/users/alice/ledger").json()
    assert sum(1 for row in ledger if row["op"] == "create") == 2

    # the admin reads the same run in the status line
    admin, _ = server.login("root", ADMIN_WEB_PW)
    line = next(row for row in admin.get("/api/status").json() if row["login"] == "alice")
    assert line["last_run"] is not None

    server.stop()
    seen = "\n".join(server.responses) + server.log()
    for secret in (*SECRETS, *WEB_SECRETS, "wrong-" + ALICE_PW):
        assert secret not in seen
    assert "argon2" not in seen


def test_bad_input_is_one_line_without_the_input(serve):
    server = serve()
    client, session = server.login("alice", ALICE_WEB_PW)
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    r = client.patch("/api/users/alice", json={"password": ["Not-Shown-9"]}, headers=csrf)
    assert r.status_code == 422 and "Not-Shown-9" not in r.text
    r = client.post("/api/session", json={"login": "alice", "password": {"x": "Not-Shown-9"}})
    assert r.status_code == 422 and "Not-Shown-9" not in r.text
    r = client.patch("/api/users/alice", json={}, headers=csrf)
    assert r.status_code == 422 and r.json()["error"] == "nothing to change"


def test_a_running_sync_does_not_block_the_server(serve, web_home, emu):
    """Sync Now runs in a worker thread: while one is in flight (Exchange answers slowly)
    the server answers other requests."""
    r = web_home("users", "set", "alice", "--password-stdin", "--skip-check", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    server = serve()
    client, session = server.login("alice", ALICE_WEB_PW)
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    emu.reset_counts()
    emu.set_latency(2.0, "SyncFolderItems")  # every folder's sync waits 2 s
    results: list = []
    running = threading.Thread(
        target=lambda: results.append(client.post("/api/users/alice/sync", headers=csrf))
    )
    running.start()
    try:
        deadline = time.monotonic() + 60
        while not emu.counts["SyncFolderItems"] and time.monotonic() < deadline:
            time.sleep(0.05)  # until the sync is talking to Exchange
        assert emu.counts["SyncFolderItems"]
        with server.client() as other:
            other.cookies.update(dict(client.cookies))
            assert other.get("/api/users/alice/history").status_code == 200
            assert other.get("/api/session").json()["login"] == "alice"
        assert running.is_alive()  # both answered while the sync still runs
    finally:
        emu.set_latency(0, "SyncFolderItems")
        running.join(timeout=120)
    assert results and results[0].status_code == 200, results


def test_sync_now_reports_its_progress_folder_by_folder(serve, web_home, emu):
    """While a Sync Now runs, ``GET /api/users/LOGIN/sync`` says which folder it is at
    (the page shows it); another user may not ask, and it is not running afterwards."""
    r = web_home("users", "set", "alice", "--password-stdin", "--skip-check", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    server = serve()
    client, session = server.login("alice", ALICE_WEB_PW)
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    assert client.get("/api/users/alice/sync").json() == {"running": False}
    emu.set_latency(0.5, "SyncFolderItems")  # each folder's sync takes a moment
    results: list = []
    running = threading.Thread(
        target=lambda: results.append(client.post("/api/users/alice/sync", headers=csrf))
    )
    running.start()
    seen: list[tuple[str, int]] = []
    try:
        with server.client() as watcher:
            watcher.cookies.update(dict(client.cookies))
            deadline = time.monotonic() + 120
            while running.is_alive() and time.monotonic() < deadline:
                state = watcher.get("/api/users/alice/sync").json()
                if state["running"] and state["folder"]:
                    assert state["folders_total"] == 5  # contacts, calendar, tasks, inbox, sent
                    if (state["folder"], state["folders_done"]) not in seen:
                        seen.append((state["folder"], state["folders_done"]))
                time.sleep(0.1)
    finally:
        emu.set_latency(0, "SyncFolderItems")
        running.join(timeout=120)
    assert results and results[0].status_code == 200, results
    assert len(seen) >= 2, seen  # the folder changed while we watched
    assert [done for _, done in seen] == sorted(done for _, done in seen)
    assert client.get("/api/users/alice/sync").json() == {"running": False}
    bob, _ = server.login("bob", BOB_WEB_PW)
    assert bob.get("/api/users/alice/sync").status_code == 403
