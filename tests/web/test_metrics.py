"""``GET /metrics`` on ``wess serve`` (a real server process): the counts of the syncs it
ran, the back-offs a busy Exchange asked for, no login, address or secret in any label,
and the optional bearer token."""

from __future__ import annotations

import re

import httpx

from tests.support import ALICE_PW, SECRETS
from tests.support.metrics import samples, value
from tests.support.web import ADMIN_WEB_PW, WEB_SECRETS

#: A login made to look like exposition syntax and label values (what validation allows).
MALLORY = "synced+outcome_failed@le-0.5"
MALLORY_EMAIL = "mallory.trace@example.com"
MALLORY_PW = "Mallory-Pw-5ecret!"

#: Every label value the exposition may hold: fixed sets, item type names, class names.
FIXED_LABELS = {
    "outcome": {"synced", "failed", "skipped", "locked", "waited", "past_deadline"},
    "direction": {"to_crm", "to_exchange"},
    "change": {"created", "updated", "deleted"},
    "scope": {"run", "folder", "item"},
    "state": {"waiting", "running"},
}
CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(/[a-z_]+)?")


def _scrape(server) -> str:
    r = httpx.get(server.url + "metrics", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    server.responses.append(r.text)
    return r.text


def _admin(server):
    client, session = server.login("root", ADMIN_WEB_PW)
    return client, {"X-CSRF-Token": session["csrf_token"]}


def test_metrics_count_the_syncs_the_server_ran(serve, web_home, crm):
    r = web_home("users", "set", "alice", "--password-stdin", input=ALICE_PW + "\n")
    assert r.exit_code == 0, r.stderr
    server = serve()
    before = _scrape(server)
    assert 'wess_syncs_total{outcome="synced"} 0.0' in before  # from 0, not absent
    assert value(before, "wess_scheduler_active") == 0

    crm.add("people", first_name="Ada", email="ada@example.com")
    crm.add("people", first_name="Alan", email="alan@example.com")
    client, csrf = _admin(server)
    assert client.post("/api/users/alice/sync", headers=csrf).status_code == 200
    assert client.post("/api/users/alice/sync", headers=csrf).status_code == 200
    assert client.post("/api/users/bob/sync", headers=csrf).status_code == 409  # no licence

    after = _scrape(server)
    assert value(after, "wess_syncs_total", outcome="synced") == 2
    assert value(after, "wess_syncs_total", outcome="skipped") == 1
    assert value(after, "wess_syncs_total", outcome="failed") == 0
    changed = {"item_type": "contacts", "direction": "to_exchange", "change": "created"}
    assert value(after, "wess_items_changed_total", **changed) == 2
    assert value(after, "wess_sync_duration_seconds_count", outcome="synced") == 2
    assert value(after, "wess_sync_duration_seconds_sum", outcome="synced") > 0
    assert value(after, "wess_syncs_running") == 0


def test_a_busy_server_shows_in_the_throttling_counters(serve, web_home, emu):
    r = web_home("users", "set", "alice", "--password-stdin", input=ALICE_PW + "\n")
    assert r.exit_code == 0, r.stderr
    server = serve()
    client, csrf = _admin(server)
    emu.inject("server_busy", operation="SyncFolderItems", times=2, back_off_ms=300)
    r = client.post("/api/users/alice/sync", headers=csrf)
    assert r.status_code == 200, r.text

    scraped = _scrape(server)
    assert value(scraped, "wess_throttle_backoffs_total", outcome="waited") >= 2
    assert value(scraped, "wess_throttle_backoff_seconds_total") >= 0.5
    assert value(scraped, "wess_syncs_total", outcome="synced") == 1


def test_no_login_address_or_secret_in_the_exposition(serve, web_home, emu, crm):
    """An attacker's login made of exposition syntax and label values never reaches a
    label: every label value is from a fixed set, an item type or a class name."""
    emu.add_user(MALLORY_EMAIL, MALLORY_PW)
    for args in (
        ("licences", "add", "1"),
        ("users", "add", MALLORY, "--email", MALLORY_EMAIL),
        ("users", "allocate", MALLORY),
        ("users", "enable", MALLORY),
    ):
        assert web_home(*args).exit_code == 0
    for login, pw in ((MALLORY, MALLORY_PW), ("alice", "wrong-" + ALICE_PW)):
        r = web_home("users", "set", login, "--password-stdin", "--skip-check", input=pw)
        assert r.exit_code == 0, r.stderr
    crm.add("people", first_name="Eve", email="eve@example.com")
    server = serve()
    client, csrf = _admin(server)
    assert client.post(f"/api/users/{MALLORY}/sync", headers=csrf).status_code == 200
    assert client.post("/api/users/alice/sync", headers=csrf).status_code == 502  # refused

    scraped = _scrape(server)
    assert value(scraped, "wess_syncs_total", outcome="synced") == 1
    assert value(scraped, "wess_syncs_total", outcome="failed") == 1
    refused = value(
        scraped, "wess_sync_errors_total", kind="MailboxUnavailable/credentials", scope="run"
    )
    assert refused == 1
    for secret in (MALLORY, MALLORY_EMAIL, MALLORY_PW, "alice", "example.com", emu.ews_url):
        assert secret not in scraped
    for secret in (*SECRETS, *WEB_SECRETS):
        assert secret not in scraped
    for _name, labels, _value in samples(scraped):
        for key, label in labels.items():
            if key in FIXED_LABELS:
                assert label in FIXED_LABELS[key], (key, label)
            elif key == "kind":
                assert CLASS_NAME.fullmatch(label), label
            elif key == "item_type":
                assert label in ("calendar", "contacts", "email-inbox", "email-sent", "tasks")
            else:
                assert key == "le", key


def test_a_metrics_token_closes_the_route(web_home, home, tmp_path, monkeypatch):
    from tests.support.web import start_server

    monkeypatch.setenv("WESS_METRICS_TOKEN", "Scrape-Token-1")
    server = start_server(home, tmp_path / "serve.log")
    try:
        assert httpx.get(server.url + "metrics").status_code == 401
        wrong = {"Authorization": "Bearer Scrape-Token-2"}
        assert httpx.get(server.url + "metrics", headers=wrong).status_code == 401
        right = {"Authorization": "Bearer Scrape-Token-1"}
        r = httpx.get(server.url + "metrics", headers=right)
        assert r.status_code == 200 and "wess_syncs_total" in r.text
    finally:
        assert server.stop() == 0, server.log()
    assert "Scrape-Token-1" not in server.log()
