"""Credential health: a refused password pauses the user once, re-saving resumes them;
a cached EWS URL that stops answering is discovered again."""

from __future__ import annotations

from tests.support import sync_ok


def test_password_change_pauses_once_and_resaving_resumes(synced_home, ews_server, crm):
    wess = synced_home
    crm.add("people", first_name="Ann")
    sync_ok(wess)
    ews_server.user("alice@example.com").password = "Changed-In-Exchange-2"

    first = wess("sync", "alice")
    assert first.exit_code == 1
    assert "sync of alice is paused" in first.stderr
    assert "wess users set alice --password-stdin" in first.stderr
    again = wess("sync", "alice")
    assert again.exit_code == 1
    errors = [e for e in wess("history", "alice", "--json").json if e["kind"] == "error"]
    assert len(errors) == 1  # one entry per new problem, not one per attempt
    assert errors[0]["message"].startswith("sync paused:")

    status = {r["login"]: r for r in wess("status", "--json").json}
    assert status["alice"]["paused"]
    ews_server.reset_counts()
    run = wess("run", "--once", "--json")
    assert run.exit_code == 0
    assert run.json["synced"] == [] and ews_server.counts.get("SyncFolderItems", 0) == 0

    wrong = wess("users", "set", "alice", "--password-stdin", input="still-wrong\n")
    assert wrong.exit_code == 1
    assert "credentials were rejected by Exchange" in wrong.stderr
    assert {r["login"]: r for r in wess("status", "--json").json}["alice"]["paused"]

    fixed = wess("users", "set", "alice", "--password-stdin", input="Changed-In-Exchange-2\n")
    assert fixed.exit_code == 0, fixed.stderr
    assert {r["login"]: r for r in wess("status", "--json").json}["alice"]["paused"] is None
    crm.add("people", first_name="Bea")
    assert wess("run", "--once", "--json").json["synced"] == ["alice"]


def test_stale_discovered_url_is_discovered_again(admin_home, ews_server, ews_ca, crm):
    from wess_emulator.emulator import EmulatorServer
    from wess_emulator.pytest_plugin import EWS_PASSWORD

    wess = admin_home
    old = EmulatorServer(validate=True, ca=ews_ca)
    old.add_user("alice@example.com", EWS_PASSWORD)
    old.start()
    old_url = old.ews_url
    old.stop()
    discovery = ("--discovery", "autodiscover", "--autodiscover-url", ews_server.autodiscover_url)
    trust = ("--ca-bundle", ews_server.ca_cert, "--skip-check")
    assert wess("connection", "set", *discovery, *trust).exit_code == 0
    assert wess("users", "enable", "alice").exit_code == 0
    result = wess("users", "set", "alice", "--password-stdin", input=EWS_PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    # pretend an earlier discovery cached a URL that no longer answers
    from wess_core.service import Context
    from wess_core.service.users import edit_profile

    def stale(profile, db):
        profile.discovered_ews_url = old_url

    edit_profile(Context(home=crm.ctx().home), "alice", stale)
    crm.add("people", first_name="Ann")
    sync_ok(wess)
    shown = wess("users", "show", "alice", "--json").json
    assert shown["discovered_ews_url"] == ews_server.ews_url
    assert any(e["kind"] == "discovery" for e in wess("history", "alice", "--json").json)
