"""Log-in, the session cookie, CSRF, expiry, log-out and throttling of ``wess serve``."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.support.web import ADMIN_WEB_PW, ALICE_WEB_PW, BOB_WEB_PW


def test_serve_prints_its_url_first_and_publishes_openapi(serve):
    server = serve()
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/")
    with server.client() as client:
        spec = client.get("/api/openapi.json").json()
    for path in ("/api/session", "/api/users/{login}", "/api/users/{login}/sync"):
        assert path in spec["paths"]
    assert "/docs" not in spec["paths"]


def test_log_in_sets_a_hardened_cookie_and_a_bad_password_gets_401(serve):
    server = serve()
    with server.client() as client:
        r = client.post("/api/session", json={"login": "alice", "password": "wrong-password"})
        assert r.status_code == 401 and "set-cookie" not in r.headers
        assert client.get("/api/users/alice").status_code == 401
        r = client.post("/api/session", json={"login": "alice", "password": ALICE_WEB_PW})
        assert r.status_code == 200
        assert set(r.json()) == {"login", "role", "csrf_token"}
        assert r.json()["role"] == "user"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie  # bound to loopback, plain HTTP
        assert client.get("/api/users/alice").json()["login"] == "alice"


def test_state_changes_need_the_sessions_csrf_token(serve):
    server = serve()
    client, session = server.login("alice", ALICE_WEB_PW)
    other, other_session = server.login("bob", BOB_WEB_PW)
    change = {"sync_enabled": False}
    assert client.patch("/api/users/alice", json=change).status_code == 403
    wrong = {"X-CSRF-Token": other_session["csrf_token"]}  # another session's token
    assert client.patch("/api/users/alice", json=change, headers=wrong).status_code == 403
    assert client.post("/api/users/alice/sync").status_code == 403
    assert client.get("/api/users/alice").json()["sync_enabled"] is True  # nothing changed
    right = {"X-CSRF-Token": session["csrf_token"]}
    r = client.patch("/api/users/alice", json=change, headers=right)
    assert r.status_code == 200 and r.json()["sync_enabled"] is False


def test_log_out_ends_the_session_even_for_a_copied_cookie(serve):
    server = serve()
    client, session = server.login("alice", ALICE_WEB_PW)
    copied = dict(client.cookies)
    assert client.delete("/api/session").status_code == 403  # CSRF applies to log-out
    assert client.delete("/api/session", headers={"X-CSRF-Token": session["csrf_token"]}).json()
    assert client.get("/api/users/alice").status_code == 401
    with server.client() as replay:
        replay.cookies.update(copied)
        assert replay.get("/api/users/alice").status_code == 401


def test_sessions_expire(serve):
    server = serve("--session-minutes", "0.02")  # 1.2 s
    client, _ = server.login("alice", ALICE_WEB_PW)
    assert client.get("/api/users/alice").status_code == 200
    time.sleep(2.5)
    assert client.get("/api/users/alice").status_code == 401


def test_key_rotation_ends_every_session(serve, web_home):
    server = serve()
    client, _ = server.login("root", ADMIN_WEB_PW)
    assert client.get("/api/users").status_code == 200
    assert web_home("keys", "rotate").exit_code == 0
    assert client.get("/api/users").status_code == 401
    server.login("root", ADMIN_WEB_PW)  # a new log-in works with the new key


def test_a_removed_admin_is_logged_out(serve, web_home):
    server = serve()
    client, _ = server.login("root", ADMIN_WEB_PW)
    assert web_home("admins", "remove", "root").exit_code == 0
    assert client.get("/api/users").status_code == 401


def test_failed_log_ins_are_throttled_per_login_then_per_address(serve):
    server = serve()
    with server.client() as client:
        for _ in range(5):
            r = client.post("/api/session", json={"login": "alice", "password": "guess-1234"})
            assert r.status_code == 401
        r = client.post("/api/session", json={"login": "alice", "password": ALICE_WEB_PW})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert "error" in r.json()
        # another login from the same address still may, until the address's limit
        server.login("bob", BOB_WEB_PW)
        for n in range(15):
            r = client.post("/api/session", json={"login": f"nobody{n}", "password": "guess"})
            assert r.status_code == 401
        r = client.post("/api/session", json={"login": "bob", "password": BOB_WEB_PW})
        assert r.status_code == 429


def test_a_new_web_password_ends_the_sessions_made_before(serve, web_home):
    server = serve()
    old, _ = server.login("alice", ALICE_WEB_PW)
    r = web_home("users", "set", "alice", "--web-password-stdin", input="Alice-New-Pw-2\n")
    assert r.exit_code == 0, r.stderr
    assert old.get("/api/users/alice").status_code == 401
    assert old.get("/api/session").status_code == 401
    fresh, _ = server.login("alice", "Alice-New-Pw-2")
    assert fresh.get("/api/users/alice").status_code == 200


def test_behind_a_trusted_proxy_cookies_are_secure_and_clients_told_apart(serve):
    server = serve("--forwarded-allow-ips", "127.0.0.1")
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    with server.client() as client:
        r = client.post(
            "/api/session", json={"login": "bob", "password": BOB_WEB_PW}, headers=https
        )
        assert r.status_code == 200 and "secure" in r.headers["set-cookie"].lower()
        for n in range(20):  # one address's failures ...
            client.post("/api/session", json={"login": f"x{n}", "password": "guess"}, headers=https)
        r = client.post(
            "/api/session", json={"login": "bob", "password": BOB_WEB_PW}, headers=https
        )
        assert r.status_code == 429
        other = {**https, "X-Forwarded-For": "198.51.100.9"}  # ... do not hold back another's
        r = client.post(
            "/api/session", json={"login": "bob", "password": BOB_WEB_PW}, headers=other
        )
        assert r.status_code == 200


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(serve):
    server = serve()
    with server.client() as client:
        r = client.post(
            "/api/session",
            json={"login": "bob", "password": BOB_WEB_PW},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert r.status_code == 200 and "secure" not in r.headers["set-cookie"].lower()


def test_serve_refuses_a_home_that_is_not_set_up_and_a_taken_port(tmp_path, home, serve):
    port = serve().url.rsplit(":", 1)[1].rstrip("/")
    for where, args, expected in (
        (tmp_path / "empty", ("--port", "0"), "wess init"),
        (home, ("--port", port), f"cannot listen on 127.0.0.1 port {port}"),
    ):
        argv = [sys.executable, "-m", "wess_core.cli", "--home", str(where), "serve", *args]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and expected in r.stderr and r.stdout == "", r.stderr
        assert "Traceback" not in r.stderr


def test_a_cross_site_form_cannot_log_anyone_in(serve):
    """A form on another site can post text/plain but not application/json: a log-in
    posted that way is refused, so no one is logged into an attacker's account."""
    server = serve()
    body = json.dumps({"login": "bob", "password": BOB_WEB_PW})
    with server.client() as client:
        for kind in ("text/plain", "application/x-www-form-urlencoded"):
            r = client.post("/api/session", content=body, headers={"Content-Type": kind})
            assert r.status_code == 422 and "set-cookie" not in r.headers, r.text
