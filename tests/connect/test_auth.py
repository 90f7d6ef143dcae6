"""Each auth method through the CLI against the emulator: right credentials pass, wrong
ones give the method's own message, and a refused save stores nothing."""

from __future__ import annotations

from tests.support import (
    ALICE_PW,
    CLIENT_SECRET,
    NOROLE_PW,
    SVC_PW,
    impersonation_args,
    issue_dead_tokens,
    oauth_args,
    plugin_storage_rows,
)
from wess_core.plugin_storage import HomeStorage


def users_bytes(home) -> bytes:
    return (home / "users.json").read_bytes()


def test_direct_right_password_is_saved_and_test_connection_passes(site, emu, home):
    r = site("--as", "alice", "users", "set", "alice", "--password-stdin", input=ALICE_PW + "\n")
    assert r.exit_code == 0, r.stderr
    assert emu.counts["GetFolder"] == 1
    r = site("test-connection", "alice", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json == {
        "login": "alice",
        "email": "alice@example.com",
        "username": "alice@example.com",
        "ews_url": emu.ews_url,
        "ok": True,
    }


def test_direct_domain_backslash_username(site, emu):
    login = ("--exchange-username", "EXAMPLE\\alice", "--password-stdin")
    r = site("users", "set", "alice", *login, input=ALICE_PW + "\n")
    assert r.exit_code == 0, r.stderr


def test_direct_forward_slash_username_is_refused_with_the_hint(site, home):
    before = users_bytes(home)
    r = site("users", "set", "alice", "--exchange-username", "EXAMPLE/alice", "--skip-check")
    assert r.exit_code == 2
    assert "back-slash" in r.stderr and "EXAMPLE\\alice" in r.stderr
    assert users_bytes(home) == before


def test_direct_wrong_password_stores_nothing(site, emu, home):
    before = users_bytes(home)
    r = site("--as", "alice", "users", "set", "alice", "--password-stdin", input="wrong-pw\n")
    assert r.exit_code == 1
    assert r.stderr.startswith("wess: credentials were rejected by Exchange: ")
    assert "refused the login of alice@example.com (HTTP 401)" in r.stderr
    assert "wrong-pw" not in r.stderr + r.stdout
    assert users_bytes(home) == before


def test_no_verify_stores_without_asking_exchange(site, emu, home):
    r = site("users", "set", "alice", "--password-stdin", "--skip-check", input="wrong-pw\n")
    assert r.exit_code == 0
    assert emu.counts["GetFolder"] == 0
    r = site("test-connection", "alice")
    assert r.exit_code == 1
    assert "HTTP 401" in r.stderr


def test_missing_password_names_the_command(site):
    r = site("test-connection", "alice")
    assert r.exit_code == 2
    assert "no Exchange password stored for alice" in r.stderr
    assert "wess users set alice --password-stdin" in r.stderr


def test_app_password_wrong_gives_the_mfa_message(site, home):
    before = users_bytes(home)
    r = site("users", "set", "alice", "--auth", "app_password", "--password-stdin", input="bad\n")
    assert r.exit_code == 1
    assert (
        "Exchange refused the app password: an app password is needed for accounts with "
        "multi-factor authentication; create one at https://mysignins.microsoft.com/security-info"
    ) in r.stderr
    assert users_bytes(home) == before


def test_app_password_right_is_saved(site, emu):
    r = site("users", "set", "alice", "--auth", "app_password", "--password-stdin", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    assert site("users", "show", "alice", "--json").json["auth"] == "app_password"


def test_impersonation_with_the_role_needs_no_user_password(site, emu, home):
    r = site(*impersonation_args("svc@example.com"), input=SVC_PW + "\n")
    assert r.exit_code == 0, r.stderr
    r = site("--as", "alice", "test-connection", "alice", "--json")
    assert r.exit_code == 0, r.stderr
    # bob has no password either; the service account reaches his mailbox too
    assert site("test-connection", "bob").exit_code == 0


def test_impersonation_without_the_role_is_refused_and_not_stored(site, emu, home):
    account_before = (home / "account.json").read_bytes()
    r = site(*impersonation_args("norole@example.com"), input=NOROLE_PW + "\n")
    assert r.exit_code == 1
    assert (
        "the service account norole@example.com lacks the ApplicationImpersonation role "
        "for mailbox alice@example.com"
    ) in r.stderr
    assert (home / "account.json").read_bytes() == account_before


def test_impersonation_wrong_service_password(site):
    r = site(*impersonation_args("svc@example.com"), input="nope\n")
    assert r.exit_code == 1
    assert "service account svc@example.com (HTTP 401)" in r.stderr


def test_impersonation_without_service_account_names_the_command(site):
    r = site("connection", "set", "--auth", "impersonation", "--skip-check")
    assert r.exit_code == 0
    r = site("test-connection", "alice")
    assert r.exit_code == 2
    assert "wess connection set --impersonation-user USER --password-stdin" in r.stderr


def _oauth(site, emu, secret=CLIENT_SECRET):
    return site(*oauth_args(emu.authority("contoso")), input=secret + "\n")


def test_oauth_client_credentials_and_impersonation(site, emu, home):
    r = _oauth(site, emu)
    assert r.exit_code == 0, r.stderr
    assert emu.counts["<token>"] == 1
    assert site("test-connection", "alice").exit_code == 0
    assert site("test-connection", "bob").exit_code == 0
    # the token came from the encrypted cache, not from the authority again
    assert emu.counts["<token>"] == 1
    # MSAL's cache is in the core's plugin storage, encrypted; no token in any file
    (((plugin, _owner, key), stored),) = plugin_storage_rows(home).items()
    assert plugin == "oauth" and stored.startswith("gAAAA")  # a Fernet token: encrypted
    assert b"AccessToken" in HomeStorage(home, "oauth").get(key)  # MSAL's cache, to the core
    for path in home.rglob("*"):
        if path.is_file():
            for token in emu._tokens:
                assert token.encode() not in path.read_bytes(), path


def test_oauth_wrong_client_secret(site, emu, home):
    before = (home / "account.json").read_bytes()
    r = _oauth(site, emu, secret="not-the-secret")
    assert r.exit_code == 1
    assert "refused the client secret of app wess-app (invalid_client" in r.stderr
    assert "not-the-secret" not in r.stderr
    assert (home / "account.json").read_bytes() == before


def test_oauth_token_refused_from_the_cache_is_fetched_again_once(site, emu):
    assert _oauth(site, emu).exit_code == 0
    emu.expire_tokens()  # Exchange refuses the cached token (HTTP 401)
    before = emu.counts["<token>"]
    r = site("test-connection", "alice")
    assert r.exit_code == 0, r.stderr
    assert emu.counts["<token>"] == before + 1


def test_oauth_token_refused_even_fresh_is_explained(site, emu, monkeypatch):
    assert _oauth(site, emu).exit_code == 0
    emu.expire_tokens()
    issue_dead_tokens(monkeypatch, emu)
    before = emu.counts["<token>"]
    r = site("test-connection", "alice")
    assert r.exit_code == 1
    assert "refused the OAuth access token of app wess-app" in r.stderr
    assert emu.counts["<token>"] == before + 1  # asked once more, not in a loop


def test_oauth_missing_settings_name_the_flags(site):
    r = site("connection", "set", "--auth", "oauth", "--oauth-tenant", "contoso", "--skip-check")
    assert r.exit_code == 0
    r = site("test-connection", "alice")
    assert r.exit_code == 2
    assert "--oauth-client-id C --client-secret-stdin" in r.stderr


def test_the_ews_transport_asks_tokens_for_its_own_scope(site, emu):
    """The token scope is the transport's (its ``token_scope`` setting), not the auth
    method's: the same OAuth app gives each transport a token for its resource."""
    assert _oauth(site, emu).exit_code == 0
    assert {tuple(t.scopes) for t in emu._tokens.values()} == {
        ("https://outlook.office365.com/.default",)
    }
    sovereign = "https://outlook.office365.us/.default"
    r = site("connection", "set", "--option", f"token_scope={sovereign}")
    assert r.exit_code == 0, r.stderr
    assert (sovereign,) in {tuple(t.scopes) for t in emu._tokens.values()}
    r = site("connection", "set", "--option", "token_scope=http://x", "--skip-check")
    assert r.exit_code == 2 and "expected https://RESOURCE/.default" in r.stderr


def test_a_sync_whose_cached_token_is_refused_fetches_one_fresh_token(site, emu):
    assert _oauth(site, emu).exit_code == 0
    assert site("crm", "add", "people", "first_name=Ann", "email=ann@example.com").exit_code == 0
    emu.expire_tokens()  # Exchange refuses the token MSAL still has cached
    before = emu.counts["<token>"]
    synced = site("sync", "alice", "--json")
    assert synced.exit_code == 0, synced.stderr
    assert synced.json["folders"]["contacts"]["to_exchange"]["created"] == 1, synced.json
    assert emu.counts["<token>"] == before + 1
    assert site("users", "show", "alice", "--json").json["paused_reason"] is None


def test_the_token_cache_file_of_older_versions_is_removed_on_the_next_save(site, emu, home):
    from wess_core.service import Context
    from wess_core.store import Store

    with Store(home).write("oauth_cache") as db:  # as older versions kept MSAL's cache
        db.table("cache").insert({"key": "k", "blob": Context(home=home).secrets.encrypt("{}")})
    assert (home / "oauth_cache.json").exists()
    assert _oauth(site, emu).exit_code == 0
    assert not (home / "oauth_cache.json").exists()
    assert [row[0] for row in plugin_storage_rows(home)] == ["oauth"]
