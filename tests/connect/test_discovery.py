"""Autodiscover and manual URLs: found, failures by name, redirects, overrides, URL changes
taking effect on the next check, rediscovery of a cached URL that stopped answering."""

from __future__ import annotations

import time

from tests.support import ALICE_PW, autodiscover_args


def autodiscover_site(wess, emu):
    r = wess(*autodiscover_args(emu.autodiscover_url, emu.ca_cert), "--skip-check")
    assert r.exit_code == 0, r.stderr
    r = wess("users", "set", "alice", "--password-stdin", "--skip-check", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    return wess


def test_discover_finds_and_caches_the_url(admin_home, emu):
    wess = autodiscover_site(admin_home, emu)
    r = wess("--as", "alice", "discover", "alice", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json == {
        "login": "alice",
        "email": "alice@example.com",
        "username": "alice@example.com",
        "ews_url": emu.ews_url,
    }
    assert wess("users", "show", "alice", "--json").json["discovered_ews_url"] == emu.ews_url
    assert wess("history", "alice", "--json").json[0]["ews_url"] == emu.ews_url
    # the cached URL is used: the next check does not ask Autodiscover again
    emu.reset_counts()
    assert wess("test-connection", "alice").exit_code == 0
    assert emu.counts["GetUserSettings"] == 0 and emu.counts["GetFolder"] == 1


def test_saving_credentials_discovers_and_caches(admin_home, emu):
    wess = autodiscover_site(admin_home, emu)
    r = wess("users", "set", "alice", "--password-stdin", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    assert wess("users", "show", "alice", "--json").json["discovered_ews_url"] == emu.ews_url


def test_discover_follows_a_redirect_address(admin_home, emu):
    wess = autodiscover_site(admin_home, emu)
    old_address = ("--exchange-email", "old.alice@example.com")
    login = ("--exchange-username", "alice@example.com")
    r = wess("users", "set", "alice", *old_address, *login, "--skip-check")
    assert r.exit_code == 0, r.stderr
    r = wess("discover", "alice", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["ews_url"] == emu.ews_url
    assert emu.counts["GetUserSettings"] == 2


def test_discover_unknown_mailbox_is_error_non_existent_mailbox(admin_home, emu):
    wess = autodiscover_site(admin_home, emu)
    wess("users", "set", "alice", "--exchange-email", "nobody@example.com", "--skip-check")
    wess("users", "set", "alice", "--exchange-username", "alice@example.com", "--skip-check")
    r = wess("discover", "alice")
    assert r.exit_code == 1
    assert "ErrorNonExistentMailbox: Exchange has no mailbox nobody@example.com" in r.stderr
    assert "--exchange-email" in r.stderr
    assert "ErrorNonExistentMailbox" in wess("history", "alice").stdout


def test_discover_wrong_password_is_unauthorized(admin_home, emu):
    wess = autodiscover_site(admin_home, emu)
    wess("users", "set", "alice", "--password-stdin", "--skip-check", input="wrong")
    r = wess("discover", "alice")
    assert r.exit_code == 1
    assert "Unauthorized: Exchange refused the login of alice@example.com" in r.stderr


def test_discover_unreachable_is_autodiscover_failed_with_the_manual_hint(admin_home, emu, emu2):
    wess = autodiscover_site(admin_home, emu)
    dead = emu2.autodiscover_url
    emu2.stop()
    wess("connection", "set", "--autodiscover-url", dead, "--skip-check")
    r = wess("discover", "alice")
    assert r.exit_code == 1
    assert "AutoDiscoverFailed" in r.stderr
    assert (
        "enter the EWS URL by hand: wess connection set --discovery manual "
        "--ews-url https://HOST/EWS/Exchange.asmx"
    ) in r.stderr


def test_discover_server_error_is_autodiscover_failed(admin_home, emu):
    wess = autodiscover_site(admin_home, emu)
    emu.inject("http_503", operation="GetUserSettings", retry_after=0)
    r = wess("discover", "alice")
    assert r.exit_code == 1
    assert "AutoDiscoverFailed" in r.stderr


def test_rediscovery_when_the_cached_url_stops_answering(admin_home, emu, emu2):
    wess = autodiscover_site(admin_home, emu2)
    assert wess("discover", "alice").exit_code == 0  # cached: emu2's EWS URL
    emu2.stop()
    wess("connection", "set", "--autodiscover-url", emu.autodiscover_url, "--skip-check")
    r = wess("test-connection", "alice", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["ews_url"] == emu.ews_url
    assert wess("users", "show", "alice", "--json").json["discovered_ews_url"] == emu.ews_url


def test_discover_in_the_background(admin_home, emu, home):
    wess = autodiscover_site(admin_home, emu)
    emu.set_latency(1.0, operation="GetUserSettings")  # long enough to see it running
    r = wess("discover", "alice", "--background", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["state"] == "running"
    status = {row["login"]: row for row in wess("status", "--json").json}
    assert status["alice"]["jobs"] == ["discovery running"]
    from wess_core.service import Context
    from wess_core.service.connect import running_jobs

    deadline = time.monotonic() + 30
    while running_jobs(Context(home), "alice") and time.monotonic() < deadline:
        time.sleep(0.1)  # the job marker is removed once the outcome has landed
    found = wess("users", "show", "alice", "--json").json["discovered_ews_url"]
    assert found == emu.ews_url
    entries = wess("history", "alice", "--json").json
    assert entries[0]["message"] == f"EWS URL found: {emu.ews_url}"
    assert entries[1]["message"].startswith("discovery running")


def test_manual_url_must_be_https_with_the_ews_path(site, home):
    before = (home / "account.json").read_bytes()
    for bad in (
        "http://mail.example.com/EWS/Exchange.asmx",
        "https://mail.example.com/owa",
        "mail.example.com",
    ):
        r = site("connection", "set", "--ews-url", bad)
        assert r.exit_code == 2, bad
        assert "EWS URL" in r.stderr
    assert (home / "account.json").read_bytes() == before
    r = site("users", "set", "alice", "--ews-url", "http://x/EWS/Exchange.asmx")
    assert r.exit_code == 2


def test_manual_url_change_takes_effect_on_the_next_check(site, emu, emu2):
    assert site("users", "set", "alice", "--password-stdin", input=ALICE_PW).exit_code == 0
    emu.reset_counts()
    assert site("test-connection", "alice").exit_code == 0
    assert emu.counts["GetFolder"] == 1
    r = site("connection", "set", "--ews-url", emu2.ews_url)
    assert r.exit_code == 0, r.stderr  # the save itself was checked against emu2
    assert emu2.counts["GetFolder"] == 1
    emu.reset_counts()
    emu2.reset_counts()
    r = site("test-connection", "alice", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["ews_url"] == emu2.ews_url
    assert emu2.counts["GetFolder"] == 1
    assert sum(emu.counts.values()) == 0


def test_per_user_url_overrides_the_account_url(site, emu, emu2):
    assert site("users", "set", "alice", "--password-stdin", input=ALICE_PW).exit_code == 0
    r = site("--as", "alice", "users", "set", "alice", "--ews-url", emu2.ews_url)
    assert r.exit_code == 0, r.stderr
    emu.reset_counts()
    emu2.reset_counts()
    r = site("test-connection", "alice", "--json")
    assert r.json["ews_url"] == emu2.ews_url
    assert emu2.counts["GetFolder"] == 1 and sum(emu.counts.values()) == 0
    # bob still uses the account's URL
    site("users", "set", "bob", "--password-stdin", "--skip-check", input="Bob-Pw-5ecret!")
    r = site("test-connection", "bob", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["ews_url"] == emu.ews_url


def test_untrusted_certificate_says_how_to_trust_it(admin_home, emu):
    wess = admin_home
    wess("connection", "set", "--ews-url", emu.ews_url, "--skip-check")
    r = wess("users", "set", "alice", "--password-stdin", input=ALICE_PW)
    assert r.exit_code == 1
    assert (
        "the Exchange server's certificate is not trusted: set the CA with "
        "wess connection set --ca-bundle CA.pem"
    ) in r.stderr


def test_unreachable_server(site, emu2):
    url = emu2.ews_url
    emu2.stop()
    site("connection", "set", "--ews-url", url, "--skip-check")
    site("users", "set", "alice", "--password-stdin", "--skip-check", input=ALICE_PW)
    r = site("test-connection", "alice")
    assert r.exit_code == 1
    assert f"cannot reach Exchange at {url}" in r.stderr


def test_users_may_discover_and_test_only_themselves(site):
    assert site("--as", "bob", "discover", "alice").exit_code == 1
    r = site("--as", "bob", "test-connection", "alice")
    assert r.exit_code == 1 and "permission denied" in r.stderr
